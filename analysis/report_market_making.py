"""Report figures and headline of a ``market_making`` run (learning market makers).

Reads ``sessions.parquet`` (one row per session: ``markup_index``, ``markup``,
``ask_mean``, the impulse-response columns), ``impulse.parquet`` (``session, t, maker,
ask, ask_baseline``: maker 1 undercuts its rivals at t = 0) and the benchmarks in
``summary.json`` (competitive, collusive and zero-profit asks). The headline gives the
markup index (0 = competitive, 1 = collusive) and the markup in price units, each with its
95% interval over sessions, and the quoted spread against the competitive one; the run's
``detectors`` block (:mod:`marketsim.analysis.spreads`) is shown by the page header.
"""

from __future__ import annotations

import html
from pathlib import Path

import numpy as np
import polars as pl

from marketsim.analysis.market_making import interval
from marketsim.analysis.report_page import Figure
from marketsim.errors import UsageError

#: columns the report reads from each table
SESSION_COLUMNS = ("session", "markup_index", "markup", "ask_mean", "outcome")
IMPULSE_COLUMNS = ("session", "t", "maker", "ask")
#: benchmarks the report reads from ``summary.json``
BENCHMARKS = ("competitive_ask", "collusive_ask", "zero_profit_ask")


def is_market_making(run_dir: Path, summary: dict) -> bool:
    """A run of the market_making scenario (by its summary, else by its sessions table)."""
    if summary.get("scenario"):
        return summary["scenario"] == "market_making"
    try:
        return "markup_index" in pl.read_parquet_schema(run_dir / "sessions.parquet")
    except (pl.exceptions.PolarsError, OSError):
        return False


def _read(path: Path, columns: tuple[str, ...]) -> pl.DataFrame:
    """The table's ``columns``, or one line naming the file and what it lacks."""
    schema = pl.read_parquet_schema(path)
    missing = [c for c in columns if c not in schema]
    if missing:
        raise UsageError(
            f"report: {path} has no column {', '.join(repr(c) for c in missing)} (it has "
            f"{', '.join(schema)}); it is not a market_making run's table: re-run "
            "marketsim run market_making --out to rewrite the folder"
        )
    return pl.read_parquet(path, columns=list(columns))


def _benchmarks(run_dir: Path, summary: dict) -> dict[str, float]:
    missing = [k for k in BENCHMARKS if not isinstance(summary.get(k), int | float)]
    if missing:
        raise UsageError(
            f"report: {run_dir / 'summary.json'} lacks the benchmark "
            f"{', '.join(missing)} of a market_making run; re-run marketsim run "
            "market_making --out to rewrite the folder"
        )
    return {k: float(summary[k]) for k in BENCHMARKS}


def _histogram(values: pl.Series, lo: float, hi: float, bins: int = 30) -> pl.DataFrame:
    v = values.drop_nulls().drop_nans().to_numpy()
    if v.size:
        lo, hi = min(lo, float(v.min())), max(hi, float(v.max()))
    counts, edges = np.histogram(v, bins=bins, range=(lo, hi))
    return pl.DataFrame(
        {"bin_start": edges[:-1], "bin_end": edges[1:], "sessions": counts.astype(np.int64)}
    )


def _fan(impulse: pl.DataFrame) -> pl.DataFrame:
    return (
        impulse.group_by("t", "maker")
        .agg(
            pl.col("ask").quantile(0.1, "linear").alias("q10"),
            pl.col("ask").median().alias("median"),
            pl.col("ask").quantile(0.9, "linear").alias("q90"),
        )
        .rename({"maker": "firm"})
        .sort("firm", "t")
    )


def _ci_text(ci: dict) -> str:
    return f"{ci['mean']:.3f} [{ci['ci_lo']:.3f}, {ci['ci_hi']:.3f}]"


def market_making_headline(run_dir: Path, summary: dict) -> str:
    """The headline box: markup index and markup with 95% intervals, the mean best ask
    against the benchmarks, the quoted spread against the competitive one."""
    sessions = _read(run_dir / "sessions.parquet", SESSION_COLUMNS)
    b = _benchmarks(run_dir, summary)
    rows = [
        (
            "markup index (0 = competitive, 1 = collusive; mean [95% interval])",
            _ci_text(interval(sessions["markup_index"])),
        ),
        (
            "markup over the zero-profit ask, price units",
            _ci_text(interval(sessions["markup"])),
        ),
        ("mean best ask", _ci_text(interval(sessions["ask_mean"]))),
        (
            "benchmarks (asks)",
            f"competitive {b['competitive_ask']:.4g}, zero-profit {b['zero_profit_ask']:.4g}, "
            f"collusive {b['collusive_ask']:.4g}",
        ),
    ]
    spread = ((summary.get("detectors") or {}).get("screens") or {}).get("spread_level") or {}
    if isinstance(spread.get("mean_spread"), int | float):
        rows.append(
            (
                "quoted spread against the competitive spread",
                f"{spread['mean_spread']:.4g} against {spread['competitive_spread']:.4g}",
            )
        )
    table = "".join(f"<tr><th>{html.escape(k)}</th><td>{html.escape(v)}</td></tr>" for k, v in rows)
    return (
        "<div class='headline'><p>Learning market makers over "
        f"{sessions.height} sessions: the learned best ask against the competitive "
        f"(lowest Nash) ask of the grid game and the joint-profit-maximising one.</p>"
        f"<table class='meta'>{table}</table></div>"
    )


def market_making_figures(run_dir: Path, summary: dict) -> list[Figure]:
    """Charts of a market_making run: the markup index and the mean best ask across
    sessions against the benchmarks, the impulse-response fan, the limit outcomes."""
    from marketsim.analysis import charts  # altair takes ~1 s to import: only when charting

    sessions = _read(run_dir / "sessions.parquet", SESSION_COLUMNS)
    b = _benchmarks(run_dir, summary)
    mi = sessions["markup_index"]
    figs = [
        Figure(
            "markup_index",
            "Markup index",
            f"{sessions.height} sessions; 0 is the competitive ask, 1 the collusive "
            "(joint-profit-maximising) ask; the red line is the mean.",
            charts.profit_gain_histogram(
                _histogram(mi, -0.1, 1.1),
                mi.drop_nans().mean(),
                x_title="markup index (0 = competitive, 1 = collusive)",
                title="Distribution of the markup index across sessions",
            ),
        ),
        Figure(
            "asks",
            "Learned asks against the benchmarks",
            "Each session's mean best ask (the spread's ask side, from the expected "
            "value 0) against the competitive, zero-profit and collusive asks.",
            charts.level_histogram(
                _histogram(sessions["ask_mean"], 0.0, 1.0),
                {
                    "competitive": b["competitive_ask"],
                    "zero-profit": b["zero_profit_ask"],
                    "collusive": b["collusive_ask"],
                },
                x_title="mean best ask",
                title="Learned asks across sessions",
            ),
        ),
    ]
    impulse_path = run_dir / "impulse.parquet"
    if impulse_path.exists():
        impulse = _read(impulse_path, IMPULSE_COLUMNS)
        if impulse.height:
            figs.append(
                Figure(
                    "impulse_response",
                    "Impulse response",
                    "Median and 10-90% band across sessions of each maker's ask after "
                    "maker 1 is forced one tick below its rivals at period 0.",
                    charts.impulse_fan(
                        _fan(impulse),
                        b["competitive_ask"],
                        b["collusive_ask"],
                        labels=("competitive", "collusive"),
                        x_title="period (0 = maker 1 undercuts its rivals)",
                        y_title="ask",
                        colour_title="maker",
                    ),
                )
            )
    shares = dict(sessions["outcome"].value_counts(normalize=True).iter_rows())
    share_frame = pl.DataFrame(
        {"outcome": list(shares), "share": [float(v) for v in shares.values()]}
    )
    figs.append(
        Figure(
            "outcomes",
            "Limit outcomes",
            "Share of sessions whose greedy quotes end constant, in a cycle, or stochastic "
            "(the state holds the last trade).",
            charts.outcome_shares(share_frame),
        )
    )
    return figs


__all__ = ["is_market_making", "market_making_figures", "market_making_headline"]
