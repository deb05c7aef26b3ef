r"""Collusion screens that need no demand model, on observed prices :math:`p_{it}` of several
firms (price matrix ``wide``, shape (T, n)); each returns ``statistic``, ``p_value``,
``flagged`` and ``verdict``.

* margin: mean relative excess :math:`x_t = \frac1n\sum_i (p_{it} - b_i)/b_i` over a
  competitive benchmark :math:`b_i` (user price, or the Nash price of a known market),
  one-sided test of :math:`E x_t > 0` with a Newey-West (1987) standard error;
* variance screen (Abrantes-Metz, Froeb, Geweke & Taylor 2006): coefficient of
  variation :math:`\mathrm{sd}(p_i)/\mathrm{mean}(p_i)`, low under collusion;
* parallelism: correlation of price changes across firms and the leader-follower
  correlation :math:`\mathrm{corr}(\Delta p_{i,t}, \Delta p_{j,t+1})`, Fisher-z p-values;
* structural break (Andrews 1993): sup-F over break dates in the central 70% for a
  shift in the mean price (Newey-West variance), and the same on :math:`|\Delta p|`
  for a shift in volatility; a higher, stickier regime is a rise in the mean with a
  fall in volatility. p-values from the asymptotic sup-F law, simulated once.
"""

from __future__ import annotations

import math
from functools import lru_cache

import numpy as np
from numba import njit
from scipy import stats

from marketsim.analysis._validate import p_text, time_text
from marketsim.errors import UsageError


def _newey_west_var(x: np.ndarray, lags: int | None = None) -> float:
    """Long-run variance of x (Bartlett kernel, Newey & West 1994 bandwidth)."""
    T = x.size
    if lags is None:
        lags = int(4 * (T / 100) ** (2 / 9))
    d = x - x.mean()
    v = d @ d / T
    for lag in range(1, min(lags, T - 1) + 1):
        v += 2 * (1 - lag / (lags + 1)) * (d[lag:] @ d[:-lag]) / T
    return max(v, 0.0)


def margin_screen(
    wide: np.ndarray, benchmark: np.ndarray, *, min_excess: float = 0.05, alpha: float = 0.05
) -> dict:
    """Prices above a competitive benchmark: mean relative excess and a one-sided HAC test.

    Parameters
    ----------
    wide : ndarray(float64, shape (T, n))
    benchmark : ndarray(float64, shape (n,))
        Competitive price per firm.
    min_excess : float
        Smallest excess (fraction of the benchmark) that counts as material.
    """
    x = ((wide - benchmark) / benchmark).mean(axis=1)
    m = float(x.mean())
    lrv = _newey_west_var(x)
    if lrv > 0:
        z = m / math.sqrt(lrv / x.size)
        p = float(stats.norm.sf(z))
    else:
        z = math.inf if m > 0 else (-math.inf if m < 0 else 0.0)
        p = 0.0 if m > 0 else 1.0
    flagged = p < alpha and m >= min_excess
    verdict = (
        f"prices average {m:+.1%} relative to the competitive benchmark price (one-sided "
        f"test that they are above it, {p_text(p)})"
        + (": supra-competitive" if flagged else ": not materially above it")
    )
    return {"statistic": m, "z": z, "p_value": p, "flagged": bool(flagged), "verdict": verdict}


def variance_screen(wide: np.ndarray, *, cv_threshold: float = 0.01, alpha: float = 0.05) -> dict:
    """Variance screen (Abrantes-Metz et al. 2006): low coefficient of variation of prices.

    The score is the mean over firms of ``sd(p_i) / mean(p_i)``. The p-value tests
    ``CV < cv_threshold`` with the chi-square law of the sample variance (iid prices;
    persistent prices make it optimistic, so read it with the score).
    """
    mean = wide.mean(axis=0)
    sd = wide.std(axis=0, ddof=1)
    cv = sd / np.abs(mean)
    score = float(cv.mean())
    T = wide.shape[0]
    chi = (T - 1) * (cv**2) / cv_threshold**2
    p = float(np.max(stats.chi2.cdf(chi, T - 1)))  # every firm must be below the threshold
    flagged = score < cv_threshold and p < alpha
    verdict = (
        f"prices vary over time by {score:.2%} of their mean (standard deviation / mean, "
        "the coefficient of variation), "
        + (
            f"which is below the screen's {cv_threshold:.2%}: unusually stable prices, as "
            "under cartels (Abrantes-Metz et al. 2006)"
            if flagged
            else f"which is not below the screen's {cv_threshold:.2%}: no cartel-like stability"
        )
    )
    return {
        "statistic": score,
        "cv_by_firm": cv.tolist(),
        "p_value": p,
        "flagged": bool(flagged),
        "verdict": verdict,
    }


def parallelism_screen(wide: np.ndarray, *, min_corr: float = 0.5, alpha: float = 0.05) -> dict:
    """Parallel pricing: contemporaneous and leader-follower correlation of price changes.

    ``flagged`` when either the mean pairwise correlation of changes or the strongest
    leader-follower correlation is at least ``min_corr`` and significant (Fisher z).
    Common cost shocks also move prices together: parallelism is a screen, not proof.
    """
    d = np.diff(wide, axis=0)
    T, n = d.shape
    moving = d.std(axis=0) > 0
    if n < 2:
        raise UsageError("parallelism needs at least two firms")
    if moving.sum() < 2 or T < 5:
        return {
            "statistic": None,
            "leader": None,
            "follower": None,
            "lag_correlation": None,
            "p_value": None,
            "flagged": False,
            "verdict": "prices (almost) never change: parallelism not measurable",
        }
    contemp = []
    for i in range(n):
        for j in range(i + 1, n):
            if moving[i] and moving[j]:
                contemp.append(np.corrcoef(d[:, i], d[:, j])[0, 1])
    rc = float(np.mean(contemp))
    best = (-np.inf, None, None)
    for i in range(n):
        for j in range(n):
            if i != j and d[:-1, i].std() > 0 and d[1:, j].std() > 0:
                r = np.corrcoef(d[:-1, i], d[1:, j])[0, 1]
                if r > best[0]:
                    best = (r, i, j)

    def p_of(r, m):
        r = min(max(r, -0.999999), 0.999999)
        return float(stats.norm.sf(math.atanh(r) * math.sqrt(max(m - 3, 1))))

    pc = p_of(rc, T)
    rl, lead, follow = best
    pl_ = p_of(rl, T - 1) if lead is not None else 1.0
    hit_c = rc >= min_corr and pc < alpha
    hit_l = lead is not None and rl >= min_corr and pl_ < alpha
    if hit_l and not hit_c:
        verdict = (
            f"leader-follower pricing: firm #{follow + 1} changes its price the way firm "
            f"#{lead + 1} did one period earlier (correlation of price changes {rl:.2f}, "
            f"{p_text(pl_)})"
        )
    elif hit_c:
        verdict = (
            f"parallel pricing: firms change prices together (mean correlation of their "
            f"price changes {rc:.2f}, {p_text(pc)})"
        )
    else:
        verdict = (
            f"no parallel pricing: firms' price changes correlate {rc:.2f} at the same time "
            f"and at most {rl:.2f} one period apart (1 = in lockstep)"
        )
    return {
        "statistic": rc,
        "p_value": pc,
        "lag_correlation": float(rl) if lead is not None else None,
        "leader": lead,
        "follower": follow,
        "lag_p_value": pl_,
        "flagged": bool(hit_c or hit_l),
        "verdict": verdict,
    }


@njit(cache=True)
def _sup_f_path(y, lo, hi, step, lags):
    """Mean-shift F statistics (Newey-West variance) at break dates lo, lo+step, ..., hi."""
    T = y.size
    cs = np.zeros(T + 1)
    for i in range(T):
        cs[i + 1] = cs[i] + y[i]
    nk = (hi - lo) // step + 1
    F = np.zeros(nk)
    ks = np.empty(nk, dtype=np.int64)
    e = np.empty(T)
    for a in range(nk):
        k = lo + a * step
        ks[a] = k
        m1 = cs[k] / k
        m2 = (cs[T] - cs[k]) / (T - k)
        for t in range(T):
            e[t] = y[t] - (m1 if t < k else m2)
        v = 0.0
        for t in range(T):
            v += e[t] * e[t]
        for lag in range(1, lags + 1):
            g = 0.0
            for t in range(lag, T):
                g += e[t] * e[t - lag]
            v += 2.0 * (1.0 - lag / (lags + 1.0)) * g
        v /= T
        diff2 = (m2 - m1) ** 2
        if v <= 0.0:
            F[a] = np.inf if diff2 > 0 else 0.0
        else:
            F[a] = diff2 / (v * (1.0 / k + 1.0 / (T - k)))
    return ks, F


@lru_cache(maxsize=4)
def _sup_f_null(trim: float = 0.15, reps: int = 4000, steps: int = 1000) -> np.ndarray:
    """Sorted draws of sup_{pi in [trim, 1-trim]} (W(pi) - pi W(1))^2 / (pi (1 - pi)).

    The asymptotic law of the sup-F statistic for one restriction (Andrews 1993);
    simulated once from a fixed seed so p-values are reproducible.
    """
    rng = np.random.default_rng(np.random.SeedSequence(1993))
    W = np.cumsum(rng.standard_normal((reps, steps)), axis=1) / math.sqrt(steps)
    pis = np.arange(1, steps + 1) / steps
    keep = (pis >= trim) & (pis <= 1 - trim)
    bb = W[:, keep] - pis[keep] * W[:, -1:]
    return np.sort(np.max(bb**2 / (pis[keep] * (1 - pis[keep])), axis=1))


def sup_f_test(y, *, trim: float = 0.15, max_candidates: int = 200) -> dict:
    """Andrews (1993) sup-F test for one break in the mean of ``y`` (HAC variance).

    Returns
    -------
    dict with ``statistic`` (sup-F), ``p_value``, ``break_index``, ``mean_before``,
    ``mean_after``.
    """
    y = np.asarray(y, dtype=np.float64)
    T = y.size
    lo = max(int(math.ceil(trim * T)), 2)
    hi = min(int(math.floor((1 - trim) * T)), T - 2)
    step = max(1, (hi - lo) // max_candidates)
    lags = int(4 * (T / 100) ** (2 / 9))
    ks, F = _sup_f_path(y, lo, hi, step, lags)
    a = int(np.argmax(F))
    k = int(ks[a])
    null = _sup_f_null(trim)
    stat = float(F[a])
    p = float((null.size - np.searchsorted(null, stat, side="left") + 1) / (null.size + 1))
    return {
        "statistic": stat,
        "p_value": min(p, 1.0),
        "break_index": k,
        "mean_before": float(y[:k].mean()),
        "mean_after": float(y[k:].mean()),
    }


def structural_break_screen(
    times: np.ndarray, wide: np.ndarray, *, alpha: float = 0.05, time_label=None
) -> dict:
    """A shift to a higher, stickier price regime: sup-F on mean price and on |price change|.

    ``flagged`` when the mean break is significant and upward and volatility after the
    break is lower than before (its own sup-F reported as ``volatility_p_value``).
    """
    y = wide.mean(axis=1)
    if np.ptp(y) == 0:
        return {
            "statistic": 0.0,
            "p_value": 1.0,
            "break_t": None,
            "flagged": False,
            "verdict": "prices are constant: no break",
        }
    mean_test = sup_f_test(y)
    k = mean_test["break_index"]
    vol = np.abs(np.diff(y))
    vol_test = sup_f_test(vol) if np.ptp(vol) > 0 else {"p_value": 1.0, "statistic": 0.0}
    vol_before = float(vol[: max(k - 1, 1)].mean())
    vol_after = float(vol[max(k - 1, 1) :].mean())
    up = mean_test["mean_after"] > mean_test["mean_before"]
    sticky = vol_after < vol_before
    flagged = mean_test["p_value"] < alpha and up and sticky
    bt = float(times[k])
    when = time_text(bt, time_label)
    if flagged:
        verdict = (
            f"prices moved to a higher, stickier level at {when}: mean price "
            f"{mean_test['mean_before']:.4g} -> {mean_test['mean_after']:.4g}, mean size of "
            f"a price change {vol_before:.3g} -> {vol_after:.3g} (test for a change in the "
            f"mean price at an unknown date, Andrews' sup-F, {p_text(mean_test['p_value'])})"
        )
    elif mean_test["p_value"] < alpha:
        verdict = (
            f"the mean price changed at {when} (Andrews' sup-F test, p = "
            f"{mean_test['p_value']:.2g}) but not to a higher, stickier level"
        )
    else:
        verdict = (
            f"no change in the mean price level at any date (Andrews' sup-F test, p = "
            f"{mean_test['p_value']:.2g})"
        )
    return {
        "statistic": mean_test["statistic"],
        "p_value": mean_test["p_value"],
        "break_t": bt,
        "break_time": when.removeprefix("t = "),
        "mean_before": mean_test["mean_before"],
        "mean_after": mean_test["mean_after"],
        "volatility_before": vol_before,
        "volatility_after": vol_after,
        "volatility_p_value": vol_test["p_value"],
        "flagged": bool(flagged),
        "verdict": verdict,
    }
