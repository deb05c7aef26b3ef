r"""Measured quantities with one definition, shared by the scenarios' summaries and the
detectors (so that a figure shown under one name is the same number everywhere).

Maximum drawdown within a window
    For prices :math:`p_i` at times :math:`t_i`, the largest fall from a running peak,
    :math:`\max_{i}\, \max_{s:\, 0 \le t_i - t_s \le W} (1 - p_i / p_s)`, with the peak
    :math:`s^*` and trough :math:`i^*` where it is reached; the share recovered is
    :math:`(\max_{0 \le t_j - t_{i^*} \le R} p_j - p_{i^*}) / (p_{s^*} - p_{i^*})`, capped at 1.
    On a one-second grid (:math:`t_i = i`) ``peak_s`` and ``trough_s`` are seconds.

Student-t interval of a mean
    For finite observations :math:`x_1..x_n`, :math:`\bar x \pm t_{n-1, (1+\ell)/2}\,
    s / \sqrt n` with :math:`s` the sample standard deviation (``ddof = 1``); used by
    ``compare`` (means over seeds) and the audit (means over sessions).
"""

from __future__ import annotations

import numpy as np
from numba import njit


@njit(cache=True)
def _window_drawdown(t, p, window, recovery_window):
    n = p.shape[0]
    best, best_peak, best_trough = 0.0, 0, 0
    lo = 0
    for i in range(n):
        while t[i] - t[lo] > window:
            lo += 1
        pk = lo
        for s in range(lo, i + 1):
            if p[s] > p[pk]:
                pk = s
        dd = 1.0 - p[i] / p[pk]
        if dd > best:
            best, best_peak, best_trough = dd, pk, i
    hi = p[best_trough]
    s = best_trough
    while s < n and t[s] - t[best_trough] <= recovery_window:
        if p[s] > hi:
            hi = p[s]
        s += 1
    fall = p[best_peak] - p[best_trough]
    rec = (hi - p[best_trough]) / fall if fall > 0 else 0.0
    return best, best_peak, best_trough, rec


def window_drawdown(
    prices: np.ndarray,
    window_s: float = 900,
    recovery_window_s: float = 1800,
    times: np.ndarray | None = None,
) -> dict:
    """Largest peak-to-trough fall within ``window_s`` and the share recovered after.

    Parameters
    ----------
    prices : ndarray(float64, ndim=1)
        Prices (> 0), e.g. one-second mid prices.
    window_s, recovery_window_s : float
        Longest peak-to-trough time; time after the trough over which recovery counts.
    times : ndarray(float64, ndim=1), optional
        Non-decreasing times in seconds; default one sample per second from 0.

    Returns
    -------
    dict with ``max_drawdown`` (fraction), ``peak_s``, ``trough_s`` (indices of the peak and
    the trough: seconds on a one-second grid), ``drawdown_seconds`` and ``recovery_share``.
    """
    p = np.asarray(prices, dtype=np.float64)
    if p.size < 2:
        return {
            "max_drawdown": 0.0,
            "peak_s": 0,
            "trough_s": 0,
            "drawdown_seconds": 0,
            "recovery_share": 0.0,
        }
    t = np.arange(p.size, dtype=np.float64) if times is None else np.asarray(times, np.float64)
    dd, pk, tr, rec = _window_drawdown(t, p, float(window_s), float(recovery_window_s))
    return {
        "max_drawdown": float(dd),
        "peak_s": int(pk),
        "trough_s": int(tr),
        "drawdown_seconds": int(tr - pk) if times is None else float(t[tr] - t[pk]),
        "recovery_share": float(min(rec, 1.0)),
    }


def t_interval(x, level: float = 0.95) -> tuple[float, float, float]:
    """Mean and Student-t interval of the mean of ``x`` (non-finite values dropped).

    Returns ``(mean, low, high)``: all NaN for no value, NaN bounds for one value.
    """
    from scipy import stats  # ~0.5 s to import: only where an interval is wanted

    x = np.asarray(x, dtype=float)
    x = x[np.isfinite(x)]
    if x.size == 0:
        return np.nan, np.nan, np.nan
    mean = float(x.mean())
    if x.size < 2:
        return mean, np.nan, np.nan
    half = stats.t.ppf(0.5 + level / 2, x.size - 1) * x.std(ddof=1) / np.sqrt(x.size)
    return mean, mean - half, mean + half
