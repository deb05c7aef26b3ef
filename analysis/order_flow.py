r"""One-sided order flow and liquidity withdrawal.

Order-flow sign autocorrelation (Lillo & Farmer 2004; Bouchaud et al. 2004)
    Trade signs :math:`\epsilon_t = \pm 1` (given aggressor sides, else the tick rule), their
    sample autocorrelation and a Ljung-Box test.

Liquidity withdrawal
    Depth averaged over windows of ``window_seconds`` (default one minute),
    :math:`\bar D_w`, against the median of the windows in the previous
    ``baseline_seconds`` (five minutes): :math:`r_w = \log(\bar D_w / B_w)`. On a calm
    market :math:`r_w` wanders around 0; its scale :math:`s` is estimated robustly from the
    day itself (1.4826 x the median absolute deviation). The flag is a one-sided test with
    a Bonferroni correction over the :math:`m` windows: the lowest :math:`r_w / s` below
    :math:`z_{\alpha/m}`, and depth at least halved (``min_drop``), the size of fall the
    measure has always called a withdrawal: a significant 20% dip is an ordinary event in
    a busy book, and in a very steady book any dip would be significant. The largest one-snapshot
    drop :math:`1 - \min_t D_t / \mathrm{median}(D_{t-w..t-1})` is reported beside it but
    is not a test: single snapshots of a book halve by chance many times a day.
"""

from __future__ import annotations

import numpy as np
import polars as pl
from scipy import stats

from marketsim.analysis._validate import check_min_obs, p_text, time_text
from marketsim.errors import UsageError


def trade_signs(prices, sides=None) -> np.ndarray:
    """Trade signs +1 (buyer-initiated) / -1: the aggressor side if known, else the tick rule.

    ``sides`` may hold +1/-1 (+1 = buy), the 0/1 codes of ``marketsim.records`` (0 = buy,
    1 = sell) or strings ``buy``/``sell``/``B``/``S``. The tick rule signs a trade by its
    last non-zero price change.
    """
    if sides is not None:
        s = np.asarray(sides)
        if s.dtype.kind in "US" or s.dtype == object:
            low = np.char.lower(s.astype(str))
            out = np.where(np.isin(low, ["buy", "b", "bid", "+1"]), 1.0, np.nan)
            out = np.where(np.isin(low, ["sell", "s", "ask", "offer", "-1"]), -1.0, out)
            if np.isnan(out).any():
                raise UsageError("side column has values other than buy/sell; map them to +1/-1")
            return out
        s = s.astype(np.float64)
        if np.all(np.isin(s, [0.0, 1.0])):
            # marketsim's record codes (marketsim/records.py): BUY = 0, SELL = 1
            return 1 - 2 * s
        if not np.all(np.isin(s, [-1.0, 1.0])):
            raise UsageError("side column must hold +1/-1, 1/0 or buy/sell")
        return s
    dp = np.sign(np.diff(np.asarray(prices, dtype=np.float64), prepend=np.nan))
    dp[~np.isfinite(dp)] = 0
    # carry the last non-zero move forward (tick rule); leading zeros count as buys
    idx = np.where(dp != 0, np.arange(dp.size), 0)
    np.maximum.accumulate(idx, out=idx)
    out = dp[idx]
    out[out == 0] = 1.0
    return out


def sign_autocorrelation(signs, max_lag: int = 20, alpha: float = 0.05) -> dict:
    """Autocorrelation of order-flow signs and a Ljung-Box test (Lillo & Farmer 2004).

    Returns
    -------
    dict with ``acf`` (lags 1..max_lag), ``acf1``, ``ljung_box`` (Q), ``p_value``,
    ``flagged`` (significant positive persistence) and ``verdict``.
    """
    s = np.asarray(signs, dtype=np.float64)
    N = s.size
    check_min_obs(N, max(10 * max_lag, 50), "the sign autocorrelation")
    d = s - s.mean()
    c0 = d @ d
    if c0 == 0:
        return {
            "acf": [None] * max_lag,
            "acf1": None,
            "ljung_box": None,
            "p_value": None,
            "flagged": True,
            "verdict": "every trade was initiated from the same side (all buys or all "
            "sells): order flow entirely one-sided",
        }
    acf = np.array([(d[k:] @ d[:-k]) / c0 for k in range(1, max_lag + 1)])
    Q = N * (N + 2) * np.sum(acf**2 / (N - np.arange(1, max_lag + 1)))
    p = float(stats.chi2.sf(Q, max_lag))
    flagged = p < alpha and acf[0] > 0
    test = (
        f"correlation of one trade's side with the next {acf[0]:+.2f}; Ljung-Box test over "
        f"{max_lag} lags {p_text(p)}"
    )
    if flagged:
        verdict = (
            f"order flow persists: a buyer-initiated trade is followed by another (and a "
            f"seller-initiated by another) more often than chance ({test}); herding, or "
            "large orders split into many trades"
        )
    elif p < alpha:
        verdict = (
            f"order flow alternates: buys and sells follow each other more often than "
            f"chance ({test}); no sign of herding"
        )
    else:
        verdict = f"the sides of successive trades look independent ({test}); no sign of herding"
    return {
        "acf": acf.tolist(),
        "acf1": float(acf[0]),
        "ljung_box": float(Q),
        "p_value": p,
        "observations": int(N),
        "flagged": bool(flagged),
        "verdict": verdict,
    }


def depth_drop(
    times,
    depth,
    *,
    window_seconds: float = 60.0,
    baseline_seconds: float = 300.0,
    alpha: float = 0.05,
    min_drop: float = 0.5,
    time_label=None,
) -> dict:
    """Liquidity withdrawal: a window's mean depth significantly below its trailing level.

    Parameters
    ----------
    times : ndarray(float64, ndim=1)
        Sorted times in seconds (snapshots, regular or not).
    depth : ndarray(float64, ndim=1)
        Book depth at each time (>= 0).
    window_seconds, baseline_seconds : float
        Window over which depth is averaged; span of trailing windows for the baseline.
    alpha : float
        Size of the test (one-sided, Bonferroni over windows).
    min_drop : float
        Smallest fall of the window's mean depth (fraction of the baseline) that counts.
    time_label : callable, optional
        Seconds -> text for the verdict and ``window_time`` (default ``t = <seconds>``).

    Returns
    -------
    dict with ``window_drop`` (largest fall of a window's mean depth below its baseline),
    ``window_t`` (start of that window), ``z`` (its robust z-score), ``z_critical``,
    ``windows``, ``p_value`` (Bonferroni), ``max_drop`` and ``t`` (largest one-snapshot
    drop below the trailing median, descriptive), ``seconds_below_half``, ``flagged`` and
    ``verdict``.
    """
    t = np.asarray(times, dtype=np.float64)
    D = np.asarray(depth, dtype=np.float64)
    check_min_obs(t.size, 10, "the depth-drop measure")
    dt = np.median(np.diff(t)) if t.size > 1 else 1.0
    w = max(int(round(baseline_seconds / dt)), 2) if dt > 0 else 2
    base = pl.Series(D).rolling_median(window_size=w, min_samples=1).shift(1).to_numpy()
    base[0] = D[0]
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = np.where(base > 0, D / base, 1.0)
    drop = 1 - ratio
    k = int(np.argmax(drop))
    below = ratio < 0.5
    secs = float(np.sum(np.diff(t, append=t[-1] + dt)[below]))
    snap = float(max(drop[k], 0.0))
    # window means and their trailing baseline
    cell = np.floor((t - t[0]) / window_seconds).astype(np.int64)
    starts = np.flatnonzero(np.diff(cell, prepend=-1))
    cells = cell[starts]
    means = np.add.reduceat(D, starts) / np.diff(np.append(starts, t.size))
    lag = max(int(round(baseline_seconds / window_seconds)), 1)
    r = np.full(means.size, np.nan)
    first = np.searchsorted(cells, cells - lag)
    for i in range(means.size):
        prev = means[first[i] : i]
        if prev.size and np.median(prev) > 0:
            r[i] = np.log(max(means[i], 1e-12) / np.median(prev))
    ok = np.isfinite(r)
    m = int(ok.sum())
    if m < 5:
        raise UsageError(
            f"depth covers {m + 1} windows of {window_seconds:g} s; the depth-drop test needs "
            f"at least 6 (about {6 * window_seconds / 60:g} minutes of depth)"
        )
    rv = r[ok]
    scale = 1.4826 * float(np.median(np.abs(rv - np.median(rv))))
    j = int(np.argmin(rv))
    fall = float(1 - np.exp(rv[j]))
    z = (rv[j] - np.median(rv)) / scale if scale > 0 else (-np.inf if rv[j] < 0 else 0.0)
    z_crit = float(stats.norm.ppf(alpha / m))
    p = float(min(1.0, stats.norm.cdf(z) * m)) if np.isfinite(z) else (0.0 if z < 0 else 1.0)
    flagged = bool(z < z_crit and fall >= min_drop)
    wt = float(t[starts[np.flatnonzero(ok)[j]]])
    when = time_text(wt, time_label)
    if flagged:
        verdict = (
            f"liquidity withdrawn: the quantity resting on the book (depth, in contracts) "
            f"averaged over one minute fell {fall:.0%} below its mean of the previous "
            f"{baseline_seconds / 60:g} minutes (at {when}; z = {z:.1f}, Bonferroni p = "
            f"{p:.2g} over {m} one-minute windows)"
        )
    else:
        verdict = (
            f"no liquidity withdrawal: the quantity resting on the book (depth, in contracts) "
            f"averaged over one minute fell at most {max(fall, 0.0):.0%} below its mean of the "
            f"previous {baseline_seconds / 60:g} minutes (z = {z:.1f}, Bonferroni p = "
            f"{p:.2g} over {m} one-minute windows)"
        )
    return {
        "window_drop": max(fall, 0.0),
        "window_t": wt,
        "window_time": when.removeprefix("t = "),
        "z": float(z),
        "z_critical": z_crit,
        "windows": m,
        "p_value": p,
        "max_drop": snap,
        "t": float(t[k]),
        "seconds_below_half": secs,
        "flagged": flagged,
        "verdict": verdict,
    }


def aggregate_prints(times, *, side=None) -> tuple[np.ndarray, np.ndarray]:
    """Group consecutive prints sharing a timestamp (and side) into one order.

    One aggressive order that fills at several prices or against several resting orders
    leaves several rows with the same timestamp; counted as separate trades they make
    order flow look persistent (a "buy after a buy") by construction.

    Returns
    -------
    (starts, last) : ndarray(int64), the first and last row of each group.
    """
    t = np.asarray(times)
    new = np.ones(t.size, dtype=bool)
    new[1:] = t[1:] != t[:-1]
    if side is not None:
        s = np.asarray(side)
        new[1:] |= s[1:] != s[:-1]
    starts = np.flatnonzero(new)
    last = np.append(starts[1:] - 1, t.size - 1)
    return starts, last
