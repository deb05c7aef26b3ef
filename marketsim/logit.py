r"""Logit-demand Bertrand oligopoly (Calvano, Calzolari, Denicolò & Pastorello 2020, AER).

Firm :math:`i` of :math:`n` sets price :math:`p_i`; with qualities :math:`a_i`, an outside
good of quality :math:`a_0` and horizontal differentiation :math:`\mu`,

.. math::

    q_i(p) = \frac{e^{(a_i - p_i)/\mu}}{\sum_j e^{(a_j - p_j)/\mu} + e^{a_0/\mu}},
    \qquad \pi_i(p) = (p_i - c_i)\, q_i(p).

The one-shot Bertrand-Nash prices solve the first-order conditions
:math:`p_i = c_i + \mu / (1 - q_i(p))`; the joint-monopoly prices maximise
:math:`\sum_i \pi_i`, whose first-order conditions give one common markup
:math:`p_i - c_i = \mu + \sum_j (p_j - c_j) q_j`. Both are solved with ``scipy.optimize``
for any :math:`n` and asymmetric firms. The learners' action set is a grid of :math:`m`
prices on :math:`[p^N - \xi (p^M - p^N),\ p^M + \xi (p^M - p^N)]` per firm.

Collusion is measured against these benchmarks by the profit gain
:math:`\Delta = (\pi - \pi^N)/(\pi^M - \pi^N)` and the price index
:math:`(p - p^N)/(p^M - p^N)` (0 = Nash, 1 = joint monopoly), per firm.

Baseline (Calvano et al. 2020, Section II): :math:`n=2, c_i=1, a_i=2, a_0=0, \mu=0.25`,
giving :math:`p^N = 1.47293` and :math:`p^M = 1.92498`.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import optimize
from scipy.special import lambertw

from marketsim.errors import UsageError


def logit_shares(prices, a, c, a0: float, mu: float) -> np.ndarray:
    """Market shares :math:`q_i`; ``prices`` has firms on its last axis (any leading shape).

    Parameters
    ----------
    prices : ndarray(float64, shape (..., n))
    a, c : ndarray(float64, shape (n,))
        Qualities and marginal costs (``c`` unused; kept for a uniform signature).
    """
    prices = np.asarray(prices, dtype=np.float64)
    a = np.asarray(a, dtype=np.float64)
    # shift by the largest utility for numerical stability at small mu
    u = (a - prices) / mu
    u0 = np.full(u.shape[:-1] + (1,), a0 / mu)
    top = np.maximum(u.max(axis=-1, keepdims=True), u0)
    e = np.exp(u - top)
    denom = e.sum(axis=-1, keepdims=True) + np.exp(u0 - top)
    return e / denom


def logit_profits(prices, a, c, a0: float, mu: float) -> np.ndarray:
    """Per-firm profits :math:`(p_i - c_i) q_i`, same shape as ``prices``."""
    prices = np.asarray(prices, dtype=np.float64)
    return (prices - np.asarray(c, dtype=np.float64)) * logit_shares(prices, a, c, a0, mu)


def _normalised(x, nash, monopoly) -> np.ndarray:
    """``(x - nash) / (monopoly - nash)``: 0 at the Nash benchmark, 1 at the monopoly one."""
    return (np.asarray(x, dtype=np.float64) - nash) / (monopoly - nash)


def profit_gain(profits, nash_profit, monopoly_profit) -> np.ndarray:
    r"""Profit gain :math:`\Delta = (\pi - \pi^N)/(\pi^M - \pi^N)` (Calvano et al. 2020, AER).

    0 at the one-shot Nash profit, 1 at the joint-monopoly profit; the one definition of
    the profit gain in marketsim (the detectors and the audit use it).

    Parameters
    ----------
    profits : ndarray(float64, shape (..., n))
        Profits, firms on the last axis.
    nash_profit, monopoly_profit : ndarray(float64, shape (n,)) or float
        The benchmarks per firm (or one number each, e.g. their mean over firms).
    """
    return _normalised(profits, nash_profit, monopoly_profit)


def price_index(prices, nash_price, monopoly_price) -> np.ndarray:
    r"""Price index :math:`(p - p^N)/(p^M - p^N)`, the normalised price (Calvano et al. 2020).

    0 at the one-shot Nash price, 1 at the joint-monopoly price; the one definition of the
    price index in marketsim. ``prices`` and the benchmarks are shaped as the profits and
    benchmarks of :func:`profit_gain`.
    """
    return _normalised(prices, nash_price, monopoly_price)


def best_response(rival_prices, a, c, a0: float, mu: float, firm: int) -> float:
    r"""Firm ``firm``'s static best response to the rivals' prices in a logit market.

    The one definition of the static best response in marketsim (the audit, its reference
    pricers and their tests use it).

    With :math:`R = \sum_{j \ne i} e^{(a_j - p_j)/\mu} + e^{a_0/\mu}` the first-order
    condition :math:`p - c_i = \mu / (1 - q_i)` has the closed form
    :math:`p = c_i + \mu\,(1 + W(e^{(a_i - c_i - \mu)/\mu} / R))` (Lambert W).

    Parameters
    ----------
    rival_prices : ndarray(float64, shape (n,)); entry ``firm`` is ignored
    a, c : ndarray(float64, shape (n,))
    """
    p = np.asarray(rival_prices, dtype=np.float64)
    a = np.asarray(a, dtype=np.float64)
    c = np.asarray(c, dtype=np.float64)
    u = (a - p) / mu
    u[firm] = -np.inf
    top = max(u.max(), a0 / mu)
    log_r = top + np.log(np.exp(u - top).sum() + np.exp(a0 / mu - top))
    x = (a[firm] - c[firm] - mu) / mu - log_r
    # W(e^x) for large x: avoid overflow with the asymptotic W(e^x) ~ x - log x
    w = float(lambertw(np.exp(x)).real) if x < 600 else x - np.log(x)
    return float(c[firm] + mu * (1.0 + w))


@dataclass(frozen=True)
class LogitMarket:
    """A logit Bertrand market with exact Nash and joint-monopoly benchmarks.

    Parameters
    ----------
    a : ndarray(float64, shape (n,))
        Product qualities :math:`a_i`.
    c : ndarray(float64, shape (n,))
        Marginal costs :math:`c_i`.
    a0 : float
        Quality of the outside good.
    mu : float
        Horizontal differentiation (> 0).
    """

    a: np.ndarray
    c: np.ndarray
    a0: float = 0.0
    mu: float = 0.25

    @classmethod
    def symmetric(
        cls, n: int = 2, a: float = 2.0, c: float = 1.0, a0: float = 0.0, mu: float = 0.25
    ) -> LogitMarket:
        """``n`` identical firms (the Calvano et al. baseline by default)."""
        return cls(np.full(n, float(a)), np.full(n, float(c)), float(a0), float(mu))

    def __post_init__(self):
        a = np.atleast_1d(np.asarray(self.a, dtype=np.float64))
        c = np.atleast_1d(np.asarray(self.c, dtype=np.float64))
        if a.shape != c.shape:
            raise UsageError(f"quality a has {a.size} firms but cost c has {c.size}")
        if not self.mu > 0:
            raise UsageError(f"mu must be > 0 (got {self.mu})")
        object.__setattr__(self, "a", a)
        object.__setattr__(self, "c", c)

    @property
    def n(self) -> int:
        return self.a.size

    def shares(self, prices) -> np.ndarray:
        return logit_shares(prices, self.a, self.c, self.a0, self.mu)

    def profits(self, prices) -> np.ndarray:
        return logit_profits(prices, self.a, self.c, self.a0, self.mu)

    def consumer_surplus(self, prices) -> np.ndarray:
        r"""Consumer surplus :math:`\mu \log(\sum_j e^{(a_j-p_j)/\mu} + e^{a_0/\mu})`."""
        prices = np.asarray(prices, dtype=np.float64)
        u = (self.a - prices) / self.mu
        both = np.concatenate([u, np.full(u.shape[:-1] + (1,), self.a0 / self.mu)], axis=-1)
        top = both.max(axis=-1)
        return self.mu * (top + np.log(np.exp(both - top[..., None]).sum(axis=-1)))

    def nash_prices(self) -> np.ndarray:
        """One-shot Bertrand-Nash prices, solving :math:`p_i = c_i + \\mu/(1-q_i)`."""

        def foc(p):
            return p - self.c - self.mu / (1.0 - self.shares(p))

        return self._solve(foc, self.c + self.mu, "Nash")

    def monopoly_prices(self) -> np.ndarray:
        """Joint-profit-maximising prices (common markup :math:`\\mu + \\sum_j m_j q_j`)."""

        def foc(p):
            q = self.shares(p)
            markup = p - self.c
            return markup - self.mu - np.sum(markup * q)

        return self._solve(foc, self.c + 2.0 * self.mu, "monopoly")

    def _solve(self, f, x0, what: str) -> np.ndarray:
        sol = optimize.root(f, x0, method="hybr", options={"xtol": 1e-13})
        if np.max(np.abs(f(sol.x))) > 1e-10:
            raise UsageError(f"could not solve the {what} first-order conditions: {sol.message}")
        return sol.x

    def nash_profits(self) -> np.ndarray:
        return self.profits(self.nash_prices())

    def monopoly_profits(self) -> np.ndarray:
        return self.profits(self.monopoly_prices())

    def profit_gain(self, profits) -> np.ndarray:
        """:func:`profit_gain` of ``profits`` (firms on the last axis) in this market."""
        return profit_gain(profits, self.nash_profits(), self.monopoly_profits())

    def price_index(self, prices) -> np.ndarray:
        """:func:`price_index` of ``prices`` (firms on the last axis) in this market."""
        return price_index(prices, self.nash_prices(), self.monopoly_prices())

    def price_grid(self, m: int = 15, xi: float = 0.1) -> np.ndarray:
        """Each firm's ``m`` equally spaced prices around its Nash and monopoly prices.

        Returns
        -------
        ndarray(float64, shape (n, m))
        """
        if m < 2:
            raise UsageError(f"m must be at least 2 (got {m})")
        pn, pm = self.nash_prices(), self.monopoly_prices()
        lo = pn - xi * (pm - pn)
        hi = pm + xi * (pm - pn)
        return np.linspace(lo, hi, m, axis=-1)

    def profit_table(self, grid: np.ndarray) -> np.ndarray:
        """Profits of every joint action on the grid.

        Joint action index ``j = sum_i a_i m**i`` (firm 0 the least significant digit).

        Parameters
        ----------
        grid : ndarray(float64, shape (n, m))

        Returns
        -------
        ndarray(float64, shape (m**n, n))
        """
        n, m = grid.shape
        idx = joint_actions(n, m)
        prices = grid[np.arange(n), idx]
        return self.profits(prices)


def joint_actions(n: int, m: int) -> np.ndarray:
    """All joint actions as digits: row ``j`` holds each firm's action index.

    Returns
    -------
    ndarray(int64, shape (m**n, n)), with ``j = sum_i row[i] * m**i``.
    """
    j = np.arange(m**n, dtype=np.int64)
    return np.stack([(j // m**i) % m for i in range(n)], axis=1)
