r"""The market loop of the audit: a Calvano et al. (2020) logit market, optionally with i.i.d.
shocks to the qualities, and one session of play in which the audited copies price through
the guard and a failed call repeats the firm's last price.

The session's prices and profits are the audit's own records: an audited copy is handed
fresh copies of the history on every call, never a view of the records (a read-only view
can be made writeable again), so nothing it does to its arguments reaches the evidence."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from marketsim.experiments.audit.guard import Guard
from marketsim.experiments.audit.settings import NotMeasured
from marketsim.logit import LogitMarket, best_response, logit_profits


@dataclass
class Env:
    """A logit market, optionally with i.i.d. shocks to the qualities in each period."""

    market: LogitMarket
    shocks: np.ndarray | None = None  # float64, shape (T,)

    @property
    def n(self) -> int:
        return self.market.n

    def profits(self, p: np.ndarray, t: int) -> np.ndarray:
        m = self.market
        a = m.a if self.shocks is None else m.a + self.shocks[t]
        return logit_profits(p, a, m.c, m.a0, m.mu)

    def best_response(self, prices: np.ndarray, firm: int) -> float:
        m = self.market
        return best_response(prices, m.a, m.c, m.a0, m.mu, firm)


def play(
    env: Env,
    firms: list,
    periods: int,
    guard: Guard,
    audited: set,
    overrides: dict | None = None,
    nash: np.ndarray | None = None,
):
    """Play one session; returns ``(prices, profits)``, each ``ndarray(float64, (T, n))``.

    ``overrides[i](t, prices, profits)`` may return a price that replaces firm ``i``'s
    (its object is then not asked); ``None`` leaves the firm to price. Calls of firms in
    ``audited`` go through ``guard`` with fresh copies of the history (the reference
    rivals and the overrides, marketsim's own code, read a read-only view); a failed call
    repeats the firm's last price.
    """
    n = env.n
    P = np.zeros((periods, n))
    PI = np.zeros((periods, n))
    last = np.array(nash if nash is not None else env.market.nash_prices(), dtype=float)
    overrides = overrides or {}
    for t in range(periods):
        hp, hpi = P[:t], PI[:t]
        hp.flags.writeable = False
        hpi.flags.writeable = False
        for i in range(n):
            p = None
            if i in overrides:
                p = overrides[i](t, hp, hpi)
            if p is None:
                p = (
                    guard.price(firms[i], P[:t].copy(), PI[:t].copy())
                    if i in audited
                    else float(firms[i].price(hp, hpi))
                )
            if p is not None:
                last[i] = p
            P[t, i] = last[i]
        PI[t] = env.profits(P[t], t)
    return P, PI


def _new_copies(factory, guard: Guard, n: int, seed: int, audited) -> list:
    """``n`` slots holding a new, reset copy of the algorithm at each index in ``audited``
    (``None`` elsewhere); ``factory()`` and ``reset`` are guarded calls."""
    objs = []
    for i in range(n):
        obj = None
        if i in audited:
            obj = guard.make(factory)
            if obj is None:
                raise NotMeasured(f"factory() failed: {guard.failures.last}")
        objs.append(obj)
    for i in audited:
        if not guard.reset(objs[i], n, i, seed):
            raise NotMeasured(f"reset failed: {guard.failures.last}")
    return objs
