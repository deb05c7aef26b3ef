"""Order-book traders: the intermediaries and the sell programme, one kernel each.

These traders wake on the constant-rate clock of the event loop (market makers also
requote every second, after the news).

- market maker: cancels its quotes, picks off any stale order inside its new spread,
  then quotes both sides around the reference price ``R = F exp(I)`` with half-spread
  ``h = h_0 + c sigma`` (``sigma`` the one-second volatility in ticks), skewed against
  inventory: centre ``R - h inv / limit``. It stops quoting a side at its inventory
  limit and withdraws while ``sigma`` or the order-flow impact ``|I|`` exceeds its
  tolerance (toxic flow, Easley, Lopez de Prado & O'Hara 2011; CFTC-SEC 2010).
- high-frequency intermediary: trades its inventory back towards zero with market
  orders at a stated half-life (Kirilenko, Kyle, Samadi & Tuzun 2017: about 2 minutes;
  off when the half-life is 0), lays its whole position off as soon as ``|inventory|``
  exceeds its limit, and joins the best bid and ask with small size. Passing the
  contracts it took on to the others is the "hot potato" of Kirilenko et al.
- sell programme: from its start on, sells ``total_qty`` contracts at ``participation`` of
  the previous minute's volume, accrued second by second, whatever the price (CFTC-SEC
  2010: 75,000 E-mini contracts at 9%). The aggressive seller (the staff report's reading)
  sends market orders; the passive one (Nanex's reading of the same day: its executions
  never crossed the spread) keeps one sell order at the best offer for what it owes,
  leaves it there while it is the best offer and large enough, and otherwise cancels it
  and posts again at the best offer (one tick above the best bid when no offer rests).

Only the high-frequency trader draws a random number, and only with a half-life set
(the rounding of its mean-reversion order). Each takes the
:class:`~marketsim.agents._traders_layout.Market` and
:class:`~marketsim.agents._traders_layout.Traders` bundles.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from marketsim.agents import _traders_layout as T
from marketsim.agents._traders_draws import _u
from marketsim.agents._traders_orders import (
    _cancel_own,
    _crossing_qty,
    _market_order,
    _pick_off,
    _pick_off_batch,
    _reference,
    _rest,
)
from marketsim.orderbook import layout as L
from marketsim.records import BUY, NS_PER_SECOND, SELL


@njit(cache=True)
def _market_maker(i, t_ns, batch, market, traders):
    """Market maker ``i`` requotes: cancel, pick off stale orders, quote (or withdraw).

    ``batch``: the book matches by frequent batch auctions. Keeps the count of makers
    quoting each side (``gi[I_MM_BIDDING]``, ``gi[I_MM_ASKING]``) that prices impact."""
    size = traders.params[i, T.P_SIZE]
    _cancel_own(i, t_ns, market, traders)
    vol = np.sqrt(market.g[T.G_VAR])
    quoting = 0
    inv = traders.acct[i, T.A_INV]
    lim = traders.params[i, T.P_INVENTORY_LIMIT]
    half = traders.params[i, T.P_MM_HALF_SPREAD] + traders.params[i, T.P_MM_SPREAD_PER_VOL] * vol
    # quotes around the reference price, skewed against inventory; a quote that
    # crosses a stale order executes against it (the maker picks it off), which
    # keeps the mid on the reference price: no bid-ask bounce in the mid
    centre = _reference(market.g) - half * inv / lim
    bid = np.int64(np.floor(centre - half))
    ask = np.int64(np.ceil(centre + half))
    # orders left stale by news inside the maker's new spread are taken out first
    # (picked off), so the mid sits on the reference price and does not catch up
    # with it a second later; a maker that has withdrawn still picks off
    # (in batch-auction mode nothing executes before the batch: the maker bids
    # there for its share of the other traders' stale orders, see _pick_off_batch)
    if batch:
        _pick_off_batch(i, t_ns, BUY, ask - 1, market, traders)
        _pick_off_batch(i, t_ns, SELL, bid + 1, market, traders)
    else:
        _pick_off(i, t_ns, BUY, ask - 1, market, traders)
        _pick_off(i, t_ns, SELL, bid + 1, market, traders)
    # a maker stops quoting while recent one-sided order flow has pushed the price
    # far from the news (toxic flow, Easley, Lopez de Prado & O'Hara 2011; the
    # withdrawal of liquidity on 6 May 2010, CFTC-SEC 2010)
    # while the market is halted its limit orders rest unmatched for the reopening
    # auction and the book may cross: a quote sized by what it crosses would count the
    # other makers' crossing quotes and grow on them every second, as in batch mode
    plain = batch or market.rules[L.R_HALTED] != 0
    # with flow toxicity on (g[G_TOX_BUCKET] > 0) it also stays out while the VPIN of
    # recent volume buckets exceeds its tolerance, and quotes again once flow is balanced
    # enough (Easley, Lopez de Prado & O'Hara 2012; _traders_loop._toxicity)
    # (with G_TOX_ONE_SIDED, only the side that flow hits: no bid while sellers dominate
    # the buckets, no offer while buyers do)
    toxic = (
        market.g[T.G_TOX_BUCKET] > 0.0
        and market.g[T.G_VPIN] > traders.params[i, T.P_MM_WITHDRAW_TOXICITY]
    )
    one_sided = toxic and market.g[T.G_TOX_ONE_SIDED] != 0.0
    bid_ok = not toxic or (one_sided and market.g[T.G_TOX_NET] >= 0.0)
    ask_ok = not toxic or (one_sided and market.g[T.G_TOX_NET] <= 0.0)
    # (a maker below the index G_IMPACT_ONE_SIDED, beyond its impact tolerance, keeps
    # the side the flow does not hit, its offer while sellers pushed the price down
    # (I < 0), and the side that brings its inventory back to zero: a maker that is
    # short still bids; it stops only the quote that would add to its exposure)
    impact = market.g[T.G_IMPACT]
    calm_flow = abs(impact) < traders.params[i, T.P_MM_WITHDRAW_IMPACT]
    if not calm_flow:
        bid_ok = bid_ok and (impact > 0.0 or inv < 0)
        ask_ok = ask_ok and (impact < 0.0 or inv > 0)
    if vol < traders.params[i, T.P_MM_WITHDRAW_VOL] and (
        calm_flow or i < market.g[T.G_IMPACT_ONE_SIDED]
    ):
        q = np.int64(size)
        if inv < lim and bid_ok:
            q_bid = q if plain else q + _crossing_qty(market.book, SELL, bid)
            _rest(i, t_ns, BUY, bid, q_bid, market, traders)
            quoting |= 1
        if inv > -lim and ask_ok:
            q_ask = q if plain else q + _crossing_qty(market.book, BUY, ask)
            _rest(i, t_ns, SELL, ask, q_ask, market, traders)
            quoting |= 2
    old = traders.acct[i, T.A_QUOTING]
    market.gi[T.I_MM_BIDDING] += (quoting & 1) - (old & 1)
    market.gi[T.I_MM_ASKING] += ((quoting >> 1) & 1) - ((old >> 1) & 1)
    traders.acct[i, T.A_QUOTING] = quoting


@njit(cache=True)
def _hft(i, t_ns, batch, pre_open, market, traders, rng):
    """High-frequency trader ``i`` wakes: cancel, trade part of its inventory away (or lay
    off a large position), then join the best quotes (as they stood before its own cancel).

    Mean reversion at half-life ``h`` (``P_HFT_HALF_LIFE`` > 0): ``dt`` seconds after its
    last wake-up it sends a market order for ``|inv| (1 - 2^(-dt / h))`` contracts against
    its position, rounded at random to an integer with that mean (one uniform draw from
    ``rng``), so its inventory halves in ``h`` seconds on average whatever the wake-up
    times (Kirilenko, Kyle, Samadi & Tuzun 2017: about 2 minutes). With ``h = 0`` it draws
    nothing and trades only at the limit, as before."""
    # the best quotes are read before the trader cancels its own orders
    lo = market.book.state[L.S_TICK_LO]
    has_bid = market.book.state[L.S_N_BID] > 0
    has_ask = market.book.state[L.S_N_ASK] > 0
    bb = lo + market.book.state[L.S_BEST_BID]
    ba = lo + market.book.state[L.S_BEST_ASK]
    size = traders.params[i, T.P_SIZE]
    _cancel_own(i, t_ns, market, traders)
    inv = traders.acct[i, T.A_INV]
    lim = traders.params[i, T.P_INVENTORY_LIMIT]
    half_life = traders.params[i, T.P_HFT_HALF_LIFE]
    last = traders.acct[i, T.A_HFT_LAST_WAKE_NS]
    traders.acct[i, T.A_HFT_LAST_WAKE_NS] = t_ns
    if abs(inv) > lim and not pre_open:
        side = SELL if inv > 0 else BUY
        _market_order(i, t_ns, side, abs(inv), market, traders)
        return
    if half_life > 0.0 and inv != 0 and not pre_open and last > 0:
        dt = (t_ns - last) / NS_PER_SECOND
        x = abs(inv) * (1.0 - 2.0 ** (-dt / half_life))
        q = np.int64(np.floor(x + _u(rng)))
        if q > 0:
            _market_order(i, t_ns, SELL if inv > 0 else BUY, min(q, abs(inv)), market, traders)
            inv = traders.acct[i, T.A_INV]
    if (
        np.sqrt(market.g[T.G_VAR]) < traders.params[i, T.P_HFT_WITHDRAW_VOL]
        and has_bid
        and has_ask
        and not (batch and bb >= ba)  # a crossed book waiting for its batch has no quotes
    ):
        q = np.int64(size)
        if inv < lim:
            _rest(i, t_ns, BUY, bb, q, market, traders)
        if inv > -lim:
            _rest(i, t_ns, SELL, ba, q, market, traders)


@njit(cache=True)
def _post_at_best_offer(i, t_ns, q, market, traders):
    """The passive seller's one offer: kept while it is the best offer and holds at least
    ``q``; otherwise cancelled and posted again for ``q`` at the best offer."""
    book, acct = market.book, traders.acct
    state = book.state
    oid = acct[i, T.A_ASK_OID]
    slot = book.oid_slot[oid] if 0 <= oid < book.oid_slot.shape[0] else -1
    if slot == -1:
        acct[i, T.A_ASK_OID] = -1  # filled (or never posted)
    else:
        best = state[L.S_TICK_LO] + state[L.S_BEST_ASK]
        if book.orders[L.O_PRICE, slot] == best and book.orders[L.O_QTY, slot] >= q:
            return
        _cancel_own(i, t_ns, market, traders)
    if q <= 0:
        return
    lo = state[L.S_TICK_LO]
    if state[L.S_N_ASK] > 0:
        price = lo + state[L.S_BEST_ASK]
    elif state[L.S_N_BID] > 0:
        price = lo + state[L.S_BEST_BID] + 1
    else:
        return  # an empty book: nothing to join
    _rest(i, t_ns, SELL, price, q, market, traders)


@njit(cache=True)
def _sell_programme(i, t_ns, market, traders):
    """The sell programme ``i`` wakes: from its start on, a sell order for what its
    participation has accrued (``G_PROG_OWED``), at most a child order's size: a market
    order, or (passive) a limit order at the best offer."""
    if t_ns >= market.gi[T.I_PROG_START_NS]:
        if market.gi[T.I_PROG_VOLUME_START] < 0:
            market.gi[T.I_PROG_VOLUME_START] = market.gi[T.I_VOLUME]
        total = np.int64(traders.params[i, T.P_PROG_TOTAL_QTY])
        sold = traders.acct[i, T.A_SOLD]
        if sold < total:
            # 9% of the volume traded in the previous minute, accrued second by second
            owed = np.int64(traders.params[i, T.P_PROG_PARTICIPATION] * market.g[T.G_PROG_OWED])
            target = owed + np.int64(traders.params[i, T.P_SIZE])
            q = min(total - sold, target - sold, np.int64(traders.params[i, T.P_PROG_CHILD_MAX]))
            if traders.params[i, T.P_PROG_PASSIVE] != 0.0:
                _post_at_best_offer(i, t_ns, q, market, traders)
            elif q > 0:
                _market_order(i, t_ns, SELL, q, market, traders)
        # a passive seller's last contract is sold on another trader's order: its end is
        # noted at its next wake-up (within about a second at the default rate)
        if traders.acct[i, T.A_SOLD] >= total and market.gi[T.I_PROG_END_NS] < 0:
            market.gi[T.I_PROG_END_NS] = t_ns
