"""Report headlines and statistics a reader can rely on.

Each report kind opens with a headline box in plain words with units; order-book charts
share one clock-time axis and shade the sell programme's window; comparison and sweep
reports say "N seeds", carry a small-sample note below 10 seeds, and state sessions per
cell and the ``--set`` values. Screenshots of every kind are taken in headless Chromium.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path

import numpy as np
import polars as pl
import pytest

from tests._browser import CHROMIUM
from tests.test_report import compare_run, orderbook_run, sweep_run  # noqa: F401 (fixtures)

SHOTS = Path(__file__).resolve().parent.parent / ".pytest-screenshots"


def _specs(page: Path) -> list[dict]:
    text = page.read_text()
    raw = re.findall(
        r"<script type='application/json' id='spec-\d+'>(.*?)</script>", text, flags=re.S
    )
    return [json.loads(s.replace("<\\/", "</")) for s in raw]


def _walk(node):
    """Every dict inside a Vega-Lite spec."""
    if isinstance(node, dict):
        yield node
        for v in node.values():
            yield from _walk(v)
    elif isinstance(node, list):
        for v in node:
            yield from _walk(v)


def _headline(text: str) -> str:
    m = re.search(r"<div class='verdict headline'>(.*?)</div>", text, flags=re.S)
    assert m, "no headline box"
    return m.group(1)


# --------------------------------------------------------------------------- fixtures

_S0 = {
    "max_drawdown": 0.08,
    "peak_s": 1800,
    "trough_s": 2100,
    "low_after_start_s": 300,
    "reference_mid_tick": 10_000.0,
    "low_mid_tick": 9_200.0,
    "recovery_30min": 0.6,
    "programme_duration_s": 600.0,
    "programme": {"start_s": 1800, "end_s": 2400.0, "sold": 75_000, "target_qty": 75_000},
    "stop_logic_pauses": 2,
    "luld_pauses": 0,
    "seconds_halted": 300.0,
}


def _book_from_open(src: Path, dst: Path, summary: dict) -> Path:
    """The shared order-book folder moved to start at the 09:30 open (as runs do), with
    a sell programme's summary."""
    from marketsim.io import write_json_atomic, write_parquet_atomic

    dst.mkdir(parents=True)
    shift = 1800 * 1_000_000_000  # the fixture starts at 10:00
    for name in ("book.parquet", "trades.parquet"):
        frame = pl.read_parquet(src / name)
        write_parquet_atomic(frame.with_columns(pl.col("t_ns") - shift), dst / name)
    shutil.copy(src / "agents.parquet", dst / "agents.parquet")
    write_json_atomic(summary, dst / "summary.json")
    return dst


@pytest.fixture(scope="module")
def crash_page(orderbook_run, tmp_path_factory):  # noqa: F811
    from marketsim.analysis.report import write_report

    summary = {
        "scenario": "flash_crash_2010",
        "version": 4,
        "seed": 0,
        "sessions": None,
        "params": {"tick_size": 0.25, "programme": True, "policy": []},
        **_S0,
    }
    out = _book_from_open(orderbook_run, tmp_path_factory.mktemp("hl") / "crash", summary)
    return write_report(out)


@pytest.fixture(scope="module")
def two_session_page(orderbook_run, tmp_path_factory):  # noqa: F811
    from marketsim.analysis.report import write_report

    s1 = {**_S0, "max_drawdown": 0.04, "trough_s": 2400, "session": 1, "stop_logic_pauses": 0}
    summary = {
        "scenario": "flash_crash_2010",
        "version": 4,
        "seed": 0,
        "params": {"tick_size": 0.25},
        **_S0,
        "sessions": [{**_S0, "session": 0}, s1],
    }
    out = _book_from_open(orderbook_run, tmp_path_factory.mktemp("hl") / "two", summary)
    return write_report(out)


def _compare_folder(root: Path, seeds: int) -> Path:
    from marketsim.io import write_json_atomic, write_parquet_atomic

    out = root / f"compare_{seeds}"
    rows = []
    for metric, d, lo, hi, p in (
        ("max_drawdown", -0.018, -0.0319, -0.0039, 0.018),
        ("seconds_halted", 12.0, -3.0, 27.0, 0.11),
    ):
        rows.append(
            dict(
                policy="none",
                metric=metric,
                mean=0.08,
                ci_lo=0.07,
                ci_hi=0.09,
                diff=0.0,
                diff_lo=0.0,
                diff_hi=0.0,
                p_value=1.0,
                n_seeds=seeds,
            )
        )
        rows.append(
            dict(
                policy="luld",
                metric=metric,
                mean=0.06,
                ci_lo=0.05,
                ci_hi=0.07,
                diff=d,
                diff_lo=lo,
                diff_hi=hi,
                p_value=p,
                n_seeds=seeds,
            )
        )
    write_parquet_atomic(pl.DataFrame(rows), out / "compare.parquet")
    write_json_atomic(
        {
            "scenario": "flash_crash_2010",
            "version": 4,
            "params": {"tick_size": 0.01, "policy": []},
            "policies": [{"label": "none", "policy": []}, {"label": "luld", "policy": []}],
            "baseline": "none",
            "seeds": seeds,
            "rows": rows,
        },
        out / "compare.json",
    )
    return out


@pytest.fixture(scope="module")
def compare_pages(tmp_path_factory):
    from marketsim.analysis.report import write_report

    root = tmp_path_factory.mktemp("hl")
    return {n: write_report(_compare_folder(root, n)) for n in (3, 10)}


@pytest.fixture(scope="module")
def sweep_page(sweep_run, tmp_path_factory):  # noqa: F811
    from marketsim.analysis.report import write_report

    out = tmp_path_factory.mktemp("hl") / "sweep"
    shutil.copytree(sweep_run, out)
    (out / "report.html").unlink(missing_ok=True)
    meta = json.loads((out / "sweep.json").read_text())
    meta["sets"] = ["gamma=0.9", "conv_window=20000"]
    (out / "sweep.json").write_text(json.dumps(meta))
    return write_report(out)


# --------------------------------------------------------------------------- order book


def test_orderbook_headline_states_fall_times_prices_recovery_and_rules(crash_page):
    text = crash_page.read_text()
    box = _headline(text)
    assert text.index("verdict headline") < text.index("<table class='meta'>")  # first
    # 8.0% from the programme's start at 10:00 (09:30 + 1,800 s) to the low 300 s later
    assert "fell 8.0% from the sell programme&#x27;s start at 10:00" in box
    assert "low at 10:05 (5 min later)" in box
    assert "from 2,500.00 to 2,300.00" in box  # ticks x 0.25
    assert "regained 60% of the fall within 30 min" in box
    assert "75,000 contracts in 10 min" in box
    assert "stop logic paused the market twice" in box.lower()
    assert "halted for 5 min" in box
    # parameters folded away, no empty list printed
    assert "<details class='params'>" in text and "policy = []" not in text
    assert "max drawdown</th>" not in text  # the bare fraction is gone from the header


def test_orderbook_charts_share_a_clock_axis_and_shade_the_programme(crash_page):
    specs = _specs(crash_page)
    time_charts = 0
    domains = set()
    for spec in specs:
        xs = [n["x"] for n in _walk(spec) if isinstance(n.get("x"), dict)]
        fields = {x.get("field") for x in xs}
        assert "hour" not in fields
        clock = [x for x in xs if x.get("field") == "clock"]
        if clock:
            time_charts += 1
            for x in clock:
                assert x["type"] == "temporal" and x["axis"]["format"] == "%H:%M"
                domains.add(tuple(x["scale"]["domain"]))
    assert time_charts >= 6  # mid, volume, depth, drawdown, inventories, hawkes, vpin
    assert len(domains) == 1  # one shared time domain on the page
    (lo, hi) = domains.pop()
    assert lo == 9.5 * 3600 * 1000  # the book's first second, 09:30
    mid = next(s for s in specs if "Mid price" in json.dumps(s.get("title", "")))
    bands = [
        v
        for n in _walk(mid)
        if isinstance(n.get("values"), list)
        for v in n["values"]
        if isinstance(v, dict) and v.get("state") == "sell programme"
    ]
    assert bands == [
        {"start": 10 * 3600 * 1000.0, "end": (10 * 3600 + 600) * 1000.0, "state": "sell programme"}
    ]
    title = next(n["title"] for n in _walk(mid) if n.get("field") == "mid_low")
    assert title == "mid price (currency; tick = 0.25)"
    values = [
        v["mid"]
        for n in _walk(mid)
        if isinstance(n.get("values"), list)
        for v in n["values"]
        if isinstance(v, dict) and "mid" in v
    ]
    assert 2000 < np.median(values) < 2600  # ~10,000 ticks x 0.25


def test_two_sessions_get_a_table_and_a_mean_not_a_python_list(two_session_page):
    text = two_session_page.read_text()
    box = _headline(text)
    assert "Across the 2 sessions the fall averaged 6.0% (smallest 4.0%, largest 8.0%)" in box
    assert box.count("<tr><td>") == 2
    header = text.split("<body>")[1].split("<script")[0]  # the page before the charts
    assert "[{" not in header and "{&#x27;" not in header and "&#x27;session&#x27;" not in header
    assert "<th>sessions</th><td>2 (see the table above)</td>" in text


# --------------------------------------------------------------------------- compare, sweep


def test_compare_headline_says_seeds_and_notes_small_samples(compare_pages):
    small, ok = compare_pages[3].read_text(), compare_pages[10].read_text()
    box = _headline(small)
    assert "Against none, luld lowered the max drawdown by 1.8 percentage points" in box
    assert "(95% CI -3.19 to -0.39; p = 0.018)" in box
    assert "distinguishable from seed-to-seed noise at the 5% level" in box
    assert "Paired over 3 seeds" in box
    assert "<th>seeds</th><td>3 seeds (0-2)</td>" in small
    assert "seed 3" not in small and "<th>seed</th>" not in small
    assert "policy = []" not in small
    assert "Small sample: 3 seeds." in small
    assert "Small sample" not in ok and "Paired over 10 seeds" in ok


def test_sweep_states_sessions_per_cell_and_set_values(sweep_page):
    text = sweep_page.read_text()
    box = _headline(text)
    assert "over 12 grid cells of 5 sessions each" in box
    assert "Set for every cell: gamma=0.9, conv_window=20000." in box
    assert "5 sessions per cell, 60 in all" in text
    assert "<b>gamma = 0.9</b>" in text  # --set values first and in bold
    assert "Small sample: 5 seeds." in text


# --------------------------------------------------------------------------- screenshots


def test_screenshots_of_each_report_kind(
    crash_page, two_session_page, compare_pages, sweep_page, tmp_path
):
    """Headless Chromium renders each kind to a PNG (kept in .pytest-screenshots/ for a
    reader to look at); each must be a full-size image, not a blank page."""
    SHOTS.mkdir(exist_ok=True)
    pages = {
        "orderbook": crash_page,
        "orderbook_2_sessions": two_session_page,
        "compare_3_seeds": compare_pages[3],
        "sweep": sweep_page,
    }
    for name, page in pages.items():
        png = SHOTS / f"{name}.png"
        png.unlink(missing_ok=True)
        res = subprocess.run(
            [
                CHROMIUM,
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--hide-scrollbars",
                "--disable-background-networking",
                "--no-first-run",
                f"--user-data-dir={tmp_path / 'profile'}",
                "--virtual-time-budget=10000",
                f"--screenshot={png}",
                "--window-size=1280,2400",
                page.resolve().as_uri(),
            ],
            capture_output=True,
            text=True,
            timeout=90,
        )
        assert res.returncode == 0, res.stderr[-2000:]
        data = png.read_bytes()
        assert data[:8] == b"\x89PNG\r\n\x1a\n"
        assert (int.from_bytes(data[16:20], "big"), int.from_bytes(data[20:24], "big")) == (
            1280,
            2400,
        )
        assert len(data) > 40_000, f"{name}: the screenshot looks blank"
