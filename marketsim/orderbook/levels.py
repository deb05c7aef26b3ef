"""Price levels as FIFO queues: doubly linked lists threaded through the order slots.

An order rests at the back of its level (:func:`_insert`); it leaves by execution
(:func:`_take`) or cancellation (:func:`_remove_order`), each O(1) per order touched,
after which the best quote moves off an emptied level (:func:`_refresh_best`).
:func:`book_levels` reads the best non-empty levels of one side.
"""

from __future__ import annotations

from numba import njit

from marketsim.orderbook.layout import (
    L_HEAD,
    L_N,
    L_QTY,
    L_TAIL,
    O_ID,
    O_NEXT,
    O_OWNER,
    O_PREV,
    O_PRICE,
    O_QTY,
    O_SIDE,
    O_T,
    S_BEST_ASK,
    S_BEST_BID,
    S_FREE_HEAD,
    S_N_ASK,
    S_N_BID,
    S_TICK_LO,
)
from marketsim.records import BUY, SELL


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
