r"""Destabilising feedback: self-excitation, momentum, toxic and one-sided order flow.

Hawkes self-excitation (Hawkes 1971; Filimonov & Sornette 2012)
    Arrival times :math:`t_1 < \dots < t_N` on :math:`[0, T]` with intensity
    :math:`\lambda(t) = \mu + \sum_{t_i < t} \alpha e^{-\beta (t - t_i)}`. The branching
    ratio :math:`n = \alpha / \beta` is the mean number of events each event triggers,
    i.e. the share of endogenous activity; :math:`n \to 1` is a critical, largely
    self-driven market. The log-likelihood

    .. math::

        \ell = \sum_i \log \lambda(t_i) - \mu T
               - \frac{\alpha}{\beta} \sum_i \left(1 - e^{-\beta (T - t_i)}\right)

    is evaluated in :math:`O(N)` with :math:`A_i = e^{-\beta(t_i - t_{i-1})}(1 + A_{i-1})`,
    :math:`\lambda(t_i) = \mu + \alpha A_i` (Ozaki 1979), and maximised with L-BFGS-B in
    log parameters. The confidence interval for :math:`n` uses the observed information
    (numerical Hessian of the analytic gradient) and the delta method.

Variance ratio (Lo & MacKinlay 1988)
    :math:`VR(q) = \hat\sigma^2_c(q) / \hat\sigma^2_a` with overlapping :math:`q`-period
    returns; > 1 means momentum (positive feedback), < 1 mean reversion. The
    heteroskedasticity-robust statistic is
    :math:`z^*(q) = \sqrt{T}\,(VR(q) - 1)/\sqrt{\hat\theta(q)}`,
    :math:`\hat\theta(q) = \sum_{j=1}^{q-1} [2(q-j)/q]^2 \hat\delta(j)`.

VPIN (Easley, López de Prado & O'Hara 2012)
    Trades in time bars; bulk volume classification gives each bar's buy volume
    :math:`V \Phi(\Delta P / \sigma_{\Delta P})`; volume buckets of size :math:`V_B`;
    :math:`\mathrm{VPIN} = \sum_{\tau} |V^S_\tau - V^B_\tau| / (n V_B)` over the last
    :math:`n` buckets. (Later work, e.g. Andersen & Bondarenko 2014, questions its
    predictive power: read it as a measure of one-sidedness, not a forecast.)

Order-flow sign autocorrelation (Lillo & Farmer 2004; Bouchaud et al. 2004)
    Sample autocorrelation of trade signs :math:`\epsilon_t = \pm 1` and a Ljung-Box test.

Liquidity withdrawal
    Depth relative to its own trailing median; the largest drop
    :math:`1 - \min_t D_t / \mathrm{median}(D_{t-w..t-1})`.

This module runs them all on one trade table in ``detect_feedback``; the detectors live in
:mod:`~marketsim.analysis.hawkes`, :mod:`~marketsim.analysis.variance_ratio_test`,
:mod:`~marketsim.analysis.flow_toxicity` (VPIN) and :mod:`~marketsim.analysis.order_flow`
(signs, depth), and are re-exported here.
"""

from __future__ import annotations

import numpy as np

from marketsim.analysis._validate import (
    as_frame,
    check_min_obs,
    check_times,
    numeric_column,
    require_columns,
    time_seconds,
)
from marketsim.analysis.flow_toxicity import vpin
from marketsim.analysis.hawkes import _hawkes_loglik_grad as _hawkes_loglik_grad
from marketsim.analysis.hawkes import hawkes_fit, simulate_hawkes
from marketsim.analysis.order_flow import depth_drop, sign_autocorrelation, trade_signs
from marketsim.analysis.variance_ratio_test import variance_ratio
from marketsim.errors import UsageError

__all__ = [
    "depth_drop",
    "detect_feedback",
    "hawkes_fit",
    "sign_autocorrelation",
    "simulate_hawkes",
    "trade_signs",
    "variance_ratio",
    "vpin",
]


def detect_feedback(
    trades,
    *,
    time_col: str = "t",
    price_col: str = "price",
    volume_col: str | None = None,
    side_col: str | None = None,
    depth_col: str | None = None,
    time_unit: str | None = None,
    sample_seconds: float | None = None,
    q=(2, 4, 8, 16),
    vpin_window: int = 50,
    alpha: float = 0.05,
) -> dict:
    """All feedback detectors on one trade (or quote) table.

    Parameters
    ----------
    trades : pl.DataFrame or path
        One row per trade: time, price, optional volume, aggressor side and book depth.
        Rows sharing a timestamp are allowed (one order filling at several levels) and
        count as one arrival in the Hawkes fit.
    sample_seconds : float, optional
        Sample the last price on this regular grid for the variance ratio; default
        trade time (every trade).

    Returns
    -------
    dict with ``hawkes``, ``variance_ratio``, ``sign_autocorrelation`` and, when the
    columns exist, ``vpin`` and ``depth_drop`` (each a dict with a ``verdict``), plus
    ``flagged`` and an overall ``verdict``.
    """
    frame = as_frame(trades, "trades")
    cols = {"time": time_col, "price": price_col}
    if volume_col:
        cols["volume"] = volume_col
    if side_col:
        cols["side"] = side_col
    if depth_col:
        cols["depth"] = depth_col
    require_columns(frame, cols)
    t = time_seconds(frame, time_col, time_unit)
    check_times(t, time_col, allow_ties=True)
    p = numeric_column(frame, price_col)
    check_min_obs(t.size, 100, "the feedback detectors")
    out: dict = {}
    out["hawkes"] = hawkes_fit(t)
    if sample_seconds:
        grid = np.floor((t - t[0]) / sample_seconds).astype(np.int64)
        last = np.flatnonzero(np.diff(grid, append=grid[-1] + 1))
        sampled = _ffill_grid(grid[last], p[last])
    else:
        sampled = p
    try:
        out["variance_ratio"] = variance_ratio(
            sampled, q, log=bool(np.all(sampled > 0)), alpha=alpha
        )
    except UsageError as exc:
        out["variance_ratio"] = {"flagged": False, "verdict": f"not computed: {exc}"}
    sides = None
    if side_col:
        s = frame.get_column(side_col)
        if s.null_count():
            raise UsageError(f"column {side_col!r} has missing values; drop or fill them")
        sides = s.to_numpy()
    out["sign_autocorrelation"] = sign_autocorrelation(trade_signs(p, sides), alpha=alpha)
    if volume_col:
        vol = numeric_column(frame, volume_col)
        try:
            out["vpin"] = vpin(t, p, vol, window=vpin_window)
        except UsageError as exc:
            out["vpin"] = {"flagged": False, "verdict": f"not computed: {exc}"}
    if depth_col:
        out["depth_drop"] = depth_drop(t, numeric_column(frame, depth_col))
    hits = [k for k, v in out.items() if v.get("flagged")]
    out["flagged"] = bool(out["hawkes"]["flagged"] or len(hits) >= 2)
    out["verdict"] = (
        ("destabilising feedback: " + ", ".join(hits))
        if out["flagged"]
        else "no destabilising feedback" + (f" (only {hits[0]})" if hits else "")
    )
    return out


def _ffill_grid(cells: np.ndarray, values: np.ndarray) -> np.ndarray:
    """Values on every grid cell from the first to the last, carrying the last value forward."""
    full = np.arange(cells[0], cells[-1] + 1)
    idx = np.searchsorted(cells, full, side="right") - 1
    return values[idx]
