"""Market rules in the matching path: boundary cases of LULD, MWCB and minimum rest.

Rule texts: Limit Up-Limit Down plan (SEC Rule 608, 2012); market-wide circuit
breakers (NYSE Rule 7.12 / SEC 2012 amendments), as summarised in REFERENCES.md.
"""

import numpy as np
import pytest

from marketsim.market_rules import band_ticks, rules_array, rules_report
from marketsim.orderbook import OrderBook
from marketsim.records import ACTION_DTYPE, CANCEL, HALTED, OK, OUTSIDE_BAND, REFUSED
from marketsim.scenarios.policies import parse_policies
from tests._book import halted

S = 1_000_000_000
NOON = 12 * 3600 * S
OPEN = (9 * 3600 + 30 * 60) * S
CLOSE_100 = 10_000  # $100.00 in cents


def make_book(policy: str, prev_close=CLOSE_100):
    book = OrderBook(tick_size=0.01, tick_lo=0, n_ticks=20_000)
    book.rules = rules_array(parse_policies(policy), tick_size=0.01, prev_close_tick=prev_close)
    return book


def cancel_at(book, order_id, t_ns):
    a = np.zeros(1, dtype=ACTION_DTYPE)
    a[0] = (t_ns, CANCEL, 0, 0, 0, order_id, -1)
    return int(book.process(a)[1][0])


def trade_at(book, price, t_ns):
    """A resting bid at ``price`` hit by a market sell; returns the fills."""
    book.limit("buy", price, 1, t_ns=t_ns)
    st = book.last_status
    fills = book.market("sell", 1, t_ns=t_ns)
    return st, fills


@pytest.mark.parametrize(
    "price, tier, t, expect",
    [
        (10_000, 1, NOON, (9_500, 10_500)),  # 5% above $3 (tier 1)
        (10_000, 2, NOON, (9_000, 11_000)),  # 10% (tier 2)
        (10_000, 1, OPEN + 899 * S, (9_000, 11_000)),  # doubled in the first 15 minutes
        (10_000, 1, OPEN + 900 * S, (9_500, 10_500)),
        (10_000, 1, 16 * 3600 * S - 1500 * S, (9_000, 11_000)),  # doubled in the last 25
        (200, 1, NOON, (160, 240)),  # 20% between $0.75 and $3
        (50, 1, NOON, (35, 65)),  # lesser of $0.15 and 75% below $0.75
        (10, 1, NOON, (3, 17)),  # 75% of $0.10 = $0.075
    ],
)
def test_band_tiers_and_doubling(price, tier, t, expect):
    rules = rules_array(parse_policies(f"luld:tier={tier}"), tick_size=0.01, prev_close_tick=price)
    assert band_ticks(float(price), t, rules) == expect


def test_one_tick_inside_the_band_executes_one_tick_outside_does_not():
    book = make_book("luld")  # band [9500, 10500] at noon
    st, fills = trade_at(book, 9_501, NOON)
    assert st == OK and fills["price_tick"].tolist() == [9_501]
    st, fills = trade_at(book, 9_500, NOON + 1)  # at the band: inside
    assert st == OK and fills["price_tick"].tolist() == [9_500]
    book.limit("buy", 9_499, 1, t_ns=NOON + 2)
    assert book.last_status == OUTSIDE_BAND and book.best_bid() is None
    # a bid that rested before the band moved away cannot trade outside it
    plain = OrderBook(tick_size=0.01, tick_lo=0, n_ticks=20_000)
    plain.limit("buy", 9_499, 1, t_ns=NOON)
    plain.rules = make_book("luld").rules
    assert plain.market("sell", 1, t_ns=NOON + 3).size == 0
    assert plain.best_bid() == 9_499
    # refusal mode (price sliding off): a bid above the upper band is refused; with
    # sliding it is repriced to the band (tests/test_market_rules_luld_sliding.py)
    st, fills = trade_at(make_book("luld:reprice_to_band=false"), 10_501, NOON)
    assert st == OUTSIDE_BAND and fills.size == 0


def _band_after_trades_at(price, policy="luld"):
    """The band one minute after trades at ``price`` (reference $100.00 before)."""
    book = make_book(policy)
    for k in range(5):
        trade_at(book, price, NOON + k * S)
    book.limit("buy", 5_000, 1, t_ns=NOON + 60 * S)  # any action brings the rules to t
    from marketsim.market_rules.words import _R_BAND_HI, _R_BAND_LO

    return int(book.rules[_R_BAND_LO]), int(book.rules[_R_BAND_HI])


def test_the_reference_moves_only_when_the_mean_moves_one_percent():
    # LULD plan: no new bands unless the 5-minute mean moved >= 1% from the reference
    assert _band_after_trades_at(10_099) == (9_500, 10_500)  # 0.99%: reference stays
    assert _band_after_trades_at(10_100) == (9_595, 10_605)  # 1%: reference = 101.00
    assert _band_after_trades_at(9_901) == (9_500, 10_500)
    assert _band_after_trades_at(9_900) == (9_405, 10_395)
    # reference_update_pct=0 follows the mean at every action
    assert _band_after_trades_at(10_099, "luld:reference_update_pct=0") == (9_595, 10_603)


def test_the_limit_state_becomes_a_pause_at_exactly_15_seconds():
    book = make_book("luld")
    book.limit("sell", 9_500, 5, t_ns=NOON)  # best offer at the lower band
    t0 = NOON + 1
    # no bid can rest at or above the lower band under the offer: the book is stuck
    book.limit("sell", 9_600, 1, order_id=1, t_ns=t0)  # the state starts at this action
    assert book.last_status == OK
    book.limit("sell", 9_601, 1, t_ns=t0 + 15 * S - 1)
    assert book.last_status == OK
    book.limit("sell", 9_602, 1, t_ns=t0 + 15 * S)
    assert halted(book)
    assert book.cancel(1) == 1 and book.last_status == OK  # cancels work in a pause
    book.limit("sell", 9_603, 1, t_ns=t0 + 315 * S - 1)
    assert halted(book)
    book.limit("sell", 9_604, 1, t_ns=t0 + 315 * S)
    assert book.last_status == OK
    rep = rules_report(book.rules)
    assert rep["luld_pauses"] == 1 and rep["seconds_halted"] == 300.0


def test_leaving_the_band_resets_the_limit_state_clock():
    book = make_book("luld")
    book.limit("sell", 9_500, 1, t_ns=NOON)
    book.limit("sell", 9_600, 1, t_ns=NOON + 1)  # limit state from here
    cancel_at(book, 0, NOON + 10 * S)  # the offer leaves the band: the state ends
    book.limit("sell", 9_700, 1, t_ns=NOON + 10 * S + 1)
    book.limit("sell", 9_500, 1, t_ns=NOON + 11 * S)  # at the band again
    book.limit("sell", 9_601, 1, t_ns=NOON + 12 * S)
    book.limit("sell", 9_602, 1, t_ns=NOON + 16 * S)  # 16 s after the first entry
    assert book.last_status == OK
    book.limit("sell", 9_603, 1, t_ns=NOON + 27 * S)  # 15 s after the second entry
    assert halted(book)


def test_each_circuit_breaker_level_fires_once_at_exactly_7_13_and_20_percent():
    book = make_book("mwcb")
    t = NOON
    st, _ = trade_at(book, 9_301, t)  # 6.99%: nothing
    assert st == OK and rules_report(book.rules)["mwcb_levels_fired"] == 0
    st, fills = trade_at(book, 9_300, t + S)  # exactly 7%: level 1
    assert fills.size == 1 and rules_report(book.rules)["mwcb_levels_fired"] == 1
    book.limit("buy", 9_000, 1, t_ns=t + S + 900 * S - 1)
    assert halted(book)  # 15-minute halt
    book.cancel(book.last_order_id)  # the probe rested for the reopening auction
    t = t + S + 900 * S
    st, _ = trade_at(book, 9_300, t)
    assert st == OK
    st, _ = trade_at(book, 9_200, t + S)  # level 1 again: it does not fire twice
    assert st == OK and rules_report(book.rules)["mwcb_levels_fired"] == 1
    st, _ = trade_at(book, 8_701, t + 2 * S)
    assert rules_report(book.rules)["mwcb_levels_fired"] == 1
    st, _ = trade_at(book, 8_700, t + 3 * S)  # exactly 13%: level 2
    assert rules_report(book.rules)["mwcb_levels_fired"] == 2
    book.limit("buy", 8_000, 1, t_ns=t + 4 * S)
    assert halted(book)
    book.cancel(book.last_order_id)
    t = t + 3 * S + 900 * S
    st, _ = trade_at(book, 8_001, t)
    assert st == OK and rules_report(book.rules)["mwcb_levels_fired"] == 2
    st, _ = trade_at(book, 8_000, t + S)  # exactly 20%: closed for the day
    rep = rules_report(book.rules)
    assert rep["mwcb_levels_fired"] == 3 and rep["market_closed_by_mwcb"]
    book.limit("buy", 9_000, 1, t_ns=16 * 3600 * S - 1)
    assert halted(book)


def test_no_circuit_breaker_halt_at_or_after_15_25():
    cutoff = (15 * 3600 + 25 * 60) * S
    before = make_book("mwcb")
    trade_at(before, 9_300, cutoff - 1)
    before.limit("buy", 9_000, 1, t_ns=cutoff)
    assert halted(before)
    after = make_book("mwcb")
    trade_at(after, 9_300, cutoff)
    after.limit("buy", 9_000, 1, t_ns=cutoff + 1)
    assert after.last_status == OK
    after.cancel(after.last_order_id)
    trade_at(after, 8_000, cutoff + 2)  # level 3 still closes the market
    after.limit("buy", 7_000, 1, t_ns=cutoff + 3)
    assert halted(after)


def test_minimum_resting_time_refuses_early_cancels():
    book = make_book("min_rest:min_rest_ms=500")
    book.limit("buy", 9_900, 3, order_id=7, t_ns=NOON)
    assert cancel_at(book, 7, NOON + 500_000_000 - 1) == REFUSED
    assert book.order(7)["qty"] == 3
    assert cancel_at(book, 7, NOON + 500_000_000) == OK and book.order(7) is None
    assert rules_report(book.rules)["actions_refused_min_rest"] == 1


# --- reopening auctions -------------------------------------------------------------------


def test_a_circuit_breaker_halt_ends_with_a_reopening_call_auction():
    """Orders entered during the halt rest unmatched (a crossed book); the first action
    at or after the halt's end clears them at one price, stamped at the end."""
    book = make_book("mwcb")
    trade_at(book, 9_300, NOON)  # level 1: halted until NOON + 900 s
    end = NOON + 900 * S
    book.limit("buy", 9_450, 5, order_id=100, t_ns=NOON + 10 * S)
    assert book.last_status == OK and halted(book)
    book.limit("sell", 9_400, 3, order_id=101, t_ns=NOON + 20 * S)
    book.limit("sell", 9_420, 4, order_id=102, t_ns=NOON + 30 * S)
    assert book.best_bid() == 9_450 and book.best_ask() == 9_400  # crossed, no trade
    assert book.market("buy", 1, t_ns=NOON + 40 * S).size == 0 and halted(book)
    assert rules_report(book.rules)["reopening_auctions"] == 0
    fills = book.limit("buy", 9_000, 1, t_ns=end)  # first action after the halt
    assert not halted(book)
    # demand at 9,420: 5, supply 7 -> 5 clear; at 9,400-9,419: 5 vs 3 -> 3. Max volume 5
    assert fills["price_tick"].tolist() == [9_420, 9_420] and fills["qty"].sum() == 5
    assert set(fills["t_ns"].tolist()) == {end}
    rep = rules_report(book.rules)
    assert rep["reopening_auctions"] == 1 and rep["reopening_volume"] == 5
    assert book.best_bid() == 9_000 and book.best_ask() == 9_420  # 2 left of order 102


def test_continuous_reopening_refuses_orders_during_the_halt():
    book = make_book("mwcb:reopening=continuous")
    trade_at(book, 9_300, NOON)
    book.limit("buy", 9_450, 5, t_ns=NOON + 10 * S)
    assert book.last_status == HALTED and book.best_bid() is None
    book.limit("buy", 9_450, 5, t_ns=NOON + 900 * S)
    assert book.last_status == OK
    assert rules_report(book.rules)["reopening_auctions"] == 0


def test_a_market_closed_by_the_last_level_does_not_reopen():
    book = make_book("mwcb")
    trade_at(book, 8_000, NOON)  # 20%: closed for the day
    book.limit("buy", 9_000, 1, t_ns=NOON + S)
    assert book.last_status == HALTED
