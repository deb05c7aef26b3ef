"""Detector timings: Hawkes MLE on 20,000 arrivals (compile time reported apart)."""

from __future__ import annotations

import time

from marketsim.analysis.feedback import hawkes_fit, simulate_hawkes


def run() -> dict:
    t0 = time.perf_counter()
    times = simulate_hawkes(1.0, 0.7, 2.0, 6000.0, seed=0)
    hawkes_fit(times[:200])  # compiles (or loads the cached) kernels
    compile_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    reps = 5
    for _ in range(reps):
        fit = hawkes_fit(times)
    return {
        "hawkes_events": int(times.size),
        "hawkes_fit_seconds": round((time.perf_counter() - t0) / reps, 4),
        "hawkes_branching_ratio": round(fit["branching_ratio"], 4),
        "compile_and_first_call_seconds": round(compile_s, 3),
    }
