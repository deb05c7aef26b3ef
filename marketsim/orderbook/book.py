"""The Python surface of the book: :class:`OrderBook` and :func:`process_actions`.

The class validates and converts its arguments, calls the kernels, and grows the arrays
when a kernel stops with a ``NEED_*`` code; it is the book for people and tests, one
action (or one batch of ``ACTION_DTYPE`` records) at a time.
"""

from __future__ import annotations

import numpy as np

from marketsim import market_rules as MR
from marketsim.errors import UsageError
from marketsim.orderbook import layout as L
from marketsim.orderbook.auction import clear_batch
from marketsim.orderbook.kernel import process_actions_kernel
from marketsim.orderbook.levels import book_levels
from marketsim.records import (
    ACTION_DTYPE,
    BUY,
    CANCEL,
    FILL_DTYPE,
    IOC,
    LEVEL_DTYPE,
    LIMIT,
    MARKET,
    OK,
    REDUCE,
    SELL,
)


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
        self.book = L.new_book_arrays(
            int(tick_lo), int(n_ticks), int(order_capacity), int(id_capacity)
        )
        self.rules = L.default_rules()
        self.next_order_id = 0
        self.last_order_id: int | None = None
        self.last_status: int = OK
        self._clock_ns = 0

    # the book's arrays (a kernel may replace one when it grows: read them afresh)
    @property
    def levels(self) -> np.ndarray:
        return self.book.levels

    @property
    def orders(self) -> np.ndarray:
        return self.book.orders

    @property
    def oid_slot(self) -> np.ndarray:
        return self.book.oid_slot

    @property
    def state(self) -> np.ndarray:
        return self.book.state

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
            max(16, int(self.state[L.S_N_BID] + self.state[L.S_N_ASK]) + 16), dtype=FILL_DTYPE
        )
        n_fills, start = 0, 0
        while True:
            code, start, n_fills = process_actions_kernel(
                actions, start, self.book, self.rules, fills, n_fills, status
            )
            if code == L.DONE:
                break
            a = actions[start]
            if MR.bump_on(self.rules):
                b = MR.bump_due(int(a["t_ns"]), self.rules)
                if b >= 0:  # a waiting order needs room
                    _, *waiting = MR.bump_entry(b, self.rules)
                    a = np.array([(0, *waiting)], dtype=ACTION_DTYPE)[0]
            fills = self._grow(code, a, fills, n_fills)
        if n:
            self._clock_ns = max(self._clock_ns, int(actions["t_ns"].max()) + 1)
            ids = actions["order_id"][actions["kind"] <= IOC]
            if ids.size:
                self.next_order_id = max(self.next_order_id, int(ids.max()) + 1)
        return fills[:n_fills].copy(), status

    def _grow(self, code, a, fills, n_fills):
        """Grow the array a kernel asked for; returns the (maybe new) fills array."""
        if code == L.NEED_ORDER_SLOTS:
            self.book = self.book._replace(orders=L.grow_orders(self.orders, self.state))
        elif code == L.NEED_ORDER_IDS:
            self.book = self.book._replace(oid_slot=L.grow_ids(self.oid_slot, int(a["order_id"])))
        elif code == L.NEED_FILL_SPACE:
            bigger = np.zeros(
                2 * fills.shape[0] + int(self.state[L.S_N_BID] + self.state[L.S_N_ASK]) + 1,
                dtype=FILL_DTYPE,
            )
            bigger[:n_fills] = fills[:n_fills]
            fills = bigger
        elif code == L.NEED_PRICE_RANGE:
            levels = L.grow_ladder(self.levels, self.state, int(a["price_tick"]))
            self.book = self.book._replace(levels=levels)
        return fills

    def auction(self, t_ns: int | None = None) -> tuple[np.ndarray, int | None]:
        """Clear the resting book in one uniform-price call auction (:func:`clear_batch`).

        Returns ``(fills, price_tick)``; ``price_tick`` is None when nothing crosses.
        The reference price for ties is the rules' last trade, else the midpoint.
        """
        t = self._clock_ns if t_ns is None else int(t_ns)
        n = int(self.state[L.S_N_BID] + self.state[L.S_N_ASK]) + 1
        fills = np.zeros(n, dtype=FILL_DTYPE)
        if self.rules.shape[0] > L.N_RULES:
            ref = float(MR.last_trade_tick(self.rules))
        else:
            bb, ba = self.best_bid(), self.best_ask()
            ref = 0.0 if bb is None or ba is None else (bb + ba) / 2
        n_fills, price = clear_batch(t, ref, self.book, self.rules, fills, 0)
        if self.rules.shape[0] > L.N_RULES:
            MR.after_action(t, -1, -1, OK, -1, -1, 0, fills, 0, n_fills, self.rules)
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

    def _new_order(self, kind, side, price_tick, qty, order_id, owner, t_ns):
        """Check and send a new order under ``order_id`` or the next free id; its fills."""
        s, q = _side_code(side), _positive_qty(qty)
        order_id = self.next_order_id if order_id is None else int(order_id)
        if order_id < 0:
            raise UsageError(f"order_id: must be >= 0, got {order_id}")
        self.last_order_id = order_id
        return self._one(kind, s, price_tick, q, order_id, owner, t_ns)

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
        return self._new_order(LIMIT, side, price_tick, qty, order_id, owner, t_ns)

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
        return self._new_order(IOC, side, price_tick, qty, order_id, owner, t_ns)

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
        return self._new_order(MARKET, side, 0, qty, order_id, owner, t_ns)

    def cancel(self, order_id: int) -> int:
        """Cancel a resting order; returns the quantity removed (0: no such resting order)."""
        slot = self._slot(order_id)
        qty = 0 if slot < 0 else int(self.orders[L.O_QTY, slot])
        self._one(CANCEL, BUY, 0, 0, order_id, -1, None)
        return qty

    def reduce(self, order_id: int, qty: int) -> int:
        """Lower a resting order by ``qty`` keeping its priority; returns the qty removed."""
        q = _positive_qty(qty)
        slot = self._slot(order_id)
        left = 0 if slot < 0 else int(self.orders[L.O_QTY, slot])
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
            if self.state[L.S_N_BID] == 0
            else int(self.state[L.S_TICK_LO] + self.state[L.S_BEST_BID])
        )

    def best_ask(self) -> int | None:
        """Best ask in ticks, or None when there are no asks."""
        return (
            None
            if self.state[L.S_N_ASK] == 0
            else int(self.state[L.S_TICK_LO] + self.state[L.S_BEST_ASK])
        )

    def depth(self, levels: int = 5) -> tuple[np.ndarray, np.ndarray]:
        """The best ``levels`` bid and ask levels, each ``ndarray(LEVEL_DTYPE)``, best first."""
        if int(levels) < 1:
            raise UsageError(f"levels: must be >= 1, got {levels!r}")
        out = []
        for side in (BUY, SELL):
            buf = np.zeros(int(levels), dtype=LEVEL_DTYPE)
            k = book_levels(self.book, side, int(levels), buf)
            out.append(buf[:k])
        return out[0], out[1]

    def order(self, order_id: int) -> dict | None:
        """The resting order ``order_id`` as a dict, or None if it is not resting."""
        slot = self._slot(order_id)
        if slot < 0:
            return None
        o = self.orders[:, slot]
        return {
            "order_id": int(o[L.O_ID]),
            "side": int(o[L.O_SIDE]),
            "price_tick": int(o[L.O_PRICE]),
            "qty": int(o[L.O_QTY]),
            "owner": int(o[L.O_OWNER]),
            "t_ns": int(o[L.O_T]),
        }

    def resting_orders(self) -> np.ndarray:
        """Every resting order, ``(n, 5)`` int64 rows ``(order_id, side, price_tick, qty,
        owner)`` sorted by side, then price (best first), then time priority."""
        rows = []
        tick_lo = int(self.state[L.S_TICK_LO])
        n_ticks = self.levels.shape[2]
        for side, order in ((BUY, range(n_ticks - 1, -1, -1)), (SELL, range(n_ticks))):
            for j in order:
                slot = self.levels[L.L_HEAD, side, j]
                while slot != -1:
                    o = self.orders[:, slot]
                    rows.append((o[L.O_ID], side, tick_lo + j, o[L.O_QTY], o[L.O_OWNER]))
                    slot = self.orders[L.O_NEXT, slot]
        return np.array(rows, dtype=np.int64).reshape(-1, 5)

    def resting_qty(self) -> int:
        """Total quantity resting on both sides."""
        return int(self.levels[L.L_QTY].sum())

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
