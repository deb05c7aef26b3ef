"""Report figures and header of an audit (``audit.json``, :mod:`marketsim.experiments.audit`).

The verdict in a sentence with its evidence and a table of the tests; the audited copy's
profit gain Delta = (pi - pi_N) / (pi_M - pi_N) with its 95% interval per test against
the Nash (0) and monopoly (1) references; the punishment test's mean price path around a
forced deviation; failures of the audited algorithm per test.
"""

from __future__ import annotations

import html
from pathlib import Path

import polars as pl

from marketsim.analysis.report_page import Figure, _header
from marketsim.analysis.report_pricing import _first

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
