"""The Python API (``import marketsim as ms``): the same numbers as the command line,
files only with ``out=``, errors naming the parameter, and a light ``import marketsim``."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

import marketsim as ms
from marketsim.cli import main

FAST = {"beta": 4e-5, "conv_window": 20_000}


def test_run_returns_the_cli_numbers(tmp_path):
    res = ms.run("calvano2020", sessions=3, seed=4, **FAST)
    sets = [x for k, v in FAST.items() for x in ("--set", f"{k}={v}")]
    argv = ["run", "calvano2020", "--sessions", "3", "--seed", "4", *sets, "--quiet"]
    assert main([*argv, "--out", str(tmp_path / "cli")]) == 0
    cli = json.loads((tmp_path / "cli" / "summary.json").read_text())
    assert res.summary["profit_gain_mean"] == cli["profit_gain_mean"]
    assert res.summary["detectors"]["verdict"] == cli["detectors"]["verdict"]
    import polars as pl

    assert res.sessions.equals(pl.read_parquet(tmp_path / "cli" / "sessions.parquet"))
    assert res.out is None and set(res.tables) == {"sessions", "impulse"}


def test_run_writes_files_only_with_out(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    ms.run("calvano2020", sessions=2, seed=0, **FAST)
    assert list(tmp_path.iterdir()) == []
    res = ms.run("calvano2020", sessions=2, seed=0, out=tmp_path / "kept", **FAST)
    assert res.out == tmp_path / "kept"
    assert (res.out / "summary.json").is_file() and (res.out / "sessions.parquet").is_file()
    assert res.sessions.height == 2
    assert ms.report(res).name == "report.html"


def test_bad_parameter_and_missing_table_name_what_is_wrong():
    with pytest.raises(ms.UsageError, match="alpha"):
        ms.run("calvano2020", sessions=2, alpha=1.5)
    with pytest.raises(ms.UsageError, match="unknown parameter"):
        ms.run("calvano2020", sessions=2, alpah=0.1)
    with pytest.raises(ms.UsageError, match="unknown scenario"):
        ms.run("calvano2021")
    res = ms.run("calvano2020", sessions=2, **FAST)
    with pytest.raises(AttributeError, match="no table 'trades'"):
        _ = res.trades
    with pytest.raises(ms.UsageError, match="out="):
        ms.report(res)


def test_compare_paired_difference_is_the_mean_of_per_seed_differences():
    cmp = ms.compare("calvano2020", ["none", "price_cap:cap=1.7"], seeds=2, sessions=2, **FAST)
    row = cmp.table.filter(
        (cmp.table["policy"] == "price_cap:cap=1.7") & (cmp.table["metric"] == "delta")
    ).row(0, named=True)
    per_seed = cmp.summary["per_seed"]
    capped, base = per_seed["price_cap:cap=1.7"]["delta"], per_seed["none"]["delta"]
    diffs = [a - b for a, b in zip(capped, base, strict=True)]
    assert row["diff"] == pytest.approx(sum(diffs) / len(diffs), abs=1e-12)
    assert cmp.out is None


def test_scenarios_params_and_detect():
    assert ms.scenarios() == [
        "calvano2020",
        "flash_crash_2010",
        "llm_pricing",
        "market_calm",
        "market_making",
    ]
    import marketsim.scenarios  # noqa: F401  (the sub-package is the same callable)

    assert ms.scenarios() == marketsim.scenarios()
    table = ms.params("calvano2020")
    assert table.filter(table["name"] == "alpha")["default"].item() == "0.15"
    assert table.filter(table["name"] == "policy")["default"].item() == "[]"
    luld = ms.params("luld")
    assert luld.filter(luld["name"] == "band_pct").row(0) == (
        "band_pct",
        "float or None",
        "(0, 1)",
        "None",
        "override of the band",
    )
    assert set(vars(ms.detect)) == {"collusion", "crash", "feedback", "spreads"}


def test_import_and_help_load_no_simulator():
    """``import marketsim`` and ``marketsim --help`` import neither numba nor polars."""
    code = (
        "import sys, marketsim, marketsim.cli as c; c.build_parser(); "
        "print(sorted(m for m in ('numba', 'polars', 'scipy', 'altair') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
