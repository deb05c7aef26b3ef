"""Report figures and sentences of a policy comparison (``compare.parquet``).

Each policy's effect on a metric is the paired difference from the baseline over seeds,
d = mean_s (x_{p,s} - x_{0,s}), with its 95% bootstrap interval and sign-flip p-value
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
