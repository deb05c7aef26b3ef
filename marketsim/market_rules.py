r"""Market rules inside the matching path: LULD bands and pauses, market-wide circuit
breakers, minimum resting time.

The order book's ``rules`` array (``int64``) is the seam (:mod:`marketsim.orderbook`):
its first :data:`~marketsim.orderbook.N_RULES` words are read by the matching kernel
(halted flag, band in ticks). :func:`rules_array` appends, after them, the rules'
parameters, their state and a ring of one-second trade buckets; when ``rules`` is that
long, :func:`marketsim.orderbook.apply_action` calls :func:`before_action` and
:func:`after_action` around every action, so the rules run wherever the book runs,
inside the same numba loop. Every quantity is an integer: prices in ticks, times in
nanoseconds since midnight, fractions in parts per billion (``_PPB``).

Limit Up-Limit Down (SEC Rule 608 plan): the reference price is the arithmetic mean of
the trade prices of the previous ``reference_window_s`` (whole seconds; the previous
reference, at first the previous close, when no trade happened in the window),
recomputed at every action (the plan updates it on 1% moves); the band is ``ref * pct``
with ``pct`` 5% (tier 1) or 10% (tier 2) above $3, 20% for $0.75-$3, and
``min($0.15, 0.75 ref)`` below $0.75,
doubled in the first ``double_open_s`` and last ``double_close_s`` of the session. The
band is ``[ceil((ref - band)/tick), floor((ref + band)/tick)]`` ticks: limit orders
priced outside it are refused and no trade prints outside it. The market is in the
*limit state* while the best ask sits at the lower band or the best bid at the upper
band; a limit state that lasts ``limit_state_s`` starts a ``pause_s`` trading pause at
exactly ``since + limit_state_s`` (new orders are refused; cancels are allowed).

Market-wide circuit breakers: when a trade prints at or below ``(1 - level) x previous
close`` for a level not yet fired, that level fires (once a session): levels before
the last halt trading for ``halt_s`` unless the trade is at or after
``no_halt_after_s`` (15:25); the last level closes the market for the day.

Minimum resting time: a cancel or reduce of an order that has rested less than
``min_rest_ms`` is refused (status ``REFUSED``).

Circuit-breaker levels are checked after the whole action: a market order that sweeps
through a level completes (within the LULD band, if any) before the halt starts.

Numba caching: :func:`marketsim.orderbook.apply_action` compiles these functions into
its own cache, which numba keys on ``orderbook.py`` only; after editing this module,
delete ``marketsim/__pycache__/orderbook.*.nb?`` (and the caches of kernels that call
``apply_action``) or the old rule code keeps running.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit

from marketsim.records import CANCEL, REDUCE, REFUSED

#: policies this module implements in the order-book market
BOOK_RULES_IMPLEMENTED = ("luld", "mwcb", "min_rest")

N_RULES = 8  # the matching kernel's own words (marketsim.orderbook.N_RULES)
_R_HALTED, _R_BAND_LO, _R_BAND_HI = 0, 1, 2
_NO_LO = np.iinfo(np.int64).min
_NO_HI = np.iinfo(np.int64).max
_PPB = 1_000_000_000

# --- parameters (offsets into rules) -------------------------------------------------
(X_FLAGS, X_TICK_PPB, X_TIER, X_BAND_PPB, X_REF_WINDOW_S, X_LIMIT_NS, X_PAUSE_NS, X_OPEN_NS,
 X_CLOSE_NS, X_DOUBLE_OPEN_NS, X_DOUBLE_CLOSE_NS, X_PREV_CLOSE_TICK, X_MWCB_N, X_MWCB_L0,
 ) = range(N_RULES, N_RULES + 14)
X_MWCB_HALT_NS = X_MWCB_L0 + 5
(X_MWCB_CUTOFF_NS, X_MIN_REST_NS,
 # --- state
 X_HALT_UNTIL, X_CLOSED, X_LIMIT_SINCE, X_MWCB_FIRED, X_HALTED_NS, X_N_PAUSES, X_N_MWCB,
 X_LAST_TICK, X_LIMIT_NS_TOTAL, X_REF_MILLI, X_N_REFUSED, X_RING,
 ) = range(X_MWCB_HALT_NS + 1, X_MWCB_HALT_NS + 15)
#: flags
F_LULD, F_MWCB, F_MIN_REST = 1, 2, 4
#: the ring: per slot (second stamp, sum of trade ticks, trade count)


def rules_array(policies, *, tick_size: float, prev_close_tick: int,
                open_ns: int = (9 * 3600 + 30 * 60) * 10**9,
                close_ns: int = 16 * 3600 * 10**9) -> np.ndarray:
    """The ``rules`` array for a book under these policies (``marketsim.policies``).

    Parameters
    ----------
    policies : list of policy models; ``luld``, ``mwcb`` and ``min_rest`` are read
    tick_size : float, dollars per tick (LULD's price tiers are in dollars)
    prev_close_tick : int, previous close (MWCB reference and LULD's opening reference)

    Returns
    -------
    ndarray(int64); the first ``N_RULES`` words as :func:`marketsim.orderbook.default_rules`
    """
    from marketsim.policies import find

    luld, mwcb, rest = find(policies, "luld"), find(policies, "mwcb"), find(policies, "min_rest")
    window = int(math.ceil(luld.reference_window_s)) if luld else 1
    rules = np.zeros(X_RING + 3 * window, dtype=np.int64)
    rules[_R_BAND_LO], rules[_R_BAND_HI] = _NO_LO, _NO_HI
    flags = 0
    rules[X_TICK_PPB] = round(tick_size * _PPB)
    rules[X_OPEN_NS], rules[X_CLOSE_NS] = open_ns, close_ns
    rules[X_PREV_CLOSE_TICK] = prev_close_tick
    rules[X_REF_WINDOW_S] = window
    if luld:
        flags |= F_LULD
        rules[X_TIER] = luld.tier
        rules[X_BAND_PPB] = 0 if luld.band_pct is None else round(luld.band_pct * _PPB)
        rules[X_LIMIT_NS] = round(luld.limit_state_s * 1e9)
        rules[X_PAUSE_NS] = round(luld.pause_s * 1e9)
        rules[X_DOUBLE_OPEN_NS] = round(luld.double_open_s * 1e9)
        rules[X_DOUBLE_CLOSE_NS] = round(luld.double_close_s * 1e9)
    if mwcb:
        flags |= F_MWCB
        rules[X_MWCB_N] = len(mwcb.levels)
        for j, lv in enumerate(mwcb.levels):
            rules[X_MWCB_L0 + j] = round(lv * _PPB)
        rules[X_MWCB_HALT_NS] = round(mwcb.halt_s * 1e9)
        rules[X_MWCB_CUTOFF_NS] = round(mwcb.no_halt_after_s * 1e9)
    if rest:
        flags |= F_MIN_REST
        rules[X_MIN_REST_NS] = round(rest.min_rest_ms * 1e6)
    rules[X_FLAGS] = flags
    rules[X_LIMIT_SINCE] = -1
    rules[X_LAST_TICK] = prev_close_tick
    rules[X_REF_MILLI] = 1000 * prev_close_tick
    rules[X_RING::3] = -1  # no second stamped yet
    return rules


@njit(cache=True)
def band_ticks(ref_tick, t_ns, rules):
    """LULD band ``(lo, hi)`` in ticks around the reference ``ref_tick`` at ``t_ns``."""
    tick = rules[X_TICK_PPB] / _PPB
    ref = ref_tick * tick
    if rules[X_BAND_PPB] > 0:
        band = ref * rules[X_BAND_PPB] / _PPB
    elif ref > 3.0:
        band = ref * (0.05 if rules[X_TIER] == 1 else 0.10)
    elif ref >= 0.75:
        band = ref * 0.20
    else:
        band = min(0.15, 0.75 * ref)
    if (t_ns < rules[X_OPEN_NS] + rules[X_DOUBLE_OPEN_NS]
            or t_ns >= rules[X_CLOSE_NS] - rules[X_DOUBLE_CLOSE_NS]):
        band *= 2.0
    lo = int(math.ceil((ref - band) / tick - 1e-9))
    hi = int(math.floor((ref + band) / tick + 1e-9))
    return lo, hi


@njit(cache=True)
def reference_tick(t_ns, rules):
    """Mean trade price (ticks, float) of the whole seconds in the reference window
    before ``t_ns``; the previous reference (at first the previous close) when none."""
    w = rules[X_REF_WINDOW_S]
    sec = t_ns // 1_000_000_000
    total = 0
    count = 0
    for k in range(w):
        base = X_RING + 3 * k
        stamp = rules[base]
        if stamp >= sec - w and stamp < sec:
            total += rules[base + 1]
            count += rules[base + 2]
    if count == 0:
        return rules[X_REF_MILLI] / 1000.0
    ref = total / count
    rules[X_REF_MILLI] = round(ref * 1000.0)
    return ref


@njit(cache=True)
def _halt_until(rules, start_ns, until_ns):
    """Extend the halt to ``until_ns``, counting the halted time once."""
    until_ns = min(until_ns, rules[X_CLOSE_NS])
    old = rules[X_HALT_UNTIL]
    if until_ns <= old:
        return
    rules[X_HALTED_NS] += until_ns - max(old, start_ns)
    rules[X_HALT_UNTIL] = until_ns


@njit(cache=True)
def before_action(t_ns, kind, order_id, order_t_ns, best_bid, best_ask, rules):
    """Bring the rules to time ``t_ns`` and set the halted flag and band words.

    ``order_t_ns`` is the entry time of the resting order a cancel/reduce targets (-1 if
    none); ``best_bid``/``best_ask`` in ticks (``_NO_LO``/``_NO_HI`` when empty).
    Returns ``REFUSED`` when a rule refuses the action, else 0.
    """
    flags = rules[X_FLAGS]
    if flags & F_LULD:
        _limit_state(t_ns, best_bid, best_ask, rules)
    closed = rules[X_CLOSED] != 0
    rules[_R_HALTED] = 1 if (closed or t_ns < rules[X_HALT_UNTIL]) else 0
    if flags & F_LULD:
        lo, hi = band_ticks(reference_tick(t_ns, rules), t_ns, rules)
        rules[_R_BAND_LO] = lo
        rules[_R_BAND_HI] = hi
    if (flags & F_MIN_REST) and (kind == CANCEL or kind == REDUCE) and order_t_ns >= 0:
        if t_ns - order_t_ns < rules[X_MIN_REST_NS]:
            rules[X_N_REFUSED] += 1
            return REFUSED
    return 0


@njit(cache=True)
def _limit_state(t_ns, best_bid, best_ask, rules):
    """Enter, keep or leave the limit state; start a pause after ``limit_state_s``."""
    if rules[_R_BAND_LO] == _NO_LO or t_ns < rules[X_HALT_UNTIL]:
        return
    since = rules[X_LIMIT_SINCE]
    if since >= 0 and t_ns >= since + rules[X_LIMIT_NS]:
        start = since + rules[X_LIMIT_NS]
        _halt_until(rules, start, start + rules[X_PAUSE_NS])
        rules[X_LIMIT_NS_TOTAL] += rules[X_LIMIT_NS]
        rules[X_N_PAUSES] += 1
        rules[X_LIMIT_SINCE] = -1
        return
    at_band = best_ask <= rules[_R_BAND_LO] or best_bid >= rules[_R_BAND_HI]
    if at_band and since < 0:
        rules[X_LIMIT_SINCE] = t_ns
    elif not at_band and since >= 0:
        rules[X_LIMIT_NS_TOTAL] += t_ns - since
        rules[X_LIMIT_SINCE] = -1


@njit(cache=True)
def record_trade(t_ns, price_tick, rules):
    """Add a trade to the reference ring and fire any circuit-breaker level it crosses."""
    rules[X_LAST_TICK] = price_tick
    sec = t_ns // 1_000_000_000
    base = X_RING + 3 * (sec % rules[X_REF_WINDOW_S])
    if rules[base] != sec:
        rules[base] = sec
        rules[base + 1] = 0
        rules[base + 2] = 0
    rules[base + 1] += price_tick
    rules[base + 2] += 1
    if rules[X_FLAGS] & F_MWCB:
        close = rules[X_PREV_CLOSE_TICK]
        n = rules[X_MWCB_N]
        for j in range(n):
            if rules[X_MWCB_FIRED] & (1 << j):
                continue
            # fall >= level  <=>  price * 1e9 <= close * (1e9 - level), exact in integers
            if price_tick * _PPB <= close * (_PPB - rules[X_MWCB_L0 + j]):
                rules[X_MWCB_FIRED] |= 1 << j
                rules[X_N_MWCB] += 1
                if j == n - 1:
                    rules[X_CLOSED] = 1
                    _halt_until(rules, t_ns, rules[X_CLOSE_NS])
                    rules[_R_HALTED] = 1
                elif t_ns < rules[X_MWCB_CUTOFF_NS]:
                    _halt_until(rules, t_ns, t_ns + rules[X_MWCB_HALT_NS])
                    rules[_R_HALTED] = 1


@njit(cache=True)
def after_action(t_ns, fills, n_before, n_after, rules):
    """Record the trades ``fills[n_before:n_after]`` of the action just applied."""
    for k in range(n_before, n_after):
        record_trade(t_ns, fills[k].price_tick, rules)


def rules_report(rules: np.ndarray) -> dict:
    """The rules' counters for a run summary (times in seconds)."""
    if rules.shape[0] <= N_RULES:  # no rules: nothing halted, nothing refused
        return {"seconds_halted": 0.0, "luld_pauses": 0, "seconds_in_limit_state": 0.0,
                "mwcb_levels_fired": 0, "market_closed_by_mwcb": False,
                "actions_refused_min_rest": 0}
    return {
        "seconds_halted": int(rules[X_HALTED_NS]) / 1e9,
        "luld_pauses": int(rules[X_N_PAUSES]),
        "seconds_in_limit_state": int(rules[X_LIMIT_NS_TOTAL]) / 1e9,
        "mwcb_levels_fired": int(rules[X_N_MWCB]),
        "market_closed_by_mwcb": bool(rules[X_CLOSED]),
        "actions_refused_min_rest": int(rules[X_N_REFUSED]),
    }


__all__ = ["BOOK_RULES_IMPLEMENTED", "after_action", "band_ticks", "before_action",
           "record_trade", "reference_tick",
           "rules_array", "rules_report"]
