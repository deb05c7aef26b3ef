"""The one HTTP client (:mod:`marketsim.http`) against hostile servers on 127.0.0.1.

Issue 18: the API key must never follow a redirect, a server dripping bytes must not hold
a call past its deadline, an endless reply must be cut at the size cap, and every
malformed reply must be a counted failure (:class:`CallFailed`), never a traceback. Each
test takes a few seconds at most.
"""

from __future__ import annotations

import json
import socket
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from marketsim.http import (
    MAX_REPLY_BYTES,
    BreakerOpen,
    CallFailed,
    FailSafe,
    JSONClient,
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


# --- retry budget and circuit breaker ------------------------------------------------------


def test_failsafe_spends_its_budget_and_opens_after_consecutive_failures():
    fs = FailSafe(retry_budget=2, breaker_threshold=4)
    assert fs.failure() and fs.failure()  # two retries
    assert not fs.failure()  # budget spent
    assert fs.retries_used == 2 and not fs.breaker_open
    fs.success()
    assert fs.consecutive_failures == 0
    assert not fs.failure(retryable=False)  # counted, not retried
    for _ in range(3):
        fs.failure()
    assert fs.breaker_open and fs.retries_used == 2


def test_client_retries_transient_failures_and_then_fails_fast(http_server):
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

    fs = FailSafe(retry_budget=10, breaker_threshold=3)
    client = JSONClient(http_server(Flaky), timeout_s=2, failsafe=fs)
    assert client.post({}) == {"price": 1.5}
    assert len(calls) == 3 and fs.retries_used == 2 and fs.consecutive_failures == 0
    # 503, 503, then a reply accept() rejects (not transient: not retried): three
    # consecutive failures open the breaker, and then no call is made at all
    with pytest.raises(CallFailed, match="no good"):
        client.post({}, accept=_reject)
    assert len(calls) == 6 and fs.breaker_open and fs.retries_used == 4
    with pytest.raises(BreakerOpen):
        client.post({})
    assert len(calls) == 6


def _reject(reply):
    raise CallFailed("schema", "no good")
