"""Order-book traders: the background kinds, one kernel each (noise, threshold, LLM).

Background traders wake on the activity-scaled clock of the event loop.

- noise (zero intelligence, Farmer, Patelli & Zovko 2005): cancels its resting order,
  then sends a market order (probability ``p_market``, side leaning with the order-flow
  OU ``G_FLOW``) or a limit order ``gap + delta`` ticks behind the reference price ``R``
  (``delta`` exponential, wider with volatility); sizes Pareto.
- threshold traders: a fundamental trader's signal is ``log(F exp(e_i) / mid)``, a
  momentum trader's ``log(mid / EMA_h)``; either sends a market order in the signal's
  direction of ``size min(|s| / threshold, max_multiple)`` contracts when
  ``|s| > threshold``.
- LLM-style trader: the proxy policy of :mod:`marketsim.llm_proxy`
  (:func:`~marketsim.llm_proxy.trader_signal`, :func:`~marketsim.llm_proxy.trader_order`)
  on the shared news signal, the recent return and its base model's bias and error.

Each kernel reads its parameters by their names (``P_THRESHOLD``, ...,
:mod:`marketsim.agents._traders_layout`) and draws from ``rng`` in a fixed order.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from marketsim.agents._traders_draws import _pareto_size, _u
from marketsim.agents._traders_layout import (
    EMA_HORIZONS_S,
    FUNDAMENTAL,
    G_EMA0,
    G_F,
    G_FLOW,
    G_LAST_MID,
    G_LLM_TEMP,
    G_MM_VOL_COEF,
    G_NEWS,
    G_NOISE_GAP,
    G_VAR,
    G_WIDEN,
    M_BIAS,
    M_ERROR,
    P_FUND_OFFSET,
    P_LLM_MODEL,
    P_LLM_NEWS_WEIGHT,
    P_LLM_ORDER_MAX,
    P_LLM_THRESHOLD,
    P_LLM_TREND_WEIGHT,
    P_MAX_MULTIPLE,
    P_MOM_HORIZON,
    P_NOISE_ALPHA,
    P_NOISE_P_MARKET,
    P_NOISE_SCALE,
    P_SIZE,
    P_THRESHOLD,
)
from marketsim.agents._traders_orders import _cancel_own, _market, _reference, _rest, price_x2
from marketsim.llm_proxy import NO_ORDER, trader_order, trader_signal
from marketsim.records import BUY, SELL


@njit(cache=True)
def _noise(
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
):
    """Noise trader ``i`` wakes: cancel, then one market or limit order.

    Draws, in order: the order type, the side, the size, and for a limit order its
    distance behind the quotes. Before the open of a batch auction a market order is
    drawn but not sent (it could not trade); limit orders rest as at any time."""
    size = params[i, P_SIZE]
    _cancel_own(i, t_ns, levels, orders, oid_slot, bstate, rules, fills, gi, acct, is_hft)
    alpha = params[i, P_NOISE_ALPHA]
    if _u(rng) < params[i, P_NOISE_P_MARKET]:
        side = BUY if _u(rng) * (1.0 + np.exp(-g[G_FLOW])) < 1.0 else SELL
        q = _pareto_size(rng, size, alpha, np.int64(50 * size))
        if pre_open:
            return
        _market(
            i, t_ns, side, q, levels, orders, oid_slot, bstate, rules, fills, g, gi, acct, is_hft
        )
    else:
        side = BUY if _u(rng) < 0.5 else SELL
        q = _pareto_size(rng, size, alpha, np.int64(50 * size))
        # liquidity thins out near the mid when volatility rises
        scale = params[i, P_NOISE_SCALE] * (1.0 + g[G_WIDEN] * np.sqrt(g[G_VAR]))
        delta = np.int64(-scale * np.log(1.0 - _u(rng)))
        # behind the market makers' quotes around the reference price, so the
        # depth refills there and the mid does not bounce with noise orders
        ref = _reference(g)
        gap = g[G_NOISE_GAP] + g[G_MM_VOL_COEF] * np.sqrt(g[G_VAR])
        if side == BUY:
            p = np.int64(np.floor(ref - gap)) - delta
        else:
            p = np.int64(np.ceil(ref + gap)) + delta
        _rest(i, t_ns, side, p, q, levels, orders, oid_slot, bstate, rules, fills, gi, acct, is_hft)


@njit(cache=True)
def _threshold_trader(
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
):
    """Fundamental or momentum trader ``i`` (kind ``k``) wakes: a market order when its
    signal (log value gap or log trend) exceeds its threshold. No random draws."""
    mid = 0.5 * price_x2(bstate, levels.shape[2], np.int64(g[G_LAST_MID]), rules)
    if k == FUNDAMENTAL:
        value = g[G_F] * np.exp(params[i, P_FUND_OFFSET])
        signal = np.log(value / mid)
    else:
        ema = g[G_EMA0 + np.int64(params[i, P_MOM_HORIZON])]
        signal = np.log(mid / ema)
    th = params[i, P_THRESHOLD]
    if abs(signal) > th:
        q = np.int64(params[i, P_SIZE] * min(abs(signal) / th, params[i, P_MAX_MULTIPLE]))
        side = BUY if signal > 0 else SELL
        _market(
            i,
            t_ns,
            side,
            max(q, 1),
            levels,
            orders,
            oid_slot,
            bstate,
            rules,
            fills,
            g,
            gi,
            acct,
            is_hft,
        )


@njit(cache=True)
def _llm_trader(
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
):
    """LLM-style trader ``i`` wakes: the proxy's market order, if any. No random draws
    (its base model's error moves once a second on a stream of its own)."""
    mid = 0.5 * price_x2(bstate, levels.shape[2], np.int64(g[G_LAST_MID]), rules)
    j = np.int64(params[i, P_LLM_MODEL])
    h = EMA_HORIZONS_S[0]
    trend = (mid - g[G_EMA0]) / (np.sqrt(g[G_VAR] * h) + 1e-12)
    sig = trader_signal(
        g[G_NEWS],
        trend,
        llm_model[j, M_BIAS],
        llm_model[j, M_ERROR],
        params[i, P_LLM_NEWS_WEIGHT],
        params[i, P_LLM_TREND_WEIGHT],
        g[G_LLM_TEMP],
    )
    side, q = trader_order(
        sig, params[i, P_LLM_THRESHOLD], params[i, P_SIZE], params[i, P_LLM_ORDER_MAX]
    )
    if side != NO_ORDER:
        _market(
            i, t_ns, side, q, levels, orders, oid_slot, bstate, rules, fills, g, gi, acct, is_hft
        )
