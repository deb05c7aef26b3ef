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
the band (its side's band; an IOC's remainder is still dropped). With :data:`R_STOP` set
(stop logic) no trade prints beyond ``[R_STOP_LO_TICK, R_STOP_HI_TICK]`` either: an order
that would is stopped there, matching sets ``R_STOP = STOP_HIT`` for the rules to pause
the market, and its remainder rests for the reopening auction (a limit order at its limit,
a market order at the band). Trading pauses, price bands, circuit breakers and auctions
are added there.

Module map
----------
One job each: :mod:`~marketsim.orderbook.layout` (array layout, the :class:`Book` bundle
of the arrays every kernel takes, constants, growth),
:mod:`~marketsim.orderbook.levels` (the price levels' linked lists),
:mod:`~marketsim.orderbook.matching` (continuous matching),
:mod:`~marketsim.orderbook.auction` (call auctions: batch mode, reopening after a halt),
:mod:`~marketsim.orderbook.kernel` (one action under the market rules; the batch loop),
:mod:`~marketsim.orderbook.book` (the Python :class:`OrderBook`). Every name other
modules use is re-exported here. Numba caches each kernel keyed on its own file only:
after editing one module, delete ``marketsim/orderbook/__pycache__/*.nb?`` (and the
caches of kernels elsewhere that call these) or a stale caller keeps the old code.

References: the design follows the array layouts of high-performance matching engines
(e.g. liquibook's price-level FIFO queues); price-time priority as on CME Globex.
"""

from marketsim.orderbook import layout
from marketsim.orderbook.auction import clear_batch
from marketsim.orderbook.book import OrderBook, process_actions
from marketsim.orderbook.kernel import apply_action, needs, process_actions_kernel
from marketsim.orderbook.layout import *  # noqa: F403 (the layout's words: see layout.__all__)
from marketsim.orderbook.levels import book_levels
from marketsim.orderbook.matching import takes_liquidity

__all__ = [
    *layout.__all__,
    "OrderBook",
    "apply_action",
    "book_levels",
    "clear_batch",
    "layout",
    "needs",
    "process_actions",
    "process_actions_kernel",
    "takes_liquidity",
]
