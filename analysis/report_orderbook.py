"""Report figures of an order-book run (session 0 when there are several; the headline box
tabulates every session).

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
from marketsim.records import SESSION_OPEN_S

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
    """Runs of ``flag`` as bands ``start``..``end`` in milliseconds since midnight."""
    flag = np.asarray(flag, dtype=bool)
    out = []
    edges = np.flatnonzero(np.diff(np.concatenate([[0], flag.astype(np.int8), [0]])))
    for a, b in zip(edges[::2], edges[1::2], strict=True):
        out.append({"start": secs[a] * 1000, "end": (secs[b - 1] + 1) * 1000, "state": state})
    return out


def _unshaded_pauses(summary: dict, spans: list[dict]) -> str:
    """A caption clause when the summary counts pauses or halts that the book does not
    time (no halt column), so a reader does not take their absence on the chart for
    their absence from the run."""
    if any(sp["state"] in ("halt", "limit state") for sp in spans):
        return ""
    n = sum(
        v
        for k in ("stop_logic_pauses", "luld_pauses", "single_stock_halts", "mwcb_levels_fired")
        if isinstance(v := summary.get(k), int)
    )
    secs = summary.get("seconds_halted")
    if not n and not (isinstance(secs, int | float) and secs > 0):
        return ""
    return (
        f"; the run counts {n} pause(s) or halt(s)"
        + (f" ({secs:,.0f} s in all)" if isinstance(secs, int | float) else "")
        + " but the book does not record when, so they are not shaded"
    )


#: a halt shorter than this share of the chart's time range is drawn this wide, so that
#: a 5-second pause on a 6.5-hour axis (a fifth of a pixel) can be seen
MIN_HALT_SHARE = 1 / 300


def _halt_spans(halts: pl.DataFrame | None, domain: list[float]) -> tuple[list[dict], str]:
    """The halts and pauses of ``halts.parquet`` (as the market rules logged them) as
    ``halt`` bands in milliseconds since midnight, and the caption's clause on them."""
    if halts is None or not {"start_ns", "end_ns"} <= set(halts.columns):
        return [], ""  # a run from before halts were logged: _unshaded_pauses says so
    if halts.height == 0:
        return [], "; no halt or pause in this session"
    least = (domain[1] - domain[0]) * MIN_HALT_SHARE
    spans, widened = [], 0
    for r in halts.sort("start_ns").iter_rows(named=True):
        start, end = r["start_ns"] / 1e6, r["end_ns"] / 1e6
        if end - start < least:
            end, widened = start + least, widened + 1
        spans.append({"start": start, "end": end, "state": "halt"})
    causes = halts["cause"].cast(pl.String).value_counts(sort=True)
    what = ", ".join(
        f"{n} {c.replace('_', ' ')}{'s' if n > 1 else ''}" for c, n in causes.iter_rows()
    )
    note = f"; shaded red: halts and pauses ({what}; {halts['seconds'].sum():,.0f} s in all)"
    if widened:
        note += f", {widened} shorter than {least / 1000:.0f} s drawn {least / 1000:.0f} s wide"
    return spans, note


def _programme_span(summary: dict, open_s: float) -> list[dict]:
    """The sell programme's window (start to its last sale, or to the session's end
    when unfinished) as a band; ``open_s`` is the clock second of the first snapshot."""
    prog = summary.get("programme")
    if not isinstance(prog, dict) or not isinstance(prog.get("start_s"), int | float):
        return []
    end = prog.get("end_s")
    start = open_s + prog["start_s"]
    stop = open_s + end if isinstance(end, int | float) else None
    return [
        {
            "start": start * 1000,
            "end": None if stop is None else stop * 1000,
            "state": "sell programme",
        }
    ]


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
    tick = (summary.get("params") or {}).get("tick_size")
    tick = float(tick) if isinstance(tick, int | float) and tick > 0 else None
    price_title = f"mid price (currency; tick = {tick:g})" if tick else "mid price (ticks)"
    domain: list[float] | None = None
    spans: list[dict] = []
    band = None
    multi = "" if not summary.get("sessions") or summary.get("sessions") == 1 else " (session 0)"
    if book is not None and book.height and _time_col(book) and _mid_col(book):
        tcol, mcol = _time_col(book), _mid_col(book)
        book = book.filter(pl.col(mcol).is_not_null() & pl.col(mcol).is_not_nan()).sort(tcol)
        secs = _seconds(book, tcol)
        if secs.size:
            domain = [float(secs[0]) * 1000, float(secs[-1] + 1) * 1000]
            spans += _programme_span(summary, float(secs[0]))
            for sp in spans:
                if sp["end"] is None:
                    sp["end"] = domain[1]
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
            .with_columns((pl.col("sec") * 1000).alias("clock"))
        )
        if tick:
            series = series.with_columns(
                pl.col(c).cast(pl.Float64) * tick
                for c in ("mid_low", "mid_high", "mid", "band_lo", "band_hi")
                if c in series.columns
            )
        for col, state in (("halted", "halt"), ("halt", "halt"), ("limit_state", "limit state")):
            if col in b.columns:
                spans += _spans(secs, b[col].fill_null(False).cast(pl.Boolean).to_numpy(), state)
        halt_note = ""
        if domain is not None:
            halt_spans, halt_note = _halt_spans(read("halts.parquet"), domain)
            spans += halt_spans
        band = pl.DataFrame(spans) if spans else None
        events = []
        ev = drawdown_events(secs, mid.to_numpy()) if secs.size >= 2 else None
        if ev is not None:
            for r in ev.head(10).iter_rows(named=True):
                events += [
                    {"clock": r["start_t"] * 1000, "event": "drawdown start"},
                    {"clock": r["trough_t"] * 1000, "event": "drawdown trough"},
                ]
        figs.append(
            Figure(
                "mid_price",
                "Mid price" + multi,
                f"Buckets of {width:.0f} s; blue band: low-high of the mid within a bucket"
                + (
                    "; shaded: " + ", ".join(sorted({s["state"] for s in spans}, reverse=True))
                    if spans
                    else ""
                )
                + (f"; prices in currency (ticks x {tick:g})" if tick else "; prices in ticks")
                + (
                    f"; red lines: {len(events) // 2} fall(s) of 5% or more within 15 min"
                    if events
                    else "; no fall of 5% or more within any 15 min (slower falls are not marked)"
                )
                + (halt_note or _unshaded_pauses(summary, spans))
                + ".",
                charts.mid_price(
                    series.select(
                        "clock",
                        "mid_low",
                        "mid_high",
                        "mid",
                        *[c for c in ("band_lo", "band_hi") if c in series.columns],
                    ),
                    band,
                    pl.DataFrame(events) if events else None,
                    domain=domain,
                    price_title=price_title,
                ),
            )
        )
        if "volume" in series.columns:
            figs.append(
                Figure(
                    "volume",
                    "Volume" + multi,
                    "Contracts traded per bucket.",
                    charts.volume(series.select("clock", "volume"), domain=domain, spans=band),
                )
            )
        if "bid" in series.columns:
            d = series.select("clock", "bid", "ask").unpivot(
                index="clock", variable_name="side", value_name="depth"
            )
            figs.append(
                Figure(
                    "depth",
                    "Depth" + multi,
                    "Mean resting quantity at the best five price levels.",
                    charts.depth(d, domain=domain, spans=band),
                )
            )
        figs.append(
            Figure(
                "drawdown",
                "Drawdown" + multi,
                "Largest fall of the mid below its running maximum per bucket.",
                charts.drawdown(series.select("clock", "drawdown"), domain=domain, spans=band),
            )
        )
        held = [c for c in holders if c in series.columns]
        if held:
            inv = (
                series.select("clock", *held)
                .unpivot(index="clock", variable_name="holder", value_name="inventory")
                .with_columns(pl.col("holder").replace_strict(holders))
            )
            figs.append(
                Figure(
                    "inventories",
                    "Inventories" + multi,
                    "Aggregate net position of the intermediaries.",
                    charts.inventories(inv, domain=domain, spans=band),
                )
            )
        if secs.size >= 64:
            qs = tuple(q for q in (2, 4, 8, 16, 32, 64, 128) if q * 8 <= secs.size)
            try:
                vr = variance_ratio(mid.to_numpy(), q=qs, step="second")
                figs.append(
                    Figure(
                        "variance_ratio",
                        "Variance ratio" + multi,
                        "VR(q) is the variance of q-second changes of the mid over q times "
                        "that of one-second changes: 1 for a random walk, above 1 when moves "
                        "continue (momentum), below 1 when they reverse. This profile: "
                        + str(vr.get("verdict", "")),
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
                    {"clock": grid * 1000, "curve": "observed (per bucket)", "rate": counts / width}
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
                    pl.DataFrame({"clock": grid * 1000, "curve": "fitted Hawkes", "rate": lam})
                )
            figs.append(
                Figure(
                    "hawkes",
                    "Hawkes intensity",
                    hawkes.get("verdict", "Hawkes fit not available"),
                    charts.hawkes_intensity(pl.concat(rows), domain=domain, spans=band),
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
                s = s.gather_every(step).with_columns((pl.col("t") * 1000).alias("clock"))
                figs.append(
                    Figure(
                        "vpin",
                        "VPIN",
                        res["verdict"],
                        charts.vpin_series(s.select("clock", "vpin"), domain=domain, spans=band),
                    )
                )
            except UsageError:
                pass
    for f in figs:  # a fixed y-axis width lines the clock axes up from chart to chart
        if f.name in _TIME_FIGURES:
            f.chart = f.chart.configure_axisY(minExtent=_Y_AXIS_PX, maxExtent=_Y_AXIS_PX)
    return figs


#: order-book figures drawn against the clock, and the width of their y axis in pixels
_TIME_FIGURES = {"mid_price", "volume", "depth", "drawdown", "inventories", "hawkes", "vpin"}
_Y_AXIS_PX = 64


# ------------------------------------------------------------------------------------
# headline
# ------------------------------------------------------------------------------------


def _clock(open_s: float, s) -> str:
    t = int(round(open_s + float(s)))
    return f"{t // 3600 % 24:02d}:{t // 60 % 60:02d}"


def _minutes(s: float) -> str:
    return f"{s:.0f} s" if s < 120 else f"{s / 60:.0f} min"


def _count(n: int, what: str) -> str:
    words = {1: "once", 2: "twice"}
    return f"{what} {words.get(n, f'{n} times')}"


def _rules_sentence(s: dict) -> str:
    parts = []
    for key, what in (
        ("stop_logic_pauses", "stop logic paused the market"),
        ("luld_pauses", "the limit-up-limit-down rule paused trading"),
        ("single_stock_halts", "a single-stock halt stopped trading"),
        ("mwcb_levels_fired", "a market-wide circuit breaker fired"),
    ):
        n = s.get(key)
        if isinstance(n, int) and n > 0:
            parts.append(_count(n, what))
    halted = s.get("seconds_halted")
    if isinstance(halted, int | float) and halted > 0:
        parts.append(f"trading was halted for {_minutes(halted)} in all")
    if s.get("market_closed_by_mwcb"):
        parts.append("the circuit breaker closed the market for the day")
    return "; ".join(parts) if parts else "no market rule halted or paused trading"


def session_sentence(s: dict, tick: float | None, open_s: float = SESSION_OPEN_S) -> str:
    """What happened in one session, in plain words with units (the summary's measures:
    ``max_drawdown``, ``peak_s``/``trough_s``, ``low_after_start_s``, ``recovery_30min``,
    ``programme_duration_s`` and the rules' counters)."""
    dd = s.get("max_drawdown")
    if not isinstance(dd, int | float):
        return "The run's summary has no drawdown measure."
    prog = s.get("programme") if isinstance(s.get("programme"), dict) else None
    peak, trough = s.get("peak_s"), s.get("trough_s")
    when = ""
    if isinstance(peak, int | float) and isinstance(trough, int | float):
        start = "the sell programme's start" if prog else "its peak"
        when = (
            f" from {start} at {_clock(open_s, peak)} to its low at {_clock(open_s, trough)}"
            f" ({_minutes(trough - peak)} later)"
        )
    ref, low = s.get("reference_mid_tick"), s.get("low_mid_tick")
    prices = ""
    if tick and isinstance(ref, int | float) and isinstance(low, int | float):
        prices = f", from {ref * tick:,.2f} to {low * tick:,.2f}"
    what = "The mid price fell" if prog else "The largest fall of the mid price within 15 min was"
    text = f"{what} {100 * dd:.1f}%{when}{prices}"
    rec = s.get("recovery_30min")
    if isinstance(rec, int | float):
        text += f", and regained {100 * rec:.0f}% of the fall within 30 min of the low"
    elif isinstance(s.get("recovery_share"), int | float):
        text += (
            f", and regained {100 * s['recovery_share']:.0f}% of the fall within 30 min"
            " (highest mid after the low)"
        )
    text += ". "
    if prog:
        dur = s.get("programme_duration_s")
        sold = prog.get("sold")
        text += (
            f"The sell programme sold {sold:,} contracts" if isinstance(sold, int) else "It sold"
        ) + (f" in {_minutes(dur)}. " if isinstance(dur, int | float) else " and did not finish. ")
    rules = _rules_sentence(s)
    return text + rules[0].upper() + rules[1:] + "."


def orderbook_headline(summary: dict) -> str:
    """The headline box of an order-book report (HTML): what happened, how big, how sure;
    with several sessions, the across-session mean and a per-session table."""
    import html

    tick = (summary.get("params") or {}).get("tick_size")
    tick = float(tick) if isinstance(tick, int | float) and tick > 0 else None
    sessions = summary.get("sessions")
    per = [x for x in sessions if isinstance(x, dict)] if isinstance(sessions, list) else []
    seed = summary.get("seed")
    if not per:
        sure = (
            f"One simulated session (seed {seed}): a single draw of the random market, not an "
            "estimate; <code>marketsim compare --seeds N</code> gives intervals over seeds."
        )
        body = f"<p><b>{html.escape(session_sentence(summary, tick))}</b></p><p>{sure}</p>"
        return f"<div class='verdict headline'>{body}</div>"
    dds = [x["max_drawdown"] for x in per if isinstance(x.get("max_drawdown"), int | float)]
    first = session_sentence(per[0], tick)
    mean = (
        f"Across the {len(per)} sessions the fall averaged {100 * np.mean(dds):.1f}% "
        f"(smallest {100 * min(dds):.1f}%, largest {100 * max(dds):.1f}%)."
        if dds
        else ""
    )
    rows = []
    for x in per:
        rec = x.get("recovery_30min", x.get("recovery_share"))
        dur = x.get("programme_duration_s")
        rows.append(
            "<tr>"
            + "".join(
                f"<td>{html.escape(v)}</td>"
                for v in (
                    str(x.get("session", len(rows))),
                    f"{100 * x['max_drawdown']:.1f}%"
                    if isinstance(x.get("max_drawdown"), int | float)
                    else "-",
                    _clock(SESSION_OPEN_S, x["trough_s"])
                    if isinstance(x.get("trough_s"), int | float)
                    else "-",
                    f"{100 * rec:.0f}%" if isinstance(rec, int | float) else "-",
                    _minutes(dur) if isinstance(dur, int | float) else "-",
                    f"{x.get('seconds_halted', 0):,.0f} s",
                    f"{x.get('stop_logic_pauses', 0) + x.get('luld_pauses', 0)}",
                )
            )
            + "</tr>"
        )
    table = (
        "<table class='tests'><tr><th>session</th><th>fall of the mid</th><th>low at</th>"
        "<th>regained within 30 min</th><th>programme duration</th><th>time halted</th>"
        "<th>pauses</th></tr>" + "".join(rows) + "</table>"
    )
    sure = (
        f"{len(per)} simulated sessions (seed {seed}); the charts below show session 0. "
        "A handful of sessions shows the spread, not a confidence interval; "
        "<code>marketsim compare --seeds N</code> gives one."
    )
    return (
        f"<div class='verdict headline'><p><b>{html.escape(mean)}</b></p>"
        f"<p>Session 0: {html.escape(first)}</p>{table}<p>{sure}</p></div>"
    )
