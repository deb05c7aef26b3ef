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
    nxt = book.orders[L.O_NEXT, slot]
    prv = book.orders[L.O_PREV, slot]
    if prv == -1:
        book.levels[L.L_HEAD, side, idx] = nxt
    else:
        book.orders[L.O_NEXT, prv] = nxt
    if nxt == -1:
        book.levels[L.L_TAIL, side, idx] = prv
    else:
        book.orders[L.O_PREV, nxt] = prv
    book.levels[L.L_N, side, idx] -= 1


@njit(cache=True, inline="always")
def _free_slot(book, slot):
    book.oid_slot[book.orders[L.O_ID, slot]] = -1
    book.orders[L.O_QTY, slot] = 0
    book.orders[L.O_PREV, slot] = -1
    book.orders[L.O_NEXT, slot] = book.state[L.S_FREE_HEAD]
    book.state[L.S_FREE_HEAD] = slot


@njit(cache=True, inline="always")
def _refresh_best(book, side, idx):
    """Move the best quote of ``side`` off the emptied level ``idx``."""
    n_ticks = book.levels.shape[2]
    if side == BUY:
        if book.state[L.S_BEST_BID] != idx:
            return
        if book.state[L.S_N_BID] == 0:
            book.state[L.S_BEST_BID] = -1
            return
        j = idx - 1
        while j >= 0 and book.levels[L.L_N, BUY, j] == 0:
            j -= 1
        book.state[L.S_BEST_BID] = j
    else:
        if book.state[L.S_BEST_ASK] != idx:
            return
        if book.state[L.S_N_ASK] == 0:
            book.state[L.S_BEST_ASK] = n_ticks
            return
        j = idx + 1
        while j < n_ticks and book.levels[L.L_N, SELL, j] == 0:
            j += 1
        book.state[L.S_BEST_ASK] = j


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


@njit(cache=True, inline="always")
def _remove_order(book, slot):
    """Take a resting order out of the book (cancel); returns its remaining qty."""
    side = book.orders[L.O_SIDE, slot]
    idx = book.orders[L.O_PRICE, slot] - book.state[L.S_TICK_LO]
    qty = book.orders[L.O_QTY, slot]
    book.levels[L.L_QTY, side, idx] -= qty
    _drop(book, side, idx, slot)
    return qty


@njit(cache=True, inline="always")
def _take(book, side, idx, slot, q):
    """Execute ``q`` of the resting order ``slot``; True when it is used up (removed)."""
    book.levels[L.L_QTY, side, idx] -= q
    if q < book.orders[L.O_QTY, slot]:
        book.orders[L.O_QTY, slot] -= q
        return False
    _drop(book, side, idx, slot)
    return True


@njit(cache=True, inline="always")
def _insert(book, t_ns, side, price_tick, remaining, order_id, owner):
    """Rest an order at the back of its price level."""
    idx = price_tick - book.state[L.S_TICK_LO]
    slot = book.state[L.S_FREE_HEAD]
    book.state[L.S_FREE_HEAD] = book.orders[L.O_NEXT, slot]
    book.orders[L.O_ID, slot] = order_id
    book.orders[L.O_SIDE, slot] = side
    book.orders[L.O_PRICE, slot] = price_tick
    book.orders[L.O_QTY, slot] = remaining
    book.orders[L.O_OWNER, slot] = owner
    book.orders[L.O_T, slot] = t_ns
    book.orders[L.O_NEXT, slot] = -1
    tail = book.levels[L.L_TAIL, side, idx]
    book.orders[L.O_PREV, slot] = tail
    if tail == -1:
        book.levels[L.L_HEAD, side, idx] = slot
    else:
        book.orders[L.O_NEXT, tail] = slot
    book.levels[L.L_TAIL, side, idx] = slot
    book.levels[L.L_QTY, side, idx] += remaining
    book.levels[L.L_N, side, idx] += 1
    book.oid_slot[order_id] = slot
    if side == BUY:
        book.state[L.S_N_BID] += 1
        if idx > book.state[L.S_BEST_BID]:
            book.state[L.S_BEST_BID] = idx
    else:
        book.state[L.S_N_ASK] += 1
        if idx < book.state[L.S_BEST_ASK]:
            book.state[L.S_BEST_ASK] = idx


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
