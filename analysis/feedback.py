r"""Destabilising feedback: self-excitation, momentum, toxic and one-sided order flow.

Hawkes self-excitation (Hawkes 1971; Filimonov & Sornette 2012)
    The branching ratio :math:`n = \alpha / \beta` of an exponential-kernel Hawkes process
    fitted to the arrival times by maximum likelihood: the share of endogenous activity,
    :math:`n \to 1` a critical, largely self-driven market (the model, the likelihood and
    the interval for :math:`n`: :mod:`~marketsim.analysis.hawkes`).

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
    missing_text,
    numeric_column,
    timed_frame,
)
from marketsim.analysis.flow_toxicity import vpin
from marketsim.analysis.hawkes import _hawkes_loglik_grad as _hawkes_loglik_grad
from marketsim.analysis.hawkes import hawkes_fit, simulate_hawkes
from marketsim.analysis.order_flow import (
    aggregate_prints,
    depth_drop,
    sign_autocorrelation,
    trade_signs,
)
from marketsim.analysis.variance_ratio_test import variance_ratio
from marketsim.errors import UsageError

#: most regular price samples the variance ratio is computed on (8 bytes each, a few copies)
MAX_SAMPLES = 50_000_000

__all__ = [
    "aggregate_prints",
    "feedback_verdict",
    "depth_drop",
    "detect_feedback",
    "hawkes_fit",
    "sign_autocorrelation",
    "simulate_hawkes",
    "trade_signs",
    "variance_ratio",
    "vpin",
]


#: what each test needs besides event times, and the option that names it
_NEEDS = {
    "variance_ratio": ("price", "--price-col"),
    "sign_autocorrelation": ("price or aggressor side", "--price-col or --side-col"),
    "vpin": ("price and volume", "--price-col and --volume-col"),
    "depth_drop": ("book depth", "--depth-col"),
}


#: each feedback test in words (its key in the detectors' JSON -> what it found when it flags)
FEEDBACK_TESTS = {
    "hawkes": "trading feeding on itself (Hawkes)",
    "sign_autocorrelation": "one-sided order flow persisting",
    "variance_ratio": "prices trending (variance ratio)",
    "depth_drop": "liquidity withdrawn from the book",
    "vpin": "one-sided, toxic volume (VPIN)",
}


def feedback_verdict(blocks: dict, alpha: float = 0.05) -> tuple[bool, str]:
    """The overall flag and verdict from the tests' blocks (each with ``flagged``).

    Flagged when the Hawkes fit is significantly supercritical, or when two or more of the
    other tests flag. Each test has size ``alpha``: on an ordinary day it fires by chance
    on at most a share ``alpha`` of days, and two together far more rarely.
    """
    tests = {k: v for k, v in blocks.items() if isinstance(v, dict) and "flagged" in v}
    hits = [FEEDBACK_TESTS.get(k, k) for k, v in tests.items() if v.get("flagged")]
    flagged = bool(tests.get("hawkes", {}).get("flagged") or len(hits) >= 2)
    days = round(1 / alpha) if alpha > 0 else 0
    size = (
        f"each test is at the {alpha:.0%} level: on an ordinary day it raises a false alarm "
        f"on at most 1 day in {days}"
    )
    if flagged:
        verdict = (
            f"destabilising feedback, the market amplifying its own moves: {', '.join(hits)} "
            f"({size}, two together far more rarely)"
        )
    elif hits:
        verdict = (
            f"no destabilising feedback: only {hits[0]} flags, which alone is within chance "
            f"({size})"
        )
    else:
        verdict = f"no destabilising feedback: no flag from {len(tests)} test(s) run ({size})"
    return flagged, verdict


def detect_feedback(
    trades,
    *,
    time_col: str = "t",
    price_col: str | None = None,
    volume_col: str | None = None,
    side_col: str | None = None,
    depth_col: str | None = None,
    time_unit: str | None = None,
    sample_seconds: float | None = None,
    q=(2, 4, 8, 16),
    vpin_window: int = 50,
    alpha: float = 0.05,
    missing: str | None = None,
) -> dict:
    """All feedback detectors on one trade (or quote) table, or on event times alone.

    Parameters
    ----------
    trades : pl.DataFrame or path
        One row per trade: time, optional price, volume, aggressor side and book depth.
        Prints sharing a timestamp (and side) are one order filling at several prices:
        they are aggregated (last price, summed volume) and count as one arrival, one sign
        and one VPIN trade; ``aggregated_prints`` says how many rows were merged.
    price_col : str, optional
        Price column; default ``price`` if the table has one. Without a price the Hawkes
        fit runs on the event times alone and ``skipped`` names the tests that needed it.
        Times on a regular grid (book snapshots) are not events: the Hawkes fit says so
        instead of fitting them.
    sample_seconds : float, optional
        Sample the last price on this regular grid for the variance ratio; default
        trade time (every order).
    alpha : float
        Size of every test.
    missing : {None, "drop", "ffill"}
        Rule for missing values in the price, volume, side and depth columns (None:
        refuse them); counted in ``missing`` and the verdict.

    Returns
    -------
    dict with ``hawkes`` and, when their columns exist, ``variance_ratio``,
    ``sign_autocorrelation``, ``vpin`` and ``depth_drop`` (each a dict with ``flagged``
    and ``verdict``); ``skipped`` (test -> the column it needed), ``prints``, ``orders``,
    ``aggregated_prints``, ``flagged`` and an overall ``verdict``.
    """
    frame = as_frame(trades, "trades")
    if price_col is None and "price" in frame.columns:
        price_col = "price"
    cols = {"time": time_col}
    for role, col in (
        ("price", price_col),
        ("volume", volume_col),
        ("side", side_col),
        ("depth", depth_col),
    ):
        if col:
            cols[role] = col
    frame, miss, labels, t = timed_frame(frame, cols, missing, time_unit, allow_ties=True)
    check_min_obs(t.size, 100, "the feedback detectors")
    sides = None
    if side_col:
        s = frame.get_column(side_col)
        if s.null_count():
            raise UsageError(f"column {side_col!r} has missing values; drop or fill them")
        sides = s.to_numpy()
    starts, last = aggregate_prints(t, side=sides)
    out: dict = {
        "first_time": labels(t[0]),
        "last_time": labels(t[-1]),
        "time_kind": labels.kind,
        "missing": miss,
        "prints": int(t.size),
        "orders": int(starts.size),
        "aggregated_prints": int(t.size - starts.size),
    }
    gaps = np.diff(t[starts])
    if gaps.size and np.ptp(gaps) <= 1e-9 * max(abs(gaps[0]), 1e-300):
        # book snapshots or a sampled series: their times say nothing about arrivals
        out["hawkes"] = {
            "flagged": False,
            "verdict": f"not computed: the times are a regular grid (every {gaps[0]:g} s), "
            "snapshots rather than events",
        }
    else:
        out["hawkes"] = hawkes_fit(t, alpha=alpha)
    skipped: dict[str, str] = {}
    if price_col:
        p_all = numeric_column(frame, price_col)
        p = p_all[last]
        to = t[last]
        if sample_seconds is not None and not (np.isfinite(sample_seconds) and sample_seconds > 0):
            raise UsageError(
                f"--sample-seconds {sample_seconds:g}: give a positive number of seconds"
            )
        if sample_seconds:
            span = float(to[-1] - to[0])
            if span / sample_seconds > MAX_SAMPLES:
                raise UsageError(
                    f"--sample-seconds {sample_seconds:g}: the data span {span:g} s, which "
                    f"would be {span / sample_seconds:.3g} samples (at most {MAX_SAMPLES:,}); "
                    f"give --sample-seconds {span / MAX_SAMPLES:.3g} or more"
                )
            grid = np.floor((to - to[0]) / sample_seconds).astype(np.int64)
            cell_last = np.flatnonzero(np.diff(grid, append=grid[-1] + 1))
            sampled = _ffill_grid(grid[cell_last], p[cell_last])
        else:
            sampled = p
        try:
            step = (
                "trade"
                if not sample_seconds
                else "second"
                if sample_seconds == 1
                else f"{sample_seconds:g}-second interval"
            )
            out["variance_ratio"] = variance_ratio(
                sampled, q, log=bool(np.all(sampled > 0)), alpha=alpha, step=step
            )
        except UsageError as exc:
            out["variance_ratio"] = {"flagged": False, "verdict": f"not computed: {exc}"}
    else:
        p = None
    if p is not None or sides is not None:
        out["sign_autocorrelation"] = sign_autocorrelation(
            trade_signs(p, None if sides is None else sides[last]), alpha=alpha
        )
    if volume_col and p is not None:
        vol = np.add.reduceat(numeric_column(frame, volume_col), starts)
        try:
            out["vpin"] = vpin(t[last], p, vol, window=vpin_window)
            out["vpin"]["vpin_max_time"] = labels(out["vpin"]["vpin_max_t"])
        except UsageError as exc:
            out["vpin"] = {"flagged": False, "verdict": f"not computed: {exc}"}
    if depth_col:
        d = numeric_column(frame, depth_col)
        try:
            out["depth_drop"] = depth_drop(t[last], d[last], alpha=alpha, time_label=labels)
        except UsageError as exc:
            out["depth_drop"] = {"flagged": False, "verdict": f"not computed: {exc}"}
    for name, (what, option) in _NEEDS.items():
        if name not in out:
            skipped[name] = f"needs a {what} column ({option})"
    out["skipped"] = skipped
    out["flagged"], out["verdict"] = feedback_verdict(
        {k: v for k, v in out.items() if isinstance(v, dict) and k not in ("skipped", "missing")},
        alpha,
    )
    notes = [missing_text(miss)]
    if out["aggregated_prints"]:
        notes.append(
            f"{out['aggregated_prints']} print(s) sharing a timestamp merged into "
            f"{out['orders']} order(s): last price, summed volume"
        )
    if skipped:
        notes.append("not run: " + ", ".join(skipped))
    if any(notes):
        out["verdict"] += " [" + "; ".join(n for n in notes if n) + "]"
    return out


def _ffill_grid(cells: np.ndarray, values: np.ndarray) -> np.ndarray:
    """Values on every grid cell from the first to the last, carrying the last value forward."""
    full = np.arange(cells[0], cells[-1] + 1)
    idx = np.searchsorted(cells, full, side="right") - 1
    return values[idx]
