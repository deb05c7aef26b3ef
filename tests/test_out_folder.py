"""Runs never mix: ``--out`` is checked before any work, an earlier run is replaced only
with ``--overwrite``, and cached compare cells and sweep parts are keyed by the scenario's
and marketsim's versions."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

import marketsim
from marketsim.cli import main
from marketsim.errors import UsageError
from marketsim.experiments.out_folder import MARK, claim, read_mark

FAST = ["--sessions", "2", "--set", "beta=4e-4", "--set", "conv_window=2000", "--quiet"]


def _err(capsys) -> str:
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "Traceback" not in err, err
    return err


def test_run_into_a_folder_holding_another_run_is_refused(tmp_path, capsys):
    out = tmp_path / "run"
    assert main(["run", "calvano2020", *FAST, "--out", str(out)]) == 0
    before = {p.name: p.stat().st_mtime_ns for p in out.iterdir()}
    assert "sessions.parquet" in before and read_mark(out)["scenario"] == "calvano2020"
    capsys.readouterr()
    code = main(["run", "market_calm", "--set", "session_seconds=60", "--out", str(out)])
    assert code == 2
    err = _err(capsys)
    assert f"--out {out}: holds a run of calvano2020" in err and "--overwrite" in err
    assert {p.name: p.stat().st_mtime_ns for p in out.iterdir()} == before  # untouched
    # the same command again is refused too: a run does not resume
    assert main(["run", "calvano2020", *FAST, "--out", str(out)]) == 2
    assert "earlier run of this same command" in _err(capsys)


def test_overwrite_removes_the_old_run_first(tmp_path, capsys):
    out = tmp_path / "run"
    assert main(["run", "calvano2020", *FAST, "--out", str(out)]) == 0
    (out / "report.html").write_text("a report of the seed-0 run")
    old_key = read_mark(out)["key"]
    assert main(["run", "calvano2020", *FAST, "--seed", "1", "--out", str(out), "--overwrite"]) == 0
    names = sorted(p.name for p in out.iterdir())
    assert names == sorted([MARK, "impulse.parquet", "sessions.parquet", "summary.json"])
    assert json.loads((out / "summary.json").read_text())["seed"] == 1
    assert read_mark(out)["key"] != old_key
    assert not list(tmp_path.glob(".run.old-*"))  # the renamed old run is gone


def test_overwrite_never_removes_files_marketsim_did_not_write(tmp_path, capsys):
    out = tmp_path / "mine"
    out.mkdir()
    (out / "thesis.tex").write_text("years of work")
    assert main(["run", "calvano2020", *FAST, "--out", str(out), "--overwrite"]) == 2
    assert "not a marketsim run" in _err(capsys)
    assert main(["run", "calvano2020", *FAST, "--out", str(out)]) == 2
    assert "is not empty" in _err(capsys)
    assert [p.name for p in out.iterdir()] == ["thesis.tex"]


def test_claim_resumes_the_same_command_and_refuses_another(tmp_path):
    ident = {"version": 1, "policies": ["none", "luld"], "specs": [{"x": 1}]}
    claim(tmp_path / "c", command="compare", scenario="s", identity=ident, resumable=True)
    (tmp_path / "c" / "cells").mkdir()
    claim(tmp_path / "c", command="compare", scenario="s", identity=ident, resumable=True)
    other = {**ident, "policies": ["none", "mwcb"]}
    with pytest.raises(UsageError, match="holds a compare of s"):
        claim(tmp_path / "c", command="compare", scenario="s", identity=other, resumable=True)
    assert (tmp_path / "c" / "cells").is_dir()


def test_an_attempt_that_wrote_nothing_does_not_block(tmp_path):
    out = tmp_path / "o"
    claim(out, command="run", scenario="a", identity={"x": 1}, resumable=False)
    claim(out, command="run", scenario="b", identity={"x": 2}, resumable=False)
    assert read_mark(out)["scenario"] == "b"


def test_overwrite_falls_back_to_removing_entries_when_the_folder_cannot_move(
    tmp_path, monkeypatch
):
    out = tmp_path / "o"
    claim(out, command="run", scenario="a", identity={"x": 1}, resumable=False)
    (out / "cells" / "p").mkdir(parents=True)
    (out / "summary.json").write_text("{}")

    def no_rename(src, dst):
        raise OSError(16, "Device or resource busy")

    monkeypatch.setattr("marketsim.experiments.out_folder.os.rename", no_rename)
    claim(out, command="run", scenario="b", identity={"x": 2}, resumable=False, overwrite=True)
    assert [p.name for p in out.iterdir()] == [MARK] and read_mark(out)["scenario"] == "b"


def test_compare_cell_key_includes_marketsim_version(tmp_path, monkeypatch):
    from marketsim.experiments.compare import run_cell
    from marketsim.scenarios.calvano2020 import Spec

    calls = []

    class Scenario:
        @staticmethod
        def run(spec, *, sessions, seed, out, threads, progress):
            calls.append(seed)
            Path(out).mkdir(parents=True, exist_ok=True)
            return {}

        @staticmethod
        def compare_metrics(out, summary, spec):
            return {"delta": 0.5}

    cell = tmp_path / "cell"
    for _ in range(2):
        assert run_cell(Scenario, Spec(), seed=3, sessions=1, out=cell, threads=1) == {"delta": 0.5}
    assert calls == [3]  # the second call reused the cell
    monkeypatch.setattr(marketsim, "__version__", "99.0.0")
    run_cell(Scenario, Spec(), seed=3, sessions=1, out=cell, threads=1)
    assert calls == [3, 3]  # a new marketsim recomputes it
    monkeypatch.setattr(Spec, "version", Spec.version + 1)
    run_cell(Scenario, Spec(), seed=3, sessions=1, out=cell, threads=1)
    assert calls == [3, 3, 3]  # so does a new scenario version


def test_sweep_part_keys_include_marketsim_version(monkeypatch):
    from marketsim.experiments.sweep import plan_sweep

    def keys():
        plan = plan_sweep("calvano2020", {"alpha": [0.1, 0.2]}, seeds=4, chunk=2)
        return {t.key for t in plan.tasks}

    first = keys()
    assert keys() == first and len(first) == 4
    monkeypatch.setattr(marketsim, "__version__", "99.0.0")
    assert keys().isdisjoint(first)


def test_compare_into_another_compare_is_refused_before_any_cell(tmp_path, capsys):
    out = tmp_path / "cmp"
    base = ["compare", "calvano2020", "--seeds", "2", *FAST, "--out", str(out)]
    claim(
        out,
        command="compare",
        scenario="calvano2020",
        identity={"policies": ["none", "price_cap:cap=1.6"]},
        resumable=True,
    )
    (out / "compare.json").write_text("{}")
    assert main([*base, "--policy", "none", "--policy", "price_cap:cap=1.7"]) == 2
    assert "holds a compare of calvano2020" in _err(capsys)
    assert sorted(p.name for p in out.iterdir()) == [MARK, "compare.json"]
