"""Reference pricing algorithms for the audit harness (:mod:`marketsim.experiments.audit`).

Each is a plain Python class with the plug-in interface an audited algorithm must have:

* ``reset(n_firms, firm, seed)``: start a new session as firm ``firm`` (0-based) of
  ``n_firms``; ``seed`` is the session's seed;
* ``price(prices, profits) -> float``: the price of the next period given the history so
  far; ``prices`` and ``profits`` are ``ndarray(float64, shape (t, n_firms))`` with rows
  in time order (``t = 0`` on the first call).

They know the Calvano et al. (2020) baseline market (``a = 2, c = 1, a0 = 0, mu = 0.25``)
and use it to compute Nash, monopoly and best-response prices; under the audit's
robustness variants they keep believing in it, as a deployed algorithm would.

=======================  ===============================================  ==================
class                    behaviour                                        expected verdict
=======================  ===============================================  ==================
``CompetitivePricer``    static best response to the rivals' last prices  competitive
``CalvanoQPricer``       greedy Q-learning strategy (Calvano et al. 2020) collusive
``GrimTriggerPricer``    monopoly price until a rival undercuts, then     collusive
                         Nash forever
``FixedHighPricer``      always the monopoly price, never reacts          supra-competitive
                                                                          without punishment
=======================  ===============================================  ==================
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np

from marketsim.logit import LogitMarket, best_response


@lru_cache(maxsize=16)
def _benchmarks(n: int) -> tuple[float, float]:
    market = LogitMarket.symmetric(n)
    return float(market.nash_prices()[0]), float(market.monopoly_prices()[0])


class CompetitivePricer:
    """Static best response to the rivals' last prices (one-shot Bertrand play).

    Starts at the Nash price; in self-play the prices stay at the Bertrand-Nash
    equilibrium, so its audit verdict is ``competitive``.
    """

    def reset(self, n_firms: int, firm: int, seed: int) -> None:
        self.n, self.firm = int(n_firms), int(firm)
        self.market = LogitMarket.symmetric(self.n)
        self.nash = _benchmarks(self.n)[0]

    def price(self, prices: np.ndarray, profits: np.ndarray) -> float:
        if len(prices) == 0:
            return self.nash
        m = self.market
        return best_response(prices[-1], m.a, m.c, m.a0, m.mu, self.firm)


class FixedHighPricer:
    """Always the joint-monopoly price, whatever the rivals do (no punishment)."""

    def reset(self, n_firms: int, firm: int, seed: int) -> None:
        self.p = _benchmarks(int(n_firms))[1]

    def price(self, prices: np.ndarray, profits: np.ndarray) -> float:
        return self.p


class GrimTriggerPricer:
    """Monopoly price while every rival prices at least ``tolerance`` below it; after the
    first undercut, the Nash price forever (Friedman's grim trigger).

    Parameters
    ----------
    tolerance : float, relative undercut that counts as a deviation (default 1%)
    """

    def __init__(self, tolerance: float = 0.01):
        self.tolerance = float(tolerance)

    def reset(self, n_firms: int, firm: int, seed: int) -> None:
        self.n, self.firm = int(n_firms), int(firm)
        self.nash, self.monopoly = _benchmarks(self.n)
        self.triggered = False

    def price(self, prices: np.ndarray, profits: np.ndarray) -> float:
        if not self.triggered and len(prices):
            rivals = np.delete(prices[-1], self.firm)
            if np.any(rivals < self.monopoly * (1.0 - self.tolerance)):
                self.triggered = True
        return self.nash if self.triggered else self.monopoly


@lru_cache(maxsize=4096)  # small entries; punishment replays every session
def _trained_strategies(n: int, seed: int, beta: float):
    """Greedy strategies of one Calvano session trained to convergence (cached, so the
    copies of a self-play session share one training run, as in the paper)."""
    from marketsim.qlearning import QLearningSessions

    market = LogitMarket.symmetric(n)
    grid = market.price_grid(15, 0.1)
    profit = market.profit_table(grid)
    q = QLearningSessions(
        profit,
        grid,
        k=1,
        alpha=0.15,
        beta=beta,
        delta=0.95,
        seed=int(seed),
        sessions=1,
        max_periods=20_000_000,
    )
    while q.running:
        q.advance(2_000_000)
    return q.strategy[0].copy(), int(q.state[0]), grid


class CalvanoQPricer:
    """A Calvano et al. (2020) Q-learner, trained in ``reset`` and then priced greedily.

    ``reset`` trains one baseline session (n firms, m = 15, xi = 0.1, k = 1,
    alpha = 0.15, delta = 0.95) with the session seed until convergence using the numba
    kernels of :mod:`marketsim.qlearning`, and keeps this firm's greedy strategy. Each
    period the last period's prices are mapped to the nearest grid points (the state) and
    the strategy's grid price is returned; on the first call the state is the one the
    training ended in. Copies reset with one seed share the training session, so
    self-play reproduces the session's limit cycle.

    Parameters
    ----------
    beta : float, exploration decay of the training (the paper's 4e-6 by default)
    """

    def __init__(self, beta: float = 4e-6):
        self.beta = float(beta)

    def reset(self, n_firms: int, firm: int, seed: int) -> None:
        self.n, self.firm = int(n_firms), int(firm)
        strategy, self.state0, self.grid = _trained_strategies(self.n, int(seed), self.beta)
        self.strategy = strategy[self.firm]
        self.m = self.grid.shape[1]

    def state_of(self, last_prices: np.ndarray) -> int:
        """The state index of a row of prices (each mapped to its nearest grid point)."""
        idx = np.abs(self.grid - np.asarray(last_prices)[:, None]).argmin(axis=1)
        return int(np.sum(idx * self.m ** np.arange(self.n)))

    def price(self, prices: np.ndarray, profits: np.ndarray) -> float:
        s = self.state0 if len(prices) == 0 else self.state_of(prices[-1])
        return float(self.grid[self.firm, self.strategy[s]])


#: the four reference algorithms, by the name used in ``module:factory`` form
REFERENCE_PRICERS = {
    "competitive": CompetitivePricer,
    "calvano_q": CalvanoQPricer,
    "grim_trigger": GrimTriggerPricer,
    "fixed_high": FixedHighPricer,
}
