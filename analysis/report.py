"""One self-contained HTML report (plus PNGs) for a run, a comparison or a sweep.

:func:`write_report` looks at the files in a run folder and picks the charts:

* pricing runs (``sessions.parquet`` + ``impulse.parquet``; calvano2020, llm_pricing):
  price paths of a few sessions against the Nash and monopoly lines, the distribution of
  the profit gain Delta, the impulse-response fan, outcome shares;
* market-making runs (``market_making``, :mod:`report_market_making`): the markup index
  and the markup in price units with their intervals, the learned asks against the
  competitive, zero-profit and collusive asks, the impulse-response fan, outcome shares;
* order-book runs (``book.parquet`` / ``trades.parquet`` / ``agents.parquet``): mid price
  with halts, limit states, bands and crash events, volume, depth, drawdown,
  intermediaries' inventories, Hawkes intensity, variance-ratio profile, VPIN;
* policy comparisons (``compare.parquet``): a forest plot, one panel per metric on its own
  scale, and one sentence per policy with its effects and costs;
* sweeps (Parquet parts below the folder, one row per session, grid parameters as
  columns): heat maps of the mean outcome over two parameters;
* calibrations (``calibration.parquet``, :mod:`report_calibration`): the finding (how
  many candidates met every target, which target binds), each target's band against
  the candidates' moments, how often each target is missed and alone, the parameters'
  histograms and pair plot;
* ensembles (``ensemble.json``, ``compare --ensemble``; :mod:`report_ensemble`): the
  verdict sentences, the effect per calibration and pooled with the shares of
  calibrations below, above and spanning zero, a forest plot per policy;
* audits (``audit.json``, :mod:`marketsim.experiments.audit`): the verdict in a sentence with its
  evidence and a table of the tests, the profit gain Delta with its interval per test,
  the punishment test's mean price path around the deviation, failures per test.

Large runs are summarised in Polars before charting (quantiles per period, counts per
bin, one row per time bucket), so the page stays small. Each kind of run has its own
module of figures (``report_pricing``, ``report_orderbook``, ``report_compare``,
``report_sweep``, ``report_audit``) and ``report_page`` writes the page; this module
picks the kind and puts them together. The page inlines Vega, Vega-Lite
and Vega-Embed once (from ``vl_convert.javascript_bundle``) and embeds every chart in its
own ``div`` with the SVG renderer; a Content-Security-Policy forbids any network load, so
it opens on an air-gapped laptop. ``figures/*.png`` are rendered by vl-convert.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

from marketsim.analysis.report_audit import _audit_header, audit_figures
from marketsim.analysis.report_calibration import (
    calibration_figures,
    calibration_headline,
    is_calibration,
)
from marketsim.analysis.report_compare import (
    METRIC_LABELS,
    compare_figures,
    compare_headline,
    compare_sentences,
)
from marketsim.analysis.report_ensemble import ensemble_figures, ensemble_headline, is_ensemble
from marketsim.analysis.report_market_making import (
    is_market_making,
    market_making_figures,
    market_making_headline,
)
from marketsim.analysis.report_orderbook import MAX_BUCKETS, orderbook_figures, orderbook_headline
from marketsim.analysis.report_page import Figure, _header, _page, _spec
from marketsim.analysis.report_pricing import PATH_SESSIONS, PRE_PERIODS, pricing_figures
from marketsim.analysis.report_sweep import _sweep_parts, sweep_figures, sweep_headline
from marketsim.errors import UsageError
from marketsim.io import write_bytes_atomic

__all__ = [
    "MAX_BUCKETS",
    "METRIC_LABELS",
    "PATH_SESSIONS",
    "PNG_SCALE",
    "PRE_PERIODS",
    "Figure",
    "audit_figures",
    "compare_figures",
    "compare_sentences",
    "orderbook_figures",
    "pricing_figures",
    "run_kind",
    "sweep_figures",
    "write_report",
]

#: PNG scale factor (pixels per CSS pixel)
PNG_SCALE = 1.0


def run_kind(run_dir: Path) -> str:
    """``audit``, ``pricing``, ``orderbook``, ``compare``, ``ensemble``, ``calibration``
    or ``sweep``, from the files."""
    if (run_dir / "audit.json").exists():
        return "audit"
    if is_ensemble(run_dir):
        return "ensemble"
    if is_calibration(run_dir):  # before sweep: a calibration keeps its parts too
        return "calibration"
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
        "compare.parquet, audit.json, calibration.parquet, ensemble.json or sweep parts; "
        "pass a finished run's --out folder"
    )


def _pricing_headline(run_dir: Path, summary: dict) -> str | None:
    """A calvano2020 run beside the paper's Table 1 (:mod:`report_table1`)."""
    if summary.get("scenario") != "calvano2020":
        return None
    import polars as pl

    from marketsim.analysis.report_table1 import table1_html

    sessions = pl.read_parquet(run_dir / "sessions.parquet")
    return table1_html(sessions, summary.get("params") or {})


def write_report(
    run_dir, *, bands: list[dict] | None = None, bands_note: str | None = None
) -> Path:
    """Write ``run_dir/report.html`` and ``run_dir/figures/*.png``; return the HTML path.

    Parameters
    ----------
    run_dir : path
        A finished run's folder (``marketsim run/compare/sweep/calibrate --out``, or a
        ``compare --ensemble`` folder).
    bands : list of dict, optional
        A calibration's target bands (``name, measure, unit, figure, low, high``) when
        its ``summary.json`` does not record them (``target_bands``); ``bands_note``
        says where they came from, printed in the headline.

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
    for name in ("summary.json", "compare.json", "sweep.json", "ensemble.json"):
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
    elif kind == "pricing" and is_market_making(run_dir, summary):
        kind = "market_making"
        figures = market_making_figures(run_dir, summary)
    elif kind == "pricing":
        figures = pricing_figures(run_dir, summary)
    elif kind == "orderbook":
        figures = orderbook_figures(run_dir, summary)
    elif kind == "compare":
        figures = compare_figures(run_dir)
    elif kind == "ensemble":
        figures = ensemble_figures(run_dir)
    elif kind == "calibration":
        figures = calibration_figures(run_dir, summary, bands)
    else:
        figures = sweep_figures(run_dir, summary)
    if not figures and kind != "audit":  # an audit that measured nothing still reports
        raise UsageError(f"{run_dir}: nothing to chart in this {kind} run")
    specs = [_spec(f.chart) for f in figures]
    fig_dir = run_dir / "figures"
    fig_dir.mkdir(parents=True, exist_ok=True)
    for fig, spec in zip(figures, specs, strict=True):
        png = vlc.vegalite_to_png(spec, scale=PNG_SCALE)
        write_bytes_atomic(png, fig_dir / f"{fig.name}.png")
    title = {
        "pricing": "Pricing run",
        "market_making": "Market-making run",
        "orderbook": "Order-book run",
        "compare": "Policy comparison",
        "sweep": "Parameter sweep",
        "audit": "Audit",
        "ensemble": "Policy effects across calibrations",
        "calibration": "Calibration",
    }[kind]
    if kind == "audit":
        title = f"{title}: {summary.get('algorithm') or 'pricing algorithm'}"
        header = _audit_header(run_dir, summary, time.perf_counter() - t0)
    else:
        if summary.get("scenario"):
            title = f"{title}: {summary['scenario']}"
        effects = compare_sentences(summary) if kind == "compare" else None
        headline = {
            "orderbook": orderbook_headline,
            "compare": lambda s: compare_headline(run_dir, s),
            "sweep": lambda s: sweep_headline(run_dir, s),
            "pricing": lambda s: _pricing_headline(run_dir, s),
            "ensemble": lambda s: ensemble_headline(run_dir, s),
            "calibration": lambda s: calibration_headline(run_dir, s, bands, bands_note),
            "market_making": lambda s: market_making_headline(run_dir, s),
        }.get(kind, lambda s: None)(summary)
        sets = summary.get("non_default")  # runs before it was recorded: their --set values
        if kind == "ensemble":  # the values fixed for every calibration
            sets = summary.get("fixed") if isinstance(summary.get("fixed"), dict) else {}
        if not isinstance(sets, dict):
            sets = dict(x.split("=", 1) for x in summary.get("sets") or [] if "=" in x)
        header = _header(
            run_dir,
            kind,
            summary,
            time.perf_counter() - t0,
            effects,
            headline=headline,
            first_params=sets,
        )
    path = run_dir / "report.html"
    write_bytes_atomic(_page(title, header, figures, specs).encode(), path)
    return path
