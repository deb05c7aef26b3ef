"""Order-book traders: the event loop, the once-a-second market state and the dispatch.

Each trader wakes on its own exponential clock of rate ``rate_i``; the clocks being
memoryless, the next wake-up of a group is ``Exp(sum_i rate_i)`` and the trader who wakes
is drawn with probability ``rate_i / sum rate`` (superposition). Background traders'
clock is scaled by the activity level ``exp(x_t)``, ``x`` an Ornstein-Uhlenbeck process
kicked by large returns; intermediaries run on constant clocks. Every whole second the
news moves the fundamental (``log F`` a random walk with Student-t shocks), the LLM base
models' errors move, every market maker requotes, the book is recorded and the slow
state (volatility, EMAs, activity, order-flow OU, impact decay) moves
(:func:`_on_second`). :func:`_act` hands a waking trader to its kind's kernel
(:mod:`marketsim.agents._traders_background`,
:mod:`marketsim.agents._traders_intermediaries`). The arrays travel as the bundles
:class:`~marketsim.agents._traders_layout.Traders` and
:class:`~marketsim.agents._traders_layout.Market`.

Numba caching: :func:`run_chunk` compiles every kernel it calls into its own cache, which
numba keys on this file only; after editing another ``agents/_traders_*.py`` module,
delete ``agents/__pycache__/_traders_*.nb?`` or the old code of that module keeps running.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from marketsim.agents import _traders_layout as T
from marketsim.agents._traders_background import _llm_trader, _noise, _threshold_trader
from marketsim.agents._traders_draws import _exp_ns, _normal, _pick, _student_t
from marketsim.agents._traders_intermediaries import _hft, _market_maker, _sell_programme
from marketsim.agents._traders_orders import batch_mode, price_x2
from marketsim.market_rules import bump_waiting
from marketsim.market_rules import words as W
from marketsim.orderbook import layout as L
from marketsim.records import BUY, NS_PER_SECOND, SELL


@njit(cache=True)
def _snapshot(t_ns, market, traders, snap):
    g, gi, levels, state = market.g, market.gi, market.book.levels, market.book.state
    k = gi[T.I_N_SNAP]
    if k >= snap.shape[0]:
        return
    n_ticks = levels.shape[2]
    lo = state[L.S_TICK_LO]
    snap[k, T.C_T_NS] = t_ns
    snap[k, T.C_BEST_BID] = lo + state[L.S_BEST_BID] if state[L.S_N_BID] > 0 else -1
    snap[k, T.C_BEST_ASK] = lo + state[L.S_BEST_ASK] if state[L.S_N_ASK] > 0 else -1
    snap[k, T.C_MID_X2] = np.int64(g[T.G_LAST_MID])
    snap[k, T.C_VOLUME] = gi[T.I_VOLUME]
    snap[k, T.C_N_ACTIONS] = gi[T.I_N_ACTIONS]
    snap[k, T.C_HFT_GROSS] = gi[T.I_HFT_GROSS]
    snap[k, T.C_HFT_NET] = gi[T.I_HFT_NET]
    mm = 0
    for i in range(traders.kind.shape[0]):
        if traders.kind[i] == T.MARKET_MAKER:
            mm += traders.acct[i, T.A_INV]
    snap[k, T.C_MM_INV] = mm
    j, c = state[L.S_BEST_BID], 0
    while state[L.S_N_BID] > 0 and j >= 0 and c < T.DEPTH_LEVELS:
        if levels[L.L_QTY, BUY, j] > 0:
            snap[k, T.C_BID_QTY + c] = levels[L.L_QTY, BUY, j]
            c += 1
        j -= 1
    j, c = state[L.S_BEST_ASK], 0
    while state[L.S_N_ASK] > 0 and j < n_ticks and c < T.DEPTH_LEVELS:
        if levels[L.L_QTY, SELL, j] > 0:
            snap[k, T.C_ASK_QTY + c] = levels[L.L_QTY, SELL, j]
            c += 1
        j += 1
    gi[T.I_N_SNAP] = k + 1


@njit(cache=True)
def _news(g, rng):
    """The fundamental's one-second move: a random walk with Student-t shocks whose
    size grows with the activity level (information arrivals cluster)."""
    shock = g[T.G_F_SIGMA] * np.exp(0.5 * g[T.G_INFO_ACTIVITY] * g[T.G_X])
    z = _student_t(rng, np.int64(g[T.G_INFO_DF]))
    g[T.G_F] *= np.exp(g[T.G_F_KAPPA] * np.log(g[T.G_F0] / g[T.G_F]) + shock * z)
    # the narrative the LLM traders read: an AR(1) of the standardised news, unit variance
    a = g[T.G_NEWS_KEEP]
    g[T.G_NEWS] = a * g[T.G_NEWS] + np.sqrt(1.0 - a * a) * z


@njit(cache=True)
def _llm_errors(g, llm_model, llm_rng):
    """Each base model's error moves once a second: an AR(1), unit variance."""
    a = g[T.G_LLM_ERR_KEEP]
    b = np.sqrt(1.0 - a * a)
    for j in range(llm_model.shape[0]):
        llm_model[j, T.M_ERROR] = a * llm_model[j, T.M_ERROR] + b * _normal(llm_rng)


@njit(cache=True)
def _volume_volatility(t_ns, g, gi):
    """The volume-volatility relation: the background traders' rate multiple
    ``g[G_VOL_ACTIVITY] = min(max(1, var / var_usual) ** (eta / 2), MAX_VOL_ACTIVITY)``.

    Under the mixture-of-distributions hypothesis (Clark 1973; Tauchen & Pitts 1983) the
    variance of price changes and the number of trades both grow with the rate at which
    information arrives, so volume rises with volatility (Karpoff 1987's survey; Cont
    2001's volume-volatility correlation); ``eta = 2`` is volume in proportion to the
    variance. ``var`` is the one-second variance ``g[G_VAR]``; ``var_usual`` the session's
    usual level, an EMA of ``var`` from the open (``g[G_VAR_SLOW]``, weight
    ``1 - g[G_VAR_SLOW_KEEP]`` a second, and ``1 / (n + 1)`` in the open's ``n``-th second
    while that is larger: the mean so far, so the EMA does not start from nothing). Only
    a volatility above the usual raises the rate, so a quiet stretch does not slow the
    market below its calm activity. No random draws."""
    n = (t_ns - gi[T.I_SESSION_START_NS]) // NS_PER_SECOND
    w = max(1.0 - g[T.G_VAR_SLOW_KEEP], 1.0 / (max(n, 0) + 1.0))
    g[T.G_VAR_SLOW] += w * (g[T.G_VAR] - g[T.G_VAR_SLOW])
    ratio = g[T.G_VAR] / max(g[T.G_VAR_SLOW], 1e-12)
    if ratio > 1.0:
        g[T.G_VOL_ACTIVITY] = min(ratio ** (0.5 * g[T.G_VOL_ELASTICITY]), T.MAX_VOL_ACTIVITY)
    else:
        g[T.G_VOL_ACTIVITY] = 1.0


@njit(cache=True)
def _toxicity(g, gi):
    """Flow toxicity, the VPIN of Easley, Lopez de Prado & O'Hara (2012, Rev. Financ.
    Stud. 25(5)): traded volume is cut into buckets of ``V = g[G_TOX_BUCKET]`` contracts,
    each bucket's volume split into what buyers and what sellers initiated (here by the
    aggressor's side, as every fill records it, rather than their bulk classification),
    and ``VPIN = sum |V_buy - V_sell| / (n V)`` over the last ``n = g[G_TOX_N]`` completed
    buckets (over those completed while fewer than ``n``; 0 before the first). Also
    ``g[G_TOX_NET]``, the same buckets' ``sum (V_buy - V_sell)``: which side the flow is on.

    Called once a second with that second's aggressor volume (``gi[I_AGG_BUY]``,
    ``gi[I_AGG_SELL]`` less what earlier seconds gave); a second that fills a bucket is
    split between it and the next in proportion, buy and sell alike (as Easley et al.
    split a time bar across buckets). No random draws."""
    v = g[T.G_TOX_BUCKET]
    n = np.int64(g[T.G_TOX_N])
    b = float(gi[T.I_AGG_BUY] - gi[T.I_TOX_SEEN_BUY])
    s = float(gi[T.I_AGG_SELL] - gi[T.I_TOX_SEEN_SELL])
    gi[T.I_TOX_SEEN_BUY] = gi[T.I_AGG_BUY]
    gi[T.I_TOX_SEEN_SELL] = gi[T.I_AGG_SELL]
    while b + s > 0.0:
        room = v - (g[T.G_TOX_CUR_BUY] + g[T.G_TOX_CUR_SELL])
        if b + s < room:
            g[T.G_TOX_CUR_BUY] += b
            g[T.G_TOX_CUR_SELL] += s
            break
        share = room / (b + s)
        g[T.G_TOX_CUR_BUY] += b * share
        g[T.G_TOX_CUR_SELL] += s * share
        b -= b * share
        s -= s * share
        # the bucket is full: its imbalance replaces the n-th last one's in the ring
        g[T.G_TOX_RING + gi[T.I_TOX_N_DONE] % n] = g[T.G_TOX_CUR_BUY] - g[T.G_TOX_CUR_SELL]
        gi[T.I_TOX_N_DONE] += 1
        g[T.G_TOX_SUM] = 0.0  # summed afresh: no drift from adding and taking away
        g[T.G_TOX_NET] = 0.0
        for k in range(min(gi[T.I_TOX_N_DONE], n)):
            g[T.G_TOX_SUM] += abs(g[T.G_TOX_RING + k])
            g[T.G_TOX_NET] += g[T.G_TOX_RING + k]
        g[T.G_TOX_CUR_BUY] = 0.0
        g[T.G_TOX_CUR_SELL] = 0.0
    done = min(gi[T.I_TOX_N_DONE], n)
    g[T.G_VPIN] = g[T.G_TOX_SUM] / (done * v) if done > 0 else 0.0


@njit(cache=True)
def _on_second(t_ns, market, traders, snap, rng):
    """Once per simulated second: record the book, then move the slow market state."""
    g, gi = market.g, market.gi
    m2 = price_x2(market)
    r = 0.5 * (m2 - g[T.G_LAST_MID])  # one-second mid change in ticks
    g[T.G_LAST_MID] = m2
    _snapshot(t_ns, market, traders, snap)
    mid = 0.5 * m2
    g[T.G_VAR] = g[T.G_VAR_DECAY] * g[T.G_VAR] + (1.0 - g[T.G_VAR_DECAY]) * r * r
    for h in range(3):
        a = 1.0 / T.EMA_HORIZONS_S[h]
        g[T.G_EMA0 + h] += a * (mid - g[T.G_EMA0 + h])
    # volume of the previous minute (the sell programme's participation base)
    if (t_ns - gi[T.I_SESSION_START_NS]) % (60 * NS_PER_SECOND) == 0:
        gi[T.I_VOL_PREV_MINUTE] = gi[T.I_VOLUME] - gi[T.I_VOL_MINUTE_START]
        gi[T.I_VOL_MINUTE_START] = gi[T.I_VOLUME]
    if t_ns >= gi[T.I_PROG_START_NS]:
        g[T.G_PROG_OWED] += gi[T.I_VOL_PREV_MINUTE] / 60.0
    # impact is transient (Bouchaud et al. 2004): it decays towards the fundamental
    g[T.G_IMPACT] *= g[T.G_IMPACT_KEEP]
    # activity: OU in log-rate, kicked by large moves relative to the usual move size
    tau = g[T.G_X_TAU]
    # a move is large relative to recent volatility (0.8 = E|Z| for a normal Z)
    kick = g[T.G_X_FEEDBACK] * (abs(r) / (np.sqrt(g[T.G_VAR]) + g[T.G_RET_SCALE]) - 0.8)
    g[T.G_X] += -g[T.G_X] / tau + g[T.G_X_SIGMA] * np.sqrt(2.0 / tau) * _normal(rng) + kick / tau
    g[T.G_X] = min(max(g[T.G_X], -3.0), 3.0)
    if g[T.G_VOL_ELASTICITY] > 0.0:
        _volume_volatility(t_ns, g, gi)
    if g[T.G_TOX_BUCKET] > 0.0:
        _toxicity(g, gi)
    # order-flow persistence: noise market orders lean to the side of a slow OU
    # (split metaorders; Lillo, Mike & Farmer 2005), offsetting the book's mean reversion
    tau = g[T.G_FLOW_TAU]
    g[T.G_FLOW] += -g[T.G_FLOW] / tau + g[T.G_FLOW_SIGMA] * np.sqrt(2.0 / tau) * _normal(rng)


@njit(cache=True, inline="always")
def _act(i, t_ns, market, traders, rng, llm_model):
    """Trader ``i`` wakes at ``t_ns`` and sends its order actions: the dispatch to the
    kernel of its kind (``traders.kind[i]``)."""
    k = traders.kind[i]
    batch = batch_mode(market.rules)
    # in batch-auction mode, before the open nothing trades (the first batch is at the
    # open + interval): orders to trade now would only wait, so none are sent
    pre_open = batch and t_ns < market.rules[W.X_OPEN_NS]
    if k == T.NOISE:
        _noise(i, t_ns, pre_open, market, traders, rng)
    elif k == T.MARKET_MAKER:
        _market_maker(i, t_ns, batch, market, traders)
    elif k == T.HFT:
        _hft(i, t_ns, batch, pre_open, market, traders, rng)
    elif pre_open:
        return  # the other kinds only send orders meant to trade at once
    elif k == T.FUNDAMENTAL or k == T.MOMENTUM:
        _threshold_trader(i, t_ns, k, market, traders)
    elif k == T.SELL_PROGRAMME:
        _sell_programme(i, t_ns, market, traders)
    elif k == T.LLM:
        _llm_trader(i, t_ns, market, traders, llm_model)


@njit(cache=True, inline="always")
def _room(n_acts, market):
    """Is there room for ``n_acts`` whole trader actions? Writes what they may need to
    ``gi[I_NEED_SLOTS]`` (free order slots), ``gi[I_NEED_IDS]`` (id map length) and
    ``gi[I_NEED_FILLS]`` (free fill records), for the caller to grow the arrays.

    The bounds are exact worst cases, not guesses: the actions send at most
    ``new = ACT_MAX_ORDERS * n_acts`` orders, and the speed bump may release ``waiting``
    ones. Each of them may rest (a slot). Every fill either uses up a resting order
    (at most ``resting + waiting + new`` of them) or ends a taking order (at most
    ``waiting + new``).
    """
    resting = market.book.state[L.S_N_BID] + market.book.state[L.S_N_ASK]
    waiting = bump_waiting(market.rules)
    new = T.ACT_MAX_ORDERS * n_acts
    market.gi[T.I_NEED_SLOTS] = waiting + new
    market.gi[T.I_NEED_IDS] = market.gi[T.I_NEXT_OID] + new + 1
    market.gi[T.I_NEED_FILLS] = resting + 2 * (waiting + new)
    return (
        market.book.orders.shape[1] - resting >= market.gi[T.I_NEED_SLOTS]
        and market.book.oid_slot.shape[0] >= market.gi[T.I_NEED_IDS]
        and market.fills.shape[0] - market.gi[T.I_N_FILLS] >= market.gi[T.I_NEED_FILLS]
    )


@njit(cache=True)
def run_chunk(t_stop_ns, traders, clocks, market, rng, snap, llm_model, llm_rng):
    """Advance the market to ``t_stop_ns``; returns ``DONE`` or ``NEED_SPACE``.

    ``traders``, ``clocks`` and ``market`` are the bundles of
    :mod:`marketsim.agents._traders_layout`; ``rng`` (``uint64[4]``) is the market's random
    stream and ``snap`` (``int64[n_seconds + 1, N_SNAP_COLS]``) the one-second record.
    ``llm_model`` (``float64[n_models, N_MODEL_COLS]``) holds each base model's bias and
    current error (zero rows without LLM traders); ``llm_rng`` (``uint64[4]``) is the
    stream of those errors, apart from ``rng`` so the rest of the market draws the same
    numbers whatever the base models.

    On ``NEED_SPACE`` nothing is half done: the caller drains ``fills`` (resets
    ``gi[I_N_FILLS]``), grows ``orders``, ``oid_slot`` and ``fills`` to what
    ``gi[I_NEED_*]`` asks (see :func:`_room`), and calls again with a new ``market``
    bundle. Room is reserved for every market maker before each second's requotes and
    for one action before each event, so no action ever writes past an array.
    """
    g, gi, kind, fast_idx = market.g, market.gi, traders.kind, clocks.fast_idx
    n_mm = np.int64(g[T.G_N_MM])
    while True:
        t_bg = gi[T.I_T_BG]
        t_fast = gi[T.I_T_FAST]
        t = min(t_bg, t_fast)
        # the book as it stood at each whole second before this event
        while gi[T.I_NEXT_SECOND] <= min(t, t_stop_ns, gi[T.I_SESSION_END_NS]):
            # news arrives on the second and every market maker requotes around the new
            # reference price before the book is recorded
            if not _room(n_mm, market):
                return T.NEED_SPACE
            ts = gi[T.I_NEXT_SECOND]
            _news(g, rng)
            _llm_errors(g, llm_model, llm_rng)
            for j in range(fast_idx.shape[0]):
                if kind[fast_idx[j]] == T.MARKET_MAKER:
                    _act(fast_idx[j], ts, market, traders, rng, llm_model)
            _on_second(ts, market, traders, snap, rng)
            gi[T.I_NEXT_SECOND] += NS_PER_SECOND
        if t >= t_stop_ns:
            return L.DONE
        if not _room(1, market):
            return T.NEED_SPACE
        background = t_bg <= t_fast
        if background:
            i = clocks.bg_idx[_pick(clocks.bg_cum, rng)]
        else:
            i = fast_idx[_pick(clocks.fast_cum, rng)]
        _act(i, t, market, traders, rng, llm_model)
        if background:
            gi[T.I_T_BG] = t + _exp_ns(rng, g[T.G_RATE_BG] * np.exp(g[T.G_X]) * g[T.G_VOL_ACTIVITY])
        else:
            gi[T.I_T_FAST] = t + _exp_ns(rng, g[T.G_RATE_FAST])
