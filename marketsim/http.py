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
  callers of one run: a failed call may be retried while the budget lasts; the breaker
  (:class:`CircuitBreaker`) has the semantics of resilience4j's CircuitBreaker: it
  opens when the failure rate or the slow-call rate over a count-based sliding window
  reaches its threshold, rejects calls at once while open, then lets a few trial calls
  through (half-open) and closes or reopens on their rates;
* **a credential only to the endpoint**: a client holding an ``Authorization`` header
  refuses a plain-http URL on a host other than the loopback (:func:`credential_refusal`).

The standard library only (urllib and http.client), so TLS certificate checks and
proxy settings are Python's defaults.
"""

from __future__ import annotations

import http.client
import ipaddress
import json
import socket
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field

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


CLOSED, OPEN, HALF_OPEN = "closed", "open", "half_open"

#: transitions listed one by one in :meth:`CircuitBreaker.stats` (later ones are counted only)
MAX_LISTED_TRANSITIONS = 100


@dataclass
class CircuitBreaker:
    """A circuit breaker with the semantics of resilience4j's ``CircuitBreaker``.

    CLOSED: every call is permitted and its outcome (failed or not, slow or not) enters a
    count-based sliding window of the last ``window`` calls. Once the window holds at
    least ``min_calls`` calls, the breaker opens when the failure rate is at least
    ``failure_rate`` or the slow-call rate (calls longer than ``slow_s``; a failed call
    can be slow too) is at least ``slow_rate``.
    OPEN: every call is rejected at once (counted in ``rejected``) for ``wait_s`` seconds;
    the first call asked for after that turns the breaker HALF_OPEN.
    HALF_OPEN: ``trial_calls`` calls are permitted, later ones rejected; when the trials
    are done the breaker reopens if their failure or slow-call rate reaches its threshold,
    and closes (with an empty window) otherwise.

    Parameters
    ----------
    window : calls in the sliding window (resilience4j ``slidingWindowSize``)
    min_calls : calls recorded before the rates are judged (``minimumNumberOfCalls``),
        at most ``window``
    failure_rate : failure rate in (0, 1] that opens the breaker (``failureRateThreshold``)
    slow_rate : slow-call rate in (0, 1] that opens it (``slowCallRateThreshold``)
    slow_s : a call longer than this is slow, seconds (``slowCallDurationThreshold``)
    wait_s : seconds open before trial calls (``waitDurationInOpenState``)
    trial_calls : calls permitted half-open (``permittedNumberOfCallsInHalfOpenState``)
    clock : monotonic seconds (tests pass their own)
    """

    window: int = 20
    min_calls: int = 10
    failure_rate: float = 0.5
    slow_rate: float = 1.0
    slow_s: float = 20.0
    wait_s: float = 60.0
    trial_calls: int = 3
    clock: Callable[[], float] = field(default=time.monotonic, repr=False)

    def __post_init__(self):
        if self.window < 1 or not 1 <= self.min_calls <= self.window:
            raise ValueError(
                f"breaker: need 1 <= min_calls ({self.min_calls}) <= window ({self.window})"
            )
        if not (0 < self.failure_rate <= 1 and 0 < self.slow_rate <= 1):
            raise ValueError("breaker: failure_rate and slow_rate must be in (0, 1]")
        if self.slow_s <= 0 or self.wait_s < 0 or self.trial_calls < 1:
            raise ValueError("breaker: need slow_s > 0, wait_s >= 0 and trial_calls >= 1")
        # the audit's guard may leave a timed-out call finishing in another thread
        self._lock = threading.RLock()
        self.state = CLOSED
        self._window: deque = deque(maxlen=self.window)  # (failed, slow) of recent calls
        self._trials: list = []
        self._trials_left = 0
        self._opened_at = 0.0
        self._last_open: tuple | None = None
        self.rejected = 0
        self.recorded = 0
        self.failed = 0
        self.slow = 0
        self.opened = 0
        self.transitions: list[dict] = []
        self.transition_counts: dict[str, int] = {}

    @property
    def is_open(self) -> bool:
        return self.state == OPEN

    def allow(self) -> bool:
        """Permission for one call (resilience4j ``tryAcquirePermission``); a refusal
        is counted in ``rejected``. Half-open, a permission uses up one trial call."""
        with self._lock:
            return self._allow()

    def _allow(self) -> bool:
        if self.state == OPEN:
            if self.clock() - self._opened_at < self.wait_s:
                self.rejected += 1
                return False
            self._to(HALF_OPEN, *_rates(self._window))
            self._trials, self._trials_left = [], self.trial_calls
        if self.state == HALF_OPEN:
            if self._trials_left <= 0:
                self.rejected += 1
                return False
            self._trials_left -= 1
        return True

    def record(self, failed: bool, duration_s: float) -> None:
        """The outcome of a permitted call."""
        with self._lock:
            self._record(failed, duration_s)

    def _record(self, failed: bool, duration_s: float) -> None:
        slow = duration_s > self.slow_s
        self.recorded += 1
        self.failed += bool(failed)
        self.slow += bool(slow)
        if self.state == OPEN:
            return  # a call permitted before the breaker opened: counted in the totals only
        # closed: judged over the sliding window; half-open: over the trial calls
        closed = self.state == CLOSED
        calls = self._window if closed else self._trials
        calls.append((bool(failed), slow))
        if len(calls) >= (self.min_calls if closed else self.trial_calls):
            fr, sr = _rates(calls)
            if fr >= self.failure_rate or sr >= self.slow_rate:
                self._open(fr, sr)
            elif not closed:
                self._to(CLOSED, fr, sr)
                self._window.clear()

    def stats(self) -> dict:
        """State, transitions, rejected calls and the failure and slow-call rates (over
        all recorded calls, and over the current window), for a run's summary."""
        fr, sr = _rates(self._window)
        return {
            "state": self.state,
            "opened": self.opened,
            "rejected": self.rejected,
            "calls_recorded": self.recorded,
            "failure_rate": self.failed / self.recorded if self.recorded else 0.0,
            "slow_rate": self.slow / self.recorded if self.recorded else 0.0,
            "window_failure_rate": fr,
            "window_slow_rate": sr,
            "transition_counts": dict(self.transition_counts),
            "transitions": list(self.transitions),
            "settings": {
                "window": self.window,
                "min_calls": self.min_calls,
                "failure_rate": self.failure_rate,
                "slow_rate": self.slow_rate,
                "slow_s": self.slow_s,
                "wait_s": self.wait_s,
                "trial_calls": self.trial_calls,
            },
        }

    def describe(self) -> str:
        """One phrase on why the breaker last opened."""
        if self._last_open is None:
            return f"circuit breaker {self.state}"
        fr, sr, n = self._last_open
        head = "opened" if self.state == OPEN else f"{self.state}, last opened"
        return (
            f"circuit breaker {head} at failure rate {fr:.0%}, slow-call "
            f"rate {sr:.0%} of {n} calls (thresholds "
            f"{self.failure_rate:.0%}, {self.slow_rate:.0%}; slow: over {self.slow_s:g} s)"
        )

    def _open(self, fr: float, sr: float) -> None:
        n = len(self._trials) if self.state == HALF_OPEN else len(self._window)
        self._last_open = (fr, sr, n)
        self._to(OPEN, fr, sr)
        self._opened_at = self.clock()
        self.opened += 1

    def _to(self, state: str, fr: float, sr: float) -> None:
        name = f"{self.state}->{state}"
        self.transition_counts[name] = self.transition_counts.get(name, 0) + 1
        if len(self.transitions) < MAX_LISTED_TRANSITIONS:
            of_calls = len(self._trials) if self.state == HALF_OPEN else len(self._window)
            self.transitions.append(
                {
                    "from": self.state,
                    "to": state,
                    "after_calls": self.recorded,
                    "of_calls": of_calls,
                    "failure_rate": fr,
                    "slow_rate": sr,
                }
            )
        self.state = state


def _rates(outcomes) -> tuple[float, float]:
    n = len(outcomes)
    if not n:
        return 0.0, 0.0
    return sum(f for f, _ in outcomes) / n, sum(s for _, s in outcomes) / n


class FailSafe:
    """The retry budget and the circuit breaker of one run, shared by all its callers.

    Parameters
    ----------
    retry_budget : extra attempts allowed in total, over all calls of the run
    breaker_threshold : for callers of the former consecutive-failure breaker: the
        breaker's ``min_calls`` (an endpoint failing every call still opens it after this
        many calls); ignored when ``breaker`` is given
    breaker : the :class:`CircuitBreaker` (default: its defaults)
    """

    def __init__(
        self,
        retry_budget: int = 20,
        breaker_threshold: int | None = None,
        *,
        breaker: CircuitBreaker | None = None,
    ):
        self.retry_budget = int(retry_budget)
        self.retries_used = 0
        if breaker is None:
            if breaker_threshold is None:
                breaker = CircuitBreaker()
            else:
                n = max(int(breaker_threshold), 1)
                breaker = CircuitBreaker(window=max(20, n), min_calls=n)
        self.breaker = breaker

    @property
    def breaker_open(self) -> bool:
        return self.breaker.is_open

    def allow(self) -> bool:
        """Permission from the breaker for one call."""
        return self.breaker.allow()

    def success(self, duration_s: float = 0.0) -> None:
        self.breaker.record(False, duration_s)

    def failure(self, retryable: bool = True, duration_s: float = 0.0) -> bool:
        """Count a failure; True if the caller may retry (one retry is then spent)."""
        self.breaker.record(True, duration_s)
        if retryable and not self.breaker.is_open and self.retries_used < self.retry_budget:
            self.retries_used += 1
            return True
        return False


def credential_refusal(url: str) -> str | None:
    """Why a credential must not be sent to ``url`` (plain http to a host other than the
    loopback), or None when it may."""
    parts = urllib.parse.urlsplit(url)
    if parts.scheme == "https":
        return None
    host = (parts.hostname or "").rstrip(".")
    if parts.scheme == "http" and is_loopback(host):
        return None
    return (
        f"{url} is plain http to {host or '(no host)'}, not a loopback host: the key would "
        "travel in clear text; use https (or 127.0.0.1/localhost for a local server)"
    )


def is_loopback(host: str) -> bool:
    """``localhost`` or a loopback IP address (127.0.0.0/8, ::1)."""
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
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
    headers : extra request headers; with an ``Authorization`` header the URL must be
        https or on the loopback (else ``ValueError``, see :func:`credential_refusal`)
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
        if any(k.lower() == "authorization" for k in self.headers):
            refusal = credential_refusal(url)
            if refusal is not None:
                raise ValueError(refusal)
        self.retry_on = retry_on or (lambda f: f.transient)
        self.max_bytes = int(max_bytes)
        self.calls = 0

    def attempt(self, body, timeout_s: float | None = None):
        """One call, no retry, the breaker untouched: the JSON reply or :class:`CallFailed`.
        ``timeout_s`` (at most the client's) shortens this call's deadline."""
        self.calls += 1
        deadline = self.timeout_s if timeout_s is None else min(self.timeout_s, timeout_s)
        return post_json(
            self.url, body, timeout_s=deadline, headers=self.headers, max_bytes=self.max_bytes
        )

    def post(self, body, accept: Callable | None = None):
        """``accept(reply)`` (the reply itself by default), retried while the budget lasts.

        ``accept`` may raise :class:`CallFailed` to reject a reply; that counts as a failed
        attempt. Raises :class:`BreakerOpen` when the breaker rejects the call, otherwise
        the last :class:`CallFailed` when no retry is left.
        """
        fs = self.failsafe
        while True:
            if not fs.allow():
                raise BreakerOpen(f"{fs.breaker.describe()}; no call made to {self.url}")
            t0 = time.monotonic()
            try:
                reply = self.attempt(body)
                value = reply if accept is None else accept(reply)
            except CallFailed as f:
                if fs.failure(self.retry_on(f), time.monotonic() - t0):
                    continue
                raise
            fs.success(time.monotonic() - t0)
            return value


__all__ = [
    "CALL_FAILURES",
    "MAX_REPLY_BYTES",
    "BreakerOpen",
    "CallFailed",
    "CircuitBreaker",
    "FailSafe",
    "JSONClient",
    "credential_refusal",
    "is_loopback",
    "post_json",
]
