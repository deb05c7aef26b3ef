"""Report figures of a pricing run (Calvano, Calzolari, Denicolò & Pastorello 2020).

Reads ``sessions.parquet`` (one row per session, with its limit cycle) and
``impulse.parquet`` (prices around a one-period deviation by firm 1 to its static best
response, t = 0 the deviation). Draws a few sessions' price paths against the Nash and
monopoly lines, the distribution of the profit gain
Delta = (pi - pi_N) / (pi_M - pi_N) across sessions, the impulse-response fan (median and
10-90% band, the paper's Figure 4) and the shares of limit outcomes.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import polars as pl

from marketsim.analysis.report_page import Figure
from marketsim.errors import UsageError

#: sessions shown in the price-path panels
PATH_SESSIONS = 4
#: periods of the limit cycle shown before the deviation
PRE_PERIODS = 8
#: columns the charts read from ``impulse.parquet``
IMPULSE_COLUMNS = ("session", "t", "firm", "price")


def _cycle_extension(
    sessions: pl.DataFrame, impulse: pl.DataFrame, session: int, periods: int
) -> pl.DataFrame | None:
    """Limit-cycle prices before the impulse window, aligned with its first periods."""
    row = sessions.filter(pl.col("session") == session)
    firms = sorted(
        int(c.removeprefix("cycle_prices_firm"))
        for c in sessions.columns
        if c.startswith("cycle_prices_firm")
    )
    if row.height != 1 or not firms:
        return None
    cycles = [np.asarray(row[f"cycle_prices_firm{i}"][0], dtype=np.float64) for i in firms]
    length = cycles[0].size
    imp = impulse.filter((pl.col("session") == session) & (pl.col("t") < 0))
    if length == 0 or imp.height == 0:
        return None
    t0 = int(imp["t"].min())
    pre = {i: imp.filter(pl.col("firm") == i).sort("t")["price"].to_numpy() for i in firms}
    for phase in range(length):  # phase of the cycle at t0
        if all(
            pre[i].size
            and np.allclose(cycles[k][(phase + np.arange(pre[i].size)) % length], pre[i])
            for k, i in enumerate(firms)
        ):
            ts = np.arange(t0 - periods, t0)
            idx = (phase + ts - t0) % length
            return pl.concat(
                [
                    pl.DataFrame({"session": session, "t": ts, "firm": i, "price": cycles[k][idx]})
                    for k, i in enumerate(firms)
                ]
            )
    return None


def _price_paths(sessions: pl.DataFrame, impulse: pl.DataFrame) -> pl.DataFrame:
    chosen = impulse["session"].unique().sort().head(PATH_SESSIONS).to_list()
    parts = []
    for s in chosen:
        ext = _cycle_extension(sessions, impulse, s, PRE_PERIODS)
        if ext is not None:
            parts.append(ext)
        parts.append(impulse.filter(pl.col("session") == s).select("session", "t", "firm", "price"))
    return pl.concat(
        [
            p.cast({"session": pl.Int64, "t": pl.Int64, "firm": pl.Int64, "price": pl.Float64})
            for p in parts
        ]
    ).sort("session", "firm", "t")


def _histogram(values: pl.Series, bins: int = 30) -> pl.DataFrame:
    v = values.drop_nulls().drop_nans().to_numpy()
    lo, hi = (min(-0.1, v.min()), max(1.1, v.max())) if v.size else (0.0, 1.0)
    counts, edges = np.histogram(v, bins=bins, range=(lo, hi))
    return pl.DataFrame(
        {"bin_start": edges[:-1], "bin_end": edges[1:], "sessions": counts.astype(np.int64)}
    )


def _fan(impulse: pl.DataFrame) -> pl.DataFrame:
    return (
        impulse.group_by("t", "firm")
        .agg(
            pl.col("price").quantile(0.1, "linear").alias("q10"),
            pl.col("price").median().alias("median"),
            pl.col("price").quantile(0.9, "linear").alias("q90"),
        )
        .sort("firm", "t")
    )


def _first(value):
    if isinstance(value, list | tuple):
        return float(value[0]) if value else None
    return None if value is None else float(value)


def pricing_figures(run_dir: Path, summary: dict) -> list[Figure]:
    """Charts of a pricing run (Calvano output format)."""
    from marketsim.analysis import charts  # altair takes ~1 s to import: only when charting

    sessions = pl.read_parquet(run_dir / "sessions.parquet")
    impulse_path = run_dir / "impulse.parquet"
    impulse = None
    if impulse_path.exists():
        missing = [c for c in IMPULSE_COLUMNS if c not in pl.read_parquet_schema(impulse_path)]
        if missing:
            raise UsageError(
                f"report: {impulse_path} has no column {', '.join(map(repr, missing))}: "
                "it is not a pricing run's impulse table; pass the --out folder of "
                "marketsim run, compare or sweep"
            )
        impulse = pl.read_parquet(impulse_path)
    nash, mono = _first(summary.get("nash_price")), _first(summary.get("monopoly_price"))
    figs: list[Figure] = []
    if impulse is not None and impulse.height and nash is not None and mono is not None:
        shown = impulse["session"].unique().sort().head(PATH_SESSIONS).to_list()
        figs.append(
            Figure(
                "price_paths",
                "Price paths",
                f"Sessions {', '.join(map(str, shown))}: "
                "the learned limit cycle, then firm 1 deviates to its static best response "
                "at period 0 and both firms' prices follow the learned strategies.",
                charts.price_paths(_price_paths(sessions, impulse), nash, mono),
            )
        )
    if "profit_gain" in sessions.columns:
        pg = sessions["profit_gain"]
        figs.append(
            Figure(
                "profit_gain",
                "Profit gain Delta",
                f"{sessions.height} sessions; Delta = 0 is the static Nash profit, 1 the "
                "joint-monopoly profit; the red line is the mean.",
                charts.profit_gain_histogram(_histogram(pg), pg.drop_nans().mean()),
            )
        )
    if impulse is not None and impulse.height:
        figs.append(
            Figure(
                "impulse_response",
                "Impulse response",
                "Median and 10-90% band across sessions of both firms' prices around a "
                "one-period deviation by firm 1 (Calvano et al. 2020, Figure 4).",
                charts.impulse_fan(_fan(impulse), nash, mono),
            )
        )
    shares = summary.get("outcome_shares")
    if not shares and "outcome" in sessions.columns:
        shares = dict(sessions["outcome"].value_counts(normalize=True).iter_rows())
    if shares:
        frame = pl.DataFrame(
            {"outcome": list(shares), "share": [float(v or 0) for v in shares.values()]}
        )
        figs.append(
            Figure(
                "outcomes",
                "Limit outcomes",
                "Share of sessions ending in each kind of limit (constant "
                "prices, symmetric or not; cycles of length 2 or more).",
                charts.outcome_shares(frame),
            )
        )
    return figs
