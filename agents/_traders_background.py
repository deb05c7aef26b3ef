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
:mod:`marketsim.agents._traders_layout`) and draws from ``rng`` in a fixed order; it takes
the :class:`~marketsim.agents._traders_layout.Market` and
:class:`~marketsim.agents._traders_layout.Traders` bundles.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from marketsim.agents import _traders_layout as T
from marketsim.agents._traders_draws import _pareto_size, _u
from marketsim.agents._traders_orders import _cancel_own, _market_order, _reference, _rest, price_x2
from marketsim.llm_proxy import NO_ORDER, trader_order, trader_signal
from marketsim.records import BUY, SELL


@njit(cache=True)
def _noise(i, t_ns, pre_open, market, traders, rng):
    """Noise trader ``i`` wakes: cancel, then one market or limit order.

    Draws, in order: the order type, the side, the size, and for a limit order its
    distance behind the quotes. Before the open of a batch auction a market order is
    drawn but not sent (it could not trade); limit orders rest as at any time."""
    size = traders.params[i, T.P_SIZE]
    _cancel_own(i, t_ns, market, traders)
    alpha = traders.params[i, T.P_NOISE_ALPHA]
    if _u(rng) < traders.params[i, T.P_NOISE_P_MARKET]:
        side = BUY if _u(rng) * (1.0 + np.exp(-market.g[T.G_FLOW])) < 1.0 else SELL
        q = _pareto_size(rng, size, alpha, np.int64(50 * size))
        if pre_open:
            return
        _market_order(i, t_ns, side, q, market, traders)
    else:
        side = BUY if _u(rng) < 0.5 else SELL
        q = _pareto_size(rng, size, alpha, np.int64(50 * size))
        # liquidity thins out near the mid when volatility rises
        scale = traders.params[i, T.P_NOISE_SCALE] * (
            1.0 + market.g[T.G_WIDEN] * np.sqrt(market.g[T.G_VAR])
        )
        delta = np.int64(-scale * np.log(1.0 - _u(rng)))
        # behind the market makers' quotes around the reference price, so the
        # depth refills there and the mid does not bounce with noise orders
        ref = _reference(market.g)
        gap = market.g[T.G_NOISE_GAP] + market.g[T.G_MM_VOL_COEF] * np.sqrt(market.g[T.G_VAR])
        if side == BUY:
            p = np.int64(np.floor(ref - gap)) - delta
        else:
            p = np.int64(np.ceil(ref + gap)) + delta
        _rest(i, t_ns, side, p, q, market, traders)


@njit(cache=True)
def _threshold_trader(i, t_ns, k, market, traders):
    """Fundamental or momentum trader ``i`` (kind ``k``) wakes: a market order when its
    signal (log value gap or log trend) exceeds its threshold. No random draws."""
    mid = 0.5 * price_x2(market)
    if k == T.FUNDAMENTAL:
        value = market.g[T.G_F] * np.exp(traders.params[i, T.P_FUND_OFFSET])
        signal = np.log(value / mid)
    else:
        ema = market.g[T.G_EMA0 + np.int64(traders.params[i, T.P_MOM_HORIZON])]
        signal = np.log(mid / ema)
    th = traders.params[i, T.P_THRESHOLD]
    if abs(signal) > th:
        q = np.int64(
            traders.params[i, T.P_SIZE] * min(abs(signal) / th, traders.params[i, T.P_MAX_MULTIPLE])
        )
        side = BUY if signal > 0 else SELL
        _market_order(i, t_ns, side, max(q, 1), market, traders)


@njit(cache=True)
def _llm_trader(i, t_ns, market, traders, llm_model):
    """LLM-style trader ``i`` wakes: the proxy's market order, if any. No random draws
    (its base model's error moves once a second on a stream of its own)."""
    mid = 0.5 * price_x2(market)
    j = np.int64(traders.params[i, T.P_LLM_MODEL])
    h = T.EMA_HORIZONS_S[0]
    trend = (mid - market.g[T.G_EMA0]) / (np.sqrt(market.g[T.G_VAR] * h) + 1e-12)
    sig = trader_signal(
        market.g[T.G_NEWS],
        trend,
        llm_model[j, T.M_BIAS],
        llm_model[j, T.M_ERROR],
        traders.params[i, T.P_LLM_NEWS_WEIGHT],
        traders.params[i, T.P_LLM_TREND_WEIGHT],
        market.g[T.G_LLM_TEMP],
    )
    side, q = trader_order(
        sig,
        traders.params[i, T.P_LLM_THRESHOLD],
        traders.params[i, T.P_SIZE],
        traders.params[i, T.P_LLM_ORDER_MAX],
    )
    if side != NO_ORDER:
        _market_order(i, t_ns, side, q, market, traders)
