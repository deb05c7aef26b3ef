r"""Variance ratio (Lo & MacKinlay 1988): momentum or mean reversion in a price series.

:math:`VR(q) = \hat\sigma^2_c(q) / \hat\sigma^2_a` with overlapping :math:`q`-period
returns; > 1 means momentum (positive feedback), < 1 mean reversion. The
heteroskedasticity-robust statistic is
:math:`z^*(q) = \sqrt{T}\,(VR(q) - 1)/\sqrt{\hat\theta(q)}`,
:math:`\hat\theta(q) = \sum_{j=1}^{q-1} [2(q-j)/q]^2 \hat\delta(j)`.
"""

from __future__ import annotations

import math

import numpy as np
from scipy import stats

from marketsim.analysis._validate import (
    check_min_obs,
    p_text,
)
from marketsim.errors import UsageError


def variance_ratio(
    prices,
    q: int | tuple[int, ...] = (2, 4, 8, 16),
    *,
    log: bool = True,
    alpha: float = 0.05,
    step: str = "step",
) -> dict:
    """Lo & MacKinlay (1988) variance ratio test with the heteroskedasticity-robust z*.

    Parameters
    ----------
    prices : ndarray(float64, ndim=1)
        Prices sampled at equal intervals (or in trade time).
    q : int or tuple of int
        Aggregation horizons.
    log : bool
        Use log prices (returns) rather than price differences.
    step : str
        What one step between prices is, for the verdict (``"second"``, ``"trade"``).
    alpha : float
        Test size; the verdict uses a Bonferroni bound over the horizons.

    Returns
    -------
    dict with ``q``, ``vr``, ``z`` (robust z*(q)), ``p_value`` (two-sided, per q),
    ``p_value_min_bonferroni``, ``flagged`` (rejection with VR > 1: momentum) and
    ``verdict``.
    """
    p = np.asarray(prices, dtype=np.float64)
    qs = (q,) if np.isscalar(q) else tuple(q)
    x = np.log(p) if log else p
    if log and not np.all(p > 0):
        raise UsageError("variance ratio on log prices needs prices > 0; pass log=False")
    r = np.diff(x)
    T = r.size
    check_min_obs(T, max(4 * max(qs), 30), "the variance ratio")
    m = r.mean()
    d = r - m
    s_a = (d @ d) / (T - 1)
    if s_a == 0:
        raise UsageError("prices never change; the variance ratio is undefined")
    d2 = d**2
    denom = d2.sum() ** 2
    vrs, zs, ps = [], [], []
    for qq in qs:
        if qq < 2:
            raise UsageError(f"variance ratio horizon q must be >= 2 (got {qq})")
        rq = x[qq:] - x[:-qq] - qq * m
        mm = qq * (T - qq + 1) * (1 - qq / T)
        vr = (rq @ rq) / mm / s_a
        theta = 0.0
        for j in range(1, qq):
            delta_j = T * (d2[j:] @ d2[:-j]) / denom
            theta += (2.0 * (qq - j) / qq) ** 2 * delta_j
        z = math.sqrt(T) * (vr - 1) / math.sqrt(theta)
        vrs.append(float(vr))
        zs.append(float(z))
        ps.append(float(2 * stats.norm.sf(abs(z))))
    pmin = min(1.0, min(ps) * len(qs))
    k = int(np.argmin(ps))
    test = (
        f"variance ratio VR({qs[k]}); 1 = random walk; robust z = {zs[k]:.1f}, "
        f"Bonferroni {p_text(pmin)} over {len(qs)} horizons"
    )
    if pmin < alpha and vrs[k] > 1:
        verdict = (
            f"prices trend (momentum, a sign of positive feedback): price changes over "
            f"{qs[k]} {step}s vary {vrs[k]:.2f} times as much as {qs[k]} independent one-"
            f"{step} changes would ({test})"
        )
    elif pmin < alpha:
        verdict = (
            f"prices revert (mean reversion: moves are undone): changes over {qs[k]} {step}s vary "
            f"only {vrs[k]:.2f} times as much as {qs[k]} independent one-{step} changes "
            f"would ({test}); no sign of positive feedback"
        )
    else:
        verdict = (
            f"prices move like a random walk, no sign of positive feedback: changes over "
            f"{min(qs)} to {max(qs)} {step}s vary {min(vrs):.2f} to {max(vrs):.2f} times as "
            f"much as independent one-{step} changes would (variance ratios; 1 = random "
            f"walk; smallest Bonferroni {p_text(pmin)})"
        )
    return {
        "q": list(qs),
        "vr": vrs,
        "z": zs,
        "p_value": ps,
        "p_value_min_bonferroni": pmin,
        "observations": int(T),
        "flagged": bool(pmin < alpha and vrs[k] > 1),
        "verdict": verdict,
    }
