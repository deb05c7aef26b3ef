"""flash_crash_2010's ``mm_one_sided_share``: that share of the market makers, when their
impact tolerance is exceeded, withdraw only the side the order flow hits (the bid while
sellers have pushed the price down, ``I < 0``; the offer while buyers have pushed it up)
and keep quoting the other, and the side that takes their inventory back to zero (a
short maker still bids while sellers dominate); the rest withdraw both (all of them in
versions 7 and 8). Mechanics only: no
test here asks for a particular size of crash."""

from __future__ import annotations

import numpy as np

from marketsim.agents import traders as T
from marketsim.scenarios._market_model import OrderBookMarket
from marketsim.scenarios._spec import build_spec
from marketsim.scenarios.flash_crash_2010 import Spec
from tests._makers import SHORT_CRASH as SHORT
from tests._makers import requote_all


def _requote_all(model, impact: float, inv: int = 0) -> np.ndarray:
    """Every maker requotes at impact ``impact`` with inventory ``inv``."""
    return requote_all(model, impact=impact, inv=inv)


def _model(share: float):
    over = {**SHORT, "programme": False, "mm_one_sided_share": share}
    model = OrderBookMarket(build_spec(Spec, over, None), seed=2)
    for _ in range(4):
        model.step()
    return model


def test_zero_is_none_and_version_11_makes_three_of_ten_one_sided():
    assert _model(0.0).g[T.G_IMPACT_ONE_SIDED] == 0.0
    spec = build_spec(Spec, {**SHORT, "programme": False}, None)
    assert spec.version == 11 and spec.mm_one_sided_share == 0.29
    model = OrderBookMarket(spec, seed=2)
    makers = np.flatnonzero(model.kind == T.MARKET_MAKER)
    assert makers.size == 10 and model.g[T.G_IMPACT_ONE_SIDED] == makers[2] + 1
    # version 10's share, 0.247, made two
    two = OrderBookMarket(build_spec(Spec, {**SHORT, "mm_one_sided_share": 0.247}, None), seed=2)
    assert two.g[T.G_IMPACT_ONE_SIDED] == makers[1] + 1


def test_beyond_its_tolerance_a_maker_keeps_the_side_the_flow_does_not_hit():
    model = _model(1.0)
    makers = model.kind == T.MARKET_MAKER
    n = int(makers.sum())
    tol = model.params[makers, T.P_MM_WITHDRAW_IMPACT]
    assert (_requote_all(model, 0.0) == 3).all()
    # selling has pushed the price down past every tolerance: offers only
    assert (_requote_all(model, -2 * tol.max()) == 2).all()
    assert model.gi[T.I_MM_BIDDING] == 0 and model.gi[T.I_MM_ASKING] == n
    # buying past every tolerance: bids only
    assert (_requote_all(model, 2 * tol.max()) == 1).all()
    assert model.gi[T.I_MM_BIDDING] == n and model.gi[T.I_MM_ASKING] == 0
    # between the tolerances: the makers below |I| drop their bid, the others quote both
    mid = float(np.median(tol))
    quoting = _requote_all(model, -mid)
    assert ((quoting == 2) == (tol < mid)).all() and ((quoting == 3) == (tol > mid)).all()
    assert 0 < (quoting == 2).sum() < n
    assert model.gi[T.I_MM_BIDDING] == (quoting & 1).sum()
    assert (_requote_all(model, 0.0) == 3).all()  # back inside: both sides again


def test_beyond_its_tolerance_a_maker_still_quotes_the_side_that_flattens_it():
    model = _model(1.0)
    makers = model.kind == T.MARKET_MAKER
    beyond = 2 * model.params[makers, T.P_MM_WITHDRAW_IMPACT].max()
    # selling has pushed the price down: a short maker bids (buying covers it) and
    # offers; a long one only offers
    assert (_requote_all(model, -beyond, inv=-5) == 3).all()
    assert (_requote_all(model, -beyond, inv=5) == 2).all()
    # buying has pushed it up: a long maker offers (selling flattens it) and bids
    assert (_requote_all(model, beyond, inv=5) == 3).all()
    assert (_requote_all(model, beyond, inv=-5) == 1).all()


def test_a_share_makes_the_first_makers_one_sided_and_the_rest_withdraw_both():
    model = _model(0.3)
    makers = np.flatnonzero(model.kind == T.MARKET_MAKER)
    k = round(0.3 * makers.size)
    assert k > 0 and model.g[T.G_IMPACT_ONE_SIDED] == makers[k - 1] + 1
    beyond = 2 * model.params[makers, T.P_MM_WITHDRAW_IMPACT].max()
    q = _requote_all(model, -beyond)
    assert (q[:k] == 2).all() and (q[k:] == 0).all()
    assert model.gi[T.I_MM_BIDDING] == 0 and model.gi[T.I_MM_ASKING] == k
    q = _requote_all(model, beyond)
    assert (q[:k] == 1).all() and (q[k:] == 0).all()


def test_off_a_maker_beyond_its_tolerance_withdraws_both_sides():
    model = _model(0.0)
    tol = model.params[model.kind == T.MARKET_MAKER, T.P_MM_WITHDRAW_IMPACT]
    assert (_requote_all(model, -2 * tol.max()) == 0).all()
    assert (_requote_all(model, 2 * tol.max()) == 0).all()
    assert model.gi[T.I_MM_BIDDING] == model.gi[T.I_MM_ASKING] == 0
    assert (_requote_all(model, 0.0) == 3).all()


def test_under_the_programme_makers_beyond_their_tolerance_keep_offering():
    """A short programme with low tolerances: while the (negative) impact is beyond a
    maker's tolerance by a margin, it offers, and bids only to cover a short position
    (measured on seed 2: 7,636 maker-seconds offering, 5,968 bidding; makers that
    withdraw both sides would quote neither)."""
    over = {
        **SHORT,
        "stop_logic": False,
        "mm_withdraw_impact": 0.002,
        "mm_one_sided_share": 1.0,
    }
    model = OrderBookMarket(build_spec(Spec, over, None), seed=2)
    mm = np.flatnonzero(model.kind == T.MARKET_MAKER)
    tol = model.params[mm, T.P_MM_WITHDRAW_IMPACT]
    offering = bidding = 0
    while model.running:
        model.step()
        q = model.acct[mm, T.A_QUOTING]
        # |I| moves by much less than 30% in a second: a maker requoted within it
        beyond = tol < -model.g[T.G_IMPACT] / 1.3
        offering += int(np.sum(beyond & ((q & 2) == 2)))
        bidding += int(np.sum(beyond & ((q & 1) == 1)))
    assert offering > bidding > 100
