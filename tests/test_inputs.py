"""Inputs that once ended in a traceback are validated: one line naming the field and
the fix on stderr, exit code 2, before any simulation runs."""

from __future__ import annotations

import json
import math
from pathlib import Path

import polars as pl
import pytest

from marketsim.cli import main
from marketsim.errors import UsageError
from tests._other_user import run_cli

HUGE = str(10**20)  # beyond int64


def _one_line_error(capsys, *needles: str) -> str:
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "Traceback" not in err, err
    for n in needles:
        assert n in err, err
    return err


# ---------------------------------------------------------------- config files


def test_binary_toml_is_refused(tmp_path, capsys):
    bad = tmp_path / "bad.toml"
    bad.write_bytes(bytes(range(256)) * 4)
    assert main(["run", "calvano2020", "--config", str(bad), "--out", str(tmp_path / "o")]) == 2
    _one_line_error(capsys, "config file", "not UTF-8")


def test_folder_as_toml_is_refused(tmp_path, capsys):
    assert (
        main(["run", "calvano2020", "--config", str(tmp_path), "--out", str(tmp_path / "o")]) == 2
    )
    _one_line_error(capsys, "config file", "is a folder")


def test_unreadable_toml_is_refused(tmp_path):
    cfg = tmp_path / "secret.toml"
    cfg.write_text("alpha = 0.1\n")
    cfg.chmod(0o000)
    res = run_cli(["run", "calvano2020", "--config", str(cfg), "--out", str(tmp_path / "o")])
    assert res.returncode == 2 and res.stderr.count("\n") == 1, res.stderr
    assert "cannot be read (Permission denied)" in res.stderr


# ---------------------------------------------------------------- numbers too large


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["run", "calvano2020", "--set", f"m={HUGE}"], "m: "),
        (["run", "market_calm", "--set", f"n_noise={HUGE}"], "n_noise"),
        (["run", "market_calm", "--set", f"programme_qty=-{HUGE}"], "programme_qty"),
        (["run", "calvano2020", "--set", f"c=[1, {HUGE}]"], "c[1]"),
        (["run", "calvano2020", "--sessions", HUGE], "--sessions"),
        (["run", "calvano2020", "--seed", HUGE], "--seed"),
        (
            ["compare", "calvano2020", "--policy", "none", "--policy", "none", "--seeds", HUGE],
            "--seeds",
        ),
        (["sweep", "calvano2020", "--grid", "alpha=0.1,0.2", "--seeds", HUGE], "--seeds"),
    ],
)
def test_integers_beyond_int64_are_refused(tmp_path, capsys, args, needle):
    assert main([*args, "--out", str(tmp_path / "o")]) == 2
    _one_line_error(capsys, needle, "64-bit")


# ---------------------------------------------------------------- --out


def test_out_that_is_a_file_or_below_one_is_refused(tmp_path, capsys):
    afile = tmp_path / "afile"
    afile.write_text("x")
    for out, needle in [
        (afile, "is a file, not a folder"),
        (Path("/dev/null"), "is a file, not a folder"),
        (afile / "below", f"{afile} is a file"),
        (afile / "deep" / "below", f"{afile} is a file"),
    ]:
        assert main(["run", "calvano2020", "--sessions", "1", "--out", str(out)]) == 2
        _one_line_error(capsys, f"--out {out}", needle)
    assert afile.read_text() == "x"


def test_out_in_a_read_only_folder_is_refused(tmp_path):
    ro = tmp_path / "ro"
    ro.mkdir()
    ro.chmod(0o555)
    for out in (ro, ro / "new"):
        res = run_cli(["run", "calvano2020", "--sessions", "1", "--out", str(out)])
        assert res.returncode == 2 and res.stderr.count("\n") == 1, res.stderr
        assert f"--out {out}: cannot write there (Permission denied)" in res.stderr
    assert list(ro.iterdir()) == []


# ---------------------------------------------------------------- report


def _run_folder(tmp_path: Path) -> Path:
    run = tmp_path / "run"
    run.mkdir()
    pl.DataFrame({"session": [0, 1], "profit_gain": [0.8, 0.9]}).write_parquet(
        run / "sessions.parquet"
    )
    (run / "summary.json").write_text(json.dumps({"scenario": "calvano2020"}))
    return run


def test_report_on_corrupt_parquet_is_refused(tmp_path, capsys):
    run = _run_folder(tmp_path)
    (run / "sessions.parquet").write_bytes(b"PAR1" + bytes(500))
    assert main(["report", str(run)]) == 2
    _one_line_error(capsys, "sessions.parquet: not a readable Parquet file")


@pytest.mark.parametrize("content", ["[1, 2]", '"text"', "3", "null"])
def test_report_on_summary_that_is_not_an_object_is_refused(tmp_path, capsys, content):
    run = _run_folder(tmp_path)
    (run / "summary.json").write_text(content)
    assert main(["report", str(run)]) == 2
    _one_line_error(capsys, "summary.json: holds a JSON", "not an object")


# ---------------------------------------------------------------- replay traces

GOOD = {
    "session": 0,
    "firm": 0,
    "period": 3,
    "status": "ok",
    "source": "llm",
    "price": 1.7,
    "plans": "p",
    "insights": "i",
    "tokens": 12,
}


@pytest.mark.parametrize(
    ("change", "needle"),
    [
        ({"session": None}, "'session' is None"),
        ({"firm": "0"}, "'firm' is '0'"),
        ({"period": 1.5}, "'period' is 1.5"),
        ({"period": True}, "'period' is True"),
        ({"tokens": "many"}, "'tokens' is 'many'"),
        ({"status": 3}, "'status' is 3"),
        ({"price": "1.7"}, "'price' is '1.7', not a number"),
        ({"plans": None}, "'plans' is None"),
        ("drop:firm", "no 'firm'"),
        ("list", "not a JSON object"),
    ],
)
def test_replay_trace_with_wrong_types_or_missing_keys(tmp_path, change, needle):
    from marketsim.llm_backend import load_trace

    if change == "list":
        rec = [1, 2]
    elif isinstance(change, str):
        rec = {k: v for k, v in GOOD.items() if k != change.split(":")[1]}
    else:
        rec = {**GOOD, **change}
    trace = tmp_path / "llm_trace.jsonl"
    trace.write_text(json.dumps(GOOD) + "\n" + json.dumps(rec) + "\n")
    with pytest.raises(UsageError) as info:
        load_trace(trace)
    msg = str(info.value)
    assert msg.startswith(f"llm.replay: {trace} line 2: ") and needle in msg and "\n" not in msg
    good = tmp_path / "good.jsonl"
    good.write_text(json.dumps(GOOD) + "\n")
    assert load_trace(good)[(0, 0, 3)]["attempts"][0]["price"] == 1.7


def test_replay_trace_error_through_cli(tmp_path, capsys):
    trace = tmp_path / "t.jsonl"
    trace.write_text(json.dumps({**GOOD, "period": "x"}) + "\n")
    out = tmp_path / "o"
    assert (
        main(["run", "llm_pricing", "--sessions", "1", "--replay", str(trace), "--out", str(out)])
        == 2
    )
    _one_line_error(capsys, "llm.replay", "line 1", "'period' is 'x'")


# ---------------------------------------------------------------- sweep grid and scheduler


@pytest.mark.parametrize(
    ("grid", "needle"),
    [
        ("alpha=a:b:3", "'a' is not a number"),
        ("alpha=1e999:1:3", "'1e999' is not a finite number"),
        ("alpha=nan:0.2:3", "'nan' is not a finite number"),
        ("alpha=x,y", "alpha: Input should be a valid number"),
        ("alpha=inf,0.1", "finite number"),
        ("alpha=0.1:0.2:2.5", "COUNT must be a whole number"),
    ],
)
def test_sweep_grid_non_numbers(tmp_path, capsys, grid, needle):
    args = ["sweep", "calvano2020", "--grid", grid, "--seeds", "2", "--out", str(tmp_path / "o")]
    assert main(args) == 2
    _one_line_error(capsys, needle)
    assert not (tmp_path / "o").exists()


@pytest.mark.parametrize("opt", ['seeds = "x"', "seeds = 1.5", "chunk = true", "seed = -1"])
def test_sweep_toml_options_of_wrong_type(tmp_path, capsys, opt):
    cfg = tmp_path / "s.toml"
    cfg.write_text(f'scenario = "calvano2020"\n[grid]\nalpha = [0.1, 0.2]\n[sweep]\n{opt}\n')
    assert main(["sweep", "--config", str(cfg), "--out", str(tmp_path / "o")]) == 2
    _one_line_error(capsys, "[sweep] " + opt.split()[0])


@pytest.mark.parametrize(
    "address", ["foo", "tcp://host", "http://127.0.0.1:8786", "tcp://h:99999", "tcp://h:abc", ""]
)
def test_sweep_malformed_scheduler(tmp_path, capsys, address):
    args = ["sweep", "calvano2020", "--grid", "alpha=0.1,0.2", "--seeds", "2"]
    assert main([*args, "--scheduler", address, "--out", str(tmp_path / "o")]) == 2
    _one_line_error(capsys, "--scheduler", "SCHEME://HOST:PORT")


# ---------------------------------------------------------------- values the model cannot hold


@pytest.mark.parametrize(
    ("scenario", "item", "needle"),
    [
        (
            "market_calm",
            "fundamental_sigma=1e308",
            "fundamental_sigma: Input should be less than or equal to 0.01",
        ),
        ("market_calm", "impact_per_contract=1e308", "less than or equal to 0.001"),
        ("market_calm", "tick_size=1e308", "tick_size"),
        ("flash_crash_2010", "activity_sigma=1e308", "less than or equal to 5"),
        ("calvano2020", "a=1e308", "a: must be within [-1000, 1000]"),
        ("calvano2020", "c=[1, -1e308]", "c: must be within [-1000, 1000]"),
        ("calvano2020", "mu=0.001", "outside [-25, 25]"),
        ("calvano2020", "a0=-100", "outside [-25, 25]"),
        ("llm_pricing", "a=1e308", "a: Input should be less than or equal to 1000"),
        ("llm_pricing", "mu=1e-9", "outside [-25, 25]"),
    ],
)
def test_values_beyond_the_model_are_refused_with_the_range(
    tmp_path, capsys, scenario, item, needle
):
    assert main(["run", scenario, "--set", item, "--out", str(tmp_path / "o")]) == 2
    _one_line_error(capsys, needle)
    assert not (tmp_path / "o").exists()


def test_nan_headline_fails_loudly(tmp_path, capsys, monkeypatch):
    from marketsim.experiments.run import check_headline
    from marketsim.scenarios import calvano2020

    def nan_run(spec, *, sessions, seed, out, threads, progress):
        Path(out, "sessions.parquet").write_bytes(b"")
        return {**spec.describe(), "profit_gain_mean": math.nan}

    monkeypatch.setattr(calvano2020, "run", nan_run)
    monkeypatch.setattr("marketsim.experiments.run.run_detectors", lambda out, params: {})
    out = tmp_path / "o"
    assert main(["run", "calvano2020", "--sessions", "1", "--out", str(out)]) == 2
    _one_line_error(capsys, "headline profit_gain_mean is not a number", str(out))
    assert json.loads((out / "summary.json").read_text())["profit_gain_mean"] is None
    # one firm: the profit gain is undefined by construction, reported as missing
    check_headline("llm_pricing", {"params": {"n_firms": 1}, "profit_gain_mean": None}, out)
    check_headline("market_calm", {"max_drawdown": 0.05}, out)
    with pytest.raises(UsageError, match="max_drawdown"):
        check_headline("market_calm", {"max_drawdown": math.inf}, out)


# ---------------------------------------------------------------- detect


@pytest.mark.parametrize(
    "value, needle",
    [("1e-9", "at most 50,000,000"), ("0", "positive"), ("-1", "positive"), ("nan", "positive")],
)
def test_detect_feedback_sample_seconds_is_bounded(tmp_path, capsys, value, needle):
    """A sampling step of 1e-9 s over a half-hour tape asked for 14.7 TiB."""
    t = [0.5 * i for i in range(4000)]
    tape = tmp_path / "tape.csv"
    pl.DataFrame({"t": t, "price": [100.0 + (i % 7) * 0.01 for i in range(4000)]}).write_csv(tape)
    assert main(["detect", "feedback", str(tape), "--sample-seconds", value]) == 2
    _one_line_error(capsys, "--sample-seconds", needle)
