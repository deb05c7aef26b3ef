"""Flow toxicity in flash_crash_2010: the VPIN of Easley, Lopez de Prado & O'Hara (2012,
Rev. Financ. Stud. 25(5)), ``sum |V_buy - V_sell| / (n V)`` over the last ``n`` buckets
of ``V`` contracts of aggressor-signed volume, and the market makers' rule on it (out
while it exceeds their tolerance, back once it is below). The bucket arithmetic on a
constructed sequence of seconds, the aggressor counts of a real session, then makers
given a VPIN by hand."""

from __future__ import annotations

import numpy as np
import pytest

from marketsim.agents import traders as T
from marketsim.agents._traders_loop import _toxicity
from marketsim.records import BUY
from marketsim.scenarios._market_model import OrderBookMarket
from marketsim.scenarios._spec import build_spec
from marketsim.scenarios.flash_crash_2010 import Spec
from tests._makers import requote_all


def _state(bucket: float, n: int):
    g = np.zeros(T.N_G)
    gi = np.zeros(T.N_GI, dtype=np.int64)
    g[T.G_TOX_BUCKET], g[T.G_TOX_N] = bucket, n
    return g, gi


def _second(g, gi, bought: int, sold: int) -> float:
    gi[T.I_AGG_BUY] += bought
    gi[T.I_AGG_SELL] += sold
    _toxicity(g, gi)
    return float(g[T.G_VPIN])


def test_vpin_on_a_constructed_sequence_of_seconds():
    g, gi = _state(10.0, 2)  # buckets of 10 contracts, VPIN over the last 2
    # 4 bought: no bucket is complete, no VPIN yet
    assert _second(g, gi, 4, 0) == 0.0
    assert (g[T.G_TOX_CUR_BUY], g[T.G_TOX_CUR_SELL]) == (4.0, 0.0)
    # 6 sold fill the first bucket (4, 6): |4 - 6| / 10
    assert _second(g, gi, 0, 6) == pytest.approx(0.2)
    assert gi[T.I_TOX_N_DONE] == 1
    # 15 bought and 5 sold fill two buckets, split in proportion: (7.5, 2.5) twice, and
    # the last two buckets' imbalance is (5 + 5) / 20
    assert _second(g, gi, 15, 5) == pytest.approx(0.5)
    assert gi[T.I_TOX_N_DONE] == 3 and g[T.G_TOX_NET] == pytest.approx(10.0)
    assert g[T.G_TOX_CUR_BUY] == 0.0 and g[T.G_TOX_CUR_SELL] == 0.0
    # 10 sold: a bucket (0, 10); the first buckets leave the window: (5 + 10) / 20
    assert _second(g, gi, 0, 10) == pytest.approx(0.75)
    assert g[T.G_TOX_NET] == pytest.approx(-5.0)  # the net flow: 5 bought, 10 sold
    # balanced flow brings it down: (10 + 0) / 20
    assert _second(g, gi, 5, 5) == pytest.approx(0.5)
    assert g[T.G_TOX_NET] == pytest.approx(-10.0)
    # a quiet second changes nothing; 3 more are carried in the open bucket
    assert _second(g, gi, 0, 0) == pytest.approx(0.5)
    assert _second(g, gi, 2, 1) == pytest.approx(0.5)
    assert (g[T.G_TOX_CUR_BUY], g[T.G_TOX_CUR_SELL]) == (2.0, 1.0)


def test_vpin_of_one_sided_flow_is_one_and_of_alternating_flow_zero():
    g, gi = _state(100.0, 50)
    for _ in range(300):
        v = _second(g, gi, 0, 70)  # every contract sold by the aggressor
    assert v == pytest.approx(1.0)
    g, gi = _state(100.0, 50)
    for _ in range(300):
        v = _second(g, gi, 25, 25)
    assert v == pytest.approx(0.0, abs=1e-12)


SHORT = {
    "session_seconds": 600,
    "warmup_seconds": 60,
    "chunk_seconds": 30,
    "programme": False,
    "stop_logic": False,
    "mm_withdraw_toxicity": 0.3,
    "toxicity_bucket_contracts": 2000,
}


def test_every_contract_is_signed_by_its_aggressor_and_the_buckets_take_them_all():
    model = OrderBookMarket(build_spec(Spec, SHORT, None), seed=2)
    while model.running:
        model.step()
    gi, g = model.gi, model.g
    fills = model.fills_all()
    assert gi[T.I_AGG_BUY] + gi[T.I_AGG_SELL] == gi[T.I_VOLUME] == fills["qty"].sum()
    assert gi[T.I_AGG_BUY] == fills["qty"][fills["aggressor_side"] == BUY].sum()
    # every contract up to the last second is in a completed bucket or the open one
    done = gi[T.I_TOX_N_DONE] * 2000 + g[T.G_TOX_CUR_BUY] + g[T.G_TOX_CUR_SELL]
    assert done == pytest.approx(gi[T.I_TOX_SEEN_BUY] + gi[T.I_TOX_SEEN_SELL])
    assert gi[T.I_TOX_N_DONE] > 50 and 0.0 < g[T.G_VPIN] < 1.0


def test_without_the_makers_own_trades_only_the_others_aggression_is_counted():
    model = OrderBookMarket(build_spec(Spec, {**SHORT, "toxicity_counts_makers": False}, None), 2)
    while model.running:
        model.step()
    fills = model.fills_all()
    taker = np.where(fills["aggressor_side"] == BUY, fills["buyer"], fills["seller"])
    others = model.kind[taker] != T.MARKET_MAKER
    bought = fills["qty"][others & (fills["aggressor_side"] == BUY)].sum()
    sold = fills["qty"][others & (fills["aggressor_side"] != BUY)].sum()
    assert (model.gi[T.I_AGG_BUY], model.gi[T.I_AGG_SELL]) == (bought, sold)
    assert 0 < bought + sold < model.gi[T.I_VOLUME]  # the makers' pick-offs are left out


def test_the_rule_is_off_unless_the_makers_have_a_tolerance():
    model = OrderBookMarket(build_spec(Spec, {**SHORT, "mm_withdraw_toxicity": 0.0}, None), 2)
    model.step()
    assert model.g[T.G_TOX_BUCKET] == 0.0 and model.gi[T.I_TOX_N_DONE] == 0


def _requote_all(model, vpin: float) -> np.ndarray:
    """Every maker requotes with the VPIN set to ``vpin`` (the volatility and the impact
    well inside their tolerances); returns their quoting flags."""
    return requote_all(model, vpin=vpin)


def _tolerance_factor_of(u):
    from marketsim.scenarios._market_model import _tolerance_factor

    return np.array([_tolerance_factor(x, Spec().mm_withdraw_impact_spread) for x in u])


def test_makers_stop_quoting_above_their_tolerance_and_resume_below_it():
    model = OrderBookMarket(build_spec(Spec, SHORT, None), seed=2)
    for _ in range(4):
        model.step()
    makers = model.kind == T.MARKET_MAKER
    tol = model.params[makers, T.P_MM_WITHDRAW_TOXICITY]
    # each maker's tolerance is 0.3 times 0.8 + 0.4 u, u the draw that also sets its
    # impact tolerance (which mm_withdraw_impact_spread widens): the same order of makers
    impact = model.params[makers, T.P_MM_WITHDRAW_IMPACT]
    u = (tol / 0.3 - 0.8) / 0.4
    assert tol.min() >= 0.24 and tol.max() <= 0.36
    assert np.allclose(impact, Spec().mm_withdraw_impact * _tolerance_factor_of(u))
    assert (_requote_all(model, 0.1) == 3).all()  # balanced flow: all quote both sides
    assert model.gi[T.I_MM_BIDDING] == model.gi[T.I_MM_ASKING] == makers.sum()
    # between the tolerances: exactly the makers whose tolerance is below it stand aside
    mid = float(np.median(tol))
    quoting = _requote_all(model, mid)
    assert ((quoting == 0) == (tol < mid)).all() and 0 < (quoting == 0).sum() < makers.sum()
    assert model.gi[T.I_MM_BIDDING] == (quoting & 1).sum()
    assert (_requote_all(model, 0.9) == 0).all()  # toxic flow: all withdraw
    assert model.gi[T.I_MM_BIDDING] == model.gi[T.I_MM_ASKING] == 0
    assert (_requote_all(model, 0.1) == 3).all()  # balanced again: all are back
    # one-sided: facing toxic selling a maker withdraws its bid and keeps its offer
    model.g[T.G_TOX_ONE_SIDED] = 1.0
    model.g[T.G_TOX_NET] = -1000.0
    assert (_requote_all(model, 0.9) == 2).all()
    assert model.gi[T.I_MM_BIDDING] == 0 and model.gi[T.I_MM_ASKING] == makers.sum()
    model.g[T.G_TOX_NET] = 1000.0  # toxic buying: offers withdrawn, bids kept
    assert (_requote_all(model, 0.9) == 1).all()
    assert (_requote_all(model, 0.1) == 3).all()
