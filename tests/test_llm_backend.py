"""The real LLM backend against a real HTTP server on 127.0.0.1 started in the test.

The server answers like an OpenAI-compatible chat-completions endpoint, scripted to
return good replies, malformed JSON, prices off the grid, HTTP 500s and hangs. The run
must complete, count each failure, stay within its budget and caps, and replay from its
JSONL trace to identical results with no server.
"""

from __future__ import annotations

import json
import os
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import numpy as np
import polars as pl
import pytest

from marketsim.cli import main as cli_main
from marketsim.llm_backend import LLMBackend, LLMSettings, parse_reply
from marketsim.scenarios import build_spec
from marketsim.scenarios.llm_pricing import Spec, simulate

HANG_S = 1.5


class _Script:
    """Replies in order, cycling; each is good | malformed | offgrid | schema | 500 | hang."""

    def __init__(self, plan):
        self.plan = list(plan)
        self.k = 0
        self.requests = []
        self.lock = threading.Lock()

    def next(self, body):
        with self.lock:
            kind = self.plan[self.k % len(self.plan)]
            self.k += 1
            self.requests.append(body)
            return kind, self.k


def _server(script):
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *a):
            pass

        def do_POST(self):
            body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
            body["_auth"] = self.headers.get("Authorization")
            kind, k = script.next(body)
            if kind == "hang":
                threading.Event().wait(HANG_S)
                return
            if kind == "500":
                self.send_response(500)
                self.end_headers()
                self.wfile.write(b"internal error")
                return
            price = 1.5 + 0.01 * (k % 40)
            content = {
                "good": json.dumps({"price": price, "plans": f"plan {k}", "insights": "ok"}),
                "malformed": '{"price": 1.7, "plans": "unterminated',
                "offgrid": json.dumps({"price": -3.0, "plans": "", "insights": ""}),
                "schema": json.dumps({"price": "1.8", "plans": "", "insights": ""}),
            }[kind]
            reply = {
                "id": f"c{k}",
                "object": "chat.completion",
                "model": body["model"],
                "choices": [
                    {
                        "index": 0,
                        "finish_reason": "stop",
                        "message": {"role": "assistant", "content": content},
                    }
                ],
                "usage": {"prompt_tokens": 50, "completion_tokens": 10, "total_tokens": 60},
            }
            data = json.dumps(reply).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

    srv = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    srv.daemon_threads = True
    thread = threading.Thread(target=srv.serve_forever, daemon=True)
    thread.start()
    return srv, f"http://127.0.0.1:{srv.server_address[1]}/v1"


@pytest.fixture
def scripted():
    servers = []

    def start(plan):
        script = _Script(plan)
        srv, url = _server(script)
        servers.append(srv)
        return script, url

    yield start
    for srv in servers:
        srv.shutdown()
        srv.server_close()


def _spec(url, **llm):
    sets = {
        "n_firms": 2,
        "periods": 12,
        "window": 5,
        "impulse_periods": 3,
        "eval_start": 4,
        "conv_tail": 4,
        "llm": {"endpoint": url, "model": "test-model", "timeout_s": 0.4, **llm},
    }
    return build_spec(Spec, {}, sets)


def test_mixed_failures_complete_count_cap_and_replay(scripted, tmp_path, monkeypatch):
    monkeypatch.setenv("MARKETSIM_TEST_API_KEY", "sk-secret-123")
    plan = ["good"] * 6 + ["malformed", "good", "offgrid", "500", "good", "schema", "hang", "good"]
    script, url = scripted(plan)
    spec = _spec(
        url,
        retry_budget=3,
        breaker_failure_rate=1.0,  # opens only on a full window of failures: not here
        max_calls=40,
        api_key_env="MARKETSIM_TEST_API_KEY",
    )
    trace = tmp_path / "trace.jsonl"
    frame, impulse, model = simulate(spec, sessions=2, seed=7, trace_path=trace)
    counts = model.backend.counts()
    # 2 sessions x 2 firms x 12 periods = 48 decisions, but at most 40 calls
    assert counts["decisions"] == 48
    assert counts["calls"] == 40 == len(script.requests)
    assert counts["fallbacks"]["call_cap"] >= 48 - 40
    assert counts["retries_used"] == 3  # the shared budget is spent, never exceeded
    f = counts["failures"]
    # every scripted failure among the first 40 calls is counted under its kind
    first = [plan[k % len(plan)] for k in range(40)]
    assert f["malformed"] == first.count("malformed")
    assert f["off_grid"] == first.count("offgrid")
    assert f["http_error"] == first.count("500")
    assert f["schema"] == first.count("schema")
    assert f["timeout"] == first.count("hang")
    assert counts["llm_decisions"] == first.count("good")
    assert counts["tokens"] <= spec.llm.max_tokens
    # LLM prices were used where the reply was good: a good reply's price is 1.5 + k/100
    rec = [json.loads(x) for x in trace.read_text().splitlines()]
    ok = [r for r in rec if r.get("source") == "llm"]
    assert len(ok) == counts["llm_decisions"]
    r0 = ok[0]
    assert model.markets.prices[r0["session"], r0["period"], r0["firm"]] == r0["price"]
    assert len({r["trace_id"] for r in rec}) == len(rec)
    # the key went to the server, never into the trace
    assert script.requests[0]["_auth"] == "Bearer sk-secret-123"
    assert "sk-secret-123" not in trace.read_text()
    # prompts follow Fish et al.: persona, plans and insights, a history table, JSON reply
    user = script.requests[20]["messages"][1]["content"]
    assert "PLANS" in user and "INSIGHTS" in user and "Round " in user
    assert script.requests[0]["response_format"]["json_schema"]["schema"]["required"] == [
        "price",
        "plans",
        "insights",
    ]

    # replay: no server, identical results
    n_requests = len(script.requests)
    replay = _spec("", replay=str(trace))
    frame2, impulse2, model2 = simulate(replay, sessions=2, seed=7)
    assert len(script.requests) == n_requests
    assert np.array_equal(model.markets.prices, model2.markets.prices)
    assert frame.equals(frame2) and impulse.equals(impulse2)
    c2 = model2.backend.counts()
    for key in (
        "decisions",
        "llm_decisions",
        "calls",
        "tokens",
        "retries_used",
        "failures",
        "fallbacks",
    ):
        assert c2[key] == counts[key], key


def test_dead_endpoint_opens_breaker_and_falls_back(tmp_path, capsys):
    import socket

    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()  # nothing listens here
    spec = _spec(f"http://127.0.0.1:{port}/v1", retry_budget=2, breaker_min_calls=3)
    frame, _, model = simulate(
        spec, sessions=2, seed=1, trace_path=tmp_path / "t.jsonl", progress=True
    )
    c = model.backend.counts()
    assert c["breaker"]["state"] == "open" and c["breaker"]["opened"] == 1
    assert c["calls"] == 3  # two retries spent, breaker opens on the third failure
    assert c["failures"]["connection"] == 3
    assert c["fallbacks"]["breaker_open"] + c["fallbacks"]["failed"] == c["decisions"] == 48
    assert c["breaker"]["rejected"] == c["fallbacks"]["breaker_open"] == 47
    assert frame["price_mean"].is_finite().all()  # the proxy priced instead
    err = capsys.readouterr().err
    assert "circuit breaker opened at failure rate 100%" in err and "Traceback" not in err


def test_breaker_opens_on_hangs_and_stops_calls(scripted, tmp_path):
    script, url = scripted(["hang"])
    spec = _spec(url, retry_budget=10, breaker_min_calls=2, timeout_s=0.2)
    _, _, model = simulate(spec, sessions=1, seed=2, trace_path=tmp_path / "t.jsonl")
    c = model.backend.counts()
    assert c["breaker"]["state"] == "open" and c["calls"] == 2 and c["failures"]["timeout"] == 2
    assert c["retries_used"] == 1


def test_token_cap_is_never_exceeded(scripted, tmp_path):
    _, url = scripted(["good"])
    spec = _spec(url, max_tokens=3000, completion_tokens=100, timeout_s=5)  # no retries
    _, _, model = simulate(spec, sessions=2, seed=3, trace_path=tmp_path / "t.jsonl")
    c = model.backend.counts()
    assert 0 < c["calls"] < c["decisions"]
    assert c["tokens"] <= 3000
    assert c["fallbacks"]["token_cap"] == c["decisions"] - c["calls"]


def test_cli_live_then_replay_identical_and_key_not_in_outputs(scripted, tmp_path, monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", "sk-never-written")
    _, url = scripted(["good", "good", "malformed"])
    common = [
        "run",
        "llm_pricing",
        "--sessions",
        "2",
        "--seed",
        "9",
        "--quiet",
        "--set",
        "periods=10",
        "--set",
        "window=4",
        "--set",
        "eval_start=3",
        "--set",
        "conv_tail=3",
        "--set",
        "impulse_periods=2",
    ]
    live = tmp_path / "live"
    assert (
        cli_main(
            [
                *common,
                "--out",
                str(live),
                "--set",
                f"llm.endpoint={url}",
                "--set",
                "llm.model=m",
                "--set",
                "llm.timeout_s=2",
            ]
        )
        == 0
    )
    rep = tmp_path / "rep"
    assert cli_main([*common, "--out", str(rep), "--replay", str(live / "llm_trace.jsonl")]) == 0
    a = pl.read_parquet(live / "sessions.parquet")
    b = pl.read_parquet(rep / "sessions.parquet")
    assert a.equals(b)
    sa = json.loads((live / "summary.json").read_text())
    sb = json.loads((rep / "summary.json").read_text())
    assert sa["profit_gain_mean"] == sb["profit_gain_mean"]
    assert sa["llm"]["llm_decisions"] == sb["llm"]["llm_decisions"] > 0
    # the breaker's counts are in the live summary (none opened here); the replay names
    # its trace and does not rerun the breaker
    assert sa["llm"]["breaker"]["state"] == "closed" and sa["llm"]["breaker"]["rejected"] == 0
    assert sa["llm"]["breaker"]["calls_recorded"] == sa["llm"]["calls"]
    assert sa["llm"]["trace"] == "llm_trace.jsonl" and sa["llm"]["call_seconds"] > 0
    assert sb["llm"]["breaker"] is None and sb["llm"]["trace"].endswith("llm_trace.jsonl")
    for path in (live / "summary.json", live / "llm_trace.jsonl"):
        assert "sk-never-written" not in path.read_text()
    assert os.environ["OPENAI_API_KEY"] == "sk-never-written"


def test_bad_llm_settings_are_one_line_errors(tmp_path, capsys):
    code = cli_main(
        [
            "run",
            "llm_pricing",
            "--sessions",
            "1",
            "--out",
            str(tmp_path),
            "--quiet",
            "--set",
            "llm.endpoint=localhost:8000",
        ]
    )
    err = capsys.readouterr().err
    assert code == 2 and err.startswith("error: llm.endpoint") and err.count("\n") == 1
    code = cli_main(
        [
            "run",
            "llm_pricing",
            "--sessions",
            "1",
            "--out",
            str(tmp_path),
            "--quiet",
            "--replay",
            str(tmp_path / "missing.jsonl"),
        ]
    )
    err = capsys.readouterr().err
    assert code == 2 and "llm.replay" in err and "does not exist" in err
    code = cli_main(
        [
            "run",
            "llm_pricing",
            "--sessions",
            "1",
            "--out",
            str(tmp_path),
            "--quiet",
            "--set",
            "llm.bogus=1",
        ]
    )
    assert code == 2 and "llm.bogus" in capsys.readouterr().err


@pytest.mark.parametrize(
    "content,kind",
    [
        ('{"price": 1.8, "plans": "a", "insights": "b"}', None),
        ('```json {"price": 1.8} ```', "malformed"),
        ('{"price": 1.8, "plans": "a"}', "schema"),
        ('{"price": 1.8, "plans": "a", "insights": "b", "x": 1}', "schema"),
        ('{"price": true, "plans": "a", "insights": "b"}', "schema"),
        ('{"price": 99, "plans": "a", "insights": "b"}', "off_grid"),
        ('{"price": NaN, "plans": "a", "insights": "b"}', "off_grid"),
    ],
)
def test_parse_reply_schema(content, kind):
    from marketsim.llm_backend import _Failure

    if kind is None:
        d = parse_reply(content, 0.0, 5.0, 0.01)
        assert d.price == 1.8 and d.plans == "a"
    else:
        with pytest.raises(_Failure) as exc:
            parse_reply(content, 0.0, 5.0, 0.01)
        assert exc.value.kind == kind


def test_backend_requires_model_name():
    from marketsim.errors import UsageError

    with pytest.raises(UsageError, match="llm.model"):
        LLMBackend(LLMSettings(endpoint="http://127.0.0.1:1/v1"))


def test_a_redirecting_endpoint_never_receives_nor_forwards_the_key(tmp_path, monkeypatch):
    """Issue 18: a 302 to another server is a counted failure; the key stays home."""
    monkeypatch.setenv("MARKETSIM_TEST_API_KEY", "sk-redirect-secret")
    seen = []

    class Recorder(BaseHTTPRequestHandler):
        def log_message(self, *a):
            pass

        def do_POST(self):
            seen.append(self.headers.get("Authorization"))
            self.send_response(500)
            self.end_headers()

        do_GET = do_POST

    class Redirector(BaseHTTPRequestHandler):
        def log_message(self, *a):
            pass

        def do_POST(self):
            self.send_response(302)
            self.send_header("Location", target)
            self.send_header("Content-Length", "0")
            self.end_headers()

    servers = [ThreadingHTTPServer(("127.0.0.1", 0), h) for h in (Recorder, Redirector)]
    for srv in servers:
        threading.Thread(target=srv.serve_forever, args=(0.05,), daemon=True).start()
    target = f"http://127.0.0.1:{servers[0].server_address[1]}/steal"
    url = f"http://127.0.0.1:{servers[1].server_address[1]}/v1"
    try:
        spec = _spec(url, retry_budget=1, breaker_min_calls=2, api_key_env="MARKETSIM_TEST_API_KEY")
        trace = tmp_path / "t.jsonl"
        _, _, model = simulate(spec, sessions=1, seed=4, trace_path=trace)
    finally:
        for srv in servers:
            srv.shutdown()
            srv.server_close()
    c = model.backend.counts()
    assert c["failures"]["redirect"] == 2 and c["breaker"]["state"] == "open"
    assert seen == []
    assert target in trace.read_text() and "sk-redirect-secret" not in trace.read_text()


# --- issue 18: breaker, wall-clock budget, the key's variable and host, traces per run ---


def test_an_alternating_endpoint_300_period_session_ends_within_max_wall_s(scripted, tmp_path):
    """One good reply then four hangs, over and over (the issue's endpoint: 20 periods
    took 51 s under the consecutive-failure breaker, a 300-period session about 40
    minutes). The failure rate opens the breaker; its trial calls keep failing and
    reopen it; once the calls took ``max_wall_s`` the proxy decides every later period."""
    import time

    script, url = scripted(["good", "hang", "hang", "hang", "hang"])
    max_wall_s = 4.0
    sets = {
        "n_firms": 2,
        "periods": 300,
        "llm": {
            "endpoint": url,
            "model": "m",
            "timeout_s": 0.5,
            "max_wall_s": max_wall_s,
            "breaker_window": 10,
            "breaker_min_calls": 5,
            # the trial calls must come back well within the session on fast and slow
            # machines alike: with 0.05 s the two waits took 387-583 of the 600
            # decisions here (the budget was reached 12-208 decisions from the end; a
            # loaded run never reached it); with 0.01 s they take 126-138, and about 460
            # decisions follow the budget
            "breaker_wait_s": 0.01,
            "breaker_trial_calls": 2,
        },
    }
    spec = build_spec(Spec, {}, sets)
    t0 = time.monotonic()
    _, _, model = simulate(spec, sessions=1, seed=5, trace_path=tmp_path / "t.jsonl")
    elapsed = time.monotonic() - t0
    c = model.backend.counts()
    assert elapsed < max_wall_s + 10, elapsed
    assert c["decisions"] == 600
    # the budget holds to one call's scheduling: each call's deadline is cut to the time left
    assert max_wall_s <= c["call_seconds"] < max_wall_s + 0.5
    assert c["fallbacks"]["wall_budget"] > 0
    b = c["breaker"]
    assert b["transitions"][0]["to"] == "open" and b["transitions"][0]["of_calls"] == 5
    assert b["transition_counts"]["half_open->open"] >= 1 and b["opened"] >= 2
    assert b["rejected"] == c["fallbacks"]["breaker_open"] > 0
    assert sum(c["fallbacks"].values()) + c["llm_decisions"] == 600
    assert c["calls"] == len(script.requests)


def _server_recording_auth():
    seen = []

    class Recorder(BaseHTTPRequestHandler):
        def log_message(self, *a):
            pass

        def do_POST(self):
            seen.append(self.headers.get("Authorization"))
            self.send_response(500)
            self.send_header("Content-Length", "0")
            self.end_headers()

    srv = ThreadingHTTPServer(("127.0.0.1", 0), Recorder)
    srv.daemon_threads = True
    threading.Thread(target=srv.serve_forever, args=(0.05,), daemon=True).start()
    return srv, f"http://127.0.0.1:{srv.server_address[1]}/v1", seen


_SHORT = ["--sessions", "1", "--quiet", "--set", "periods=6", "--set", "window=3"]
_SHORT += ["--set", "eval_start=2", "--set", "conv_tail=3", "--set", "impulse_periods=1"]


def test_a_spec_may_name_only_an_API_KEY_variable(tmp_path, capsys, monkeypatch):
    """A shared TOML (or --set) naming AWS_SECRET_ACCESS_KEY is refused: one line naming
    the field and the fix, exit 2, before any call."""
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "aws-secret")
    srv, url, seen = _server_recording_auth()
    toml = tmp_path / "shared.toml"
    toml.write_text(
        f'[llm]\nendpoint = "{url}"\nmodel = "m"\napi_key_env = "AWS_SECRET_ACCESS_KEY"\n'
    )
    try:
        for source in (
            ["--config", str(toml)],
            [
                "--set",
                f"llm.endpoint={url}",
                "--set",
                "llm.model=m",
                "--set",
                "llm.api_key_env=AWS_SECRET_ACCESS_KEY",
            ],
        ):
            code = cli_main(["run", "llm_pricing", "--out", str(tmp_path / "o"), *_SHORT, *source])
            err = capsys.readouterr().err
            assert code == 2 and err.count("\n") == 1 and "Traceback" not in err
            assert "llm.api_key_env" in err and "_API_KEY" in err
            assert "--api-key-env AWS_SECRET_ACCESS_KEY" in err
    finally:
        srv.shutdown()
        srv.server_close()
    assert seen == []


def test_the_command_line_or_environment_chooses_any_key_variable(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("MY_TOKEN", "tok-cli")
    monkeypatch.setenv("OTHER_TOKEN", "tok-env")
    monkeypatch.setenv("OPENAI_API_KEY", "tok-spec")
    srv, url, seen = _server_recording_auth()
    live = ["--set", f"llm.endpoint={url}", "--set", "llm.model=m", "--set", "llm.timeout_s=2"]
    port = url.split(":")[2].split("/")[0]
    try:
        monkeypatch.setenv("MARKETSIM_API_KEY_ENV", "OTHER_TOKEN")
        argv = ["run", "llm_pricing", *_SHORT, *live, "--api-key-env", "MY_TOKEN"]
        assert cli_main([*argv, "--out", str(tmp_path / "a")]) == 0
        err = capsys.readouterr().err
        # the command line wins over the environment, which wins over the spec
        assert set(seen) == {"Bearer tok-cli"}
        assert err.count(f"llm: the key in $MY_TOKEN is sent to 127.0.0.1:{port} (http) only") == 1
        seen.clear()
        assert cli_main(["run", "llm_pricing", *_SHORT, *live, "--out", str(tmp_path / "b")]) == 0
        assert set(seen) == {"Bearer tok-env"}
        assert "$OTHER_TOKEN" in capsys.readouterr().err
        summary = json.loads((tmp_path / "b" / "summary.json").read_text())
        assert summary["llm"]["key_host"] == f"127.0.0.1:{port}"
        assert "tok-env" not in (tmp_path / "b" / "summary.json").read_text()
        code = cli_main(["run", "calvano2020", "--out", str(tmp_path / "c"), "--api-key-env", "X"])
        err = capsys.readouterr().err
        assert code == 2 and err.startswith("error: --api-key-env") and err.count("\n") == 1
    finally:
        srv.shutdown()
        srv.server_close()


def test_a_key_is_never_sent_over_plain_http_to_another_host(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", "sk-clear")
    live = ["--set", "llm.endpoint=http://llm.example.com/v1", "--set", "llm.model=m"]
    code = cli_main(["run", "llm_pricing", "--out", str(tmp_path), *_SHORT, *live])
    err = capsys.readouterr().err
    assert code == 2 and err.count("\n") == 1 and err.startswith("error: llm.endpoint")
    assert "clear text" in err and "llm.example.com" in err and "sk-clear" not in err


def test_a_live_rerun_writes_a_new_trace_and_each_replays(scripted, tmp_path):
    """The second live run into a folder writes llm_trace-2.jsonl; the first run's trace
    is untouched and still replays to the first run's prices."""
    from marketsim.scenarios.llm_pricing import run

    _, url = scripted(["good", "good", "malformed"])
    spec = _spec(url)
    out = tmp_path / "run"
    first = run(spec, sessions=1, seed=3, out=out, progress=False)
    before = (out / "llm_trace.jsonl").read_bytes()
    second = run(spec, sessions=1, seed=3, out=out, progress=False)
    assert first["llm"]["trace"] == "llm_trace.jsonl"
    assert second["llm"]["trace"] == "llm_trace-2.jsonl"
    assert (out / "llm_trace.jsonl").read_bytes() == before
    # the server's prices move on between runs, so the two runs differ
    assert second["price_index_mean"] != first["price_index_mean"]
    for summary in (first, second):
        replay = _spec("", replay=str(out / summary["llm"]["trace"]))
        again = run(replay, sessions=1, seed=3, out=tmp_path / "replay", progress=False)
        assert again["price_index_mean"] == summary["price_index_mean"]
        assert again["llm"]["llm_decisions"] == summary["llm"]["llm_decisions"]


def test_the_report_header_states_who_decided_and_the_breaker(scripted, tmp_path):
    from marketsim.analysis.report_page import _header
    from marketsim.scenarios.llm_pricing import run

    _, url = scripted(["good", "500", "500", "500"])
    spec = _spec(url, breaker_min_calls=4, breaker_window=4, retry_budget=0)
    summary = run(spec, sessions=1, seed=3, out=tmp_path, progress=False)
    c = summary["llm"]
    assert c["breaker"]["opened"] == 1  # 1 good, 3 failures: 75% of 4 calls
    text = _header(tmp_path, "pricing", summary, 0.0)
    proxy = ", ".join(f"{k} {v}" for k, v in c["fallbacks"].items() if v)
    assert f"{c['llm_decisions']} of 24 by the LLM (live, 4 calls); proxy instead: {proxy}" in text
    assert "open at the end; openings: 1, 20 calls rejected; failure rate 0.75" in text
    assert "LLM call time" in text
