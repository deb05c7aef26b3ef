"""``marketsim detect`` on data shaped the way regulators hold it, made here in the test.

An ISO trade tape, a European CSV (``;`` and decimal comma), a daily panel with gaps and a
firm that enters late, a wide table (one column per station), a marketsim run's own
``trades.parquet`` and a file of event times alone: each gives a verdict, with its times
printed the way the file gives them.
"""

from __future__ import annotations

import datetime as dt
import json
import re

import numpy as np
import polars as pl
import pytest

from marketsim.analysis.order_flow import depth_drop
from marketsim.cli import main

T0 = dt.datetime(2010, 5, 6, 9, 30)


def _run(capsys, *argv):
    code = main(["detect", *map(str, argv)])
    out = capsys.readouterr()
    return code, out.out, out.err


def _crash_path(seconds, rng, level):
    """A random walk with a 6% fall from 11:00 over five minutes."""
    lp = np.cumsum(rng.normal(0, 1e-4, seconds.size))
    fall = np.clip((seconds - 5400) / 300, 0, 1) * 0.06
    return level * np.exp(lp) * (1 - fall)


@pytest.fixture
def tape(tmp_path):
    """Three hours of trades with ISO timestamps (milliseconds); two prints share a time."""
    rng = np.random.default_rng(np.random.SeedSequence(71))
    secs = np.sort(rng.choice(3 * 3600 * 1000, 5000, replace=False)) / 1000
    secs[2001] = secs[2000]  # one order filled at two prices
    price = _crash_path(secs, rng, 1150.0).round(2)
    stamps = [
        (T0 + dt.timedelta(seconds=float(x))).isoformat(timespec="milliseconds") for x in secs
    ]
    path = tmp_path / "tape.csv"
    pl.DataFrame({"timestamp": stamps, "price": price}).write_csv(path)
    return path, stamps


def test_iso_tape_prints_iso_times_and_merges_same_time_prints(tape, capsys):
    path, stamps = tape
    code, out, err = _run(capsys, "crash", path, "--time-col", "timestamp")
    assert code == 2 and "1 duplicate timestamps" in err and "--allow-ties" in err
    code, out, _ = _run(capsys, "crash", path, "--time-col", "timestamp", "--allow-ties", "--json")
    res = json.loads(out)
    assert code == 0 and res["flagged"] and res["time_kind"] == "text"
    (ev,) = res["drawdowns"]
    # the times are the file's own text, found in the file
    assert ev["start_time"] in stamps and ev["trough_time"] in stamps
    assert ev["start_time"].startswith("2010-05-06T1") and "T" in ev["trough_time"]
    assert (
        abs(
            dt.datetime.fromisoformat(ev["start_time"]) - (T0 + dt.timedelta(seconds=5400))
        ).total_seconds()
        < 120
    )
    assert res["aggregated_prints"] == 1 and "1 print(s) sharing a timestamp" in res["verdict"]
    assert res["first_time"] == stamps[0] and res["last_time"] == stamps[-1]
    code, out, _ = _run(capsys, "crash", path, "--time-col", "timestamp", "--allow-ties")
    assert f"from {ev['start_time']} to {ev['trough_time']}" in out


def test_european_csv_with_semicolons_and_decimal_commas(tmp_path, capsys):
    rng = np.random.default_rng(np.random.SeedSequence(72))
    secs = np.arange(0, 3 * 3600, 2.0)
    price = _crash_path(secs, rng, 1757.5)
    stamps = [(T0 + dt.timedelta(seconds=float(x))).strftime("%d.%m.%Y %H:%M:%S") for x in secs]
    path = tmp_path / "kurse.csv"
    rows = [f"{s};" + f"{p:.2f}".replace(".", ",") for s, p in zip(stamps, price, strict=True)]
    path.write_text("Zeit;Kurs\n" + "\n".join(rows) + "\n")
    assert path.read_text().splitlines()[1].count(",") == 1  # 06.05.2010 09:30:00;1757,50
    args = ["crash", path, "--time-col", "Zeit", "--price-col", "Kurs"]
    code, out, _ = _run(capsys, *args, "--json")
    res = json.loads(out)
    assert code == 0 and res["flagged"] and res["observations"] == secs.size
    (ev,) = res["drawdowns"]
    assert ev["start_price"] == pytest.approx(price[stamps.index(ev["start_time"])], abs=0.006)
    assert ev["depth"] == pytest.approx(0.06, abs=0.01)
    assert ev["start_time"] in stamps and ev["start_time"].startswith("06.05.2010 1")
    # stated explicitly, the same; a wrong separator is one line naming --sep
    code, same, _ = _run(capsys, *args, "--json", "--sep", ";", "--decimal-comma")
    assert code == 0 and json.loads(same)["drawdowns"] == res["drawdowns"]
    code, _, err = _run(capsys, *args, "--sep", ",")
    assert code == 2 and err.count("\n") == 1 and "--sep" in err


def _panel(tmp_path):
    """120 daily prices of firms A, B, C with gaps; C enters on day 20.

    A has no row on days 50 and 51, B's price on day 70 is empty, C has no row on day 90.
    Prices move from about 1.45 to a steadier 1.80 on day 60.
    """
    rng = np.random.default_rng(np.random.SeedSequence(73))
    days = [dt.date(2021, 1, 4) + dt.timedelta(days=i) for i in range(120)]
    rows = []
    for firm, start, gaps in (("A", 0, {50, 51}), ("B", 0, set()), ("C", 20, {90})):
        for i, day in enumerate(days):
            if i < start or i in gaps:
                continue
            price = (
                1.45 + 0.02 * rng.standard_normal()
                if i < 60
                else 1.8 + 0.002 * rng.standard_normal()
            )
            rows.append({"date": day.isoformat(), "firm": firm, "price": round(price, 4)})
    frame = pl.DataFrame(rows).with_columns(
        pl.when((pl.col("firm") == "B") & (pl.col("date") == days[70].isoformat()))
        .then(None)
        .otherwise(pl.col("price"))
        .alias("price")
    )
    path = tmp_path / "panel.csv"
    frame.write_csv(path)
    return path, days


def test_daily_panel_with_gaps_and_a_late_firm_follows_the_stated_rule(tmp_path, capsys):
    path, days = _panel(tmp_path)
    code, _, err = _run(capsys, "collusion", path, "--time-col", "date")
    assert code == 2 and "--missing drop" in err and "--missing ffill" in err
    code, out, _ = _run(
        capsys, "collusion", path, "--time-col", "date", "--missing", "ffill", "--json"
    )
    res = json.loads(out)
    assert code == 0
    # ffill: B's empty price and the three missing rows are carried forward; the 20 days
    # before C's first price are dropped
    assert res["missing"] == {
        "rule": "ffill",
        "rows_dropped": 0,
        "values_filled": 4,
        "times_dropped": 20,
    }
    assert res["observations"] == 100
    assert res["first_time"] == days[20].isoformat() and res["last_time"] == days[-1].isoformat()
    brk = res["screens"]["structural_break"]
    assert brk["flagged"] and re.fullmatch(r"2021-\d\d-\d\d", brk["break_time"])
    assert abs(dt.date.fromisoformat(brk["break_time"]) - days[60]).days <= 2
    assert brk["break_time"] in brk["verdict"]
    code, out, _ = _run(
        capsys, "collusion", path, "--time-col", "date", "--missing", "drop", "--json"
    )
    res = json.loads(out)
    # drop: B's empty row goes, then every day some firm lacks: 20 + 2 + 1 + 1
    assert res["missing"] == {
        "rule": "drop",
        "rows_dropped": 1,
        "values_filled": 0,
        "times_dropped": 24,
    }
    assert (
        res["observations"] == 96
        and "24 time(s) without every firm's price dropped" in res["verdict"]
    )


def test_wide_table_gives_the_same_screens_as_the_long_one(tmp_path, capsys):
    rng = np.random.default_rng(np.random.SeedSequence(74))
    days = [(dt.date(2023, 3, 1) + dt.timedelta(days=i)).isoformat() for i in range(90)]
    wide = {"day": days}
    for st in ("Aral_12", "Shell_7", "Jet_3"):
        wide[st] = np.where(
            np.arange(90) < 45,
            1.75 + 0.02 * rng.standard_normal(90),
            1.95 + 0.002 * rng.standard_normal(90),
        )
    pl.DataFrame(wide).write_csv(tmp_path / "wide.csv")
    long = pl.DataFrame(wide).unpivot(index="day", variable_name="station", value_name="price")
    long.write_csv(tmp_path / "long.csv")
    code, out, _ = _run(
        capsys, "collusion", tmp_path / "wide.csv", "--time-col", "day", "--wide", "--json"
    )
    w = json.loads(out)
    code2, out, _ = _run(
        capsys,
        "collusion",
        tmp_path / "long.csv",
        "--time-col",
        "day",
        "--firm-col",
        "station",
        "--json",
    )
    lg = json.loads(out)
    assert code == code2 == 0
    assert w["firms"] == ["Aral_12", "Shell_7", "Jet_3"] and w["observations"] == 90
    assert w["screens"] == lg["screens"]
    assert w["screens"]["structural_break"]["break_time"] in days
    code, _, err = _run(capsys, "crash", tmp_path / "wide.csv", "--wide")
    assert code == 2 and "--wide is for collusion" in err


@pytest.fixture(scope="module")
def run_tape(tmp_path_factory):
    """A seven-minute market_calm session's own trades.parquet (clock time since midnight)."""
    import marketsim as ms

    out = tmp_path_factory.mktemp("calm") / "run"
    ms.run("market_calm", seed=3, out=out, session_seconds=420)
    return out / "trades.parquet"


def test_a_runs_own_trade_tape(run_tape, capsys):
    trades = pl.read_parquet(run_tape)
    # one aggressive order = consecutive prints with one timestamp and one side
    orders = trades.select(
        (
            (pl.col("t_ns") != pl.col("t_ns").shift())
            | (pl.col("aggressor_side") != pl.col("aggressor_side").shift())
        )
        .fill_null(True)
        .sum()
    ).item()
    code, _, err = _run(capsys, "crash", run_tape)
    assert code == 2 and "duplicate timestamps" in err and "--allow-ties" in err
    code, out, _ = _run(capsys, "crash", run_tape, "--allow-ties")
    assert code == 0
    # clock time of the simulated day: the book opens at 09:30 after a 5-minute warm-up
    period = re.search(r"data: \d+ observations from (\S+) to (\S+) \(clock time", out)
    assert period and period[1].startswith("09:2") and period[2].startswith("09:3")
    code, out, _ = _run(capsys, "feedback", run_tape, "--json")
    res = json.loads(out)
    assert code == 0 and res["time_kind"] == "clock"
    assert res["prints"] == trades.height and res["orders"] == orders
    assert res["aggregated_prints"] == trades.height - orders
    assert f"{trades.height - orders} print(s) sharing a timestamp" in res["verdict"]
    assert res["hawkes"]["events"] == trades["t_ns"].n_unique()
    assert re.fullmatch(r"09:\d\d:\d\d\.\d{3}", res["first_time"])


def test_event_times_alone_give_a_hawkes_verdict(tmp_path, capsys):
    from marketsim.analysis.hawkes import simulate_hawkes

    ev = simulate_hawkes(0.5, 0.6, 1.0, 6000.0, seed=75)
    stamps = [(T0 + dt.timedelta(seconds=float(x))).isoformat(timespec="milliseconds") for x in ev]
    pl.DataFrame({"event_time": stamps}).write_csv(tmp_path / "alerts.csv")
    args = ["feedback", tmp_path / "alerts.csv", "--time-col", "event_time"]
    code, out, _ = _run(capsys, *args, "--json")
    res = json.loads(out)
    assert code == 0 and not res["flagged"]
    assert abs(res["hawkes"]["branching_ratio"] - 0.6) < 0.1
    assert set(res["skipped"]) == {"variance_ratio", "sign_autocorrelation", "vpin", "depth_drop"}
    assert "--price-col" in res["skipped"]["variance_ratio"]
    assert res["first_time"] == stamps[0]
    code, out, _ = _run(capsys, *args)
    assert out.startswith("clear") and f"from {stamps[0]} to {stamps[-1]}" in out
    assert "  . depth_drop: not run, needs a book depth column (--depth-col)" in out
    # a price column named but absent is an error, not a skip
    code, _, err = _run(capsys, *args, "--price-col", "px")
    assert code == 2 and "column 'px' not found" in err


def test_a_runs_book_gives_the_depth_test_its_depth(run_tape, capsys):
    book = run_tape.parent / "book.parquet"
    code, out, _ = _run(capsys, "feedback", book, "--json")
    res = json.loads(out)
    assert code == 0 and "depth_drop" not in res["skipped"]
    assert res["hawkes"]["verdict"].startswith("not computed: the times are a regular grid")
    # depth is the quantity on the recorded levels, one-minute windows from 09:30 to 09:37
    frame = pl.read_parquet(book)
    levels = [c for c in frame.columns if c.startswith(("bid_qty_", "ask_qty_"))]
    want = depth_drop(
        frame["t_ns"].to_numpy() * 1e-9, frame.select(pl.sum_horizontal(levels)).to_series()
    )
    assert res["depth_drop"]["windows"] == want["windows"] == 7
    assert res["depth_drop"]["max_drop"] == pytest.approx(want["max_drop"])
    assert re.fullmatch(r"09:3\d:00", res["depth_drop"]["window_time"])
