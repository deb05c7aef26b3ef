"""One JSON-over-HTTP client for everything marketsim asks of a remote service.

Used by the LLM backend (:mod:`marketsim.llm_backend`) and the audit's HTTP pricer
(:class:`marketsim.experiments.audit.HTTPPricer`). A call POSTs a JSON body and returns
the decoded JSON reply, or raises :class:`CallFailed` with a kind and a one-line reason.
Nothing else escapes: every transport, protocol and decoding error is a counted failure.

What the client guarantees (issue 18):

* **No redirects are followed.** A 3xx answer is a failed call naming its ``Location``;
  the ``Authorization`` header therefore never reaches a host the user did not name,
  nor travels over plain http after an https endpoint;
* **a deadline on the whole call** (``timeout_s``): connect, headers and body together.
  A watchdog shuts the socket down at the deadline, so a server dripping one byte a
  second cannot hold the call past ``timeout_s`` (a socket timeout alone bounds each
  read, not the call);
* **a reply-size cap** (:data:`MAX_REPLY_BYTES`): the body is read in chunks and the call
  fails once the cap is passed, so an endless reply cannot eat memory;
* **retries from one budget and a circuit breaker** (:class:`FailSafe`), shared by all
  callers of one run: a failed call may be retried while the budget lasts, and after
  ``breaker_threshold`` consecutive failures the breaker opens and every later call
  fails at once.

The standard library only (urllib and http.client), so TLS certificate checks and
proxy settings are Python's defaults.
"""

from __future__ import annotations

import http.client
import json
import socket
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass

#: largest reply body read, in bytes; a longer reply is a failed call of kind ``too_large``
MAX_REPLY_BYTES = 1 << 20

_CHUNK = 1 << 16

#: kinds of :class:`CallFailed` raised by a call itself (callers may add their own)
CALL_FAILURES = ("timeout", "connection", "http_error", "redirect", "too_large", "malformed")


class CallFailed(Exception):
    """One failed call: ``kind`` (see :data:`CALL_FAILURES`), a one-line ``detail``, and
    whether a retry could help (``transient``: timeouts, refused or reset connections,
    HTTP 5xx)."""

    def __init__(self, kind: str, detail: str, *, transient: bool = False):
        super().__init__(detail)
        self.kind = kind
        self.detail = detail
        self.transient = transient


class BreakerOpen(CallFailed):
    """The circuit breaker is open: no call was made."""

    def __init__(self, detail: str):
        super().__init__("breaker_open", detail)


@dataclass
class FailSafe:
    """The retry budget and the circuit breaker of one run, shared by all its callers.

    Parameters
    ----------
    retry_budget : extra attempts allowed in total, over all calls of the run
    breaker_threshold : consecutive failures after which the breaker opens
    """

    retry_budget: int = 20
    breaker_threshold: int = 5
    retries_used: int = 0
    consecutive_failures: int = 0
    breaker_open: bool = False

    def success(self) -> None:
        self.consecutive_failures = 0

    def failure(self, retryable: bool = True) -> bool:
        """Count a failure; True if the caller may retry (one retry is then spent)."""
        self.consecutive_failures += 1
        if self.consecutive_failures >= self.breaker_threshold:
            self.breaker_open = True
        if retryable and not self.breaker_open and self.retries_used < self.retry_budget:
            self.retries_used += 1
            return True
        return False


class _RefuseRedirects(urllib.request.HTTPRedirectHandler):
    """Replaces urllib's redirect handler: a 3xx then surfaces as an ``HTTPError``."""

    def redirect_request(self, req, fp, code, msg, headers, newurl):
        return None


class _Watchdog:
    """Shuts the call's socket down at the deadline, whatever phase the call is in."""

    def __init__(self, timeout_s: float):
        self.lock = threading.Lock()
        self.sock: socket.socket | None = None
        self.fired = False
        self.done = False
        self.timer = threading.Timer(timeout_s, self._fire)
        self.timer.daemon = True

    def watch(self, sock: socket.socket) -> None:
        with self.lock:
            self.sock = sock
            if self.fired:
                self._shutdown()

    def _fire(self) -> None:
        with self.lock:
            if self.done:
                return
            self.fired = True
            self._shutdown()

    def _shutdown(self) -> None:
        if self.sock is not None:
            try:
                self.sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    def stop(self) -> None:
        with self.lock:
            self.done = True
        self.timer.cancel()


def _watched(cls, watchdog: _Watchdog):
    class Connection(cls):
        def connect(self):
            super().connect()
            watchdog.watch(self.sock)

    return Connection


class _HTTPHandler(urllib.request.HTTPHandler):
    def __init__(self, watchdog: _Watchdog):
        super().__init__()
        self.watchdog = watchdog

    def http_open(self, req):
        return self.do_open(_watched(http.client.HTTPConnection, self.watchdog), req)


class _HTTPSHandler(urllib.request.HTTPSHandler):
    def __init__(self, watchdog: _Watchdog):
        super().__init__()
        self.watchdog = watchdog

    def https_open(self, req):
        return self.do_open(
            _watched(http.client.HTTPSConnection, self.watchdog), req, context=self._context
        )


def _read_capped(resp, max_bytes: int, deadline: float, timeout_s: float) -> bytes:
    length = resp.headers.get("Content-Length")
    if length is not None and length.strip().isdigit() and int(length) > max_bytes:
        raise CallFailed("too_large", f"reply of {int(length)} bytes exceeds {max_bytes} bytes")
    parts, size = [], 0
    while True:
        chunk = resp.read(min(_CHUNK, max_bytes + 1 - size))
        if not chunk:
            break
        parts.append(chunk)
        size += len(chunk)
        if size > max_bytes:
            raise CallFailed("too_large", f"reply exceeds {max_bytes} bytes")
        if time.monotonic() > deadline:
            raise CallFailed("timeout", f"no complete reply within {timeout_s:g} s", transient=True)
    return b"".join(parts)


def post_json(
    url: str,
    body,
    *,
    timeout_s: float,
    headers: dict | None = None,
    max_bytes: int = MAX_REPLY_BYTES,
):
    """One POST of ``body`` as JSON; the decoded JSON reply, or :class:`CallFailed`.

    The call ends by ``timeout_s`` after it starts (plus the scheduling of one thread),
    reads at most ``max_bytes`` of reply, follows no redirect.
    """
    data = json.dumps(body).encode()
    req = urllib.request.Request(
        url,
        data=data,
        headers={"Content-Type": "application/json", **(headers or {})},
        method="POST",
    )
    deadline = time.monotonic() + timeout_s
    watchdog = _Watchdog(timeout_s)
    opener = urllib.request.build_opener(
        _RefuseRedirects, _HTTPHandler(watchdog), _HTTPSHandler(watchdog)
    )
    watchdog.timer.start()
    try:
        with opener.open(req, timeout=timeout_s) as resp:
            raw = _read_capped(resp, max_bytes, deadline, timeout_s)
    except CallFailed:
        raise
    except urllib.error.HTTPError as exc:
        exc.close()
        if 300 <= exc.code < 400:
            where = exc.headers.get("Location", "(no Location)") if exc.headers else "?"
            raise CallFailed(
                "redirect", f"HTTP {exc.code} from {url} redirects to {where}; not followed"
            ) from None
        raise CallFailed(
            "http_error", f"HTTP {exc.code} from {url}", transient=exc.code >= 500
        ) from None
    except Exception as exc:  # noqa: BLE001 - every transport or protocol error is a failure
        if watchdog.fired or time.monotonic() > deadline or _is_timeout(exc):
            raise CallFailed(
                "timeout", f"no reply within {timeout_s:g} s", transient=True
            ) from None
        reason = exc.reason if isinstance(exc, urllib.error.URLError) else exc
        kind = "malformed" if isinstance(exc, http.client.HTTPException) else "connection"
        detail = " ".join(f"{url}: {type(reason).__name__}: {reason}".split())[:300]
        raise CallFailed(kind, detail, transient=kind == "connection") from None
    finally:
        watchdog.stop()
    try:
        return json.loads(raw)
    except (ValueError, RecursionError):  # bad JSON or UTF-8, huge integers, deep nesting
        raise CallFailed("malformed", f"reply from {url} is not JSON") from None


def _is_timeout(exc: BaseException) -> bool:
    if isinstance(exc, urllib.error.URLError):
        exc = exc.reason
    return isinstance(exc, TimeoutError | socket.timeout)


class JSONClient:
    """POSTs JSON to one URL with a whole-call deadline, retries and a circuit breaker.

    Parameters
    ----------
    url : the endpoint (http or https)
    timeout_s : deadline of each call (each attempt), seconds
    failsafe : the retry budget and breaker, shared by the clients of one run
    headers : extra request headers (an ``Authorization`` header goes to ``url`` only)
    retry_on : which failures may be retried (default: the transient ones)
    max_bytes : the reply-size cap
    """

    def __init__(
        self,
        url: str,
        *,
        timeout_s: float,
        failsafe: FailSafe | None = None,
        headers: dict | None = None,
        retry_on: Callable[[CallFailed], bool] | None = None,
        max_bytes: int = MAX_REPLY_BYTES,
    ):
        self.url = url
        self.timeout_s = float(timeout_s)
        self.failsafe = failsafe if failsafe is not None else FailSafe()
        self.headers = dict(headers or {})
        self.retry_on = retry_on or (lambda f: f.transient)
        self.max_bytes = int(max_bytes)
        self.calls = 0

    def attempt(self, body):
        """One call, no retry, the breaker untouched: the JSON reply or :class:`CallFailed`."""
        self.calls += 1
        return post_json(
            self.url, body, timeout_s=self.timeout_s, headers=self.headers, max_bytes=self.max_bytes
        )

    def post(self, body, accept: Callable | None = None):
        """``accept(reply)`` (the reply itself by default), retried while the budget lasts.

        ``accept`` may raise :class:`CallFailed` to reject a reply; that counts as a failed
        attempt. Raises :class:`BreakerOpen` when the breaker is open, otherwise the last
        :class:`CallFailed` when no retry is left.
        """
        fs = self.failsafe
        while True:
            self.check_breaker()
            try:
                reply = self.attempt(body)
                value = reply if accept is None else accept(reply)
            except CallFailed as f:
                if fs.failure(self.retry_on(f)):
                    continue
                raise
            fs.success()
            return value

    def check_breaker(self) -> None:
        """Raise :class:`BreakerOpen` if the breaker is open."""
        fs = self.failsafe
        if fs.breaker_open:
            raise BreakerOpen(
                f"circuit breaker open after {fs.breaker_threshold} consecutive failures "
                f"of {self.url}"
            )


__all__ = [
    "CALL_FAILURES",
    "MAX_REPLY_BYTES",
    "BreakerOpen",
    "CallFailed",
    "FailSafe",
    "JSONClient",
    "post_json",
]
