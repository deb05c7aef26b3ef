r"""Market rules inside the matching path: LULD bands and pauses, market-wide circuit
breakers, minimum resting time, single-stock halts, frequent batch auctions, an
order-to-trade cap and taxes on cancellations and trades.

The order book's ``rules`` array (``int64``) is the seam (:mod:`marketsim.orderbook`):
its first :data:`~marketsim.orderbook.N_RULES` words are read by the matching kernel
(halted flag, band in ticks). :func:`rules_array` appends, after them, the rules'
parameters, their state and a ring of one-second trade buckets; when ``rules`` is that
long, :func:`marketsim.orderbook.apply_action` calls :func:`before_action` and
:func:`after_action` around every action, so the rules run wherever the book runs,
inside the same numba loop. Every quantity is an integer: prices in ticks, times in
nanoseconds since midnight, fractions in parts per billion (``_PPB``).

Limit Up-Limit Down (SEC Rule 608 plan): the reference price is the arithmetic mean of
the trade prices of the previous ``reference_window_s`` (whole seconds), computed at
every action; as in the plan it replaces the reference in effect (at first the previous
close) only when it has moved ``reference_update_pct`` (1%) or more from it, and not
during a limit state (the market leaves a limit state when the quotes at the band are
executed or cancelled, not when the band moves away from them); the band is ``ref * pct``
with ``pct`` 5% (tier 1) or 10% (tier 2) above $3, 20% for $0.75-$3, and
``min($0.15, 0.75 ref)`` below $0.75,
doubled in the first ``double_open_s`` and last ``double_close_s`` of the session. The
band is ``[ceil((ref - band)/tick), floor((ref + band)/tick)]`` ticks and no trade
prints outside it. With ``reprice_to_band`` (price sliding, the default) a sell priced
below the lower band is repriced to the lower band (a buy above the upper band to the
upper band), and what is left of a market order that cannot execute inside the band
rests as a limit order at the band (an IOC's remainder is cancelled as usual); other
orders priced outside the band (a bid below the lower band, an offer above the upper)
are refused. Without it every limit order priced outside the band is refused and a
market order's remainder is dropped, so nothing ever rests at the band. The market is in the
*limit state* while the best ask sits at the lower band or the best bid at the upper
band; a limit state that lasts ``limit_state_s`` starts a ``pause_s`` trading pause at
exactly ``since + limit_state_s`` (new orders are refused; cancels are allowed).

Market-wide circuit breakers: when a trade prints at or below ``(1 - level) x previous
close`` for a level not yet fired, that level fires (once a session): levels before
the last halt trading for ``halt_s`` unless the trade is at or after
``no_halt_after_s`` (15:25); the last level closes the market for the day.

Reopening auctions (``reopening = "auction"``, the default of ``luld``, ``mwcb`` and
``halt``; the listing exchanges reopen halted and paused securities by auction): during
a halt or pause, limit orders are accepted and rest without matching (inside the
book's price range; LULD bands are not applied while halted), cancels and reduces work,
market and IOC orders are refused (``HALTED``). At the first action at or after the end
of the halt, before that action, the book is cleared at one price by
:func:`marketsim.orderbook.clear_batch` (the FBA clearing rule; time stamp = the end of
the halt; candidates inside the band then in force), and continuous trading resumes.
With ``reopening = "continuous"`` every new order is refused during a halt and the
unchanged book trades on afterwards. A market closed by the last MWCB level does not
reopen.

Minimum resting time: a cancel or reduce of an order that has rested less than
``min_rest_ms`` is refused (status ``REFUSED``).

Single-stock halt (configurable; the 2010 pilot used 10% in five minutes): a trade
``move_pct`` or more below the highest or above the lowest trade of the last
``window_s`` whole seconds (the current second included) halts trading for ``halt_s``;
the window starts afresh after the halt. Exact integer test, like MWCB.

Frequent batch auctions (Budish, Cramton & Shim 2015): new orders rest without matching
(IOC and market orders too, until the batch; a market order at the last trade price +/-
5%, a protection collar, inside the band and the ladder); at every batch time ``open + k
* interval`` the book is cleared at one price by :func:`marketsim.orderbook.clear_batch`
(maximal volume, then minimal imbalance, then nearest the last trade, then the lower
price; allocation in price-time priority). The batch due is cleared at the first action
at or after it; a batch due while the market is halted is held until the market reopens.
What is left of IOC and market orders lapses after the batch.

Order-to-trade cap: per trader, messages (new orders, cancels, reduces) and trades in
fixed windows of ``window_s``; a new order that would lift messages above
``max_ratio x max(trades, 1)`` is refused (``REFUSED``); cancels are always accepted.

Taxes: a cancel or reduce within ``cancel_window_ms`` of the order's entry costs
``cancel_tax_ticks`` per contract; every trade costs the buyer and the seller
``trade_tax_bps`` of the notional. Charges are kept per trader in micro-ticks (exact
integers) and the same amount is credited to the regulator's word, so the traders'
cash plus the regulator's is conserved. The order-to-trade cap and the taxes count
traders ``0 .. n_owners-1`` (``rules_array(n_owners=...)``).

Speed bump (IEX, 350 us): an incoming order that would take liquidity on arrival
(market, IOC, or a limit order crossing the opposite best quote) waits in a ring in
``rules`` and reaches the book at exactly ``t + delay``: it is applied at the first
action at or after its release time, before that action, with its release time as its
time stamp (and time priority). Resting orders, cancels and reduces are not delayed; a
cancel of a waiting order withdraws it. A waiting order is accepted (status ``OK``).
Orders still waiting when the session ends never reach the book.

Circuit-breaker levels (and the single-stock halt) are checked after the whole action:
a market order that sweeps through a level completes (within the LULD band, if any)
before the halt starts.

Numba caching: :func:`marketsim.orderbook.apply_action` compiles these functions into
its own cache, which numba keys on its own file (``orderbook/kernel.py``) only; after
editing this module, delete ``marketsim/orderbook/__pycache__/*.nb?`` (and the caches of
kernels that call ``apply_action``) or the old rule code keeps running.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit

from marketsim.records import CANCEL, IOC, LIMIT, OK, REDUCE, REFUSED

#: policies the order-book scenarios accept. Under ``fba`` the traders are batch-aware
#: (agents/traders.py): they read the last clearing price while the book is crossed
#: between batches, and the market makers bid in the batch for their share of stale
#: orders instead of picking them off (before, flash_crash_2010 v2, seed 0, 2,400 s,
#: fell 50% on 430 times the volume)
BOOK_RULES_IMPLEMENTED = (
    "luld",
    "mwcb",
    "min_rest",
    "halt",
    "fba",
    "speed_bump",
    "otr_cap",
    "tax",
)

N_RULES = 8  # the matching kernel's own words (marketsim.orderbook.N_RULES)
_R_HALTED, _R_BAND_LO, _R_BAND_HI, _R_SLIDE = 0, 1, 2, 3
_NO_LO = np.iinfo(np.int64).min
_NO_HI = np.iinfo(np.int64).max
_PPB = 1_000_000_000

# --- parameters and state (offsets into rules) ----------------------------------------
(
    X_FLAGS,
    X_TICK_PPB,
    X_TIER,
    X_BAND_PPB,
    X_REF_WINDOW_S,
    X_LIMIT_NS,
    X_PAUSE_NS,
    X_OPEN_NS,
    X_CLOSE_NS,
    X_DOUBLE_OPEN_NS,
    X_DOUBLE_CLOSE_NS,
    X_PREV_CLOSE_TICK,
    X_MWCB_N,
    X_MWCB_L0,
    X_MWCB_L1,
    X_MWCB_L2,
    X_MWCB_L3,
    X_MWCB_L4,
    X_MWCB_HALT_NS,
    X_MWCB_CUTOFF_NS,
    X_MIN_REST_NS,
    X_HALT_PPB,
    X_HALT_WINDOW_S,
    X_HALT_NS,
    X_HALT_RING_AT,
    X_FBA_NS,
    X_FBA_NEXT_NS,
    X_FBA_IOC_AT,
    X_FBA_IOC_CAP,
    X_FBA_IOC_N,
    X_OTR_RATIO_MILLI,
    X_OTR_WINDOW_NS,
    X_CANCEL_TAX_UTICKS,
    X_CANCEL_WINDOW_NS,
    X_TRADE_TAX_URATE,
    X_N_OWNERS,
    X_OWNERS_AT,
    X_HALT_UNTIL,
    X_CLOSED,
    X_LIMIT_SINCE,
    X_MWCB_FIRED,
    X_HALTED_NS,
    X_N_PAUSES,
    X_N_MWCB,
    X_LAST_TICK,
    X_LIMIT_NS_TOTAL,
    X_REF_MILLI,
    X_N_REFUSED,
    X_N_HALTS,
    X_N_BATCHES,
    X_BATCH_VOLUME,
    X_N_REFUSED_OTR,
    X_REGULATOR_UTICKS,
    X_BUMP_NS,
    X_BUMP_AT,
    X_BUMP_CAP,
    X_BUMP_HEAD,
    X_BUMP_N,
    X_N_DELAYED,
    X_REF_UPDATE_PPB,
    X_REOPEN_PENDING,
    X_N_REOPENINGS,
    X_REOPEN_VOLUME,
    X_RING,
) = range(N_RULES, N_RULES + 64)
#: flags
F_LULD, F_MWCB, F_MIN_REST, F_HALT, F_FBA, F_OTR, F_TAX, F_BUMP = 1, 2, 4, 8, 16, 32, 64, 128
F_REOPEN = 256  # halts and pauses end with a reopening call auction
#: the LULD ring at ``X_RING``: per slot (second stamp, sum of trade ticks, trade count);
#: the halt ring at ``rules[X_HALT_RING_AT]``: per slot (second stamp, min tick, max tick);
#: the pending batch-auction IOC ids at ``rules[X_FBA_IOC_AT]``; the owner block at
#: ``rules[X_OWNERS_AT]``: per owner (window index, messages, trades, tax in micro-ticks);
#: the speed-bump ring at ``rules[X_BUMP_AT]``: per entry (release time, kind, side,
#: price, qty, order id, owner)
OW_WINDOW, OW_MESSAGES, OW_TRADES, OW_TAX = range(4)
N_OWNER_WORDS = 4
N_BUMP_WORDS = 7
#: taxes are accounted in micro-ticks (1e-6 tick), exact integers
UTICKS_PER_TICK = 1_000_000


def find_policy(policies, name: str):
    """The policy called ``name`` in a list of policy models (anything with ``.name``), or
    None. The models themselves are :mod:`marketsim.scenarios.policies`."""
    for p in policies:
        if p.name == name:
            return p
    return None


def rules_array(
    policies,
    *,
    tick_size: float,
    prev_close_tick: int,
    open_ns: int = (9 * 3600 + 30 * 60) * 10**9,
    close_ns: int = 16 * 3600 * 10**9,
    n_owners: int = 0,
    fba_ioc_capacity: int = 4096,
    bump_capacity: int = 4096,
) -> np.ndarray:
    """The ``rules`` array for a book under these policies (``marketsim.scenarios.policies``).

    Parameters
    ----------
    policies : list of policy models; ``luld``, ``mwcb``, ``min_rest``, ``halt``, ``fba``,
        ``speed_bump``, ``otr_cap`` and ``tax`` are read
    tick_size : float, dollars per tick (LULD's price tiers are in dollars)
    prev_close_tick : int, previous close (MWCB reference and LULD's opening reference)
    n_owners : int, traders ``0 .. n_owners-1`` whose messages, trades and taxes are
        counted (the order-to-trade cap and the taxes need them; other owners are
        neither capped nor taxed)
    fba_ioc_capacity : int, IOC/market orders that may wait for one batch
    bump_capacity : int, orders that may wait in the speed bump at once (more are refused)

    Returns
    -------
    ndarray(int64); the first ``N_RULES`` words as :func:`marketsim.orderbook.default_rules`
    """
    find = find_policy
    luld, mwcb, rest = find(policies, "luld"), find(policies, "mwcb"), find(policies, "min_rest")
    halt, fba = find(policies, "halt"), find(policies, "fba")
    otr, tax, bump = find(policies, "otr_cap"), find(policies, "tax"), find(policies, "speed_bump")
    if (otr or tax) and n_owners < 1:
        from marketsim.errors import UsageError

        raise UsageError(
            "n_owners: the otr_cap and tax rules count per trader; pass "
            "n_owners >= 1 to rules_array"
        )
    window = int(math.ceil(luld.reference_window_s)) if luld else 1
    halt_window = int(math.ceil(halt.window_s)) if halt else 1
    ioc_cap = int(fba_ioc_capacity) if fba else 0
    halt_at = X_RING + 3 * window
    ioc_at = halt_at + 3 * halt_window
    bump_cap = int(bump_capacity) if bump else 0
    bump_at = ioc_at + ioc_cap
    owners_at = bump_at + N_BUMP_WORDS * bump_cap
    rules = np.zeros(owners_at + N_OWNER_WORDS * max(int(n_owners), 0), dtype=np.int64)
    rules[X_BUMP_AT], rules[X_BUMP_CAP] = bump_at, bump_cap
    rules[_R_BAND_LO], rules[_R_BAND_HI] = _NO_LO, _NO_HI
    flags = 0
    rules[X_TICK_PPB] = round(tick_size * _PPB)
    rules[X_OPEN_NS], rules[X_CLOSE_NS] = open_ns, close_ns
    rules[X_PREV_CLOSE_TICK] = prev_close_tick
    rules[X_REF_WINDOW_S] = window
    rules[X_HALT_WINDOW_S] = halt_window
    rules[X_HALT_RING_AT], rules[X_FBA_IOC_AT], rules[X_FBA_IOC_CAP] = halt_at, ioc_at, ioc_cap
    rules[X_N_OWNERS], rules[X_OWNERS_AT] = max(int(n_owners), 0), owners_at
    if luld:
        flags |= F_LULD
        rules[X_TIER] = luld.tier
        rules[X_BAND_PPB] = 0 if luld.band_pct is None else round(luld.band_pct * _PPB)
        rules[X_REF_UPDATE_PPB] = round(luld.reference_update_pct * _PPB)
        rules[X_LIMIT_NS] = round(luld.limit_state_s * 1e9)
        rules[X_PAUSE_NS] = round(luld.pause_s * 1e9)
        rules[X_DOUBLE_OPEN_NS] = round(luld.double_open_s * 1e9)
        rules[X_DOUBLE_CLOSE_NS] = round(luld.double_close_s * 1e9)
        rules[_R_SLIDE] = 1 if luld.reprice_to_band else 0
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
    if halt:
        flags |= F_HALT
        rules[X_HALT_PPB] = round(halt.move_pct * _PPB)
        rules[X_HALT_NS] = round(halt.halt_s * 1e9)
    if fba:
        flags |= F_FBA
        rules[X_FBA_NS] = max(1, round(fba.interval_ms * 1e6))
        rules[X_FBA_NEXT_NS] = open_ns + rules[X_FBA_NS]
    if bump and bump.delay_us > 0:
        flags |= F_BUMP
        rules[X_BUMP_NS] = round(bump.delay_us * 1e3)
    if otr:
        flags |= F_OTR
        rules[X_OTR_RATIO_MILLI] = round(otr.max_ratio * 1000)
        rules[X_OTR_WINDOW_NS] = max(1, round(otr.window_s * 1e9))
    if tax:
        flags |= F_TAX
        rules[X_CANCEL_TAX_UTICKS] = round(tax.cancel_tax_ticks * UTICKS_PER_TICK)
        rules[X_CANCEL_WINDOW_NS] = round(tax.cancel_window_ms * 1e6)
        # bps of the notional in micro-ticks per tick of notional: 1 bp = 100 uticks/tick
        rules[X_TRADE_TAX_URATE] = round(tax.trade_tax_bps * 100)
    if any(p is not None and p.reopening == "auction" for p in (luld, mwcb, halt)):
        flags |= F_REOPEN
    rules[X_FLAGS] = flags
    rules[X_LIMIT_SINCE] = -1
    rules[X_LAST_TICK] = prev_close_tick
    rules[X_REF_MILLI] = 1000 * prev_close_tick
    rules[X_RING:halt_at:3] = -1  # no second stamped yet
    rules[halt_at:ioc_at:3] = -1
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
def _halt_until(rules, start_ns, until_ns):
    """Extend the halt to ``until_ns``, counting the halted time once."""
    until_ns = min(until_ns, rules[X_CLOSE_NS])
    old = rules[X_HALT_UNTIL]
    if until_ns <= old:
        return
    rules[X_HALTED_NS] += until_ns - max(old, start_ns)
    rules[X_HALT_UNTIL] = until_ns
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
        _halt_until(rules, t_ns, t_ns + rules[X_HALT_NS])
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
                    _halt_until(rules, t_ns, rules[X_CLOSE_NS])
                    rules[_R_HALTED] = 1
                elif t_ns < rules[X_MWCB_CUTOFF_NS]:
                    _halt_until(rules, t_ns, t_ns + rules[X_MWCB_HALT_NS])
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


@njit(cache=True)
def batch_due(t_ns, rules):
    """The batch time ``T <= t_ns`` to clear now (-1 if none) and the next one set after
    ``t_ns``. Batches fall at ``open + k * interval``; missed empty batches are skipped."""
    nxt = rules[X_FBA_NEXT_NS]
    if t_ns < nxt:
        return -1
    step = rules[X_FBA_NS]
    last = nxt + ((t_ns - nxt) // step) * step
    rules[X_FBA_NEXT_NS] = last + step
    return last


@njit(cache=True)
def batch_ioc_push(order_id, rules):
    """Remember an IOC/market order that waits for the batch; False when the list is full."""
    n = rules[X_FBA_IOC_N]
    if n >= rules[X_FBA_IOC_CAP]:
        return False
    rules[rules[X_FBA_IOC_AT] + n] = order_id
    rules[X_FBA_IOC_N] = n + 1
    return True


@njit(cache=True)
def bump_push(release_ns, kind, side, price_tick, qty, order_id, owner, rules):
    """Queue an order in the speed bump until ``release_ns``; False when the queue is full."""
    cap = rules[X_BUMP_CAP]
    n = rules[X_BUMP_N]
    if n >= cap:
        return False
    b = rules[X_BUMP_AT] + N_BUMP_WORDS * ((rules[X_BUMP_HEAD] + n) % cap)
    rules[b] = release_ns
    rules[b + 1] = kind
    rules[b + 2] = side
    rules[b + 3] = price_tick
    rules[b + 4] = qty
    rules[b + 5] = order_id
    rules[b + 6] = owner
    rules[X_BUMP_N] = n + 1
    rules[X_N_DELAYED] += 1
    return True


@njit(cache=True)
def bump_head(rules):
    """Offset of the oldest waiting order's words, or -1 when none waits."""
    if rules[X_BUMP_N] == 0:
        return -1
    return rules[X_BUMP_AT] + N_BUMP_WORDS * rules[X_BUMP_HEAD]


@njit(cache=True)
def bump_pop(rules):
    """Drop the oldest waiting order."""
    rules[X_BUMP_HEAD] = (rules[X_BUMP_HEAD] + 1) % rules[X_BUMP_CAP]
    rules[X_BUMP_N] -= 1


@njit(cache=True)
def bump_cancel(order_id, rules):
    """Withdraw a waiting order (its kind becomes -1); True if it was waiting."""
    cap = rules[X_BUMP_CAP]
    for k in range(rules[X_BUMP_N]):
        b = rules[X_BUMP_AT] + N_BUMP_WORDS * ((rules[X_BUMP_HEAD] + k) % cap)
        if rules[b + 5] == order_id and rules[b + 1] >= 0:
            rules[b + 1] = -1
            return True
    return False


# --- the book's questions to the rules ------------------------------------------------
# The order book (marketsim.orderbook) reads its own words rules[R_*] and asks everything
# else through these calls, so that the rules' layout (X_*, F_*) stays in this module.


@njit(cache=True)
def bump_on(rules):
    """Does a speed bump delay liquidity-taking orders?"""
    return rules.shape[0] > N_RULES and (rules[X_FLAGS] & F_BUMP) != 0


@njit(cache=True)
def bump_release_ns(t_ns, rules):
    """When an order arriving at ``t_ns`` reaches the book through the speed bump."""
    return t_ns + rules[X_BUMP_NS]


@njit(cache=True)
def bump_due(t_ns, rules):
    """Offset of the oldest waiting order if it is due at or before ``t_ns``, else -1."""
    b = bump_head(rules)
    if b < 0 or rules[b] > t_ns:
        return -1
    return b


@njit(cache=True)
def bump_entry(b, rules):
    """The waiting order at offset ``b``: ``(release_ns, kind, side, price_tick, qty,
    order_id, owner)``; ``kind`` is -1 when it was withdrawn."""
    return (
        rules[b],
        rules[b + 1],
        rules[b + 2],
        rules[b + 3],
        rules[b + 4],
        rules[b + 5],
        rules[b + 6],
    )


@njit(cache=True)
def reopening_due(rules):
    """Is a reopening auction owed now (a halt with ``reopening="auction"`` has ended)?"""
    return (
        (rules[X_FLAGS] & F_REOPEN) != 0 and rules[X_REOPEN_PENDING] != 0 and rules[_R_HALTED] == 0
    )


@njit(cache=True)
def rests_while_halted(kind, rules):
    """Does this order rest unmatched for the reopening auction (a limit order during a
    halt that ends with an auction; not once the market is closed for the day)?"""
    return (
        (rules[X_FLAGS] & F_REOPEN) != 0
        and rules[_R_HALTED] != 0
        and rules[X_CLOSED] == 0
        and kind == LIMIT
    )


@njit(cache=True)
def halt_end_ns(rules):
    """When the current (or last) halt ends."""
    return rules[X_HALT_UNTIL]


@njit(cache=True)
def reopening_done(fills, n_before, n_after, rules):
    """Record the reopening auction whose trades are ``fills[n_before:n_after]``."""
    rules[X_REOPEN_PENDING] = 0
    rules[X_N_REOPENINGS] += 1
    for k in range(n_before, n_after):
        rules[X_REOPEN_VOLUME] += fills[k].qty


@njit(cache=True)
def last_trade_tick(rules):
    """The last trade price (ticks; the previous close before the first trade)."""
    return rules[X_LAST_TICK]


@njit(cache=True)
def batch_mode(rules):
    """Do new orders rest unmatched until the next batch auction?"""
    return (rules[X_FLAGS] & F_FBA) != 0


@njit(cache=True)
def batch_pending(t_ns, rules):
    """Is a batch auction due at or before ``t_ns``?"""
    return t_ns >= rules[X_FBA_NEXT_NS]


@njit(cache=True)
def batch_done(n_before, n_after, rules):
    """Count the batch whose trades are ``fills[n_before:n_after]`` (if it traded)."""
    if n_after > n_before:
        rules[X_N_BATCHES] += 1


@njit(cache=True)
def batch_ioc_count(rules):
    """How many IOC/market orders wait for the batch."""
    return rules[X_FBA_IOC_N]


@njit(cache=True)
def batch_ioc_id(k, rules):
    """The order id of the ``k``-th IOC/market order waiting for the batch."""
    return rules[rules[X_FBA_IOC_AT] + k]


@njit(cache=True)
def batch_ioc_clear(rules):
    """Forget the IOC/market orders that waited for the batch (it has been cleared)."""
    rules[X_FBA_IOC_N] = 0


def rules_report(rules: np.ndarray) -> dict:
    """The rules' counters for a run summary (times in seconds, taxes in ticks)."""
    if rules.shape[0] <= N_RULES:  # no rules: nothing halted, nothing refused
        return {
            "seconds_halted": 0.0,
            "luld_pauses": 0,
            "seconds_in_limit_state": 0.0,
            "mwcb_levels_fired": 0,
            "market_closed_by_mwcb": False,
            "actions_refused_min_rest": 0,
            "single_stock_halts": 0,
            "batches_with_trades": 0,
            "actions_refused_otr": 0,
            "tax_collected_ticks": 0.0,
            "orders_delayed": 0,
            "reopening_auctions": 0,
            "reopening_volume": 0,
        }
    return {
        "seconds_halted": int(rules[X_HALTED_NS]) / 1e9,
        "luld_pauses": int(rules[X_N_PAUSES]),
        "seconds_in_limit_state": int(rules[X_LIMIT_NS_TOTAL]) / 1e9,
        "mwcb_levels_fired": int(rules[X_N_MWCB]),
        "market_closed_by_mwcb": bool(rules[X_CLOSED]),
        "actions_refused_min_rest": int(rules[X_N_REFUSED]),
        "single_stock_halts": int(rules[X_N_HALTS]),
        "batches_with_trades": int(rules[X_N_BATCHES]),
        "actions_refused_otr": int(rules[X_N_REFUSED_OTR]),
        "tax_collected_ticks": int(rules[X_REGULATOR_UTICKS]) / UTICKS_PER_TICK,
        "orders_delayed": int(rules[X_N_DELAYED]),
        "reopening_auctions": int(rules[X_N_REOPENINGS]),
        "reopening_volume": int(rules[X_REOPEN_VOLUME]),
    }


def owner_counts(rules: np.ndarray) -> dict[str, np.ndarray]:
    """Per-owner counters: ``messages`` and ``trades`` (current OTR window) and
    ``tax_uticks`` (whole session, micro-ticks), each ``ndarray(int64, (n_owners,))``;
    ``regulator_uticks`` is their sum of taxes."""
    n = int(rules[X_N_OWNERS]) if rules.shape[0] > N_RULES else 0
    if n == 0:
        z = np.zeros(0, dtype=np.int64)
        return {"messages": z, "trades": z, "tax_uticks": z, "regulator_uticks": 0}
    at = int(rules[X_OWNERS_AT])
    block = rules[at : at + N_OWNER_WORDS * n].reshape(n, N_OWNER_WORDS)
    return {
        "messages": block[:, OW_MESSAGES].copy(),
        "trades": block[:, OW_TRADES].copy(),
        "tax_uticks": block[:, OW_TAX].copy(),
        "regulator_uticks": int(rules[X_REGULATOR_UTICKS]),
    }


__all__ = [
    "BOOK_RULES_IMPLEMENTED",
    "F_REOPEN",
    "UTICKS_PER_TICK",
    "after_action",
    "band_ticks",
    "batch_due",
    "batch_ioc_push",
    "before_action",
    "bump_cancel",
    "bump_push",
    "owner_counts",
    "record_trade",
    "reference_tick",
    "rules_array",
    "rules_report",
]
