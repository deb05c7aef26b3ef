"""A limit order book over integer price ticks, with price-time priority.

Model
-----
Each side keeps a dense ladder of price levels over ticks ``tick_lo .. tick_lo+n_ticks-1``;
a level holds its resting orders in arrival order as a doubly linked list threaded
through preallocated order slots (``next``/``prev`` indices), so that matching, cancel
and reduce are O(1) per order touched. An incoming buy with limit ``L`` matches the best
ask ``a`` while ``a <= L`` (a market order has no limit), oldest order first at each
level, at the resting order's price; what is left of a limit order rests at ``L``, what
is left of a market or immediate-or-cancel order is dropped. Hence after every action
``best_bid < best_ask`` (the book is never crossed) and

    resting qty before + qty added = resting qty after + qty filled + qty cancelled.

The book is data, not an agent: it sends nothing and knows nothing about traders
beyond the integer ``owner`` it copies into fills.

Two surfaces share the kernels: :class:`OrderBook` (one action at a time, for people and
tests) and :func:`process_actions` (a batch of ``ACTION_DTYPE`` records). The kernels
never allocate; when an array is too small they stop before the action and return a
``NEED_*`` code, and the Python wrapper doubles the array and resumes.

Market-rule seam
----------------
Every kernel takes ``rules`` (``int64`` array, :data:`R_HALTED`, :data:`R_BAND_LO_TICK`,
:data:`R_BAND_HI_TICK`): while ``rules[R_HALTED]`` is set, new orders are refused
(status ``HALTED``; cancels still work), limit prices outside the band are refused
(``OUTSIDE_BAND``) and no trade prints outside the band (a market order stops at the
band). With :data:`R_SLIDE` set (LULD price sliding), a sell priced below the lower band
(a buy above the upper band) is repriced to the band instead of refused, and what is
left of a market order that could not execute inside the band rests as a limit order at
the band (its side's band; an IOC's remainder is still dropped). Trading pauses, price
bands, circuit breakers and auctions are added there.

References: the design follows the array layouts of high-performance matching engines
(e.g. liquibook's price-level FIFO queues); price-time priority as on CME Globex.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from marketsim.errors import UsageError
from marketsim.market_rules import (
    F_BUMP,
    F_FBA,
    F_REOPEN,
    X_BUMP_NS,
    X_CLOSED,
    X_FBA_IOC_AT,
    X_FBA_IOC_N,
    X_FBA_NEXT_NS,
    X_FLAGS,
    X_HALT_UNTIL,
    X_LAST_TICK,
    X_N_BATCHES,
    X_N_REOPENINGS,
    X_REOPEN_PENDING,
    X_REOPEN_VOLUME,
    after_action,
    batch_due,
    batch_ioc_push,
    before_action,
    bump_cancel,
    bump_head,
    bump_pop,
    bump_push,
)
from marketsim.records import (
    ACTION_DTYPE,
    BAD_ORDER,
    BUY,
    CANCEL,
    DUPLICATE_ID,
    FILL_DTYPE,
    HALTED,
    IOC,
    LEVEL_DTYPE,
    LIMIT,
    MARKET,
    OK,
    OUTSIDE_BAND,
    REDUCE,
    REFUSED,
    SELL,
    UNKNOWN_ORDER,
)

# --- order slot fields: orders[FIELD, slot] ---------------------------------------
O_ID, O_SIDE, O_PRICE, O_QTY, O_OWNER, O_T, O_NEXT, O_PREV = range(8)
N_ORDER_FIELDS = 8

# --- level fields: levels[FIELD, side, price_tick - tick_lo] ----------------------
L_HEAD, L_TAIL, L_QTY, L_N = range(4)

# --- scalar state ------------------------------------------------------------------
#: ladder index of the best bid (-1: no bids) and best ask (n_ticks: no asks)
S_BEST_BID, S_BEST_ASK, S_FREE_HEAD, S_TICK_LO, S_N_BID, S_N_ASK, S_N_FILLS_TOTAL = range(7)
N_STATE = 8

# --- market rules (seam for issue #5) ---------------------------------------------
R_HALTED, R_BAND_LO_TICK, R_BAND_HI_TICK, R_SLIDE = range(4)
N_RULES = 8
NO_BAND_LO = np.iinfo(np.int64).min
NO_BAND_HI = np.iinfo(np.int64).max

# --- kernel return codes -------------------------------------------------------------
DONE = 0
NEED_ORDER_SLOTS = 1
NEED_ORDER_IDS = 2
NEED_FILL_SPACE = 3
NEED_PRICE_RANGE = 4


def default_rules() -> np.ndarray:
    """Rules that change nothing: not halted, no price band."""
    rules = np.zeros(N_RULES, dtype=np.int64)
    rules[R_BAND_LO_TICK] = NO_BAND_LO
    rules[R_BAND_HI_TICK] = NO_BAND_HI
    return rules


def new_book_arrays(tick_lo: int, n_ticks: int, order_capacity: int, id_capacity: int):
    """Empty book arrays ``(levels, orders, oid_slot, state)``.

    Returns
    -------
    levels : ndarray(int64, shape=(4, 2, n_ticks))
        head, tail, resting qty and order count of each level of each side.
    orders : ndarray(int64, shape=(8, order_capacity))
        order slots (fields ``O_*``); free slots are chained through ``O_NEXT``.
    oid_slot : ndarray(int64, shape=(id_capacity,))
        order id -> slot of the resting order, -1 if none.
    state : ndarray(int64, shape=(8,))
        best bid/ask ladder indices, free-list head, ``tick_lo``, order counts.
    """
    levels = np.zeros((4, 2, n_ticks), dtype=np.int64)
    levels[L_HEAD] = -1
    levels[L_TAIL] = -1
    orders = np.zeros((N_ORDER_FIELDS, order_capacity), dtype=np.int64)
    orders[O_NEXT] = np.arange(1, order_capacity + 1)
    orders[O_NEXT, -1] = -1
    orders[O_PREV] = -1
    oid_slot = np.full(id_capacity, -1, dtype=np.int64)
    state = np.zeros(N_STATE, dtype=np.int64)
    state[S_BEST_BID] = -1
    state[S_BEST_ASK] = n_ticks
    state[S_FREE_HEAD] = 0
    state[S_TICK_LO] = tick_lo
    return levels, orders, oid_slot, state


# ====================================================================================
# kernels
# ====================================================================================


@njit(cache=True, inline="always")
def _unlink(levels, orders, side, idx, slot):
    nxt = orders[O_NEXT, slot]
    prv = orders[O_PREV, slot]
    if prv == -1:
        levels[L_HEAD, side, idx] = nxt
    else:
        orders[O_NEXT, prv] = nxt
    if nxt == -1:
        levels[L_TAIL, side, idx] = prv
    else:
        orders[O_PREV, nxt] = prv
    levels[L_N, side, idx] -= 1


@njit(cache=True, inline="always")
def _free_slot(orders, oid_slot, state, slot):
    oid_slot[orders[O_ID, slot]] = -1
    orders[O_QTY, slot] = 0
    orders[O_PREV, slot] = -1
    orders[O_NEXT, slot] = state[S_FREE_HEAD]
    state[S_FREE_HEAD] = slot


@njit(cache=True)
def _refresh_best(levels, state, side, idx):
    """Move the best quote of ``side`` off the emptied level ``idx``."""
    n_ticks = levels.shape[2]
    if side == BUY:
        if state[S_BEST_BID] != idx:
            return
        if state[S_N_BID] == 0:
            state[S_BEST_BID] = -1
            return
        j = idx - 1
        while j >= 0 and levels[L_N, BUY, j] == 0:
            j -= 1
        state[S_BEST_BID] = j
    else:
        if state[S_BEST_ASK] != idx:
            return
        if state[S_N_ASK] == 0:
            state[S_BEST_ASK] = n_ticks
            return
        j = idx + 1
        while j < n_ticks and levels[L_N, SELL, j] == 0:
            j += 1
        state[S_BEST_ASK] = j


@njit(cache=True)
def _remove_order(levels, orders, oid_slot, state, slot):
    """Take a resting order out of the book (cancel); returns its remaining qty."""
    side = orders[O_SIDE, slot]
    idx = orders[O_PRICE, slot] - state[S_TICK_LO]
    qty = orders[O_QTY, slot]
    _unlink(levels, orders, side, idx, slot)
    levels[L_QTY, side, idx] -= qty
    if side == BUY:
        state[S_N_BID] -= 1
    else:
        state[S_N_ASK] -= 1
    _free_slot(orders, oid_slot, state, slot)
    if levels[L_N, side, idx] == 0:
        _refresh_best(levels, state, side, idx)
    return qty


@njit(cache=True)
def needs(kind, side, price_tick, order_id, levels, orders, oid_slot, state, fills, n_fills):
    """The ``NEED_*`` code if the arrays are too small for this action, else ``DONE``."""
    if kind == CANCEL or kind == REDUCE:
        return DONE
    # every new order may rest: IOC and market orders wait for the batch in auction mode
    if state[S_FREE_HEAD] == -1:
        return NEED_ORDER_SLOTS
    if order_id >= oid_slot.shape[0]:
        return NEED_ORDER_IDS
    # only a resting limit order must lie inside the ladder; IOC and market orders are
    # compared with absolute ticks (and clamped to the ladder while they wait for a batch)
    if kind == LIMIT:
        idx = price_tick - state[S_TICK_LO]
        if idx < 0 or idx >= levels.shape[2]:
            return NEED_PRICE_RANGE
    # a batch auction may fill every resting order once
    if fills.shape[0] - n_fills < state[S_N_ASK] + state[S_N_BID] + 1:
        return NEED_FILL_SPACE
    return DONE


@njit(cache=True)
def takes_liquidity(kind, side, price_tick, levels, state):
    """Would this incoming order execute against the book as it stands? Market and IOC
    orders always take; a limit order takes when it crosses the best opposite quote."""
    if kind == MARKET or kind == IOC:
        return True
    if kind != LIMIT:
        return False
    tick_lo = state[S_TICK_LO]
    if side == BUY:
        return state[S_N_ASK] > 0 and price_tick >= tick_lo + state[S_BEST_ASK]
    return state[S_N_BID] > 0 and price_tick <= tick_lo + state[S_BEST_BID]


@njit(cache=True)
def apply_action(
    t_ns,
    kind,
    side,
    price_tick,
    qty,
    order_id,
    owner,
    levels,
    orders,
    oid_slot,
    state,
    rules,
    fills,
    n_fills,
):
    """Apply one order action to the book; returns ``(status, n_fills)``.

    The caller has checked :func:`needs`. Fills are written to ``fills[n_fills:]``.
    A ``rules`` array longer than ``N_RULES`` (see :func:`marketsim.market_rules.rules_array`)
    also runs the market rules before and after the action; with a speed bump, waiting
    orders now due go first and a liquidity-taking order waits (status ``OK``); in
    batch-auction mode a due batch is cleared first (:func:`clear_batch`) and new orders
    rest without matching.
    """
    if rules.shape[0] <= N_RULES:
        return _match(
            t_ns,
            kind,
            side,
            price_tick,
            qty,
            order_id,
            owner,
            levels,
            orders,
            oid_slot,
            state,
            rules,
            fills,
            n_fills,
        )
    if rules[X_FLAGS] & F_BUMP:
        n_fills = _release_due(t_ns, levels, orders, oid_slot, state, rules, fills, n_fills)
        if kind == CANCEL and bump_cancel(order_id, rules):
            return OK, n_fills
        if takes_liquidity(kind, side, price_tick, levels, state):
            if bump_push(
                t_ns + rules[X_BUMP_NS], kind, side, price_tick, qty, order_id, owner, rules
            ):
                return OK, n_fills
            return REFUSED, n_fills
    return _apply_ruled(
        t_ns,
        kind,
        side,
        price_tick,
        qty,
        order_id,
        owner,
        levels,
        orders,
        oid_slot,
        state,
        rules,
        fills,
        n_fills,
    )


@njit(cache=True)
def _release_due(t_ns, levels, orders, oid_slot, state, rules, fills, n_fills):
    """Apply the speed bump's waiting orders due at or before ``t_ns``, oldest first, at
    their release times. One waits longer only while the arrays lack room for it (a
    free order slot, its id, its price on the ladder, room for its fills)."""
    n_fills, _ = _release_due_code(t_ns, levels, orders, oid_slot, state, rules, fills, n_fills)
    return n_fills


@njit(cache=True)
def _release_due_code(t_ns, levels, orders, oid_slot, state, rules, fills, n_fills):
    """:func:`_release_due`, also returning the ``NEED_*`` code it stopped on (or DONE)."""
    while True:
        b = bump_head(rules)
        if b < 0 or rules[b] > t_ns:
            return n_fills, DONE
        kind = rules[b + 1]
        if kind < 0:  # withdrawn while waiting
            bump_pop(rules)
            continue
        code = needs(
            kind,
            rules[b + 2],
            rules[b + 3],
            rules[b + 5],
            levels,
            orders,
            oid_slot,
            state,
            fills,
            n_fills,
        )
        if code != DONE:
            return n_fills, code
        release, side, price, qty, oid, owner = (
            rules[b],
            rules[b + 2],
            rules[b + 3],
            rules[b + 4],
            rules[b + 5],
            rules[b + 6],
        )
        bump_pop(rules)
        _, n_fills = _apply_ruled(
            release,
            kind,
            side,
            price,
            qty,
            oid,
            owner,
            levels,
            orders,
            oid_slot,
            state,
            rules,
            fills,
            n_fills,
        )


@njit(cache=True)
def _apply_ruled(
    t_ns,
    kind,
    side,
    price_tick,
    qty,
    order_id,
    owner,
    levels,
    orders,
    oid_slot,
    state,
    rules,
    fills,
    n_fills,
):
    """:func:`apply_action` under the rules, once past the speed bump."""
    order_t = -1
    order_owner = -1
    order_qty = 0
    if (kind == CANCEL or kind == REDUCE) and 0 <= order_id < oid_slot.shape[0]:
        if oid_slot[order_id] != -1:
            order_t = orders[O_T, oid_slot[order_id]]
            order_owner = orders[O_OWNER, oid_slot[order_id]]
            order_qty = orders[O_QTY, oid_slot[order_id]]
    tick_lo = state[S_TICK_LO]
    best_bid = tick_lo + state[S_BEST_BID] if state[S_N_BID] > 0 else NO_BAND_LO
    best_ask = tick_lo + state[S_BEST_ASK] if state[S_N_ASK] > 0 else NO_BAND_HI
    if before_action(t_ns, kind, owner, order_id, order_t, best_bid, best_ask, rules) != 0:
        return REFUSED, n_fills
    if rules[X_FLAGS] & F_REOPEN:
        if rules[X_REOPEN_PENDING] != 0 and rules[R_HALTED] == 0:
            n_fills = _reopen(levels, orders, oid_slot, state, rules, fills, n_fills)
        elif rules[R_HALTED] != 0 and rules[X_CLOSED] == 0 and kind == LIMIT:
            st = _rest_while_halted(
                t_ns, side, price_tick, qty, order_id, owner, levels, orders, oid_slot, state
            )
            after_action(t_ns, kind, owner, st, -1, -1, 0, fills, n_fills, n_fills, rules)
            return st, n_fills
    if rules[X_FLAGS] & F_FBA:
        n_fills = _batch_if_due(t_ns, levels, orders, oid_slot, state, rules, fills, n_fills)
        if kind != CANCEL and kind != REDUCE:
            st = _rest_for_batch(
                t_ns,
                kind,
                side,
                price_tick,
                qty,
                order_id,
                owner,
                levels,
                orders,
                oid_slot,
                state,
                rules,
            )
            after_action(t_ns, kind, owner, st, -1, -1, 0, fills, n_fills, n_fills, rules)
            return st, n_fills
    st, n_after = _match(
        t_ns,
        kind,
        side,
        price_tick,
        qty,
        order_id,
        owner,
        levels,
        orders,
        oid_slot,
        state,
        rules,
        fills,
        n_fills,
    )
    removed = order_qty if kind == CANCEL else min(qty, order_qty)
    after_action(
        t_ns, kind, owner, st, order_t, order_owner, removed, fills, n_fills, n_after, rules
    )
    return st, n_after


@njit(cache=True)
def _reopen(levels, orders, oid_slot, state, rules, fills, n_fills):
    """The reopening call auction at the end of a halt (the clearing of :func:`clear_batch`
    at the halt's end). Waits for the next action while ``fills`` lacks room for it."""
    if fills.shape[0] - n_fills < state[S_N_BID] + state[S_N_ASK]:
        return n_fills
    t_open = rules[X_HALT_UNTIL]
    n0 = n_fills
    n_fills, _ = clear_batch(
        t_open, rules[X_LAST_TICK], levels, orders, oid_slot, state, rules, fills, n_fills
    )
    after_action(t_open, -1, -1, OK, -1, -1, 0, fills, n0, n_fills, rules)
    rules[X_REOPEN_PENDING] = 0
    rules[X_N_REOPENINGS] += 1
    for k in range(n0, n_fills):
        rules[X_REOPEN_VOLUME] += fills[k].qty
    return n_fills


@njit(cache=True)
def _rest_while_halted(
    t_ns, side, price_tick, qty, order_id, owner, levels, orders, oid_slot, state
):
    """A limit order entered during a halt rests, unmatched, for the reopening auction."""
    if qty < 1 or order_id < 0 or (side != BUY and side != SELL):
        return BAD_ORDER
    if not 0 <= price_tick - state[S_TICK_LO] < levels.shape[2]:
        return BAD_ORDER
    if oid_slot[order_id] != -1:
        return DUPLICATE_ID
    _insert(t_ns, side, price_tick, qty, order_id, owner, levels, orders, oid_slot, state)
    return OK


@njit(cache=True)
def _batch_if_due(t_ns, levels, orders, oid_slot, state, rules, fills, n_fills):
    """Clear the batch due at or before ``t_ns`` (unless halted), then cancel what is
    left of the IOC and market orders that waited for it. A batch may fill every resting
    order: when ``fills`` has less room than that, the batch waits for the next action
    (after the caller has drained or grown ``fills``) rather than write past the end."""
    if t_ns >= rules[X_FBA_NEXT_NS] and fills.shape[0] - n_fills < state[S_N_BID] + state[S_N_ASK]:
        return n_fills
    t_batch = batch_due(t_ns, rules)
    if t_batch < 0:
        return n_fills
    if rules[R_HALTED] == 0:
        n0 = n_fills
        n_fills, _ = clear_batch(
            t_batch, rules[X_LAST_TICK], levels, orders, oid_slot, state, rules, fills, n_fills
        )
        after_action(t_batch, -1, -1, OK, -1, -1, 0, fills, n0, n_fills, rules)
        if n_fills > n0:
            rules[X_N_BATCHES] += 1
    at = rules[X_FBA_IOC_AT]
    for k in range(rules[X_FBA_IOC_N]):
        oid = rules[at + k]
        if oid_slot[oid] != -1:
            _remove_order(levels, orders, oid_slot, state, oid_slot[oid])
    rules[X_FBA_IOC_N] = 0
    return n_fills


@njit(cache=True)
def _rest_for_batch(
    t_ns, kind, side, price_tick, qty, order_id, owner, levels, orders, oid_slot, state, rules
):
    """Batch-auction mode: the order rests without matching until the next batch.
    A market order rests at the last trade price +/- 5% (a protection collar, as
    exchanges put on market orders; inside the band and the ladder), an IOC at its limit
    clamped to the ladder; both are cancelled after the batch."""
    if qty < 1 or order_id < 0 or (side != BUY and side != SELL) or kind < 0 or kind > IOC:
        return BAD_ORDER
    if rules[R_HALTED] != 0:
        return HALTED
    if kind != MARKET and (
        price_tick < rules[R_BAND_LO_TICK] or price_tick > rules[R_BAND_HI_TICK]
    ):
        return OUTSIDE_BAND
    if oid_slot[order_id] != -1:
        return DUPLICATE_ID
    lo = max(state[S_TICK_LO], rules[R_BAND_LO_TICK])
    hi = min(state[S_TICK_LO] + levels.shape[2] - 1, rules[R_BAND_HI_TICK])
    p = price_tick
    if kind == MARKET:  # a market order carries a 5% collar around the last trade
        last = rules[X_LAST_TICK]
        p = min(hi, last + last // 20) if side == BUY else max(lo, last - last // 20)
    elif kind == IOC:
        p = min(max(p, state[S_TICK_LO]), state[S_TICK_LO] + levels.shape[2] - 1)
    if kind != LIMIT and not batch_ioc_push(order_id, rules):
        return REFUSED
    _insert(t_ns, side, p, qty, order_id, owner, levels, orders, oid_slot, state)
    return OK


@njit(cache=True)
def clear_batch(t_ns, ref_tick, levels, orders, oid_slot, state, rules, fills, n_fills):
    """Uniform-price call auction over the resting book; returns ``(n_fills, price)``.

    The clearing price ``p`` (ticks; -1 when nothing crosses) maximises the executed
    volume ``V(p) = min(D(p), S(p))`` with ``D(p)`` the bid quantity at or above ``p``
    and ``S(p)`` the ask quantity at or below it; ties go to the smallest imbalance
    ``|D(p) - S(p)|``, then to the price closest to ``ref_tick`` (the last trade), then
    to the lower price. Only prices inside the band ``rules[R_BAND_*]`` are candidates.
    Every fill is at ``p``; each side is allocated ``V`` in price-time priority (better
    prices first, then older orders), so the book is not crossed afterwards. The
    later-arriving order of each pair is the fill's taker (``aggressor_side``).
    """
    if state[S_N_BID] == 0 or state[S_N_ASK] == 0:
        return n_fills, -1
    bb = state[S_BEST_BID]
    ba = state[S_BEST_ASK]
    if bb < ba:
        return n_fills, -1
    tick_lo = state[S_TICK_LO]
    d_total = 0
    for j in range(ba, bb + 1):
        d_total += levels[L_QTY, BUY, j]
    best_j = -1
    best_v = 0
    best_imb = 0
    best_dist = 0.0
    demand = d_total  # bids at or above tick j
    supply = 0  # asks at or below tick j
    for j in range(ba, bb + 1):
        if j > ba:
            demand -= levels[L_QTY, BUY, j - 1]
        supply += levels[L_QTY, SELL, j]
        p = tick_lo + j
        if p < rules[R_BAND_LO_TICK] or p > rules[R_BAND_HI_TICK]:
            continue
        v = min(demand, supply)
        imb = abs(demand - supply)
        dist = abs(p - ref_tick)
        if (
            best_j < 0
            or v > best_v
            or (v == best_v and imb < best_imb)
            or (v == best_v and imb == best_imb and dist < best_dist)
        ):
            best_j, best_v, best_imb, best_dist = j, v, imb, dist
    if best_j < 0 or best_v == 0:
        return n_fills, -1
    price = tick_lo + best_j
    left = best_v
    jb = bb
    ja = ba
    sb = levels[L_HEAD, BUY, jb]
    sa = levels[L_HEAD, SELL, ja]
    while left > 0:
        while sb == -1:
            jb -= 1
            sb = levels[L_HEAD, BUY, jb]
        while sa == -1:
            ja += 1
            sa = levels[L_HEAD, SELL, ja]
        q = min(orders[O_QTY, sb], orders[O_QTY, sa], left)
        tb, ta = orders[O_T, sb], orders[O_T, sa]
        buy_later = tb > ta or (tb == ta and orders[O_ID, sb] > orders[O_ID, sa])
        f = fills[n_fills]
        f.t_ns = t_ns
        f.price_tick = price
        f.qty = q
        f.aggressor_side = BUY if buy_later else SELL
        f.taker_order_id = orders[O_ID, sb] if buy_later else orders[O_ID, sa]
        f.maker_order_id = orders[O_ID, sa] if buy_later else orders[O_ID, sb]
        f.buyer = orders[O_OWNER, sb]
        f.seller = orders[O_OWNER, sa]
        n_fills += 1
        left -= q
        nb = orders[O_NEXT, sb]
        na = orders[O_NEXT, sa]
        if _take(levels, orders, oid_slot, state, BUY, jb, sb, q):
            sb = nb
        if _take(levels, orders, oid_slot, state, SELL, ja, sa, q):
            sa = na
    return n_fills, price


@njit(cache=True)
def _take(levels, orders, oid_slot, state, side, idx, slot, q):
    """Execute ``q`` of the resting order ``slot``; True when it is used up (removed)."""
    if q < orders[O_QTY, slot]:
        orders[O_QTY, slot] -= q
        levels[L_QTY, side, idx] -= q
        return False
    levels[L_QTY, side, idx] -= q
    _unlink(levels, orders, side, idx, slot)
    if side == BUY:
        state[S_N_BID] -= 1
    else:
        state[S_N_ASK] -= 1
    _free_slot(orders, oid_slot, state, slot)
    if levels[L_N, side, idx] == 0:
        _refresh_best(levels, state, side, idx)
    return True


@njit(cache=True)
def _match(
    t_ns,
    kind,
    side,
    price_tick,
    qty,
    order_id,
    owner,
    levels,
    orders,
    oid_slot,
    state,
    rules,
    fills,
    n_fills,
):
    """The matching of :func:`apply_action` (no market-rule bookkeeping)."""
    if kind == CANCEL or kind == REDUCE:
        if order_id < 0 or order_id >= oid_slot.shape[0]:
            return UNKNOWN_ORDER, n_fills
        slot = oid_slot[order_id]
        if slot == -1:
            return UNKNOWN_ORDER, n_fills
        if kind == REDUCE:
            if qty < 1:
                return BAD_ORDER, n_fills
            if qty < orders[O_QTY, slot]:
                orders[O_QTY, slot] -= qty
                o_side = orders[O_SIDE, slot]
                levels[L_QTY, o_side, orders[O_PRICE, slot] - state[S_TICK_LO]] -= qty
                return OK, n_fills
        _remove_order(levels, orders, oid_slot, state, slot)
        return OK, n_fills

    if qty < 1 or order_id < 0 or (side != BUY and side != SELL) or kind < 0 or kind > IOC:
        return BAD_ORDER, n_fills
    if rules[R_HALTED] != 0:
        return HALTED, n_fills
    tick_lo = state[S_TICK_LO]
    n_ticks = levels.shape[2]
    slide = rules[R_SLIDE] != 0
    if kind != MARKET and (
        price_tick < rules[R_BAND_LO_TICK] or price_tick > rules[R_BAND_HI_TICK]
    ):
        # price sliding: a sell through the lower band (a buy through the upper) is
        # repriced to the band when a limit order may rest there; otherwise refused
        if slide and side == SELL and price_tick < rules[R_BAND_LO_TICK]:
            price_tick = rules[R_BAND_LO_TICK]
        elif slide and side == BUY and price_tick > rules[R_BAND_HI_TICK]:
            price_tick = rules[R_BAND_HI_TICK]
        else:
            return OUTSIDE_BAND, n_fills
        if kind == LIMIT and not 0 <= price_tick - tick_lo < n_ticks:
            return OUTSIDE_BAND, n_fills
    if kind == LIMIT and oid_slot[order_id] != -1:
        return DUPLICATE_ID, n_fills

    other = SELL if side == BUY else BUY
    remaining = qty
    while remaining > 0:
        if side == BUY:
            idx = state[S_BEST_ASK]
            if idx >= n_ticks:
                break
            if kind != MARKET and tick_lo + idx > price_tick:
                break
            if tick_lo + idx > rules[R_BAND_HI_TICK]:
                break
        else:
            idx = state[S_BEST_BID]
            if idx < 0:
                break
            if kind != MARKET and tick_lo + idx < price_tick:
                break
            if tick_lo + idx < rules[R_BAND_LO_TICK]:
                break
        slot = levels[L_HEAD, other, idx]
        while remaining > 0 and slot != -1:
            maker_qty = orders[O_QTY, slot]
            q = maker_qty if maker_qty < remaining else remaining
            f = fills[n_fills]
            f.t_ns = t_ns
            f.price_tick = tick_lo + idx
            f.qty = q
            f.aggressor_side = side
            f.taker_order_id = order_id
            f.maker_order_id = orders[O_ID, slot]
            if side == BUY:
                f.buyer = owner
                f.seller = orders[O_OWNER, slot]
            else:
                f.buyer = orders[O_OWNER, slot]
                f.seller = owner
            n_fills += 1
            remaining -= q
            levels[L_QTY, other, idx] -= q
            if q == maker_qty:
                nxt = orders[O_NEXT, slot]
                _unlink(levels, orders, other, idx, slot)
                if other == BUY:
                    state[S_N_BID] -= 1
                else:
                    state[S_N_ASK] -= 1
                _free_slot(orders, oid_slot, state, slot)
                slot = nxt
            else:
                orders[O_QTY, slot] = maker_qty - q
        if levels[L_N, other, idx] == 0:
            _refresh_best(levels, state, other, idx)

    if remaining > 0 and kind == LIMIT:
        _insert(t_ns, side, price_tick, remaining, order_id, owner, levels, orders, oid_slot, state)
    elif remaining > 0 and kind == MARKET and slide:
        # what could not execute inside the band rests at the band (price sliding); every
        # opposite order left is beyond the band, so the book stays uncrossed
        band = rules[R_BAND_LO_TICK] if side == SELL else rules[R_BAND_HI_TICK]
        if 0 <= band - tick_lo < n_ticks and oid_slot[order_id] == -1:
            _insert(t_ns, side, band, remaining, order_id, owner, levels, orders, oid_slot, state)
    return OK, n_fills


@njit(cache=True)
def _insert(t_ns, side, price_tick, remaining, order_id, owner, levels, orders, oid_slot, state):
    """Rest an order at the back of its price level."""
    tick_lo = state[S_TICK_LO]
    idx = price_tick - tick_lo
    slot = state[S_FREE_HEAD]
    state[S_FREE_HEAD] = orders[O_NEXT, slot]
    orders[O_ID, slot] = order_id
    orders[O_SIDE, slot] = side
    orders[O_PRICE, slot] = price_tick
    orders[O_QTY, slot] = remaining
    orders[O_OWNER, slot] = owner
    orders[O_T, slot] = t_ns
    orders[O_NEXT, slot] = -1
    tail = levels[L_TAIL, side, idx]
    orders[O_PREV, slot] = tail
    if tail == -1:
        levels[L_HEAD, side, idx] = slot
    else:
        orders[O_NEXT, tail] = slot
    levels[L_TAIL, side, idx] = slot
    levels[L_QTY, side, idx] += remaining
    levels[L_N, side, idx] += 1
    oid_slot[order_id] = slot
    if side == BUY:
        state[S_N_BID] += 1
        if idx > state[S_BEST_BID]:
            state[S_BEST_BID] = idx
    else:
        state[S_N_ASK] += 1
        if idx < state[S_BEST_ASK]:
            state[S_BEST_ASK] = idx


@njit(cache=True)
def process_actions_kernel(
    actions, start, levels, orders, oid_slot, state, rules, fills, n_fills, status
):
    """Apply ``actions[start:]`` in order; returns ``(code, next_index, n_fills)``.

    ``code`` is ``DONE`` or a ``NEED_*`` code telling the caller which array to grow
    before calling again with ``start=next_index``. ``status[i]`` gets each action's
    result code (``OK``, ``UNKNOWN_ORDER``, ...).
    """
    bump = rules.shape[0] > N_RULES and (rules[X_FLAGS] & F_BUMP) != 0
    for i in range(start, actions.shape[0]):
        a = actions[i]
        if bump:  # waiting orders due first, each with room in the arrays
            n_fills, code = _release_due_code(
                a.t_ns, levels, orders, oid_slot, state, rules, fills, n_fills
            )
            if code != DONE:
                return code, i, n_fills
        code = needs(
            a.kind,
            a.side,
            a.price_tick,
            a.order_id,
            levels,
            orders,
            oid_slot,
            state,
            fills,
            n_fills,
        )
        if code != DONE:
            return code, i, n_fills
        st, n_fills = apply_action(
            a.t_ns,
            a.kind,
            a.side,
            a.price_tick,
            a.qty,
            a.order_id,
            a.owner,
            levels,
            orders,
            oid_slot,
            state,
            rules,
            fills,
            n_fills,
        )
        status[i] = st
    return DONE, actions.shape[0], n_fills


@njit(cache=True)
def book_levels(levels, state, side, n_levels, out):
    """Write the best ``n_levels`` non-empty levels of ``side`` into ``out``; returns count."""
    n_ticks = levels.shape[2]
    tick_lo = state[S_TICK_LO]
    k = 0
    if side == BUY:
        j = state[S_BEST_BID]
        while j >= 0 and k < n_levels:
            if levels[L_N, BUY, j] > 0:
                out[k].price_tick = tick_lo + j
                out[k].qty = levels[L_QTY, BUY, j]
                out[k].n_orders = levels[L_N, BUY, j]
                k += 1
            j -= 1
    else:
        j = state[S_BEST_ASK]
        while j < n_ticks and k < n_levels:
            if levels[L_N, SELL, j] > 0:
                out[k].price_tick = tick_lo + j
                out[k].qty = levels[L_QTY, SELL, j]
                out[k].n_orders = levels[L_N, SELL, j]
                k += 1
            j += 1
    return k


# ====================================================================================
# growth (Python side: the kernels never allocate)
# ====================================================================================


def grow_orders(orders: np.ndarray, state: np.ndarray) -> np.ndarray:
    """Double the order slots; new slots are chained onto the free list."""
    cap = orders.shape[1]
    new = np.zeros((N_ORDER_FIELDS, 2 * cap), dtype=np.int64)
    new[:, :cap] = orders
    new[O_PREV, cap:] = -1
    new[O_NEXT, cap:] = np.arange(cap + 1, 2 * cap + 1)
    new[O_NEXT, -1] = state[S_FREE_HEAD]
    state[S_FREE_HEAD] = cap
    return new


def grow_ids(oid_slot: np.ndarray, needed: int) -> np.ndarray:
    """Double the id -> slot map until it holds id ``needed``."""
    cap = max(oid_slot.shape[0], 1)
    while cap <= needed:
        cap *= 2
    new = np.full(cap, -1, dtype=np.int64)
    new[: oid_slot.shape[0]] = oid_slot
    return new


def grow_ladder(levels: np.ndarray, state: np.ndarray, price_tick: int) -> np.ndarray:
    """Widen the price ladder (at least doubling) so it covers ``price_tick``."""
    n_old = levels.shape[2]
    lo_old = int(state[S_TICK_LO])
    lo, hi = min(lo_old, price_tick), max(lo_old + n_old - 1, price_tick)
    n_new = max(2 * n_old, hi - lo + 1 + n_old)
    slack = n_new - (hi - lo + 1)
    lo -= slack // 2
    new = np.zeros((4, 2, n_new), dtype=np.int64)
    new[L_HEAD] = -1
    new[L_TAIL] = -1
    shift = lo_old - lo
    new[:, :, shift : shift + n_old] = levels
    state[S_TICK_LO] = lo
    state[S_BEST_BID] = state[S_BEST_BID] + shift if state[S_N_BID] > 0 else -1
    state[S_BEST_ASK] = state[S_BEST_ASK] + shift if state[S_N_ASK] > 0 else n_new
    return new


# ====================================================================================
# the Python surface
# ====================================================================================


def _side_code(side) -> int:
    if isinstance(side, str):
        s = side.lower()
        if s in ("buy", "b", "bid"):
            return BUY
        if s in ("sell", "s", "ask", "offer"):
            return SELL
    elif side in (BUY, SELL):
        return int(side)
    raise UsageError(f"side: expected 'buy' or 'sell' (or {BUY}/{SELL}), got {side!r}")


def _positive_qty(qty) -> int:
    q = int(qty)
    if q != qty or q < 1:
        raise UsageError(f"qty: expected a whole number of contracts >= 1, got {qty!r}")
    return q


class OrderBook:
    """A limit order book for people and tests; each call runs the numba kernels.

    Parameters
    ----------
    tick_size : float
        Price of one tick (only used by :meth:`to_price`; the book works in ticks).
    tick_lo, n_ticks : int
        Initial price ladder; it widens by itself when an order falls outside.
    order_capacity, id_capacity : int
        Initial sizes of the order slots and of the id map; both double when full.

    Examples
    --------
    >>> book = OrderBook(tick_size=0.25)
    >>> book.limit("sell", 101, 5).size
    0
    >>> book.market("buy", 3)["qty"].tolist()
    [3]
    >>> book.best_ask()
    101
    """

    def __init__(
        self,
        tick_size: float = 1.0,
        *,
        tick_lo: int = 0,
        n_ticks: int = 1024,
        order_capacity: int = 1024,
        id_capacity: int = 1024,
    ):
        if not tick_size > 0:
            raise UsageError(f"tick_size: must be > 0, got {tick_size!r}")
        if n_ticks < 2 or order_capacity < 1 or id_capacity < 1:
            raise UsageError("n_ticks >= 2, order_capacity >= 1 and id_capacity >= 1 required")
        self.tick_size = float(tick_size)
        self.levels, self.orders, self.oid_slot, self.state = new_book_arrays(
            int(tick_lo), int(n_ticks), int(order_capacity), int(id_capacity)
        )
        self.rules = default_rules()
        self.next_order_id = 0
        self.last_order_id: int | None = None
        self.last_status: int = OK
        self._clock_ns = 0

    # --- batch surface ---------------------------------------------------------
    def process(self, actions: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Apply a batch of ``ACTION_DTYPE`` records; returns ``(fills, status)``.

        ``fills`` is ``ndarray(FILL_DTYPE)`` in the order they happened, ``status`` is
        ``ndarray(int64)`` with one result code per action.
        """
        actions = np.asarray(actions)
        if actions.dtype != ACTION_DTYPE:
            raise UsageError("actions: expected an array of marketsim.records.ACTION_DTYPE")
        actions = np.ascontiguousarray(actions)
        n = actions.shape[0]
        status = np.zeros(n, dtype=np.int64)
        fills = np.zeros(
            max(16, int(self.state[S_N_BID] + self.state[S_N_ASK]) + 16), dtype=FILL_DTYPE
        )
        n_fills, start = 0, 0
        while True:
            code, start, n_fills = process_actions_kernel(
                actions,
                start,
                self.levels,
                self.orders,
                self.oid_slot,
                self.state,
                self.rules,
                fills,
                n_fills,
                status,
            )
            if code == DONE:
                break
            a = actions[start]
            if self.rules.shape[0] > N_RULES and self.rules[X_FLAGS] & F_BUMP:
                b = bump_head(self.rules)
                if b >= 0 and self.rules[b] <= a["t_ns"]:  # a waiting order needs room
                    a = np.array(
                        [
                            (
                                0,
                                self.rules[b + 1],
                                self.rules[b + 2],
                                self.rules[b + 3],
                                self.rules[b + 4],
                                self.rules[b + 5],
                                self.rules[b + 6],
                            )
                        ],
                        dtype=ACTION_DTYPE,
                    )[0]
            fills = self._grow(code, a, fills, n_fills)
        if n:
            self._clock_ns = max(self._clock_ns, int(actions["t_ns"].max()) + 1)
            ids = actions["order_id"][actions["kind"] <= IOC]
            if ids.size:
                self.next_order_id = max(self.next_order_id, int(ids.max()) + 1)
        return fills[:n_fills].copy(), status

    def _grow(self, code, a, fills, n_fills):
        """Grow the array a kernel asked for; returns the (maybe new) fills array."""
        if code == NEED_ORDER_SLOTS:
            self.orders = grow_orders(self.orders, self.state)
        elif code == NEED_ORDER_IDS:
            self.oid_slot = grow_ids(self.oid_slot, int(a["order_id"]))
        elif code == NEED_FILL_SPACE:
            bigger = np.zeros(
                2 * fills.shape[0] + int(self.state[S_N_BID] + self.state[S_N_ASK]) + 1,
                dtype=FILL_DTYPE,
            )
            bigger[:n_fills] = fills[:n_fills]
            fills = bigger
        elif code == NEED_PRICE_RANGE:
            self.levels = grow_ladder(self.levels, self.state, int(a["price_tick"]))
        return fills

    def auction(self, t_ns: int | None = None) -> tuple[np.ndarray, int | None]:
        """Clear the resting book in one uniform-price call auction (:func:`clear_batch`).

        Returns ``(fills, price_tick)``; ``price_tick`` is None when nothing crosses.
        The reference price for ties is the rules' last trade, else the midpoint.
        """
        t = self._clock_ns if t_ns is None else int(t_ns)
        n = int(self.state[S_N_BID] + self.state[S_N_ASK]) + 1
        fills = np.zeros(n, dtype=FILL_DTYPE)
        if self.rules.shape[0] > N_RULES:
            ref = float(self.rules[X_LAST_TICK])
        else:
            bb, ba = self.best_bid(), self.best_ask()
            ref = 0.0 if bb is None or ba is None else (bb + ba) / 2
        n_fills, price = clear_batch(
            t, ref, self.levels, self.orders, self.oid_slot, self.state, self.rules, fills, 0
        )
        if self.rules.shape[0] > N_RULES:
            after_action(t, -1, -1, OK, -1, -1, 0, fills, 0, n_fills, self.rules)
        return fills[:n_fills].copy(), (None if price < 0 else int(price))

    # --- one action at a time --------------------------------------------------
    def _one(self, kind, side, price_tick, qty, order_id, owner, t_ns):
        a = np.zeros(1, dtype=ACTION_DTYPE)
        if t_ns is None:
            t_ns = self._clock_ns
        a[0] = (int(t_ns), kind, side, int(price_tick), int(qty), int(order_id), int(owner))
        fills, status = self.process(a)
        self.last_status = int(status[0])
        return fills

    def _new_id(self, order_id):
        if order_id is None:
            order_id = self.next_order_id
        order_id = int(order_id)
        if order_id < 0:
            raise UsageError(f"order_id: must be >= 0, got {order_id}")
        self.last_order_id = order_id
        return order_id

    def limit(
        self,
        side,
        price_tick: int,
        qty: int,
        *,
        order_id: int | None = None,
        owner: int = -1,
        t_ns: int | None = None,
    ) -> np.ndarray:
        """Send a limit order; returns its fills (``FILL_DTYPE``). The rest rests.

        The order's id is ``order_id`` or the next free id; it is kept in
        :attr:`last_order_id`, the action's result code in :attr:`last_status`.
        """
        s, q = _side_code(side), _positive_qty(qty)
        oid = self._new_id(order_id)
        return self._one(LIMIT, s, price_tick, q, oid, owner, t_ns)

    def ioc(
        self,
        side,
        price_tick: int,
        qty: int,
        *,
        order_id: int | None = None,
        owner: int = -1,
        t_ns: int | None = None,
    ) -> np.ndarray:
        """Send an immediate-or-cancel order; returns its fills. Nothing rests."""
        s, q = _side_code(side), _positive_qty(qty)
        oid = self._new_id(order_id)
        return self._one(IOC, s, price_tick, q, oid, owner, t_ns)

    def market(
        self,
        side,
        qty: int,
        *,
        order_id: int | None = None,
        owner: int = -1,
        t_ns: int | None = None,
    ) -> np.ndarray:
        """Send a market order; returns its fills. What finds no counterpart is dropped."""
        s, q = _side_code(side), _positive_qty(qty)
        oid = self._new_id(order_id)
        return self._one(MARKET, s, 0, q, oid, owner, t_ns)

    def cancel(self, order_id: int) -> int:
        """Cancel a resting order; returns the quantity removed (0: no such resting order)."""
        slot = self._slot(order_id)
        qty = 0 if slot < 0 else int(self.orders[O_QTY, slot])
        self._one(CANCEL, BUY, 0, 0, order_id, -1, None)
        return qty

    def reduce(self, order_id: int, qty: int) -> int:
        """Lower a resting order by ``qty`` keeping its priority; returns the qty removed."""
        q = _positive_qty(qty)
        slot = self._slot(order_id)
        left = 0 if slot < 0 else int(self.orders[O_QTY, slot])
        self._one(REDUCE, BUY, 0, q, order_id, -1, None)
        return min(q, left)

    def _slot(self, order_id) -> int:
        order_id = int(order_id)
        if order_id < 0 or order_id >= self.oid_slot.shape[0]:
            return -1
        return int(self.oid_slot[order_id])

    # --- inspection ----------------------------------------------------------------
    def best_bid(self) -> int | None:
        """Best bid in ticks, or None when there are no bids."""
        return (
            None
            if self.state[S_N_BID] == 0
            else int(self.state[S_TICK_LO] + self.state[S_BEST_BID])
        )

    def best_ask(self) -> int | None:
        """Best ask in ticks, or None when there are no asks."""
        return (
            None
            if self.state[S_N_ASK] == 0
            else int(self.state[S_TICK_LO] + self.state[S_BEST_ASK])
        )

    def depth(self, levels: int = 5) -> tuple[np.ndarray, np.ndarray]:
        """The best ``levels`` bid and ask levels, each ``ndarray(LEVEL_DTYPE)``, best first."""
        if int(levels) < 1:
            raise UsageError(f"levels: must be >= 1, got {levels!r}")
        out = []
        for side in (BUY, SELL):
            buf = np.zeros(int(levels), dtype=LEVEL_DTYPE)
            k = book_levels(self.levels, self.state, side, int(levels), buf)
            out.append(buf[:k])
        return out[0], out[1]

    def order(self, order_id: int) -> dict | None:
        """The resting order ``order_id`` as a dict, or None if it is not resting."""
        slot = self._slot(order_id)
        if slot < 0:
            return None
        o = self.orders[:, slot]
        return {
            "order_id": int(o[O_ID]),
            "side": int(o[O_SIDE]),
            "price_tick": int(o[O_PRICE]),
            "qty": int(o[O_QTY]),
            "owner": int(o[O_OWNER]),
            "t_ns": int(o[O_T]),
        }

    def resting_orders(self) -> np.ndarray:
        """Every resting order, ``(n, 5)`` int64 rows ``(order_id, side, price_tick, qty,
        owner)`` sorted by side, then price (best first), then time priority."""
        rows = []
        tick_lo = int(self.state[S_TICK_LO])
        n_ticks = self.levels.shape[2]
        for side, order in ((BUY, range(n_ticks - 1, -1, -1)), (SELL, range(n_ticks))):
            for j in order:
                slot = self.levels[L_HEAD, side, j]
                while slot != -1:
                    o = self.orders[:, slot]
                    rows.append((o[O_ID], side, tick_lo + j, o[O_QTY], o[O_OWNER]))
                    slot = self.orders[O_NEXT, slot]
        return np.array(rows, dtype=np.int64).reshape(-1, 5)

    def resting_qty(self) -> int:
        """Total quantity resting on both sides."""
        return int(self.levels[L_QTY].sum())

    def to_price(self, price_tick):
        """Ticks to price units (``price_tick * tick_size``)."""
        return np.asarray(price_tick) * self.tick_size


def process_actions(
    actions: np.ndarray, book: OrderBook | None = None
) -> tuple[np.ndarray, np.ndarray, OrderBook]:
    """Run a batch of actions through ``book`` (a new one if None).

    Returns ``(fills, status, book)``; see :meth:`OrderBook.process`.
    """
    book = OrderBook() if book is None else book
    fills, status = book.process(actions)
    return fills, status, book


__all__ = [
    "OrderBook",
    "apply_action",
    "clear_batch",
    "default_rules",
    "needs",
    "new_book_arrays",
    "process_actions",
    "process_actions_kernel",
    "takes_liquidity",
]
