"""Run all benchmarks (or those named on the command line) and write results.json."""

from __future__ import annotations

import json
import os
import platform
import sys
import time
from importlib import import_module
from pathlib import Path

from marketsim.io import run_metadata, write_json_atomic

HERE = Path(__file__).resolve().parent
RESULTS = HERE / "results.json"


def main(argv: list[str]) -> int:
    names = sorted(p.stem for p in HERE.glob("bench_*.py"))
    if argv:
        unknown = [a for a in argv if a not in names]
        if unknown:
            print(f"error: unknown benchmark(s) {unknown}; known: {names}", file=sys.stderr)
            return 2
        names = argv
    # this run's figures; the file's other entries are kept
    mine: dict = {
        "machine": {"cpus": os.cpu_count(), "platform": platform.platform(), **run_metadata()}
    }
    for name in names:
        print(f"== {name}", flush=True)
        t0 = time.perf_counter()
        figures = import_module(f"benchmarks.{name}").run()
        figures["bench_wall_seconds"] = round(time.perf_counter() - t0, 3)
        # the top-level "machine" is the last run's; each benchmark keeps its own
        figures["machine"] = mine["machine"]
        mine[name] = figures
        for k, v in figures.items():
            print(f"  {k}: {v}")
        # read the file just before writing: a benchmark run at the same time (make
        # validate beside make bench) may have written its figures meanwhile
        results = json.loads(RESULTS.read_text()) if RESULTS.exists() else {}
        write_json_atomic({**results, **mine}, RESULTS)  # nothing finished is lost
    print(f"figures written to {RESULTS}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
