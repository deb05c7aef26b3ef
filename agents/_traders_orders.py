"""Order-book traders: how a trader's decisions reach the book and its account.

A trader sends order actions (limit, market, immediate-or-cancel, cancel) through the
matching kernel (:func:`marketsim.orderbook.apply_action`) at once, inside the event
loop, and :func:`_send` settles the fills: the buyer gains ``qty`` contracts and pays
``price_tick * qty``, the seller the reverse, so cash and contracts are conserved.

A market order that fills ``q`` contracts moves the order-flow impact ``I`` (Kyle 1985) by
``+-lambda q (1 + k m)``, ``m`` the share of market makers not quoting the side hit
(:func:`_market`); the makers quote around ``R = F exp(I)`` (:func:`_reference`). Under
frequent batch auctions (policy ``fba``) orders wait for the batch, a crossed book has
no mid (:func:`price_x2` reads the last clearing price) and makers pick off only their
share of the other traders' stale orders (:func:`_pick_off_batch`).
"""

from __future__ import annotations

import numpy as np
from numba import njit

from marketsim.agents._traders_layout import (
    A_ASK_OID,
    A_BID_OID,
    A_BOUGHT,
    A_CASH,
    A_INV,
    A_N_ACTIONS,
    A_SOLD,
    G_F,
    G_IMPACT,
    G_LAMBDA,
    G_LIQ_K,
    G_N_MM,
    I_HFT_GROSS,
    I_HFT_NET,
    I_MM_ASKING,
    I_MM_BIDDING,
    I_N_ACTIONS,
    I_N_FILLS,
    I_NEXT_OID,
    I_VOLUME,
    MARKET_MAKER,
)
from marketsim.market_rules import F_FBA, X_FLAGS, X_LAST_TICK, X_N_BATCHES
from marketsim.orderbook import (
    L_HEAD,
    L_QTY,
    N_RULES,
    O_NEXT,
    O_OWNER,
    O_QTY,
    S_BEST_ASK,
    S_BEST_BID,
    S_N_ASK,
    S_N_BID,
    S_TICK_LO,
    apply_action,
)
from marketsim.records import BUY, CANCEL, IOC, LIMIT, MARKET, OK, SELL


@njit(cache=True)
def mid_x2(bstate, n_ticks, last_mid_x2):
    """Twice the mid in ticks (an integer); the last mid when a side is empty."""
    if bstate[S_N_BID] == 0 or bstate[S_N_ASK] == 0:
        return last_mid_x2
    return 2 * bstate[S_TICK_LO] + bstate[S_BEST_BID] + bstate[S_BEST_ASK]


@njit(cache=True, inline="always")
def batch_mode(rules):
    """True when the book matches by frequent batch auctions (policy ``fba``)."""
    return rules.shape[0] > N_RULES and (rules[X_FLAGS] & F_FBA) != 0


@njit(cache=True)
def price_x2(bstate, n_ticks, last_mid_x2, rules):
    """Twice the price the traders read, in ticks: :func:`mid_x2`, except that in
    batch-auction mode a crossed or locked book (bids at or above offers wait for the
    batch) has no mid, and the last clearing price (``X_LAST_TICK``) is read instead
    (before the first batch has traded, the last price read, ``last_mid_x2``)."""
    m2 = mid_x2(bstate, n_ticks, last_mid_x2)
    if (
        batch_mode(rules)
        and bstate[S_N_BID] > 0
        and bstate[S_N_ASK] > 0
        and bstate[S_BEST_BID] >= bstate[S_BEST_ASK]
    ):
        return 2 * rules[X_LAST_TICK] if rules[X_N_BATCHES] > 0 else last_mid_x2
    return m2


@njit(cache=True)
def _send(
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
    bstate,
    rules,
    fills,
    gi,
    acct,
    is_hft,
):
    """Send one action through the matching kernel and settle its fills."""
    n0 = gi[I_N_FILLS]
    st, n1 = apply_action(
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
        bstate,
        rules,
        fills,
        n0,
    )
    gi[I_N_FILLS] = n1
    gi[I_N_ACTIONS] += 1
    acct[owner, A_N_ACTIONS] += 1
    for k in range(n0, n1):
        f = fills[k]
        value = f.price_tick * f.qty
        acct[f.buyer, A_INV] += f.qty
        acct[f.buyer, A_CASH] -= value
        acct[f.buyer, A_BOUGHT] += f.qty
        acct[f.seller, A_INV] -= f.qty
        acct[f.seller, A_CASH] += value
        acct[f.seller, A_SOLD] += f.qty
        gi[I_VOLUME] += f.qty
        if is_hft[f.buyer]:
            gi[I_HFT_GROSS] += f.qty
            gi[I_HFT_NET] += f.qty
        if is_hft[f.seller]:
            gi[I_HFT_GROSS] += f.qty
            gi[I_HFT_NET] -= f.qty
    return st


@njit(cache=True)
def _cancel_own(i, t_ns, levels, orders, oid_slot, bstate, rules, fills, gi, acct, is_hft):
    for col in (A_BID_OID, A_ASK_OID):
        oid = acct[i, col]
        if oid >= 0:
            _send(
                t_ns,
                CANCEL,
                BUY,
                0,
                0,
                oid,
                i,
                levels,
                orders,
                oid_slot,
                bstate,
                rules,
                fills,
                gi,
                acct,
                is_hft,
            )
            acct[i, col] = -1


@njit(cache=True)
def _rest(
    i, t_ns, side, price_tick, qty, levels, orders, oid_slot, bstate, rules, fills, gi, acct, is_hft
):
    """A limit order, clipped into the book's price range; remembers its id."""
    lo = bstate[S_TICK_LO] + 1
    hi = bstate[S_TICK_LO] + levels.shape[2] - 2
    p = min(max(price_tick, lo), hi)
    oid = gi[I_NEXT_OID]
    gi[I_NEXT_OID] += 1
    _send(
        t_ns,
        LIMIT,
        side,
        p,
        qty,
        oid,
        i,
        levels,
        orders,
        oid_slot,
        bstate,
        rules,
        fills,
        gi,
        acct,
        is_hft,
    )
    acct[i, A_BID_OID if side == BUY else A_ASK_OID] = oid


@njit(cache=True)
def _market(
    i, t_ns, side, qty, levels, orders, oid_slot, bstate, rules, fills, g, gi, acct, is_hft
):
    """A market order; what it fills moves the market makers' reference price (Kyle).

    The impact per contract is ``lambda (1 + k m)`` with ``m`` the share of market makers
    not quoting the side that was hit: liquidity that has withdrawn makes flow costlier.
    In batch-auction mode the order only rests until the next batch, and the fills this
    call settles are those of a batch of earlier orders: the impact is that of the
    order's own quantity, booked when it is accepted (the order flow the batch will see).
    """
    oid = gi[I_NEXT_OID]
    gi[I_NEXT_OID] += 1
    v0 = gi[I_VOLUME]
    st = _send(
        t_ns,
        MARKET,
        side,
        0,
        qty,
        oid,
        i,
        levels,
        orders,
        oid_slot,
        bstate,
        rules,
        fills,
        gi,
        acct,
        is_hft,
    )
    filled = gi[I_VOLUME] - v0
    if batch_mode(rules):
        filled = qty if st == OK else 0
    n_mm = g[G_N_MM]
    if filled > 0:
        quoting = gi[I_MM_BIDDING] if side == SELL else gi[I_MM_ASKING]
        missing = 1.0 - quoting / n_mm if n_mm > 0 else 0.0
        move = g[G_LAMBDA] * filled * (1.0 + g[G_LIQ_K] * missing)
        g[G_IMPACT] += move if side == BUY else -move


@njit(cache=True)
def _crossing_qty(levels, bstate, side, price_tick):
    """Resting quantity on ``side`` at prices a quote at ``price_tick`` would cross."""
    lo = bstate[S_TICK_LO]
    q = 0
    if side == SELL:
        if bstate[S_N_ASK] == 0:
            return 0
        j = bstate[S_BEST_ASK]
        while j < levels.shape[2] and lo + j <= price_tick:
            q += levels[L_QTY, SELL, j]
            j += 1
    else:
        if bstate[S_N_BID] == 0:
            return 0
        j = bstate[S_BEST_BID]
        while j >= 0 and lo + j >= price_tick:
            q += levels[L_QTY, BUY, j]
            j -= 1
    return q


@njit(cache=True)
def _pick_off(
    i, t_ns, side, price_tick, levels, orders, oid_slot, bstate, rules, fills, gi, acct, is_hft
):
    """An immediate-or-cancel order for everything resting at or better than ``price_tick``."""
    q = _crossing_qty(levels, bstate, SELL if side == BUY else BUY, price_tick)
    _ioc(
        i,
        t_ns,
        side,
        price_tick,
        q,
        levels,
        orders,
        oid_slot,
        bstate,
        rules,
        fills,
        gi,
        acct,
        is_hft,
    )


@njit(cache=True)
def _ioc(
    i, t_ns, side, price_tick, q, levels, orders, oid_slot, bstate, rules, fills, gi, acct, is_hft
):
    """Send an immediate-or-cancel order of ``q`` (nothing when ``q < 1``) with a new id."""
    if q > 0:
        oid = gi[I_NEXT_OID]
        gi[I_NEXT_OID] += 1
        _send(
            t_ns,
            IOC,
            side,
            price_tick,
            q,
            oid,
            i,
            levels,
            orders,
            oid_slot,
            bstate,
            rules,
            fills,
            gi,
            acct,
            is_hft,
        )


@njit(cache=True)
def _stale_qty(levels, orders, bstate, side, price_tick, kind):
    """:func:`_crossing_qty` without the market makers' own orders: what a maker can
    pick off in a batch (the other makers' old quotes are cancelled before it)."""
    lo = bstate[S_TICK_LO]
    n_ticks = levels.shape[2]
    q = 0
    if side == SELL:
        if bstate[S_N_ASK] == 0:
            return 0
        j = bstate[S_BEST_ASK]
        step = 1
    else:
        if bstate[S_N_BID] == 0:
            return 0
        j = bstate[S_BEST_BID]
        step = -1
    while 0 <= j < n_ticks and (lo + j <= price_tick if side == SELL else lo + j >= price_tick):
        if levels[L_QTY, side, j] > 0:
            slot = levels[L_HEAD, side, j]
            while slot != -1:
                if kind[orders[O_OWNER, slot]] != MARKET_MAKER:
                    q += orders[O_QTY, slot]
                slot = orders[O_NEXT, slot]
        j += step
    return q


@njit(cache=True)
def _pick_off_batch(
    i,
    t_ns,
    side,
    price_tick,
    levels,
    orders,
    oid_slot,
    bstate,
    rules,
    fills,
    g,
    gi,
    acct,
    kind,
    is_hft,
):
    """Batch-auction mode: an IOC that waits for the batch, for this maker's share
    (``1 / n_mm``) of the other traders' orders at or better than ``price_tick``. Sized
    like :func:`_pick_off` it would count the other makers' waiting IOCs and
    quotes too, and the makers' orders would grow on each other every second."""
    stale = _stale_qty(levels, orders, bstate, SELL if side == BUY else BUY, price_tick, kind)
    n_mm = max(g[G_N_MM], 1.0)
    q = np.int64(np.ceil(stale / n_mm))
    _ioc(
        i,
        t_ns,
        side,
        price_tick,
        q,
        levels,
        orders,
        oid_slot,
        bstate,
        rules,
        fills,
        gi,
        acct,
        is_hft,
    )


@njit(cache=True, inline="always")
def _reference(g):
    """The market makers' reference price in ticks: fundamental x order-flow impact."""
    return g[G_F] * np.exp(g[G_IMPACT])
