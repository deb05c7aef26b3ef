"""One self-contained HTML report (plus PNGs) for a run, a comparison or a sweep.

:func:`write_report` looks at the files in a run folder and picks the charts:

* pricing runs (``sessions.parquet`` + ``impulse.parquet``; calvano2020, llm_pricing):
  price paths of a few sessions against the Nash and monopoly lines, the distribution of
  the profit gain Delta, the impulse-response fan, outcome shares;
* order-book runs (``book.parquet`` / ``trades.parquet`` / ``agents.parquet``): mid price
  with halts, limit states, bands and crash events, volume, depth, drawdown,
  intermediaries' inventories, Hawkes intensity, variance-ratio profile, VPIN;
* policy comparisons (``compare.parquet``): a forest plot per metric;
* sweeps (Parquet parts below the folder, one row per session, grid parameters as
  columns): heat maps of the mean outcome over two parameters;
* audits (``audit.json``, :mod:`marketsim.experiments.audit`): the verdict in a sentence with its
  evidence and a table of the tests, the profit gain Delta with its interval per test,
  the punishment test's mean price path around the deviation, failures per test.

Large runs are summarised in Polars before charting (quantiles per period, counts per
bin, one row per time bucket), so the page stays small. The page inlines Vega, Vega-Lite
and Vega-Embed once (from ``vl_convert.javascript_bundle``) and embeds every chart in its
own ``div`` with the SVG renderer; a Content-Security-Policy forbids any network load, so
it opens on an air-gapped laptop. ``figures/*.png`` are rendered by vl-convert.
"""

from __future__ import annotations

import functools
import html
import json
import math
import os
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import polars as pl
from numba import njit

from marketsim.errors import UsageError
from marketsim.io import _atomic_target, run_metadata

#: PNG scale factor (pixels per CSS pixel)
PNG_SCALE = 1.0
#: most time buckets in an order-book chart
MAX_BUCKETS = 800
#: sessions shown in the price-path panels
PATH_SESSIONS = 4
#: periods of the limit cycle shown before the deviation
PRE_PERIODS = 8


@dataclass
class Figure:
    """One chart of the report: file stem, heading, one-line reading guide, chart."""

    name: str
    title: str
    caption: str
    chart: object


# ============================================================================ pricing


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
    impulse = pl.read_parquet(impulse_path) if impulse_path.exists() else None
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


# ============================================================================ order book


@njit(cache=True)
def _hawkes_intensity(events, grid, mu, alpha, beta):
    """lambda(t) = mu + sum_{t_i < t} alpha exp(-beta (t - t_i)) on a sorted grid."""
    out = np.empty(grid.shape[0])
    acc = 0.0
    last = grid[0]
    j = 0
    for g in range(grid.shape[0]):
        t = grid[g]
        acc *= math.exp(-beta * (t - last))
        while j < events.shape[0] and events[j] < t:
            acc += alpha * math.exp(-beta * (t - events[j]))
            j += 1
        last = t
        out[g] = mu + acc
    return out


def _first_session(frame: pl.DataFrame | None) -> pl.DataFrame | None:
    if frame is None or "session" not in frame.columns or frame.height == 0:
        return frame
    return frame.filter(pl.col("session") == frame["session"].min())


def _seconds(frame: pl.DataFrame, col: str) -> np.ndarray:
    v = frame[col].cast(pl.Float64).to_numpy()
    return v / 1e9 if col.endswith("_ns") else v


def _time_col(frame: pl.DataFrame) -> str | None:
    return next((c for c in ("t_ns", "t", "time") if c in frame.columns), None)


def _mid_col(frame: pl.DataFrame) -> str | None:
    return next((c for c in ("mid_tick", "mid", "mid_price") if c in frame.columns), None)


def _spans(secs: np.ndarray, flag: np.ndarray, state: str) -> list[dict]:
    flag = np.asarray(flag, dtype=bool)
    out = []
    edges = np.flatnonzero(np.diff(np.concatenate([[0], flag.astype(np.int8), [0]])))
    for a, b in zip(edges[::2], edges[1::2], strict=True):
        out.append(
            {"start_h": secs[a] / 3600, "end_h": secs[b - 1] / 3600 + 1 / 3600, "state": state}
        )
    return out


def orderbook_figures(run_dir: Path, summary: dict) -> list[Figure]:
    """Charts of an order-book run (the first session when there are several)."""
    from marketsim.analysis import charts  # altair takes ~1 s to import: only when charting
    from marketsim.analysis.crashes import drawdown_events
    from marketsim.analysis.feedback import hawkes_fit, variance_ratio, vpin

    def read(name):
        p = run_dir / name
        return _first_session(pl.read_parquet(p)) if p.exists() else None

    book, trades, agents = read("book.parquet"), read("trades.parquet"), read("agents.parquet")
    figs: list[Figure] = []
    det = summary.get("detectors") or {}
    multi = (
        "" if not summary.get("sessions") or summary.get("sessions") == 1 else (" (first session)")
    )
    if book is not None and book.height and _time_col(book) and _mid_col(book):
        tcol, mcol = _time_col(book), _mid_col(book)
        book = book.filter(pl.col(mcol).is_not_null() & pl.col(mcol).is_not_nan()).sort(tcol)
        secs = _seconds(book, tcol)
        width = max(1.0, (secs[-1] - secs[0]) / MAX_BUCKETS) if secs.size else 1.0
        b = book.with_columns(
            pl.Series("sec", secs),
            pl.Series("bucket", np.floor((secs - secs[0]) / width).astype(np.int64)),
        )
        mid = b[mcol].cast(pl.Float64)
        b = b.with_columns(
            pl.Series("drawdown", 1 - mid.to_numpy() / np.maximum.accumulate(mid.to_numpy()))
        )
        bid_cols = [c for c in b.columns if c.startswith("bid_qty")]
        ask_cols = [c for c in b.columns if c.startswith("ask_qty")]
        aggs = [
            pl.col("sec").first().alias("sec"),
            pl.col(mcol).min().alias("mid_low"),
            pl.col(mcol).max().alias("mid_high"),
            pl.col(mcol).last().alias("mid"),
            pl.col("drawdown").max(),
        ]
        if "volume" in b.columns:
            aggs.append(pl.col("volume").sum())
        if bid_cols and ask_cols:
            aggs += [
                pl.sum_horizontal(bid_cols).mean().alias("bid"),
                pl.sum_horizontal(ask_cols).mean().alias("ask"),
            ]
        holders = {"mm_inventory": "market makers", "hft_net_position": "high-frequency traders"}
        aggs += [pl.col(c).last() for c in holders if c in b.columns]
        for lo, hi in (("band_lo_tick", "band_hi_tick"), ("band_lo", "band_hi")):
            if lo in b.columns and hi in b.columns:
                aggs += [pl.col(lo).min().alias("band_lo"), pl.col(hi).max().alias("band_hi")]
                break
        series = (
            b.group_by("bucket")
            .agg(aggs)
            .sort("bucket")
            .with_columns((pl.col("sec") / 3600).alias("hour"))
        )
        spans = []
        for col, state in (("halted", "halt"), ("halt", "halt"), ("limit_state", "limit state")):
            if col in b.columns:
                spans += _spans(secs, b[col].fill_null(False).cast(pl.Boolean).to_numpy(), state)
        events = []
        ev = drawdown_events(secs, mid.to_numpy()) if secs.size >= 2 else None
        if ev is not None:
            for r in ev.head(10).iter_rows(named=True):
                events += [
                    {"hour": r["start_t"] / 3600, "event": "drawdown start"},
                    {"hour": r["trough_t"] / 3600, "event": "drawdown trough"},
                ]
        figs.append(
            Figure(
                "mid_price",
                "Mid price" + multi,
                f"Buckets of {width:.0f} s; shaded: low-high of the mid within a bucket"
                + ("; coloured spans: halts / limit states" if spans else "")
                + (
                    f"; red lines: {len(events) // 2} fall(s) of 5% within 15 minutes"
                    if events
                    else "; no fall of 5% within 15 minutes"
                )
                + ".",
                charts.mid_price(
                    series.select(
                        "hour",
                        "mid_low",
                        "mid_high",
                        "mid",
                        *[c for c in ("band_lo", "band_hi") if c in series.columns],
                    ),
                    pl.DataFrame(spans) if spans else None,
                    pl.DataFrame(events) if events else None,
                ),
            )
        )
        if "volume" in series.columns:
            figs.append(
                Figure(
                    "volume",
                    "Volume" + multi,
                    "Contracts traded per bucket.",
                    charts.volume(series.select("hour", "volume")),
                )
            )
        if "bid" in series.columns:
            d = series.select("hour", "bid", "ask").unpivot(
                index="hour", variable_name="side", value_name="depth"
            )
            figs.append(
                Figure(
                    "depth",
                    "Depth" + multi,
                    "Mean resting quantity at the best five price levels.",
                    charts.depth(d),
                )
            )
        figs.append(
            Figure(
                "drawdown",
                "Drawdown" + multi,
                "Largest fall of the mid below its running maximum per bucket.",
                charts.drawdown(series.select("hour", "drawdown")),
            )
        )
        held = [c for c in holders if c in series.columns]
        if held:
            inv = (
                series.select("hour", *held)
                .unpivot(index="hour", variable_name="holder", value_name="inventory")
                .with_columns(pl.col("holder").replace_strict(holders))
            )
            figs.append(
                Figure(
                    "inventories",
                    "Inventories" + multi,
                    "Aggregate net position of the intermediaries.",
                    charts.inventories(inv),
                )
            )
        if secs.size >= 64:
            qs = tuple(q for q in (2, 4, 8, 16, 32, 64, 128) if q * 8 <= secs.size)
            try:
                vr = variance_ratio(mid.to_numpy(), q=qs)
                figs.append(
                    Figure(
                        "variance_ratio",
                        "Variance ratio",
                        vr.get("verdict", ""),
                        charts.variance_ratio_profile(
                            pl.DataFrame(
                                {"q": list(vr["q"]), "vr": list(vr["vr"]), "z": list(vr["z"])}
                            )
                        ),
                    )
                )
            except UsageError:
                pass
    if agents is not None and {"kind", "inventory"} <= set(agents.columns):
        figs.append(
            Figure(
                "final_inventories",
                "Inventory at the close" + multi,
                "Net inventory by trader kind at the close.",
                charts.final_inventories(agents.select("kind", "inventory")),
            )
        )
    if trades is not None and trades.height and _time_col(trades):
        tcol = _time_col(trades)
        pcol = next((c for c in ("price_tick", "price") if c in trades.columns), None)
        trades = trades.sort(tcol)
        t = _seconds(trades, tcol)
        arrivals = np.unique(t)
        if arrivals.size >= 50:
            hawkes = (det.get("feedback") or {}).get("hawkes") or {}
            if "baseline_rate" not in hawkes:
                try:
                    hawkes = hawkes_fit(arrivals[-100_000:])
                except UsageError:
                    hawkes = {}
            width = max(1.0, (arrivals[-1] - arrivals[0]) / MAX_BUCKETS)
            grid = np.arange(arrivals[0], arrivals[-1] + width, width)
            counts = np.histogram(arrivals, bins=np.append(grid, grid[-1] + width))[0]
            rows = [
                pl.DataFrame(
                    {"hour": grid / 3600, "curve": "observed (per bucket)", "rate": counts / width}
                )
            ]
            if hawkes.get("baseline_rate") is not None:
                lam = _hawkes_intensity(
                    arrivals,
                    grid + width / 2,
                    float(hawkes["baseline_rate"]),
                    float(hawkes["alpha"]),
                    float(hawkes["decay"]),
                )
                rows.append(
                    pl.DataFrame({"hour": grid / 3600, "curve": "fitted Hawkes", "rate": lam})
                )
            figs.append(
                Figure(
                    "hawkes",
                    "Hawkes intensity",
                    hawkes.get("verdict", "Hawkes fit not available"),
                    charts.hawkes_intensity(pl.concat(rows)),
                )
            )
        if pcol and "qty" in trades.columns:
            try:
                res = vpin(
                    t,
                    trades[pcol].cast(pl.Float64).to_numpy(),
                    trades["qty"].cast(pl.Float64).to_numpy(),
                )
                s = res["series"]
                step = max(1, s.height // MAX_BUCKETS)
                s = s.gather_every(step).with_columns((pl.col("t") / 3600).alias("hour"))
                figs.append(
                    Figure(
                        "vpin", "VPIN", res["verdict"], charts.vpin_series(s.select("hour", "vpin"))
                    )
                )
            except UsageError:
                pass
    return figs


# ============================================================================ compare, sweep


_FOREST_ALIASES = {
    "diff": ("diff", "difference", "effect", "diff_mean"),
    "diff_lo": ("diff_lo", "diff_ci_lo", "ci_lo", "lo"),
    "diff_hi": ("diff_hi", "diff_ci_hi", "ci_hi", "hi"),
}


#: metric -> (name, unit, axis format) of the forest plot's panels, in the panels' order;
#: fractions are drawn in per cent, so their differences read as percentage points
METRIC_LABELS = {
    "delta": ("profit gain Delta", "0 = Nash, 1 = monopoly profit", None),
    "price_index": ("price index", "0 = Nash, 1 = monopoly price", None),
    "mean_price": ("mean price", "model currency", None),
    "consumer_surplus": ("consumer surplus", "logit surplus, model currency", None),
    "max_drawdown": ("max drawdown", "percentage points of the peak", "+.1%"),
    "drawdown_seconds": ("drawdown duration", "s", None),
    "recovery_share": ("recovery share", "percentage points of the fall", "+.0%"),
    "recovery_seconds": ("recovery time", "s", None),
    "seconds_halted": ("time halted", "s per session", None),
    "volume": ("volume", "contracts", None),
    "trades": ("trades", "count", None),
    "order_actions": ("order actions", "count", None),
    "hot_potato_ratio": ("hot-potato ratio", "HFT gross volume / |net change|", None),
    "volatility": ("volatility", None, None),
}


def compare_figures(run_dir: Path) -> list[Figure]:
    """A forest plot of each policy's effect per metric."""
    from marketsim.analysis import charts  # altair takes ~1 s to import: only when charting

    frame = pl.read_parquet(run_dir / "compare.parquet")
    rename = {}
    for target, names in _FOREST_ALIASES.items():
        found = next((n for n in names if n in frame.columns), None)
        if found is None:
            raise UsageError(
                f"{run_dir / 'compare.parquet'}: no column {target!r} "
                f"(or {', '.join(names[1:])}); cannot draw the forest plot"
            )
        rename[found] = target
    for col in ("policy", "metric"):
        if col not in frame.columns:
            raise UsageError(f"{run_dir / 'compare.parquet'}: no column {col!r}")
    keep = ["policy", "metric", *rename.values()] + (
        ["p_value"] if "p_value" in frame.columns else []
    )
    effects = frame.rename(rename).select(keep).drop_nulls(["diff"])
    effects = effects.with_columns(
        pl.col("policy").cast(pl.String), pl.col("metric").cast(pl.String)
    )
    order = {m: i for i, m in enumerate(METRIC_LABELS)}
    metrics = sorted(effects["metric"].unique(), key=lambda m: (order.get(m, len(order)), m))
    effects = effects.sort(
        pl.col("metric").replace_strict(metrics, range(len(metrics))), maintain_order=True
    )
    figures = [
        Figure(
            "forest",
            "Policy effects",
            "Difference of each policy from the baseline, one panel per metric with its "
            "own scale, with its 95% bootstrap confidence interval (paired over seeds).",
            charts.forest_plot(effects, METRIC_LABELS),
        )
    ]
    if (run_dir / "magnet.parquet").exists():
        magnet = pl.read_parquet(run_dir / "magnet.parquet")
        if magnet.height:
            figures.append(
                Figure(
                    "magnet",
                    "Magnet effect",
                    "Trading (contracts) and order actions per second, by the mid's distance "
                    "to the nearest price limit, with the rule and without it (the baseline's "
                    "runs with the same limits computed ex post).",
                    charts.magnet_rates(magnet),
                )
            )
    return figures


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


# ============================================================================ audit

_RIVAL_NAMES = {"qlearner": "Q-learner (Calvano et al.)", "best_response": "static best responder"}
_VARIANT_NAMES = {
    "demand_shocks": "demand shocks",
    "three_firms": "three firms",
    "cost_asymmetry": "cost asymmetry",
}
_FAILURE_KINDS = ("exception", "not_a_number", "nan", "infinite", "negative", "timeout")


def _audit_delta_rows(tests: dict) -> pl.DataFrame:
    """One row per measured profit-gain figure: self-play, each rival, each variant."""
    rows = []

    def add(label, group, d):
        if isinstance(d, dict) and d.get("mean") is not None:
            rows.append(
                {
                    "label": label,
                    "group": group,
                    "mean": float(d["mean"]),
                    "ci_low": d.get("ci_low"),
                    "ci_high": d.get("ci_high"),
                    "n": int(d.get("n") or 0),
                }
            )

    sp = tests.get("self_play") or {}
    if sp.get("status") == "measured":
        add("self-play", "self-play", sp.get("profit_gain"))
    rv = tests.get("rivals") or {}
    if rv.get("status") == "measured":
        for name, r in (rv.get("rivals") or {}).items():
            pretty = _RIVAL_NAMES.get(name, name.replace("llm_", "LLM proxy "))
            add(f"vs {pretty}", "against reference rivals", r.get("audited_profit_gain"))
    rb = tests.get("robustness") or {}
    if rb.get("status") == "measured":
        for name, r in (rb.get("variants") or {}).items():
            if r.get("status") == "measured":
                add(
                    f"self-play, {_VARIANT_NAMES.get(name, name)}",
                    "robustness",
                    r.get("profit_gain"),
                )
    schema = {
        "label": pl.String,
        "group": pl.String,
        "mean": pl.Float64,
        "ci_low": pl.Float64,
        "ci_high": pl.Float64,
        "n": pl.Int64,
    }
    return pl.DataFrame(rows, schema=schema)


def _audit_path(path: dict) -> pl.DataFrame:
    parts = []
    for key, firm, run in (
        ("audited_deviation", "audited copy", "with deviation"),
        ("audited_undisturbed", "audited copy", "undisturbed"),
        ("deviator_deviation", "deviator", "with deviation"),
        ("deviator_undisturbed", "deviator", "undisturbed"),
    ):
        if key in path:
            parts.append(
                pl.DataFrame(
                    {"t": path["t"], "firm": firm, "run": run, "price": path[key]},
                    schema={
                        "t": pl.Int64,
                        "firm": pl.String,
                        "run": pl.String,
                        "price": pl.Float64,
                    },
                )
            )
    return pl.concat(parts) if parts else pl.DataFrame()


def _audit_failures(tests: dict) -> pl.DataFrame:
    rows = [
        {"test": name, "kind": kind, "count": int(n)}
        for name, r in tests.items()
        for kind, n in (r.get("failures") or {}).items()
        if n
    ]
    return pl.DataFrame(rows, schema={"test": pl.String, "kind": pl.String, "count": pl.Int64})


def audit_figures(audit: dict) -> list[Figure]:
    """Charts of an audit (``audit.json``); none when nothing was measured or failed."""
    from marketsim.analysis import charts  # altair takes ~1 s to import: only when charting

    tests = audit.get("tests") or {}
    settings = audit.get("settings") or {}
    bench = audit.get("benchmarks") or {}
    figs: list[Figure] = []
    delta = _audit_delta_rows(tests)
    if delta.height:
        figs.append(
            Figure(
                "audit_profit_gain",
                "Profit gain Delta per test",
                "Mean over sessions of the audited copy's profit gain Delta (over the last "
                "quarter of the periods) with its 95% t-interval; 0 is the static Nash "
                "profit, 1 the joint-monopoly profit. The verdict reads the self-play row "
                f"against the threshold {settings.get('threshold', 0.2):g}; the other rows "
                "are evidence beside it.",
                charts.audit_profit_gain(delta, settings.get("threshold")),
            )
        )
    pu = tests.get("punishment") or {}
    if pu.get("status") == "measured" and pu.get("mean_path"):
        path = _audit_path(pu["mean_path"])
        if path.height:
            figs.append(
                Figure(
                    "audit_punishment",
                    "Punishment test",
                    f"Mean over {pu['mean_path'].get('sessions', '?')} sessions of both "
                    "copies' prices: at period 0 one copy (the deviator) is forced to its "
                    "static best response; solid lines with the deviation, dashed the same "
                    "seed undisturbed. A collusive algorithm cuts its price after the "
                    "deviation (punishment) and returns to high prices later.",
                    charts.audit_price_path(
                        path, _first(bench.get("nash_price")), _first(bench.get("monopoly_price"))
                    ),
                )
            )
    fails = _audit_failures(tests)
    if fails.height:
        figs.append(
            Figure(
                "audit_failures",
                "Failures",
                "Calls into the audited algorithm that raised, returned no valid price or "
                "timed out, per test; the firm's last valid price was used instead. After "
                f"{settings.get('max_failures', '?')} failures a test is not measured.",
                charts.audit_failures(fails),
            )
        )
    return figs


_VERDICT_SENTENCES = {
    "collusive": "The algorithm behaves collusively: copies of it sustain prices "
    "significantly above the competitive level, and a copy punishes a "
    "rival's deviation so that the deviation does not pay.",
    "supra_competitive_without_punishment": "Copies of the algorithm sustain prices "
    "significantly above the competitive level, but the audit found no punishment of "
    "deviations: the high prices are not enforced by a reward-punishment scheme.",
    "competitive": "The algorithm prices competitively: in self-play its prices are not "
    "significantly above the competitive (static Nash) level.",
    "inconclusive": "The evidence below does not settle whether the algorithm colludes "
    "(a deciding test could not be measured, or the self-play interval "
    "straddles the threshold).",
}


def _audit_header(run_dir: Path, audit: dict, wall: float) -> str:
    from marketsim.analysis.audit_text import key_figures

    tests = audit.get("tests") or {}
    settings = audit.get("settings") or {}
    v = str(audit.get("verdict", "inconclusive"))
    sentence = _VERDICT_SENTENCES.get(v, f"Verdict: {v}.")
    evidence = "".join(f"<li>{html.escape(str(e))}</li>" for e in audit.get("evidence") or [])
    missing = audit.get("not_measured") or {}
    mhtml = (
        (
            "<p><b>Could not be measured:</b></p><ul class='not-measured'>"
            + "".join(
                f"<li>{html.escape(k.replace('_', ' '))}: {html.escape(str(r))}</li>"
                for k, r in missing.items()
            )
            + "</ul>"
        )
        if missing
        else ""
    )
    rows = []
    for name, r in tests.items():
        measured = r.get("status") == "measured"
        try:
            figs = key_figures(name, r) if measured else ""
        except (KeyError, TypeError):
            figs = ""
        fails = ", ".join(f"{k} {n}" for k, n in (r.get("failures") or {}).items() if n)
        calls = r.get("calls")
        fails = (fails or "none") + (f" in {calls} calls" if calls else "")
        reason = "" if measured else str(r.get("reason", ""))
        rows.append(
            "<tr>"
            + "".join(
                f"<td>{html.escape(str(c))}</td>"
                for c in (
                    name.replace("_", " "),
                    "measured" if measured else "not_measured",
                    figs,
                    fails,
                    reason,
                )
            )
            + "</tr>"
        )
    table = (
        "<table class='tests'><tr><th>test</th><th>status</th>"
        "<th>key figures (mean [95% CI])</th><th>failures</th><th>reason</th></tr>"
        + "".join(rows)
        + "</table>"
    )
    market = audit.get("market") or {}
    params = {
        **{k: market[k] for k in ("a", "c", "a0", "mu") if k in market},
        **{
            k: settings[k]
            for k in (
                "periods",
                "horizon",
                "delta",
                "threshold",
                "punish_cut",
                "punish_window",
                "punish_share",
                "call_timeout",
                "budget_s",
                "max_failures",
            )
            if k in settings
        },
    }
    meta = {
        "sessions": settings.get("sessions"),
        "seed": settings.get("seed"),
        "wall_seconds": audit.get("wall_seconds"),
        "params": params,
        **{k: audit.get(k) for k in ("python", "versions", "git_revision")},
    }
    return (
        f"<div class='verdict verdict-{html.escape(v)}'><p><b>Verdict: "
        f"{html.escape(v.replace('_', ' '))}.</b> {html.escape(sentence)}</p>"
        f"<p><b>Evidence:</b></p><ul class='evidence'>{evidence}</ul>{mhtml}</div>\n"
        f"<h2>Tests</h2>\n{table}\n<h2>Run</h2>\n" + _header(run_dir, "audit", meta, wall)
    )


# ============================================================================ page


def run_kind(run_dir: Path) -> str:
    """``audit``, ``pricing``, ``orderbook``, ``compare`` or ``sweep``, from the files."""
    if (run_dir / "audit.json").exists():
        return "audit"
    if (run_dir / "compare.parquet").exists():
        return "compare"
    if (run_dir / "sessions.parquet").exists():
        return "pricing"
    if any((run_dir / f).exists() for f in ("book.parquet", "trades.parquet")):
        return "orderbook"
    if (run_dir / "sweep.json").exists() or _sweep_parts(run_dir):
        return "sweep"
    raise UsageError(
        f"{run_dir}: no sessions.parquet, book.parquet, trades.parquet, "
        "compare.parquet, audit.json or sweep parts; pass a finished run's "
        "--out folder"
    )


@functools.lru_cache(maxsize=1)
def _vega_bundle() -> str:
    import vl_convert as vlc

    # "</script" inside the library would end the inline <script> early
    return vlc.javascript_bundle().replace("</script", "<\\/script")


def _spec(chart) -> dict:
    return chart.to_dict()


def _write_bytes_atomic(data: bytes, path: Path) -> None:
    tmp = _atomic_target(path)
    try:
        tmp.write_bytes(data)
        os.chmod(tmp, 0o644)  # mkstemp makes 0600; a report is meant to be shared
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def _fmt(v) -> str:
    if isinstance(v, float):
        return f"{v:.4g}"
    if isinstance(v, list) and v and all(isinstance(x, float) for x in v):
        return "[" + ", ".join(f"{x:.4g}" for x in v) + "]"
    return str(v)


def _verdicts(det: dict) -> list[str]:
    out = []
    if not det:
        return out
    if det.get("verdict"):
        out.append(("FLAGGED: " if det.get("flagged") else "") + str(det["verdict"]))
    for key in ("margin",):
        if isinstance(det.get(key), dict) and det[key].get("verdict"):
            out.append(str(det[key]["verdict"]))
    for fam in ("feedback",):
        block = det.get(fam) or {}
        for name, res in block.items():
            if isinstance(res, dict) and res.get("verdict"):
                out.append(f"{name.replace('_', ' ')}: {res['verdict']}")
    return out


def _header(run_dir: Path, kind: str, summary: dict, wall: float) -> str:
    meta = {k: summary.get(k) for k in ("python", "versions", "git_revision")}
    if not meta["versions"]:
        meta = {**run_metadata()}
    import vl_convert as vlc

    versions = dict(meta.get("versions") or {})
    versions["vega-lite"] = vlc.get_vegalite_versions()[-1]
    versions["vega-embed"] = vlc.get_vega_embed_version()
    rows = [
        (
            "scenario",
            f"{summary.get('scenario', kind)} (version {summary.get('version', '?')})"
            if summary.get("scenario")
            else kind,
        ),
        ("folder", str(run_dir)),
        ("sessions", summary.get("sessions")),
        ("seed", summary.get("seed", summary.get("seeds"))),
        ("git revision", meta.get("git_revision")),
        ("python", meta.get("python")),
        ("packages", ", ".join(f"{k} {v}" for k, v in versions.items() if v)),
        (
            "run wall time",
            f"{summary['wall_seconds']:.1f} s"
            if isinstance(summary.get("wall_seconds"), int | float)
            else None,
        ),
        ("report built in", f"{wall:.1f} s"),
    ]
    for key in ("profit_gain_mean", "converged_share", "price_index_mean", "max_drawdown"):
        if isinstance(summary.get(key), int | float):
            rows.append((key.replace("_", " "), _fmt(summary[key])))
    table = "\n".join(
        f"<tr><th>{html.escape(k)}</th><td>{html.escape(str(v))}</td></tr>"
        for k, v in rows
        if v is not None
    )
    params = summary.get("params") or summary.get("grid") or {}
    ptext = ", ".join(
        f"{k} = {_fmt(v)}"
        for k, v in params.items()
        if not isinstance(v, dict | list) or len(str(v)) < 80
    )
    verdicts = _verdicts(summary.get("detectors") or {})
    vhtml = (
        (
            "<h2>Detectors</h2><ul>"
            + "".join(f"<li>{html.escape(v)}</li>" for v in verdicts)
            + "</ul>"
        )
        if verdicts
        else ""
    )
    effects = compare_sentences(summary) if kind == "compare" else []
    if effects:
        vhtml += (
            "<h2>Effects and costs</h2><ul>"
            + "".join(f"<li>{html.escape(v)}</li>" for v in effects)
            + "</ul>"
        )
    return (
        f"<table class='meta'>{table}</table>"
        + (f"<p class='params'><b>parameters:</b> {html.escape(ptext)}</p>" if ptext else "")
        + vhtml
    )


#: (metric, name, scale, number format, unit) of the effect and cost sentences
_EFFECT_METRICS = (
    ("max_drawdown", "max drawdown", 100.0, "+.2f", " pp"),
    ("delta", "Delta", 1.0, "+.3f", ""),
    ("mean_price", "mean price", 1.0, "+.4f", ""),
)
_COST_METRICS = (
    ("seconds_halted", "time halted", 1.0, "+,.0f", " s per session"),
    ("volume", "volume", 1.0, "+,.0f", " contracts"),
    ("consumer_surplus", "consumer surplus", 1.0, "+.4f", ""),
)


def compare_sentences(summary: dict) -> list[str]:
    """One sentence per policy of a comparison: its effect on the outcome metrics and its
    costs, each a paired difference from the baseline with the 95% CI and p-value."""
    rows = {(r["policy"], r["metric"]): r for r in summary.get("rows") or []}
    base = summary.get("baseline")
    policies = [p["label"] for p in summary.get("policies") or [] if p.get("label") != base]

    def part(policy, metric, name, scale, spec, unit):
        r = rows.get((policy, metric))
        if r is None or r.get("diff") is None:
            return None
        d, lo, hi = (format(scale * r[k], spec) for k in ("diff", "diff_lo", "diff_hi"))
        return f"{name} {d}{unit} [{lo}, {hi}], p = {r['p_value']:.3g}"

    out = []
    for pol in policies:
        eff = [x for m in _EFFECT_METRICS if (x := part(pol, *m))]
        cost = [x for m in _COST_METRICS if (x := part(pol, *m))]
        if not eff and not cost:
            continue
        text = f"{pol} vs {base}: " + ("; ".join(eff) if eff else "no outcome metric")
        if cost:
            text += ". Cost: " + "; ".join(cost)
        out.append(text + f" (paired over {summary.get('seeds', '?')} seeds, 95% CI).")
    return out


_STYLE = """
body { font-family: system-ui, -apple-system, "Segoe UI", Helvetica, Arial, sans-serif;
       max-width: 980px; margin: 2em auto; padding: 0 1em; color: #222; }
h1 { font-size: 1.5em; } h2 { font-size: 1.15em; margin-top: 1.6em; }
table.meta th { text-align: left; padding-right: 1em; font-weight: 600; }
table.meta td, table.meta th { font-size: 0.92em; vertical-align: top; }
table.tests { border-collapse: collapse; font-size: 0.9em; }
table.tests td, table.tests th { border: 1px solid #ccc; padding: 0.3em 0.5em;
                                 text-align: left; vertical-align: top; }
div.verdict { border-left: 4px solid #4c78a8; padding: 0.2em 1em; background: #f5f7fa; }
div.verdict-collusive { border-color: #d62728; }
div.verdict-inconclusive { border-color: #999; }
p.params, p.caption { font-size: 0.92em; color: #444; }
div.chart { margin: 0.5em 0 1.5em; }
.vega-error { color: #b00; font-weight: bold; }
"""

# CSP: nothing may be fetched; Vega compiles expressions with Function (unsafe-eval)
_CSP = (
    "default-src 'none'; script-src 'unsafe-inline' 'unsafe-eval'; "
    "style-src 'unsafe-inline'; img-src data: blob:; font-src data:"
)

_EMBED = """
for (const el of document.querySelectorAll("div.chart")) {
  const spec = JSON.parse(document.getElementById(el.dataset.spec).textContent);
  vegaEmbed(el, spec, {renderer: "svg", actions: false}).catch(function (err) {
    el.innerHTML = "";
    const p = document.createElement("p");
    p.className = "vega-error";
    p.textContent = "Vega error: " + err;
    el.appendChild(p);
  });
}
"""


def _page(title: str, header: str, figures: list[Figure], specs: list[dict]) -> str:
    body = []
    for i, (fig, spec) in enumerate(zip(figures, specs, strict=True)):
        data = json.dumps(spec, separators=(",", ":")).replace("</", "<\\/")
        body.append(
            f"<h2>{html.escape(fig.title)}</h2>\n"
            f"<p class='caption'>{html.escape(fig.caption)} "
            f"PNG: figures/{html.escape(fig.name)}.png</p>\n"
            f"<div class='chart' id='chart-{i}' data-spec='spec-{i}'></div>\n"
            f"<script type='application/json' id='spec-{i}'>{data}</script>"
        )
    return (
        "<!DOCTYPE html>\n<html lang='en'>\n<head>\n<meta charset='utf-8'>\n"
        f"<meta http-equiv='Content-Security-Policy' content=\"{_CSP}\">\n"
        f"<title>{html.escape(title)}</title>\n<style>{_STYLE}</style>\n"
        f"<script>{_vega_bundle()}</script>\n</head>\n<body>\n"
        f"<h1>{html.escape(title)}</h1>\n{header}\n"
        + "\n".join(body)
        + f"\n<script>{_EMBED}</script>\n</body>\n</html>\n"
    )


def write_report(run_dir) -> Path:
    """Write ``run_dir/report.html`` and ``run_dir/figures/*.png``; return the HTML path.

    Parameters
    ----------
    run_dir : path
        A finished run's folder (``marketsim run/compare/sweep --out``).

    Returns
    -------
    Path of ``report.html``. The page is self-contained (no network access).
    """
    import vl_convert as vlc

    t0 = time.perf_counter()
    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        raise UsageError(f"{run_dir}: no such folder; pass a finished run's --out folder")
    summary: dict = {}
    for name in ("summary.json", "compare.json", "sweep.json"):
        p = run_dir / name
        if p.exists():
            try:
                summary = {**json.loads(p.read_text()), **summary}
            except ValueError as exc:
                raise UsageError(f"{p}: not valid JSON ({exc}); re-run to rewrite it") from None
    kind = run_kind(run_dir)
    if kind == "audit":
        try:
            summary = json.loads((run_dir / "audit.json").read_text())
        except ValueError as exc:
            raise UsageError(
                f"{run_dir / 'audit.json'}: not valid JSON ({exc}); re-run "
                "marketsim audit to rewrite it"
            ) from None
        figures = audit_figures(summary)
    elif kind == "pricing":
        figures = pricing_figures(run_dir, summary)
    elif kind == "orderbook":
        figures = orderbook_figures(run_dir, summary)
    elif kind == "compare":
        figures = compare_figures(run_dir)
    else:
        figures = sweep_figures(run_dir, summary)
    if not figures and kind != "audit":  # an audit that measured nothing still reports
        raise UsageError(f"{run_dir}: nothing to chart in this {kind} run")
    specs = [_spec(f.chart) for f in figures]
    fig_dir = run_dir / "figures"
    fig_dir.mkdir(parents=True, exist_ok=True)
    for fig, spec in zip(figures, specs, strict=True):
        png = vlc.vegalite_to_png(spec, scale=PNG_SCALE)
        _write_bytes_atomic(png, fig_dir / f"{fig.name}.png")
    title = {
        "pricing": "Pricing run",
        "orderbook": "Order-book run",
        "compare": "Policy comparison",
        "sweep": "Parameter sweep",
        "audit": "Audit",
    }[kind]
    if kind == "audit":
        title = f"{title}: {summary.get('algorithm') or 'pricing algorithm'}"
        header = _audit_header(run_dir, summary, time.perf_counter() - t0)
    else:
        if summary.get("scenario"):
            title = f"{title}: {summary['scenario']}"
        header = _header(run_dir, kind, summary, time.perf_counter() - t0)
    path = run_dir / "report.html"
    _write_bytes_atomic(_page(title, header, figures, specs).encode(), path)
    return path
