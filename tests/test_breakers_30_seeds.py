"""The stress test of issue #5 at full size: 30 seeds of ``flash_crash_2010`` (full
6.5-hour sessions) under no rule, LULD and the market-wide circuit breakers, same seeds
(common random numbers), through ``marketsim compare`` with two worker processes.

Measured at the revision that added this test (90 runs, about 2.5 minutes on two
cores): see docs/tutorials/circuit-breaker.md, "What the 30-seed run measured".
"""

import json

import pytest

from marketsim.cli import main

# 90 full sessions: about 2.5 minutes on two quiet cores, over 8 on a loaded CI machine,
# so it runs in make validate rather than make test.
pytestmark = pytest.mark.validate


@pytest.fixture(scope="module")
def thirty(tmp_path_factory):
    out = tmp_path_factory.mktemp("breakers30")
    args = ["compare", "flash_crash_2010", "--policy", "none", "--policy", "luld"]
    args += ["--policy", "mwcb", "--seeds", "30", "--workers", "2", "--quiet"]
    assert main([*args, "--out", str(out)]) == 0
    data = json.loads((out / "compare.json").read_text())
    rows = {(r["policy"], r["metric"]): r for r in data["rows"]}
    return rows, data["per_seed"]


def test_luld_lowers_the_mean_maximum_drawdown_with_a_ci_below_zero(thirty):
    rows, _ = thirty
    r = rows[("luld", "max_drawdown")]
    assert r["n_seeds"] == 30
    assert r["diff_hi"] < 0 and r["p_value"] < 0.05


def test_breakers_halt_every_crash_once_and_cost_volume(thirty):
    rows, per_seed = thirty
    halted = per_seed["mwcb"]["seconds_halted"]
    # the day is 4% down at the open: level 1 (7% from the previous close) fires in
    # every session, for 15 minutes (twice 15 when level 2 is reached too)
    assert all(h in (900.0, 1800.0) for h in halted)
    # the cost: fewer contracts traded, with an interval below zero
    assert rows[("mwcb", "volume")]["diff_hi"] < 0
    # the effect: a lower mean maximum drawdown. At 30 seeds its interval reaches zero
    # (measured -1.55 pp [-3.10, +0.10], p = 0.069); at 100 seeds it excludes zero
    # (-1.10 pp [-1.92, -0.23], p = 0.014), so only the sign is pinned here
    assert rows[("mwcb", "max_drawdown")]["diff"] < 0
    # LULD never pauses here: limit states end within 15 s (buyers lift the band)
    assert set(per_seed["luld"]["seconds_halted"]) == {0.0}
