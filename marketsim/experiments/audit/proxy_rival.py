"""An LLM-proxy persona (:mod:`marketsim.llm_proxy`) as a reference rival of the audit,
behind the ``reset``/``price`` interface, with numba re-wrappers of the proxy's kernels for
one market without a parallel launch. (numba keys the caches of ``_proxy_propose`` and
``_proxy_settle`` on this file; delete ``__pycache__/proxy_rival*.nb*`` after editing
:mod:`marketsim.llm_proxy`'s kernels if in doubt.)"""

from __future__ import annotations

import numpy as np
from numba import njit

from marketsim import llm_proxy as proxy_kernel
from marketsim.logit import LogitMarket


@njit(cache=True)
def _proxy_propose(
    prices,
    shares,
    profits,
    rival,
    t,
    kind,
    fixed_price,
    params,
    model_id,
    bias_markup,
    bias_belief,
    c,
    mu,
    window,
    slope_own,
    slope_cross,
    belief,
    fear,
    best_price,
    plan,
    rng,
):
    """:func:`marketsim.llm_proxy.propose` for market 0 without a parallel launch (which
    costs more than the proxy itself when called once per period)."""
    n = prices.shape[2]
    z = np.empty(2 * n)
    s0, s1, s2, s3 = proxy_kernel._draw_models(z, rng[0, 0], rng[0, 1], rng[0, 2], rng[0, 3])
    proxy_kernel._propose_market(
        0,
        t,
        prices,
        shares,
        profits,
        rival,
        kind,
        fixed_price,
        params,
        model_id,
        bias_markup,
        bias_belief,
        c,
        mu,
        window,
        slope_own,
        slope_cross,
        belief,
        fear,
        best_price,
        plan,
        z,
    )
    rng[0, 0], rng[0, 1], rng[0, 2], rng[0, 3] = s0, s1, s2, s3


@njit(cache=True)
def _proxy_settle(prices, shares, profits, rival, t, fear, kind, params, a, c, a0, mu):
    proxy_kernel._settle_market(
        0, t, prices, shares, profits, rival, fear, kind, params, a, c, a0, mu
    )


class ProxyRival:
    """An LLM-proxy persona (:mod:`marketsim.llm_proxy`) behind the ``reset``/``price``
    interface: the other firms are ``EXTERNAL`` and their actual prices are written in
    before each period is settled, so the proxy sees the true history."""

    def __init__(self, persona: str, market: LogitMarket, periods: int = 1000):
        self.persona, self.market, self.periods = persona, market, periods

    def reset(self, n_firms: int, firm: int, seed: int) -> None:
        from marketsim import llm_proxy as kernel
        from marketsim.agents.llm_proxy import persona_params

        self.firm = firm
        kind = np.full(n_firms, kernel.EXTERNAL, dtype=np.int64)
        kind[firm] = kernel.PROXY
        self._seed, self._kind = seed, kind
        self._params = persona_params([self.persona] * n_firms)
        self.pm = None

    def _ensure(self, T):
        from marketsim import llm_proxy as kernel

        if self.pm is None:
            self.pm = kernel.ProxyMarkets(
                self.market, 1, max(self.periods, T) + 1, self._params, self._seed, kind=self._kind
            )
        elif self.pm.T <= T:
            self.pm.extend(T + 1 - self.pm.T + self.periods)

    def price(self, prices, profits) -> float:
        t = len(prices)
        self._ensure(t)
        pm = self.pm
        while pm.t < t:
            pm.prices[0, pm.t, :] = prices[pm.t]
            _proxy_settle(
                pm.prices,
                pm.shares,
                pm.profits,
                pm.rival,
                pm.t,
                pm.fear,
                pm.kind,
                pm.params,
                pm.a,
                pm.c,
                pm.a0,
                pm.mu,
            )
            pm.t += 1
        if t == 0:
            return float(pm.prices[0, 0, self.firm])
        _proxy_propose(
            pm.prices,
            pm.shares,
            pm.profits,
            pm.rival,
            t,
            pm.kind,
            pm.fixed_price,
            pm.params,
            pm.model_id,
            pm.bias_markup,
            pm.bias_belief,
            pm.c,
            pm.mu,
            pm.window,
            *pm._state(),
            pm.rng,
        )
        return float(pm.prices[0, t, self.firm])
