"""Reading ``market_making`` runs: markups with intervals, limit cycles, the impulse
response and the quote response to trades.

Every function takes the tables a run writes (``sessions.parquet``, ``impulse.parquet``)
or a sweep's sessions table (:func:`marketsim.analysis.sweep_tables.scan_sweep`), never a
simulator object; the benchmarks they are measured against are columns of those tables
(computed by :mod:`marketsim.mm_learning`).
"""

from __future__ import annotations

import numpy as np
import polars as pl

from marketsim.measures import t_interval


def interval(values, level: float = 0.95) -> dict[str, float]:
    """Mean, Student-t interval and count of the finite values."""
    x = np.asarray(values, dtype=float)
    mean, lo, hi = t_interval(x, level)
    return {"mean": mean, "ci_lo": lo, "ci_hi": hi, "n": int(np.isfinite(x).sum())}


def markup_by(sessions: pl.DataFrame, by: str | list[str], value: str = "markup_index"):
    """Mean of ``value`` per group with its 95% interval (e.g. per sweep grid point).

    Returns
    -------
    polars.DataFrame with the ``by`` columns, ``mean, ci_lo, ci_hi, n``, sorted by them
    """
    keys = [by] if isinstance(by, str) else list(by)
    rows = []
    for key, part in sessions.group_by(keys, maintain_order=True):
        rows.append({**dict(zip(keys, key, strict=True)), **interval(part[value].to_numpy())})
    return pl.DataFrame(rows).sort(keys)


def difference(a, b, level: float = 0.95) -> dict[str, float]:
    """Mean of ``a`` minus mean of ``b`` (independent sessions) and its Welch interval."""
    from scipy import stats

    a = np.asarray(a, dtype=float)
    b = np.asarray(b, dtype=float)
    a, b = a[np.isfinite(a)], b[np.isfinite(b)]
    va, vb = a.var(ddof=1) / a.size, b.var(ddof=1) / b.size
    se = np.sqrt(va + vb)
    dof = (va + vb) ** 2 / (va**2 / (a.size - 1) + vb**2 / (b.size - 1)) if se > 0 else 1.0
    half = stats.t.ppf(0.5 + level / 2, dof) * se
    d = float(a.mean() - b.mean())
    return {"diff": d, "ci_lo": d - half, "ci_hi": d + half}


def limit_cycles(sessions: pl.DataFrame) -> dict:
    """Shares of sessions by outcome (``constant``, ``two_cycle``, ``longer_cycle``,
    ``stochastic`` when the state holds the last trade) and the mean cycle length."""
    counts = dict(sessions["outcome"].value_counts().iter_rows())
    n = sessions.height
    cyc = sessions.filter(pl.col("cycle_length") > 0)["cycle_length"]
    return {
        "shares": {k: counts.get(k, 0) / n for k in ("constant", "two_cycle", "longer_cycle")}
        | {"stochastic": counts.get("stochastic", 0) / n},
        "cycle_length_mean": float(cyc.mean()) if cyc.len() else float("nan"),
    }


def impulse_profile(impulse: pl.DataFrame) -> pl.DataFrame:
    """The rivals' ask after maker 1's forced undercut at t = 0, minus their ask on the
    path without it, averaged over rivals and sessions, with a 95% interval per t."""
    rivals = (
        impulse.filter(pl.col("maker") > 1)
        .with_columns((pl.col("ask") - pl.col("ask_baseline")).alias("diff"))
        .group_by("session", "t")
        .agg(pl.col("diff").mean())
    )
    rows = [
        {"t": t, **interval(part["diff"].to_numpy())}
        for (t,), part in rivals.group_by(["t"], maintain_order=True)
    ]
    return pl.DataFrame(rows).sort("t")


def punishment(sessions: pl.DataFrame) -> dict:
    """Share of sessions whose rivals cut their asks right after the deviation, the mean
    punishment length (periods) and the share where the deviation does not pay."""
    return {
        "punished_share": float(sessions["punished"].mean()),
        "punishment_length": interval(sessions["punishment_length"].to_numpy()),
        "deviation_unprofitable_share": float(1.0 - sessions["deviation_profitable"].mean()),
    }


def quote_response(sessions: pl.DataFrame) -> dict[str, float]:
    """Learned ask after a client bought minus after none, in the same quote state
    (``ask_response_to_buy``, runs with ``trade_state``): mean over sessions, interval."""
    return interval(sessions["ask_response_to_buy"].to_numpy())


__all__ = [
    "difference",
    "impulse_profile",
    "interval",
    "limit_cycles",
    "markup_by",
    "punishment",
    "quote_response",
]
