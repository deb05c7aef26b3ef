"""CME Stop Logic (policy ``stop_logic``): an order that would execute beyond a band
around the last trade of the previous instant executes up to the band and stops; the
market pauses 5 seconds and reopens by auction (CFTC-SEC 2010: the E-mini paused for
5 s at 14:45:28 on 6 May 2010; REFERENCES.md).

With the last trade at 10,000 ticks ($100.00) and ``band_pct`` 0.5% the band is
[9,950, 10,050] ticks.
"""

import numpy as np
import pytest

from marketsim.errors import UsageError
from marketsim.market_rules import rules_array, rules_report, stop_band_ticks
from marketsim.orderbook import OrderBook
from marketsim.records import HALTED, OK
from marketsim.scenarios.policies import parse_policies
from tests._book import halted

S = 1_000_000_000
NOON = 12 * 3600 * S
LO, HI = 9_950, 10_050


def book_with(policy="stop_logic", bids=((9_951, 2), (LO, 3), (LO - 1, 4)), asks=()):
    """Quotes placed before the rule is attached; the last trade is the previous close."""
    book = OrderBook(tick_size=0.01, tick_lo=0, n_ticks=20_000)
    for price, qty in bids:
        book.limit("buy", price, qty, t_ns=NOON - S)
    for price, qty in asks:
        book.limit("sell", price, qty, t_ns=NOON - S)
    book.rules = rules_array(parse_policies(policy), tick_size=0.01, prev_close_tick=10_000)
    return book


def test_band_is_exact_in_integer_ticks():
    assert stop_band_ticks(10_000, 5_000_000) == (LO, HI)
    # 10,001 x 0.995 = 9,950.995 and 10,001 x 1.005 = 10,051.005: whole ticks inside
    assert stop_band_ticks(10_001, 5_000_000) == (9_951, 10_051)


@pytest.mark.parametrize("qty, pauses", [(5, 0), (6, 1)])
def test_a_trade_at_the_band_is_allowed_one_beyond_it_stops_the_market(qty, pauses):
    book = book_with()
    fills = book.market("sell", qty, t_ns=NOON)
    assert book.last_status == OK
    assert fills["price_tick"].min() == LO and fills["qty"].sum() == 5
    assert rules_report(book.rules)["stop_logic_pauses"] == pauses
    assert halted(book) == bool(pauses)
    if pauses:  # the rest of the market order rests at the band (protection price)
        assert book.order(book.last_order_id) == {**book.order(book.last_order_id), "qty": 1}
        assert book.order(book.last_order_id)["price_tick"] == LO
        assert book.best_bid() == LO - 1  # nothing printed beyond the band


def test_without_the_rule_the_same_order_sweeps_through():
    book = book_with(policy="none")
    assert book.market("sell", 6, t_ns=NOON)["price_tick"].min() == LO - 1


def test_the_pause_lasts_exactly_five_seconds_and_refuses_market_orders():
    book = book_with()
    book.market("sell", 6, t_ns=NOON)
    rep = rules_report(book.rules)
    assert rep["seconds_halted"] == 5.0 and rep["reopening_auctions"] == 0
    book.market("buy", 1, t_ns=NOON + 5 * S - 1)
    assert book.last_status == HALTED
    book.limit("buy", 9_960, 1, t_ns=NOON + 5 * S - 1)  # rests for the auction
    assert book.last_status == OK and halted(book)
    fills = book.limit("buy", 9_000, 1, t_ns=NOON + 5 * S)  # first action after the pause
    assert not halted(book)
    # the reopening auction crossed the waiting bid at 9,960 with the offer at 9,950
    assert rules_report(book.rules)["reopening_auctions"] == 1
    assert fills["qty"].tolist() == [1] and fills["price_tick"].tolist() == [LO]


def test_a_limit_order_through_the_band_rests_at_its_limit_for_the_auction():
    book = book_with()
    fills = book.limit("sell", 9_900, 10, t_ns=NOON)
    oid = book.last_order_id
    assert fills["qty"].sum() == 5 and halted(book)
    assert book.order(oid)["price_tick"] == 9_900 and book.order(oid)["qty"] == 5
    assert book.best_bid() == LO - 1 and book.best_ask() == 9_900  # crossed while paused
    fills = book.limit("buy", 9_000, 1, t_ns=NOON + 5 * S)
    # bids 4 @ 9,949 against 5 @ 9,900: 4 trade; every price in [9,900, 9,949] leaves an
    # imbalance of 1, so the price nearest the last trade (9,950) is taken
    assert fills["qty"].tolist() == [4] and fills["price_tick"].tolist() == [LO - 1]
    assert book.order(oid)["qty"] == 1
    assert book.best_bid() == 9_000 and book.best_ask() == 9_900


def test_an_ioc_through_the_band_pauses_and_its_rest_is_cancelled():
    book = book_with()
    fills = book.ioc("sell", 9_000, 10, t_ns=NOON)
    assert fills["qty"].sum() == 5 and halted(book)
    assert book.order(book.last_order_id) is None and book.best_ask() is None


def test_buys_through_the_upper_band_stop_too():
    book = book_with(bids=(), asks=((HI - 1, 2), (HI, 3), (HI + 1, 4)))
    fills = book.market("buy", 9, t_ns=NOON)
    assert fills["price_tick"].max() == HI and fills["qty"].sum() == 5 and halted(book)
    assert book.order(book.last_order_id)["price_tick"] == HI


def test_one_instant_shares_one_reference():
    # at NOON the last trade before the instant is 10,000: the second sell, also at NOON,
    # may not print at 9,949 though the first one printed at 9,951
    book = book_with()
    book.market("sell", 2, t_ns=NOON)
    assert book.market("sell", 4, t_ns=NOON)["price_tick"].tolist() == [LO]
    assert halted(book)
    # one nanosecond later the reference is the last trade (9,951): 9,949 is inside
    book = book_with()
    book.market("sell", 2, t_ns=NOON)
    assert book.market("sell", 4, t_ns=NOON + 1)["price_tick"].tolist() == [LO, LO - 1]
    assert not halted(book)


def test_the_order_that_opens_beyond_the_band_stops_without_a_trade():
    book = book_with(bids=((9_900, 5),))
    assert book.market("sell", 1, t_ns=NOON).size == 0 and halted(book)


def test_with_luld_the_narrower_band_binds():
    book = book_with(policy="luld+stop_logic")
    fills = book.market("sell", 6, t_ns=NOON)  # LULD's 5% band is far below
    assert fills["qty"].sum() == 5 and rules_report(book.rules)["stop_logic_pauses"] == 1
    book = book_with(policy="luld:band_pct=0.001+stop_logic:band_pct=0.2")
    book.market("sell", 6, t_ns=NOON)  # LULD's band [9,990, 10,010]: nothing trades
    assert rules_report(book.rules)["stop_logic_pauses"] == 0


def test_pause_length_and_band_are_parameters():
    book = book_with(policy="stop_logic:band_pct=0.0001,pause_s=20")
    book.market("sell", 1, t_ns=NOON)  # 9,951 is 0.49% below: beyond a 0.01% band
    assert rules_report(book.rules)["seconds_halted"] == 20.0


@pytest.mark.parametrize(
    "text", ["stop_logic:band_pct=0", "stop_logic:band_pct=1", "stop_logic:pause_s=0"]
)
def test_bad_parameters_are_refused(text):
    with pytest.raises(UsageError, match="stop_logic|band_pct|pause_s"):
        parse_policies(text)


def test_the_report_counts_nothing_without_the_rule():
    assert rules_report(np.zeros(8, dtype=np.int64))["stop_logic_pauses"] == 0
