"""``marketsim detect``: verdicts, JSON, and one-line errors with exit code 2."""

from __future__ import annotations

import json

import numpy as np
import polars as pl
import pytest

from marketsim.cli import main


@pytest.fixture
def files(tmp_path):
    rng = np.random.default_rng(np.random.SeedSequence(31))
    T = 300
    collusive = pl.DataFrame(
        {
            "t": np.tile(np.arange(T), 2),
            "firm": np.repeat([1, 2], T),
            "price": 1.9 + rng.normal(0, 0.002, 2 * T),
        }
    )
    collusive.write_csv(tmp_path / "collusive.csv")
    lp = np.cumsum(rng.normal(0, 1e-4, 7200))
    lp[3000:3300] += np.linspace(0, -0.1, 300)
    lp[3300:3900] += np.linspace(-0.1, -0.02, 600)  # 80% rebound
    lp[3900:] += -0.02
    pl.DataFrame({"time": np.arange(7200.0), "px": 50 * np.exp(lp)}).write_parquet(
        tmp_path / "crash.parquet"
    )
    n = 3000
    t_ns = np.cumsum(rng.integers(1, 10**9, n))
    pl.DataFrame(
        {
            "t_ns": t_ns,
            "price_tick": 10_000 + np.cumsum(rng.choice([-1, 1], n)),
            "qty": rng.integers(1, 5, n),
            "aggressor_side": rng.integers(0, 2, n),
        }
    ).write_parquet(tmp_path / "trades.parquet")
    return tmp_path


def test_collusion_verdict_with_a_known_logit_market(files, capsys):
    assert main(["detect", "collusion", str(files / "collusive.csv"), "--logit", ""]) == 0
    out = capsys.readouterr().out
    assert out.startswith("FLAGGED") and "demand_model" in out


def test_crash_json_names_the_planted_crash(files, capsys):
    assert (
        main(
            [
                "detect",
                "crash",
                str(files / "crash.parquet"),
                "--time-col",
                "time",
                "--price-col",
                "px",
                "--json",
            ]
        )
        == 0
    )
    res = json.loads(capsys.readouterr().out)
    assert res["flagged"] and len(res["drawdowns"]) == 1
    assert abs(res["drawdowns"][0]["start_t"] - 3000) <= 20
    assert res["drawdowns"][0]["depth"] == pytest.approx(0.095, abs=0.01)


def test_feedback_reads_a_marketsim_trade_tape_as_is(files, capsys):
    assert main(["detect", "feedback", str(files / "trades.parquet"), "--json"]) == 0
    res = json.loads(capsys.readouterr().out)
    assert res["hawkes"]["events"] == 3000
    assert res["hawkes"]["branching_ratio"] < 0.15  # uniform gaps: no self-excitation
    assert {"vpin", "sign_autocorrelation", "variance_ratio"} <= res.keys()


def _bad(tmp_path, name, frame):
    path = tmp_path / name
    frame.write_csv(path)
    return str(path)


@pytest.mark.parametrize(
    "kind, frame, extra, message",
    [
        ("crash", pl.DataFrame({"t": [1.0, 2.0], "p": [1.0, 2.0]}), [], "column 'price' not found"),
        (
            "crash",
            pl.DataFrame({"t": np.arange(20.0)[::-1], "price": np.ones(20)}),
            [],
            "not sorted",
        ),
        (
            "crash",
            pl.DataFrame({"t": np.repeat(np.arange(10.0), 2), "price": np.ones(20)}),
            [],
            "duplicate timestamps",
        ),
        (
            "crash",
            pl.DataFrame({"t": np.arange(20.0), "price": [1.0] * 5 + [None] + [1.0] * 14}),
            [],
            "missing, NaN",
        ),
        (
            "crash",
            pl.DataFrame({"t": np.arange(5.0), "price": np.ones(5)}),
            [],
            "only 5 observations",
        ),
        (
            "feedback",
            pl.DataFrame({"t": np.arange(30.0), "price": np.ones(30)}),
            [],
            "only 30 observations",
        ),
        (
            "collusion",
            pl.DataFrame({"t": np.arange(30), "price": np.ones(30)}),
            [],
            "column 'firm' not found",
        ),
        (
            "collusion",
            pl.DataFrame({"t": np.arange(30), "firm": 1, "price": np.ones(30)}),
            ["--price-col", "cost"],
            "column 'cost' not found",
        ),
    ],
)
def test_bad_input_is_one_line_and_exit_code_2(tmp_path, capsys, kind, frame, extra, message):
    path = _bad(tmp_path, "bad.csv", frame)
    assert main(["detect", kind, path, *extra]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    err = captured.err.strip()
    assert err.startswith("error: ") and message in err and "\n" not in err


def test_unknown_file_type_and_missing_file(tmp_path, capsys):
    (tmp_path / "x.xlsx").write_text("")
    assert main(["detect", "crash", str(tmp_path / "x.xlsx")]) == 2
    assert main(["detect", "crash", str(tmp_path / "nope.csv")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert "unknown file type" in err[0] and "file not found" in err[1]
