"""Uniform-price call auctions over the resting book.

:func:`clear_batch` clears the book at the single price of maximal volume (then minimal
imbalance, then nearest the reference, then lower), allocated in price-time priority. Two
market rules use it: frequent batch auctions (Budish, Cramton & Shim 2015), where new
orders rest unmatched until the batch and IOC/market remainders lapse after it, and the
reopening auction at the end of a halt, when limit orders entered during the halt rest
unmatched and are cleared at one price before trading resumes.
"""

from __future__ import annotations

from numba import njit

from marketsim import market_rules as MR
from marketsim.orderbook import layout as L
from marketsim.orderbook.levels import _insert, _remove_order, _take
from marketsim.orderbook.matching import _screen_new
from marketsim.records import (
    BAD_ORDER,
    BUY,
    DUPLICATE_ID,
    IOC,
    LIMIT,
    MARKET,
    OK,
    OUTSIDE_BAND,
    REFUSED,
    SELL,
)


@njit(cache=True)
def clear_batch(t_ns, ref_tick, book, rules, fills, n_fills):
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
    levels, orders, state = book.levels, book.orders, book.state
    if state[L.S_N_BID] == 0 or state[L.S_N_ASK] == 0:
        return n_fills, -1
    bb = state[L.S_BEST_BID]
    ba = state[L.S_BEST_ASK]
    if bb < ba:
        return n_fills, -1
    tick_lo = state[L.S_TICK_LO]
    d_total = 0
    for j in range(ba, bb + 1):
        d_total += levels[L.L_QTY, BUY, j]
    best_j = -1
    best_v = 0
    best_imb = 0
    best_dist = 0.0
    demand = d_total  # bids at or above tick j
    supply = 0  # asks at or below tick j
    for j in range(ba, bb + 1):
        if j > ba:
            demand -= levels[L.L_QTY, BUY, j - 1]
        supply += levels[L.L_QTY, SELL, j]
        p = tick_lo + j
        if p < rules[L.R_BAND_LO_TICK] or p > rules[L.R_BAND_HI_TICK]:
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
    sb = levels[L.L_HEAD, BUY, jb]
    sa = levels[L.L_HEAD, SELL, ja]
    while left > 0:
        while sb == -1:
            jb -= 1
            sb = levels[L.L_HEAD, BUY, jb]
        while sa == -1:
            ja += 1
            sa = levels[L.L_HEAD, SELL, ja]
        q = min(orders[L.O_QTY, sb], orders[L.O_QTY, sa], left)
        tb, ta = orders[L.O_T, sb], orders[L.O_T, sa]
        buy_later = tb > ta or (tb == ta and orders[L.O_ID, sb] > orders[L.O_ID, sa])
        f = fills[n_fills]
        f.t_ns = t_ns
        f.price_tick = price
        f.qty = q
        f.aggressor_side = BUY if buy_later else SELL
        f.taker_order_id = orders[L.O_ID, sb] if buy_later else orders[L.O_ID, sa]
        f.maker_order_id = orders[L.O_ID, sa] if buy_later else orders[L.O_ID, sb]
        f.buyer = orders[L.O_OWNER, sb]
        f.seller = orders[L.O_OWNER, sa]
        n_fills += 1
        left -= q
        nb = orders[L.O_NEXT, sb]
        na = orders[L.O_NEXT, sa]
        if _take(book, BUY, jb, sb, q):
            sb = nb
        if _take(book, SELL, ja, sa, q):
            sa = na
    return n_fills, price


@njit(cache=True)
def _reopen(book, rules, fills, n_fills):
    """The reopening call auction at the end of a halt (the clearing of :func:`clear_batch`
    at the halt's end). Waits for the next action while ``fills`` lacks room for it."""
    if fills.shape[0] - n_fills < book.state[L.S_N_BID] + book.state[L.S_N_ASK]:
        return n_fills
    t_open = MR.halt_end_ns(rules)
    n0 = n_fills
    n_fills, _ = clear_batch(t_open, MR.last_trade_tick(rules), book, rules, fills, n_fills)
    MR.after_action(t_open, -1, -1, OK, -1, -1, 0, fills, n0, n_fills, rules)
    MR.reopening_done(fills, n0, n_fills, rules)
    return n_fills


@njit(cache=True)
def _rest_while_halted(t_ns, side, price_tick, qty, order_id, owner, book):
    """A limit order entered during a halt rests, unmatched, for the reopening auction."""
    if qty < 1 or order_id < 0 or (side != BUY and side != SELL):
        return BAD_ORDER
    if not 0 <= price_tick - book.state[L.S_TICK_LO] < book.levels.shape[2]:
        return BAD_ORDER
    if book.oid_slot[order_id] != -1:
        return DUPLICATE_ID
    _insert(book, t_ns, side, price_tick, qty, order_id, owner)
    return OK


@njit(cache=True)
def _batch_if_due(t_ns, book, rules, fills, n_fills):
    """Clear the batch due at or before ``t_ns`` (unless halted), then cancel what is
    left of the IOC and market orders that waited for it. A batch may fill every resting
    order: when ``fills`` has less room than that, the batch waits for the next action
    (after the caller has drained or grown ``fills``) rather than write past the end."""
    room = fills.shape[0] - n_fills
    if MR.batch_pending(t_ns, rules) and room < book.state[L.S_N_BID] + book.state[L.S_N_ASK]:
        return n_fills
    t_batch = MR.batch_due(t_ns, rules)
    if t_batch < 0:
        return n_fills
    if rules[L.R_HALTED] == 0:
        n0 = n_fills
        n_fills, _ = clear_batch(t_batch, MR.last_trade_tick(rules), book, rules, fills, n_fills)
        MR.after_action(t_batch, -1, -1, OK, -1, -1, 0, fills, n0, n_fills, rules)
        MR.batch_done(n0, n_fills, rules)
    for k in range(MR.batch_ioc_count(rules)):
        oid = MR.batch_ioc_id(k, rules)
        if book.oid_slot[oid] != -1:
            _remove_order(book, book.oid_slot[oid])
    MR.batch_ioc_clear(rules)
    return n_fills


@njit(cache=True)
def _rest_for_batch(t_ns, kind, side, price_tick, qty, order_id, owner, book, rules):
    """Batch-auction mode: the order rests without matching until the next batch.
    A market order rests at the last trade price +/- 5% (a protection collar, as
    exchanges put on market orders; inside the band and the ladder), an IOC at its limit
    clamped to the ladder; both are cancelled after the batch."""
    st = _screen_new(kind, side, qty, order_id, rules)
    if st != OK:
        return st
    if kind != MARKET and (
        price_tick < rules[L.R_BAND_LO_TICK] or price_tick > rules[L.R_BAND_HI_TICK]
    ):
        return OUTSIDE_BAND
    if book.oid_slot[order_id] != -1:
        return DUPLICATE_ID
    ladder_lo = book.state[L.S_TICK_LO]
    ladder_hi = ladder_lo + book.levels.shape[2] - 1
    lo = max(ladder_lo, rules[L.R_BAND_LO_TICK])
    hi = min(ladder_hi, rules[L.R_BAND_HI_TICK])
    p = price_tick
    if kind == MARKET:  # a market order carries a 5% collar around the last trade
        last = MR.last_trade_tick(rules)
        p = min(hi, last + last // 20) if side == BUY else max(lo, last - last // 20)
    elif kind == IOC:
        p = min(max(p, ladder_lo), ladder_hi)
    if kind != LIMIT and not MR.batch_ioc_push(order_id, rules):
        return REFUSED
    _insert(book, t_ns, side, p, qty, order_id, owner)
    return OK
