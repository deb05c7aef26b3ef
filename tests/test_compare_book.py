"""marketsim compare on the order-book market: the magnet-effect table and --report.

Magnet effect: Subrahmanyam (1994); Cho, Russell, Tiao & Tsay (2003).
"""

import json

import numpy as np
import polars as pl
import pytest

from marketsim.analysis.magnet import limit_distance, magnet_rows, magnet_table
from marketsim.cli import main
from marketsim.scenarios.policies import parse_policies

S = 1_000_000_000
NOON = 12 * 3600 * S
OPEN = (9 * 3600 + 30 * 60) * S
CLOSE = 16 * 3600 * S


def test_distance_to_an_unreached_breaker_level_is_exact():
    book = pl.DataFrame(
        {"t_ns": [NOON, NOON + S, NOON + 2 * S], "mid_tick": [9_500.0, 9_300.0, 9_000.0]}
    )
    trades = pl.DataFrame({"t_ns": [NOON, NOON + S], "price_tick": [9_500, 9_300]})
    d = limit_distance(
        book,
        trades,
        parse_policies("mwcb"),
        prev_close_tick=10_000,
        tick_size=0.01,
        open_ns=OPEN,
        close_ns=CLOSE,
    )
    # 7% level at 9,300: 200/9,500 away; once reached, the 13% level at 8,700 is nearest
    assert d[0] == pytest.approx(200 / 9_500)
    assert d[1] == pytest.approx(600 / 9_300)
    assert d[2] == pytest.approx(300 / 9_000)


def test_distance_to_the_luld_band_uses_the_rules_own_band():
    book = pl.DataFrame({"t_ns": [NOON + 10 * S], "mid_tick": [10_100.0]})
    trades = pl.DataFrame({"t_ns": [NOON + S, NOON + 2 * S], "price_tick": [9_900, 10_100]})
    d = limit_distance(
        book,
        trades,
        parse_policies("luld"),
        prev_close_tick=10_000,
        tick_size=0.01,
        open_ns=OPEN,
        close_ns=CLOSE,
    )
    # reference 10,000 (mean of the trades), band [9,500, 10,500]: 400 ticks above
    assert d[0] == pytest.approx(400 / 10_100)


def test_rates_per_bin_pool_seconds_over_seeds():
    book = pl.DataFrame({"volume": [10, 0, 4, 6], "order_actions": [20, 2, 8, 10]})
    dist = np.array([0.005, 0.015, 0.012, np.nan])
    rows = magnet_rows(dist, book)
    t = magnet_table([("luld", "with", 0, rows), ("luld", "with", 1, rows)])
    near = t.filter(pl.col("bin_lo_pct") == 0.0).row(0, named=True)
    assert (near["seconds"], near["volume_per_s"], near["n_seeds"]) == (2, 10.0, 2)
    nxt = t.filter(pl.col("bin_lo_pct") == 1.0).row(0, named=True)
    assert nxt["seconds"] == 4 and nxt["order_actions_per_s"] == pytest.approx(5.0)


def test_compare_writes_magnet_table_and_report(tmp_path):
    out = tmp_path / "cmp"
    args = [
        "compare",
        "flash_crash_2010",
        "--policy",
        "none",
        "--policy",
        "luld:band_pct=0.003",
        "--policy",
        "mwcb:levels=[0.004,0.008,0.5],halt_s=60",
        "--seeds",
        "2",
        "--out",
        str(out),
        "--quiet",
        "--report",
        "--set",
        "session_seconds=1200",
        "--set",
        "programme_start_s=300",
    ]
    assert main(args) == 0
    magnet = pl.read_parquet(out / "magnet.parquet")
    assert set(magnet["arm"]) == {"with", "without"}
    assert {p.split(":")[0] for p in magnet["policy"]} == {"luld", "mwcb"}
    # every second of every seed is binned, in both arms
    secs = magnet.group_by("policy", "arm").agg(pl.col("seconds").sum())
    assert secs["seconds"].n_unique() == 1 and secs["seconds"][0] >= 2 * 1200
    summary = json.loads((out / "compare.json").read_text())["magnet"]["by_policy"]
    assert set(summary) == set(magnet["policy"]) and "without" in next(iter(summary.values()))
    html = (out / "report.html").read_text()
    assert "Magnet effect" in html and (out / "figures" / "magnet.png").is_file()
    # the report states each rule's effect and its cost (time halted, volume)
    assert "Effects and costs" in html
    assert "mwcb:levels=[0.004, 0.008, 0.5],halt_s=60.0 vs none: max drawdown" in html
    assert "Cost: time halted" in html and "volume" in html


def test_worker_processes_give_the_same_numbers_as_one_process(tmp_path):
    """Cells are functions of (spec, seed): running them in 2 processes changes nothing."""
    common = [
        "compare",
        "flash_crash_2010",
        "--policy",
        "none",
        "--policy",
        "mwcb:levels=[0.004,0.008,0.5],halt_s=60",
        "--seeds",
        "2",
        "--quiet",
        "--set",
        "session_seconds=900",
        "--set",
        "programme_start_s=300",
    ]
    assert main([*common, "--out", str(tmp_path / "one")]) == 0
    assert main([*common, "--out", str(tmp_path / "two"), "--workers", "2"]) == 0
    one = json.loads((tmp_path / "one" / "compare.json").read_text())["per_seed"]
    two = json.loads((tmp_path / "two" / "compare.json").read_text())["per_seed"]
    assert one == two and one["mwcb:levels=[0.004, 0.008, 0.5],halt_s=60.0"] != one["none"]
