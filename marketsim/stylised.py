r"""Stylised facts of returns (Cont 2001, "Empirical properties of asset returns:
stylized facts and statistical issues", Quantitative Finance 1: 223-236).

For log returns :math:`r_t = \log p_t - \log p_{t-1}`:

- no linear autocorrelation: :math:`|\rho_r(\ell)|` small for :math:`\ell \ge 1`;
- heavy tails: the Hill estimator over the :math:`k` largest :math:`|r|`,
  :math:`\hat\alpha = k / \sum_{i=1}^{k} \log(x_{(i)} / x_{(k+1)})`, lies between 2 and 5
  (about 3: the inverse cubic law);
- volatility clustering: :math:`\rho_{|r|}(\ell) > 0`, slowly decaying.

The functions take plain arrays, so they run on any price series.
"""

from __future__ import annotations

import numpy as np

from marketsim.errors import UsageError


def log_returns(prices) -> np.ndarray:
    """Log returns of a price series, ``ndarray(float64, shape=(n-1,))``."""
    p = np.asarray(prices, dtype=np.float64)
    if p.ndim != 1 or p.size < 3:
        raise UsageError("prices: need a 1-d series of at least 3 values")
    if not np.all(p > 0):
        raise UsageError("prices: must be > 0 to take log returns")
    return np.diff(np.log(p))


def acf(x, max_lag: int) -> np.ndarray:
    """Sample autocorrelations at lags ``1..max_lag`` (``ndarray(float64, (max_lag,))``)."""
    x = np.asarray(x, dtype=np.float64)
    if x.size <= max_lag + 1:
        raise UsageError(f"max_lag: need more than {max_lag + 1} observations, got {x.size}")
    d = x - x.mean()
    var = float(d @ d)
    if var == 0:
        return np.zeros(max_lag)
    return np.array([float(d[:-k] @ d[k:]) / var for k in range(1, max_lag + 1)])


def hill_exponent(x, tail_share: float = 0.025) -> float:
    """Hill estimate of the tail exponent of ``|x|`` over its largest ``tail_share``.

    Zeros are left out first (a tick-priced series has many zero returns, which carry
    no information on the tail); ``k = max(10, tail_share * n_nonzero)``.
    """
    a = np.abs(np.asarray(x, dtype=np.float64))
    a = np.sort(a[a > 0])[::-1]
    k = max(10, int(tail_share * a.size))
    if a.size <= k:
        raise UsageError(f"need more than {k} non-zero values for a Hill estimate")
    logs = np.log(a[:k] / a[k])
    s = float(logs.sum())
    return float(k / s) if s > 0 else float("inf")


def stylised_facts(
    prices, *, max_lag: int = 20, abs_lag: int = 50, tail_share: float = 0.025
) -> dict:
    """The three checks of Cont (2001) on a price series sampled at a fixed interval.

    Returns
    -------
    dict with ``acf_returns`` (lags 1..max_lag), ``max_abs_acf_returns``, ``acf_abs_returns``
    (lags 1..abs_lag), ``min_acf_abs_returns``, ``hill_exponent``, ``kurtosis`` (excess),
    ``n_returns`` and ``zero_share`` (share of zero returns).
    """
    r = log_returns(prices)
    ar = acf(r, max_lag)
    aa = acf(np.abs(r), abs_lag)
    d = r - r.mean()
    var = float(np.mean(d * d))
    kurt = float(np.mean(d**4) / var**2 - 3.0) if var > 0 else 0.0
    return {
        "acf_returns": ar.tolist(),
        "max_abs_acf_returns": float(np.max(np.abs(ar))),
        "acf_abs_returns": aa.tolist(),
        "min_acf_abs_returns": float(np.min(aa)),
        "hill_exponent": hill_exponent(r, tail_share),
        "kurtosis": kurt,
        "n_returns": int(r.size),
        "zero_share": float(np.mean(r == 0)),
    }


__all__ = ["acf", "hill_exponent", "log_returns", "stylised_facts"]
