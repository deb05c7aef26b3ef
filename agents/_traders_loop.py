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
:mod:`marketsim.agents._traders_intermediaries`).

Numba caching: :func:`run_chunk` compiles every kernel it calls into its own cache, which
numba keys on this file only; after editing another ``agents/_traders_*.py`` module,
delete ``agents/__pycache__/_traders_*.nb?`` or the old code of that module keeps running.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from marketsim.agents._traders_background import _llm_trader, _noise, _threshold_trader
from marketsim.agents._traders_draws import _exp_ns, _normal, _pick, _student_t
from marketsim.agents._traders_intermediaries import _hft, _market_maker, _sell_programme
from marketsim.agents._traders_layout import (
    A_INV,
    ACT_MAX_ORDERS,
    C_ASK_QTY,
    C_BEST_ASK,
    C_BEST_BID,
    C_BID_QTY,
    C_HFT_GROSS,
    C_HFT_NET,
    C_MID_X2,
    C_MM_INV,
    C_N_ACTIONS,
    C_T_NS,
    C_VOLUME,
    DEPTH_LEVELS,
    EMA_HORIZONS_S,
    FUNDAMENTAL,
    G_EMA0,
    G_F,
    G_F0,
    G_F_KAPPA,
    G_F_SIGMA,
    G_FLOW,
    G_FLOW_SIGMA,
    G_FLOW_TAU,
    G_IMPACT,
    G_IMPACT_KEEP,
    G_INFO_ACTIVITY,
    G_INFO_DF,
    G_LAST_MID,
    G_LLM_ERR_KEEP,
    G_N_MM,
    G_NEWS,
    G_NEWS_KEEP,
    G_PROG_OWED,
    G_RATE_BG,
    G_RATE_FAST,
    G_RET_SCALE,
    G_VAR,
    G_VAR_DECAY,
    G_X,
    G_X_FEEDBACK,
    G_X_SIGMA,
    G_X_TAU,
    HFT,
    I_HFT_GROSS,
    I_HFT_NET,
    I_N_ACTIONS,
    I_N_FILLS,
    I_N_SNAP,
    I_NEED_FILLS,
    I_NEED_IDS,
    I_NEED_SLOTS,
    I_NEXT_OID,
    I_NEXT_SECOND,
    I_PROG_START_NS,
    I_SESSION_END_NS,
    I_SESSION_START_NS,
    I_T_BG,
    I_T_FAST,
    I_VOL_MINUTE_START,
    I_VOL_PREV_MINUTE,
    I_VOLUME,
    LLM,
    M_ERROR,
    MARKET_MAKER,
    MOMENTUM,
    NEED_SPACE,
    NOISE,
    SELL_PROGRAMME,
)
from marketsim.agents._traders_orders import batch_mode, price_x2
from marketsim.market_rules import X_OPEN_NS, bump_waiting
from marketsim.orderbook import (
    DONE,
    L_QTY,
    S_BEST_ASK,
    S_BEST_BID,
    S_N_ASK,
    S_N_BID,
    S_TICK_LO,
)
from marketsim.records import BUY, NS_PER_SECOND, SELL


@njit(cache=True)
def _snapshot(t_ns, levels, bstate, g, gi, acct, kind, snap):
    k = gi[I_N_SNAP]
    if k >= snap.shape[0]:
        return
    n_ticks = levels.shape[2]
    lo = bstate[S_TICK_LO]
    snap[k, C_T_NS] = t_ns
    snap[k, C_BEST_BID] = lo + bstate[S_BEST_BID] if bstate[S_N_BID] > 0 else -1
    snap[k, C_BEST_ASK] = lo + bstate[S_BEST_ASK] if bstate[S_N_ASK] > 0 else -1
    snap[k, C_MID_X2] = np.int64(g[G_LAST_MID])
    snap[k, C_VOLUME] = gi[I_VOLUME]
    snap[k, C_N_ACTIONS] = gi[I_N_ACTIONS]
    snap[k, C_HFT_GROSS] = gi[I_HFT_GROSS]
    snap[k, C_HFT_NET] = gi[I_HFT_NET]
    mm = 0
    for i in range(kind.shape[0]):
        if kind[i] == MARKET_MAKER:
            mm += acct[i, A_INV]
    snap[k, C_MM_INV] = mm
    j, c = bstate[S_BEST_BID], 0
    while bstate[S_N_BID] > 0 and j >= 0 and c < DEPTH_LEVELS:
        if levels[L_QTY, BUY, j] > 0:
            snap[k, C_BID_QTY + c] = levels[L_QTY, BUY, j]
            c += 1
        j -= 1
    j, c = bstate[S_BEST_ASK], 0
    while bstate[S_N_ASK] > 0 and j < n_ticks and c < DEPTH_LEVELS:
        if levels[L_QTY, SELL, j] > 0:
            snap[k, C_ASK_QTY + c] = levels[L_QTY, SELL, j]
            c += 1
        j += 1
    gi[I_N_SNAP] = k + 1


@njit(cache=True)
def _news(g, rng):
    """The fundamental's one-second move: a random walk with Student-t shocks whose
    size grows with the activity level (information arrivals cluster)."""
    shock = g[G_F_SIGMA] * np.exp(0.5 * g[G_INFO_ACTIVITY] * g[G_X])
    z = _student_t(rng, np.int64(g[G_INFO_DF]))
    g[G_F] *= np.exp(g[G_F_KAPPA] * np.log(g[G_F0] / g[G_F]) + shock * z)
    # the narrative the LLM traders read: an AR(1) of the standardised news, unit variance
    a = g[G_NEWS_KEEP]
    g[G_NEWS] = a * g[G_NEWS] + np.sqrt(1.0 - a * a) * z


@njit(cache=True)
def _llm_errors(g, llm_model, llm_rng):
    """Each base model's error moves once a second: an AR(1), unit variance."""
    a = g[G_LLM_ERR_KEEP]
    b = np.sqrt(1.0 - a * a)
    for j in range(llm_model.shape[0]):
        llm_model[j, M_ERROR] = a * llm_model[j, M_ERROR] + b * _normal(llm_rng)


@njit(cache=True)
def _on_second(t_ns, levels, bstate, g, gi, acct, kind, snap, rng, rules):
    """Once per simulated second: record the book, then move the slow market state."""
    m2 = price_x2(bstate, levels.shape[2], np.int64(g[G_LAST_MID]), rules)
    r = 0.5 * (m2 - g[G_LAST_MID])  # one-second mid change in ticks
    g[G_LAST_MID] = m2
    _snapshot(t_ns, levels, bstate, g, gi, acct, kind, snap)
    mid = 0.5 * m2
    g[G_VAR] = g[G_VAR_DECAY] * g[G_VAR] + (1.0 - g[G_VAR_DECAY]) * r * r
    for h in range(3):
        a = 1.0 / EMA_HORIZONS_S[h]
        g[G_EMA0 + h] += a * (mid - g[G_EMA0 + h])
    # volume of the previous minute (the sell programme's participation base)
    if (t_ns - gi[I_SESSION_START_NS]) % (60 * NS_PER_SECOND) == 0:
        gi[I_VOL_PREV_MINUTE] = gi[I_VOLUME] - gi[I_VOL_MINUTE_START]
        gi[I_VOL_MINUTE_START] = gi[I_VOLUME]
    if t_ns >= gi[I_PROG_START_NS]:
        g[G_PROG_OWED] += gi[I_VOL_PREV_MINUTE] / 60.0
    # impact is transient (Bouchaud et al. 2004): it decays towards the fundamental
    g[G_IMPACT] *= g[G_IMPACT_KEEP]
    # activity: OU in log-rate, kicked by large moves relative to the usual move size
    tau = g[G_X_TAU]
    # a move is large relative to recent volatility (0.8 = E|Z| for a normal Z)
    kick = g[G_X_FEEDBACK] * (abs(r) / (np.sqrt(g[G_VAR]) + g[G_RET_SCALE]) - 0.8)
    g[G_X] += -g[G_X] / tau + g[G_X_SIGMA] * np.sqrt(2.0 / tau) * _normal(rng) + kick / tau
    g[G_X] = min(max(g[G_X], -3.0), 3.0)
    # order-flow persistence: noise market orders lean to the side of a slow OU
    # (split metaorders; Lillo, Mike & Farmer 2005), offsetting the book's mean reversion
    tau = g[G_FLOW_TAU]
    g[G_FLOW] += -g[G_FLOW] / tau + g[G_FLOW_SIGMA] * np.sqrt(2.0 / tau) * _normal(rng)


@njit(cache=True)
def _act(
    i,
    t_ns,
    kind,
    params,
    acct,
    levels,
    orders,
    oid_slot,
    bstate,
    rules,
    fills,
    g,
    gi,
    rng,
    is_hft,
    llm_model,
):
    """Trader ``i`` wakes at ``t_ns`` and sends its order actions: the dispatch to the
    kernel of its kind (``kind[i]``)."""
    k = kind[i]
    batch = batch_mode(rules)
    # in batch-auction mode, before the open nothing trades (the first batch is at the
    # open + interval): orders to trade now would only wait, so none are sent
    pre_open = batch and t_ns < rules[X_OPEN_NS]
    if k == NOISE:
        _noise(
            i,
            t_ns,
            pre_open,
            params,
            acct,
            levels,
            orders,
            oid_slot,
            bstate,
            rules,
            fills,
            g,
            gi,
            rng,
            is_hft,
        )
    elif k == MARKET_MAKER:
        _market_maker(
            i,
            t_ns,
            batch,
            kind,
            params,
            acct,
            levels,
            orders,
            oid_slot,
            bstate,
            rules,
            fills,
            g,
            gi,
            is_hft,
        )
    elif k == HFT:
        _hft(
            i,
            t_ns,
            batch,
            pre_open,
            params,
            acct,
            levels,
            orders,
            oid_slot,
            bstate,
            rules,
            fills,
            g,
            gi,
            is_hft,
        )
    elif pre_open:
        return  # the other kinds only send orders meant to trade at once
    elif k == FUNDAMENTAL or k == MOMENTUM:
        _threshold_trader(
            i,
            t_ns,
            k,
            params,
            acct,
            levels,
            orders,
            oid_slot,
            bstate,
            rules,
            fills,
            g,
            gi,
            is_hft,
        )
    elif k == SELL_PROGRAMME:
        _sell_programme(
            i,
            t_ns,
            params,
            acct,
            levels,
            orders,
            oid_slot,
            bstate,
            rules,
            fills,
            g,
            gi,
            is_hft,
        )
    elif k == LLM:
        _llm_trader(
            i,
            t_ns,
            params,
            acct,
            levels,
            orders,
            oid_slot,
            bstate,
            rules,
            fills,
            g,
            gi,
            is_hft,
            llm_model,
        )


@njit(cache=True)
def _room(n_acts, orders, oid_slot, fills, bstate, gi, rules):
    """Is there room for ``n_acts`` whole trader actions? Writes what they may need to
    ``gi[I_NEED_SLOTS]`` (free order slots), ``gi[I_NEED_IDS]`` (id map length) and
    ``gi[I_NEED_FILLS]`` (free fill records), for the caller to grow the arrays.

    The bounds are exact worst cases, not guesses: the actions send at most
    ``new = ACT_MAX_ORDERS * n_acts`` orders, and the speed bump may release ``waiting``
    ones. Each of them may rest (a slot). Every fill either uses up a resting order
    (at most ``resting + waiting + new`` of them) or ends a taking order (at most
    ``waiting + new``).
    """
    resting = bstate[S_N_BID] + bstate[S_N_ASK]
    waiting = bump_waiting(rules)
    new = ACT_MAX_ORDERS * n_acts
    gi[I_NEED_SLOTS] = waiting + new
    gi[I_NEED_IDS] = gi[I_NEXT_OID] + new + 1
    gi[I_NEED_FILLS] = resting + 2 * (waiting + new)
    return (
        orders.shape[1] - resting >= gi[I_NEED_SLOTS]
        and oid_slot.shape[0] >= gi[I_NEED_IDS]
        and fills.shape[0] - gi[I_N_FILLS] >= gi[I_NEED_FILLS]
    )


@njit(cache=True)
def run_chunk(
    t_stop_ns,
    kind,
    params,
    acct,
    is_hft,
    bg_idx,
    bg_cum,
    fast_idx,
    fast_cum,
    levels,
    orders,
    oid_slot,
    bstate,
    rules,
    fills,
    g,
    gi,
    rng,
    snap,
    llm_model,
    llm_rng,
):
    """Advance the market to ``t_stop_ns``; returns ``DONE`` or ``NEED_SPACE``.

    ``llm_model`` (``float64[n_models, N_MODEL_COLS]``, zero rows without LLM traders)
    holds each base model's bias and current error; ``llm_rng`` (``uint64[4]``) is the
    stream of those errors, apart from ``rng`` so the rest of the market draws the same
    numbers whatever the base models.

    On ``NEED_SPACE`` nothing is half done: the caller drains ``fills`` (resets
    ``gi[I_N_FILLS]``), grows ``orders``, ``oid_slot`` and ``fills`` to what
    ``gi[I_NEED_*]`` asks (see :func:`_room`), and calls again. Room is reserved for
    every market maker before each second's requotes and for one action before each
    event, so no action ever writes past an array.
    """
    n_mm = np.int64(g[G_N_MM])
    while True:
        t_bg = gi[I_T_BG]
        t_fast = gi[I_T_FAST]
        t = min(t_bg, t_fast)
        # the book as it stood at each whole second before this event
        while gi[I_NEXT_SECOND] <= min(t, t_stop_ns) and gi[I_NEXT_SECOND] <= gi[I_SESSION_END_NS]:
            # news arrives on the second and every market maker requotes around the new
            # reference price before the book is recorded
            if not _room(n_mm, orders, oid_slot, fills, bstate, gi, rules):
                return NEED_SPACE
            ts = gi[I_NEXT_SECOND]
            _news(g, rng)
            _llm_errors(g, llm_model, llm_rng)
            for j in range(fast_idx.shape[0]):
                if kind[fast_idx[j]] == MARKET_MAKER:
                    _act(
                        fast_idx[j],
                        ts,
                        kind,
                        params,
                        acct,
                        levels,
                        orders,
                        oid_slot,
                        bstate,
                        rules,
                        fills,
                        g,
                        gi,
                        rng,
                        is_hft,
                        llm_model,
                    )
            _on_second(ts, levels, bstate, g, gi, acct, kind, snap, rng, rules)
            gi[I_NEXT_SECOND] += NS_PER_SECOND
        if t >= t_stop_ns:
            return DONE
        if not _room(1, orders, oid_slot, fills, bstate, gi, rules):
            return NEED_SPACE
        background = t_bg <= t_fast
        i = bg_idx[_pick(bg_cum, rng)] if background else fast_idx[_pick(fast_cum, rng)]
        _act(
            i,
            t,
            kind,
            params,
            acct,
            levels,
            orders,
            oid_slot,
            bstate,
            rules,
            fills,
            g,
            gi,
            rng,
            is_hft,
            llm_model,
        )
        if background:
            gi[I_T_BG] = t + _exp_ns(rng, g[G_RATE_BG] * np.exp(g[G_X]))
        else:
            gi[I_T_FAST] = t + _exp_ns(rng, g[G_RATE_FAST])
