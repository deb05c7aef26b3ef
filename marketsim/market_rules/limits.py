"""The rules around every action (numba): LULD bands, the limit state and pauses, the
market-wide circuit breakers, single-stock halts, stop logic, minimum resting time, the
order-to-trade cap and the taxes (:func:`before_action`, :func:`after_action`,
:func:`record_trade`).
"""

from __future__ import annotations

import math

from numba import njit

from marketsim.market_rules import words as W
from marketsim.records import CANCEL, IOC, OK, REDUCE, REFUSED


@njit(cache=True)
def band_ticks(ref_tick, t_ns, rules):
    """LULD band ``(lo, hi)`` in ticks around the reference ``ref_tick`` at ``t_ns``."""
    tick = rules[W.X_TICK_PPB] / W._PPB
    ref = ref_tick * tick
    if rules[W.X_BAND_PPB] > 0:
        band = ref * rules[W.X_BAND_PPB] / W._PPB
    elif ref > 3.0:
        band = ref * (0.05 if rules[W.X_TIER] == 1 else 0.10)
    elif ref >= 0.75:
        band = ref * 0.20
    else:
        band = min(0.15, 0.75 * ref)
    if (
        t_ns < rules[W.X_OPEN_NS] + rules[W.X_DOUBLE_OPEN_NS]
        or t_ns >= rules[W.X_CLOSE_NS] - rules[W.X_DOUBLE_CLOSE_NS]
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
    w = rules[W.X_REF_WINDOW_S]
    sec = t_ns // 1_000_000_000
    total = 0
    count = 0
    for k in range(w):
        base = W.X_RING + 3 * k
        stamp = rules[base]
        if stamp >= sec - w and stamp < sec:
            total += rules[base + 1]
            count += rules[base + 2]
    current = rules[W.X_REF_MILLI] / 1000.0
    if count == 0 or rules[W.X_LIMIT_SINCE] >= 0:  # no new bands during a limit state
        return current
    mean = total / count
    # the plan: a new reference only when the mean moved >= reference_update_pct
    if abs(mean - current) * W._PPB >= rules[W.X_REF_UPDATE_PPB] * current:
        rules[W.X_REF_MILLI] = round(mean * 1000.0)
        return mean
    return current


@njit(cache=True)
def _halt_until(rules, start_ns, until_ns, cause):
    """Extend the halt to ``until_ns``, counting the halted time once, and log it: a new
    entry (start, end, ``cause``) in the halt log, or, when the halt in force is
    extended, the last entry's end moved and its cause replaced by the extending one."""
    until_ns = min(until_ns, rules[W.X_CLOSE_NS])
    old = rules[W.X_HALT_UNTIL]
    if until_ns <= old:
        return
    rules[W.X_HALTED_NS] += until_ns - max(old, start_ns)
    rules[W.X_HALT_UNTIL] = until_ns
    n = rules[W.X_LOG_N]
    if old > start_ns and n > 0:  # still halted: the halt in force lasts longer
        if n <= rules[W.X_LOG_CAP]:
            at = rules[W.X_LOG_AT] + W.N_LOG_WORDS * (n - 1)
            rules[at + 1] = until_ns
            rules[at + 2] = cause  # what holds the market now (an MWCB close, say)
    else:
        if n < rules[W.X_LOG_CAP]:
            at = rules[W.X_LOG_AT] + W.N_LOG_WORDS * n
            rules[at] = start_ns
            rules[at + 1] = until_ns
            rules[at + 2] = cause
        rules[W.X_LOG_N] = n + 1
    if rules[W.X_FLAGS] & W.F_REOPEN and rules[W.X_CLOSED] == 0:
        rules[W.X_REOPEN_PENDING] = 1


@njit(cache=True)
def _owner_base(rules, owner, t_ns):
    """Offset of ``owner``'s words, its window rolled to ``t_ns``; -1 if not counted."""
    if owner < 0 or owner >= rules[W.X_N_OWNERS]:
        return -1
    base = rules[W.X_OWNERS_AT] + W.N_OWNER_WORDS * owner
    if rules[W.X_FLAGS] & W.F_OTR:
        w = t_ns // rules[W.X_OTR_WINDOW_NS]
        if rules[base + W.OW_WINDOW] != w:
            rules[base + W.OW_WINDOW] = w
            rules[base + W.OW_MESSAGES] = 0
            rules[base + W.OW_TRADES] = 0
    return base


@njit(cache=True)
def before_action(t_ns, kind, owner, order_id, order_t_ns, best_bid, best_ask, rules):
    """Bring the rules to time ``t_ns`` and set the halted flag and band words.

    ``owner`` sent the action; ``order_t_ns`` is the entry time of the resting order a
    cancel/reduce targets (-1 if none); ``best_bid``/``best_ask`` in ticks
    (``_NO_LO``/``_NO_HI`` when empty). Returns ``REFUSED`` when a rule refuses the
    action, else 0.
    """
    flags = rules[W.X_FLAGS]
    if flags & W.F_LULD:
        _limit_state(t_ns, best_bid, best_ask, rules)
    closed = rules[W.X_CLOSED] != 0
    rules[W._R_HALTED] = 1 if (closed or t_ns < rules[W.X_HALT_UNTIL]) else 0
    if flags & W.F_LULD:
        lo, hi = band_ticks(reference_tick(t_ns, rules), t_ns, rules)
        rules[W._R_BAND_LO] = lo
        rules[W._R_BAND_HI] = hi
    if flags & W.F_STOP:
        _stop_band(t_ns, rules)
    if (flags & W.F_MIN_REST) and (kind == CANCEL or kind == REDUCE) and order_t_ns >= 0:
        if t_ns - order_t_ns < rules[W.X_MIN_REST_NS]:
            rules[W.X_N_REFUSED] += 1
            return REFUSED
    if (flags & W.F_OTR) and kind <= IOC:
        base = _owner_base(rules, owner, t_ns)
        if base >= 0:
            trades = max(rules[base + W.OW_TRADES], 1)
            # refused when this message would lift messages / max(trades, 1) above the cap
            if (rules[base + W.OW_MESSAGES] + 1) * 1000 > rules[W.X_OTR_RATIO_MILLI] * trades:
                rules[W.X_N_REFUSED_OTR] += 1
                return REFUSED
    return 0


@njit(cache=True)
def stop_band_ticks(ref_tick, band_ppb):
    """Stop logic's band ``(lo, hi)`` in ticks: every price within ``band_ppb`` parts per
    billion of ``ref_tick`` (``ceil(ref (1 - b))``, ``floor(ref (1 + b))``, exact)."""
    lo = -((-ref_tick * (W._PPB - band_ppb)) // W._PPB)
    hi = (ref_tick * (W._PPB + band_ppb)) // W._PPB
    return lo, hi


@njit(cache=True)
def _stop_band(t_ns, rules):
    """Set the stop-logic band around the last trade before this instant (an instant is
    one time stamp: every action at ``t_ns`` shares the reference)."""
    if t_ns != rules[W.X_SL_T_NS]:
        rules[W.X_SL_T_NS] = t_ns
        rules[W.X_SL_REF_TICK] = rules[W.X_LAST_TICK]
    lo, hi = stop_band_ticks(rules[W.X_SL_REF_TICK], rules[W.X_SL_PPB])
    rules[W._R_STOP_LO] = lo
    rules[W._R_STOP_HI] = hi
    rules[W._R_STOP] = W._STOP_ON


@njit(cache=True)
def _limit_state(t_ns, best_bid, best_ask, rules):
    """Enter, keep or leave the limit state; start a pause after ``limit_state_s``."""
    if rules[W._R_BAND_LO] == W._NO_LO or t_ns < rules[W.X_HALT_UNTIL]:
        return
    since = rules[W.X_LIMIT_SINCE]
    if since >= 0 and t_ns >= since + rules[W.X_LIMIT_NS]:
        start = since + rules[W.X_LIMIT_NS]
        _halt_until(rules, start, start + rules[W.X_PAUSE_NS], W.HALT_LULD)
        rules[W.X_LIMIT_NS_TOTAL] += rules[W.X_LIMIT_NS]
        rules[W.X_N_PAUSES] += 1
        rules[W.X_LIMIT_SINCE] = -1
        return
    at_band = best_ask <= rules[W._R_BAND_LO] or best_bid >= rules[W._R_BAND_HI]
    if at_band and since < 0:
        rules[W.X_LIMIT_SINCE] = t_ns
    elif not at_band and since >= 0:
        rules[W.X_LIMIT_NS_TOTAL] += t_ns - since
        rules[W.X_LIMIT_SINCE] = -1


@njit(cache=True)
def _single_stock_halt(t_ns, price_tick, rules):
    """Record the trade in the halt ring; halt when it moved ``move_pct`` from the
    window's high or low (exact integer test, the current second included)."""
    sec = t_ns // 1_000_000_000
    w = rules[W.X_HALT_WINDOW_S]
    at = rules[W.X_HALT_RING_AT]
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
    move = rules[W.X_HALT_PPB]
    if price_tick * W._PPB <= hi * (W._PPB - move) or price_tick * W._PPB >= lo * (W._PPB + move):
        rules[W.X_N_HALTS] += 1
        _halt_until(rules, t_ns, t_ns + rules[W.X_HALT_NS], W.HALT_SINGLE_STOCK)
        rules[W._R_HALTED] = 1
        for k in range(w):  # the window starts afresh when trading resumes
            rules[at + 3 * k] = -1


@njit(cache=True)
def record_trade(t_ns, price_tick, rules):
    """Add a trade to the reference ring and fire any circuit-breaker level or
    single-stock halt it triggers."""
    rules[W.X_LAST_TICK] = price_tick
    sec = t_ns // 1_000_000_000
    base = W.X_RING + 3 * (sec % rules[W.X_REF_WINDOW_S])
    if rules[base] != sec:
        rules[base] = sec
        rules[base + 1] = 0
        rules[base + 2] = 0
    rules[base + 1] += price_tick
    rules[base + 2] += 1
    if rules[W.X_FLAGS] & W.F_HALT:
        _single_stock_halt(t_ns, price_tick, rules)
    if rules[W.X_FLAGS] & W.F_MWCB:
        close = rules[W.X_PREV_CLOSE_TICK]
        n = rules[W.X_MWCB_N]
        for j in range(n):
            if rules[W.X_MWCB_FIRED] & (1 << j):
                continue
            # fall >= level  <=>  price * 1e9 <= close * (1e9 - level), exact in integers
            if price_tick * W._PPB <= close * (W._PPB - rules[W.X_MWCB_L0 + j]):
                rules[W.X_MWCB_FIRED] |= 1 << j
                rules[W.X_N_MWCB] += 1
                if j == n - 1:
                    rules[W.X_CLOSED] = 1
                    _halt_until(rules, t_ns, rules[W.X_CLOSE_NS], W.HALT_MWCB_CLOSE)
                    rules[W._R_HALTED] = 1
                elif t_ns < rules[W.X_MWCB_CUTOFF_NS]:
                    _halt_until(rules, t_ns, t_ns + rules[W.X_MWCB_HALT_NS], W.HALT_MWCB)
                    rules[W._R_HALTED] = 1


@njit(cache=True)
def _charge(rules, base, uticks):
    """Charge ``uticks`` to the owner at ``base``; the regulator receives them."""
    rules[base + W.OW_TAX] += uticks
    rules[W.X_REGULATOR_UTICKS] += uticks


@njit(cache=True)
def after_action(
    t_ns, kind, owner, status, order_t_ns, order_owner, removed_qty, fills, n_before, n_after, rules
):
    """Record the action just applied and its trades ``fills[n_before:n_after]``.

    ``kind = -1`` marks the fills of a batch auction (no message). A cancel/reduce's
    ``order_owner`` and ``removed_qty`` are those of the resting order it hit.
    """
    flags = rules[W.X_FLAGS]
    if (flags & W.F_STOP) and rules[W._R_STOP] == W._STOP_HIT:
        # matching stopped an order at the band: pause now, reopen by auction
        rules[W._R_STOP] = W._STOP_ON
        rules[W.X_N_STOPS] += 1
        _halt_until(rules, t_ns, t_ns + rules[W.X_SL_PAUSE_NS], W.HALT_STOP_LOGIC)
        rules[W._R_HALTED] = 1
    counted = rules[W.X_N_OWNERS] > 0
    if counted and status == OK and kind >= 0:
        sender = order_owner if (kind == CANCEL or kind == REDUCE) else owner
        base = _owner_base(rules, sender, t_ns)
        if base >= 0:
            rules[base + W.OW_MESSAGES] += 1
            if (
                (flags & W.F_TAX)
                and (kind == CANCEL or kind == REDUCE)
                and order_t_ns >= 0
                and t_ns - order_t_ns < rules[W.X_CANCEL_WINDOW_NS]
            ):
                _charge(rules, base, removed_qty * rules[W.X_CANCEL_TAX_UTICKS])
    urate = rules[W.X_TRADE_TAX_URATE] if flags & W.F_TAX else 0
    for k in range(n_before, n_after):
        f = fills[k]
        record_trade(f.t_ns, f.price_tick, rules)
        if counted:
            for who in (f.buyer, f.seller):
                base = _owner_base(rules, who, f.t_ns)
                if base >= 0:
                    rules[base + W.OW_TRADES] += 1
                    if urate > 0:
                        _charge(rules, base, f.price_tick * f.qty * urate)
