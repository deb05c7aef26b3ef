"""flash_crash_2010's ``mm_withdraw_impact_spread``: market makers differ in their
tolerance of toxic flow (each maker's impact tolerance is ``mm_withdraw_impact (0.8 +
0.4u) exp(s (2u - 1))``, ``u`` its one uniform draw). Mechanics only: no test here asks
for a particular size of crash."""

from __future__ import annotations

import numpy as np
import pytest

from marketsim.agents import _traders_layout as T
from marketsim.scenarios._market_model import OrderBookMarket, _population, _tolerance_factor
from marketsim.scenarios._spec import build_spec
from marketsim.scenarios.flash_crash_2010 import Spec
from marketsim.scenarios.market_calm import Spec as CalmSpec
from tests._makers import SHORT_CRASH as SHORT


def test_the_factor_at_known_draws():
    assert _tolerance_factor(0.5, 1.5) == pytest.approx(1.0)
    assert _tolerance_factor(0.0, 1.5) == pytest.approx(0.8 * np.exp(-1.5))
    assert _tolerance_factor(1.0, 1.5) == pytest.approx(1.2 * np.exp(1.5))
    assert _tolerance_factor(0.25, 1.0) == pytest.approx(0.9 * np.exp(-0.5))
    # increasing in u: the makers keep their order whatever the spread
    u = np.linspace(0, 1, 101)
    assert np.all(np.diff([_tolerance_factor(x, 2.0) for x in u]) > 0)


def test_spread_zero_is_the_uniform_draw_bit_for_bit():
    a, b = np.random.default_rng(7), np.random.default_rng(7)
    for _ in range(1000):
        assert _tolerance_factor(b.random(), 0.0) == a.uniform(0.8, 1.2)


def _tolerances(spec):
    kind, params = _population(spec, np.random.default_rng(3))
    return params[kind == T.MARKET_MAKER, T.P_D]


def test_the_calm_market_and_spread_zero_draw_as_before():
    # market_calm has no such parameter: its makers' tolerances are the +-20% draw
    calm = build_spec(CalmSpec, {}, None)
    for spec in (calm, build_spec(Spec, {"mm_withdraw_impact_spread": 0}, None)):
        d = _tolerances(spec) / spec.mm_withdraw_impact
        assert np.all((0.8 <= d) & (d <= 1.2))
    # the same draws, in the same order, with and without a spread: only the factor moves
    base = build_spec(Spec, {"mm_withdraw_impact_spread": 0}, None)
    wide = build_spec(Spec, {"mm_withdraw_impact_spread": 1.5}, None)
    d0, d1 = _tolerances(base), _tolerances(wide)
    u = (d0 / base.mm_withdraw_impact - 0.8) / 0.4
    expected = base.mm_withdraw_impact * (0.8 + 0.4 * u) * np.exp(1.5 * (2 * u - 1))
    assert d1 == pytest.approx(expected)
    assert np.argsort(d0).tolist() == np.argsort(d1).tolist()
    assert d1.max() / d1.min() > 3 * d0.max() / d0.min()


def test_makers_withdraw_one_by_one_at_their_own_tolerances():
    """Each maker stops quoting when the order-flow impact ``|I|`` reaches its own
    tolerance, so under the programme the number of makers quoting steps down through
    the counts between all and none, each step at the next tolerance. (A low
    ``mm_withdraw_impact`` so that this short programme reaches every tolerance; seed 2:
    tolerances 0.0004-0.0068, ``|I|`` up to about 0.015.)"""
    over = {
        "stop_logic": False,
        "mm_withdraw_impact_spread": 1.5,
        "mm_withdraw_impact": 0.002,
        "mm_one_sided_share": 0.0,  # every maker withdraws both sides
    }
    spec = build_spec(Spec, {**SHORT, **over}, None)
    model = OrderBookMarket(spec, seed=2)
    mm = np.flatnonzero(model.kind == T.MARKET_MAKER)
    tol = model.params[mm, T.P_D]
    ranked = np.sort(tol)
    between = {}  # count of makers quoting (neither all nor none) -> |I| when first seen
    while model.running:
        model.step()
        quoting = model.acct[mm, T.A_QUOTING] != 0
        impact = abs(model.g[T.G_IMPACT])
        # a maker quoting requoted within the second with |I| below its tolerance (|I|
        # moves by much less than 30% in a second)
        assert np.all(tol[quoting] > impact / 1.3)
        n = int(quoting.sum())
        if 0 < n < mm.size:
            between.setdefault(n, impact)
    assert len(between) >= 5
    for n, impact in between.items():
        # n makers quote: the 10 - n least tolerant are out, |I| has reached the last
        assert impact >= ranked[mm.size - n - 1] / 1.3
    x = np.array(list(between.values()))
    assert x.max() / x.min() > 3  # version 7's draw spans 1.5 at most
