"""Guarded calls into the audited algorithm: each call (``factory()`` and the constructor,
``reset``, ``price``) runs on a daemon worker thread, is cut off after its timeout or when
the wall budget runs out, and its answer is read there too; failures are counted per test
and stop it (:class:`~marketsim.experiments.audit.settings.NotMeasured`) past
``max_failures`` or once the wall budget is spent.

Everything the algorithm's code can run (its methods, properties, the ``__float__`` of
its answer, the ``__str__`` of its exceptions) runs on the worker, and the worker hands
back only plain floats and strings, so any exception, ``SystemExit`` and
``KeyboardInterrupt`` included, is a counted failure. A signal (Ctrl-C) is delivered to
the main thread, never to the worker, so a ``KeyboardInterrupt`` raised while the main
thread waits is a real interruption of the audit and is let through. (A hung call cannot
be killed in Python; its daemon thread is abandoned, so it never blocks the process from
exiting. ``concurrent.futures`` workers would.)"""

from __future__ import annotations

import math
import queue
import threading
import time
from concurrent.futures import Future
from concurrent.futures import TimeoutError as FutureTimeout
from dataclasses import dataclass, field

from marketsim.experiments.audit.settings import FAILURE_KINDS, AuditSettings, NotMeasured


class _Worker:
    """One daemon thread running submitted calls in order."""

    def __init__(self):
        self.jobs: queue.SimpleQueue = queue.SimpleQueue()
        threading.Thread(target=self._loop, daemon=True, name="audit-worker").start()

    def _loop(self):
        while True:
            fut, fn, args = self.jobs.get()
            if not fut.set_running_or_notify_cancel():
                continue
            try:
                fut.set_result(fn(*args))
            except BaseException as exc:  # noqa: BLE001 - the algorithm may raise anything
                fut.set_exception(exc)

    def submit(self, fn, *args) -> Future:
        fut: Future = Future()
        self.jobs.put((fut, fn, args))
        return fut


def describe(exc: BaseException, contained: bool = True) -> str:
    """``Type: message`` of an exception raised by the algorithm, on one line (on the
    worker: the exception's ``__str__`` is the algorithm's code too); ``contained`` notes
    that a ``SystemExit`` or ``KeyboardInterrupt`` was caught, not obeyed."""
    try:
        message = str(exc).replace("\n", " ").strip()
        text = f"{type(exc).__name__}: {message}" if message else type(exc).__name__
        if contained and isinstance(exc, (SystemExit, KeyboardInterrupt)):
            text += " (raised by the algorithm; contained)"
    except BaseException:  # noqa: BLE001
        text = "an exception whose message cannot be read"
    return text[:200]


def _short(value) -> str:
    try:
        return repr(value)[:60]
    except BaseException:  # noqa: BLE001 - e.g. a 5,000-digit int, a hostile __repr__
        return f"a {type(value).__name__} that cannot be shown"


def _as_price(value):
    """``(None, float)`` or ``(kind, detail)``: the answer of ``price()`` as a plain float."""
    try:
        return None, float(value)
    except OverflowError:
        size = f"an integer of {value.bit_length()} bits" if isinstance(value, int) else "a number"
        return "infinite", f"price() returned {size}, beyond the float range"
    except (TypeError, ValueError):
        return "not_a_number", f"price() returned {_short(value)}"


def _missing_methods(obj) -> list:
    return [m for m in ("reset", "price") if not callable(getattr(obj, m, None))]


def _contained(fn, read):
    """Run on the worker: ``(None, value)`` or ``(kind, detail)``; never raises."""
    try:
        value = fn()
    except BaseException as exc:  # noqa: BLE001 - SystemExit and KeyboardInterrupt too
        return "exception", describe(exc)
    if read is None:
        return None, value
    try:
        return read(value)
    except BaseException as exc:  # noqa: BLE001
        return "not_a_number", f"its answer cannot be read ({describe(exc)})"


@dataclass
class _Failures:
    """Failure counts of one test, the first few messages and the last."""

    counts: dict = field(default_factory=lambda: dict.fromkeys(FAILURE_KINDS, 0))
    examples: list = field(default_factory=list)
    calls: int = 0
    last: str = ""

    @property
    def total(self) -> int:
        return sum(self.counts.values())

    def add(self, kind: str, detail: str):
        self.counts[kind] += 1
        self.last = f"{kind}: {detail}"
        if len(self.examples) < 5:
            self.examples.append(self.last)


class Guard:
    """Calls the audited algorithm with a timeout, checks its answers, counts failures."""

    def __init__(self, settings: AuditSettings, deadline: float):
        self.s = settings
        self.deadline = deadline
        self.worker = _Worker()
        self.failures = _Failures()

    def start_test(self):
        self.failures = _Failures()

    def _budget_spent(self) -> NotMeasured:
        return NotMeasured(f"the total time budget of {self.s.budget_s:g} s was used up")

    def _check_budget(self):
        if time.monotonic() > self.deadline:
            raise self._budget_spent()

    def _fail(self, kind: str, detail: str):
        self.failures.add(kind, detail)
        if self.failures.total >= self.s.max_failures:
            raise NotMeasured(
                f"the algorithm failed {self.failures.total} times "
                f"({', '.join(f'{k} {v}' for k, v in self.failures.counts.items() if v)}); "
                f"first: {self.failures.examples[0]}"
            )

    def _run(self, timeout: float, what: str, fn, read=None, count=True):
        """``(True, value)`` or ``(False, None)`` after counting the failure.

        ``fn()`` runs on the worker, then ``read(value)`` there too. The wait ends at the
        call's timeout or at the budget's deadline, whichever comes first.
        """
        self._check_budget()
        if count:
            self.failures.calls += 1
        wait = min(timeout, max(0.0, self.deadline - time.monotonic()))
        fut = self.worker.submit(_contained, fn, read)
        try:
            # a stored exception is returned, not raised: only a real interruption of this
            # (main) thread propagates from here
            stray = fut.exception(timeout=wait)
        except FutureTimeout:
            self.worker = _Worker()  # the old thread is stuck in the call: abandon it
            if wait < timeout:
                raise self._budget_spent() from None
            self._fail("timeout", f"{what} gave no answer within {timeout:g} s")
            return False, None
        if stray is not None:  # raised on the worker outside _contained
            self._fail("exception", f"{what}: {type(stray).__name__}")
            return False, None
        kind, value = fut.result()
        if kind is None:
            return True, value
        self._fail(kind, value)
        return False, None

    def make(self, factory):
        """A new object from ``factory()`` (the constructor included), or ``None`` after
        counting the failure; under ``call_timeout`` and the budget like ``price()``."""
        ok, obj = self._run(self.s.call_timeout, "factory()", factory, count=False)
        return obj if ok else None

    def probe(self, factory) -> str | None:
        """``None`` if ``factory()`` makes an object with ``reset`` and ``price``, else
        why not (raises :class:`NotMeasured` when the budget is spent)."""
        ok, missing = self._run(
            self.s.call_timeout,
            "factory()",
            lambda: _missing_methods(factory()),
            count=False,
        )
        if not ok:
            return f"factory() failed: {self.failures.last}"
        if missing:
            return f"the object has no {' or '.join(missing)}()"
        return None

    def reset(self, obj, n: int, firm: int, seed: int) -> bool:
        ok, _ = self._run(self.s.reset_timeout, "reset()", lambda: obj.reset(n, firm, seed))
        return ok

    def price(self, obj, prices, profits) -> float | None:
        ok, p = self._run(
            self.s.call_timeout, "price()", lambda: obj.price(prices, profits), _as_price
        )
        if not ok:
            return None
        if math.isnan(p):
            self._fail("nan", "price() returned NaN")
        elif math.isinf(p):
            self._fail("infinite", f"price() returned {p}")
        elif p < 0:
            self._fail("negative", f"price() returned {p:g}")
        else:
            return p
        return None
