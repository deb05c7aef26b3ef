"""One audit from start to file: checks the algorithm's interface, runs the battery with an
optional progress bar, reaches the verdict and writes ``audit.json`` and ``audit.md``."""

from __future__ import annotations

import time
from dataclasses import asdict
from pathlib import Path

from marketsim.experiments.audit.battery import Audit
from marketsim.experiments.audit.markdown import write_report
from marketsim.experiments.audit.settings import AuditSettings
from marketsim.experiments.audit.verdict import verdict
from marketsim.io import run_metadata, write_json_atomic
from marketsim.logit import LogitMarket


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

    Writes ``out/audit.json`` (always, even if every test failed) and ``out/audit.md``
    when ``out`` is given. Returns the ``audit.json`` dict.
    """
    settings = settings or AuditSettings()
    market = market or LogitMarket.symmetric(2)
    t0 = time.monotonic()
    bar = None
    tick = None
    audit = Audit(factory, market, settings)
    if progress:
        from marketsim.progress import make_progress

        bar = make_progress(transient=True)
        task = bar.add_task("audit", total=audit.session_runs())
        bar.start()

        def tick():
            bar.advance(task)

        audit.progress = tick
    # one object must exist with the interface before anything else
    try:
        probe = factory()
        missing = [m for m in ("reset", "price") if not callable(getattr(probe, m, None))]
    except Exception as exc:  # noqa: BLE001
        missing = None
        probe_error = f"{type(exc).__name__}: {exc}"
    try:
        if missing:
            tests = {
                "interface": {
                    "status": "not_measured",
                    "reason": f"the object has no {' or '.join(missing)}()",
                }
            }
        elif missing is None:
            tests = {
                "interface": {
                    "status": "not_measured",
                    "reason": f"the factory raised {probe_error}",
                }
            }
        else:
            tests = audit.run()
    finally:
        if bar is not None:
            bar.stop()
    v, why = verdict(tests, settings)
    if "interface" in tests:
        why = [tests["interface"]["reason"]]
    b = audit.bench
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
    if out is not None:
        out = Path(out)
        write_json_atomic(result, out / "audit.json")
        write_report(result, out / "audit.md")
    return result
