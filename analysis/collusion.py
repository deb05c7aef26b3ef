r"""Collusion (supra-competitive pricing) detectors.

With a known demand model (Calvano, Calzolari, Denicolò & Pastorello 2020, AER)
    Profit gain :math:`\Delta = (\bar\pi - \pi^N)/(\pi^M - \pi^N)` and normalised price
    index :math:`(\bar p - p^N)/(p^M - p^N)` against the one-shot Nash (0) and joint
    monopoly (1) benchmarks of a :class:`~marketsim.logit.LogitMarket`.

Impulse-response punishment test (Calvano et al. 2020, Section V; online appendix A10)
    One firm is forced to deviate for one period (t = 0); a reward-punishment scheme shows
    as the rival cutting its price at t = 1 (relative response
    :math:`p^{rival}_1 / p^{rival}_{-1} - 1 < 0`), prices returning to the pre-shock
    cycle after a few periods, and a deviation whose discounted profit
    :math:`\sum_{t \ge 0} \delta^t (\pi^{dev}_t - \bar\pi^{pre})` is negative.

Screens that need no demand model, on observed prices :math:`p_{it}` of several firms
    The mean margin over a competitive benchmark (Newey-West), the variance screen
    (Abrantes-Metz, Froeb, Geweke & Taylor 2006), the parallelism of price changes and a
    structural break to a higher, stickier regime (Andrews 1993); their statistics are
    stated in :mod:`~marketsim.analysis.collusion_screens`.

This module combines them in ``detect_collusion``; the pieces live in
:mod:`~marketsim.analysis.demand_measures` (profit gain, price index),
:mod:`~marketsim.analysis.punishment` (impulse response) and
:mod:`~marketsim.analysis.collusion_screens` (the four screens), and are re-exported here.
"""

from __future__ import annotations

import numpy as np
import polars as pl

from marketsim.analysis._validate import (
    TimeLabels,
    as_frame,
    check_min_obs,
    check_times,
    handle_missing,
    missing_text,
    numeric_column,
    require_columns,
    time_seconds,
    wide_to_long,
)
from marketsim.analysis.collusion_screens import (
    margin_screen,
    parallelism_screen,
    structural_break_screen,
    sup_f_test,
    variance_screen,
)
from marketsim.analysis.demand_measures import (
    collusion_benchmarks,
    demand_model_measures,
    price_index,
    profit_gain,
)
from marketsim.analysis.punishment import impulse_response_test, punishment_from_sessions
from marketsim.errors import UsageError

__all__ = [
    "collusion_benchmarks",
    "demand_model_measures",
    "detect_collusion",
    "impulse_response_test",
    "margin_screen",
    "parallelism_screen",
    "price_index",
    "profit_gain",
    "punishment_from_sessions",
    "structural_break_screen",
    "sup_f_test",
    "variance_screen",
    "wide_prices",
]


def wide_prices(
    frame: pl.DataFrame,
    *,
    time_col: str = "t",
    firm_col: str = "firm",
    price_col: str = "price",
    min_obs: int = 20,
    missing: str | None = None,
    time_unit: str | None = None,
):
    """Validate a long price frame and pivot it to (times, firms, prices[T, n]).

    ``times`` are in seconds for datetime, date and text columns (numbers as given).
    Missing prices and unbalanced panels (a firm without a price at some time) follow
    ``missing``: None refuses them; ``drop`` keeps only the times at which every firm has
    a price; ``ffill`` carries each firm's last price forward and drops the times before
    every firm has priced. Returns (times, firms, P, note) with the counts in ``note``.
    """
    require_columns(frame, {"time": time_col, "firm": firm_col, "price": price_col})
    numeric_column(frame.drop_nulls(price_col).filter(pl.col(price_col).is_not_nan()), price_col)
    tcol = frame.get_column(time_col)
    if not (tcol.dtype.is_numeric() or tcol.dtype.is_temporal() or tcol.dtype == pl.String):
        raise UsageError(f"column {time_col!r} is {tcol.dtype}; use numbers or datetimes")
    if frame.get_column(firm_col).null_count():
        raise UsageError(f"column {firm_col!r} has missing firm ids; drop those rows")
    frame, note = handle_missing(frame, time_col, [price_col], missing, group_col=firm_col)
    secs = pl.Series("_t", time_seconds(frame, time_col, time_unit))
    frame = frame.with_columns(secs)
    for (firm,), g in frame.group_by([firm_col], maintain_order=True):
        check_times(g.get_column("_t").to_numpy(), time_col, group=f"firm {firm}")
    wide = frame.pivot(on=firm_col, index="_t", values=price_col).sort("_t")
    firms = [c for c in wide.columns if c != "_t"]
    if len(firms) < 2:
        raise UsageError(f"column {firm_col!r} has one firm; collusion screens need two or more")
    P = wide.select(firms).to_numpy().astype(np.float64)
    times = wide.get_column("_t").to_numpy()
    gaps = np.isnan(P)
    if gaps.any():
        r, c = np.argwhere(gaps)[0]
        if missing is None:
            raise UsageError(
                f"firm {firms[c]} has no price at {time_col} row {int(r)} of the panel "
                f"({int(gaps.any(axis=1).sum())} times lack a firm's price); choose a rule: "
                "--missing drop (keep times every firm priced) or --missing ffill (carry each "
                "firm's last price forward)"
            )
        if missing == "ffill":
            filled = pl.DataFrame(P).select(pl.all().fill_nan(None).forward_fill()).to_numpy()
            note["values_filled"] += int(gaps.sum() - np.isnan(filled).sum())
            P = filled.astype(np.float64)
        keep = ~np.isnan(P).any(axis=1)
        note["times_dropped"] = int((~keep).sum())
        P, times = P[keep], times[keep]
    check_min_obs(P.shape[0], min_obs, "the collusion screens")
    return times, firms, P, note


def detect_collusion(
    prices,
    *,
    time_col: str = "t",
    firm_col: str = "firm",
    price_col: str = "price",
    cost_col: str | None = None,
    competitive_price=None,
    market=None,
    impulse=None,
    wide: bool = False,
    missing: str | None = None,
    time_unit: str | None = None,
    cv_threshold: float = 0.01,
    min_excess: float = 0.05,
    alpha: float = 0.05,
) -> dict:
    """Screens for supra-competitive pricing on observed prices of several firms.

    Parameters
    ----------
    prices : pl.DataFrame or path
        Long frame ``t, firm, price[, cost]`` (one row per firm and time).
    cost_col : str, optional
        Marginal cost column: reported as a Lerner index; with ``competitive_price``
        absent it is not a competitive benchmark by itself (differentiated firms price
        above cost in competition too).
    competitive_price : float or sequence of float (one per firm, in sorted firm order)
        The competitive benchmark; default the Nash prices of ``market`` if given.
    market : LogitMarket, optional
        Known demand: adds profit gain and price index, and sets the benchmark.
    impulse : pl.DataFrame, optional
        Forced-deviation paths (``session, t, firm, price``) for the punishment test.
    wide : bool
        The table has a time column and one price column per firm (or station) instead.
    missing : {None, "drop", "ffill"}
        Rule for missing prices and unbalanced panels (see :func:`wide_prices`); the counts
        are in ``missing`` and the verdict.

    Returns
    -------
    dict with ``screens`` (``margin``, ``variance``, ``parallelism``, ``structural_break``,
    each with ``statistic``, ``p_value``, ``flagged``, ``verdict``), optionally
    ``demand_model``, ``lerner_index`` and ``impulse_response``, ``firms``,
    ``observations``, ``flagged`` and ``verdict``. With a benchmark, prices are flagged
    when the margin screen is; without one, when at least two of the other screens are.
    """
    frame = as_frame(prices, "prices")
    if wide:
        frame = wide_to_long(frame, time_col, firm_col=firm_col, price_col=price_col)
    labels = TimeLabels(frame, time_col, time_unit)
    times, firms, P, note = wide_prices(
        frame,
        time_col=time_col,
        firm_col=firm_col,
        price_col=price_col,
        missing=missing,
        time_unit=time_unit,
    )
    out: dict = {
        "firms": [str(f) for f in firms],
        "observations": int(P.shape[0]),
        "missing": note,
        "time_kind": labels.kind,
        "first_time": labels(times[0]),
        "last_time": labels(times[-1]),
    }
    bench = None
    if competitive_price is not None:
        bench = np.broadcast_to(
            np.asarray(competitive_price, dtype=np.float64), (len(firms),)
        ).copy()
        if not np.all(bench > 0):
            raise UsageError("competitive_price must be > 0")
    elif market is not None:
        bench = market.nash_prices()
        if bench.size != len(firms):
            raise UsageError(f"the data have {len(firms)} firms but the market has {market.n}")
    screens: dict = {}
    if bench is not None:
        screens["margin"] = margin_screen(P, bench, min_excess=min_excess, alpha=alpha)
    else:
        screens["margin"] = {
            "statistic": None,
            "p_value": None,
            "flagged": False,
            "verdict": "no competitive benchmark given (competitive_price "
            "or market): margin screen skipped",
        }
    screens["variance"] = variance_screen(P, cv_threshold=cv_threshold, alpha=alpha)
    screens["parallelism"] = parallelism_screen(P, alpha=alpha)
    screens["structural_break"] = structural_break_screen(times, P, alpha=alpha, time_label=labels)
    out["screens"] = screens
    if cost_col:
        require_columns(frame, {"cost": cost_col})
        c = numeric_column(frame, cost_col)
        p = numeric_column(frame, price_col)
        out["lerner_index"] = float(np.mean((p - c) / p))
    if market is not None:
        out["demand_model"] = demand_model_measures(P, market)
    if impulse is not None:
        out["impulse_response"] = impulse_response_test(impulse, market)
    others = [k for k in ("variance", "parallelism", "structural_break") if screens[k]["flagged"]]
    if bench is not None:
        flagged = screens["margin"]["flagged"]
        verdict = "supra-competitive prices: " if flagged else "no supra-competitive prices: "
        verdict += screens["margin"]["verdict"]
        verdict += f"; {len(others)} of 3 other screens agree" + (
            f" ({', '.join(others)})" if others else ""
        )
    else:
        flagged = len(others) >= 2
        verdict = (
            ("collusive pattern: " if flagged else "no collusive pattern: ")
            + f"{len(others)} of 3 screens flag"
            + (f" ({', '.join(others)})" if others else "")
        )
    extra = missing_text(note)
    if note.get("times_dropped"):
        extra = (extra + "; " if extra else f"--missing {missing}: ") + (
            f"{note['times_dropped']} time(s) without every firm's price dropped"
        )
    if extra:
        verdict += f" [{extra}]"
    out["flagged"] = bool(flagged)
    out["verdict"] = verdict
    return out
