"""The volume-volatility relation of flash_crash_2010 (version 7): the background traders'
wake-up rate is multiplied by ``min(max(1, var / var_usual) ** (eta / 2), e^3)``
(mixture of distributions: Clark 1973; Tauchen & Pitts 1983). The kernel on states whose
answer is known, then a market whose one-second variance is raised by hand."""

from __future__ import annotations

import numpy as np
import pytest

from marketsim.agents import traders as T
from marketsim.agents._traders_loop import _volume_volatility
from marketsim.records import NS_PER_SECOND
from marketsim.scenarios._market_model import OrderBookMarket
from marketsim.scenarios._spec import build_spec
from marketsim.scenarios.flash_crash_2010 import Spec

OPEN = 10**12  # ns: any session start will do for the kernel
KEEP = 0.5 ** (1 / 1800)  # the default memory: a half-life of 30 minutes


def _state(var: float, usual: float, eta: float):
    g = np.zeros(T.N_G)
    gi = np.zeros(T.N_GI, dtype=np.int64)
    gi[T.I_SESSION_START_NS] = OPEN
    g[T.G_VAR], g[T.G_VAR_SLOW], g[T.G_VOL_ELASTICITY] = var, usual, eta
    g[T.G_VAR_SLOW_KEEP] = KEEP
    return g, gi


@pytest.mark.parametrize(
    ("var", "eta", "stated"),
    [(9.0, 2.0, 9.0), (9.0, 1.0, 3.0), (16.0, 0.5, 2.0), (0.25, 2.0, 1.0), (1e6, 2.0, np.e**3)],
    ids=["variance", "volatility", "quarter", "quiet-is-not-slower", "capped"],
)
def test_the_rate_multiple_is_the_variance_ratio_to_eta_over_two(var, eta, stated):
    g, gi = _state(var, 1.0, eta)
    _volume_volatility(OPEN + 7200 * NS_PER_SECOND, g, gi)  # two hours after the open
    usual = 1.0 + (1.0 - KEEP) * (var - 1.0)  # the EMA's step (1 - KEEP > 1 / 7201)
    assert g[T.G_VAR_SLOW] == pytest.approx(usual, rel=1e-12)
    expected = min(max(var / usual, 1.0) ** (eta / 2), np.e**3)
    assert g[T.G_VOL_ACTIVITY] == pytest.approx(expected, rel=1e-12)
    # the figure the rule states, to the EMA's step: 9x the variance is 9x the rate at
    # eta = 2 and 3x at eta = 1; a quarter of it leaves the rate alone; e^3 at most
    assert g[T.G_VOL_ACTIVITY] == pytest.approx(stated, rel=0.005)


def test_the_usual_variance_starts_as_the_mean_so_far():
    g, gi = _state(4.0, 123.0, 2.0)
    _volume_volatility(OPEN, g, gi)  # the open: the usual level is the variance itself
    assert g[T.G_VAR_SLOW] == 4.0 and g[T.G_VOL_ACTIVITY] == 1.0
    g[T.G_VAR] = 10.0
    _volume_volatility(OPEN + NS_PER_SECOND, g, gi)  # second 1: the mean of 4 and 10
    assert g[T.G_VAR_SLOW] == pytest.approx(7.0)
    assert g[T.G_VOL_ACTIVITY] == pytest.approx(10.0 / 7.0)


SHORT = {
    "session_seconds": 3000,
    "warmup_seconds": 60,
    "chunk_seconds": 30,
    "programme": False,
    "stop_logic": False,
}
SHOCK_S = 2700  # late enough that the usual level moves at its EMA's pace, not 1 / n


def _noise_actions_around_a_shock(eta: float) -> tuple[int, int, float]:
    """Noise traders' order actions in the 30 s before and the 30 s after the one-second
    variance is raised 400-fold, ``SHOCK_S`` after the open (seed 3), and the rate
    multiple at the end."""
    spec = build_spec(Spec, {**SHORT, "activity_vol_elasticity": eta}, None)
    model = OrderBookMarket(spec, seed=3)
    noise = model.kind == T.NOISE
    for _ in range(1 + SHOCK_S // 30 - 1):  # the warm-up, then to 30 s before the shock
        model.step()
    counts = [int(model.acct[noise, T.A_N_ACTIONS].sum())]
    model.step()
    counts.append(int(model.acct[noise, T.A_N_ACTIONS].sum()))
    model.g[T.G_VAR] *= 400.0
    model.step()
    counts.append(int(model.acct[noise, T.A_N_ACTIONS].sum()))
    return counts[1] - counts[0], counts[2] - counts[1], float(model.g[T.G_VOL_ACTIVITY])


def test_background_traders_wake_more_often_when_volatility_rises():
    before_off, after_off, multiple_off = _noise_actions_around_a_shock(0.0)
    before_on, after_on, multiple_on = _noise_actions_around_a_shock(2.0)
    assert multiple_off == 1.0 and multiple_on == pytest.approx(np.e**3)
    assert before_off > 300 and before_on > 300  # about 40 wake-ups a second x activity
    # the shock alone (eta = 0) leaves the rate as it was; with eta = 2 the multiple is
    # at its cap e^3 = 20 for most of the next 30 s (the variance halves in 20 s, its
    # usual level grows by about 15% of the old one a second). Each market against its
    # own 30 s before: the activity level exp(x) drifts (OU, 300 s) and the two markets,
    # whose draws part at the open, are at different levels. Actions, not wake-ups, are
    # counted: a wake-up is one action, or two when it cancels a resting order first
    assert 0.5 < after_off / before_off < 2.0
    assert 8.0 < after_on / before_on < 60.0
