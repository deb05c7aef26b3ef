"""Order-book speed: matching actions per second on one core, and full-session timing.

- ``match_actions_per_second``: :func:`marketsim.orderbook.process_actions_kernel` on a
  pre-generated stream of 2 million actions (limit orders around a drifting mid, 30%
  cancels, 10% market orders), compile time measured apart.
- ``session_*``: one full 6.5-hour ``market_calm`` session (1,076 traders), the
  default load, and a lighter load (background and intermediary wake-up rates at the
  level of ABIDES's RMSC04 configuration, ~90,000 exchange messages; the ten market
  makers still requote every second, about 1.1 million order actions in all), wall
  time including Python and Mesa.

Wall times depend on the machine's load, so the run records the one-minute load average
when it starts (``load_average_1min``; other processes share the cores).
"""

from __future__ import annotations

import os
import time

import numpy as np

from marketsim.orderbook import default_rules, new_book_arrays, process_actions_kernel
from marketsim.records import ACTION_DTYPE, BUY, CANCEL, FILL_DTYPE, LIMIT, MARKET, SELL


def _stream(n: int, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    a = np.zeros(n, dtype=ACTION_DTYPE)
    kind = rng.choice([LIMIT, CANCEL, MARKET], size=n, p=[0.6, 0.3, 0.1])
    side = rng.integers(0, 2, size=n)
    mid = 10_000 + np.cumsum(rng.normal(0, 0.2, size=n)).astype(np.int64)
    off = rng.geometric(0.2, size=n)
    a["t_ns"] = np.arange(n)
    a["kind"] = kind
    a["side"] = side
    a["price_tick"] = np.where(side == BUY, mid - off, mid + off)
    a["qty"] = rng.integers(1, 20, size=n)
    a["order_id"] = np.arange(n)
    # a cancel targets a recent order (often already filled: a no-op, as in real feeds)
    back = rng.integers(1, 200, size=n)
    a["order_id"] = np.where(kind == CANCEL, np.maximum(np.arange(n) - back, 0), a["order_id"])
    a["owner"] = rng.integers(0, 1000, size=n)
    assert SELL == 1
    return a


def _run(actions):
    book = new_book_arrays(0, 20_000, 1 << 20, actions.shape[0] + 1)
    fills = np.zeros(actions.shape[0] + (1 << 20), dtype=FILL_DTYPE)
    status = np.zeros(actions.shape[0], dtype=np.int64)
    t0 = time.perf_counter()
    code, _, n_fills = process_actions_kernel(actions, 0, book, default_rules(), fills, 0, status)
    return time.perf_counter() - t0, code, n_fills


def run() -> dict:
    load = round(os.getloadavg()[0], 2)
    small = _stream(1000, seed=1)
    t0 = time.perf_counter()
    _run(small)  # compile (or load from cache)
    compile_s = time.perf_counter() - t0
    actions = _stream(2_000_000)
    best = min(_run(actions)[0] for _ in range(3))
    _, code, n_fills = _run(actions)
    out = {
        "load_average_1min": load,
        "match_compile_or_cache_load_seconds": round(compile_s, 3),
        "match_actions": int(actions.shape[0]),
        "match_fills": int(n_fills),
        "match_seconds": round(best, 4),
        "match_actions_per_second": round(actions.shape[0] / best),
    }

    from marketsim.scenarios._orderbook_market import MarketSpec, simulate
    from marketsim.scenarios._spec import build_spec

    for label, sets in (
        ("session_default", []),
        (
            "session_rmsc04_load",
            [
                "noise_rate=0.0011",
                "mm_rate=0.02",
                "hft_rate=0.02",
                "fundamental_rate=0.001",
                "momentum_rate=0.001",
            ],
        ),
    ):
        spec = build_spec(MarketSpec, {}, sets)
        simulate(build_spec(MarketSpec, {}, sets + ["session_seconds=60"]), seed=0)  # warm
        t0 = time.perf_counter()
        model = simulate(spec, seed=1)
        wall = time.perf_counter() - t0
        out[f"{label}_agents"] = int(model.kind.shape[0])
        out[f"{label}_order_actions"] = model.order_actions
        out[f"{label}_wall_seconds"] = round(wall, 3)
        out[f"{label}_kernel_seconds"] = round(model.kernel_seconds, 3)
        out[f"{label}_actions_per_second"] = round(model.order_actions / model.kernel_seconds)
    return out
