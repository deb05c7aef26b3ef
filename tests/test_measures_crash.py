"""The crash measures of :mod:`marketsim.measures` on hand-made price paths whose answers
are known by construction (one sample per second unless times are given)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from marketsim.measures import (
    depth_ratio,
    fall_from_reference,
    recovered_share,
    rise_above_reference,
    share_regained,
    window_drawdown,
)
from marketsim.scenarios._orderbook_market import crash_measures


def _v_path():
    """100 flat until s=100; a spike to 104 at s=50 (before the reference); linear fall to
    95 at s=400; linear climb back to 99 at s=1300; then 101 from s=1301 to s=5000."""
    p = np.full(5001, 100.0)
    p[50] = 104.0
    p[100:401] = np.linspace(100.0, 95.0, 301)
    p[400:1301] = np.linspace(95.0, 99.0, 901)
    p[1301:] = 101.0
    return p


def test_fall_is_measured_from_the_reference_not_from_an_earlier_peak():
    p = _v_path()
    low = fall_from_reference(p, 100, 3600)
    assert low["low_index"] == 400
    assert low["low_after_reference_s"] == 300.0
    assert low["max_drawdown"] == pytest.approx(0.05)
    # the window drawdown would have started at the spike of 104
    assert window_drawdown(p, 900)["max_drawdown"] == pytest.approx(1 - 95 / 104)


def test_low_is_sought_only_within_the_horizon():
    p = _v_path()
    p[4000] = 90.0  # a later, deeper low outside a one-hour horizon
    assert fall_from_reference(p, 100, 3600)["low_index"] == 400
    assert fall_from_reference(p, 100, 4000)["low_index"] == 4000


def test_no_fall_gives_zero():
    p = np.linspace(100.0, 110.0, 50)
    low = fall_from_reference(p, 10, 100)
    assert low["max_drawdown"] == 0.0 and low["low_index"] == 10
    assert recovered_share(p, 10, 10, 100) == 0.0
    assert math.isnan(share_regained(p, 10, 10, 5))


def test_share_regained_at_fixed_times_after_the_low():
    p = _v_path()
    # 900 s after the low (s=1300) the path is at 99: 4 of the 5 points regained
    assert share_regained(p, 100, 400, 900) == pytest.approx(0.8)
    # 1800 s after the low it is at 101: 6/5 of the fall (an overshoot above 1)
    assert share_regained(p, 100, 400, 1800) == pytest.approx(1.2)
    # halfway up the climb: 450 s after the low, 2 of 5 points
    assert share_regained(p, 100, 400, 450) == pytest.approx(0.4)
    # the series ends before the time asked for
    assert math.isnan(share_regained(p, 100, 400, 10_000))


def test_share_regained_reads_the_last_sample_at_or_before_the_time():
    t = np.array([0.0, 10.0, 20.0, 40.0])
    p = np.array([100.0, 90.0, 95.0, 100.0])
    # 25 s after the low (t=35) the last sample is t=20: half regained
    assert share_regained(p, 0, 1, 25, times=t) == pytest.approx(0.5)


def test_recovered_share_takes_the_best_price_and_caps_at_one():
    p = _v_path()
    assert recovered_share(p, 100, 400, 450) == pytest.approx(0.4)
    assert recovered_share(p, 100, 400, 1800) == 1.0
    q = p.copy()
    q[700] = 94.0  # a further fall after the low is not a recovery
    assert recovered_share(q, 100, 400, 100) == pytest.approx(
        (np.linspace(95.0, 99.0, 901)[100] - 95.0) / 5.0
    )


def test_rise_above_reference_within_an_hour_of_the_low():
    p = _v_path()
    assert rise_above_reference(p, 100, 400, 3600) == pytest.approx(0.01)
    # within 900 s the path never gets back above 100
    assert rise_above_reference(p, 100, 400, 900) == 0.0
    q = p.copy()
    q[4100] = 106.0  # a spike 3,700 s after the low: outside the hour
    assert rise_above_reference(q, 100, 400, 3600) == pytest.approx(0.01)


def test_depth_ratio():
    d = np.array([10.0, 30.0, 20.0, 1.0, 5.0])
    assert depth_ratio(d, 3, 3) == pytest.approx(1.0 / 20.0)
    assert math.isnan(depth_ratio(np.zeros(4), 3, 2))


def test_crash_measures_on_a_two_step_fall():
    # 100 until s=600; 3% in 240 s; flat 120 s; a further 2% in 15 s (the low at s=975);
    # recovery to 99 by s=1875; flat after
    p = np.full(4000, 100.0)
    p[600:841] = np.linspace(100.0, 97.0, 241)
    p[841:961] = 97.0
    p[960:976] = np.linspace(97.0, 95.0, 16)
    p[975:1876] = np.linspace(95.0, 99.0, 901)
    p[1876:] = 99.0
    depth = np.full(4000, 200.0)
    depth[975] = 1.0
    m = crash_measures(p, depth, 600, low_window_s=3600, recovery_window_s=1800)
    assert m["max_drawdown"] == pytest.approx(0.05)
    assert m["low_after_start_s"] == 375 and m["trough_s"] == 975 and m["peak_s"] == 600
    # the steepest 300 s: from s=675 (100 - 3 x 75/240) to the low at s=975
    assert m["steepest_5min_fall"] == pytest.approx(1 - 95.0 / (100.0 - 3.0 * 75 / 240))
    assert m["recovery_15min"] == pytest.approx(0.8)
    assert m["recovery_30min"] == pytest.approx(0.8)
    assert m["recovery_share"] == pytest.approx(0.8)
    assert m["rise_above_start_1h"] == 0.0
    assert m["depth_at_low_ratio"] == pytest.approx(1.0 / 200.0)
