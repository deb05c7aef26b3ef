"""The high-frequency traders' inventory mean reversion (Kirilenko, Kyle, Samadi & Tuzun
2017: their aggregate inventory mean-reverted with a half-life of about 2 minutes): the
half-life measure on synthetic paths whose answer is known, and the trading rule on a
market whose HFTs are handed an inventory and left to trade it away."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy.signal import lfilter

from marketsim.agents import traders as T
from marketsim.measures import inventory_half_life
from marketsim.scenarios._market_model import OrderBookMarket
from marketsim.scenarios._spec import build_spec
from marketsim.scenarios.flash_crash_2010 import Spec


def _ar1(half_life_s: float, n: int, seed: int) -> np.ndarray:
    a = 0.5 ** (1.0 / half_life_s)
    e = np.random.default_rng(seed).normal(0.0, 50.0, n)
    return lfilter([1.0], [1.0, -a], e) + 300.0  # an offset: the fit has an intercept


@pytest.mark.parametrize("half_life_s", [20.0, 120.0, 300.0])
def test_half_life_of_an_ar1_path_with_a_known_half_life(half_life_s):
    x = _ar1(half_life_s, 1_000_000, seed=int(half_life_s))
    assert inventory_half_life(x) == pytest.approx(half_life_s, rel=0.1)
    # sampled every 2 seconds, the half-life is still in seconds
    assert inventory_half_life(x[::2], dt_s=2.0) == pytest.approx(half_life_s, rel=0.1)


def test_an_exact_exponential_decay_gives_its_half_life():
    t = np.arange(600.0)
    assert inventory_half_life(5000.0 * 0.5 ** (t / 90.0)) == pytest.approx(90.0, rel=1e-9)


@pytest.mark.parametrize(
    "path",
    [np.full(50, 7.0), np.arange(50.0), (-1.0) ** np.arange(50), np.array([1.0, 2.0])],
    ids=["constant", "trend", "alternating", "too-short"],
)
def test_no_half_life_where_nothing_reverts(path):
    assert math.isnan(inventory_half_life(path))


HANDED = 600  # contracts handed to each HFT at the open
SHORT = {
    "session_seconds": 420,
    "warmup_seconds": 60,
    "chunk_seconds": 60,
    # the rule alone: no lay-off at a limit, and no quotes (which other HFTs' sales would
    # fill: the hot potato, which slows their aggregate's reversion)
    "hft_inventory_limit": 10**6,
    "hft_withdraw_vol": 1e-9,
    "programme": False,
    "stop_logic": False,
}


def _aggregate_inventory(half_life_s: float) -> np.ndarray:
    """The HFTs' aggregate inventory second by second after each is handed ``HANDED``
    contracts at the open (taken from one noise trader), on
    flash_crash_2010's market without the programme."""
    spec = build_spec(Spec, {**SHORT, "hft_inventory_half_life_s": half_life_s}, None)
    model = OrderBookMarket(spec, seed=4)
    model.step()  # the warm-up, to the open
    hft = np.flatnonzero(model.kind == T.HFT)
    model.acct[hft, T.A_INV] += HANDED
    model.acct[int(np.flatnonzero(model.kind == T.NOISE)[0]), T.A_INV] -= HANDED * hft.size
    start = int(model.gi[T.I_N_SNAP])
    while model.running:
        model.step()
    net = model.snap[start : int(model.gi[T.I_N_SNAP]), T.C_HFT_NET]
    return HANDED * hft.size + (net - model.snap[start - 1, T.C_HFT_NET])


def test_hft_inventory_reverts_at_the_stated_half_life():
    inv = _aggregate_inventory(60.0)
    # 360 s is six half-lives: 1/64 of 9,600 is about 150 contracts
    assert inv[0] > 0.95 * HANDED * 16  # it starts from the hand-out
    assert inv[60] / inv[0] == pytest.approx(0.5, abs=0.1)
    assert inv[120] / inv[0] == pytest.approx(0.25, abs=0.08)
    assert inventory_half_life(inv[:240]) == pytest.approx(60.0, rel=0.2)


def test_without_a_half_life_the_inventory_stays():
    inv = _aggregate_inventory(0.0)
    assert inv[-1] > 0.9 * HANDED * 16
