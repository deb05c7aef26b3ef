"""Report figures of a parameter sweep (one row per session, grid parameters as columns).

Heat maps of the mean outcome over two swept parameters (as in Figure 1 of Calvano et
al. 2020: Delta over the alpha x beta grid), or the mean with its normal 95% interval,
mean +- 1.96 sd / sqrt(n), against one swept parameter.
"""

from __future__ import annotations

from pathlib import Path

import polars as pl

from marketsim.analysis.report_page import Figure

_OUTCOMES = ("profit_gain", "price_index", "max_drawdown", "price_mean", "converged")


def _sweep_parts(run_dir: Path) -> list[Path]:
    return sorted((run_dir / "parts").glob("*.parquet")) if (run_dir / "parts").is_dir() else []


def sweep_figures(run_dir: Path, summary: dict) -> list[Figure]:
    """Heat maps of the mean outcome over the swept grid (one row per session)."""
    from marketsim.analysis import charts  # altair takes ~1 s to import: only when charting

    if (run_dir / "sweep.json").exists():
        from marketsim.analysis.sweep_tables import scan_sweep

        frame = scan_sweep(run_dir, allow_missing=True).collect()
    else:
        parts = _sweep_parts(run_dir)
        frame = pl.scan_parquet(parts).collect() if parts else pl.DataFrame()
    grid = summary.get("grid")
    if isinstance(grid, dict):
        params = [k for k in grid if k in frame.columns and frame[k].n_unique() > 1]
    else:
        skip = set(_OUTCOMES) | {"session", "seed", "periods", "cycle_length"}
        params = [
            c
            for c in frame.columns
            if c not in skip and frame[c].dtype.is_numeric() and 1 < frame[c].n_unique() <= 50
        ]
    outcomes = [c for c in _OUTCOMES if c in frame.columns]
    if not params or not outcomes:
        return []
    figs = []
    for value in outcomes[:2]:
        if len(params) >= 2:
            x, y = params[0], params[1]
            cells = frame.group_by(x, y).agg(
                pl.col(value).cast(pl.Float64).mean(), pl.len().alias("sessions")
            )
            figs.append(
                Figure(
                    f"heatmap_{value}",
                    f"{value} over {x} x {y}",
                    f"Mean {value} per grid cell ({frame.height} sessions"
                    + (f"; averaged over {', '.join(params[2:])}" if len(params) > 2 else "")
                    + ").",
                    charts.sweep_heatmap(cells, x, y, value),
                )
            )
        else:
            x = params[0]
            cells = (
                frame.group_by(x)
                .agg(
                    pl.col(value).cast(pl.Float64).mean(),
                    pl.col(value).cast(pl.Float64).std().alias("sd"),
                    pl.len().alias("n"),
                )
                .with_columns(
                    (pl.col(value) - 1.96 * pl.col("sd") / pl.col("n").sqrt()).alias("lo"),
                    (pl.col(value) + 1.96 * pl.col("sd") / pl.col("n").sqrt()).alias("hi"),
                )
                .sort(x)
            )
            figs.append(
                Figure(
                    f"sweep_{value}",
                    f"{value} against {x}",
                    f"Mean {value} per grid value ({frame.height} sessions).",
                    charts.sweep_line(cells, x, value),
                )
            )
    return figs
