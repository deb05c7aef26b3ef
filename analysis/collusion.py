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

This module combines them in ``detect_collusion``; the pieces live in
:mod:`~marketsim.analysis.demand_measures` (profit gain, price index),
:mod:`~marketsim.analysis.punishment` (impulse response) and
:mod:`~marketsim.analysis.collusion_screens` (the four screens), and are re-exported here.
"""

from __future__ import annotations

import numpy as np
import polars as pl

from marketsim.analysis._validate import (
    as_frame,
    check_min_obs,
    check_times,
    numeric_column,
    require_columns,
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
):
    """Validate a long price frame and pivot it to (times, firms, prices[T, n])."""
    require_columns(frame, {"time": time_col, "firm": firm_col, "price": price_col})
    numeric_column(frame, price_col)
    tcol = frame.get_column(time_col)
    if not (tcol.dtype.is_numeric() or tcol.dtype.is_temporal()):
        raise UsageError(f"column {time_col!r} is {tcol.dtype}; use numbers or datetimes")
    if frame.get_column(firm_col).null_count():
        raise UsageError(f"column {firm_col!r} has missing firm ids; drop those rows")
    for (firm,), g in frame.group_by([firm_col], maintain_order=True):
        tt = g.get_column(time_col)
        if tt.null_count():
            raise UsageError(f"column {time_col!r} has missing times; drop those rows")
        tt = tt.to_physical().cast(pl.Float64).to_numpy()
        check_times(tt, time_col, group=f"firm {firm}")
    wide = frame.pivot(on=firm_col, index=time_col, values=price_col).sort(time_col)
    firms = [c for c in wide.columns if c != time_col]
    if len(firms) < 2:
        raise UsageError(f"column {firm_col!r} has one firm; collusion screens need two or more")
    P = wide.select(firms).to_numpy().astype(np.float64)
    if np.isnan(P).any():
        r, c = np.argwhere(np.isnan(P))[0]
        raise UsageError(
            f"firm {firms[c]} has no price at {time_col} = {wide[time_col][int(r)]}; "
            "give every firm a price at every time"
        )
    check_min_obs(P.shape[0], min_obs, "the collusion screens")
    times = wide.get_column(time_col).to_physical().cast(pl.Float64).to_numpy()
    return times, firms, P


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

    Returns
    -------
    dict with ``screens`` (``margin``, ``variance``, ``parallelism``, ``structural_break``,
    each with ``statistic``, ``p_value``, ``flagged``, ``verdict``), optionally
    ``demand_model``, ``lerner_index`` and ``impulse_response``, ``firms``,
    ``observations``, ``flagged`` and ``verdict``. With a benchmark, prices are flagged
    when the margin screen is; without one, when at least two of the other screens are.
    """
    frame = as_frame(prices, "prices")
    times, firms, P = wide_prices(frame, time_col=time_col, firm_col=firm_col, price_col=price_col)
    out: dict = {"firms": [str(f) for f in firms], "observations": int(P.shape[0])}
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
    screens["structural_break"] = structural_break_screen(times, P, alpha=alpha)
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
    out["flagged"] = bool(flagged)
    out["verdict"] = verdict
    return out
