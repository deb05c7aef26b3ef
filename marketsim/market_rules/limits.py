"""The rules around every action (numba): LULD bands, the limit state and pauses, the
market-wide circuit breakers, single-stock halts, stop logic, minimum resting time, the
order-to-trade cap and the taxes (:func:`before_action`, :func:`after_action`,
:func:`record_trade`).
"""

from __future__ import annotations

import math

from numba import njit

from marketsim.market_rules.words import (
    _NO_LO,
    _PPB,
    _R_BAND_HI,
    _R_BAND_LO,
    _R_HALTED,
    _R_STOP,
    _R_STOP_HI,
    _R_STOP_LO,
    _STOP_HIT,
    _STOP_ON,
    F_HALT,
    F_LULD,
    F_MIN_REST,
    F_MWCB,
    F_OTR,
    F_REOPEN,
    F_STOP,
    F_TAX,
    HALT_LULD,
    HALT_MWCB,
    HALT_MWCB_CLOSE,
    HALT_SINGLE_STOCK,
    HALT_STOP_LOGIC,
    N_LOG_WORDS,
    N_OWNER_WORDS,
    OW_MESSAGES,
    OW_TAX,
    OW_TRADES,
    OW_WINDOW,
    X_BAND_PPB,
    X_CANCEL_TAX_UTICKS,
    X_CANCEL_WINDOW_NS,
    X_CLOSE_NS,
    X_CLOSED,
    X_DOUBLE_CLOSE_NS,
    X_DOUBLE_OPEN_NS,
    X_FLAGS,
    X_HALT_NS,
    X_HALT_PPB,
    X_HALT_RING_AT,
    X_HALT_UNTIL,
    X_HALT_WINDOW_S,
    X_HALTED_NS,
    X_LAST_TICK,
    X_LIMIT_NS,
    X_LIMIT_NS_TOTAL,
    X_LIMIT_SINCE,
    X_LOG_AT,
    X_LOG_CAP,
    X_LOG_N,
    X_MIN_REST_NS,
    X_MWCB_CUTOFF_NS,
    X_MWCB_FIRED,
    X_MWCB_HALT_NS,
    X_MWCB_L0,
    X_MWCB_N,
    X_N_HALTS,
    X_N_MWCB,
    X_N_OWNERS,
    X_N_PAUSES,
    X_N_REFUSED,
    X_N_REFUSED_OTR,
    X_N_STOPS,
    X_OPEN_NS,
    X_OTR_RATIO_MILLI,
    X_OTR_WINDOW_NS,
    X_OWNERS_AT,
    X_PAUSE_NS,
    X_PREV_CLOSE_TICK,
    X_REF_MILLI,
    X_REF_UPDATE_PPB,
    X_REF_WINDOW_S,
    X_REGULATOR_UTICKS,
    X_REOPEN_PENDING,
    X_RING,
    X_SL_PAUSE_NS,
    X_SL_PPB,
    X_SL_REF_TICK,
    X_SL_T_NS,
    X_TICK_PPB,
    X_TIER,
    X_TRADE_TAX_URATE,
)
from marketsim.records import CANCEL, IOC, OK, REDUCE, REFUSED


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
    if (
        t_ns < rules[X_OPEN_NS] + rules[X_DOUBLE_OPEN_NS]
        or t_ns >= rules[X_CLOSE_NS] - rules[X_DOUBLE_CLOSE_NS]
    ):
        band *= 2.0
    lo = int(math.ceil((ref - band) / tick - 1e-9))
    hi = int(math.floor((ref + band) / tick + 1e-9))
    return lo, hi


@njit(cache=True)
def reference_tick(t_ns, rules):
    """The reference price (ticks, float) in effect at ``t_ns``.

    The mean trade price of the whole seconds in the reference window before ``t_ns``
    becomes the reference when it is ``reference_update_pct`` or more away from the
    reference in effect (at first the previous close); otherwise, when no trade
    happened in the window, and during a limit state, the reference in effect stays."""
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
    current = rules[X_REF_MILLI] / 1000.0
    if count == 0 or rules[X_LIMIT_SINCE] >= 0:  # no new bands during a limit state
        return current
    mean = total / count
    # the plan: a new reference only when the mean moved >= reference_update_pct
    if abs(mean - current) * _PPB >= rules[X_REF_UPDATE_PPB] * current:
        rules[X_REF_MILLI] = round(mean * 1000.0)
        return mean
    return current


@njit(cache=True)
def _halt_until(rules, start_ns, until_ns, cause):
    """Extend the halt to ``until_ns``, counting the halted time once, and log it: a new
    entry (start, end, ``cause``) in the halt log, or, when the halt in force is
    extended, the last entry's end moved and its cause replaced by the extending one."""
    until_ns = min(until_ns, rules[X_CLOSE_NS])
    old = rules[X_HALT_UNTIL]
    if until_ns <= old:
        return
    rules[X_HALTED_NS] += until_ns - max(old, start_ns)
    rules[X_HALT_UNTIL] = until_ns
    n = rules[X_LOG_N]
    if old > start_ns and n > 0:  # still halted: the halt in force lasts longer
        if n <= rules[X_LOG_CAP]:
            at = rules[X_LOG_AT] + N_LOG_WORDS * (n - 1)
            rules[at + 1] = until_ns
            rules[at + 2] = cause  # what holds the market now (an MWCB close, say)
    else:
        if n < rules[X_LOG_CAP]:
            at = rules[X_LOG_AT] + N_LOG_WORDS * n
            rules[at] = start_ns
            rules[at + 1] = until_ns
            rules[at + 2] = cause
        rules[X_LOG_N] = n + 1
    if rules[X_FLAGS] & F_REOPEN and rules[X_CLOSED] == 0:
        rules[X_REOPEN_PENDING] = 1


@njit(cache=True)
def _owner_base(rules, owner, t_ns):
    """Offset of ``owner``'s words, its window rolled to ``t_ns``; -1 if not counted."""
    if owner < 0 or owner >= rules[X_N_OWNERS]:
        return -1
    base = rules[X_OWNERS_AT] + N_OWNER_WORDS * owner
    if rules[X_FLAGS] & F_OTR:
        w = t_ns // rules[X_OTR_WINDOW_NS]
        if rules[base + OW_WINDOW] != w:
            rules[base + OW_WINDOW] = w
            rules[base + OW_MESSAGES] = 0
            rules[base + OW_TRADES] = 0
    return base


@njit(cache=True)
def before_action(t_ns, kind, owner, order_id, order_t_ns, best_bid, best_ask, rules):
    """Bring the rules to time ``t_ns`` and set the halted flag and band words.

    ``owner`` sent the action; ``order_t_ns`` is the entry time of the resting order a
    cancel/reduce targets (-1 if none); ``best_bid``/``best_ask`` in ticks
    (``_NO_LO``/``_NO_HI`` when empty). Returns ``REFUSED`` when a rule refuses the
    action, else 0.
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
    if flags & F_STOP:
        _stop_band(t_ns, rules)
    if (flags & F_MIN_REST) and (kind == CANCEL or kind == REDUCE) and order_t_ns >= 0:
        if t_ns - order_t_ns < rules[X_MIN_REST_NS]:
            rules[X_N_REFUSED] += 1
            return REFUSED
    if (flags & F_OTR) and kind <= IOC:
        base = _owner_base(rules, owner, t_ns)
        if base >= 0:
            trades = max(rules[base + OW_TRADES], 1)
            # refused when this message would lift messages / max(trades, 1) above the cap
            if (rules[base + OW_MESSAGES] + 1) * 1000 > rules[X_OTR_RATIO_MILLI] * trades:
                rules[X_N_REFUSED_OTR] += 1
                return REFUSED
    return 0


@njit(cache=True)
def stop_band_ticks(ref_tick, band_ppb):
    """Stop logic's band ``(lo, hi)`` in ticks: every price within ``band_ppb`` parts per
    billion of ``ref_tick`` (``ceil(ref (1 - b))``, ``floor(ref (1 + b))``, exact)."""
    lo = -((-ref_tick * (_PPB - band_ppb)) // _PPB)
    hi = (ref_tick * (_PPB + band_ppb)) // _PPB
    return lo, hi


@njit(cache=True)
def _stop_band(t_ns, rules):
    """Set the stop-logic band around the last trade before this instant (an instant is
    one time stamp: every action at ``t_ns`` shares the reference)."""
    if t_ns != rules[X_SL_T_NS]:
        rules[X_SL_T_NS] = t_ns
        rules[X_SL_REF_TICK] = rules[X_LAST_TICK]
    lo, hi = stop_band_ticks(rules[X_SL_REF_TICK], rules[X_SL_PPB])
    rules[_R_STOP_LO] = lo
    rules[_R_STOP_HI] = hi
    rules[_R_STOP] = _STOP_ON


@njit(cache=True)
def _limit_state(t_ns, best_bid, best_ask, rules):
    """Enter, keep or leave the limit state; start a pause after ``limit_state_s``."""
    if rules[_R_BAND_LO] == _NO_LO or t_ns < rules[X_HALT_UNTIL]:
        return
    since = rules[X_LIMIT_SINCE]
    if since >= 0 and t_ns >= since + rules[X_LIMIT_NS]:
        start = since + rules[X_LIMIT_NS]
        _halt_until(rules, start, start + rules[X_PAUSE_NS], HALT_LULD)
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
def _single_stock_halt(t_ns, price_tick, rules):
    """Record the trade in the halt ring; halt when it moved ``move_pct`` from the
    window's high or low (exact integer test, the current second included)."""
    sec = t_ns // 1_000_000_000
    w = rules[X_HALT_WINDOW_S]
    at = rules[X_HALT_RING_AT]
    base = at + 3 * (sec % w)
    if rules[base] != sec:
        rules[base] = sec
        rules[base + 1] = price_tick
        rules[base + 2] = price_tick
    else:
        rules[base + 1] = min(rules[base + 1], price_tick)
        rules[base + 2] = max(rules[base + 2], price_tick)
    lo = price_tick
    hi = price_tick
    for k in range(w):
        b = at + 3 * k
        if rules[b] > sec - w and rules[b] <= sec:
            lo = min(lo, rules[b + 1])
            hi = max(hi, rules[b + 2])
    move = rules[X_HALT_PPB]
    if price_tick * _PPB <= hi * (_PPB - move) or price_tick * _PPB >= lo * (_PPB + move):
        rules[X_N_HALTS] += 1
        _halt_until(rules, t_ns, t_ns + rules[X_HALT_NS], HALT_SINGLE_STOCK)
        rules[_R_HALTED] = 1
        for k in range(w):  # the window starts afresh when trading resumes
            rules[at + 3 * k] = -1


@njit(cache=True)
def record_trade(t_ns, price_tick, rules):
    """Add a trade to the reference ring and fire any circuit-breaker level or
    single-stock halt it triggers."""
    rules[X_LAST_TICK] = price_tick
    sec = t_ns // 1_000_000_000
    base = X_RING + 3 * (sec % rules[X_REF_WINDOW_S])
    if rules[base] != sec:
        rules[base] = sec
        rules[base + 1] = 0
        rules[base + 2] = 0
    rules[base + 1] += price_tick
    rules[base + 2] += 1
    if rules[X_FLAGS] & F_HALT:
        _single_stock_halt(t_ns, price_tick, rules)
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
                    _halt_until(rules, t_ns, rules[X_CLOSE_NS], HALT_MWCB_CLOSE)
                    rules[_R_HALTED] = 1
                elif t_ns < rules[X_MWCB_CUTOFF_NS]:
                    _halt_until(rules, t_ns, t_ns + rules[X_MWCB_HALT_NS], HALT_MWCB)
                    rules[_R_HALTED] = 1


@njit(cache=True)
def _charge(rules, base, uticks):
    """Charge ``uticks`` to the owner at ``base``; the regulator receives them."""
    rules[base + OW_TAX] += uticks
    rules[X_REGULATOR_UTICKS] += uticks


@njit(cache=True)
def after_action(
    t_ns, kind, owner, status, order_t_ns, order_owner, removed_qty, fills, n_before, n_after, rules
):
    """Record the action just applied and its trades ``fills[n_before:n_after]``.

    ``kind = -1`` marks the fills of a batch auction (no message). A cancel/reduce's
    ``order_owner`` and ``removed_qty`` are those of the resting order it hit.
    """
    flags = rules[X_FLAGS]
    if (flags & F_STOP) and rules[_R_STOP] == _STOP_HIT:
        # matching stopped an order at the band: pause now, reopen by auction
        rules[_R_STOP] = _STOP_ON
        rules[X_N_STOPS] += 1
        _halt_until(rules, t_ns, t_ns + rules[X_SL_PAUSE_NS], HALT_STOP_LOGIC)
        rules[_R_HALTED] = 1
    counted = rules[X_N_OWNERS] > 0
    if counted and status == OK and kind >= 0:
        sender = order_owner if (kind == CANCEL or kind == REDUCE) else owner
        base = _owner_base(rules, sender, t_ns)
        if base >= 0:
            rules[base + OW_MESSAGES] += 1
            if (
                (flags & F_TAX)
                and (kind == CANCEL or kind == REDUCE)
                and order_t_ns >= 0
                and t_ns - order_t_ns < rules[X_CANCEL_WINDOW_NS]
            ):
                _charge(rules, base, removed_qty * rules[X_CANCEL_TAX_UTICKS])
    urate = rules[X_TRADE_TAX_URATE] if flags & F_TAX else 0
    for k in range(n_before, n_after):
        f = fills[k]
        record_trade(f.t_ns, f.price_tick, rules)
        if counted:
            for who in (f.buyer, f.seller):
                base = _owner_base(rules, who, f.t_ns)
                if base >= 0:
                    rules[base + OW_TRADES] += 1
                    if urate > 0:
                        _charge(rules, base, f.price_tick * f.qty * urate)
