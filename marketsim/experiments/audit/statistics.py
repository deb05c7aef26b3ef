r"""Statistics of the audit: the 95% t-interval of a mean over sessions, and the benchmarks
of a market (Nash and monopoly prices and profits) giving the price index
:math:`(p - p^N)/(p^M - p^N)` and the profit gain :math:`\Delta = (\pi - \pi^N)/(\pi^M - \pi^N)`
(both defined once, in :mod:`marketsim.logit`)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from marketsim import logit
from marketsim.logit import LogitMarket
from marketsim.measures import t_interval


def mean_ci(x) -> dict:
    """Mean, sd and 95% t-interval of the mean (:func:`marketsim.measures.t_interval`);
    ``None`` for what one observation cannot give."""
    x = np.asarray(x, dtype=float)
    x = x[np.isfinite(x)]
    if x.size == 0:
        return {"mean": None, "sd": None, "ci_low": None, "ci_high": None, "n": 0}
    mean, low, high = t_interval(x, 0.95)
    if x.size == 1:
        return {"mean": mean, "sd": None, "ci_low": None, "ci_high": None, "n": 1}
    sd = float(x.std(ddof=1))
    return {"mean": mean, "sd": sd, "ci_low": float(low), "ci_high": float(high), "n": int(x.size)}


@dataclass
class Benchmarks:
    nash_price: np.ndarray
    monopoly_price: np.ndarray
    nash_profit: np.ndarray
    monopoly_profit: np.ndarray

    @classmethod
    def of(cls, market: LogitMarket) -> Benchmarks:
        return cls(
            market.nash_prices(),
            market.monopoly_prices(),
            market.nash_profits(),
            market.monopoly_profits(),
        )

    def price_index(self, P):
        return logit.price_index(P, self.nash_price, self.monopoly_price)

    def profit_gain(self, PI):
        return logit.profit_gain(PI, self.nash_profit, self.monopoly_profit)


def _window(periods: int) -> slice:
    return slice(periods - max(1, periods // 4), periods)
