"""Report of a comparison across a calibration ensemble (``compare --ensemble`` folder).

Reads ``ensemble.parquet`` (one row per policy, metric and calibration, plus the
``calibration = "pooled"`` row: the paired difference from the baseline, its interval,
p-value and ``sign``) and ``ensemble.json`` (the calibrations' parameters and, per policy
and metric, the shares of calibrations whose interval lies below zero, above zero or
spans it, and the verdict sentence). Every figure the page prints is one of those
tables' values, scaled to the metric's display unit (fractions in percentage points);
nothing is recomputed here. The forest plot of :mod:`report_compare` is drawn once per
policy with one row per calibration and the pooled row last.
"""

from __future__ import annotations

import html
import json
from pathlib import Path

import polars as pl

from marketsim.analysis.report_compare import METRIC_LABELS, small_sample_note
from marketsim.analysis.report_page import Figure
from marketsim.errors import UsageError

_NEED = ("policy", "metric", "calibration", "diff", "diff_lo", "diff_hi", "p_value", "sign")


def is_ensemble(run_dir: Path) -> bool:
    """A ``compare --ensemble`` output folder."""
    return (run_dir / "ensemble.json").is_file() or (run_dir / "ensemble.parquet").is_file()


def read_ensemble_tables(run_dir: Path) -> tuple[pl.DataFrame, dict]:
    """``(ensemble.parquet, ensemble.json)``, or one line naming the fault."""
    table_path, json_path = run_dir / "ensemble.parquet", run_dir / "ensemble.json"
    for p in (table_path, json_path):
        if not p.is_file():
            raise UsageError(
                f"{run_dir}: no {p.name}; not a finished compare --ensemble folder "
                "(re-run the same marketsim compare --ensemble command)"
            )
    try:
        summary = json.loads(json_path.read_text())
    except ValueError as exc:
        raise UsageError(f"{json_path}: not valid JSON ({exc}); re-run to rewrite it") from None
    table = pl.read_parquet(table_path)
    lacking = [c for c in _NEED if c not in table.columns]
    if lacking or not isinstance(summary, dict) or not isinstance(summary.get("summary"), list):
        what = f"no column {lacking[0]!r}" if lacking else "no per-policy summary"
        raise UsageError(f"{run_dir}: {what}; not a compare --ensemble output (re-run the command)")
    return table, summary


def metric_order(metrics) -> list[str]:
    """The metrics in the order of :data:`METRIC_LABELS`, the others after by name."""
    order = {m: i for i, m in enumerate(METRIC_LABELS)}
    return sorted(set(metrics), key=lambda m: (order.get(m, len(order)), m))


def display(metric: str) -> tuple[str, float, str]:
    """``(name, scale, unit)`` of a metric as the page prints it: fractions (an axis
    format in per cent) times 100 in percentage points, others in their own unit."""
    name, unit, fmt = METRIC_LABELS.get(metric, (metric.replace("_", " "), None, None))
    if fmt is not None and "%" in fmt:
        return name, 100.0, "percentage points"
    return name, 1.0, unit or ""


def effect_text(metric: str, row: dict) -> str:
    """``+2.19 [-7.93, +12.3]``: the row's difference and interval in display units."""
    _, scale, _ = display(metric)
    d, lo, hi = (row[k] for k in ("diff", "diff_lo", "diff_hi"))
    if d is None or d != d:
        return "n/a"
    out = f"{scale * d:+.3g}"
    if lo is not None and hi is not None and lo == lo and hi == hi:
        out += f" [{scale * lo:+.3g}, {scale * hi:+.3g}]"
    return out


def _p(p) -> str:
    if p is None or p != p:
        return "n/a"
    return "< 1e-12" if p < 1e-12 else f"{p:.2g}"


def _shares(s: dict) -> str:
    return (
        f"below zero {100 * s['share_below']:.0f}%, above zero {100 * s['share_above']:.0f}%, "
        f"spanning zero {100 * s['share_spans']:.0f}% of {s['n_calibrations']} calibrations"
    )


def _cal_label(cal: dict) -> str:
    return f"cal_{cal['candidate']}"


def ensemble_headline(run_dir: Path, summary: dict) -> str:
    """The headline box (HTML): the verdict sentences of the first metric, then per policy
    and metric the effect per calibration and pooled with the shares of calibrations
    below, above and spanning zero, then the calibrations' parameters."""
    table, data = read_ensemble_tables(run_dir)
    base = data.get("baseline") or "the baseline"
    seeds = data.get("seeds")
    cals = data.get("calibrations") or []
    metrics = metric_order(table["metric"].unique().to_list())
    first = metrics[0] if metrics else None
    lead = [s["verdict"] for s in data["summary"] if s.get("metric") == first]
    others = [s["verdict"] for s in data["summary"] if s.get("metric") != first]
    level = data.get("level", 0.95)
    how = (
        f"Each policy against {base} on {len(cals)} accepted calibrations x "
        f"{seeds} seeds (the same seeds under every policy and calibration). Per "
        f"calibration: the paired difference over its seeds with its {100 * level:.0f}% "
        "t interval; pooled: all calibration x seed pairs taken together as independent."
    )
    parts = [
        "<div class='verdict headline'>",
        *(f"<p><b>{html.escape(x[:1].upper() + x[1:])}</b></p>" for x in lead),
        f"<p>{html.escape(how)}</p></div>",
        small_sample_note(seeds if isinstance(seeds, int) else None),
    ]
    by_key = {(s["policy"], s["metric"]): s for s in data["summary"]}
    rows_of = {}
    for r in table.iter_rows(named=True):
        rows_of.setdefault((r["policy"], r["metric"]), []).append(r)
    for policy in dict.fromkeys(table["policy"].to_list()):
        parts.append(f"<h2>{html.escape(policy)} against {html.escape(base)}</h2>")
        body = []
        for metric in metrics:
            rows = rows_of.get((policy, metric))
            if not rows:
                continue
            name, _, unit = display(metric)
            s = by_key.get((policy, metric))
            span = len(rows)
            label = html.escape(name + (f" ({unit})" if unit else ""))
            for i, r in enumerate(rows):
                head = (
                    f"<td rowspan='{span}'>{label}<br><small>"
                    + (html.escape(_shares(s)) if s else "")
                    + "</small></td>"
                    if i == 0
                    else ""
                )
                cal = "pooled" if r["calibration"] == "pooled" else r["calibration"]
                strong = ("<b>", "</b>") if cal == "pooled" else ("", "")
                body.append(
                    f"<tr>{head}<td>{strong[0]}{html.escape(cal)}{strong[1]}</td>"
                    f"<td>{strong[0]}{html.escape(effect_text(metric, r))}{strong[1]}</td>"
                    f"<td>{_p(r['p_value'])}</td><td>{html.escape(r['sign'])}</td>"
                    f"<td>{r.get('n_pairs', '')}</td></tr>"
                )
        parts.append(
            "<table class='tests'><tr><th>metric (unit)</th><th>calibration</th>"
            f"<th>difference from {html.escape(base)} [{100 * level:.0f}% CI]</th>"
            "<th>p</th><th>interval</th><th>pairs</th></tr>" + "".join(body) + "</table>"
        )
    if others:
        parts.append(
            "<h2>Verdicts on the other metrics</h2><ul>"
            + "".join(f"<li>{html.escape(x)}</li>" for x in others)
            + "</ul>"
        )
    if cals:
        params = list(dict.fromkeys(k for c in cals for k in c.get("params", {})))
        head = "".join(f"<th>{html.escape(p)}</th>" for p in params)
        body = "".join(
            f"<tr><td>{html.escape(_cal_label(c))}</td>"
            + "".join(f"<td>{c['params'].get(p, ''):.4g}</td>" for p in params)
            + "</tr>"
            for c in cals
        )
        src = html.escape(str(data.get("ensemble", "")))
        parts.append(
            f"<h2>The calibrations</h2><p class='caption'>Accepted candidates of {src}."
            f"</p><table class='tests'><tr><th>calibration</th>{head}</tr>{body}</table>"
        )
    return "".join(parts)


def ensemble_figures(run_dir: Path) -> list[Figure]:
    """One forest plot per policy: a row per calibration and the pooled row, a panel
    per metric."""
    from marketsim.analysis import charts  # altair takes ~1 s to import: only when charting

    table, data = read_ensemble_tables(run_dir)
    base = data.get("baseline") or "the baseline"
    metrics = metric_order(table["metric"].unique().to_list())
    figures = []
    for i, policy in enumerate(dict.fromkeys(table["policy"].to_list())):
        rows = (
            table.filter(pl.col("policy") == policy)
            .drop_nulls("diff")
            .filter(pl.col("diff").is_not_nan())
            .sort(
                pl.col("metric").replace_strict(metrics, range(len(metrics))), maintain_order=True
            )
            .select(
                pl.col("calibration").alias("policy"),
                "metric",
                "diff",
                "diff_lo",
                "diff_hi",
                "p_value",
            )
        )
        if not rows.height:
            continue
        figures.append(
            Figure(
                f"forest_{i}",
                f"{policy}: effect per calibration and pooled",
                f"Difference of {policy} from {base}, one row per accepted calibration "
                "and the pooled row, one panel per metric with its own scale, with the 95% "
                "confidence interval (paired t-test over seeds).",
                charts.forest_plot(
                    rows, METRIC_LABELS, title=f"{policy} against {base}, per calibration"
                ),
            )
        )
    return figures


__all__ = [
    "display",
    "effect_text",
    "ensemble_figures",
    "ensemble_headline",
    "is_ensemble",
    "metric_order",
    "read_ensemble_tables",
]
