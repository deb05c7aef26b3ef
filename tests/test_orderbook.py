"""The numba order book against a slow pure-Python reference, on random action streams.

Invariants (STYLE.md, "Tests that can fail"): identical fills, statuses and final book
as the reference; never crossed after any action; quantity conserved action by action;
price-time priority within each taker's fills; cancel of an unknown or filled order is
a no-op result, never a crash.
"""

from __future__ import annotations

from collections import deque

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from marketsim.errors import UsageError
from marketsim.orderbook import R_BAND_HI_TICK, R_BAND_LO_TICK, R_HALTED, OrderBook, default_rules
from marketsim.records import (
    ACTION_DTYPE,
    BAD_ORDER,
    BUY,
    CANCEL,
    DUPLICATE_ID,
    HALTED,
    IOC,
    LIMIT,
    MARKET,
    OK,
    OUTSIDE_BAND,
    REDUCE,
    SELL,
    UNKNOWN_ORDER,
    fills_to_trades,
)


class ReferenceBook:
    """Obviously-correct price-time priority book: dicts of deques, linear scans."""

    def __init__(self):
        self.side = {BUY: {}, SELL: {}}  # price -> deque of [order_id, qty, owner]
        self.where = {}  # order_id -> (side, price)

    def best(self, side):
        prices = [p for p, q in self.side[side].items() if q]
        if not prices:
            return None
        return max(prices) if side == BUY else min(prices)

    def act(self, t, kind, side, price, qty, oid, owner):
        fills = []
        if kind in (CANCEL, REDUCE):
            if oid not in self.where:
                return UNKNOWN_ORDER, fills
            if kind == REDUCE and qty < 1:
                return BAD_ORDER, fills
            s, p = self.where[oid]
            queue = self.side[s][p]
            entry = next(e for e in queue if e[0] == oid)
            if kind == REDUCE and qty < entry[1]:
                entry[1] -= qty
                return OK, fills
            queue.remove(entry)
            del self.where[oid]
            return OK, fills
        if qty < 1 or oid < 0:
            return BAD_ORDER, fills
        if kind == LIMIT and oid in self.where:
            return DUPLICATE_ID, fills
        other = SELL if side == BUY else BUY
        left = qty
        while left:
            b = self.best(other)
            if b is None or (kind != MARKET and (b > price if side == BUY else b < price)):
                break
            queue = self.side[other][b]
            while left and queue:
                m = queue[0]
                q = min(m[1], left)
                buyer, seller = (owner, m[2]) if side == BUY else (m[2], owner)
                fills.append((t, b, q, side, oid, m[0], buyer, seller))
                left -= q
                m[1] -= q
                if m[1] == 0:
                    queue.popleft()
                    del self.where[m[0]]
        if left and kind == LIMIT:
            self.side[side].setdefault(price, deque()).append([oid, left, owner])
            self.where[oid] = (side, price)
        return OK, fills

    def resting(self):
        rows = []
        for side in (BUY, SELL):
            prices = sorted((p for p, q in self.side[side].items() if q), reverse=(side == BUY))
            for p in prices:
                rows += [(e[0], side, p, e[1], e[2]) for e in self.side[side][p]]
        return np.array(rows, dtype=np.int64).reshape(-1, 5)


def _random_stream(seed, n, width, p_new, reuse):
    """A random action stream: new orders get fresh ids in arrival order, except a
    share ``reuse`` of reused ids; cancels and reduces target past ids and unknown ones."""
    rng = np.random.default_rng(seed)
    kind = rng.choice(
        [LIMIT, MARKET, IOC, CANCEL, REDUCE],
        size=n,
        p=[p_new * 0.7, p_new * 0.15, p_new * 0.15, (1 - p_new) * 0.7, (1 - p_new) * 0.3],
    )
    rows, next_id = [], 0
    for t in range(n):
        k = int(kind[t])
        if k in (CANCEL, REDUCE):
            oid = int(rng.integers(0, next_id + 3))
        elif next_id and rng.random() < reuse:
            oid = int(rng.integers(0, next_id))
        else:
            oid, next_id = next_id, next_id + 1
        rows.append(
            (
                t,
                k,
                int(rng.integers(0, 2)),
                100 + int(rng.integers(-width, width + 1)),
                int(rng.integers(1, 13)),
                oid,
                int(rng.integers(0, 5)),
            )
        )
    return np.array(rows, dtype=ACTION_DTYPE).reshape(-1)


@st.composite
def action_streams(draw, max_len=150):
    return _random_stream(
        draw(st.integers(0, 2**32 - 1)),
        draw(st.integers(1, max_len)),
        draw(st.integers(0, 8)),
        draw(st.floats(0.5, 0.95)),
        draw(st.sampled_from([0.0, 0.05])),
    )


def _reference(actions):
    ref = ReferenceBook()
    fills, status = [], []
    for a in actions:
        s, f = ref.act(*(int(x) for x in a))
        status.append(s)
        fills += f
    return ref, fills, status


@settings(max_examples=2000, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(action_streams())
def test_kernel_equals_reference_book(actions):
    # tiny initial capacities so that every growth path (slots, ids, fills) is exercised
    book = OrderBook(tick_lo=99, n_ticks=2, order_capacity=1, id_capacity=1)
    fills, status = book.process(actions)
    ref, ref_fills, ref_status = _reference(actions)
    assert status.tolist() == ref_status
    assert [tuple(int(x) for x in f) for f in fills] == ref_fills
    np.testing.assert_array_equal(book.resting_orders(), ref.resting())
    assert book.best_bid() == ref.best(BUY) and book.best_ask() == ref.best(SELL)


@settings(max_examples=300, deadline=None)
@given(action_streams(max_len=60))
def test_action_by_action_invariants(actions):
    book = OrderBook(n_ticks=4, tick_lo=98, order_capacity=2, id_capacity=2)
    arrival = {}
    for a in actions:
        before = book.resting_qty()
        cancel_target = book.order(int(a["order_id"])) if a["kind"] in (CANCEL, REDUCE) else None
        fills, status = book.process(a.reshape(1))
        after = book.resting_qty()
        filled = int(fills["qty"].sum())
        kind, qty = int(a["kind"]), int(a["qty"])
        # never crossed after matching
        bb, ba = book.best_bid(), book.best_ask()
        assert bb is None or ba is None or bb < ba
        # quantity conserved
        if status[0] != OK:
            assert after == before and filled == 0
        elif kind == LIMIT:
            assert filled <= qty and after == before + (qty - filled) - filled
        elif kind in (MARKET, IOC):
            assert filled <= qty and after == before - filled
        else:
            assert cancel_target is not None
            removed = cancel_target["qty"] if kind == CANCEL else min(qty, cancel_target["qty"])
            assert after == before - removed
        # price-time priority: prices never get worse-then-better, and within a price
        # older orders (smaller ids, assigned in arrival order) fill first
        if len(fills) > 1:
            p = fills["price_tick"] * (1 if a["side"] == BUY else -1)
            assert np.all(np.diff(p) >= 0)
            same = np.diff(fills["price_tick"]) == 0
            t_maker = np.array([arrival[int(m)] for m in fills["maker_order_id"]])
            assert np.all(np.diff(t_maker)[same] > 0)
        if kind == LIMIT and status[0] == OK:
            arrival[int(a["order_id"])] = int(a["t_ns"])
        if kind in (LIMIT, IOC) and len(fills):
            limit = int(a["price_tick"])
            assert np.all(
                fills["price_tick"] <= limit if a["side"] == BUY else fills["price_tick"] >= limit
            )


def test_cancel_unknown_or_filled_is_a_noop():
    book = OrderBook()
    book.limit("sell", 100, 5, order_id=7)
    assert book.cancel(12345) == 0 and book.last_status == UNKNOWN_ORDER
    book.market("buy", 5)
    assert book.cancel(7) == 0 and book.last_status == UNKNOWN_ORDER
    assert book.best_ask() is None and book.resting_qty() == 0


def test_partial_fill_keeps_priority_and_reduce_keeps_it_too():
    book = OrderBook()
    a = (book.limit("buy", 50, 10), book.last_order_id)[1]
    b = (book.limit("buy", 50, 10), book.last_order_id)[1]
    assert book.reduce(a, 4) == 4  # a keeps its place ahead of b
    fills = book.market("sell", 8)
    assert fills["maker_order_id"].tolist() == [a, b]
    assert fills["qty"].tolist() == [6, 2]
    assert book.order(b)["qty"] == 8
    bids, asks = book.depth(5)
    assert bids.tolist() == [(50, 8, 1)] and asks.size == 0


def test_ioc_never_rests_and_market_rules_seam():
    book = OrderBook()
    book.limit("sell", 101, 3)
    fills = book.ioc("buy", 102, 10)
    assert fills["qty"].sum() == 3 and book.best_bid() is None
    book.rules[R_HALTED] = 1
    book.limit("buy", 90, 1)
    assert book.last_status == HALTED and book.best_bid() is None
    book.rules[:] = default_rules()
    book.rules[R_BAND_LO_TICK], book.rules[R_BAND_HI_TICK] = 95, 105
    book.limit("buy", 106, 1)
    assert book.last_status == OUTSIDE_BAND
    book.limit("sell", 104, 2)
    book.limit("sell", 110, 2)  # refused: outside the band
    assert book.market("buy", 5)["price_tick"].tolist() == [104]


def test_bad_input_is_a_usage_error():
    book = OrderBook()
    with pytest.raises(UsageError, match="side"):
        book.limit("up", 100, 1)
    with pytest.raises(UsageError, match="qty"):
        book.market("buy", 0)
    with pytest.raises(UsageError, match="tick_size"):
        OrderBook(tick_size=0)


def test_trades_name_buyer_and_seller():
    book = OrderBook()
    book.limit("buy", 100, 4, owner=3)
    trades = fills_to_trades(book.market("sell", 3, owner=9))
    assert trades[["buyer", "seller", "qty", "aggressor_side"]].tolist() == [(3, 9, 3, SELL)]


def test_depth_reads_the_best_levels_of_each_side_best_first():
    """``book_levels`` walks each side's ladder outwards from its best quote, skipping
    empty ticks, down to the ladder's first tick and up to its last."""
    book = OrderBook(tick_lo=90, n_ticks=30)
    for side, price, qty in [
        ("buy", 99, 1),
        ("buy", 97, 2),
        ("buy", 97, 3),
        ("buy", 90, 4),  # the ladder's first tick
        ("sell", 101, 5),
        ("sell", 104, 6),
        ("sell", 119, 7),  # its last
    ]:
        book.limit(side, price, qty)
    bids, asks = book.depth(2)
    assert bids.tolist() == [(99, 1, 1), (97, 5, 2)]
    assert asks.tolist() == [(101, 5, 1), (104, 6, 1)]
    bids, asks = book.depth(10)
    assert [b[0] for b in bids] == [99, 97, 90] and [a[0] for a in asks] == [101, 104, 119]
    book.market("sell", 10)  # empties the bid side
    assert book.depth(3)[0].size == 0 and book.best_bid() is None


def test_layout_words_are_declared_once_and_re_exported():
    """Each word layout is declared in one module and its package re-exports the same
    objects under the old names; private words and imported modules are not exported."""
    import marketsim.market_rules as rules_pkg
    import marketsim.orderbook as book_pkg
    from marketsim.agents import _traders_layout, traders
    from marketsim.market_rules import words
    from marketsim.orderbook import layout

    for module, package, word in [
        (layout, book_pkg, "O_NEXT"),
        (words, rules_pkg, "X_FLAGS"),
        (_traders_layout, traders, "P_THRESHOLD"),
    ]:
        assert word in module.__all__ and "np" not in module.__all__
        assert not [name for name in module.__all__ if name.startswith("_")]
        assert set(module.__all__) <= set(package.__all__)
        assert all(getattr(package, name) is getattr(module, name) for name in module.__all__)
