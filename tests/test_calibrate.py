"""Calibration: recovery of a known parameter, resume after an interruption, bad input.

The scenario is a short calm market (300 s sessions after a 60 s warm-up: ~0.4 s a run);
the target is its count of order actions, which grows with ``noise_rate``. The target's
figure is measured in the test on a run at the chosen point, never written down.
"""

from __future__ import annotations

import polars as pl
import pytest

from marketsim.cli import main
from marketsim.errors import UsageError
from marketsim.experiments import calibrate as cal

FAST = ["session_seconds=300", "warmup_seconds=60"]
SEEDS = [0, 1]
TRUTH = 0.045


def _card(path, figure: float, half: float, measure: str = "order_actions"):
    path.write_text(
        f"""version = 1
scenario = "market_calm"
scenario_version = 2
[scaling]
reference_programme_qty = 1
model_parameter = "none"
rule = "none"
[[target]]
name = "actions"
measure = "{measure}"
unit = "orders"
figure = {figure}
low = {figure - half}
high = {figure + half}
rule = "median"
source = "a run of market_calm at noise_rate = {TRUTH}"
how = "summary order_actions"
tolerance = "12% of the figure"
"""
    )
    return path


def _truth_card(tmp_path):
    from marketsim.scenarios import resolve_spec

    _, spec = resolve_spec("market_calm", None, [*FAST, f"noise_rate={TRUTH}"])
    rows = cal.run_candidate("market_calm", spec.model_dump(mode="json"), SEEDS, ["order_actions"])
    figure = float(pl.Series([r["order_actions"] for r in rows["rows"]]).median())
    return _card(tmp_path / "card.toml", figure, 0.12 * figure)


def _plan(card, budget):
    return cal.plan_calibration(
        "market_calm",
        card,
        {"noise_rate": (0.02, 0.07)},
        budget=budget,
        seeds=len(SEEDS),
        seed=SEEDS[0],
        sets=FAST,
    )


def test_accepted_ensemble_covers_the_point_the_targets_came_from(tmp_path):
    card = _truth_card(tmp_path)
    summary = cal.run_calibration(_plan(card, 12), tmp_path / "out", workers=1, quiet=True)
    table = pl.read_parquet(tmp_path / "out" / "calibration.parquet")
    accepted = pl.read_parquet(tmp_path / "out" / "accepted.parquet")
    assert table.height == 12 and table["candidate"].to_list() == list(range(12))
    assert accepted.height == summary["n_accepted"] == int(table["accepted"].sum())
    assert summary["sets"] == FAST  # the fixed parameters the candidates ran with
    assert 0 < accepted.height < table.height  # some candidates are rejected
    assert accepted["noise_rate"].min() <= TRUTH <= accepted["noise_rate"].max()
    # the distance ranks: every accepted candidate is within its band, so D <= 1
    assert accepted["distance"].max() <= 1.0
    assert table.filter(~pl.col("accepted"))["distance"].min() > 1.0


def test_interrupted_then_rerun_equals_an_uninterrupted_run(tmp_path, monkeypatch):
    card = _card(tmp_path / "card.toml", 58000.0, 7000.0)
    whole = cal.run_calibration(_plan(card, 5), tmp_path / "whole", workers=1, quiet=True)
    real, calls = cal.run_candidate, []

    def dies_after_two(*args):
        if len(calls) == 2:
            raise KeyboardInterrupt
        calls.append(args)
        return real(*args)

    monkeypatch.setattr(cal, "run_candidate", dies_after_two)
    with pytest.raises(KeyboardInterrupt):
        cal.run_calibration(_plan(card, 5), tmp_path / "cut", workers=1, quiet=True)
    assert len(list((tmp_path / "cut" / "parts").glob("*.parquet"))) == 2
    monkeypatch.setattr(cal, "run_candidate", real)
    again = cal.run_calibration(_plan(card, 5), tmp_path / "cut", workers=1, quiet=True)
    assert again["status"]["skipped"] == 2 and again["status"]["ran"] == 3
    a = pl.read_parquet(tmp_path / "whole" / "calibration.parquet")
    b = pl.read_parquet(tmp_path / "cut" / "calibration.parquet")
    assert a.equals(b)
    assert whole["n_accepted"] == again["n_accepted"]


@pytest.mark.parametrize(
    "args, words",
    [
        (["--param", "gamma=0.1:0.2"], ["--param gamma", "unknown parameter"]),
        (["--param", "noise_rate=0.1:0.05"], ["--param noise_rate", "LO 0.1 >= HI 0.05"]),
        (["--param", "noise_rate=0.1:0.1"], ["LO 0.1 >= HI 0.1"]),
        (["--param", "noise_rate=0.02:0.07", "--budget", "0"], ["--budget 0", "at least 1"]),
        (["--param", "noise_rate"], ["expected NAME=LO:HI"]),
    ],
)
def test_bad_input_is_one_line_and_exit_2(tmp_path, capsys, args, words):
    card = _card(tmp_path / "card.toml", 58000.0, 7000.0)
    budget = [] if "--budget" in args else ["--budget", "3"]
    out = tmp_path / "never"
    cmd = ["calibrate", "market_calm", "--targets", str(card), *args, *budget]
    code = main([*cmd, "--seeds", "1", "--out", str(out), "--quiet"])
    err = capsys.readouterr().err
    assert code == 2
    assert err.startswith("error: ") and err.count("\n") == 1, err
    assert all(w in err for w in words), err
    assert not out.exists()


def test_target_key_missing_from_the_summary_is_named(tmp_path, capsys):
    card = _card(tmp_path / "card.toml", 1.0, 0.5, measure="no_such_measure")
    cmd = ["calibrate", "market_calm", "--targets", str(card), "--param", "noise_rate=0.02:0.07"]
    sets = [x for s in FAST for x in ("--set", s)]
    code = main(
        [
            *cmd,
            *sets,
            "--budget",
            "1",
            "--seeds",
            "1",
            "--workers",
            "1",
            "--quiet",
            "--out",
            str(tmp_path / "o"),
        ]
    )
    err = capsys.readouterr().err
    assert code == 2
    assert err.count("\n") == 1 and "target[actions].measure" in err and "no such key" in err


def test_param_items_parse_and_reject_repeats():
    assert cal.parse_param_items(["noise_rate=0.02:0.1"]) == {"noise_rate": (0.02, 0.1)}
    with pytest.raises(UsageError, match="given twice"):
        cal.parse_param_items(["a=0:1", "a=1:2"])


def test_refinement_adds_bounded_evaluations_and_resumes_from_disk(tmp_path):
    card = _card(tmp_path / "card.toml", 58000.0, 7000.0)
    first = cal.run_calibration(_plan(card, 3), tmp_path / "r", workers=1, quiet=True, refine=4)
    table = pl.read_parquet(tmp_path / "r" / "calibration.parquet")
    design = table.filter(pl.col("stage") == "design")
    refined = table.filter(pl.col("stage") == "refine")
    assert design.height == 3 and 1 <= refined.height <= 4
    assert first["refinement"]["evaluations"] <= 4
    assert refined["noise_rate"].is_between(0.02, 0.07).all()
    assert table["distance"].min() <= design["distance"].min()
    again = cal.run_calibration(_plan(card, 3), tmp_path / "r", workers=1, quiet=True, refine=4)
    assert again["status"]["ran"] == 0  # every design and refinement part came from disk
    assert pl.read_parquet(tmp_path / "r" / "calibration.parquet").equals(table)
