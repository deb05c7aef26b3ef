r"""Impulse-response punishment test (Calvano et al. 2020, Section V; online appendix A10).

One firm is forced to deviate for one period (t = 0); a reward-punishment scheme shows as the
rival cutting its price at t = 1 (relative response
:math:`p^{rival}_1 / p^{rival}_{-1} - 1 < 0`), prices returning to the pre-shock cycle after
a few periods, and a deviation whose discounted profit
:math:`\sum_{t \ge 0} \delta^t (\pi^{dev}_t - \bar\pi^{pre})` is negative. This module runs the
test on forced-deviation paths (``impulse_response_test``) or reads a pricing run's own exact
deviation analysis (``punishment_from_sessions``), with one verdict rule for both.
"""

from __future__ import annotations

import numpy as np
import polars as pl

from marketsim.analysis._validate import (
    as_frame,
    numeric_column,
    require_columns,
)
from marketsim.errors import UsageError
from marketsim.measures import session_deviation_figures


def impulse_response_test(
    impulse,
    market=None,
    *,
    deviator: int = 1,
    delta: float = 0.95,
    tol: float = 0.01,
    session_col: str = "session",
    time_col: str = "t",
    firm_col: str = "firm",
    price_col: str = "price",
) -> dict:
    """Summarise forced-deviation experiments across sessions (Calvano et al. 2020).

    Parameters
    ----------
    impulse : pl.DataFrame
        Long frame ``session, t, firm, price`` with ``t = 0`` the deviation period and
        negative ``t`` before it (the ``impulse.parquet`` of a Calvano run).
    market : LogitMarket, optional
        Needed for the deviation's profitability.
    deviator : int
        The firm forced to deviate.
    delta : float
        Discount factor for the deviation's discounted profit.
    tol : float
        Relative tolerance for "back to the pre-shock prices".

    Returns
    -------
    dict with ``sessions`` (per-session pl.DataFrame: ``rival_response``, ``punished``,
    ``punishment_length``, ``deviation_gain``), ``punished_share``,
    ``rival_response_mean``, ``punishment_length_mean``, ``deviation_unprofitable_share``
    (null without a market), ``flagged`` and ``verdict``.
    """
    frame = as_frame(impulse, "impulse")
    require_columns(
        frame, {"session": session_col, "time": time_col, "firm": firm_col, "price": price_col}
    )
    numeric_column(frame, price_col)
    wide = frame.pivot(
        on=firm_col, index=[session_col, time_col], values=price_col, aggregate_function="first"
    ).sort(session_col, time_col)
    firms = sorted(c for c in wide.columns if c not in (session_col, time_col))
    firms = sorted(firms, key=lambda f: int(f) if str(f).lstrip("-").isdigit() else str(f))
    if str(deviator) not in [str(f) for f in firms]:
        raise UsageError(f"deviator firm {deviator} not in column {firm_col!r} ({firms})")
    d_col = [f for f in firms if str(f) == str(deviator)][0]
    rivals = [f for f in firms if f != d_col]
    if not rivals:
        raise UsageError("the impulse frame has one firm; the punishment test needs rivals")
    rows = []
    for (sess,), g in wide.group_by([session_col], maintain_order=True):
        t = g[time_col].to_numpy()
        P = g.select(firms).to_numpy().astype(np.float64)
        if np.isnan(P).any():
            raise UsageError(f"session {sess}: some firm has no price at some t; fill them")
        pre = t < 0
        if not pre.any() or not (t == 0).any() or not (t == 1).any():
            raise UsageError(f"session {sess}: needs t < 0, t = 0 and t = 1 rows")
        lo = P[pre].min(axis=0) * (1 - tol)
        hi = P[pre].max(axis=0) * (1 + tol)
        last_pre = P[np.flatnonzero(pre)[-1]]
        at1 = P[np.flatnonzero(t == 1)[0]]
        riv = [firms.index(f) for f in rivals]
        rival_response = float(np.mean(at1[riv] / last_pre[riv] - 1))
        after = np.flatnonzero(t >= 1)
        back = [t[k] for k in after if np.all((P[k] >= lo) & (P[k] <= hi))]
        length = float(back[0]) if back else None
        gain = None
        if market is not None:
            prof = market.profits(P)[:, firms.index(d_col)]
            base = prof[pre].mean()
            post = t >= 0
            disc = delta ** t[post].astype(np.float64)
            gain = float(np.sum(disc * (prof[post] - base)) / (base / (1 - delta)))
        rows.append(
            {
                "session": sess,
                "rival_response": rival_response,
                "punished": rival_response < -tol / 2,
                "punishment_length": length,
                "deviation_gain": gain,
            }
        )
    per = pl.DataFrame(
        rows,
        schema={
            "session": wide.schema[session_col],
            "rival_response": pl.Float64,
            "punished": pl.Boolean,
            "punishment_length": pl.Float64,
            "deviation_gain": pl.Float64,
        },
        orient="row",
    )
    punished = float(per["punished"].mean())
    unprof = float((per["deviation_gain"] < 0).mean()) if market is not None else None
    return {
        "sessions": per,
        "punished_share": punished,
        "rival_response_mean": float(per["rival_response"].mean()),
        "punishment_length_mean": per["punishment_length"].mean(),
        "deviation_gain_mean": per["deviation_gain"].mean() if market is not None else None,
        "deviation_unprofitable_share": unprof,
        **_punishment_verdict(punished, float(per["rival_response"].mean()), unprof),
    }


def _punishment_verdict(punished: float, response: float, unprof: float | None) -> dict:
    """``flagged`` and ``verdict`` of the punishment test from its three figures."""
    flagged = punished >= 0.5 and (unprof is None or unprof >= 0.5)
    verdict = (
        f"when one firm undercut for one period, its rivals cut their prices the next "
        f"period in {punished:.0%} of sessions (mean change of their price {response:+.1%})"
    )
    if unprof is not None:
        verdict += f"; the undercut cost the deviator discounted profit in {unprof:.0%}"
    verdict += (
        " -> reward-punishment scheme: undercutting is punished, which sustains high "
        "prices (Calvano et al. 2020)"
        if flagged
        else " -> no evidence that undercutting is punished"
    )
    return {"flagged": bool(flagged), "verdict": verdict}


def punishment_from_sessions(sessions: pl.DataFrame, tol: float = 0.01) -> dict:
    """The punishment test from a pricing run's own exact forced-deviation analysis.

    Reads the per-session columns ``rival_response`` (rivals' relative price change the
    period after a one-period deviation to the static best response) and
    ``punishment_length``, and either ``deviations`` with ``deviations_unprofitable``
    (how many deviations a session analyses, e.g. each firm from each cycle state, and
    how many do not pay) or ``deviation_profitable`` (one deviation per session). It
    reports the same figures, under the same names and definitions, as the run's summary
    (:func:`marketsim.measures.deviation_figures`: pooled over the deviations); a session
    counts as punished when ``rival_response < -tol / 2``, as in
    :func:`impulse_response_test`.
    """
    figures = session_deviation_figures(sessions)
    punished = float((sessions["rival_response"] < -tol / 2).mean())
    return {
        "source": "the sessions' exact deviation analysis (as the run summary)",
        "punished_share": punished,
        **figures,
        **_punishment_verdict(
            punished, figures["rival_response_mean"], figures["deviation_unprofitable_share"]
        ),
    }
