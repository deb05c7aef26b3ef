"""The book's arrays: where each word lives, the bundle they travel in, how they grow.

The four arrays of one book travel together as a :class:`Book` (a namedtuple; numba
passes it to ``@njit`` kernels as it passes a tuple of arrays, and caches them alike):
``book.orders[O_*, slot]`` holds the order slots (free slots chained through ``O_NEXT``),
``book.levels[L_*, side, price_tick - tick_lo]`` the price ladder of each side,
``book.oid_slot[order_id]`` the slot of each resting order, and ``book.state[S_*]`` the
best quotes, the free-list head, ``tick_lo`` and the order counts. ``rules[R_*]`` holds
the matching kernel's own rule words (halted flag, band, price sliding). The kernels
return ``DONE`` or a ``NEED_*`` code; they never allocate, so the growth functions here
(Python) double an array when a kernel asks for it, and the caller makes a new
:class:`Book` around it.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np


class Book(NamedTuple):
    """The arrays of one order book (see :func:`new_book_arrays` for shapes and dtypes)."""

    levels: np.ndarray
    orders: np.ndarray
    oid_slot: np.ndarray
    state: np.ndarray


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
#: stop logic: R_STOP is 0 (off), 1 (on: no trade beyond [R_STOP_LO_TICK, R_STOP_HI_TICK])
#: or 2 (matching stopped an order at that band: the rules pause the market)
R_STOP, R_STOP_LO_TICK, R_STOP_HI_TICK = range(4, 7)
STOP_OFF, STOP_ON, STOP_HIT = 0, 1, 2
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
    rules[R_STOP_LO_TICK] = NO_BAND_LO
    rules[R_STOP_HI_TICK] = NO_BAND_HI
    return rules


def new_book_arrays(tick_lo: int, n_ticks: int, order_capacity: int, id_capacity: int) -> Book:
    """An empty :class:`Book` ``(levels, orders, oid_slot, state)``.

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
    return Book(levels, orders, oid_slot, state)


# --- growth (Python side: the kernels never allocate) ----------------------------


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


#: what ``from marketsim.orderbook.layout import *`` (and so :mod:`marketsim.orderbook`)
#: exports: the :class:`Book`, every upper-case word and code above, the functions
__all__ = [
    "Book",
    *(name for name in list(globals()) if name.isupper()),
    "default_rules",
    "grow_ids",
    "grow_ladder",
    "grow_orders",
    "new_book_arrays",
]
