"""The calvano2020 scenario as users run it: CLI, script, outputs and bad input."""

import json
import subprocess
import sys
from pathlib import Path

import polars as pl
import pytest

from marketsim.cli import main

ROOT = Path(__file__).resolve().parents[1]
SUMMARY_KEYS = {
    "profit_gain_mean",
    "profit_gain_sd",
    "converged_share",
    "periods_median",
    "nash_price",
    "monopoly_price",
    "outcome_shares",
    "deviation_unprofitable_share",
    "wall_seconds",
    "ns_per_period",
}
SESSION_COLUMNS = {
    "session",
    "seed",
    "converged",
    "periods",
    "cycle_length",
    "cycle_prices_firm1",
    "cycle_prices_firm2",
    "cycle_profit_firm1",
    "cycle_profit_firm2",
    "profit_gain",
    "nash_on_path",
    "deviations",
    "deviations_unprofitable",
    "rival_response",
    "punishment_length",
}
FAST = ["--set", "beta=4e-5", "--set", "conv_window=20000"]


def test_run_writes_the_documented_files(tmp_path):
    out = tmp_path / "run"
    assert (
        main(
            [
                "run",
                "calvano2020",
                "--sessions",
                "8",
                "--seed",
                "3",
                "--threads",
                "2",
                "--set",
                "alpha=0.2",
                *FAST,
                "--out",
                str(out),
                "--quiet",
            ]
        )
        == 0
    )
    summary = json.loads((out / "summary.json").read_text())
    assert SUMMARY_KEYS <= summary.keys()
    assert summary["params"]["alpha"] == 0.2
    assert set(summary["outcome_shares"]) == {
        "symmetric_constant",
        "asymmetric_constant",
        "two_cycle",
        "longer_cycle",
    }
    assert abs(sum(summary["outcome_shares"].values()) - 1) < 1e-12
    assert summary["detectors"]["kind"] == "pricing"
    assert isinstance(summary["detectors"]["flagged"], bool)
    sessions = pl.read_parquet(out / "sessions.parquet")
    assert SESSION_COLUMNS <= set(sessions.columns)
    assert sessions.height == 8
    assert sessions["profit_gain"].mean() == pytest.approx(summary["profit_gain_mean"])
    impulse = pl.read_parquet(out / "impulse.parquet")
    assert impulse.columns == ["session", "t", "firm", "price"]
    assert impulse.height == 8 * 2 * 29


def test_same_seed_same_files(tmp_path):
    args = ["run", "calvano2020", "--sessions", "4", "--seed", "9", *FAST, "--quiet"]
    main([*args, "--threads", "1", "--out", str(tmp_path / "a")])
    main([*args, "--threads", "2", "--out", str(tmp_path / "b")])
    a = pl.read_parquet(tmp_path / "a" / "sessions.parquet")
    b = pl.read_parquet(tmp_path / "b" / "sessions.parquet")
    assert a.equals(b)


def test_three_firms_from_a_toml_file(tmp_path):
    cfg = tmp_path / "three.toml"
    cfg.write_text(
        'scenario = "calvano2020"\nn_firms = 3\nm = 5\nbeta = 1e-4\nconv_window = 5000\n'
    )
    out = tmp_path / "run3"
    assert (
        main(
            [
                "run",
                "calvano2020",
                "--config",
                str(cfg),
                "--sessions",
                "3",
                "--out",
                str(out),
                "--quiet",
            ]
        )
        == 0
    )
    sessions = pl.read_parquet(out / "sessions.parquet")
    assert "cycle_profit_firm3" in sessions.columns
    summary = json.loads((out / "summary.json").read_text())
    assert len(summary["nash_price"]) == 3


@pytest.mark.parametrize(
    ("sets", "needle"),
    [
        (["foo=1"], "foo: unknown parameter"),
        (["alpha=0"], "alpha:"),
        (["alpha=1.5"], "alpha:"),
        (["delta=1"], "delta:"),
        (["m=1"], "m:"),
        (["n_firms=4", "k=2"], "GiB per session"),
        (["alpha=abc"], "alpha:"),
        (["c=[1, 2, 3]"], "c has 3 values"),
    ],
)
def test_bad_parameters_give_one_line_and_exit_2(sets, needle, tmp_path, capsys):
    args = ["run", "calvano2020", "--sessions", "2", "--out", str(tmp_path / "x")]
    for s in sets:
        args += ["--set", s]
    assert main(args) == 2
    err = capsys.readouterr().err
    assert needle in err
    assert err.count("\n") == 1 and "Traceback" not in err
    assert not (tmp_path / "x").exists()


def test_scenario_script_runs_like_the_cli(tmp_path):
    out = tmp_path / "script"
    proc = subprocess.run(
        [
            sys.executable,
            str(ROOT / "scenarios" / "calvano2020.py"),
            "--sessions",
            "2",
            "--seed",
            "1",
            *FAST,
            "--out",
            str(out),
            "--quiet",
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr
    assert pl.read_parquet(out / "sessions.parquet").height == 2
    bad = subprocess.run(
        [
            sys.executable,
            str(ROOT / "scenarios" / "calvano2020.py"),
            "--set",
            "delta=2",
            "--out",
            str(out),
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert bad.returncode == 2 and "delta:" in bad.stderr and "Traceback" not in bad.stderr


def test_run_without_sessions_runs_the_default_number(tmp_path, monkeypatch):
    """Without --sessions the memory check counts the default 1,000 sessions (it used to
    end in an internal error, None times a byte count, before any work)."""
    from marketsim.errors import UsageError
    from marketsim.scenarios import calvano2020 as calvano

    spec = calvano.Spec()
    one = calvano.QLearningSessions.bytes_needed(spec.n_firms, spec.m, spec.k, 1)
    monkeypatch.setattr(calvano, "memory_bytes", lambda: 100 * one)
    calvano.check_run(spec, seed=0, sessions=50)  # 50 sessions: within 60% of memory
    with pytest.raises(UsageError, match="--sessions 1000"):
        calvano.check_run(spec, seed=0, sessions=None)
    monkeypatch.undo()
    fast = ["--set", "beta=0.5", "--set", "conv_window=10", "--set", "max_periods=100"]
    code = main(["run", "calvano2020", "--seed", "0", "--out", str(tmp_path), "--quiet", *fast])
    assert code == 0
    assert pl.read_parquet(tmp_path / "sessions.parquet").height == 1000
