"""flash_crash_2010 version 11 (market makers that differ in their tolerance of toxic
flow, three of ten withdrawing only the side the flow hits, and the chartists' threshold,
calibrated together) against issue 16's acceptance, over seeds 1-30
(full sessions, aggressive seller, stop logic on): the programme done in 15-30 minutes, a
low 3-8% below the programme's start within 20 minutes, half the fall regained 15
minutes after the low (each in at least 80% of seeds), no rise of more than 2% above the
start in the hour after the low (90%), a median hot-potato ratio above 50; and the
stylised facts of the same market without the programme on seeds 1-3 (Cont 2001; the
bounds of tests/test_orderbook_market.py).

Measured at this version (docs/validation.md): the criteria the model does not meet are
strict xfails whose reasons carry the figures, so a change that meets one fails here and
the page must be updated. Nothing here compares policies.
"""

from __future__ import annotations

import numpy as np
import pytest

from marketsim.scenarios._orderbook_market import book_frame, session_summary, simulate
from marketsim.scenarios._spec import build_spec
from marketsim.scenarios.flash_crash_2010 import Spec
from marketsim.stylised import stylised_facts

# 33 full sessions: about 3 minutes on one core of a loaded machine (7 passed, 1 strict
# xfail); make validate
pytestmark = pytest.mark.validate

SEEDS = range(1, 31)


def _missed(why: str):
    return pytest.mark.xfail(strict=True, reason=f"not met by version 11: {why}")


@pytest.fixture(scope="module")
def thirty():
    spec = build_spec(Spec, {}, None)
    assert spec.version == 11 and spec.seller == "aggressive"
    out = []
    for seed in SEEDS:
        model = simulate(spec, seed=seed)
        out.append(session_summary(model, book_frame(model)))
    return out


def _share(summaries, inside) -> float:
    return float(np.mean([bool(inside(s)) for s in summaries]))


def test_every_seed_sells_the_whole_programme(thirty):
    for s in thirty:
        assert s["programme"]["sold"] == 75_000 and s["programme_duration_s"] is not None


def test_programme_done_in_15_to_30_minutes_in_80pct_of_seeds(thirty):
    # measured: 25 of 30, median 1,400 s, range 609-2,050 s (version 10: 23, a strict xfail)
    d = "programme_duration_s"
    assert _share(thirty, lambda s: s[d] is not None and 900 <= s[d] <= 1800) >= 0.8


@_missed(
    "20 of 30 seeds (fall 3-8% in 30, 3.5-7.9%, median 4.2%; low within 20 min in 20, "
    "median 1,028 s; version 10: 23)"
)
def test_low_3_to_8pct_below_the_start_within_20_minutes_in_80pct_of_seeds(thirty):
    def inside(s):
        return 0.03 <= s["max_drawdown"] <= 0.08 and s["low_after_start_s"] <= 1200

    assert _share(thirty, inside) >= 0.8


def test_half_the_fall_regained_15_minutes_after_the_low_in_80pct_of_seeds(thirty):
    # measured: 27 of 30, median 0.68 (version 10: 24; version 8: 22, a strict xfail)
    r = "recovery_15min"
    assert _share(thirty, lambda s: s[r] is not None and s[r] >= 0.5) >= 0.8


def test_no_rise_of_2pct_above_the_start_in_the_hour_after_the_low_in_90pct(thirty):
    # measured: 30 of 30, the largest rise 0.5% (version 10: 25, 8.1%, a strict xfail)
    r = "rise_above_start_1h"
    assert _share(thirty, lambda s: s[r] is not None and s[r] <= 0.02) >= 0.9


def test_median_hot_potato_ratio_above_50(thirty):
    # measured: median 1,279 (267 to 284,614: the HFTs' net change is near zero)
    assert np.median([s["hot_potato_ratio"] for s in thirty]) > 50


@pytest.fixture(scope="module")
def calm():
    """The stylised facts of version 11's market without the programme, seeds 1-3."""
    spec = build_spec(Spec, {"programme": False}, None)
    return [
        stylised_facts(book_frame(simulate(spec, seed=seed))["mid_tick"].to_numpy())
        for seed in (1, 2, 3)
    ]


def test_the_calm_market_keeps_heavy_tails_and_volatility_clustering(calm):
    # measured: Hill exponent 3.25, 3.49, 3.09; min acf of |r| (lags 1-50) 0.092-0.130
    # (versions 7 to 10: 3.04, 3.34, 3.19; 0.104-0.115)
    for st in calm:
        assert 2.5 < st["hill_exponent"] < 4.0
        assert st["min_acf_abs_returns"] > 0


def test_the_calm_market_keeps_no_return_autocorrelation(calm):
    # measured: largest |acf| of one-second returns 0.027, 0.025, 0.037 (version 10: 0.041,
    # 0.029, 0.029; version 6: 0.099, 0.075, 0.088, a strict xfail)
    for st in calm:
        assert st["max_abs_acf_returns"] < 0.05
