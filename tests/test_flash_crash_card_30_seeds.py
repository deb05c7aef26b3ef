"""flash_crash_2010 version 6 against issue 16's acceptance, over seeds 1-30 (full
sessions, aggressive seller, stop logic on): the programme done in 15-30 minutes, a low
3-8% below the programme's start within 20 minutes, half the fall regained 15 minutes
after the low (each in at least 80% of seeds), no rise of more than 2% above the start in
the hour after the low (90%), a median hot-potato ratio above 50; and the stylised facts
of the same market without the programme on seeds 1-3 (Cont 2001; the bounds of
tests/test_orderbook_market.py).

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

# 33 full sessions: 10 min 47 s on one core of a loaded machine (version 6: 2
# passed, 6 strict xfails); make validate
pytestmark = pytest.mark.validate

SEEDS = range(1, 31)


def _missed(why: str):
    return pytest.mark.xfail(strict=True, reason=f"not met by version 6: {why}")


@pytest.fixture(scope="module")
def thirty():
    spec = build_spec(Spec, {}, None)
    assert spec.version == 6 and spec.seller == "aggressive"
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


@_missed("5 of 30 seeds within 15-30 minutes; median 2,266 s, range 1,234-3,639 s")
def test_programme_done_in_15_to_30_minutes_in_80pct_of_seeds(thirty):
    d = "programme_duration_s"
    assert _share(thirty, lambda s: s[d] is not None and 900 <= s[d] <= 1800) >= 0.8


@_missed("6 of 30 seeds (9 fall 3-8%: all 7.2-10.4%, median 8.6%; the low within 20 minutes in 16)")
def test_low_3_to_8pct_below_the_start_within_20_minutes_in_80pct_of_seeds(thirty):
    def inside(s):
        return 0.03 <= s["max_drawdown"] <= 0.08 and s["low_after_start_s"] <= 1200

    assert _share(thirty, inside) >= 0.8


@_missed("18 of 30 seeds regain half the fall 15 minutes after the low; median 0.79")
def test_half_the_fall_regained_15_minutes_after_the_low_in_80pct_of_seeds(thirty):
    r = "recovery_15min"
    assert _share(thirty, lambda s: s[r] is not None and s[r] >= 0.5) >= 0.8


@_missed("25 of 30 seeds (the largest rise 6.7%)")
def test_no_rise_of_2pct_above_the_start_in_the_hour_after_the_low_in_90pct(thirty):
    r = "rise_above_start_1h"
    assert _share(thirty, lambda s: s[r] is not None and s[r] <= 0.02) >= 0.9


def test_median_hot_potato_ratio_above_50(thirty):
    # measured: median 407 (116 to 16,040)
    assert np.median([s["hot_potato_ratio"] for s in thirty]) > 50


@pytest.fixture(scope="module")
def calm():
    """The stylised facts of version 6's market without the programme, seeds 1-3."""
    spec = build_spec(Spec, {"programme": False}, None)
    return [
        stylised_facts(book_frame(simulate(spec, seed=seed))["mid_tick"].to_numpy())
        for seed in (1, 2, 3)
    ]


@_missed(
    "Hill exponent 2.34, 2.56, 1.54 on seeds 1-3 (band 2.5-4.0); min acf of |r| (lags 1-50) "
    "0.034, 0.058, -0.002 (version 5: Hill 3.05-3.30, min acf 0.087-0.113)"
)
def test_the_calm_market_keeps_heavy_tails_and_volatility_clustering(calm):
    for st in calm:
        assert 2.5 < st["hill_exponent"] < 4.0
        assert st["min_acf_abs_returns"] > 0


@_missed(
    "largest |acf| of one-second returns (lags 1-20) 0.147, 0.137, 0.494 on seeds 1-3, above "
    "0.05 (seed 3: -0.494 at lag 1); version 5: 0.075-0.099; market_calm 0.020-0.032"
)
def test_the_calm_market_keeps_no_return_autocorrelation(calm):
    for st in calm:
        assert st["max_abs_acf_returns"] < 0.05
