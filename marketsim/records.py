"""Record types of the limit order book: the one place where they are declared.

Every price is an ``int64`` number of ticks (``price_tick``), every quantity an ``int64``
number of contracts (``qty``) and every time an ``int64`` number of nanoseconds since
the session's midnight (``t_ns``). Units live in the names, never in comments.

An *order action* is what a trader sends (limit, market, immediate-or-cancel, cancel,
reduce); a *fill* is one match between the incoming (taker) order and one resting
(maker) order, and is also one line of the trade tape; a *price level* is the
aggregate of the resting orders at one price on one side.

Side and action codes are small integers so that kernels can branch on them cheaply.
"""

from __future__ import annotations

import numpy as np

# --- sides -------------------------------------------------------------------------
BUY = 0
SELL = 1

# --- order action kinds ---------------------------------------------------------------
LIMIT = 0  #: rest whatever does not match at or better than price_tick
MARKET = 1  #: match against the opposite side regardless of price; never rests
IOC = 2  #: immediate-or-cancel: match at or better than price_tick, drop the rest
CANCEL = 3  #: remove the resting order order_id (qty and price_tick ignored)
REDUCE = 4  #: lower the resting order order_id by qty; keeps its time priority

KIND_NAMES = ("limit", "market", "ioc", "cancel", "reduce")
SIDE_NAMES = ("buy", "sell")

# --- per-action result codes (``status`` output of the batch kernel) ----------------
OK = 0  #: done as asked (an order may also have been partly or wholly filled)
UNKNOWN_ORDER = 1  #: cancel/reduce of an order that is not resting (unknown, filled,
#: cancelled): a no-op, never an error
BAD_ORDER = 2  #: qty < 1, unknown kind or side, or a price outside the book's range
DUPLICATE_ID = 3  #: a new order reused the id of an order that is still resting
HALTED = 4  #: market rule seam: trading is halted, the order was not accepted
OUTSIDE_BAND = 5  #: market rule seam: limit price outside the price band
REFUSED = 6  #: a market rule refused the action (e.g. minimum resting time)

STATUS_NAMES = (
    "ok",
    "unknown_order",
    "bad_order",
    "duplicate_id",
    "halted",
    "outside_band",
    "refused",
)

#: One order action, as sent by a trader.
ACTION_DTYPE = np.dtype(
    [
        ("t_ns", np.int64),
        ("kind", np.int64),
        ("side", np.int64),
        ("price_tick", np.int64),
        ("qty", np.int64),
        ("order_id", np.int64),
        ("owner", np.int64),
    ]
)

#: One match of an incoming order against one resting order (a line of the tape).
FILL_DTYPE = np.dtype(
    [
        ("t_ns", np.int64),
        ("price_tick", np.int64),
        ("qty", np.int64),
        ("aggressor_side", np.int64),
        ("taker_order_id", np.int64),
        ("maker_order_id", np.int64),
        ("buyer", np.int64),
        ("seller", np.int64),
    ]
)

#: The public trade tape: a fill seen from outside (who bought from whom).
TRADE_DTYPE = np.dtype(
    [
        ("t_ns", np.int64),
        ("price_tick", np.int64),
        ("qty", np.int64),
        ("buyer", np.int64),
        ("seller", np.int64),
        ("aggressor_side", np.int64),
    ]
)

#: One price level on one side of the book.
LEVEL_DTYPE = np.dtype(
    [
        ("price_tick", np.int64),
        ("qty", np.int64),
        ("n_orders", np.int64),
    ]
)

NS_PER_SECOND = 1_000_000_000

# The trading day's clock (US equities and the E-mini's day session): times are seconds or
# nanoseconds since midnight; the regular session runs 09:30-16:00.
SESSION_OPEN_S = 9 * 3600 + 30 * 60  # 09:30
SESSION_CLOSE_S = 16 * 3600  # 16:00
SESSION_SECONDS = SESSION_CLOSE_S - SESSION_OPEN_S  # 6.5 h
OPEN_NS = SESSION_OPEN_S * NS_PER_SECOND
CLOSE_NS = SESSION_CLOSE_S * NS_PER_SECOND


def empty_actions(n: int) -> np.ndarray:
    """``n`` zeroed order actions, ``ndarray(ACTION_DTYPE, shape=(n,))``."""
    return np.zeros(n, dtype=ACTION_DTYPE)


def fills_to_trades(fills: np.ndarray) -> np.ndarray:
    """The trade tape (``TRADE_DTYPE``) of an array of fills (``FILL_DTYPE``)."""
    out = np.empty(len(fills), dtype=TRADE_DTYPE)
    for name in TRADE_DTYPE.names:
        out[name] = fills[name]
    return out


__all__ = [
    "ACTION_DTYPE",
    "BAD_ORDER",
    "BUY",
    "CANCEL",
    "DUPLICATE_ID",
    "FILL_DTYPE",
    "HALTED",
    "IOC",
    "KIND_NAMES",
    "LEVEL_DTYPE",
    "LIMIT",
    "MARKET",
    "NS_PER_SECOND",
    "OPEN_NS",
    "CLOSE_NS",
    "SESSION_OPEN_S",
    "SESSION_CLOSE_S",
    "SESSION_SECONDS",
    "OK",
    "OUTSIDE_BAND",
    "REDUCE",
    "REFUSED",
    "SELL",
    "SIDE_NAMES",
    "STATUS_NAMES",
    "TRADE_DTYPE",
    "UNKNOWN_ORDER",
    "empty_actions",
    "fills_to_trades",
]
