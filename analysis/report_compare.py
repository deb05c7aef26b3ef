"""Report figures and sentences of a policy comparison (``compare.parquet``).

Each policy's effect on a metric is the paired difference from the baseline over seeds,
d = mean_s (x_{p,s} - x_{0,s}), with the 95% interval and p-value of one paired t-test
(computed by :mod:`marketsim.experiments.compare`; read here from the table). Draws a forest
plot with one panel per metric, each on its own scale and named with its unit, the
magnet-effect rates when the comparison measured them, and one sentence per policy
stating its effects and costs.
"""

from __future__ import annotations

from pathlib import Path

import polars as pl

from marketsim.analysis.report_page import Figure
from marketsim.errors import UsageError

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
            "own scale, with its 95% confidence interval (paired t-test over seeds).",
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


#: below this many seeds a report carries the small-sample note
SMALL_SAMPLE_SEEDS = 10


def small_sample_note(n_seeds: int | None) -> str:
    """The note a report shows below :data:`SMALL_SAMPLE_SEEDS` seeds (HTML), else ``""``."""
    if not isinstance(n_seeds, int) or n_seeds >= SMALL_SAMPLE_SEEDS:
        return ""
    return (
        f"<p class='note'><b>Small sample: {n_seeds} seed{'s' if n_seeds != 1 else ''}.</b> "
        "Intervals from so few seeds are wide and rest on the per-seed differences being "
        f"roughly normal; run at least {SMALL_SAMPLE_SEEDS} seeds (30, the default, is "
        "better) before drawing a conclusion.</p>"
    )


def _effect_words(metric: str, r: dict) -> str:
    name, unit, fmt = METRIC_LABELS.get(metric, (metric.replace("_", " "), None, None))
    pct = fmt is not None and "%" in fmt
    scale = 100.0 if pct else 1.0
    unit = " percentage points" if pct else (f" {unit}" if unit and len(unit) < 14 else "")
    d, lo, hi = (scale * r[k] for k in ("diff", "diff_lo", "diff_hi"))
    verb = "raised" if d > 0 else "lowered" if d < 0 else "left unchanged"
    text = f"{verb} the {name}"
    if d != 0:
        text += f" by {abs(d):,.3g}{unit}"
    if lo == lo and hi == hi:  # not NaN
        text += f" (95% CI {lo:+,.3g} to {hi:+,.3g}; p = {r['p_value']:.2g})"
    return text


def compare_headline(run_dir: Path, summary: dict) -> str:
    """The headline box of a comparison (HTML): each policy's effect on the first outcome
    metric, whether it can be told from seed-to-seed noise, and the small-sample note."""
    import html

    frame = pl.read_parquet(run_dir / "compare.parquet")
    if not {"policy", "metric", "diff", "diff_lo", "diff_hi", "p_value"} <= set(frame.columns):
        return ""
    rows = frame.to_dicts()
    base = summary.get("baseline") or (rows[0]["policy"] if rows else "baseline")
    seeds = summary.get("seeds")
    if not isinstance(seeds, int) and "n_seeds" in frame.columns and frame.height:
        seeds = int(frame["n_seeds"].max())
    order = [m for m in METRIC_LABELS if m in set(frame["metric"])] or sorted(set(frame["metric"]))
    lines = []
    for pol in dict.fromkeys(r["policy"] for r in rows):
        if pol == base:
            continue
        for metric in order[:1]:
            r = next((x for x in rows if x["policy"] == pol and x["metric"] == metric), None)
            if r is None or r["diff"] is None or r["diff"] != r["diff"]:
                continue
            sure = (
                "distinguishable from seed-to-seed noise at the 5% level"
                if r["p_value"] is not None and r["p_value"] < 0.05
                else "not distinguishable from seed-to-seed noise (the interval includes 0)"
            )
            lines.append(f"Against {base}, {pol} {_effect_words(metric, r)}: {sure}.")
    if not lines:
        return ""
    how = (
        f"Paired over {seeds} seed{'s' if seeds != 1 else ''} (the same random market under "
        "each policy); interval and p-value from one paired t-test."
        if isinstance(seeds, int)
        else "Paired over seeds; interval and p-value from one paired t-test."
    )
    return (
        "<div class='verdict headline'>"
        + "".join(f"<p><b>{html.escape(x)}</b></p>" for x in lines)
        + f"<p>{html.escape(how)}</p></div>"
        + small_sample_note(seeds if isinstance(seeds, int) else None)
    )
