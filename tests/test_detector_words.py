"""Each detector's verdict says in plain words what was measured, with its unit, and what
the result means; the statistic's technical name comes after, in brackets. The JSON keys
are unchanged (other tests read them)."""

from __future__ import annotations

import numpy as np
import polars as pl

from marketsim.analysis.collusion_screens import margin_screen, variance_screen
from marketsim.analysis.crashes import detect_crashes, duration_text
from marketsim.analysis.feedback import FEEDBACK_TESTS, feedback_verdict, variance_ratio
from marketsim.analysis.flow_toxicity import vpin
from marketsim.analysis.hawkes import hawkes_fit
from marketsim.analysis.order_flow import sign_autocorrelation


def _walk(seed: int, n: int = 2000, phi: float = 0.0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    e = rng.standard_normal(n) * 0.001
    r = np.empty(n)
    r[0] = e[0]
    for i in range(1, n):
        r[i] = phi * r[i - 1] + e[i]
    return 100 * np.exp(np.cumsum(r))


def test_variance_ratio_says_what_moved_over_which_steps():
    calm = variance_ratio(_walk(1), step="second")["verdict"]
    assert calm.startswith("prices move like a random walk, no sign of positive feedback")
    assert "changes over 2 to 16 seconds vary" in calm and "1 = random walk" in calm
    trend = variance_ratio(_walk(2, phi=0.3), step="trade")
    assert trend["flagged"] and trend["verdict"].startswith("prices trend (momentum")
    assert "trades vary" in trend["verdict"] and "independent one-trade changes" in trend["verdict"]
    assert set(trend) >= {"q", "vr", "z", "p_value", "p_value_min_bonferroni", "flagged"}


def test_order_flow_signs_say_who_initiated_trades():
    runs = np.repeat(np.tile([1.0, -1.0], 100), 5)  # runs of 5 buys, 5 sells: acf(1) 0.6
    res = sign_autocorrelation(runs)
    assert res["flagged"] and res["verdict"].startswith("order flow persists: a buyer-initiated")
    assert "correlation of one trade's side with the next +0.60" in res["verdict"]
    rng = np.random.default_rng(3)
    calm = sign_autocorrelation(rng.choice([-1.0, 1.0], 2000))["verdict"]
    assert calm.startswith("the sides of successive trades look independent")
    assert "acf(1)" not in calm


def test_hawkes_says_how_many_trades_each_trade_triggers():
    rng = np.random.default_rng(5)
    arrivals = np.cumsum(rng.exponential(1.0, 3000))  # Poisson: nothing triggers anything
    res = hawkes_fit(arrivals)
    assert res["verdict"].startswith("no runaway self-excitation: each trade triggers n = ")
    assert "further trades on average (Hawkes branching ratio over 3,000 trades" in res["verdict"]
    assert "branching_ratio" in res and "p_value" in res


def test_vpin_says_imbalance_in_contracts_and_its_scale():
    rng = np.random.default_rng(11)
    t = np.sort(rng.uniform(0, 3600, 5000))
    p = _walk(11, 5000)
    res = vpin(t, p, rng.integers(1, 10, 5000).astype(float))
    assert "imbalance between buyers and sellers (VPIN; 50 buckets of " in res["verdict"]
    assert "contracts) peaks at" in res["verdict"]
    assert "(0 = balanced, 1 = all one side; flagged from 0.50)" in res["verdict"]


def test_crash_verdict_states_the_fall_the_window_and_the_recovery_in_words():
    t = np.arange(3600.0)
    price = np.full(t.size, 100.0)
    price[1000:1300] = np.linspace(100, 93, 300)
    price[1300:] = np.linspace(93, 99, 2300)
    res = detect_crashes(pl.DataFrame({"t": t, "price": price}), time_col="t", price_col="price")
    v = res["verdict"]
    assert v.startswith("1 crash(es): falls of at least 5% of the price within 15 min (900 s)")
    assert "deepest 7.0%" in v and "regained within 30 min (1800 s)" in v
    assert duration_text(90) == "90 s" and duration_text(900) == "15 min (900 s)"


def test_collusion_screens_speak_in_percent_of_price():
    rng = np.random.default_rng(2)
    wide = 1.2 + 0.001 * rng.standard_normal((200, 2))
    margin = margin_screen(wide, [1.0, 1.0])["verdict"]
    assert margin.startswith("prices average +20.0% relative to the competitive benchmark price")
    stable = variance_screen(wide)["verdict"]
    assert stable.startswith("prices vary over time by 0.08% of their mean")
    assert "below the screen's 1.00%: unusually stable prices" in stable


def test_feedback_verdict_names_what_each_flag_found():
    blocks = {
        "depth_drop": {"flagged": True},
        "variance_ratio": {"flagged": True},
        "vpin": {"flagged": False},
    }
    flagged, verdict = feedback_verdict(blocks)
    assert flagged
    assert verdict.startswith(
        "destabilising feedback, the market amplifying its own moves: liquidity withdrawn "
        "from the book, prices trending (variance ratio)"
    )
    assert "false alarm on at most 1 day in 20" in verdict
    assert set(FEEDBACK_TESTS) == {
        "hawkes",
        "sign_autocorrelation",
        "variance_ratio",
        "depth_drop",
        "vpin",
    }
