r"""One-sided order flow and liquidity withdrawal.

Order-flow sign autocorrelation (Lillo & Farmer 2004; Bouchaud et al. 2004)
    Trade signs :math:`\epsilon_t = \pm 1` (given aggressor sides, else the tick rule), their
    sample autocorrelation and a Ljung-Box test.

Liquidity withdrawal
    Depth relative to its own trailing median; the largest drop
    :math:`1 - \min_t D_t / \mathrm{median}(D_{t-w..t-1})`.
"""

from __future__ import annotations

import numpy as np
import polars as pl
from scipy import stats

from marketsim.analysis._validate import (
    check_min_obs,
)
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
            "verdict": "every trade has the same sign: entirely one-sided",
        }
    acf = np.array([(d[k:] @ d[:-k]) / c0 for k in range(1, max_lag + 1)])
    Q = N * (N + 2) * np.sum(acf**2 / (N - np.arange(1, max_lag + 1)))
    p = float(stats.chi2.sf(Q, max_lag))
    flagged = p < alpha and acf[0] > 0
    if flagged:
        verdict = (
            f"persistent order flow: a buy tends to follow a buy (acf(1) = {acf[0]:.2f}, "
            f"Ljung-Box p = {p:.2g})"
        )
    elif p < alpha:
        verdict = f"alternating order flow (acf(1) = {acf[0]:.2f}, Ljung-Box p = {p:.2g})"
    else:
        verdict = f"no sign persistence (acf(1) = {acf[0]:.2f}, Ljung-Box p = {p:.2g})"
    return {
        "acf": acf.tolist(),
        "acf1": float(acf[0]),
        "ljung_box": float(Q),
        "p_value": p,
        "observations": int(N),
        "flagged": bool(flagged),
        "verdict": verdict,
    }


def depth_drop(times, depth, *, baseline_seconds: float = 300.0, threshold: float = 0.5) -> dict:
    """Liquidity withdrawal: the largest drop of depth below its trailing median.

    ``drop_t = 1 - D_t / median(D over the previous baseline_seconds)``.

    Returns
    -------
    dict with ``max_drop`` (fraction), ``t`` (time of the largest drop), ``seconds_below_half``
    (time spent below half the baseline), ``flagged`` (max_drop >= threshold), ``verdict``.
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
    mx = float(max(drop[k], 0.0))
    flagged = mx >= threshold
    verdict = (
        f"{'liquidity withdrawn' if flagged else 'no large liquidity withdrawal'}: "
        f"depth fell {mx:.0%} below its trailing median (at t = {t[k]:.6g})"
    )
    return {
        "max_drop": mx,
        "t": float(t[k]),
        "seconds_below_half": secs,
        "flagged": bool(flagged),
        "verdict": verdict,
    }
