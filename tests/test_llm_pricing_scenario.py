"""Scenario ``llm_pricing``: same output columns and keys as ``calvano2020``, seeded."""

from __future__ import annotations

import json

import polars as pl
import pytest

from marketsim.cli import main as cli_main

# the calvano2020 format (sessions.parquet columns, summary.json keys) for n = 2
CALVANO_COLUMNS = {
    "session": pl.Int64,
    "seed": pl.Int64,
    "converged": pl.Boolean,
    "periods": pl.Int64,
    "cycle_length": pl.Int64,
    "cycle_action_firm1": pl.List(pl.Int64),
    "cycle_prices_firm1": pl.List(pl.Float64),
    "cycle_profit_firm1": pl.Float64,
    "cycle_action_firm2": pl.List(pl.Int64),
    "cycle_prices_firm2": pl.List(pl.Float64),
    "cycle_profit_firm2": pl.Float64,
    "price_mean": pl.Float64,
    "price_index": pl.Float64,
    "profit_gain": pl.Float64,
    "outcome": pl.String,
    "nash_on_path": pl.Boolean,
    "deviation_profitable": pl.Boolean,
    "rival_response": pl.Float64,
    "punishment_length": pl.Float64,
}
CALVANO_KEYS = {
    "scenario",
    "version",
    "params",
    "sessions",
    "seed",
    "profit_gain_mean",
    "profit_gain_sd",
    "price_index_mean",
    "converged_share",
    "periods_median",
    "nash_price",
    "monopoly_price",
    "nash_profit",
    "monopoly_profit",
    "outcome_shares",
    "deviation_unprofitable_share",
    "nash_on_path_share",
    "rival_response_mean",
    "punishment_length_mean",
    "wall_seconds",
    "ns_per_period",
    "python",
    "versions",
    "git_revision",
}


@pytest.fixture(scope="module")
def p1_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("llm") / "p1"
    code = cli_main(
        [
            "run",
            "llm_pricing",
            "--set",
            "persona=P1",
            "--set",
            "n_firms=2",
            "--sessions",
            "200",
            "--seed",
            "4",
            "--out",
            str(out),
            "--quiet",
        ]
    )
    assert code == 0
    return out


def test_outputs_match_calvano_format(p1_run):
    frame = pl.read_parquet(p1_run / "sessions.parquet")
    assert frame.height == 200
    for name, dtype in CALVANO_COLUMNS.items():
        assert frame.schema[name] == dtype, name
    summary = json.loads((p1_run / "summary.json").read_text())
    assert CALVANO_KEYS <= set(summary)
    assert set(summary["outcome_shares"]) == {
        "symmetric_constant",
        "asymmetric_constant",
        "two_cycle",
        "longer_cycle",
    }
    assert abs(sum(summary["outcome_shares"].values()) - 1.0) < 1e-12
    assert summary["params"]["persona"] == "P1" and summary["scenario"] == "llm_pricing"
    # the cycle is periods 101-300 and the grid indices point at the nearest grid price
    grid = summary["price_grid"]
    row = frame.row(0, named=True)
    assert row["cycle_length"] == 200 == len(row["cycle_prices_firm1"])
    for p, a in zip(row["cycle_prices_firm1"][:20], row["cycle_action_firm1"][:20], strict=True):
        assert min(range(15), key=lambda k: abs(grid[0][k] - p)) == a
    imp = pl.read_parquet(p1_run / "impulse.parquet")
    assert set(imp.columns) == {"session", "t", "firm", "price"}
    assert imp["t"].min() == -3


def test_p1_duopoly_figures(p1_run):
    # Fish et al. (2024): P1 lands well above Nash and near monopoly
    s = json.loads((p1_run / "summary.json").read_text())
    assert s["price_index_mean"] > 0.7
    assert s["profit_gain_mean"] > 0.85
    assert s["above_nash_share_mean"] > 0.95
    assert s["nash_on_path_share"] < 0.05
    # a deviation is answered by a price cut (the fear state makes victims match)
    assert s["rival_response_mean"] < 0
    assert s["punishment_length_mean"] > 1


def test_same_seed_same_files_and_monopoly(tmp_path):
    args = [
        "run",
        "llm_pricing",
        "--sessions",
        "20",
        "--seed",
        "3",
        "--quiet",
        "--set",
        "periods=150",
        "--set",
        "persona=P2",
        "--set",
        "n_firms=3",
    ]
    assert cli_main([*args, "--out", str(tmp_path / "a"), "--threads", "1"]) == 0
    assert cli_main([*args, "--out", str(tmp_path / "b"), "--threads", "2"]) == 0
    a = pl.read_parquet(tmp_path / "a" / "sessions.parquet")
    assert a.equals(pl.read_parquet(tmp_path / "b" / "sessions.parquet"))
    assert "cycle_action_firm3" in a.columns
    out = tmp_path / "mono"
    assert (
        cli_main(
            [
                "run",
                "llm_pricing",
                "--sessions",
                "50",
                "--seed",
                "1",
                "--quiet",
                "--set",
                "n_firms=1",
                "--out",
                str(out),
            ]
        )
        == 0
    )
    s = json.loads((out / "summary.json").read_text())
    assert s["profit_ratio_mean"] >= 0.99  # Fish et al. (2024) monopoly: >= 99% of optimum
    assert s["profit_gain_mean"] is None  # undefined when Nash = monopoly


def test_bad_persona_is_one_line_error(tmp_path, capsys):
    code = cli_main(["run", "llm_pricing", "--out", str(tmp_path), "--set", "persona=P7"])
    err = capsys.readouterr().err
    assert code == 2 and "persona" in err and err.count("\n") == 1


@pytest.mark.parametrize(
    "sets",
    [
        {"periods": 300},
        {"periods": 300, "rivals": "qlearning", "q_beta": 4e-5, "q_conv_window": 20_000},
    ],
)
def test_a_session_is_the_same_whatever_the_split(sets):
    """Sessions start.. of a seed do not depend on how a run is split (what a sweep's
    tasks need): sessions 3-4 of a 5-session run equal a 2-session run from start 3."""
    from marketsim.scenarios.llm_pricing import Spec, simulate

    spec = Spec(**sets)
    whole, imp_whole, _ = simulate(spec, sessions=5, seed=3)
    part, imp_part, _ = simulate(spec, sessions=2, seed=3, start=3)
    assert part["session"].to_list() == [3, 4]
    assert whole.filter(pl.col("session") >= 3).equals(part)
    assert imp_whole.filter(pl.col("session") >= 3).equals(imp_part)
    assert (
        not whole.filter(pl.col("session") == 0)
        .drop("session")
        .equals(part.filter(pl.col("session") == 3).drop("session"))
    )


def test_llm_pricing_sweeps_and_a_live_endpoint_is_refused(tmp_path, capsys):
    from marketsim.experiments.sweep import point_summary

    out = tmp_path / "sw"
    args = ["sweep", "llm_pricing", "--grid", "temperature=0.5,1.5", "--seeds", "6"]
    args += ["--set", "periods=300", "--workers", "1", "--quiet"]
    assert cli_main([*args, "--out", str(out)]) == 0
    points = point_summary(out)
    assert points["sessions"].to_list() == [6, 6]
    assert points["temperature"].to_list() == [0.5, 1.5]
    live = ["--set", "llm.endpoint=http://127.0.0.1:9/v1", "--set", "llm.model=m"]
    assert cli_main([*args, *live, "--out", str(tmp_path / "live")]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: llm.endpoint: a sweep does not call a live LLM")
    assert not (tmp_path / "live").exists()
