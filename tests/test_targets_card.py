"""The flash-crash targets card (``data/flash_crash_2010_targets.toml``) and its loader:
the card validates, states the 2010 figures of its sources, and a bad card is refused
with one line naming the field (exit code 2)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from marketsim.errors import UsageError
from marketsim.scenarios.targets import assess, load_targets

CARD = Path(__file__).resolve().parents[1] / "data" / "flash_crash_2010_targets.toml"


def test_the_card_validates_and_states_the_published_figures():
    card = load_targets(CARD)
    assert card.scenario == "flash_crash_2010" and card.scenario_version == 11
    assert card.scaling.reference_programme_qty == 75_000
    by = {t.name: t for t in card.target}
    # CFTC-SEC (2010): about 20 minutes; about 5% to the low 13 minutes after the start;
    # about 35,000 of 75,000 sold by then. KKST (2017): 27,000 traded for about 200 net.
    assert by["programme_duration"].figure == 1200.0
    assert by["fall"].figure == 0.05 and (by["fall"].low, by["fall"].high) == (0.03, 0.08)
    assert by["time_of_the_low"].figure == 780.0
    assert by["programme_sold_by_the_low"].figure == pytest.approx(35_000 / 75_000, abs=0.005)
    assert by["hot_potato"].figure == pytest.approx(27_000 / 200) and by["hot_potato"].low == 50
    assert by["hft_inventory"].figure == pytest.approx(3_000 / 75_000)
    # KKST (2017): HFT inventories mean-reverted with a half-life of about 2 minutes;
    # HFTs traded over a third of volume in 14:41-14:44
    assert by["hft_inventory_half_life"].figure == 120.0
    assert by["hft_volume_share"].figure == pytest.approx(0.33)
    # the acceptance bands
    assert (by["no_whipsaw"].high, by["no_whipsaw"].min_share) == (0.02, 0.9)
    assert (by["recovery_after_15_minutes"].low, by["fall"].min_share) == (0.5, 0.8)
    assert {t.scenario for t in card.target} == {None, "market_calm"}


def _summary(**kw):
    base = {
        "programme_duration_s": 1300.0,
        "programme_sold_share_at_low": 0.5,
        "max_drawdown": 0.05,
        "low_after_start_s": 800,
        "steepest_5min_fall": 0.04,
        "stop_logic_pauses": 1,
        "recovery_15min": 0.7,
        "recovery_30min": 0.9,
        "rise_above_start_1h": 0.0,
        "hot_potato_ratio": 100.0,
        "hft_net_peak_share": 0.03,
        "depth_at_low_ratio": 0.01,
    }
    return {**base, **kw}


def test_assess_pools_seeds_by_share_and_by_median():
    card = load_targets(CARD)
    runs = [_summary(max_drawdown=x) for x in (0.05, 0.06, 0.02, 0.07, 0.04)]
    runs[0]["programme_duration_s"] = None  # unfinished: outside the band
    runs[1]["hot_potato_ratio"] = 10.0
    rows = {r["name"]: r for r in assess(card, runs)}
    assert rows["fall"]["share_inside"] == 0.8 and rows["fall"]["met"]
    assert rows["programme_duration"]["share_inside"] == 0.8 and rows["programme_duration"]["met"]
    assert rows["hot_potato"]["median"] == 100.0 and rows["hot_potato"]["met"]
    runs[2]["max_drawdown"] = float("nan")
    runs[3]["max_drawdown"] = 0.09
    assert not {r["name"]: r for r in assess(card, runs)}["fall"]["met"]
    # the calm-market targets are read on market_calm summaries
    calm = assess(card, [{"stylised": {"hill_exponent": 3.1}}], scenario="market_calm")
    assert {r["name"]: r["met"] for r in calm}["calm_heavy_tails"] is True


@pytest.mark.parametrize(
    "mutate, field",
    [
        (lambda s: s.replace("low = 0.03\nhigh = 0.08", "low = 0.08\nhigh = 0.03"), "target[fall]"),
        (lambda s: s.replace('rule = "median"', 'rule = "mean"'), "target[hot_potato].rule"),
        (lambda s: s.replace("min_share = 0.9", "min_share = 1.5"), "target[no_whipsaw].min_share"),
        (lambda s: s.replace('measure = "max_drawdown"', 'measure = "Max Drawdown"'), "measure"),
        (lambda s: s.replace("figure = 0.05\nlow = 0.03", "figur = 0.05\nlow = 0.03"), "figur"),
        (lambda s: s.replace('scenario = "market_calm"', 'scenario = "calm"', 1), "calm"),
        (lambda s: s.replace("reference_programme_qty = 75000", ""), "reference_programme_qty"),
        (lambda s: s + '\n[[target]]\nname = "fall"\n', "target"),
        (lambda s: s.replace("version = 1\n", "version = [", 1), "not valid TOML"),
    ],
)
def test_a_bad_card_is_one_line_naming_the_field(tmp_path, mutate, field):
    bad = tmp_path / "card.toml"
    bad.write_text(mutate(CARD.read_text()))
    with pytest.raises(UsageError) as exc:
        load_targets(bad)
    msg = str(exc.value)
    assert "\n" not in msg and field in msg and exc.value.exit_code == 2


def test_checking_a_bad_card_from_the_command_line_exits_2(tmp_path):
    bad = tmp_path / "card.toml"
    bad.write_text(CARD.read_text().replace("min_share = 0.9", "min_share = 0"))
    res = subprocess.run(
        [sys.executable, "-m", "marketsim.scenarios.targets", str(bad)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert res.returncode == 2 and res.stdout == ""
    assert res.stderr.count("\n") == 1 and "target[no_whipsaw].min_share" in res.stderr
    ok = subprocess.run(
        [sys.executable, "-m", "marketsim.scenarios.targets", str(CARD)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert ok.returncode == 0 and "fall: max_drawdown [0.03, 0.08] (share)" in ok.stdout


def test_the_calibration_card_is_the_acceptance_targets_of_the_card_unchanged():
    """data/flash_crash_2010_calibration_targets.toml (the calibrations of versions 5 to
    11) holds the issue-16 acceptance targets, each identical to the full card's."""
    full = {t.name: t for t in load_targets(CARD).target}
    cal = load_targets(CARD.with_name("flash_crash_2010_calibration_targets.toml"))
    assert (cal.scenario, cal.scenario_version) == ("flash_crash_2010", 11)
    assert [t.name for t in cal.target] == [
        "programme_duration",
        "fall",
        "time_of_the_low",
        "recovery_after_15_minutes",
        "no_whipsaw",
        "hot_potato",
    ]
    for t in cal.target:
        assert t == full[t.name], t.name
