"""Speed of the LLM-proxy kernel: 2,000 two-firm markets x 300 periods (target < 5 s on
2 cores), compile time reported apart from run time."""

from __future__ import annotations

import time

import numba

from agents.llm_proxy import persona_params
from marketsim.llm_proxy import ProxyMarkets
from marketsim.logit import LogitMarket

MARKETS, PERIODS, FIRMS = 2000, 300, 2


def _markets(markets, periods, seed=0):
    mk = LogitMarket.symmetric(FIRMS)
    return ProxyMarkets(mk, markets, periods, persona_params(["P1"] * FIRMS), seed)


def run() -> dict:
    t0 = time.perf_counter()
    _markets(4, 5).advance()  # compile (or load from the numba cache)
    compile_s = time.perf_counter() - t0
    best = float("inf")
    for _ in range(3):
        t0 = time.perf_counter()
        pm = _markets(MARKETS, PERIODS)
        setup_s = time.perf_counter() - t0
        t0 = time.perf_counter()
        pm.advance()
        best = min(best, time.perf_counter() - t0)
    threads = numba.get_num_threads()
    return {
        "markets": MARKETS,
        "periods": PERIODS,
        "firms": FIRMS,
        "threads": threads,
        "compile_or_cache_load_seconds": round(compile_s, 3),
        "setup_seconds": round(setup_s, 3),
        "run_seconds": round(best, 3),
        "setup_plus_run_seconds": round(setup_s + best, 3),
        "ns_per_firm_period_one_thread": round(best * threads / (MARKETS * PERIODS * FIRMS)
                                               * 1e9, 1),
        "target_seconds": 5.0,
        "meets_target": setup_s + best < 5.0,
    }
