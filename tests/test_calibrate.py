"""Calibration: recovery of a known parameter, resume after an interruption, bad input,
and the pooling of a target whose card rule is ``share``.

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


def _card(path, figure: float, half: float, measure: str = "order_actions", rule: str = "median"):
    pooling = 'rule = "share"\nmin_share = 0.5' if rule == "share" else 'rule = "median"'
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
{pooling}
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


@pytest.fixture(scope="module")
def truth_run(tmp_path_factory):
    """The 12-candidate calibration to the card measured at ``TRUTH`` (its folder and card)."""
    tmp = tmp_path_factory.mktemp("truth")
    card = _truth_card(tmp)
    summary = cal.run_calibration(_plan(card, 12), tmp / "out", workers=1, quiet=True)
    return tmp / "out", card, summary


def test_accepted_ensemble_covers_the_point_the_targets_came_from(truth_run):
    out, _, summary = truth_run
    table = pl.read_parquet(out / "calibration.parquet")
    accepted = pl.read_parquet(out / "accepted.parquet")
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


def _share_targets(min_share: float = 0.8):
    from marketsim.scenarios.targets import Target

    common = {"unit": "x", "source": "a test", "how": "a test", "tolerance": "a test"}
    return [
        Target(
            name="width",
            measure="width",
            figure=1.5,
            low=1.0,
            high=2.0,
            rule="share",
            min_share=min_share,
            **common,
        ),
        Target(
            name="level", measure="level", figure=10.0, low=8.0, high=12.0, rule="median", **common
        ),
    ]


@pytest.mark.parametrize(
    "inside, accepted, term",
    [
        (10, True, 0.0),  # every seed inside: the share adds nothing
        (9, True, 0.25),  # 0.9: half-way between all and the minimum share, (0.1 / 0.2)^2
        (8, True, 1.0),  # at min_share = 0.8: adds 1, as a median at its band's edge
        (7, False, 2.25),  # short: (0.3 / 0.2)^2, growing with the square of the shortfall
    ],
)
def test_a_share_target_pools_the_share_of_seeds_inside_its_band(inside, accepted, term):
    # 10 seeds; the seeds outside the band are a value above it and missing values (a
    # missing value lies outside every band, as assess counts it)
    outside = [2.5, None, None][: 10 - inside]
    width = [1.5] * inside + outside
    part = pl.DataFrame(
        {"candidate": [0] * 10, "seed": list(range(10)), "width": width, "level": [11.0] * 10},
        schema_overrides={"width": pl.Float64},
    )
    moments, dist, ok = cal.pool_candidate(_share_targets(), part, "market_calm")
    assert moments["width"] == pytest.approx(inside / 10)
    assert moments["width_median"] == 1.5  # the median of the seeds with a value
    assert moments["level"] == 11.0  # a median target keeps the median
    assert ok is accepted
    # the median target adds ((11 - 10) / 2)^2 = 0.25; the mean over the two targets
    assert dist == pytest.approx((term + 0.25) / 2)


def test_a_share_target_with_min_share_1_counts_each_seed_out_as_1():
    part = pl.DataFrame({"width": [1.5, 1.5, 1.5, 3.0], "level": [10.0] * 4})
    moments, dist, ok = cal.pool_candidate(_share_targets(1.0), part, "market_calm")
    assert moments["width"] == 0.75 and not ok
    assert dist == pytest.approx(1.0 / 2)  # (0.25 / (1 / 4))^2 = 1, over two targets


def test_calibrate_accepts_by_share_and_records_the_share_band(tmp_path, truth_run):
    import shutil

    from marketsim.analysis.report_calibration import binding_targets, calibration_headline
    from marketsim.scenarios.targets import load_targets

    # the same candidates, seeds and measure as the truth run, so the same parts: pooled
    # again under the same band with rule = "share" (at least 1 of the 2 seeds inside)
    truth_out, truth_card, _ = truth_run
    t = load_targets(truth_card).target[0]
    card = _card(tmp_path / "card.toml", t.figure, 0.12 * t.figure, rule="share")
    shutil.copytree(truth_out / "parts", tmp_path / "s" / "parts")
    summary = cal.assemble(_plan(card, 12), tmp_path / "s")
    table = pl.read_parquet(tmp_path / "s" / "calibration.parquet")
    parts = {c: pl.read_parquet(p) for c, p in _parts_by_candidate(tmp_path / "s").items()}
    assert sorted(parts) == table["candidate"].to_list()
    for row in table.iter_rows(named=True):
        per_seed = parts[row["candidate"]]["order_actions"]
        share = float(per_seed.is_between(t.low, t.high).mean())
        assert row["actions"] == share
        assert row["actions_median"] == per_seed.median()
        assert row["accepted"] is (share >= 0.5)
        assert row["distance"] == pytest.approx(((1 - share) / 0.5) ** 2)
    assert table["accepted"].any() and not table["accepted"].all()  # the design spans both
    band = summary["target_bands"][0]
    assert (band["low"], band["high"], band["figure"]) == (0.5, 1.0, 1.0)
    assert band["rule"] == "share"
    assert (band["seed_low"], band["seed_high"]) == pytest.approx((t.low, t.high))
    assert summary["binding"] == binding_targets(table, summary["target_bands"])
    assert summary["pooling"] == {"actions": "share of seeds inside the band (at least 0.5)"}
    assert "share of them inside the card" in calibration_headline(tmp_path / "s", summary)


def _parts_by_candidate(out):
    return {int(pl.read_parquet(p)["candidate"][0]): p for p in (out / "parts").glob("*.parquet")}
