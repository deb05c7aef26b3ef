"""The spread screen (marketsim.analysis.spreads, ``marketsim detect spreads``): it flags
learned market makers' quotes and parallel quote moves, not a competitive control."""

from __future__ import annotations

import json

import numpy as np
import polars as pl
import pytest

from marketsim.analysis.spreads import detect_spreads
from marketsim.cli import main

QUICK = ["--set", "beta=5e-4", "--set", "conv_window=2000", "--set", "max_periods=100000"]


@pytest.fixture(scope="module")
def learned_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("mm") / "run"
    code = main(["run", "market_making", "--sessions", "10", "--seed", "3", *QUICK, "--out",
                 str(out), "--quiet", "--threads", "2"])  # fmt: skip
    assert code == 0
    return out


def test_flags_the_learned_quotes_of_a_market_making_run(learned_run, capsys):
    summary = json.loads((learned_run / "summary.json").read_text())
    det = summary["detectors"]
    assert det["kind"] == "market_making" and det["flagged"]
    level = det["screens"]["spread_level"]
    assert level["competitive_spread"] == summary["competitive_ask"]
    # the screen's markup index is the run's, from the same learned quotes
    assert level["markup_index"] > 0.0 and level["p_value"] < 0.05
    capsys.readouterr()
    assert main(["detect", "spreads", str(learned_run / "impulse.parquet")]) == 0
    out = capsys.readouterr().out
    assert "benchmarks from summary.json" in out
    assert out.splitlines()[1].startswith("FLAGGED  supra-competitive spreads")


def _competitive_control(T=600, n=2, seed=0):
    """Makers at the grid's competitive ask 0.3 (tick 0.1, pi 0.3), each one tick above
    it in 20% of periods, independently: the best ask exceeds 0.3 in 4% of periods."""
    rng = np.random.default_rng(seed)
    asks = 0.3 + 0.1 * (rng.random((T, n)) < 0.2)
    return pl.DataFrame(
        {
            "t": np.repeat(np.arange(T), n),
            "maker": np.tile(np.arange(n), T),
            "ask": asks.reshape(-1),
        }
    )


def test_does_not_flag_a_competitive_control():
    res = detect_spreads(
        _competitive_control(),
        reference=0.0,
        competitive_spread=0.3,
        collusive_spread=0.6,
    )
    assert not res["flagged"]
    level = res["screens"]["spread_level"]
    assert 0.0 <= level["statistic"] < 0.05  # about 4% x 0.1 / 0.3: below materiality
    assert not res["screens"]["parallel_moves"]["flagged"]
    assert res["screens"]["parallel_moves"]["moves"] > 100


def _walk(rng, T):
    return 0.5 + 0.1 * np.cumsum(rng.choice([-1, 0, 0, 1], T))


def test_parallel_moves_of_a_follower_are_flagged():
    rng = np.random.default_rng(1)
    T = 400
    leader = _walk(rng, T)
    frame = pl.DataFrame(
        {
            "t": np.repeat(np.arange(T), 2),
            "maker": np.tile([1, 2], T),
            "ask": np.column_stack([leader, leader + 0.1]).reshape(-1),
        }
    )
    res = detect_spreads(frame, reference=0.0)
    moves = res["screens"]["parallel_moves"]
    assert moves["statistic"] == 1.0 and moves["p_value"] == pytest.approx(1 / 1000)
    assert res["flagged"]
    # no benchmark: the spread level is not tested, and says so
    assert res["screens"]["spread_level"]["p_value"] is None


def test_parallel_moves_test_holds_its_size_on_independent_makers(monkeypatch):
    """Two makers whose quotes move independently (half the periods each): the 5% test
    flags at most 12% of 100 such markets (binomial sd 2.2 points around 5%)."""
    from marketsim.analysis import spreads

    monkeypatch.setattr(spreads, "SHIFT_REPS", 99)
    T, flags = 200, []
    for seed in range(100):
        rng = np.random.default_rng(seed)
        asks = np.column_stack([_walk(rng, T), _walk(rng, T)])
        res = spreads.parallel_moves_screen(asks, np.zeros(T, dtype=np.int64))
        flags.append(res["flagged"])
    assert np.mean(flags) <= 0.12


def test_spread_is_best_ask_minus_best_bid(tmp_path, capsys):
    """Two makers over 12 times: best ask 10.2 (maker 2 at 10.2 under maker 1's 10.3),
    best bid 10.0 (maker 1): spread 0.2 every time, 100% over a competitive 0.1."""
    T = 12
    frame = pl.DataFrame(
        {
            "time": np.repeat(np.arange(T), 2),
            "mm": np.tile(["a", "b"], T),
            "ask": np.tile([10.3, 10.2], T),
            "bid": np.tile([10.0, 9.9], T),
        }
    )
    res = detect_spreads(frame, time_col="time", maker_col="mm", bid_col="bid",
                         competitive_spread=0.1)  # fmt: skip
    assert res["screens"]["spread_level"]["mean_spread"] == pytest.approx(0.2)
    assert res["screens"]["spread_level"]["statistic"] == pytest.approx(1.0)
    assert res["flagged"]
    path = tmp_path / "quotes.csv"
    frame.write_csv(path)
    capsys.readouterr()
    code = main(["detect", "spreads", str(path), "--time-col", "time", "--maker-col", "mm",
                 "--bid-col", "bid", "--competitive-spread", "0.1", "--json"])  # fmt: skip
    assert code == 0
    assert json.loads(capsys.readouterr().out)["screens"]["spread_level"]["flagged"]


@pytest.mark.parametrize(
    ("extra", "needle"),
    [
        ([], "give --bid-col"),
        (["--reference", "0", "--competitive-spread", "0"], "--competitive-spread 0"),
        (["--reference", "0", "--maker-col", "dealer"], "column 'dealer' not found"),
        (
            ["--reference", "0", "--competitive-spread", "0.3", "--collusive-spread", "0.2"],
            "must be above --competitive-spread",
        ),
    ],
)
def test_bad_input_is_one_line_and_exit_2(tmp_path, capsys, extra, needle):
    path = tmp_path / "quotes.csv"
    _competitive_control(T=20).write_csv(path)
    capsys.readouterr()
    code = main(["detect", "spreads", str(path), *extra])
    err = capsys.readouterr().err
    assert code == 2
    assert needle in err and "Traceback" not in err
    assert len(err.strip().splitlines()) == 1
