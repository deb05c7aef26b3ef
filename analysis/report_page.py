"""The report page: header table, detector verdicts, and the self-contained HTML writer.

A page is a title, a header (the run's provenance and verdicts) and a list of
:class:`Figure` s, each embedded as its Vega-Lite spec. The page inlines Vega,
Vega-Lite and Vega-Embed once (from ``vl_convert.javascript_bundle``) and renders every
chart in its own ``div`` with the SVG renderer; a Content-Security-Policy forbids any
network load, so it opens on an air-gapped laptop. The figure builders live beside this
module (``report_pricing``, ``report_orderbook``, ``report_compare``, ``report_sweep``,
``report_audit``, ``report_calibration``, ``report_ensemble``);
:func:`marketsim.analysis.report.write_report` puts them together.
"""

from __future__ import annotations

import functools
import html
import json
from dataclasses import dataclass
from pathlib import Path

from marketsim.io import run_metadata


@dataclass
class Figure:
    """One chart of the report: file stem, heading, one-line reading guide, chart."""

    name: str
    title: str
    caption: str
    chart: object


def _bundle_cache() -> Path:
    """Where the bundle is kept between runs: ``$XDG_CACHE_HOME/marketsim`` (``~/.cache``),
    one file per vl-convert version (the bundle is part of that release)."""
    import vl_convert as vlc

    from marketsim._numba_cache import user_cache_home

    return user_cache_home() / "marketsim" / f"vega-bundle-vl-convert-{vlc.__version__}.js"


@functools.lru_cache(maxsize=1)
def _vega_bundle() -> str:
    """Vega, Vega-Lite and Vega-Embed as one script. vl-convert builds it in several
    seconds (about 6 s of CPU) on each process's first call, so the first report written
    keeps it in the user's cache folder and later processes read it from there; a cache
    folder that cannot be written is skipped."""
    import vl_convert as vlc

    from marketsim.io import write_text_atomic

    path = _bundle_cache()
    try:
        text = path.read_text(encoding="utf-8")
        if text:
            return text
    except (OSError, UnicodeDecodeError):
        pass
    # "</script" inside the library would end the inline <script> early
    text = vlc.javascript_bundle().replace("</script", "<\\/script")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        write_text_atomic(text, path)
    except OSError:
        pass
    return text


def _spec(chart) -> dict:
    return chart.to_dict()


def _fmt(v) -> str:
    if isinstance(v, list) and v and all(isinstance(x, dict) and "name" in x for x in v):
        # a policy list: each policy with the parameters it was given
        return " + ".join(
            x["name"] + "".join(f", {k}={_fmt(y)}" for k, y in x.items() if k != "name") for x in v
        )
    if isinstance(v, float):
        return f"{v:.4g}"
    if isinstance(v, list) and v and all(isinstance(x, float) for x in v):
        return "[" + ", ".join(f"{x:.4g}" for x in v) + "]"
    return str(v)


def _llm_rows(llm) -> list[tuple[str, str]]:
    """Rows on a live or replayed LLM backend (``summary.json``'s ``llm`` block): who
    decided, the circuit breaker, the time the calls took."""
    if not isinstance(llm, dict) or not isinstance(llm.get("decisions"), int):
        return []
    fallbacks = llm.get("fallbacks") if isinstance(llm.get("fallbacks"), dict) else {}
    proxy = ", ".join(f"{k} {v}" for k, v in fallbacks.items() if v) or "none"
    rows = [
        (
            "LLM decisions",
            f"{llm.get('llm_decisions')} of {llm['decisions']} by the LLM "
            f"({llm.get('mode', '?')}, {llm.get('calls')} calls); proxy instead: {proxy}",
        )
    ]
    b = llm.get("breaker")
    if isinstance(b, dict):
        rows.append(
            (
                "LLM circuit breaker",
                f"{b.get('state')} at the end; openings: {b.get('opened')}, "
                f"{b.get('rejected')} calls rejected; failure rate "
                f"{_fmt(b.get('failure_rate'))}, slow-call rate {_fmt(b.get('slow_rate'))} "
                f"of {b.get('calls_recorded')} calls",
            )
        )
    if isinstance(llm.get("call_seconds"), int | float) and llm.get("mode") == "live":
        rows.append(
            (
                "LLM call time",
                f"{llm['call_seconds']:.1f} s (llm.max_wall_s {_fmt(llm.get('max_wall_s'))} s)",
            )
        )
    return rows


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


def _seeds_text(summary: dict) -> tuple[str, str] | None:
    """The header's seed row: ``seed 3`` for one run, ``3 seeds (0-2)`` for several."""
    n = summary.get("seeds")
    if isinstance(n, list) and n and all(isinstance(x, int) for x in n):  # a calibration's
        return ("seeds", f"{len(n)} seed{'s' if len(n) != 1 else ''} ({min(n)}-{max(n)})")
    if isinstance(n, int) and not isinstance(n, bool):
        first = summary.get("seed", 0) if isinstance(summary.get("seed"), int) else 0
        return ("seeds", f"{n} seed{'s' if n != 1 else ''} ({first}-{first + n - 1})")
    if summary.get("seed") is not None:
        return ("seed", summary["seed"])
    return None


def _sessions_text(summary: dict):
    s = summary.get("sessions")
    if isinstance(s, list):  # one summary per session (order-book runs)
        return f"{len(s)} (see the table above)"
    return s


def _params_html(params: dict, first: dict | None = None, recorded: bool = False) -> str:
    """Parameters folded away in a ``<details>``: ``first`` (the parameters that differ
    from the scenario's defaults, by dotted key) in bold before the rest; empty lists and
    dicts (``policy = []``) and long values left out of the rest (never out of
    ``first``). ``recorded``: the run recorded which parameters differ (``non_default``),
    so an empty ``first`` means every one is at its default."""
    first = first or {}

    def keep(v):
        return not (isinstance(v, dict | list) and (not v or len(str(v)) >= 80))

    shown = dict(first)
    groups = {k.split(".", 1)[0] for k in shown}
    rest = {k: v for k, v in params.items() if k not in groups and keep(v)}
    if not shown and not rest:
        return ""
    items = "".join(
        f"<li><b>{html.escape(k)} = {html.escape(_fmt(v))}</b></li>" for k, v in shown.items()
    ) + "".join(f"<li>{html.escape(k)} = {html.escape(_fmt(v))}</li>" for k, v in rest.items())
    label = f"parameters ({len(shown) + len(rest)}" + (
        f"; the {len(shown)} that differ from the scenario's defaults in bold, first)"
        if shown
        else "; every one at the scenario's default)"
        if recorded
        else ")"
    )
    return f"<details class='params'><summary>{label}</summary><ul>{items}</ul></details>"


def _header(
    run_dir: Path,
    kind: str,
    summary: dict,
    wall: float,
    effects: list[str] | None = None,
    headline: str | None = None,
    first_params: dict | None = None,
) -> str:
    """The headline box (HTML, from the report's module), the run's provenance table,
    its parameters folded away (``first_params`` first), the detectors' verdicts and,
    for a comparison, the ``effects`` sentences
    (:func:`report_compare.compare_sentences`)."""
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
        ("sessions", _sessions_text(summary)),
        _seeds_text(summary),
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
    rows = [r for r in rows if r is not None]
    for key in ("profit_gain_mean", "converged_share", "price_index_mean"):
        if isinstance(summary.get(key), int | float):
            rows.append((key.replace("_", " "), _fmt(summary[key])))
    rows += _llm_rows(summary.get("llm"))
    table = "\n".join(
        f"<tr><th>{html.escape(k)}</th><td>{html.escape(str(v))}</td></tr>"
        for k, v in rows
        if v is not None
    )
    params = summary.get("params") or summary.get("grid") or {}
    phtml = _params_html(
        params, first_params, recorded=isinstance(summary.get("non_default"), dict)
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
    if effects:
        vhtml += (
            "<h2>Effects and costs</h2><ul>"
            + "".join(f"<li>{html.escape(v)}</li>" for v in effects)
            + "</ul>"
        )
    return (
        (headline or "")
        + vhtml
        + "<h2>About this run</h2>"
        + f"<table class='meta'>{table}</table>"
        + phtml
    )


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
div.headline { font-size: 1.02em; margin-bottom: 1em; }
div.headline table { margin: 0.5em 0; }
p.note { border-left: 4px solid #f58518; background: #fff8ef; padding: 0.3em 1em; }
details.params { font-size: 0.92em; color: #444; margin-top: 0.5em; }
details.params ul { columns: 2; }
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
