"""LULD price sliding (``luld.reprice_to_band``): orders through the band rest at the
band, so the best offer can reach the lower band and the limit state and the 5-minute
pause can start (Limit Up-Limit Down plan, SEC Rule 608, 2012; REFERENCES.md).

Band at noon with a $100.00 reference, tier 1: [9,500, 10,500] ticks of $0.01.
"""

import numpy as np
import pytest

from marketsim.errors import UsageError
from marketsim.market_rules import rules_array, rules_report
from marketsim.orderbook import OrderBook
from marketsim.records import OK, OUTSIDE_BAND
from marketsim.scenarios.policies import parse_policies
from tests._book import halted

S = 1_000_000_000
NOON = 12 * 3600 * S
LO, HI = 9_500, 10_500


def book_with_bids(policy="luld", bids=((9_501, 2), (LO, 3), (LO - 1, 4))):
    """Bids placed before the rule is attached (so one may sit below the band)."""
    book = OrderBook(tick_size=0.01, tick_lo=0, n_ticks=20_000)
    for price, qty in bids:
        book.limit("buy", price, qty, t_ns=NOON - S)
    book.rules = rules_array(parse_policies(policy), tick_size=0.01, prev_close_tick=10_000)
    return book


def test_a_market_sell_fills_down_to_the_band_and_the_rest_rests_at_the_band():
    book = book_with_bids()
    fills = book.market("sell", 10, t_ns=NOON)
    oid = book.last_order_id
    assert book.last_status == OK
    assert fills["price_tick"].tolist() == [9_501, LO] and fills["qty"].tolist() == [2, 3]
    assert book.best_ask() == LO and book.best_bid() == LO - 1  # one tick below: untouched
    assert book.order(oid)["price_tick"] == LO and book.order(oid)["qty"] == 5
    # without sliding the same order stops at the band and its rest is dropped
    plain = book_with_bids("luld:reprice_to_band=false")
    assert plain.market("sell", 10, t_ns=NOON)["qty"].sum() == 5
    assert plain.best_ask() is None and plain.order(plain.last_order_id) is None


def _at_band_then(t_probe):
    """Offer slid to the lower band at noon; the limit state starts at the first action
    that sees it (``since``, 1 ns later); then one more action at ``since + t_probe``."""
    book = book_with_bids()
    book.market("sell", 10, t_ns=NOON)
    since = NOON + 1
    book.limit("sell", 9_900, 1, t_ns=since)
    assert book.last_status == OK
    book.limit("sell", 9_901, 1, t_ns=since + t_probe)
    return book, since


def test_the_slid_offer_starts_a_pause_at_exactly_15_seconds():
    book, _ = _at_band_then(15 * S - 1)
    assert book.last_status == OK and rules_report(book.rules)["luld_pauses"] == 0
    book, since = _at_band_then(15 * S)
    assert halted(book)
    rep = rules_report(book.rules)
    assert rep["luld_pauses"] == 1 and rep["seconds_halted"] == 300.0
    assert rep["seconds_in_limit_state"] == 15.0
    book.limit("sell", 9_902, 1, t_ns=since + 315 * S - 1)  # the pause ends at since+315 s
    assert halted(book)
    book.limit("sell", 9_903, 1, t_ns=since + 315 * S)
    assert book.last_status == OK


def test_limit_and_ioc_orders_through_the_band_are_repriced_to_it():
    book = book_with_bids()
    fills = book.limit("sell", 9_000, 6, t_ns=NOON)  # 5% below the band: slides to 9,500
    assert book.last_status == OK and fills["price_tick"].tolist() == [9_501, LO]
    assert book.order(book.last_order_id)["price_tick"] == LO
    assert book.order(book.last_order_id)["qty"] == 1
    book = book_with_bids()
    fills = book.ioc("sell", 9_000, 6, t_ns=NOON)  # IOC: repriced, its rest cancelled
    assert book.last_status == OK and fills["qty"].sum() == 5 and book.best_ask() is None
    # symmetric at the upper band
    book = OrderBook(tick_size=0.01, tick_lo=0, n_ticks=20_000)
    book.limit("sell", 10_499, 2, t_ns=NOON - S)
    book.limit("sell", HI + 1, 4, t_ns=NOON - S)
    book.rules = rules_array(parse_policies("luld"), tick_size=0.01, prev_close_tick=10_000)
    fills = book.limit("buy", 11_000, 5, t_ns=NOON)
    assert fills["price_tick"].tolist() == [10_499] and book.best_bid() == HI
    assert book.best_ask() == HI + 1  # not crossed
    fills = book.market("buy", 3, t_ns=NOON + 1)
    assert fills.size == 0 and book.order(book.last_order_id)["price_tick"] == HI


def test_orders_on_the_far_side_of_the_band_are_still_refused():
    book = book_with_bids()
    book.limit("buy", LO - 1, 1, t_ns=NOON)  # a bid below the lower band
    assert book.last_status == OUTSIDE_BAND
    book.limit("sell", HI + 1, 1, t_ns=NOON)  # an offer above the upper band
    assert book.last_status == OUTSIDE_BAND
    plain = book_with_bids("luld:reprice_to_band=false")
    plain.limit("sell", LO - 1, 1, t_ns=NOON)
    assert plain.last_status == OUTSIDE_BAND and plain.best_ask() is None


def test_sliding_keeps_the_book_uncrossed_trades_in_band_and_nothing_lost():
    """Random limit and market orders around the band: every accepted order's unfilled
    quantity rests (a market order's at the band), no trade prints outside the band the
    action saw, and the book is never crossed."""
    rng = np.random.default_rng(5)
    book = book_with_bids()
    t = NOON
    for _ in range(400):
        t += int(rng.integers(1, 50_000_000))
        side = "buy" if rng.random() < 0.5 else "sell"
        qty = int(rng.integers(1, 20))
        before = book.resting_qty()
        if rng.random() < 0.3:
            fills = book.market(side, qty, t_ns=t)
        else:
            fills = book.limit(side, int(rng.integers(9_200, 10_800)), qty, t_ns=t)
        filled = int(fills["qty"].sum())
        if book.last_status == OK:
            assert book.resting_qty() == before - filled + (qty - filled)
        lo, hi = int(book.rules[1]), int(book.rules[2])  # the band this action saw
        assert ((fills["price_tick"] >= lo) & (fills["price_tick"] <= hi)).all()
        bb, ba = book.best_bid(), book.best_ask()
        assert bb is None or ba is None or bb < ba


def test_reprice_to_band_is_validated():
    assert parse_policies("luld")[0].reprice_to_band is True
    with pytest.raises(UsageError, match=r"luld\.reprice_to_band"):
        parse_policies("luld:reprice_to_band=maybe")
