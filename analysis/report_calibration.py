"""Report figures and finding of a calibration (``marketsim calibrate`` output folder).

Reads ``calibration.parquet`` (one row per candidate: its parameters, each target's
simulated moment pooled over the seeds, ``distance``, ``accepted``: the median over the
seeds, or for a target whose card rule is ``share`` the share of seeds inside the card's
band, :mod:`marketsim.experiments.calibrate`) and
the targets' bands (``summary.json``'s ``target_bands``, recorded by ``calibrate``; for
a folder written before they were recorded, the caller passes the card's). No
simulation is run.

**Which targets bind** (:func:`binding_targets`, one definition for the report and for
``summary.json``'s ``binding``): a candidate *misses* a target when its moment is
missing or lies outside the band (bounds included, as acceptance counts them). For each
target: how many candidates miss it, and among the *near-accepted* candidates (rejected
ones that miss exactly one target) how many that one target rejects. The binding target
is the one that most often rejects a near-accepted candidate alone (ties: the one missed
most often overall); with no near-accepted candidate, the one missed most often.

Figures: each target's band against the candidates' moments (accepted ones marked);
how often each target is missed, and alone; the parameters' histograms over the box,
accepted candidates apart; a pair plot of the parameters.
"""

from __future__ import annotations

import html
import json
import math
from pathlib import Path

import polars as pl

from marketsim.analysis.report_page import Figure
from marketsim.errors import UsageError

#: columns of calibration.parquet that are neither parameters nor moments
_RESERVED = ("candidate", "stage", "distance", "accepted")
#: at most this many parameters in the pair plot (the first ones of the box)
PAIR_PARAMS = 6


def _misses(name: str, band: dict) -> pl.Expr:
    """True where the candidate's moment ``name`` is missing or outside ``band``."""
    col = pl.col(name)
    out = col.is_null() | col.is_nan()
    if band.get("low") is not None:
        out = out | (col < band["low"])
    if band.get("high") is not None:
        out = out | (col > band["high"])
    return out.fill_null(True)


def binding_targets(table: pl.DataFrame, bands: list[dict]) -> dict:
    """Which targets reject the candidates of ``table`` (see the module's docstring).

    Returns ``{"candidates", "accepted", "near_accepted", "fewest_missed",
    "binding", "targets": [{"name", "missed", "missed_share", "sole_miss"}]}``;
    ``binding`` is a target name (None when every candidate was accepted or no
    target is missed)."""
    names = [b["name"] for b in bands]
    lacking = [n for n in names if n not in table.columns]
    if lacking:
        raise UsageError(
            f"calibration.parquet has no column for target {lacking[0]!r}; the table and "
            "the targets' bands do not belong together (re-run marketsim calibrate)"
        )
    missed = table.select(*(_misses(b["name"], b).alias(b["name"]) for b in bands)).with_columns(
        pl.sum_horizontal(names).alias("_n_missed")
    )
    n = table.height
    near = missed.filter(pl.col("_n_missed") == 1)
    rejected = missed.filter(pl.col("_n_missed") > 0)
    rows = [
        {
            "name": name,
            "missed": int(missed[name].sum()),
            "missed_share": float(missed[name].sum()) / n if n else math.nan,
            "sole_miss": int(near[name].sum()),
        }
        for name in names
    ]
    binding = None
    if rejected.height:
        top = max(rows, key=lambda r: (r["sole_miss"], r["missed"]))
        binding = top["name"] if top["missed"] else None
    return {
        "candidates": n,
        "accepted": n - rejected.height,
        "near_accepted": near.height,
        "fewest_missed": int(rejected["_n_missed"].min()) if rejected.height else 0,
        "binding": binding,
        "targets": rows,
    }


def read_calibration(run_dir: Path, summary: dict, bands: list[dict] | None = None):
    """``(table, bands, params)`` of a calibration folder, or one line naming the fault."""
    path = run_dir / "calibration.parquet"
    if not path.is_file():
        raise UsageError(f"{run_dir}: no calibration.parquet; not a calibrate output folder")
    bands = bands if bands is not None else summary.get("target_bands")
    if not isinstance(bands, list) or not bands:
        raise UsageError(
            f"{run_dir / 'summary.json'}: records no target bands (target_bands) and no "
            "readable targets card was found; re-run the same marketsim calibrate command "
            "(it reruns nothing) to record them"
        )
    box = summary.get("box")
    if not isinstance(box, dict) or not box:
        raise UsageError(
            f"{run_dir / 'summary.json'}: no calibrated box (box); not a finished "
            "calibrate folder (re-run marketsim calibrate)"
        )
    table = pl.read_parquet(path)
    if table.height == 0:
        raise UsageError(f"{path}: no candidate; re-run marketsim calibrate")
    need = [*_RESERVED, *box, *(b["name"] for b in bands)]
    lacking = [c for c in need if c not in table.columns]
    if lacking:
        raise UsageError(
            f"{path}: no column {lacking[0]!r}; not a calibrate table (re-run marketsim calibrate)"
        )
    return table, bands, list(box)


def _num(v: float | None) -> str:
    if v is None or (isinstance(v, float) and not math.isfinite(v)):
        return "open"
    return f"{v:,.4g}"


def _range(values: pl.Series, empty: str) -> str:
    return f"{_num(values.min())} to {_num(values.max())}" if values.len() else empty


def _band_text(b: dict, with_unit: bool = True) -> str:
    unit = f" {b['unit']}" if b.get("unit") and with_unit else ""
    if b.get("low") is None:
        return f"at most {_num(b['high'])}{unit}"
    if b.get("high") is None:
        return f"at least {_num(b['low'])}{unit}"
    return f"{_num(b['low'])} to {_num(b['high'])}{unit}"


def finding(table: pl.DataFrame, bands: list[dict]) -> list[str]:
    """The report's plain-language finding: accepted count, the binding target, and
    how often the near-accepted candidates are rejected by it alone."""
    res = binding_targets(table, bands)
    n, acc = res["candidates"], res["accepted"]
    by_name = {r["name"]: r for r in res["targets"]}
    band_of = {b["name"]: b for b in bands}
    lines = [
        f"{acc} of {n} candidates ({100 * acc / n:.0f}%) met every target "
        "(each pooled moment inside its band: a median, or a share of seeds)."
    ]
    if res["binding"] is None:
        lines.append("No target rejected any candidate.")
        return lines
    b = res["binding"]
    r = by_name[b]
    text = (
        f"The binding target is {b}: {r['missed']} of {n} candidates "
        f"({100 * r['missed_share']:.0f}%) miss its band ({_band_text(band_of[b])})"
    )
    if res["near_accepted"]:
        text += (
            f", and it alone rejects {r['sole_miss']} of the {res['near_accepted']} "
            "near-accepted candidates (those that meet every other target)."
        )
    else:
        text += (
            "; no candidate missed only one target (the fewest missed by a rejected "
            f"candidate: {res['fewest_missed']})."
        )
    lines.append(text)
    others = [
        f"{x['name']} {x['missed']}"
        for x in sorted(res["targets"], key=lambda x: -x["missed"])
        if x["name"] != b
    ]
    if others:
        lines.append(f"Candidates missing each other target (of {n}): " + ", ".join(others) + ".")
    return lines


def calibration_headline(
    run_dir: Path, summary: dict, bands: list[dict] | None = None, note: str | None = None
) -> str:
    """The headline box (HTML): the finding, then one row per target with its band, the
    candidates' moments, misses and sole misses, then the box and the accepted ranges."""
    table, bands, params = read_calibration(run_dir, summary, bands)
    res = binding_targets(table, bands)
    by_name = {r["name"]: r for r in res["targets"]}
    lines = finding(table, bands)
    rows = []
    for b in bands:
        values = table[b["name"]].drop_nulls().drop_nans()
        acc = table.filter(pl.col("accepted"))[b["name"]].drop_nulls().drop_nans()
        r = by_name[b["name"]]
        rows.append(
            "<tr>"
            f"<td>{html.escape(b['name'])}<br><small>{html.escape(b.get('measure') or '')}"
            f"</small></td><td>{html.escape(b.get('unit') or '')}</td>"
            f"<td>{_num(b.get('figure'))}</td>"
            f"<td>{html.escape(_band_text(b, with_unit=False))}</td>"
            f"<td>{_range(values, 'none measured')}</td>"
            f"<td>{_range(acc, 'none accepted')}</td>"
            f"<td>{r['missed']} of {res['candidates']}</td><td>{r['sole_miss']}</td></tr>"
        )
    table_html = (
        "<table class='tests'><tr><th>target (summary key)</th><th>unit</th>"
        "<th>published figure</th><th>band</th><th>candidates' moments</th>"
        "<th>accepted candidates' moments</th><th>candidates missing it</th>"
        "<th>near-accepted rejected by it alone</th></tr>" + "".join(rows) + "</table>"
    )
    acc_table = table.filter(pl.col("accepted"))
    box = summary.get("box") or {}
    box_rows = "".join(
        f"<tr><td>{html.escape(p)}</td><td>{_num(box[p][0])} to {_num(box[p][1])}</td><td>"
        + (
            f"{_num(acc_table[p].min())} to {_num(acc_table[p].max())}"
            if acc_table.height
            else "none accepted"
        )
        + "</td></tr>"
        for p in params
    )
    seeds = summary.get("seeds")
    how = (
        f"Each candidate ran {len(seeds)} seed{'s' if len(seeds) != 1 else ''} "
        f"({', '.join(str(s) for s in seeds)}) with common random numbers; its moment "
        "for a target is the median over them, or for a target pooled by share the share "
        "of them inside the card's band (its band is then the shares that meet it). "
        if isinstance(seeds, list) and seeds
        else ""
    )
    how += (
        "A candidate misses a target when its moment is missing or outside the band; "
        "near-accepted candidates miss exactly one target."
    )
    return (
        "<div class='verdict headline'>"
        + "".join(f"<p><b>{html.escape(x)}</b></p>" for x in lines)
        + f"<p>{html.escape(how)}</p>"
        + (f"<p class='note'>{html.escape(note)}</p>" if note else "")
        + table_html
        + "<table class='tests'><tr><th>parameter</th><th>box</th><th>accepted range</th></tr>"
        + box_rows
        + "</table></div>"
    )


def calibration_figures(run_dir: Path, summary: dict, bands: list[dict] | None = None):
    """Targets against the simulated moments, binding targets, parameter histograms and
    the parameters' pair plot."""
    from marketsim.analysis import charts  # altair takes ~1 s to import: only when charting

    table, bands, params = read_calibration(run_dir, summary, bands)
    res = binding_targets(table, bands)
    status = pl.when(pl.col("accepted")).then(pl.lit("accepted")).otherwise(pl.lit("rejected"))
    table = table.with_columns(status.alias("status"))
    moments = table.unpivot(
        index=["candidate", "status"],
        on=[b["name"] for b in bands],
        variable_name="target",
        value_name="value",
    )
    figures = [
        Figure(
            "targets",
            "Targets against the simulated moments",
            "Each target's band (shaded) and published figure (dashed line) against every "
            "candidate's moment, the median over its seeds or the share of its seeds in the "
            "card's band (points; accepted candidates in orange). A panel per target, on its "
            "own scale and in its own unit; a missing moment is not drawn.",
            charts.target_bands(moments, bands),
        ),
        Figure(
            "binding",
            "Which targets bind",
            f"Share of the {res['candidates']} candidates whose moment misses each target's "
            f"band, and share of the {res['near_accepted']} near-accepted candidates (those "
            "that miss exactly one target) that the target rejects alone.",
            charts.binding_bars(pl.DataFrame(res["targets"]), res["near_accepted"]),
        ),
        Figure(
            "parameters",
            "Parameters of the candidates",
            "Histogram of each calibrated parameter over its box (10 bins; the x axis spans "
            "the box), accepted candidates apart from rejected ones.",
            charts.param_histograms(table, params, summary.get("box") or {}),
        ),
    ]
    if len(params) >= 2:
        shown = params[:PAIR_PARAMS]
        more = f" (the first {PAIR_PARAMS} of {len(params)})" if len(params) > PAIR_PARAMS else ""
        figures.append(
            Figure(
                "pairs",
                "Parameter pairs",
                f"Every pair of calibrated parameters{more}: one point per candidate, "
                "accepted candidates in orange.",
                charts.param_pairs(table.select("candidate", "status", *shown), shown),
            )
        )
    return figures


def card_bands(card_targets) -> list[dict]:
    """Bands (dicts) of targets-card targets (objects with the card's fields)."""
    return [
        {
            "name": t.name,
            "measure": t.measure,
            "unit": t.unit,
            "figure": t.figure,
            "low": t.low,
            "high": t.high,
            "source": t.source,
        }
        for t in card_targets
    ]


def is_calibration(run_dir: Path) -> bool:
    """A ``calibrate`` output folder: ``calibration.parquet`` beside its ``summary.json``."""
    return (run_dir / "calibration.parquet").is_file()


def summary_of(run_dir: Path) -> dict:
    """``summary.json`` of a calibration folder, or one line naming the fault."""
    path = run_dir / "summary.json"
    try:
        data = json.loads(path.read_text())
    except FileNotFoundError:
        raise UsageError(
            f"{run_dir}: calibration.parquet without summary.json; not a finished calibrate "
            "folder (re-run marketsim calibrate)"
        ) from None
    except ValueError as exc:
        raise UsageError(f"{path}: not valid JSON ({exc}); re-run to rewrite it") from None
    if not isinstance(data, dict):
        raise UsageError(f"{path}: not a JSON object; re-run marketsim calibrate")
    return data


__all__ = [
    "binding_targets",
    "calibration_figures",
    "calibration_headline",
    "card_bands",
    "finding",
    "is_calibration",
    "read_calibration",
    "summary_of",
]
