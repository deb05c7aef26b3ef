"""Price levels as FIFO queues: doubly linked lists threaded through the order slots.

An order rests at the back of its level (:func:`_insert`); it leaves by execution
(:func:`_take`) or cancellation (:func:`_remove_order`), each O(1) per order touched,
after which the best quote moves off an emptied level (:func:`_refresh_best`).
:func:`book_levels` reads the best non-empty levels of one side. Every kernel takes the
book's arrays as one :class:`~marketsim.orderbook.layout.Book`.
"""

from __future__ import annotations

from numba import njit

from marketsim.orderbook import layout as L
from marketsim.records import BUY, SELL


@njit(cache=True, inline="always")
def _unlink(book, side, idx, slot):
    levels, orders = book.levels, book.orders
    nxt = orders[L.O_NEXT, slot]
    prv = orders[L.O_PREV, slot]
    if prv == -1:
        levels[L.L_HEAD, side, idx] = nxt
    else:
        orders[L.O_NEXT, prv] = nxt
    if nxt == -1:
        levels[L.L_TAIL, side, idx] = prv
    else:
        orders[L.O_PREV, nxt] = prv
    levels[L.L_N, side, idx] -= 1


@njit(cache=True, inline="always")
def _free_slot(book, slot):
    orders, state = book.orders, book.state
    book.oid_slot[orders[L.O_ID, slot]] = -1
    orders[L.O_QTY, slot] = 0
    orders[L.O_PREV, slot] = -1
    orders[L.O_NEXT, slot] = state[L.S_FREE_HEAD]
    state[L.S_FREE_HEAD] = slot


@njit(cache=True)
def _refresh_best(book, side, idx):
    """Move the best quote of ``side`` off the emptied level ``idx``."""
    levels, state = book.levels, book.state
    n_ticks = levels.shape[2]
    if side == BUY:
        if state[L.S_BEST_BID] != idx:
            return
        if state[L.S_N_BID] == 0:
            state[L.S_BEST_BID] = -1
            return
        j = idx - 1
        while j >= 0 and levels[L.L_N, BUY, j] == 0:
            j -= 1
        state[L.S_BEST_BID] = j
    else:
        if state[L.S_BEST_ASK] != idx:
            return
        if state[L.S_N_ASK] == 0:
            state[L.S_BEST_ASK] = n_ticks
            return
        j = idx + 1
        while j < n_ticks and levels[L.L_N, SELL, j] == 0:
            j += 1
        state[L.S_BEST_ASK] = j


@njit(cache=True, inline="always")
def _drop(book, side, idx, slot):
    """Unlink the resting order ``slot`` (its quantity already off the level), free its
    slot, and move the best quote off its level if that level is now empty."""
    _unlink(book, side, idx, slot)
    if side == BUY:
        book.state[L.S_N_BID] -= 1
    else:
        book.state[L.S_N_ASK] -= 1
    _free_slot(book, slot)
    if book.levels[L.L_N, side, idx] == 0:
        _refresh_best(book, side, idx)


@njit(cache=True)
def _remove_order(book, slot):
    """Take a resting order out of the book (cancel); returns its remaining qty."""
    orders = book.orders
    side = orders[L.O_SIDE, slot]
    idx = orders[L.O_PRICE, slot] - book.state[L.S_TICK_LO]
    qty = orders[L.O_QTY, slot]
    book.levels[L.L_QTY, side, idx] -= qty
    _drop(book, side, idx, slot)
    return qty


@njit(cache=True)
def _take(book, side, idx, slot, q):
    """Execute ``q`` of the resting order ``slot``; True when it is used up (removed)."""
    book.levels[L.L_QTY, side, idx] -= q
    if q < book.orders[L.O_QTY, slot]:
        book.orders[L.O_QTY, slot] -= q
        return False
    _drop(book, side, idx, slot)
    return True


@njit(cache=True)
def _insert(book, t_ns, side, price_tick, remaining, order_id, owner):
    """Rest an order at the back of its price level."""
    levels, orders, state = book.levels, book.orders, book.state
    idx = price_tick - state[L.S_TICK_LO]
    slot = state[L.S_FREE_HEAD]
    state[L.S_FREE_HEAD] = orders[L.O_NEXT, slot]
    orders[L.O_ID, slot] = order_id
    orders[L.O_SIDE, slot] = side
    orders[L.O_PRICE, slot] = price_tick
    orders[L.O_QTY, slot] = remaining
    orders[L.O_OWNER, slot] = owner
    orders[L.O_T, slot] = t_ns
    orders[L.O_NEXT, slot] = -1
    tail = levels[L.L_TAIL, side, idx]
    orders[L.O_PREV, slot] = tail
    if tail == -1:
        levels[L.L_HEAD, side, idx] = slot
    else:
        orders[L.O_NEXT, tail] = slot
    levels[L.L_TAIL, side, idx] = slot
    levels[L.L_QTY, side, idx] += remaining
    levels[L.L_N, side, idx] += 1
    book.oid_slot[order_id] = slot
    if side == BUY:
        state[L.S_N_BID] += 1
        if idx > state[L.S_BEST_BID]:
            state[L.S_BEST_BID] = idx
    else:
        state[L.S_N_ASK] += 1
        if idx < state[L.S_BEST_ASK]:
            state[L.S_BEST_ASK] = idx


@njit(cache=True)
def book_levels(book, side, n_levels, out):
    """Write the best ``n_levels`` non-empty levels of ``side`` into ``out``; returns count."""
    levels, state = book.levels, book.state
    tick_lo = state[L.S_TICK_LO]
    # best first: down the ladder from the best bid, up from the best ask
    if side == BUY:
        j, step, end = state[L.S_BEST_BID], -1, -1
    else:
        j, step, end = state[L.S_BEST_ASK], 1, levels.shape[2]
    k = 0
    while j != end and k < n_levels:
        if levels[L.L_N, side, j] > 0:
            out[k].price_tick = tick_lo + j
            out[k].qty = levels[L.L_QTY, side, j]
            out[k].n_orders = levels[L.L_N, side, j]
            k += 1
        j += step
    return k
