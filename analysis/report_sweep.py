"""Report figures of a parameter sweep (one row per session, grid parameters as columns).

Heat maps of the mean outcome over two swept parameters (as in Figure 1 of Calvano et
al. 2020: Delta over the alpha x beta grid), or the mean with its normal 95% interval,
mean +- 1.96 sd / sqrt(n), against one swept parameter.
"""

from __future__ import annotations

from pathlib import Path

import polars as pl

from marketsim.analysis.report_page import Figure

#: outcomes charted, the first two present in the sweep's table (market_making sweeps: the
#: markup index and the markup in price units against the grid)
_OUTCOMES = (
    "markup_index",
    "markup",
    "profit_gain",
    "price_index",
    "max_drawdown",
    "price_mean",
    "converged",
)


def _sweep_parts(run_dir: Path) -> list[Path]:
    return sorted((run_dir / "parts").glob("*.parquet")) if (run_dir / "parts").is_dir() else []


def sweep_figures(run_dir: Path, summary: dict) -> list[Figure]:
    """Heat maps of the mean outcome over the swept grid (one row per session)."""
    from marketsim.analysis import charts  # altair takes ~1 s to import: only when charting

    frame = _sweep_frame(run_dir)
    params, outcomes = _params_outcomes(frame, summary)
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
                    f"Mean {value} per grid cell ({_per_cell(cells['sessions'])} per cell, "
                    f"{frame.height} in all"
                    + (f"; averaged over {', '.join(params[2:])}" if len(params) > 2 else "")
                    + "). The colour scale spans the cells' own range, "
                    f"{cells[value].min():.3g} to {cells[value].max():.3g}.",
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
                    f"Mean {value} per grid value ({_per_cell(cells['n'])} per value, "
                    f"{frame.height} in all).",
                    charts.sweep_line(cells, x, value),
                )
            )
    return figs


def _per_cell(counts: pl.Series) -> str:
    lo, hi = int(counts.min()), int(counts.max())
    n = f"{lo}" if lo == hi else f"{lo}-{hi}"
    return f"{n} session{'s' if hi != 1 else ''}"


def _sweep_frame(run_dir: Path) -> pl.DataFrame:
    if (run_dir / "sweep.json").exists():
        from marketsim.analysis.sweep_tables import scan_sweep

        return scan_sweep(run_dir, allow_missing=True).collect()
    parts = _sweep_parts(run_dir)
    return pl.scan_parquet(parts).collect() if parts else pl.DataFrame()


def _params_outcomes(frame: pl.DataFrame, summary: dict) -> tuple[list[str], list[str]]:
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
    return params, outcomes


def sweep_headline(run_dir: Path, summary: dict) -> str:
    """The headline box of a sweep (HTML): the range of the first outcome's cell means
    with the cells where it is lowest and highest, sessions per cell, the ``--set``
    values applied to every cell, and the small-sample note."""
    import html

    from marketsim.analysis.report_compare import small_sample_note

    frame = _sweep_frame(run_dir)
    params, outcomes = _params_outcomes(frame, summary)
    if not params or not outcomes:
        return ""
    value = outcomes[0]
    cells = frame.group_by(params).agg(
        pl.col(value).cast(pl.Float64).mean(), pl.len().alias("sessions")
    )
    lo = cells.sort(value).row(0, named=True)
    hi = cells.sort(value).row(-1, named=True)

    def at(r):
        return ", ".join(
            f"{p} = {r[p]:.3g}" if isinstance(r[p], float) else f"{p} = {r[p]}" for p in params
        )

    text = (
        f"Mean {value} ranges from {lo[value]:.3g} ({at(lo)}) to {hi[value]:.3g} ({at(hi)}) "
        f"over {cells.height} grid cells of {_per_cell(cells['sessions'])} each."
    )
    sets = summary.get("sets") or []
    fixed = (
        "Set for every cell: " + ", ".join(str(x) for x in sets) + "."
        if sets
        else "No --set values: every other parameter at the scenario's default."
    )
    seeds = summary.get("seeds")
    per = int(cells["sessions"].min())
    return (
        f"<div class='verdict headline'><p><b>{html.escape(text)}</b></p>"
        f"<p>{html.escape(fixed)} Each cell's sessions are independent seeded draws; the "
        "heat map shows cell means without intervals.</p></div>"
        + small_sample_note(seeds if isinstance(seeds, int) else per)
    )
