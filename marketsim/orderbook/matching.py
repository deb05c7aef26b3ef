"""Continuous matching in price-time priority (no market-rule bookkeeping).

An incoming buy with limit ``L`` matches the best ask ``a`` while ``a <= L`` (a market
order has no limit), oldest order first at each level, at the resting order's price; what
is left of a limit order rests at ``L``, what is left of a market or IOC order is dropped.
The matching kernel reads only the book's own rule words ``rules[R_*]``: halted, the price
band, and LULD price sliding (reprice to the band; a market order's remainder rests at it),
and the stop-logic band (``R_STOP``): an order that would trade beyond
``[R_STOP_LO_TICK, R_STOP_HI_TICK]`` stops at the band and sets ``R_STOP = STOP_HIT`` (the
rules then pause the market); what is left of it rests for the reopening auction (a limit
order at its limit, even through the opposite quotes; a market order at the band, as a
market order with protection does; an IOC's remainder is dropped).
"""

from __future__ import annotations

from numba import njit

from marketsim.orderbook import layout as L
from marketsim.orderbook.levels import _insert, _remove_order, _take
from marketsim.records import (
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
)


@njit(cache=True)
def takes_liquidity(kind, side, price_tick, book):
    """Would this incoming order execute against the book as it stands? Market and IOC
    orders always take; a limit order takes when it crosses the best opposite quote."""
    if kind == MARKET or kind == IOC:
        return True
    if kind != LIMIT:
        return False
    tick_lo = book.state[L.S_TICK_LO]
    if side == BUY:
        return book.state[L.S_N_ASK] > 0 and price_tick >= tick_lo + book.state[L.S_BEST_ASK]
    return book.state[L.S_N_BID] > 0 and price_tick <= tick_lo + book.state[L.S_BEST_BID]


@njit(cache=True, inline="always")
def _screen_new(kind, side, qty, order_id, rules):
    """``BAD_ORDER`` for a malformed new order, ``HALTED`` while the book is halted, else
    ``OK`` (the checks every new order passes, matched or resting for a batch)."""
    if qty < 1 or order_id < 0 or (side != BUY and side != SELL) or kind < 0 or kind > IOC:
        return BAD_ORDER
    if rules[L.R_HALTED] != 0:
        return HALTED
    return OK


@njit(cache=True)
def _match(t_ns, kind, side, price_tick, qty, order_id, owner, book, rules, fills, n_fills):
    """The matching of :func:`apply_action` (no market-rule bookkeeping)."""
    if kind == CANCEL or kind == REDUCE:
        if order_id < 0 or order_id >= book.oid_slot.shape[0]:
            return UNKNOWN_ORDER, n_fills
        slot = book.oid_slot[order_id]
        if slot == -1:
            return UNKNOWN_ORDER, n_fills
        if kind == REDUCE:
            if qty < 1:
                return BAD_ORDER, n_fills
            if qty < book.orders[L.O_QTY, slot]:
                book.orders[L.O_QTY, slot] -= qty
                o_side = book.orders[L.O_SIDE, slot]
                book.levels[
                    L.L_QTY, o_side, book.orders[L.O_PRICE, slot] - book.state[L.S_TICK_LO]
                ] -= qty
                return OK, n_fills
        _remove_order(book, slot)
        return OK, n_fills

    st = _screen_new(kind, side, qty, order_id, rules)
    if st != OK:
        return st, n_fills
    tick_lo = book.state[L.S_TICK_LO]
    n_ticks = book.levels.shape[2]
    band_lo, band_hi = rules[L.R_BAND_LO_TICK], rules[L.R_BAND_HI_TICK]
    slide = rules[L.R_SLIDE] != 0
    if kind != MARKET and (price_tick < band_lo or price_tick > band_hi):
        # price sliding: a sell through the lower band (a buy through the upper) is
        # repriced to the band when a limit order may rest there; otherwise refused
        if slide and side == SELL and price_tick < band_lo:
            price_tick = band_lo
        elif slide and side == BUY and price_tick > band_hi:
            price_tick = band_hi
        else:
            return OUTSIDE_BAND, n_fills
        if kind == LIMIT and not 0 <= price_tick - tick_lo < n_ticks:
            return OUTSIDE_BAND, n_fills
    if kind == LIMIT and book.oid_slot[order_id] != -1:
        return DUPLICATE_ID, n_fills

    other = SELL if side == BUY else BUY
    remaining = qty
    stop = rules[L.R_STOP] != L.STOP_OFF
    stopped = False
    while remaining > 0:
        if side == BUY:
            idx = book.state[L.S_BEST_ASK]
            if idx >= n_ticks:
                break
            if kind != MARKET and tick_lo + idx > price_tick:
                break
            if tick_lo + idx > band_hi:
                break
            if stop and tick_lo + idx > rules[L.R_STOP_HI_TICK]:
                stopped = True
                break
        else:
            idx = book.state[L.S_BEST_BID]
            if idx < 0:
                break
            if kind != MARKET and tick_lo + idx < price_tick:
                break
            if tick_lo + idx < band_lo:
                break
            if stop and tick_lo + idx < rules[L.R_STOP_LO_TICK]:
                stopped = True
                break
        slot = book.levels[L.L_HEAD, other, idx]
        while remaining > 0 and slot != -1:
            maker_qty = book.orders[L.O_QTY, slot]
            q = maker_qty if maker_qty < remaining else remaining
            f = fills[n_fills]
            f.t_ns = t_ns
            f.price_tick = tick_lo + idx
            f.qty = q
            f.aggressor_side = side
            f.taker_order_id = order_id
            f.maker_order_id = book.orders[L.O_ID, slot]
            if side == BUY:
                f.buyer = owner
                f.seller = book.orders[L.O_OWNER, slot]
            else:
                f.buyer = book.orders[L.O_OWNER, slot]
                f.seller = owner
            n_fills += 1
            remaining -= q
            nxt = book.orders[L.O_NEXT, slot]
            if _take(book, other, idx, slot, q):
                slot = nxt

    if stopped:
        rules[L.R_STOP] = L.STOP_HIT
    if remaining > 0 and kind == LIMIT:
        # a stopped limit order may rest through the opposite quotes: the market pauses
        # and the reopening auction uncrosses the book
        _insert(book, t_ns, side, price_tick, remaining, order_id, owner)
    elif remaining > 0 and kind == MARKET and (stopped or slide):
        # a stopped market order rests at the stop band; with price sliding, what could
        # not execute inside the band rests at the band (every opposite order left is
        # beyond it, so the book stays uncrossed)
        if stopped:
            band = rules[L.R_STOP_LO_TICK] if side == SELL else rules[L.R_STOP_HI_TICK]
        else:
            band = band_lo if side == SELL else band_hi
        if 0 <= band - tick_lo < n_ticks and book.oid_slot[order_id] == -1:
            _insert(book, t_ns, side, band, remaining, order_id, owner)
    return OK, n_fills
