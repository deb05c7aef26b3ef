"""Market rules in the matching path: single-stock halt, order-to-trade cap, taxes.

The single-stock halt follows the 2010 single-stock circuit-breaker pilot (a 10% move
within five minutes halts trading for five minutes), as summarised in REFERENCES.md.
"""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from marketsim.errors import UsageError
from marketsim.market_rules import UTICKS_PER_TICK, owner_counts, rules_array, rules_report
from marketsim.orderbook import OrderBook
from marketsim.records import ACTION_DTYPE, CANCEL, OK, REDUCE, REFUSED
from marketsim.scenarios.policies import parse_policies
from tests._book import halted

S = 1_000_000_000
NOON = 12 * 3600 * S


def make_book(policy: str, n_owners: int = 0, prev_close=10_000):
    book = OrderBook(tick_size=0.01, tick_lo=0, n_ticks=20_000)
    book.rules = rules_array(
        parse_policies(policy), tick_size=0.01, prev_close_tick=prev_close, n_owners=n_owners
    )
    return book


def trade_at(book, price, t_ns, buyer=-1, seller=-1):
    book.limit("buy", price, 1, t_ns=t_ns, owner=buyer)
    fills = book.market("sell", 1, t_ns=t_ns, owner=seller)
    return fills


def send(book, t_ns, kind, order_id, qty=0):
    a = np.zeros(1, dtype=ACTION_DTYPE)
    a[0] = (t_ns, kind, 0, 0, qty, order_id, -1)
    return int(book.process(a)[1][0])


# --- single-stock halt ------------------------------------------------------------------


@pytest.mark.parametrize("last, halts", [(9_001, False), (9_000, True)])
def test_halt_fires_at_exactly_the_move_and_not_one_tick_before(last, halts):
    book = make_book("halt:move_pct=0.1,window_s=300,halt_s=300")
    trade_at(book, 10_000, NOON)
    assert trade_at(book, last, NOON + 299 * S).size == 1  # the trade itself prints
    book.limit("buy", 8_000, 1, t_ns=NOON + 299 * S + 1)
    assert halted(book) == halts and book.last_status == OK
    rep = rules_report(book.rules)
    assert rep["single_stock_halts"] == int(halts)
    assert rep["seconds_halted"] == (300.0 if halts else 0.0)


def test_halt_window_forgets_trades_older_than_the_window():
    book = make_book("halt:move_pct=0.1,window_s=300,halt_s=60")
    trade_at(book, 10_000, NOON)
    trade_at(book, 9_000, NOON + 300 * S)  # 300 whole seconds later: out of the window
    assert rules_report(book.rules)["single_stock_halts"] == 0
    trade_at(book, 9_900, NOON + 301 * S)
    trade_at(book, 10_890, NOON + 302 * S)  # +10% from the window's low of 9,900
    assert rules_report(book.rules)["single_stock_halts"] == 1


def test_halt_lasts_halt_s_and_the_window_restarts_after_it():
    book = make_book("halt:move_pct=0.1,window_s=300,halt_s=60")
    trade_at(book, 10_000, NOON)
    trade_at(book, 9_000, NOON + S)
    book.limit("buy", 8_900, 1, t_ns=NOON + 61 * S - 1)
    assert halted(book)
    # after the halt the first trade is not compared with the pre-halt high
    trade_at(book, 8_950, NOON + 61 * S)
    assert rules_report(book.rules)["single_stock_halts"] == 1


# --- order-to-trade cap ----------------------------------------------------------------


def test_otr_cap_refuses_the_first_order_beyond_the_cap():
    book = make_book("otr_cap:max_ratio=3,window_s=60", n_owners=2)
    for k in range(3):  # no trades: max(trades, 1) = 1, so 3 messages are allowed
        book.limit("buy", 9_000 - k, 1, t_ns=NOON + k, owner=0)
        assert book.last_status == OK
    book.limit("buy", 8_000, 1, t_ns=NOON + 10, owner=0)
    assert book.last_status == REFUSED and book.best_bid() == 9_000
    book.limit("buy", 8_000, 1, t_ns=NOON + 11, owner=1)  # another trader is not capped
    assert book.last_status == OK
    assert send(book, NOON + 12, CANCEL, 2) == OK  # cancels are never refused
    # a trade lifts the cap to 3 x 1 ... the messages so far (4) already exceed it
    book.limit("sell", 9_000, 1, t_ns=NOON + 13, owner=1)
    counts = owner_counts(book.rules)
    assert counts["trades"].tolist() == [1, 1] and counts["messages"].tolist() == [4, 2]
    book.limit("buy", 8_500, 1, t_ns=NOON + 14, owner=0)
    assert book.last_status == REFUSED
    assert rules_report(book.rules)["actions_refused_otr"] == 2
    book.limit("buy", 8_500, 1, t_ns=NOON + 60 * S, owner=0)  # a new window
    assert book.last_status == OK


def test_otr_cap_scales_with_the_traders_own_trades():
    book = make_book("otr_cap:max_ratio=2,window_s=60", n_owners=2)
    book.limit("sell", 10_000, 5, t_ns=NOON, owner=1)  # owner 1: 1 message
    for k in range(3):  # owner 0 trades three times: 3 messages, 3 trades
        book.limit("buy", 10_000, 1, t_ns=NOON + k + 1, owner=0)
    book.limit("buy", 9_000, 1, t_ns=NOON + 10, owner=0)  # 4 <= 2 x 3 ...
    book.limit("buy", 9_000, 1, t_ns=NOON + 11, owner=0)
    book.limit("buy", 9_000, 1, t_ns=NOON + 12, owner=0)  # 6 <= 6: the last allowed
    assert book.last_status == OK
    book.limit("buy", 9_000, 1, t_ns=NOON + 13, owner=0)  # 7 > 6
    assert book.last_status == REFUSED


# --- taxes -----------------------------------------------------------------------------


def test_cancel_tax_inside_the_window_only_and_per_contract():
    book = make_book("tax:cancel_tax_ticks=0.5,cancel_window_ms=500,trade_tax_bps=0", n_owners=3)
    book.limit("buy", 9_000, 4, order_id=1, t_ns=NOON, owner=2)
    book.limit("buy", 9_000, 4, order_id=2, t_ns=NOON, owner=2)
    assert send(book, NOON + 500_000_000 - 1, CANCEL, 1) == OK  # 4 contracts, taxed
    assert send(book, NOON + 500_000_000 - 1, REDUCE, 2, qty=3) == OK  # 3 contracts, taxed
    assert send(book, NOON + 500_000_000, CANCEL, 2) == OK  # at the window's end: free
    c = owner_counts(book.rules)
    assert c["tax_uticks"].tolist() == [0, 0, 7 * UTICKS_PER_TICK // 2]
    assert c["regulator_uticks"] == 7 * UTICKS_PER_TICK // 2


def test_trade_tax_charged_to_buyer_and_seller_exactly():
    book = make_book("tax:cancel_tax_ticks=0,trade_tax_bps=2.5", n_owners=2)
    book.limit("sell", 10_000, 3, t_ns=NOON, owner=0)
    book.market("buy", 3, t_ns=NOON + 1, owner=1)
    # 2.5 bp of 30,000 ticks = 7.5 ticks each
    c = owner_counts(book.rules)
    assert c["tax_uticks"].tolist() == [7_500_000, 7_500_000]
    assert rules_report(book.rules)["tax_collected_ticks"] == 15.0


@settings(max_examples=40, deadline=None)
@given(
    st.lists(
        st.tuples(
            st.integers(0, 3), st.integers(0, 2), st.integers(9_990, 10_010), st.integers(1, 5)
        ),
        min_size=1,
        max_size=60,
    )
)
def test_money_is_conserved_with_the_regulator(ops):
    """Cash moves between traders and taxes move to the regulator: the sum of the
    traders' cash (after taxes) and the regulator's account does not change."""
    n = 4
    book = make_book("tax:cancel_tax_ticks=0.3,cancel_window_ms=1000,trade_tax_bps=1.7", n_owners=n)
    cash = np.zeros(n, dtype=np.int64)  # micro-ticks
    t = NOON
    for owner, what, price, qty in ops:
        t += 100_000_000
        if what == 2:
            resting = book.resting_orders()
            if resting.size:
                send(book, t, CANCEL, int(resting[0, 0]))
            continue
        fills = book.limit("buy" if what == 0 else "sell", price, qty, t_ns=t, owner=owner)
        for f in fills:
            v = int(f["price_tick"]) * int(f["qty"]) * UTICKS_PER_TICK
            cash[f["buyer"]] -= v
            cash[f["seller"]] += v
    c = owner_counts(book.rules)
    after_tax = cash - c["tax_uticks"]
    assert after_tax.sum() + c["regulator_uticks"] == 0
    assert c["tax_uticks"].sum() == c["regulator_uticks"]


def test_otr_and_tax_need_owners():
    with pytest.raises(UsageError, match="n_owners"):
        rules_array(parse_policies("tax"), tick_size=0.01, prev_close_tick=100)
