"""False alarms of the feedback flags on calm markets, and power on flash-crash days.

Each feedback test is run at the 5% level (Hawkes: one-sided test of n < 1; variance
ratio: Bonferroni over horizons; order signs: Ljung-Box with positive acf(1), one sign per
aggressive order; depth: one-minute mean depth against its trailing level, Bonferroni over
windows, at least halved). On calm ``market_calm`` sessions each flag must fire on at most
5% of seeds; on ``flash_crash_2010`` sessions the overall feedback verdict must flag.

Measured before these statistics (900 s sessions, seeds 0-29): hawkes 29/30,
sign_autocorrelation 30/30, depth_drop 27/30, variance_ratio 1/30, overall 30/30.
Thirty 600 s sessions took 46 s and 69 s in two measurements on two shared cores, so
the 30-seed version runs in ``make validate`` and a 5-seed version in the normal suite.
"""

from __future__ import annotations

import pytest

import marketsim as ms

FLAGS = ("hawkes", "variance_ratio", "sign_autocorrelation", "vpin", "depth_drop")


def _feedback(scenario: str, seeds, **params) -> list[dict]:
    return [ms.run(scenario, seed=s, **params).summary["detectors"]["feedback"] for s in seeds]


def _fires(blocks: list[dict]) -> dict[str, int]:
    return {f: sum(bool(b.get(f, {}).get("flagged")) for b in blocks) for f in FLAGS}


def _check_calm(blocks: list[dict], allowed: int) -> None:
    fires = _fires(blocks)
    assert all(f in b for b in blocks for f in FLAGS), "a test did not run"
    assert max(fires.values()) <= allowed, f"false alarms per flag: {fires}"
    assert sum(b["flagged"] for b in blocks) <= allowed, [b["verdict"] for b in blocks]
    # the verdict tells a reader what a flag is worth
    assert "false alarm on at most 1 day in 20" in blocks[0]["verdict"]


def test_calm_market_five_seeds_raise_no_feedback_alarm():
    # a flag of size 5% fires on none of five seeds with probability 0.77, on at most one
    # with probability 0.98: more than one is evidence the size is not what it says
    _check_calm(_feedback("market_calm", range(5), session_seconds=600), allowed=1)


@pytest.mark.validate
def test_calm_market_thirty_seeds_each_flag_at_most_five_percent():
    _check_calm(_feedback("market_calm", range(30), session_seconds=600), allowed=1)


def _check_crash(blocks: list[dict]) -> None:
    assert all(b["flagged"] for b in blocks), [b["verdict"] for b in blocks]
    fires = _fires(blocks)
    # the sell programme shows as momentum in the mid and as liquidity withdrawn
    assert fires["variance_ratio"] == fires["depth_drop"] == len(blocks), fires


# The flags' power is measured on version 7's market makers, who withdraw together (an
# abrupt loss of depth). Version 8's makers withdraw one by one: on seed 0 (20-minute
# session, programme from 300 s, a 4.3% fall) the depth is never halved within a minute
# and depth_drop stays silent, so only variance_ratio flags and the verdict does not
# (seed 1: 6.7%, flagged; seed 0 flagged by 1,800 s, through sign_autocorrelation and
# vpin, depth_drop still silent).
CRASH = {
    "session_seconds": 1200,
    "programme_start_s": 300,
    "mm_withdraw_impact_spread": 0.0,
    "mm_withdraw_impact": 0.007913,
    "mm_one_sided_share": 0.0,  # version 10's keep some offers; 7's withdraw both sides
    "momentum_threshold": 0.005,  # versions 7-10's chartists (version 11's act later)
}


def test_flash_crash_days_are_still_flagged():
    _check_crash(_feedback("flash_crash_2010", range(2), **CRASH))


@pytest.mark.validate
def test_flash_crash_days_are_still_flagged_ten_seeds():
    _check_crash(_feedback("flash_crash_2010", range(10), **CRASH))
