"""Market-making kernel speed: market-maker periods per second on 1 and 2 threads.

A maker-period is one maker's quote, the client's trade and that maker's Q update in one
period (a period of the two-maker baseline is two maker-periods). Sessions run with
exploration that never decays (``beta = 0``) and no convergence stop, so every
measurement plays exactly the same number of periods; compile (or cache-load) time is
reported apart. Target (issue 19): at least 10 million maker-periods per second on 2
threads.
"""

from __future__ import annotations

import os
import time

import numba

from marketsim.mm_learning import MarketMakingSessions

#: periods per session per measurement and sessions per measurement
PERIODS, SESSIONS = 500_000, 8


def _rate(threads: int, **market) -> tuple[float, float]:
    """Maker-periods per wall second and per CPU second of this process (all threads):
    on a machine shared with other jobs the second shows what the kernel does when it
    has the cores; on an idle machine the two agree up to the threads' overlap."""
    numba.set_num_threads(threads)
    lr = MarketMakingSessions(sessions=SESSIONS, seed=1, beta=0.0, conv_window=10**12, **market)
    lr.advance(1000)  # first touch of the arrays
    t0, c0 = time.perf_counter(), time.process_time()
    played = lr.advance(PERIODS) * lr.n
    return played / (time.perf_counter() - t0), played / (time.process_time() - c0)


def run() -> dict:
    t0 = time.perf_counter()
    warm = MarketMakingSessions(sessions=1, beta=0.0)
    warm.advance(10)
    compile_s = time.perf_counter() - t0
    out: dict = {"compile_or_cache_load_seconds": round(compile_s, 3)}
    cases = {
        "baseline": {},
        "four_makers": {"n": 4},
        "time_priority_trade_state": {"tie": "time", "trade_state": True},
        "informed_learner": {"learner": "informed"},
    }
    for name, market in cases.items():
        for threads in (1, 2):
            wall, cpu = _rate(threads, **market)
            out[f"{name}_maker_periods_per_s_{threads}_threads"] = round(wall)
            out[f"{name}_maker_periods_per_cpu_s_{threads}_threads"] = round(cpu)
    out["load_average_1min"] = os.getloadavg()[0]
    out["target_maker_periods_per_s_2_threads"] = 10_000_000
    return out
