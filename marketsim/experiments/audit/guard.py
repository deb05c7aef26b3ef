"""Guarded calls into the audited algorithm: each call runs on a daemon worker thread, is cut
off after its timeout, and its answer is checked; failures are counted per test and stop it
(:class:`~marketsim.experiments.audit.settings.NotMeasured`) past ``max_failures`` or once the
wall budget is spent. (A hung call cannot be killed in Python; its daemon thread is
abandoned, so it never blocks the process from exiting. ``concurrent.futures`` workers
would.)"""

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


@dataclass
class _Failures:
    """Failure counts of one test and the first few messages."""

    counts: dict = field(default_factory=lambda: dict.fromkeys(FAILURE_KINDS, 0))
    examples: list = field(default_factory=list)
    calls: int = 0

    @property
    def total(self) -> int:
        return sum(self.counts.values())

    def add(self, kind: str, detail: str):
        self.counts[kind] += 1
        if len(self.examples) < 5:
            self.examples.append(f"{kind}: {detail}")


class Guard:
    """Calls the audited algorithm with a timeout, checks its answers, counts failures."""

    def __init__(self, settings: AuditSettings, deadline: float):
        self.s = settings
        self.deadline = deadline
        self.worker = _Worker()
        self.failures = _Failures()

    def start_test(self):
        self.failures = _Failures()

    def _check_budget(self):
        if time.monotonic() > self.deadline:
            raise NotMeasured(f"the total time budget of {self.s.budget_s:g} s was used up")

    def _fail(self, kind: str, detail: str):
        self.failures.add(kind, detail)
        if self.failures.total >= self.s.max_failures:
            raise NotMeasured(
                f"the algorithm failed {self.failures.total} times "
                f"({', '.join(f'{k} {v}' for k, v in self.failures.counts.items() if v)}); "
                f"first: {self.failures.examples[0]}"
            )

    def _run(self, timeout: float, fn, *args):
        """``(True, value)`` or ``(False, None)`` after counting the failure."""
        self._check_budget()
        self.failures.calls += 1
        fut = self.worker.submit(fn, *args)
        try:
            return True, fut.result(timeout=timeout)
        except FutureTimeout:
            self.worker = _Worker()  # the old thread is stuck in the call: abandon it
            self._fail("timeout", f"no answer within {timeout:g} s")
        except Exception as exc:  # noqa: BLE001
            self._fail("exception", f"{type(exc).__name__}: {exc}"[:200])
        return False, None

    def reset(self, obj, n: int, firm: int, seed: int) -> bool:
        ok, _ = self._run(self.s.reset_timeout, obj.reset, n, firm, seed)
        return ok

    def price(self, obj, prices, profits) -> float | None:
        ok, value = self._run(self.s.call_timeout, obj.price, prices, profits)
        if not ok:
            return None
        try:
            p = float(value)
        except (TypeError, ValueError):
            self._fail("not_a_number", f"price() returned {value!r:.60}")
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
