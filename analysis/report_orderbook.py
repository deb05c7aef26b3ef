"""Report figures of an order-book run (the first session when there are several).

Reads ``book.parquet`` (one-second snapshots), ``trades.parquet`` and ``agents.parquet``
and summarises them into at most :data:`MAX_BUCKETS` time buckets before charting: mid
price with halts, limit states, bands and crash events, volume, depth, drawdown,
intermediaries' inventories, variance-ratio profile (Lo & MacKinlay 1988), the Hawkes
conditional intensity lambda(t) = mu + sum_{t_i < t} alpha exp(-beta (t - t_i)) against
the observed arrival rate, and VPIN (Easley, López de Prado & O'Hara 2012).
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import polars as pl
from numba import njit

from marketsim.analysis.report_page import Figure
from marketsim.errors import UsageError

#: most time buckets in an order-book chart
MAX_BUCKETS = 800


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
