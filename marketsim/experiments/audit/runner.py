"""One audit from start to file: checks the algorithm's interface, runs the battery with an
optional progress bar, reaches the verdict and writes ``audit.json`` and ``audit.md``.

``audit.json`` is written before the first call into the algorithm and again after each
test, marked ``incomplete`` with an ``inconclusive`` verdict until the battery has
finished; so a process that ends inside the algorithm's code (``os._exit``, a crash of
native code) still leaves a file that says the audit did not finish, never an earlier
run's or none. A real interruption (Ctrl-C, SIGINT) stops the battery and writes the
same kind of file, with ``incomplete`` saying where it stopped."""

from __future__ import annotations

import time
from dataclasses import asdict
from pathlib import Path

from marketsim.experiments.audit.battery import Audit
from marketsim.experiments.audit.markdown import write_report
from marketsim.experiments.audit.settings import AuditSettings, NotMeasured
from marketsim.experiments.audit.verdict import verdict
from marketsim.io import run_metadata, write_json_atomic
from marketsim.logit import LogitMarket


def _interface(audit: Audit, factory) -> dict | None:
    """``None`` if one object made by ``factory()`` has ``reset`` and ``price``, else the
    ``interface`` test's record (the reason and the failures of the factory)."""
    guard = audit.guard
    guard.start_test()
    try:
        reason = guard.probe(factory)
    except NotMeasured as exc:
        reason = str(exc)
    if reason is None:
        return None
    return {
        "status": "not_measured",
        "reason": reason,
        "failures": dict(guard.failures.counts),
        "failure_examples": list(guard.failures.examples),
    }


def run_audit(
    factory,
    *,
    market: LogitMarket | None = None,
    settings: AuditSettings | None = None,
    out=None,
    algorithm: str = "",
    progress: bool = False,
) -> dict:
    """Run the battery on the algorithm made by ``factory()`` and write the results.

    Writes ``out/audit.json`` (always, even if every test failed; see the module
    docstring for the ``incomplete`` file) and ``out/audit.md`` when ``out`` is given.
    Returns the ``audit.json`` dict; it has the key ``incomplete`` (why) when a real
    interruption stopped the audit.
    """
    settings = settings or AuditSettings()
    market = market or LogitMarket.symmetric(2)
    t0 = time.monotonic()
    bar = None
    audit = Audit(factory, market, settings)
    b = audit.bench

    def result_of(tests: dict, incomplete: str | None = None) -> dict:
        v, why = verdict(tests, settings)
        if "interface" in tests:
            why = [tests["interface"]["reason"]]
        if incomplete is not None:
            v, why = "inconclusive", [incomplete]
        result = {
            "algorithm": algorithm,
            "verdict": v,
            "evidence": why,
            "measured": [k for k, t in tests.items() if t.get("status") == "measured"],
            "not_measured": {
                k: t.get("reason") for k, t in tests.items() if t.get("status") != "measured"
            },
            "tests": tests,
            "benchmarks": {
                "nash_price": b.nash_price,
                "monopoly_price": b.monopoly_price,
                "nash_profit": b.nash_profit,
                "monopoly_profit": b.monopoly_profit,
            },
            "market": {"a": market.a, "c": market.c, "a0": market.a0, "mu": market.mu},
            "settings": asdict(settings),
            "wall_seconds": time.monotonic() - t0,
            **run_metadata(),
        }
        if incomplete is not None:
            result["incomplete"] = incomplete
        return result

    def save(result: dict):
        if out is not None:
            write_json_atomic(result, Path(out) / "audit.json")
            write_report(result, Path(out) / "audit.md")

    def checkpoint(tests: dict, following: str | None):
        if following is not None:
            save(
                result_of(
                    tests,
                    f"the audit had not finished when this file was written (next: "
                    f"{following}); a finished audit replaces it",
                )
            )

    if progress:
        from marketsim.progress import make_progress

        bar = make_progress(transient=True)
        task = bar.add_task("audit", total=audit.session_runs())
        bar.start()

        def tick():
            bar.advance(task)

        audit.progress = tick
    tests = audit.results
    try:
        checkpoint(tests, "the interface check")
        # one object must exist with the interface before anything else
        failed = _interface(audit, factory)
        if failed is not None:
            tests["interface"] = failed
        else:
            checkpoint(tests, settings.tests[0] if settings.tests else None)
            audit.run(checkpoint)
    except KeyboardInterrupt:
        audit.interrupted = audit.interrupted or audit.current
    finally:
        if bar is not None:
            bar.stop()
    incomplete = None
    if audit.interrupted:
        incomplete = (
            f"the audit was interrupted (Ctrl-C or SIGINT) during {audit.interrupted}; "
            "the tests finished before it are kept, no verdict is drawn"
        )
    result = result_of(tests, incomplete)
    save(result)
    return result
