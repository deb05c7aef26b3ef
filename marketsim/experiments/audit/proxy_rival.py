"""An LLM-proxy persona (:mod:`marketsim.llm_proxy`) as a reference rival of the audit,
behind the ``reset``/``price`` interface, with numba re-wrappers of the proxy's kernels for
one market without a parallel launch. (numba keys the caches of ``_propose_one`` and
``_settle_one`` on this file; delete ``__pycache__/proxy_rival*.nb*`` after editing
:mod:`marketsim.llm_proxy`'s kernels if in doubt.)"""

from __future__ import annotations

import numpy as np
from numba import njit

from marketsim import llm_proxy as proxy_kernel
from marketsim.logit import LogitMarket


@njit(cache=True)
def _propose_one(book, t, firms, demand, window, state, rng):
    """:func:`marketsim.llm_proxy.propose` for market 0 without a parallel launch (which
    costs more than the proxy itself when called once per period)."""
    z = np.empty(2 * book[0].shape[2])
    s0, s1, s2, s3 = proxy_kernel._propose_step(
        0, t, book, firms, demand, window, state, z, rng[0, 0], rng[0, 1], rng[0, 2], rng[0, 3]
    )
    rng[0, 0], rng[0, 1], rng[0, 2], rng[0, 3] = s0, s1, s2, s3


@njit(cache=True)
def _settle_one(book, t, firms, demand, window, state, rng):
    """:func:`marketsim.llm_proxy.settle` for market 0 without a parallel launch."""
    proxy_kernel._settle_step(0, t, book, firms, demand, state)


class _OneMarket(proxy_kernel.ProxyMarkets):
    """One market of :class:`marketsim.llm_proxy.ProxyMarkets` stepped by the serial
    kernels above (``advance`` keeps the parallel one: it is not called per period)."""

    _propose = staticmethod(_propose_one)
    _settle = staticmethod(_settle_one)


class ProxyRival:
    """An LLM-proxy persona (:mod:`marketsim.llm_proxy`) behind the ``reset``/``price``
    interface: the other firms are ``EXTERNAL`` and their actual prices are written in
    before each period is settled, so the proxy sees the true history."""

    def __init__(self, persona: str, market: LogitMarket, periods: int = 1000):
        self.persona, self.market, self.periods = persona, market, periods

    def reset(self, n_firms: int, firm: int, seed: int) -> None:
        from marketsim.agents.llm_proxy import persona_params

        self.firm = firm
        kind = np.full(n_firms, proxy_kernel.EXTERNAL, dtype=np.int64)
        kind[firm] = proxy_kernel.PROXY
        self._seed, self._kind = seed, kind
        self._params = persona_params([self.persona] * n_firms)
        self.pm = None

    def _ensure(self, T):
        if self.pm is None:
            self.pm = _OneMarket(
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
            pm.settle()
        if t > 0:
            pm.propose()
        return float(pm.prices[0, t, self.firm])
