"""``compare --ensemble``: the policies on every accepted calibration of a ``calibrate``
run, the effect per calibration and pooled, and the share of calibrations whose interval
lies below zero, above zero or spans it. Mechanics only: no test asks for an effect."""

from __future__ import annotations

import json

import numpy as np
import polars as pl
import pytest

from marketsim.cli import main
from marketsim.experiments.ensemble import compare_ensemble, verdict

SHORT = [
    "session_seconds=900",
    "warmup_seconds=60",
    "chunk_seconds=300",
    "programme_start_s=120",
    "programme_qty=20000",
]


def _calibration(folder, values, scenario="flash_crash_2010"):
    """A finished calibrate folder whose accepted candidates set impact_withdrawal_multiple."""
    folder.mkdir()
    box = {"impact_withdrawal_multiple": [2.0, 20.0]}
    (folder / "summary.json").write_text(json.dumps({"scenario": scenario, "box": box}))
    pl.DataFrame(
        {
            "candidate": list(range(len(values))),
            "stage": ["design"] * len(values),
            "impact_withdrawal_multiple": values,
            "distance": [0.5] * len(values),
            "accepted": [True] * len(values),
        }
    ).write_parquet(folder / "accepted.parquet")
    return folder


def test_each_calibration_runs_its_parameters_and_the_pooled_effect_is_their_pairs(tmp_path):
    cal = _calibration(tmp_path / "calib", [3.0, 15.0])
    out = tmp_path / "ens"
    table = compare_ensemble(
        "flash_crash_2010",
        ["none", "luld"],
        ensemble=cal,
        seeds=2,
        out=out,
        sets=SHORT,
        progress=False,
    )
    data = json.loads((out / "ensemble.json").read_text())
    assert [c["params"] for c in data["calibrations"]] == [
        {"impact_withdrawal_multiple": 3.0},
        {"impact_withdrawal_multiple": 15.0},
    ]
    diffs = []
    for k, value in ((0, 3.0), (1, 15.0)):
        sub = json.loads((out / "calibrations" / f"cal_{k}" / "compare.json").read_text())
        # each calibration is the scenario with its own value, the fixed --set values kept
        assert sub["params"]["impact_withdrawal_multiple"] == value
        assert sub["params"]["session_seconds"] == 900 and sub["seeds"] == 2
        want = next(
            r for r in sub["rows"] if r["policy"] == "luld" and r["metric"] == "max_drawdown"
        )
        got = table.filter(
            (pl.col("policy") == "luld")
            & (pl.col("metric") == "max_drawdown")
            & (pl.col("calibration") == f"cal_{k}")
        ).row(0, named=True)
        assert got["diff"] == pytest.approx(want["diff"], nan_ok=True)
        assert got["diff_lo"] == pytest.approx(want["diff_lo"], nan_ok=True)
        ps = sub["per_seed"]
        diffs.append(np.array(ps["luld"]["max_drawdown"]) - np.array(ps["none"]["max_drawdown"]))
    pooled = table.filter(
        (pl.col("policy") == "luld")
        & (pl.col("metric") == "max_drawdown")
        & (pl.col("calibration") == "pooled")
    ).row(0, named=True)
    assert pooled["n_pairs"] == 4
    assert pooled["diff"] == pytest.approx(np.concatenate(diffs).mean())
    for row in table.iter_rows(named=True):
        lo, hi = row["diff_lo"], row["diff_hi"]
        want = "below" if hi < 0 else "above" if lo > 0 else "spans"
        assert row["sign"] == want, row
    for s in data["summary"]:
        assert s["share_below"] + s["share_above"] + s["share_spans"] == pytest.approx(1.0)
        assert s["n_calibrations"] == 2 and s["policy"] == "luld"
    # the same command again reuses every cell and gives the same table
    again = compare_ensemble(
        "flash_crash_2010",
        ["none", "luld"],
        ensemble=cal,
        seeds=2,
        out=out,
        sets=SHORT,
        progress=False,
    )
    assert again.equals(table)


def test_the_verdict_says_when_the_conclusion_depends_on_the_calibration():
    mixed = verdict("luld", "max_drawdown", ["below", "above", "spans"], [-1.0, 1.0, 0.1])
    assert "depends on the calibration" in mixed and "1 of 3 calibrations below zero" in mixed
    some = verdict("luld", "max_drawdown", ["below", "spans"], [-1.0, -0.2])
    assert "depends on the calibration" in some and "lower in 2 of 2 and higher in 0" in some
    split = verdict("luld", "volume", ["below", "spans"], [-1.0, 0.5])
    assert "lower in 1 of 2 and higher in 1" in split
    assert "under every accepted calibration" in verdict("mwcb", "volume", ["above"] * 4, [1.0] * 4)
    none = verdict("mwcb", "volume", ["spans"] * 3, [0.1, -0.1, 0.2])
    assert "not distinguished from zero under any" in none


@pytest.mark.parametrize(
    ("values", "extra", "needle"),
    [
        ([], [], "accepted no candidate"),
        ([3.0], ["--set", "impact_withdrawal_multiple=4"], "--set impact_withdrawal_multiple"),
    ],
)
def test_bad_ensembles_are_one_line(tmp_path, capsys, values, extra, needle):
    cal = _calibration(tmp_path / "calib", values)
    args = ["compare", "flash_crash_2010", "--policy", "none", "--policy", "luld"]
    args += ["--seeds", "2", "--ensemble", str(cal), "--out", str(tmp_path / "o"), "--quiet"]
    for s in SHORT:
        args += ["--set", s]
    assert main([*args, *extra]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and needle in err


def test_a_calibration_of_another_scenario_is_refused(tmp_path):
    from marketsim.errors import UsageError

    cal = _calibration(tmp_path / "calib", [3.0], scenario="market_calm")
    with pytest.raises(UsageError, match="market_calm"):
        compare_ensemble(
            "flash_crash_2010", ["none", "luld"], ensemble=cal, seeds=2, out=tmp_path / "o"
        )


@pytest.mark.parametrize(
    "extra, needle",
    [(["--seeds", "1"], "--seeds 1"), (["--seeds", "2", "--workers", "0"], "--workers")],
)
def test_bad_counts_are_refused_before_the_folder_is_claimed(tmp_path, capsys, extra, needle):
    # a refused run leaves no folder behind, so the corrected command can use the same --out
    cal = _calibration(tmp_path / "calib", [3.0])
    out = tmp_path / "o"
    args = ["compare", "flash_crash_2010", "--policy", "none", "--policy", "luld"]
    args += ["--ensemble", str(cal), "--out", str(out), "--quiet", *extra]
    assert main(args) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and needle in err
    assert not out.exists()
