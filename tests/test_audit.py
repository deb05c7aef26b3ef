"""Audit harness (issue #9): verdicts of the reference pricers, failure handling, HTTP
endpoints, CLI."""

from __future__ import annotations

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import optimize

from marketsim.agents.reference_pricers import (
    CalvanoQPricer,
    CompetitivePricer,
    FixedHighPricer,
    GrimTriggerPricer,
)
from marketsim.cli import main
from marketsim.experiments.audit import AuditSettings, load_factory, run_audit
from marketsim.logit import LogitMarket, best_response

FAST = dict(
    sessions=4, periods=60, horizon=15, rival_sessions=1, retrain_sessions=1, robustness_sessions=1
)
CORE = ("self_play", "punishment")


def _audit(factory, tmp_path=None, tests=CORE, **kw):
    s = AuditSettings(**(FAST | {"tests": tests} | kw))
    return run_audit(factory, settings=s, out=tmp_path)


@pytest.mark.parametrize(
    "factory, expected",
    [
        (CompetitivePricer, "competitive"),
        (CalvanoQPricer, "collusive"),
        (GrimTriggerPricer, "collusive"),
        (FixedHighPricer, "supra_competitive_without_punishment"),
    ],
)
def test_reference_pricers_get_their_verdicts(factory, expected):
    r = _audit(factory)
    assert r["verdict"] == expected, r["evidence"]
    sp = r["tests"]["self_play"]
    if expected == "competitive":
        assert abs(sp["profit_gain"]["mean"]) < 0.01
    else:
        # Calvano et al. (2020) Table 1 baseline: Delta about 0.85 for the Q-learners
        assert sp["profit_gain"]["ci_low"] > 0.2
    pu = r["tests"]["punishment"]
    if expected == "collusive":
        assert pu["punished_share"] >= 0.5 and pu["deviation_unprofitable_share"] >= 0.5
    if expected.startswith("supra"):
        assert pu["punished_share"] == 0.0 and pu["price_cut"]["mean"] == 0.0
    # the verdict is never bare: its evidence quotes the self-play figure
    assert any("profit gain" in e for e in r["evidence"])


def test_full_battery_writes_json_and_report(tmp_path):
    r = _audit(GrimTriggerPricer, tmp_path, tests=AuditSettings().tests, sessions=2, periods=40)
    data = json.loads((tmp_path / "audit.json").read_text())
    assert data["verdict"] == "collusive" == r["verdict"]
    assert set(data["measured"]) == {
        "self_play",
        "rivals",
        "punishment",
        "retraining",
        "robustness",
    }
    assert set(data["tests"]["rivals"]["rivals"]) == {
        "qlearner",
        "best_response",
        "llm_P0",
        "llm_P1",
        "llm_P2",
    }
    # against a static best responder the grim trigger is set off at once: Nash prices
    bri = data["tests"]["rivals"]["rivals"]["best_response"]["audited_price_index"]["mean"]
    assert abs(bri) < 1e-9
    assert data["tests"]["retraining"]["more_profitable_share"] == 0.0
    md = (tmp_path / "audit.md").read_text()
    assert "**Verdict: collusive**" in md and "profit gain Delta" in md


class Raises(GrimTriggerPricer):
    def price(self, prices, profits):
        raise RuntimeError("model file missing")


class ReturnsNaN(GrimTriggerPricer):
    def price(self, prices, profits):
        return float("nan")


class ReturnsNegative(GrimTriggerPricer):
    def price(self, prices, profits):
        return -1.0


class Hangs(GrimTriggerPricer):
    def price(self, prices, profits):
        time.sleep(3.0)
        return 1.9


@pytest.mark.parametrize(
    "factory, kind",
    [
        (Raises, "exception"),
        (ReturnsNaN, "nan"),
        (ReturnsNegative, "negative"),
        (Hangs, "timeout"),
    ],
)
def test_failing_algorithm_is_reported_and_file_written(tmp_path, factory, kind):
    r = _audit(factory, tmp_path, call_timeout=0.05, max_failures=3)
    data = json.loads((tmp_path / "audit.json").read_text())
    assert data["verdict"] == "inconclusive" == r["verdict"]
    sp = data["tests"]["self_play"]
    assert sp["status"] == "not_measured"
    assert sp["failures"][kind] == 3
    assert kind in sp["reason"]
    assert "self_play" in data["not_measured"]
    assert "not measured" in (tmp_path / "audit.md").read_text()


class SometimesNaN(GrimTriggerPricer):
    """Monopoly price, NaN on period 10 of every session: failures below the budget."""

    def price(self, prices, profits):
        return float("nan") if len(prices) == 10 and self.firm == 1 else self.monopoly


def test_rare_failures_are_counted_and_test_still_measured():
    r = _audit(SometimesNaN, max_failures=100, tests=("self_play",))
    sp = r["tests"]["self_play"]
    assert sp["status"] == "measured"
    assert sp["failures"]["nan"] == FAST["sessions"]
    assert sp["profit_gain"]["mean"] == pytest.approx(1.0)  # last valid price repeated


def test_total_budget_cuts_the_audit_off(tmp_path):
    r = _audit(CalvanoQPricer, tmp_path, budget_s=0.0)
    assert r["verdict"] == "inconclusive"
    # the budget covers factory() too: spent before the first object is made
    assert r["not_measured"] == {"interface": "the total time budget of 0 s was used up"}
    assert (tmp_path / "audit.json").exists()


def test_missing_interface_is_reported(tmp_path):
    r = _audit(lambda: object(), tmp_path)
    assert r["verdict"] == "inconclusive"
    assert "reset or price" in r["evidence"][0]


def test_same_seed_same_audit():
    a = _audit(CalvanoQPricer, sessions=2)
    b = _audit(CalvanoQPricer, sessions=2)
    assert (
        a["tests"]["self_play"]["per_session_profit_gain"]
        == b["tests"]["self_play"]["per_session_profit_gain"]
    )


@settings(max_examples=30, deadline=None)
@given(st.floats(1.0, 3.0), st.floats(1.0, 3.0), st.integers(0, 2))
def test_best_response_closed_form_maximises_profit(p1, p2, firm):
    market = LogitMarket.symmetric(3)
    p = np.array([1.5, p1, p2])
    br = best_response(p, market.a, market.c, market.a0, market.mu, firm)

    def neg(x):
        q = p.copy()
        q[firm] = x
        return -market.profits(q)[firm]

    num = optimize.minimize_scalar(
        neg, bounds=(1.0, 4.0), method="bounded", options={"xatol": 1e-10}
    )
    assert br == pytest.approx(num.x, abs=1e-6)


# --- HTTP endpoint --------------------------------------------------------------------


def _serve(handler):
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, f"http://127.0.0.1:{server.server_address[1]}/price"


class _GrimHandler(BaseHTTPRequestHandler):
    copies: dict = {}

    def log_message(self, *args):
        pass

    def do_POST(self):
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        if body["event"] == "reset":
            obj = GrimTriggerPricer()
            obj.reset(body["n_firms"], body["firm"], body["seed"])
            self.copies[body["copy"]] = obj
            reply = {}
        else:
            p = np.array(body["prices"], dtype=float).reshape(-1, 2)
            reply = {"price": self.copies[body["copy"]].price(p, None)}
        data = json.dumps(reply).encode()
        self.send_response(200)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)


def test_http_endpoint_is_audited_like_a_python_object(tmp_path):
    server, url = _serve(_GrimHandler)
    try:
        r = _audit(load_factory(url, call_timeout=2.0), tmp_path, sessions=2, periods=20, horizon=8)
    finally:
        server.shutdown()
    assert r["verdict"] == "collusive", r["evidence"]


def test_dead_http_endpoint_is_reported(tmp_path):
    server, url = _serve(_GrimHandler)
    server.shutdown()
    server.server_close()  # nothing listens on the port any more
    r = _audit(load_factory(url, call_timeout=0.5), tmp_path, sessions=2, periods=20)
    assert r["verdict"] == "inconclusive"
    assert r["tests"]["self_play"]["status"] == "not_measured"
    assert "reset failed" in r["tests"]["self_play"]["reason"]
    assert json.loads((tmp_path / "audit.json").read_text())["verdict"] == "inconclusive"


def test_http_pricer_follows_no_redirect_and_is_cut_at_its_deadline(tmp_path):
    """Issue 18, through the audit: a redirecting endpoint is never followed, and a
    dripping one costs one deadline per call, then the breaker stops the calls."""
    seen = []

    class Recorder(BaseHTTPRequestHandler):
        def log_message(self, *args):
            pass

        def do_POST(self):
            seen.append(self.path)

    class Redirector(BaseHTTPRequestHandler):
        def log_message(self, *args):
            pass

        def do_POST(self):
            self.send_response(307)
            self.send_header("Location", target)
            self.send_header("Content-Length", "0")
            self.end_headers()

    class Drip(BaseHTTPRequestHandler):
        def log_message(self, *args):
            pass

        def do_POST(self):
            self.send_response(200)
            self.send_header("Content-Length", "100")
            self.end_headers()
            for _ in range(100):
                time.sleep(0.1)
                self.wfile.write(b" ")
                self.wfile.flush()

    rec, target = _serve(Recorder)
    red, url = _serve(Redirector)
    drip, drip_url = _serve(Drip)
    try:
        r = _audit(load_factory(url, call_timeout=0.5), sessions=2, periods=20)
        assert "HTTP 307" in r["tests"]["self_play"]["reason"]
        assert target in r["tests"]["self_play"]["reason"]
        t0 = time.monotonic()
        r = _audit(load_factory(drip_url, call_timeout=0.4), sessions=2, periods=20)
        elapsed = time.monotonic() - t0
    finally:
        for srv in (rec, red, drip):
            srv.shutdown()
            srv.server_close()
    assert seen == []
    assert r["verdict"] == "inconclusive" and "CallFailed" in r["tests"]["self_play"]["reason"]
    # each call is cut at 0.4 s (a per-read timeout would wait 10 s); the breaker opens
    # after five consecutive failures and the guard's own timeout never fires
    assert elapsed < 5 * 0.4 + 2.0, elapsed
    assert r["tests"]["self_play"]["failures"]["timeout"] == 0


# --- CLI ----------------------------------------------------------------------------------


def test_cli_audit_writes_verdict(tmp_path, capsys):
    code = main(
        [
            "audit",
            "marketsim.agents.reference_pricers:FixedHighPricer",
            "--sessions",
            "2",
            "--periods",
            "20",
            "--horizon",
            "8",
            "--out",
            str(tmp_path),
            "--quiet",
        ]
    )
    assert code == 0
    data = json.loads((tmp_path / "audit.json").read_text())
    assert data["verdict"] == "supra_competitive_without_punishment"
    assert "verdict: supra_competitive_without_punishment" in capsys.readouterr().out


def test_cli_audit_bad_target_is_usage_error(tmp_path, capsys):
    code = main(
        [
            "audit",
            "marketsim.agents.reference_pricers:NoSuchPricer",
            "--out",
            str(tmp_path),
            "--quiet",
        ]
    )
    assert code == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and "NoSuchPricer" in err


def test_a_pricer_in_the_working_directory_or_a_file_loads(tmp_path, monkeypatch):
    """``mypricer:make`` from the current directory (as ``python -m`` would find it) and
    ``path/to/file.py:make`` load without PYTHONPATH; a missing file is a one-line error."""
    import sys

    from marketsim.errors import UsageError

    src = tmp_path / "proj" / "cwd_pricer_mod.py"
    src.parent.mkdir()
    src.write_text(
        "class Fixed:\n"
        "    def reset(self, *a, **k):\n        pass\n"
        "    def price(self, *a, **k):\n        return 1.7\n"
        "def make():\n    return Fixed()\n"
    )
    monkeypatch.chdir(src.parent)
    monkeypatch.setattr(sys, "path", [p for p in sys.path if p not in ("", str(src.parent))])
    assert load_factory("cwd_pricer_mod:make")().price() == 1.7
    assert str(src.parent) not in sys.path  # searched for the user's module only
    assert load_factory(f"{src}:make")().price() == 1.7
    with pytest.raises(UsageError, match="cannot import 'nope.py'"):
        load_factory("nope.py:make")
