"""Frequent batch auctions (Budish, Cramton & Shim 2015) and the speed bump (IEX, 350 us).

The clearing kernel is checked on hand-built books and, with Hypothesis, against a slow
reference on random books: maximal volume, the documented tie-breaks, no crossed book
afterwards, quantity conserved, price-time priority in the allocation.
"""

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from marketsim.market_rules import rules_array, rules_report
from marketsim.orderbook import OrderBook
from marketsim.records import ACTION_DTYPE, BUY, CANCEL, IOC, LIMIT, MARKET, OK, SELL
from marketsim.scenarios.policies import parse_policies

S = 1_000_000_000
NOON = 12 * 3600 * S
OPEN = (9 * 3600 + 30 * 60) * S


def fba_book(interval_ms=100.0, prev_close=100):
    book = OrderBook(tick_size=0.01, tick_lo=0, n_ticks=400)
    book.rules = rules_array(
        parse_policies(f"fba:interval_ms={interval_ms}"), tick_size=0.01, prev_close_tick=prev_close
    )
    return book


def test_orders_rest_without_matching_until_the_batch():
    book = fba_book()
    t = OPEN + 10 * 100_000_000 + 1  # just after a batch time
    assert book.limit("sell", 100, 5, t_ns=t, owner=1).size == 0
    assert book.limit("buy", 102, 3, t_ns=t + 1, owner=2).size == 0  # crosses, rests
    assert book.best_bid() == 102 and book.best_ask() == 100  # crossed until the batch
    next_batch = OPEN + 11 * 100_000_000
    assert book.limit("buy", 50, 1, t_ns=next_batch - 1).size == 0
    fills = book.limit("buy", 50, 1, t_ns=next_batch)  # the batch clears first
    assert fills["t_ns"].tolist() == [next_batch] and fills["qty"].tolist() == [3]
    # one price for everybody: V(100..102) = 3; imbalance |3 - 5| everywhere; the
    # last price (previous close, 100) breaks the tie
    assert fills["price_tick"].tolist() == [100]
    assert fills["buyer"].tolist() == [2] and fills["seller"].tolist() == [1]
    assert fills["aggressor_side"].tolist() == [BUY]  # the later order is the taker
    assert book.best_ask() == 100 and book.order(0)["qty"] == 2
    assert rules_report(book.rules)["batches_with_trades"] == 1


def test_clearing_price_and_volume_on_a_hand_built_book():
    book = fba_book(interval_ms=1e6)  # no batch due while we build
    t = OPEN + 1
    for side, price, qty in [
        ("buy", 105, 2),
        ("buy", 103, 4),
        ("buy", 101, 5),
        ("sell", 100, 3),
        ("sell", 102, 3),
        ("sell", 104, 6),
    ]:
        book.limit(side, price, qty, t_ns=t)
        t += 1
    # D(p): 101 -> 11, 102 -> 6, 103 -> 6, 104 -> 2; S(p): 101 -> 3, 102 -> 6, 103 -> 6,
    # 104 -> 12. V is 6 at 102 and 103 (imbalance 0 at both); 102 is nearer the last
    # price (previous close 100)
    fills, price = book.auction(t)
    assert price == 102 and int(fills["qty"].sum()) == 6
    assert set(fills["price_tick"].tolist()) == {102}
    # price priority: the 105 and 103 bids fill, the 101 bid does not
    assert book.best_bid() == 101 and book.order(2)["qty"] == 5
    assert book.best_ask() == 104
    fills, price = book.auction(t + 1)  # nothing crosses any more
    assert price is None and fills.size == 0


def test_volume_tie_goes_to_the_smaller_imbalance():
    book = fba_book(interval_ms=1e6, prev_close=120)
    t = OPEN + 1
    book.limit("buy", 110, 4, t_ns=t)
    book.limit("buy", 105, 6, t_ns=t + 1)
    book.limit("sell", 100, 4, t_ns=t + 2)
    # V = 4 on 100..110; D = 10 up to 105 and 4 above: imbalance 0 on 106..110; the
    # last price 120 picks 110
    fills, price = book.auction(t + 3)
    assert price == 110 and int(fills["qty"].sum()) == 4


def test_ioc_and_market_orders_wait_for_one_batch_then_lapse():
    book = fba_book()
    t = OPEN + 1
    book.limit("sell", 101, 2, t_ns=t, owner=1)
    a = np.zeros(2, dtype=ACTION_DTYPE)
    a[0] = (t + 1, MARKET, BUY, 0, 5, 10, 2)
    a[1] = (t + 2, IOC, BUY, 90, 1, 11, 3)  # nothing will sell at 90
    fills, status = book.process(a)
    assert status.tolist() == [OK, OK] and fills.size == 0
    fills = book.limit("buy", 10, 1, t_ns=OPEN + 100_000_000)  # the batch
    # the market buy waits at its collar, 105 (last price 100 + 5%): V = 2 on 101..105,
    # imbalance 3 everywhere, the last price (100) picks 101
    assert int(fills["qty"].sum()) == 2 and fills["price_tick"].tolist() == [101]
    assert book.order(10) is None and book.order(11) is None  # the rest lapsed
    assert book.best_ask() is None and book.best_bid() == 10


def reference_clearing(bids, asks, ref):
    """Slow reference: every price tick, the documented order of tie-breaks."""
    best = None
    for p in range(0, 400):
        d = sum(q for b, q in bids if b >= p)
        s = sum(q for a, q in asks if a <= p)
        key = (-min(d, s), abs(d - s), abs(p - ref), p)
        if min(d, s) > 0 and (best is None or key < best[0]):
            best = (key, p, min(d, s))
    return (None, 0) if best is None else (best[1], best[2])


orders_st = st.lists(
    st.tuples(st.sampled_from(["buy", "sell"]), st.integers(90, 110), st.integers(1, 9)),
    min_size=1,
    max_size=40,
)


@settings(max_examples=150, deadline=None)
@given(orders_st)
def test_clearing_invariants(orders):
    book = fba_book(interval_ms=1e6)
    t = OPEN + 1
    for side, price, qty in orders:
        book.limit(side, price, qty, t_ns=t, owner=t % 7)
        t += 1
    before = book.resting_orders()
    bids = [(r[2], r[3]) for r in before if r[1] == BUY]
    asks = [(r[2], r[3]) for r in before if r[1] == SELL]
    fills, price = book.auction(t)
    ref_price, ref_volume = reference_clearing(bids, asks, 100)
    assert price == ref_price and int(fills["qty"].sum()) == ref_volume
    bb, ba = book.best_bid(), book.best_ask()
    assert bb is None or ba is None or bb < ba  # never crossed after clearing
    assert book.resting_qty() == int(before[:, 3].sum()) - 2 * ref_volume  # conserved
    if fills.size:
        assert set(fills["price_tick"].tolist()) == {price}
        # price-time priority: a bid that got nothing is never better than one that
        # got something, nor an older order at the same price
        after = {int(r[0]): int(r[3]) for r in book.resting_orders()}
        for side in (BUY, SELL):
            rows = [r for r in before if r[1] == side]  # best price first, then time
            got = [int(r[3]) - after.get(int(r[0]), 0) for r in rows]
            first_short = next((k for k, g in enumerate(got) if g < rows[k][3]), len(got))
            assert all(g == 0 for g in got[first_short + 1 :])


# --- speed bump --------------------------------------------------------------------------


DELAY = 350_000  # 350 microseconds (IEX)


def bump_book():
    book = OrderBook(tick_size=0.01, tick_lo=0, n_ticks=400)
    book.rules = rules_array(
        parse_policies("speed_bump:delay_us=350"), tick_size=0.01, prev_close_tick=100
    )
    return book


def test_speed_bump_delays_a_marketable_order_by_exactly_the_delay_and_not_a_resting_one():
    book = bump_book()
    a = np.zeros(4, dtype=ACTION_DTYPE)
    a[0] = (NOON, LIMIT, SELL, 101, 5, 0, 1)  # rests: goes straight in
    a[1] = (NOON + 10, LIMIT, BUY, 101, 2, 1, 2)  # marketable: waits
    a[2] = (NOON + 10 + DELAY - 1, LIMIT, BUY, 99, 1, 2, 3)  # rests at once
    a[3] = (NOON + 10 + DELAY, LIMIT, BUY, 98, 1, 3, 4)  # the waiting order goes first
    fills, status = book.process(a)
    assert fills["t_ns"].tolist() == [NOON + 10 + DELAY]
    assert fills["taker_order_id"].tolist() == [1] and status.tolist() == [OK] * 4
    assert book.order(2)["t_ns"] == NOON + 10 + DELAY - 1  # not delayed
    assert rules_report(book.rules)["orders_delayed"] == 1


def test_speed_bump_releases_nothing_one_nanosecond_early():
    book = bump_book()
    a = np.zeros(3, dtype=ACTION_DTYPE)
    a[0] = (NOON, LIMIT, SELL, 101, 5, 0, 1)
    a[1] = (NOON + 1, MARKET, BUY, 0, 2, 1, 2)
    a[2] = (NOON + DELAY, LIMIT, SELL, 105, 1, 2, 3)  # 1 ns before the release
    fills, _ = book.process(a)
    assert fills.size == 0 and book.order(0)["qty"] == 5


def test_speed_bump_lets_a_maker_cancel_before_the_taker_arrives():
    a = np.zeros(4, dtype=ACTION_DTYPE)
    a[0] = (NOON, LIMIT, SELL, 101, 5, 0, 1)
    a[1] = (NOON + 1, MARKET, BUY, 0, 2, 1, 2)
    a[2] = (NOON + 2, CANCEL, 0, 0, 0, 0, 1)  # the maker's cancel is not delayed
    a[3] = (NOON + 1 + DELAY, LIMIT, SELL, 110, 1, 2, 3)
    fills, status = bump_book().process(a)
    assert fills.size == 0
    # without the bump the taker would have hit the quote
    plain = OrderBook(tick_size=0.01, tick_lo=0, n_ticks=400)
    assert plain.process(a)[0]["qty"].tolist() == [2]


def test_a_cancel_withdraws_a_waiting_order():
    book = bump_book()
    a = np.zeros(4, dtype=ACTION_DTYPE)
    a[0] = (NOON, LIMIT, SELL, 101, 5, 0, 1)
    a[1] = (NOON + 1, LIMIT, BUY, 102, 9, 1, 2)  # would fill 5 and rest 4
    a[2] = (NOON + 2, CANCEL, 0, 0, 0, 1, 2)
    a[3] = (NOON + 2 * DELAY, LIMIT, SELL, 110, 1, 2, 3)
    fills, status = book.process(a)
    assert fills.size == 0 and book.order(1) is None and book.order(0)["qty"] == 5


def test_speed_bump_keeps_arrival_order_and_exact_release_times():
    book = bump_book()
    book.limit("sell", 101, 500, t_ns=NOON)
    n = 200
    a = np.zeros(n + 1, dtype=ACTION_DTYPE)
    for k in range(n):
        a[k] = (NOON + 1 + k, MARKET, BUY, 0, 1, 10 + k, k)
    a[n] = (NOON + 10 * DELAY, LIMIT, SELL, 120, 1, 5_000, 999)
    fills, status = book.process(a)
    assert fills["buyer"].tolist() == list(range(n)) and (status == OK).all()
    assert fills["t_ns"].tolist() == [NOON + 1 + k + DELAY for k in range(n)]
