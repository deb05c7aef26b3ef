r"""Measured quantities with one definition, shared by the scenarios' summaries and the
detectors (so that a figure shown under one name is the same number everywhere).

Maximum drawdown within a window
    For prices :math:`p_i` at times :math:`t_i`, the largest fall from a running peak,
    :math:`\max_{i}\, \max_{s:\, 0 \le t_i - t_s \le W} (1 - p_i / p_s)`, with the peak
    :math:`s^*` and trough :math:`i^*` where it is reached; the share recovered is
    :math:`(\max_{0 \le t_j - t_{i^*} \le R} p_j - p_{i^*}) / (p_{s^*} - p_{i^*})`, capped at 1.
    On a one-second grid (:math:`t_i = i`) ``peak_s`` and ``trough_s`` are seconds.

Fall from a reference (a crash with a known start)
    For prices :math:`p_i` at times :math:`t_i` and a reference index :math:`r` (e.g. the
    start of a sell programme, the pre-crash price :math:`p_r`), the low is the first
    :math:`i^* = \arg\min_{i:\, 0 \le t_i - t_r \le H} p_i`; the fall is
    :math:`1 - p_{i^*} / p_r` (0 when nothing after :math:`r` is lower). The share of the
    fall regained at :math:`t_{i^*} + \tau` is :math:`(p(t_{i^*} + \tau) - p_{i^*}) /
    (p_r - p_{i^*})`, read at the last sample at or before that time (NaN when the series
    ends first or there was no fall; it is negative when the price fell further and above
    1 when it overshot). The rise above the reference within :math:`\tau` after the low
    is :math:`\max(0, \max_{0 \le t_j - t_{i^*} \le \tau} p_j / p_r - 1)`.

Depth ratio
    Depth at one sample divided by the mean depth over an earlier span (e.g. buy-side
    depth at the low relative to the morning's).

Forced-deviation figures of pricing sessions (Calvano et al. 2020, online appendix, Table A10)
    Session :math:`b` analyses :math:`w_b` one-period deviations (for a Q-learning run,
    each firm from each state of the limit cycle, :math:`w_b = n L_b`), :math:`u_b` of
    them unprofitable, with mean rival response :math:`r_b` and mean punishment length
    :math:`\ell_b`. The run's figures pool the deviations, as the authors' table averages
    over (session, cycle state, deviating firm):
    :math:`\sum_b u_b / \sum_b w_b`, :math:`\sum_b w_b r_b / \sum_b w_b` and
    :math:`\sum_b w_b \ell_b / \sum_b w_b` (sessions with a non-finite value left out
    of that figure).

Half-life of an inventory (mean reversion)
    For a position sampled every :math:`\Delta` seconds, :math:`x_0..x_n`, the AR(1)
    :math:`x_{k+1} = c + a x_k + e_k` fitted by least squares; the half-life is
    :math:`\Delta \ln 2 / (-\ln a)` seconds (Kirilenko, Kyle, Samadi & Tuzun 2017 read
    the HFTs' aggregate inventory this way: about 2 minutes). Undefined (NaN) when
    :math:`a \ge 1` (no reversion), :math:`a \le 0` (faster than one sample) or the
    path is constant.

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


def _grid(prices, times):
    p = np.asarray(prices, dtype=np.float64)
    t = np.arange(p.size, dtype=np.float64) if times is None else np.asarray(times, np.float64)
    if t.shape != p.shape:
        raise ValueError(f"times: {t.size} values for {p.size} prices; give one per price")
    return p, t


def fall_from_reference(
    prices: np.ndarray,
    reference_index: int,
    horizon_s: float,
    times: np.ndarray | None = None,
) -> dict:
    """The low within ``horizon_s`` after a reference sample and the fall to it.

    Parameters
    ----------
    prices, times
        As for :func:`window_drawdown` (``times`` must have one value per price).
    reference_index : int
        Index of the reference sample (the pre-crash price).
    horizon_s : float
        The low is sought in ``0 <= t - t_ref <= horizon_s``.

    Returns
    -------
    dict with ``reference_price``, ``low_price``, ``low_index`` (first index of the low),
    ``max_drawdown`` (``1 - low / reference``, >= 0) and ``low_after_reference_s``.
    """
    p, t = _grid(prices, times)
    r = int(reference_index)
    if not 0 <= r < p.size:
        raise ValueError(f"reference_index {r} is outside the {p.size} prices")
    stop = int(np.searchsorted(t, t[r] + float(horizon_s), side="right"))
    low = r + int(np.argmin(p[r:stop]))
    return {
        "reference_price": float(p[r]),
        "low_price": float(p[low]),
        "low_index": low,
        "max_drawdown": float(1.0 - p[low] / p[r]),
        "low_after_reference_s": float(t[low] - t[r]),
    }


def share_regained(
    prices: np.ndarray,
    reference_index: int,
    low_index: int,
    after_s: float,
    times: np.ndarray | None = None,
) -> float:
    """Share of the fall from ``prices[reference_index]`` to ``prices[low_index]``
    regained ``after_s`` seconds after the low (the last sample at or before then).

    NaN when the series ends before ``t_low + after_s`` or there was no fall; may be
    negative (a further fall) or above 1 (an overshoot)."""
    p, t = _grid(prices, times)
    fall = p[reference_index] - p[low_index]
    if fall <= 0 or t[-1] < t[low_index] + after_s:
        return float("nan")
    at = int(np.searchsorted(t, t[low_index] + float(after_s), side="right")) - 1
    return float((p[at] - p[low_index]) / fall)


def rise_above_reference(
    prices: np.ndarray,
    reference_index: int,
    low_index: int,
    within_s: float,
    times: np.ndarray | None = None,
) -> float:
    """Largest rise above ``prices[reference_index]`` within ``within_s`` after the low,
    as a fraction of the reference (0 when the price stays at or below it)."""
    p, t = _grid(prices, times)
    stop = int(np.searchsorted(t, t[low_index] + float(within_s), side="right"))
    top = float(p[low_index:stop].max())
    return max(0.0, top / float(p[reference_index]) - 1.0)


def recovered_share(
    prices: np.ndarray,
    reference_index: int,
    low_index: int,
    within_s: float,
    times: np.ndarray | None = None,
) -> float:
    """Share of the fall from the reference to the low regained at the best price within
    ``within_s`` after the low, capped at 1 (0 when there was no fall)."""
    p, t = _grid(prices, times)
    fall = p[reference_index] - p[low_index]
    if fall <= 0:
        return 0.0
    stop = int(np.searchsorted(t, t[low_index] + float(within_s), side="right"))
    return float(min((p[low_index:stop].max() - p[low_index]) / fall, 1.0))


def inventory_half_life(position: np.ndarray, dt_s: float = 1.0) -> float:
    """Half-life (s) of ``position`` sampled every ``dt_s`` seconds, from its AR(1) fit by
    least squares with an intercept; NaN when it does not revert within the fit's terms
    (slope at or above 1, at or below 0, or a constant path)."""
    x = np.asarray(position, dtype=np.float64)
    if x.size < 3:
        return float("nan")
    x0, x1 = x[:-1], x[1:]
    d0 = x0 - x0.mean()
    var = float(d0 @ d0)
    if var <= 0.0:
        return float("nan")
    a = float(d0 @ (x1 - x1.mean())) / var
    if not 0.0 < a < 1.0:
        return float("nan")
    return float(dt_s * np.log(2.0) / -np.log(a))


def depth_ratio(depth: np.ndarray, at_index: int, before_index: int) -> float:
    """``depth[at_index]`` over the mean of ``depth[:before_index]`` (NaN if that is 0)."""
    d = np.asarray(depth, dtype=np.float64)
    base = float(d[: int(before_index)].mean()) if before_index > 0 else 0.0
    return float(d[int(at_index)] / base) if base > 0 else float("nan")


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


def deviation_figures(deviations, unprofitable, rival_response, punishment_length) -> dict:
    """The run's forced-deviation figures, pooled over every deviation analysed.

    Parameters
    ----------
    deviations : ndarray(int64, shape (N,))
        one-period deviations analysed in each session (the weights)
    unprofitable : ndarray(int64, shape (N,))
        how many of them earn strictly less than following the strategy
    rival_response, punishment_length : ndarray(float64, shape (N,))
        each session's means over its deviations

    Returns
    -------
    dict with ``deviation_unprofitable_share``, ``rival_response_mean`` and
    ``punishment_length_mean`` (NaN where no session has a finite value).
    """
    w = np.asarray(deviations, dtype=np.float64)
    out = {}
    total = w.sum()
    out["deviation_unprofitable_share"] = (
        float(np.asarray(unprofitable, dtype=np.float64).sum() / total) if total > 0 else np.nan
    )
    for name, x in (
        ("rival_response_mean", rival_response),
        ("punishment_length_mean", punishment_length),
    ):
        x = np.asarray(x, dtype=np.float64)
        ok = np.isfinite(x) & (w > 0)
        out[name] = float((w[ok] * x[ok]).sum() / w[ok].sum()) if ok.any() else np.nan
    return out


def session_deviation_figures(sessions) -> dict:
    """:func:`deviation_figures` of a pricing run's per-session table (a polars frame).

    Reads ``rival_response`` and ``punishment_length`` and either ``deviations`` with
    ``deviations_unprofitable`` (how many deviations each session analyses, e.g. each
    firm from each cycle state, and how many do not pay) or ``deviation_profitable`` (one
    deviation per session). The run's summary and the punishment detector both call this,
    so they show one figure per name.
    """
    if "deviations" in sessions.columns:
        weights = sessions["deviations"].to_numpy()
        unprofitable = sessions["deviations_unprofitable"].to_numpy()
    else:
        weights = np.ones(sessions.height, dtype=np.int64)
        unprofitable = (~sessions["deviation_profitable"]).to_numpy().astype(np.int64)

    return deviation_figures(
        weights,
        unprofitable,
        sessions["rival_response"].cast(float).fill_null(np.nan).to_numpy(),
        sessions["punishment_length"].cast(float).fill_null(np.nan).to_numpy(),
    )
