"""The one HTTP client (:mod:`marketsim.http`) against hostile servers on 127.0.0.1.

Issue 18: the API key must never follow a redirect (nor go from https to plain http, nor
over plain http to a host other than the loopback), a server dripping bytes must not hold
a call past its deadline, an endless reply must be cut at the size cap, every malformed
reply must be a counted failure (:class:`CallFailed`), never a traceback, and the circuit
breaker must open on the failure rate and the slow-call rate over its window (resilience4j
semantics). Each test takes a few seconds at most.
"""

from __future__ import annotations

import json
import socket
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from marketsim.http import (
    CLOSED,
    HALF_OPEN,
    MAX_REPLY_BYTES,
    OPEN,
    BreakerOpen,
    CallFailed,
    CircuitBreaker,
    FailSafe,
    JSONClient,
    credential_refusal,
    post_json,
)

KEY = "sk-must-not-travel"


@pytest.fixture
def http_server():
    """Start ThreadingHTTPServers from handler classes; shut them all down afterwards."""
    servers = []

    def start(handler):
        srv = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        srv.daemon_threads = True
        threading.Thread(target=srv.serve_forever, args=(0.05,), daemon=True).start()
        servers.append(srv)
        return f"http://127.0.0.1:{srv.server_address[1]}"

    yield start
    for srv in servers:
        srv.shutdown()
        srv.server_close()


@pytest.fixture
def raw_server():
    """A TCP server that reads the request head and then runs ``respond(conn, stop)``."""
    stop = threading.Event()
    socks = []

    def start(respond):
        lsock = socket.socket()
        lsock.bind(("127.0.0.1", 0))
        lsock.listen(8)
        lsock.settimeout(0.2)
        socks.append(lsock)

        def serve():
            while not stop.is_set():
                try:
                    conn, _ = lsock.accept()
                except OSError:
                    continue
                threading.Thread(target=_handle, args=(conn, respond), daemon=True).start()

        threading.Thread(target=serve, daemon=True).start()
        return f"http://127.0.0.1:{lsock.getsockname()[1]}/v1"

    def _handle(conn, respond):
        with conn:
            conn.settimeout(5)
            data = b""
            while b"\r\n\r\n" not in data:
                chunk = conn.recv(65536)
                if not chunk:
                    return
                data += chunk
            try:
                respond(conn, stop)
            except OSError:
                pass  # the client hung up, as it should

    yield start
    stop.set()
    for s in socks:
        s.close()


def _json_reply(handler, obj, code=200):
    data = json.dumps(obj).encode()
    handler.send_response(code)
    handler.send_header("Content-Type", "application/json")
    handler.send_header("Content-Length", str(len(data)))
    handler.end_headers()
    handler.wfile.write(data)


# --- redirects: the key stays with the endpoint ------------------------------------------


@pytest.mark.parametrize("code", [301, 302, 303, 307, 308])
def test_a_redirect_is_a_failure_and_the_key_never_reaches_the_target(http_server, code):
    seen = []

    class Recorder(BaseHTTPRequestHandler):
        def log_message(self, *a):
            pass

        def do_POST(self):
            seen.append(dict(self.headers))
            _json_reply(self, {"price": 1.0})

        do_GET = do_POST

    target = http_server(Recorder) + "/stolen"

    class Redirector(BaseHTTPRequestHandler):
        def log_message(self, *a):
            pass

        def do_POST(self):
            self.send_response(code)
            self.send_header("Location", target)
            self.send_header("Content-Length", "0")
            self.end_headers()

    url = http_server(Redirector) + "/v1/chat/completions"
    with pytest.raises(CallFailed) as exc:
        post_json(url, {"x": 1}, timeout_s=2, headers={"Authorization": f"Bearer {KEY}"})
    assert exc.value.kind == "redirect"
    assert target in exc.value.detail and str(code) in exc.value.detail
    assert "\n" not in exc.value.detail
    assert seen == []  # the second server never saw a request, let alone the key
    # the recorder does work when asked directly: the test could have failed
    assert post_json(target, {}, timeout_s=2) == {"price": 1.0} and len(seen) == 1


# --- the whole-call deadline and the size cap ---------------------------------------------


def _drip(conn, stop, head=b"HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\n", body=b"{"):
    conn.sendall(head)
    for _ in range(1000):
        if stop.wait(0.25):
            return
        conn.sendall(body[:1] or b" ")


def test_a_dripping_body_is_cut_at_the_deadline(raw_server):
    url = raw_server(_drip)
    t0 = time.monotonic()
    with pytest.raises(CallFailed) as exc:
        post_json(url, {}, timeout_s=1.0)
    elapsed = time.monotonic() - t0
    assert exc.value.kind == "timeout" and exc.value.transient
    # every read gets a byte within 0.25 s, so a per-read timeout would never fire
    assert 0.9 < elapsed < 1.6, elapsed


def test_dripping_headers_are_cut_at_the_deadline(raw_server):
    def drip_head(conn, stop):
        conn.sendall(b"HTTP/1.1 200 OK\r\n")
        for _ in range(1000):
            if stop.wait(0.25):
                return
            conn.sendall(b"X-Slow: 1\r\n")

    url = raw_server(drip_head)
    t0 = time.monotonic()
    with pytest.raises(CallFailed) as exc:
        post_json(url, {}, timeout_s=1.0)
    elapsed = time.monotonic() - t0
    assert exc.value.kind in ("timeout", "malformed")  # cut, or too many headers
    assert elapsed < 1.6, elapsed


def test_an_endless_chunked_reply_is_cut_at_the_size_cap(raw_server):
    sent = []

    def endless(conn, stop):
        conn.sendall(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n")
        block = b" " * 65536
        while not stop.is_set():
            conn.sendall(b"%x\r\n" % len(block) + block + b"\r\n")
            sent.append(len(block))

    url = raw_server(endless)
    t0 = time.monotonic()
    with pytest.raises(CallFailed) as exc:
        post_json(url, {}, timeout_s=5.0)
    assert exc.value.kind == "too_large"
    assert time.monotonic() - t0 < 3.0
    # the server was stopped by the client hanging up, a little past the cap
    assert sum(sent) < 8 * MAX_REPLY_BYTES


def test_a_declared_oversize_reply_fails_before_reading(raw_server):
    url = raw_server(
        lambda conn, stop: conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 999999999\r\n\r\n{")
    )
    with pytest.raises(CallFailed, match="exceeds") as exc:
        post_json(url, {}, timeout_s=2.0)
    assert exc.value.kind == "too_large"


# --- malformed replies are counted failures ----------------------------------------------


def _reply(raw: bytes):
    return lambda conn, stop: conn.sendall(raw)


def _body(text: str) -> bytes:
    data = text.encode()
    return b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n" % len(data) + data


@pytest.mark.parametrize(
    "raw",
    [
        pytest.param(b'HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n{"a":', id="incomplete"),
        pytest.param(b"NOT-HTTP garbage\r\n\r\n", id="bad_status_line"),
        pytest.param(b"HTTP/1.1 200 OK\r\nX: " + b"a" * 70000 + b"\r\n\r\n", id="line_too_long"),
        pytest.param(
            b"HTTP/1.1 200 OK\r\n" + b"X: 1\r\n" * 150 + b"Content-Length: 2\r\n\r\n{}",
            id="too_many_headers",
        ),
        pytest.param(_body("[" * 100_000 + "]" * 100_000), id="deep_json"),
        pytest.param(_body('{"price": ' + "9" * 5000 + "}"), id="huge_integer"),
        pytest.param(_body('{"price": 1.0'), id="bad_json"),
        pytest.param(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n\xff\xfe", id="not_utf8"),
        pytest.param(b"", id="empty_reply"),
        pytest.param(
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n", id="bad_chunk"
        ),
    ],
)
def test_malformed_replies_are_failures_not_tracebacks(raw_server, raw):
    url = raw_server(_reply(raw))
    with pytest.raises(CallFailed) as exc:
        post_json(url, {}, timeout_s=2.0)
    assert exc.value.kind in ("malformed", "connection")
    assert "\n" not in exc.value.detail


def test_http_errors_say_whether_a_retry_could_help(http_server):
    class Codes(BaseHTTPRequestHandler):
        def log_message(self, *a):
            pass

        def do_POST(self):
            code = int(self.path.strip("/"))
            self.send_response(code)
            self.send_header("Content-Length", "0")
            self.end_headers()

    base = http_server(Codes)
    for code, transient in ((500, True), (503, True), (400, False), (404, False)):
        with pytest.raises(CallFailed) as exc:
            post_json(f"{base}/{code}", {}, timeout_s=2)
        assert exc.value.kind == "http_error" and exc.value.transient is transient


def test_a_refused_connection_is_a_transient_failure():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    with pytest.raises(CallFailed) as exc:
        post_json(f"http://127.0.0.1:{port}/", {}, timeout_s=2)
    assert exc.value.kind == "connection" and exc.value.transient


# --- retry budget and circuit breaker (resilience4j CircuitBreaker semantics) --------------


class _Clock:
    def __init__(self):
        self.now = 100.0

    def __call__(self):
        return self.now


def test_failsafe_spends_its_budget_and_never_more():
    fs = FailSafe(retry_budget=2)
    assert fs.failure() and fs.failure()  # two retries
    assert not fs.failure()  # budget spent
    assert fs.retries_used == 2
    assert not fs.failure(retryable=False) and fs.retries_used == 2  # counted, not retried


def test_breaker_opens_on_the_failure_rate_once_min_calls_are_recorded():
    """One good reply then four failures, over and over: never five consecutive failures
    (the former breaker never opened), an 80% failure rate (this one opens)."""
    cb = CircuitBreaker(window=10, min_calls=5, failure_rate=0.5, clock=_Clock())
    for failed in (False, True, True, True):
        assert cb.allow()
        cb.record(failed, 0.01)
    assert cb.state == CLOSED  # 75% failed, but only 4 calls of the 5 needed
    assert cb.allow()
    cb.record(True, 0.01)
    assert cb.state == OPEN and cb.opened == 1
    t = cb.transitions[0]
    assert (t["from"], t["to"], t["of_calls"], t["failure_rate"]) == ("closed", "open", 5, 0.8)
    # below the threshold it stays closed: 4 good and 1 failure in the window
    cb2 = CircuitBreaker(window=5, min_calls=5, failure_rate=0.5)
    for failed in (True, False, False, False, False, True, False, False, False, False):
        assert cb2.allow()
        cb2.record(failed, 0.01)
    assert cb2.state == CLOSED and cb2.stats()["window_failure_rate"] == 0.2


def test_breaker_opens_on_the_slow_call_rate():
    cb = CircuitBreaker(window=4, min_calls=4, slow_rate=0.75, slow_s=1.0, clock=_Clock())
    for duration in (0.5, 1.5, 2.0):  # successes, two of them slow
        cb.allow()
        cb.record(False, duration)
    assert cb.state == CLOSED
    cb.allow()
    cb.record(False, 1.0)  # exactly slow_s is not slow: 2 of 4 = 50%
    assert cb.state == CLOSED
    cb.allow()
    cb.record(False, 3.0)  # window now 1.5, 2.0, 1.0, 3.0: 75% slow
    assert cb.state == OPEN
    assert cb.transitions[-1]["slow_rate"] == 0.75 and cb.transitions[-1]["failure_rate"] == 0


def test_open_breaker_rejects_for_wait_s_then_trial_calls_close_or_reopen_it():
    clock = _Clock()
    cb = CircuitBreaker(
        window=4, min_calls=2, failure_rate=0.5, wait_s=10, trial_calls=2, clock=clock
    )
    for _ in range(2):
        cb.allow()
        cb.record(True, 0.0)
    assert cb.state == OPEN
    clock.now += 9.9
    assert not cb.allow() and not cb.allow() and cb.rejected == 2
    clock.now += 0.1
    # half-open: exactly trial_calls permissions, then rejections until they report
    assert cb.allow() and cb.state == HALF_OPEN and cb.allow() and not cb.allow()
    assert cb.rejected == 3
    cb.record(False, 0.0)
    cb.record(True, 0.0)  # 1 of 2 trial calls failed: 50% >= 50%, reopen
    assert cb.state == OPEN and cb.opened == 2
    clock.now += 10
    assert cb.allow() and cb.allow()
    cb.record(False, 0.0)
    cb.record(False, 0.0)
    assert cb.state == CLOSED
    # closing empties the window: one failure now is 1 of 1, below min_calls
    cb.allow()
    cb.record(True, 0.0)
    assert cb.state == CLOSED
    s = cb.stats()
    assert s["transition_counts"] == {
        "closed->open": 1,
        "open->half_open": 2,
        "half_open->open": 1,
        "half_open->closed": 1,
    }
    assert s["rejected"] == 3 and s["calls_recorded"] == 7 and s["failure_rate"] == 4 / 7


def test_impossible_breaker_settings_are_refused():
    with pytest.raises(ValueError, match="min_calls"):
        CircuitBreaker(window=5, min_calls=6)
    with pytest.raises(ValueError, match="failure_rate"):
        CircuitBreaker(failure_rate=0)


def test_breaker_threshold_still_opens_on_an_endpoint_that_always_fails():
    """FailSafe(retry_budget, breaker_threshold), as the audit's HTTP pricer builds it."""
    fs = FailSafe(20, 5)
    for _ in range(4):
        assert fs.failure()
    assert not fs.failure() and fs.breaker_open and fs.retries_used == 4


def _alternating(calls, slow_s=0.0):
    class Alternating(BaseHTTPRequestHandler):
        """One good reply, then four HTTP 500s, over and over."""

        def log_message(self, *a):
            pass

        def do_POST(self):
            calls.append(self.path)
            time.sleep(slow_s)
            if len(calls) % 5 == 1:
                _json_reply(self, {"price": 1.5})
            else:
                self.send_response(500)
                self.send_header("Content-Length", "0")
                self.end_headers()

    return Alternating


def test_an_alternating_endpoint_opens_the_breaker(http_server):
    calls = []
    fs = FailSafe(breaker=CircuitBreaker(window=10, min_calls=5, failure_rate=0.5))
    client = JSONClient(
        http_server(_alternating(calls)), timeout_s=2, failsafe=fs, retry_on=lambda f: False
    )
    assert client.post({}) == {"price": 1.5}
    for _ in range(4):
        with pytest.raises(CallFailed) as exc:
            client.post({})
        assert exc.value.kind == "http_error"
    assert fs.breaker_open
    t0 = time.monotonic()
    with pytest.raises(BreakerOpen, match="failure rate 80%"):
        client.post({})
    assert time.monotonic() - t0 < 0.1 and len(calls) == 5  # rejected at once, no call
    assert fs.breaker.stats()["rejected"] == 1


def test_a_slow_endpoint_opens_the_breaker_on_the_slow_call_rate(http_server):
    calls = []

    class Slow(BaseHTTPRequestHandler):
        def log_message(self, *a):
            pass

        def do_POST(self):
            calls.append(self.path)
            time.sleep(0.3)
            _json_reply(self, {"price": 1.5})

    fs = FailSafe(
        breaker=CircuitBreaker(window=3, min_calls=3, slow_rate=0.6, slow_s=0.2, wait_s=30)
    )
    client = JSONClient(http_server(Slow), timeout_s=2, failsafe=fs)
    for _ in range(3):
        assert client.post({}) == {"price": 1.5}  # every reply good, every one slow
    with pytest.raises(BreakerOpen, match="slow-call rate 100%"):
        client.post({})
    assert len(calls) == 3
    s = fs.breaker.stats()
    assert s["state"] == "open" and s["failure_rate"] == 0.0 and s["slow_rate"] == 1.0


def test_client_retries_transient_failures_from_the_budget(http_server):
    calls = []

    class Flaky(BaseHTTPRequestHandler):
        def log_message(self, *a):
            pass

        def do_POST(self):
            calls.append(self.path)
            if len(calls) % 3:
                self.send_response(503)
                self.send_header("Content-Length", "0")
                self.end_headers()
            else:
                _json_reply(self, {"price": 1.5})

    fs = FailSafe(retry_budget=3, breaker=CircuitBreaker(window=10, min_calls=10))
    client = JSONClient(http_server(Flaky), timeout_s=2, failsafe=fs)
    assert client.post({}) == {"price": 1.5}
    assert len(calls) == 3 and fs.retries_used == 2
    # 503 (the last retry), 503: the budget is spent, the failure is raised
    with pytest.raises(CallFailed) as exc:
        client.post({})
    assert exc.value.kind == "http_error" and len(calls) == 5 and fs.retries_used == 3
    # a good reply that accept() rejects is a failure too, raised (no budget left anyway)
    with pytest.raises(CallFailed, match="no good"):
        client.post({}, accept=_reject)
    assert len(calls) == 6 and fs.breaker.failed == 5 and not fs.breaker_open


def _reject(reply):
    raise CallFailed("schema", "no good")


# --- credentials: https or the loopback only -----------------------------------------------


def test_a_key_is_refused_for_plain_http_to_another_host():
    auth = {"Authorization": f"Bearer {KEY}"}
    for url in ("http://api.example.com/v1", "http://10.0.0.8:8000/v1", "ftp://x/"):
        with pytest.raises(ValueError, match="clear text"):
            JSONClient(url, timeout_s=1, headers=auth)
        JSONClient(url, timeout_s=1)  # no key, no objection
    for url in (
        "https://api.example.com/v1",
        "http://127.0.0.1:8000/v1",
        "http://127.3.0.1/v1",
        "http://localhost:8000/v1",
        "http://[::1]:8000/v1",
    ):
        assert credential_refusal(url) is None, url
        JSONClient(url, timeout_s=1, headers=auth)


@pytest.fixture
def https_server(tmp_path, monkeypatch):
    """ThreadingHTTPServers behind TLS with a certificate for 127.0.0.1 from a test CA
    that the client trusts (``SSL_CERT_FILE``)."""
    import ssl

    import trustme  # a dev dependency (pyproject.toml)

    ca = trustme.CA()
    cert = ca.issue_cert("127.0.0.1")
    ca_file = tmp_path / "ca.pem"
    ca.cert_pem.write_to_path(str(ca_file))
    monkeypatch.setenv("SSL_CERT_FILE", str(ca_file))
    servers = []

    def start(handler):
        srv = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        cert.configure_cert(ctx)
        srv.socket = ctx.wrap_socket(srv.socket, server_side=True)
        srv.daemon_threads = True
        threading.Thread(target=srv.serve_forever, args=(0.05,), daemon=True).start()
        servers.append(srv)
        return f"https://127.0.0.1:{srv.server_address[1]}"

    yield start
    for srv in servers:
        srv.shutdown()
        srv.server_close()


@pytest.mark.parametrize("code", [301, 302, 303, 307, 308])
def test_an_https_endpoint_redirecting_to_plain_http_never_sends_the_key(
    http_server, https_server, code
):
    seen = []

    class Recorder(BaseHTTPRequestHandler):
        def log_message(self, *a):
            pass

        def do_POST(self):
            seen.append(self.headers.get("Authorization"))
            _json_reply(self, {"price": 1.0})

        do_GET = do_POST

    target = http_server(Recorder) + "/clear-text"

    class Redirector(BaseHTTPRequestHandler):
        def log_message(self, *a):
            pass

        def do_POST(self):
            if self.path == "/ok":
                _json_reply(self, {"price": 2.0})
                return
            self.send_response(code)
            self.send_header("Location", target)
            self.send_header("Content-Length", "0")
            self.end_headers()

    base = https_server(Redirector)
    auth = {"Authorization": f"Bearer {KEY}"}
    # TLS works: the same server answers over https with the key
    assert post_json(base + "/ok", {}, timeout_s=2, headers=auth) == {"price": 2.0}
    with pytest.raises(CallFailed) as exc:
        post_json(base + "/v1", {}, timeout_s=2, headers=auth)
    assert exc.value.kind == "redirect" and target in exc.value.detail
    assert seen == []  # nothing, let alone the key, went over plain http
