"""The audit's HTML report (issues #9 and #7): ``marketsim audit`` writes report.html and
figures, the page renders offline in headless Chromium, states the verdict with its
evidence, and still reports what could not be measured when the algorithm fails."""

from __future__ import annotations

import html
import json
import re

import pytest

from marketsim.agents.reference_pricers import GrimTriggerPricer
from marketsim.experiments.audit import AuditSettings, run_audit
from tests._browser import rendered_offline

#: the grim trigger is cheap (no training) and collusive: every chart has data
TARGET = "marketsim.agents.reference_pricers:GrimTriggerPricer"


@pytest.fixture(scope="module")
def grim_audit(tmp_path_factory):
    """The full battery through the CLI, 2 sessions of 40 + 15 periods."""
    import contextlib
    import io

    from marketsim.cli import main

    out = tmp_path_factory.mktemp("audit") / "grim"
    stdout = io.StringIO()
    with contextlib.redirect_stdout(stdout):
        rc = main(
            [
                "audit",
                TARGET,
                "--sessions",
                "2",
                "--periods",
                "40",
                "--horizon",
                "15",
                "--out",
                str(out),
                "--quiet",
            ]
        )
    assert rc == 0
    return out, stdout.getvalue()


class Raises(GrimTriggerPricer):
    def price(self, prices, profits):
        raise RuntimeError("model file missing")


@pytest.fixture(scope="module")
def failing_audit(tmp_path_factory):
    from marketsim.analysis.report import write_report

    out = tmp_path_factory.mktemp("audit") / "raises"
    s = AuditSettings(
        sessions=2,
        periods=20,
        horizon=8,
        call_timeout=0.05,
        max_failures=3,
        tests=("self_play", "punishment"),
    )
    run_audit(Raises, settings=s, out=out, algorithm="tests:Raises")
    write_report(out)
    return out


def test_cli_writes_report_and_keeps_markdown(grim_audit):
    out, printed = grim_audit
    assert (out / "audit.json").is_file() and (out / "audit.md").is_file()
    assert f"report: {(out / 'report.html').resolve()}" in printed.splitlines()
    pngs = {p.stem for p in (out / "figures").glob("*.png")}
    assert pngs == {"audit_profit_gain", "audit_punishment"}  # no failures: no third
    for p in (out / "figures").glob("*.png"):
        assert p.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_report_renders_offline_with_verdict_and_evidence(grim_audit, tmp_path):
    out, _ = grim_audit
    audit = json.loads((out / "audit.json").read_text())
    assert audit["verdict"] == "collusive"
    dom = rendered_offline(out / "report.html", tmp_path)
    assert len(re.findall(r'<svg[^>]*class="marks"', dom)) == 2
    # the verdict is a sentence followed by its evidence, never a bare word
    assert "Verdict: collusive.</b> The algorithm behaves collusively" in dom
    assert audit["evidence"]
    for sentence in audit["evidence"]:
        assert html.escape(sentence, quote=False) in dom
    # a row per test, each measured, with its key figures
    rows = re.findall(r"<tr><td>([\w ]+)</td><td>(\w+)</td><td>([^<]*)</td>", dom)
    assert {r[0] for r in rows} == {"self play", "rivals", "punishment", "retraining", "robustness"}
    assert all(r[1] == "measured" for r in rows)
    self_play = next(r for r in rows if r[0] == "self play")
    assert f"profit gain {audit['tests']['self_play']['profit_gain']['mean']:.3f}" in self_play[2]


def _spec(page, name):
    text = page.read_text()
    names = re.findall(r"PNG: figures/([\w-]+)\.png", text)
    specs = re.findall(
        r"<script type='application/json' id='spec-\d+'>(.*?)</script>", text, flags=re.S
    )
    return json.loads(dict(zip(names, specs, strict=True))[name].replace("<\\/", "</"))


def _values(spec):
    """Every inline data row of a (layered) Vega-Lite spec."""
    rows = list((spec.get("data") or {}).get("values") or [])
    for layer in spec.get("layer", []):
        rows += _values(layer)
    return rows


def test_profit_gain_chart_holds_every_measured_delta(grim_audit):
    out, _ = grim_audit
    tests = json.loads((out / "audit.json").read_text())["tests"]
    rows = {
        r["label"]: r
        for r in _values(_spec(out / "report.html", "audit_profit_gain"))
        if "label" in r
    }
    expected = {"self-play": tests["self_play"]["profit_gain"]}
    expected |= {f"vs {k}": v["audited_profit_gain"] for k, v in tests["rivals"]["rivals"].items()}
    expected |= {
        f"self-play, {k}": v["profit_gain"] for k, v in tests["robustness"]["variants"].items()
    }
    assert len(rows) == len(expected) == 9
    for label, d in expected.items():
        pretty = {
            "vs qlearner": "vs Q-learner (Calvano et al.)",
            "vs best_response": "vs static best responder",
        }.get(label, label)
        pretty = pretty.replace("vs llm_", "vs LLM proxy ").replace("_", " ")
        r = rows[pretty]
        assert [r["mean"], r["ci_low"], r["ci_high"]] == pytest.approx(
            [d["mean"], d["ci_low"], d["ci_high"]]
        ), label
    refs = {
        r["reference"]: r["x"]
        for r in _values(_spec(out / "report.html", "audit_profit_gain"))
        if "reference" in r
    }
    assert refs == {"Nash": 0.0, "monopoly": 1.0, "threshold": 0.2}


def test_punishment_path_is_recorded_and_charted(grim_audit):
    """audit.json keeps the mean path t = -2..10; the grim trigger's copy drops to Nash
    one period after the deviation and stays there, the undisturbed copy does not."""
    out, _ = grim_audit
    audit = json.loads((out / "audit.json").read_text())
    path = audit["tests"]["punishment"]["mean_path"]
    nash, mono = audit["benchmarks"]["nash_price"][0], audit["benchmarks"]["monopoly_price"][0]
    assert path["t"] == list(range(-2, 11))
    assert path["sessions"] == audit["tests"]["punishment"]["sessions_with_room"]
    after = [p for t, p in zip(path["t"], path["audited_deviation"], strict=True) if t >= 1]
    before = [p for t, p in zip(path["t"], path["audited_deviation"], strict=True) if t <= 0]
    assert before == pytest.approx([mono] * 3)
    assert after == pytest.approx([nash] * 10)
    assert path["audited_undisturbed"] == pytest.approx([mono] * 13)
    assert path["deviator_deviation"][2] < mono  # t = 0: the forced best response
    rows = [r for r in _values(_spec(out / "report.html", "audit_punishment")) if "run" in r]
    assert len(rows) == 4 * 13
    charted = sorted(
        r["price"] for r in rows if r["firm"] == "audited copy" and r["run"] == "with deviation"
    )
    assert charted == pytest.approx(sorted(path["audited_deviation"]))


def test_failing_algorithm_report_says_what_was_not_measured(failing_audit, tmp_path):
    audit = json.loads((failing_audit / "audit.json").read_text())
    assert audit["verdict"] == "inconclusive"
    dom = rendered_offline(failing_audit / "report.html", tmp_path)
    assert "Verdict: inconclusive.</b>" in dom
    assert "Could not be measured" in dom
    for test in ("self play", "punishment"):
        assert re.search(
            rf"<li>{test}: the algorithm failed 3 times \(exception 3\); "
            r"first: exception: RuntimeError: model file missing</li>",
            dom,
        )
        assert re.search(rf"<tr><td>{test}</td><td>not_measured</td>", dom)
    # the only chart is the failure count, 3 exceptions in each of the two tests
    assert {p.stem for p in (failing_audit / "figures").glob("*.png")} == {"audit_failures"}
    counts = _values(_spec(failing_audit / "report.html", "audit_failures"))
    assert sorted((r["test"], r["kind"], r["count"]) for r in counts) == [
        ("punishment", "exception", 3),
        ("self_play", "exception", 3),
    ]


def test_audit_that_measured_nothing_still_gets_a_page(tmp_path):
    """No reset/price: no test ran and there is nothing to chart, but the page says why."""
    from marketsim.cli import main

    run_audit(
        lambda: object(),
        settings=AuditSettings(sessions=2, periods=20),
        out=tmp_path,
        algorithm="tests:nothing",
    )
    assert main(["report", str(tmp_path)]) == 0
    text = (tmp_path / "report.html").read_text()
    assert "<div class='chart'" not in text
    assert "Verdict: inconclusive.</b>" in text
    assert "the object has no reset or price()" in text
