"""Market rules in the order-book scenarios: they run inside the market's kernel."""

import pytest

from marketsim.cli import main
from marketsim.scenarios._orderbook_market import (
    book_frame,
    previous_close_tick,
    session_summary,
    simulate,
)
from marketsim.scenarios._spec import build_spec
from marketsim.scenarios.flash_crash_2010 import Spec

SHORT = ["session_seconds=2400", "programme_start_s=600"]


def _session(policy, seed=0):
    spec = build_spec(Spec, {}, [*SHORT, f"policy={policy}"])
    model = simulate(spec, seed=seed)
    return session_summary(model, book_frame(model))


@pytest.fixture(scope="module")
def baseline():
    return _session("none")


def test_same_seed_same_session_under_a_rule():
    a, b = _session("luld"), _session("luld")
    assert (a["max_drawdown"], a["volume"], a["trades"]) == (
        b["max_drawdown"],
        b["volume"],
        b["trades"],
    )


def test_a_breaker_that_binds_halts_trading_once_per_level():
    # levels set from this seed's own unregulated fall, so the test holds whatever the
    # calibration: the paths agree until the first level fires
    # (levels count from the previous close, prior_decline above the opening price)
    spec = build_spec(Spec, {}, SHORT)
    close = previous_close_tick(spec)
    gap = 1 - spec.initial_price_tick / close
    low = simulate(spec, seed=0).fills_all()["price_tick"].min()
    fall = 1 - low / spec.initial_price_tick
    assert fall >= 1e-4, f"seed 0 never falls ({fall:.2e}): the test needs a seed that does"
    lv1, lv2 = (1 - (1 - gap) * (1 - fall / k) for k in (3, 2))
    s = _session(f"mwcb:levels=[{lv1:.6f},{lv2:.6f},0.9],halt_s=120")
    assert 1 <= s["mwcb_levels_fired"] <= 2 and not s["market_closed_by_mwcb"]
    # version 4 on keeps CME Stop Logic in force: its 5-second pauses add to the halts
    halted = 120.0 * s["mwcb_levels_fired"] + 5.0 * s["stop_logic_pauses"]
    assert s["seconds_halted"] == pytest.approx(halted)


def test_a_single_stock_halt_that_binds_halts_for_halt_s():
    # the move is set from this seed's own unregulated range, so the rule binds whatever
    # the calibration
    spec = build_spec(Spec, {}, SHORT)
    px = simulate(spec, seed=0).fills_all()["price_tick"]
    move = (px.max() - px.min()) / px.max()
    assert move >= 1e-4, f"seed 0 never moves ({move:.2e}): the test needs a seed that does"
    s = _session(f"halt:move_pct={move / 2:.6f},window_s=2400,halt_s=60")
    assert s["single_stock_halts"] >= 1
    assert s["seconds_halted"] <= 60.0 * s["single_stock_halts"] + 5.0 * s["stop_logic_pauses"]
    assert s["seconds_halted"] > 60.0 * (s["single_stock_halts"] - 1)


def test_a_tight_band_binds_and_changes_the_path(baseline):
    # measured (flash_crash_2010 at a4c5f76, seed 0, 2,400 s): the fall is 4.15% with no
    # rule and 1.10% under a 0.1% band with price sliding (1.05% without sliding), with
    # 245 s in the limit state and no pause; earlier calibrations measured the band
    # deepening the fall (0.58% -> 0.93%), so its direction is not asserted
    s = _session("luld:band_pct=0.001")
    assert s["seconds_in_limit_state"] > 0 or s["luld_pauses"] > 0
    assert s["max_drawdown"] != baseline["max_drawdown"]


@pytest.mark.parametrize(
    "policy, words",
    [
        ("luld:band_pct=-0.05", "luld.band_pct"),
        ("mwcb:halt_s=3000", "mwcb.halt_s = 3000 s is longer than the 2400 s session"),
        ("fba:interval_ms=0", "fba.interval_ms"),
        ("luld:reference_update_pct=-0.01", "luld.reference_update_pct"),
        ("mwcb:reopening=later", "mwcb.reopening: Input should be 'auction' or 'continuous'"),
        ("steering", "'steering' applies to pricing markets"),
        ("stop_logic:band_pct=0", "stop_logic.band_pct"),
        ("stop_logic:pause_s=3000", "stop_logic.pause_s = 3000 s is longer than the 2400 s"),
        ("stop_logic+stop_logic", "'stop_logic' is given twice"),
    ],
)
def test_nonsense_book_policies_give_one_line(policy, words, tmp_path, capsys):
    args = ["run", "flash_crash_2010", "--out", str(tmp_path), "--quiet"]
    for s in [*SHORT, f"policy={policy}"]:
        args += ["--set", s]
    assert main(args) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and words in err


def test_taxes_leave_the_traders_for_the_regulator_and_money_is_conserved():
    """Sum over all rows (traders and regulator) of cash less taxes equals the traders'
    cash before taxes (zero: trading only moves cash between traders)."""
    from marketsim.scenarios._orderbook_market import agents_frame

    spec = build_spec(Spec, {}, [*SHORT, "policy=tax:trade_tax_bps=1,cancel_tax_ticks=0.5"])
    model = simulate(spec, seed=0)
    agents = agents_frame(model)
    reg = agents.filter(agents["kind"] == "regulator")
    traders = agents.filter(agents["kind"] != "regulator")
    collected = session_summary(model, book_frame(model))["tax_collected_ticks"]
    assert collected > 0
    assert -reg["taxes_paid"][0] == pytest.approx(traders["taxes_paid"].sum(), rel=1e-12)
    assert -reg["taxes_paid"][0] == pytest.approx(collected * spec.tick_size, rel=1e-12)
    assert traders["cash"].sum() == pytest.approx(0.0, abs=1e-6)
    assert (agents["cash"].fill_null(0.0) - agents["taxes_paid"]).sum() == pytest.approx(
        0.0, abs=1e-6
    )


def test_speed_bump_and_otr_cap_act_in_the_market(baseline):
    bump = _session("speed_bump")
    assert bump["orders_delayed"] > 0 and baseline["orders_delayed"] == 0
    capped = _session("otr_cap:max_ratio=5,window_s=60")
    assert capped["actions_refused_otr"] > 0
