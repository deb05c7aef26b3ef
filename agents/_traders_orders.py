"""Order-book traders: how a trader's decisions reach the book and its account.

A trader sends order actions (limit, market, immediate-or-cancel, cancel) through the
matching kernel (:func:`marketsim.orderbook.apply_action`) at once, inside the event
loop, and :func:`_send` settles the fills: the buyer gains ``qty`` contracts and pays
``price_tick * qty``, the seller the reverse, so cash and contracts are conserved.

A market order that fills ``q`` contracts moves the order-flow impact ``I`` (Kyle 1985) by
``+-lambda q (1 + k m)``, ``m`` the share of market makers not quoting the side hit
(:func:`_market_order`); the makers quote around ``R = F exp(I)`` (:func:`_reference`). Under
frequent batch auctions (policy ``fba``) orders wait for the batch, a crossed book has
no mid (:func:`price_x2` reads the last clearing price) and makers pick off only their
share of the other traders' stale orders (:func:`_pick_off_batch`). Every kernel here
takes the :class:`~marketsim.agents._traders_layout.Market` and the
:class:`~marketsim.agents._traders_layout.Traders` bundles.

The per-action helpers are ``inline="always"`` (numba inlines them into the trader
kernels). A numba function that is not inlined increfs every array of its bundle
arguments on entry and decrefs them on exit, and numba's refcount pruning keeps those
pairs around any call that may raise; with the helpers apart, each order paid for twelve
arrays four to six times over, about a quarter of a full session's time.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from marketsim.agents import _traders_layout as T
from marketsim.market_rules import words as W
from marketsim.orderbook import apply_action
from marketsim.orderbook import layout as L
from marketsim.records import BUY, CANCEL, IOC, LIMIT, MARKET, OK, SELL


@njit(cache=True, inline="always")
def mid_x2(book, last_mid_x2):
    """Twice the mid in ticks (an integer); the last mid when a side is empty."""
    if book.state[L.S_N_BID] == 0 or book.state[L.S_N_ASK] == 0:
        return last_mid_x2
    return 2 * book.state[L.S_TICK_LO] + book.state[L.S_BEST_BID] + book.state[L.S_BEST_ASK]


@njit(cache=True, inline="always")
def batch_mode(rules):
    """True when the book matches by frequent batch auctions (policy ``fba``)."""
    return rules.shape[0] > L.N_RULES and (rules[W.X_FLAGS] & W.F_FBA) != 0


@njit(cache=True, inline="always")
def price_x2(market):
    """Twice the price the traders read, in ticks: :func:`mid_x2`, except that in
    batch-auction mode a crossed or locked book (bids at or above offers wait for the
    batch) has no mid, and the last clearing price (``X_LAST_TICK``) is read instead
    (before the first batch has traded, the last price read, ``g[G_LAST_MID]``)."""
    last_mid_x2 = np.int64(market.g[T.G_LAST_MID])
    m2 = mid_x2(market.book, last_mid_x2)
    if (
        batch_mode(market.rules)
        and market.book.state[L.S_N_BID] > 0
        and market.book.state[L.S_N_ASK] > 0
        and market.book.state[L.S_BEST_BID] >= market.book.state[L.S_BEST_ASK]
    ):
        return 2 * market.rules[W.X_LAST_TICK] if market.rules[W.X_N_BATCHES] > 0 else last_mid_x2
    return m2


@njit(cache=True, inline="always")
def _send(t_ns, kind, side, price_tick, qty, order_id, owner, market, traders):
    """Send one action through the matching kernel and settle its fills."""
    n0 = market.gi[T.I_N_FILLS]
    # np.int64(...): the callers' constants reach here as numba literals, and a call with
    # literal arguments compiles its own specialisation of apply_action and every kernel
    # below it (nine of them, most of a cold order-book compile); LLVM still folds them.
    st, n1 = apply_action(
        t_ns,
        np.int64(kind),
        np.int64(side),
        np.int64(price_tick),
        np.int64(qty),
        np.int64(order_id),
        owner,
        market.book,
        market.rules,
        market.fills,
        n0,
    )
    market.gi[T.I_N_FILLS] = n1
    market.gi[T.I_N_ACTIONS] += 1
    traders.acct[owner, T.A_N_ACTIONS] += 1
    for k in range(n0, n1):
        f = market.fills[k]
        value = f.price_tick * f.qty
        traders.acct[f.buyer, T.A_INV] += f.qty
        traders.acct[f.buyer, T.A_CASH] -= value
        traders.acct[f.buyer, T.A_BOUGHT] += f.qty
        traders.acct[f.seller, T.A_INV] -= f.qty
        traders.acct[f.seller, T.A_CASH] += value
        traders.acct[f.seller, T.A_SOLD] += f.qty
        market.gi[T.I_VOLUME] += f.qty
        # the aggressor's side signs the trade (flow toxicity, _traders_loop._toxicity);
        # with G_TOX_OTHERS set, the market makers' own trades (their pick-offs) are left
        # out: the flow the makers face is the other traders'
        taker = f.buyer if f.aggressor_side == BUY else f.seller
        if market.g[T.G_TOX_OTHERS] == 0.0 or traders.kind[taker] != T.MARKET_MAKER:
            if f.aggressor_side == BUY:
                market.gi[T.I_AGG_BUY] += f.qty
            else:
                market.gi[T.I_AGG_SELL] += f.qty
        if traders.is_hft[f.buyer]:
            market.gi[T.I_HFT_GROSS] += f.qty
            market.gi[T.I_HFT_NET] += f.qty
        if traders.is_hft[f.seller]:
            market.gi[T.I_HFT_GROSS] += f.qty
            market.gi[T.I_HFT_NET] -= f.qty
    return st


@njit(cache=True, inline="always")
def _new_order(i, t_ns, kind, side, price_tick, qty, market, traders):
    """Send trader ``i``'s new order under the next free order id; returns
    ``(status, order_id)``."""
    oid = market.gi[T.I_NEXT_OID]
    market.gi[T.I_NEXT_OID] += 1
    return _send(t_ns, kind, side, price_tick, qty, oid, i, market, traders), oid


@njit(cache=True, inline="always")
def _cancel_own(i, t_ns, market, traders):
    """Trader ``i`` cancels its resting bid and offer."""
    for col in (T.A_BID_OID, T.A_ASK_OID):
        oid = traders.acct[i, col]
        if oid >= 0:
            _send(t_ns, CANCEL, BUY, 0, 0, oid, i, market, traders)
            traders.acct[i, col] = -1


@njit(cache=True, inline="always")
def _rest(i, t_ns, side, price_tick, qty, market, traders):
    """A limit order, clipped into the book's price range; remembers its id."""
    lo = market.book.state[L.S_TICK_LO] + 1
    hi = market.book.state[L.S_TICK_LO] + market.book.levels.shape[2] - 2
    p = min(max(price_tick, lo), hi)
    _, oid = _new_order(i, t_ns, LIMIT, side, p, qty, market, traders)
    traders.acct[i, T.A_BID_OID if side == BUY else T.A_ASK_OID] = oid


@njit(cache=True, inline="always")
def _market_order(i, t_ns, side, qty, market, traders):
    """A market order; what it fills moves the market makers' reference price (Kyle).

    The impact per contract is ``lambda (1 + k m)`` with ``m`` the share of market makers
    not quoting the side that was hit: liquidity that has withdrawn makes flow costlier.
    In batch-auction mode the order only rests until the next batch, and the fills this
    call settles are those of a batch of earlier orders: the impact is that of the
    order's own quantity, booked when it is accepted (the order flow the batch will see).
    """
    v0 = market.gi[T.I_VOLUME]
    st, _ = _new_order(i, t_ns, MARKET, side, 0, qty, market, traders)
    filled = market.gi[T.I_VOLUME] - v0
    if batch_mode(market.rules):
        filled = qty if st == OK else 0
    n_mm = market.g[T.G_N_MM]
    if filled > 0:
        quoting = market.gi[T.I_MM_BIDDING] if side == SELL else market.gi[T.I_MM_ASKING]
        missing = 1.0 - quoting / n_mm if n_mm > 0 else 0.0
        move = market.g[T.G_LAMBDA] * filled * (1.0 + market.g[T.G_LIQ_K] * missing)
        market.g[T.G_IMPACT] += move if side == BUY else -move


@njit(cache=True, inline="always")
def _crossing_qty(book, side, price_tick):
    """Resting quantity on ``side`` at prices a quote at ``price_tick`` would cross."""
    lo = book.state[L.S_TICK_LO]
    q = 0
    if side == SELL:
        if book.state[L.S_N_ASK] == 0:
            return 0
        j = book.state[L.S_BEST_ASK]
        while j < book.levels.shape[2] and lo + j <= price_tick:
            q += book.levels[L.L_QTY, SELL, j]
            j += 1
    else:
        if book.state[L.S_N_BID] == 0:
            return 0
        j = book.state[L.S_BEST_BID]
        while j >= 0 and lo + j >= price_tick:
            q += book.levels[L.L_QTY, BUY, j]
            j -= 1
    return q


@njit(cache=True, inline="always")
def _pick_off(i, t_ns, side, price_tick, market, traders):
    """An immediate-or-cancel order for everything resting at or better than ``price_tick``."""
    q = _crossing_qty(market.book, SELL if side == BUY else BUY, price_tick)
    _ioc(i, t_ns, side, price_tick, q, market, traders)


@njit(cache=True, inline="always")
def _ioc(i, t_ns, side, price_tick, q, market, traders):
    """Send an immediate-or-cancel order of ``q`` (nothing when ``q < 1``) with a new id."""
    if q > 0:
        _new_order(i, t_ns, IOC, side, price_tick, q, market, traders)


@njit(cache=True)
def _stale_qty(book, side, price_tick, kind):
    """:func:`_crossing_qty` without the market makers' own orders: what a maker can
    pick off in a batch (the other makers' old quotes are cancelled before it)."""
    lo = book.state[L.S_TICK_LO]
    n_ticks = book.levels.shape[2]
    q = 0
    if side == SELL:
        if book.state[L.S_N_ASK] == 0:
            return 0
        j = book.state[L.S_BEST_ASK]
        step = 1
    else:
        if book.state[L.S_N_BID] == 0:
            return 0
        j = book.state[L.S_BEST_BID]
        step = -1
    while 0 <= j < n_ticks and (lo + j <= price_tick if side == SELL else lo + j >= price_tick):
        if book.levels[L.L_QTY, side, j] > 0:
            slot = book.levels[L.L_HEAD, side, j]
            while slot != -1:
                if kind[book.orders[L.O_OWNER, slot]] != T.MARKET_MAKER:
                    q += book.orders[L.O_QTY, slot]
                slot = book.orders[L.O_NEXT, slot]
        j += step
    return q


@njit(cache=True, inline="always")
def _pick_off_batch(i, t_ns, side, price_tick, market, traders):
    """Batch-auction mode: an IOC that waits for the batch, for this maker's share
    (``1 / n_mm``) of the other traders' orders at or better than ``price_tick``. Sized
    like :func:`_pick_off` it would count the other makers' waiting IOCs and
    quotes too, and the makers' orders would grow on each other every second."""
    other = SELL if side == BUY else BUY
    stale = _stale_qty(market.book, other, price_tick, traders.kind)
    n_mm = max(market.g[T.G_N_MM], 1.0)
    q = np.int64(np.ceil(stale / n_mm))
    _ioc(i, t_ns, side, price_tick, q, market, traders)


@njit(cache=True, inline="always")
def _reference(g):
    """The market makers' reference price in ticks: fundamental x order-flow impact."""
    return g[T.G_F] * np.exp(g[T.G_IMPACT])
