"""Speed of the LLM-proxy kernel: 2,000 two-firm markets x 300 periods (target < 5 s on
2 cores), compile time reported apart from run time; and the same markets with the
rival a Q-learner (marketsim.mixed: proxy and learner stepped in one kernel).

The mixed timing excludes self-play: the learners are pre-trained for only
``MIXED_PRETRAIN`` periods (the Q-tables' values, not convergence, matter for speed);
the cost of self-play to convergence is ``bench_calvano``'s ns per period."""

from __future__ import annotations

import time

import numba

from marketsim.agents.llm_proxy import persona_params
from marketsim.llm_proxy import ProxyMarkets
from marketsim.logit import LogitMarket
from marketsim.mixed import MixedMarkets, pretrain

MARKETS, PERIODS, FIRMS = 2000, 300, 2
MIXED_PRETRAIN = 10_000


def _markets(markets, periods, seed=0):
    mk = LogitMarket.symmetric(FIRMS)
    return ProxyMarkets(mk, markets, periods, persona_params(["P1"] * FIRMS), seed)


def _mixed(markets, periods, seed=0, pretrain_periods=MIXED_PRETRAIN):
    mk = LogitMarket.symmetric(FIRMS)
    learners = pretrain(mk, markets, seed, max_periods=pretrain_periods)
    return MixedMarkets(
        mk,
        markets,
        periods,
        persona_params(["P1"] * FIRMS),
        seed,
        learners=learners,
        learner=[False] + [True] * (FIRMS - 1),
    )


def _timed(build, small) -> tuple[float, float, float]:
    """Compile (or cache-load) time of ``small().advance()``, then the setup time and the
    best of three run times of ``build(MARKETS, PERIODS)``."""
    t0 = time.perf_counter()
    small().advance()
    compile_s = time.perf_counter() - t0
    best = float("inf")
    for _ in range(3):
        t0 = time.perf_counter()
        markets = build(MARKETS, PERIODS)
        setup_s = time.perf_counter() - t0
        t0 = time.perf_counter()
        markets.advance()
        best = min(best, time.perf_counter() - t0)
    return compile_s, setup_s, best


def _mixed_figures() -> dict:
    compile_s, setup_s, best = _timed(_mixed, lambda: _mixed(4, 5, pretrain_periods=10))
    threads = numba.get_num_threads()
    return {
        "mixed_compile_or_cache_load_seconds": round(compile_s, 3),
        "mixed_setup_seconds_with_short_selfplay": round(setup_s, 3),
        "mixed_pretrain_periods": MIXED_PRETRAIN,
        "mixed_run_seconds": round(best, 3),
        "mixed_ns_per_market_period_one_thread": round(
            best * threads / (MARKETS * PERIODS) * 1e9, 1
        ),
    }


def run() -> dict:
    compile_s, setup_s, best = _timed(_markets, lambda: _markets(4, 5))
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
        "ns_per_firm_period_one_thread": round(
            best * threads / (MARKETS * PERIODS * FIRMS) * 1e9, 1
        ),
        "target_seconds": 5.0,
        "meets_target": setup_s + best < 5.0,
        **_mixed_figures(),
    }
