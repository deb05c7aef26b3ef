"""Crash detectors on price paths with planted (known) events."""

from __future__ import annotations

import numpy as np
import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from marketsim.analysis.crashes import (
    _forward_window_min,
    detect_crashes,
    drawdown_events,
    mini_flash_crashes,
)


def _walk(seed, n=7200, vol=1e-4):
    rng = np.random.default_rng(np.random.SeedSequence(seed))
    return np.arange(n, dtype=np.float64), np.cumsum(rng.normal(0, vol, n))


def _planted(seed):
    """A 1-second random walk with an 8% fall over 300 s at t = 3000, 80% recovered."""
    t, lp = _walk(seed)
    shape = np.zeros(t.size)
    shape[3000:3300] = np.linspace(0, np.log(0.92), 300)
    shape[3300:3900] = np.linspace(np.log(0.92), np.log(0.984), 600)
    shape[3900:] = np.log(0.984)
    return t, 100 * np.exp(lp + shape)


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_planted_crash_found_with_its_start_depth_and_recovery(seed):
    t, p = _planted(seed)
    # recovery measured over the planted 600 s rebound
    res = detect_crashes(pl.DataFrame({"t": t, "price": p}), recovery_window=600)
    dd = res["drawdowns"]
    assert dd.height == 1 and res["flagged"]
    ev = dd.row(0, named=True)
    assert abs(ev["start_t"] - 3000) <= 20  # knee resolution: 5% of the 300 s fall, + noise
    assert abs(ev["trough_t"] - 3300) <= 15
    assert ev["depth"] == pytest.approx(0.08, abs=0.008)
    # recovered 0.064 of the 0.08 log-fall: about 80%
    assert ev["recovered_share"] == pytest.approx(0.8, abs=0.08)
    assert ev["full_recovery_s"] is None
    assert 250 <= ev["half_recovery_s"] <= 450
    assert ev["speed_per_min"] == pytest.approx(0.08 / 5, rel=0.15)


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_random_walk_without_a_crash_gives_no_event(seed):
    t, lp = _walk(seed)
    res = detect_crashes(pl.DataFrame({"t": t, "price": 100 * np.exp(lp)}))
    assert res["drawdowns"].height == 0
    assert res["mini_flash_crashes"].height == 0
    assert not res["flagged"] and res["max_drawdown"] == 0.0
    assert res["verdict"].startswith("no crash")


def test_two_crashes_are_two_events_and_time_units_are_respected():
    t, p = _planted(4)
    p2 = np.concatenate([p, p[-1] / p[0] * p])
    t2 = np.arange(p2.size) * 1e9  # nanoseconds
    res = detect_crashes(pl.DataFrame({"t_ns": t2.astype(np.int64), "price": p2}), time_col="t_ns")
    starts = res["drawdowns"]["start_t"].to_numpy()
    assert starts.size == 2
    assert abs(starts[1] - starts[0] - 7200) <= 30


def _tape(seed, n=4000):
    rng = np.random.default_rng(np.random.SeedSequence(seed))
    t = np.cumsum(rng.exponential(0.5, n))
    p = 100 + np.cumsum(rng.choice([-0.01, 0.0, 0.01], n))
    return t, p


def _plant_run(t, p, at, ticks, step, spacing):
    """Replace ticks at..at+ticks with a run of equal moves, spaced ``spacing`` seconds."""
    t, p = t.copy(), p.copy()
    base_t, base_p = t[at - 1], p[at - 1]
    t[at : at + ticks] = base_t + spacing * np.arange(1, ticks + 1)
    p[at : at + ticks] = base_p + step * np.arange(1, ticks + 1)
    shift_t = t[at + ticks - 1] + 0.5 - t[at + ticks]
    t[at + ticks :] += shift_t
    p[at + ticks :] += p[at + ticks - 1] - p[at + ticks] + 0.01
    return t, p


def test_mini_flash_crash_of_johnson_et_al_is_found():
    t, p = _tape(5)
    t, p = _plant_run(t, p, 2000, 12, -0.1, 0.1)  # 12 down-ticks, 1.2% in 1.2 s
    fc = mini_flash_crashes(t, p)
    assert fc.height == 1
    row = fc.row(0, named=True)
    assert row["direction"] == "crash"
    assert row["ticks"] >= 12
    assert row["start_t"] <= t[1999] + 1e-9 and row["end_t"] >= t[2011] - 1e-9
    assert row["move"] < -0.012 + 1e-9


def test_spike_is_reported_as_a_spike():
    t, p = _tape(6)
    t, p = _plant_run(t, p, 1500, 11, +0.1, 0.12)
    fc = mini_flash_crashes(t, p)
    assert fc["direction"].to_list() == ["spike"]


@pytest.mark.parametrize(
    "ticks, step, spacing, why",
    [
        (12, -0.1, 0.3, "too slow: 12 ticks over 3.6 s"),
        (12, -0.05, 0.1, "too small: 0.6% < 0.8%"),
        (9, -0.2, 0.1, "too few ticks: 9 < 10"),
    ],
)
def test_runs_outside_the_definition_are_not_flagged(ticks, step, spacing, why):
    t, p = _tape(7)
    t, p = _plant_run(t, p, 2000, ticks, step, spacing)
    assert mini_flash_crashes(t, p).height == 0, why


def test_unchanged_prices_do_not_break_a_run():
    # zero moves are skipped: ten down-ticks with repeats in between still count
    t = np.arange(40) * 0.05
    p = np.repeat(100 - 0.1 * np.arange(20), 2)
    fc = mini_flash_crashes(t, p)
    assert fc.height == 1 and fc["ticks"][0] == 19


@settings(max_examples=60, deadline=None)
@given(st.lists(st.floats(1, 2, allow_nan=False), min_size=2, max_size=60), st.floats(0.5, 20))
def test_forward_window_min_equals_brute_force(prices, window):
    p = np.array(prices)
    t = np.cumsum(np.linspace(0.5, 3.0, p.size))
    arg = _forward_window_min(t, p, window)
    for i in range(p.size):
        inside = (t >= t[i]) & (t <= t[i] + window)
        assert p[arg[i]] == p[inside].min()


def test_every_listed_fall_is_at_least_the_drop_it_is_counted_under():
    # a slow 0.6% slide, then a fast 4.4% fall: 5% from the top, but the knee rule used to
    # start the event at the bottom of the slide and list a 4.4% fall as a 5% crash
    t = np.arange(0, 3000.0)
    p = np.full(t.size, 100.0)
    slide = (t >= 1000) & (t <= 1500)
    p[slide] = 100 - 0.6 * (t[slide] - 1000) / 500
    fall = (t > 1500) & (t <= 1600)
    p[fall] = 99.4 - 4.4 * (t[fall] - 1500) / 100
    p[t > 1600] = 95.0
    ev = drawdown_events(t, p, drop=0.05)
    assert ev.height == 1 and ev["depth"][0] >= 0.05 - 1e-12
    assert ev["start_t"][0] == 1000.0 and ev["trough_t"][0] == 1600.0
