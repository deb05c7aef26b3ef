"""Reports: every kind of run folder gives a self-contained page that renders offline.

Each report is opened in headless Chromium (Debian's ``chromium``; ``.ci/run`` installs
it); the DOM after the scripts ran must hold one rendered SVG per chart, no Vega error,
and no ``http`` URL in any ``src``/``href``. PNGs must be images of the chart's size.
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

from tests._browser import chromium
from tests._browser import dump_dom as _dump_dom

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


# --------------------------------------------------------------------------- fixtures


@pytest.fixture(scope="session")
def pricing_run(tmp_path_factory):
    """A small Calvano run made through the CLI with --report (6 sessions)."""
    from marketsim.cli import main

    out = tmp_path_factory.mktemp("report") / "calvano"
    rc = main(
        [
            "run",
            "calvano2020",
            "--sessions",
            "6",
            "--seed",
            "3",
            "--set",
            "beta=4e-5",
            "--set",
            "conv_window=20000",
            "--threads",
            "2",
            "--quiet",
            "--out",
            str(out),
            "--report",
        ]
    )
    assert rc == 0
    return out


@pytest.fixture(scope="session")
def baseline_run(tmp_path_factory):
    """The paper's baseline (4 sessions, default parameters) with --report: its page
    opens with the comparison to Calvano et al. (2020), Table 1."""
    from marketsim.cli import main

    out = tmp_path_factory.mktemp("report") / "baseline"
    argv = ["run", "calvano2020", "--sessions", "4", "--seed", "2", "--quiet", "--report"]
    assert main([*argv, "--out", str(out)]) == 0
    return out


@pytest.fixture(scope="session")
def orderbook_run(tmp_path_factory):
    """An order-book folder in the market_calm output format, with a planted 8% crash
    and a halt, so every order-book chart has something to draw."""
    from marketsim.io import write_json_atomic, write_parquet_atomic

    out = tmp_path_factory.mktemp("report") / "orderbook"
    rng = np.random.default_rng(7)
    n = 3600  # one hour of one-second snapshots from 10:00
    sec = 36_000 + np.arange(n)
    mid = 10_000 + np.cumsum(rng.normal(0, 2, n))
    mid[1800:2100] -= np.linspace(0, 800, 300)  # an 8% fall within 5 minutes
    mid[2100:2400] -= np.linspace(800, 200, 300)
    mid[2400:] -= 200
    book = {
        "t_ns": (sec * 1_000_000_000).astype(np.int64),
        "best_bid_tick": np.floor(mid - 1).astype(np.int64),
        "best_ask_tick": np.ceil(mid + 1).astype(np.int64),
        "mid_tick": mid,
    }
    for k in range(1, 6):
        book[f"bid_qty_{k}"] = rng.integers(1, 50, n)
        book[f"ask_qty_{k}"] = rng.integers(1, 50, n)
    book |= {
        "volume": rng.integers(0, 20, n),
        "hft_net_position": np.cumsum(rng.integers(-3, 4, n)),
        "mm_inventory": np.cumsum(rng.integers(-2, 3, n)),
        "halted": (sec >= 36_000 + 2100) & (sec < 36_000 + 2400),
    }
    write_parquet_atomic(pl.DataFrame(book), out / "book.parquet")
    m = 4000
    t_ns = np.sort(rng.uniform(sec[0], sec[-1], m) * 1e9).astype(np.int64)
    idx = np.clip(((t_ns // 1_000_000_000) - sec[0]).astype(np.int64), 0, n - 1)
    write_parquet_atomic(
        pl.DataFrame(
            {
                "t_ns": t_ns,
                "price_tick": np.round(mid[idx]).astype(np.int64),
                "qty": rng.integers(1, 10, m),
                "buyer": rng.integers(0, 100, m),
                "seller": rng.integers(0, 100, m),
                "aggressor_side": rng.choice(["buy", "sell"], m),
            }
        ),
        out / "trades.parquet",
    )
    write_parquet_atomic(
        pl.DataFrame(
            {
                "kind": ["market_maker", "hft", "fundamental", "noise"],
                "n_agents": [10, 20, 100, 870],
                "inventory": [-40, 12, 300, -272],
            }
        ),
        out / "agents.parquet",
    )
    write_json_atomic(
        {
            "scenario": "market_calm",
            "version": 1,
            "seed": 0,
            "sessions": 1,
            "params": {"n_agents": 1000},
            "wall_seconds": 1.0,
            "max_drawdown": 0.08,
        },
        out / "summary.json",
    )
    return out


@pytest.fixture(scope="session")
def compare_run(tmp_path_factory):
    """A comparison folder in the ``marketsim compare`` format (compare.parquet)."""
    from marketsim.io import write_parquet_atomic

    out = tmp_path_factory.mktemp("report") / "compare"
    rows = []
    for metric in ("delta", "price_index"):
        for policy, d in (("none", 0.0), ("price_cap", -0.2), ("memory_1", -0.05)):
            rows.append(
                {
                    "policy": policy,
                    "metric": metric,
                    "mean": 0.8 + d,
                    "ci_lo": 0.7 + d,
                    "ci_hi": 0.9 + d,
                    "diff": d,
                    "diff_lo": d - 0.03 if d else 0.0,
                    "diff_hi": d + 0.03 if d else 0.0,
                    "p_value": float("nan") if d == 0 else 0.01,
                    "n_seeds": 10,
                }
            )
    write_parquet_atomic(pl.DataFrame(rows), out / "compare.parquet")
    return out


@pytest.fixture(scope="session")
def sweep_run(tmp_path_factory):
    """A sweep folder as ``marketsim sweep`` writes it: sweep.json + parts/*.parquet."""
    from marketsim.io import write_json_atomic, write_parquet_atomic

    out = tmp_path_factory.mktemp("report") / "sweep"
    alphas, betas = [0.05, 0.1, 0.15, 0.2], [1e-6, 4e-6, 1e-5]
    parts = []
    for i, (a, b) in enumerate((a, b) for a in alphas for b in betas):
        name = f"parts/p{i}.parquet"
        write_parquet_atomic(
            pl.DataFrame(
                {
                    "session": np.arange(5),
                    "profit_gain": np.full(5, a + 1e4 * b),
                    "price_index": np.full(5, a),
                    "alpha": np.full(5, a),
                    "beta": np.full(5, b),
                }
            ),
            out / name,
        )
        parts.append(name)
    write_json_atomic(
        {
            "scenario": "calvano2020",
            "version": 1,
            "seed": 0,
            "seeds": 5,
            "grid": {"alpha": alphas, "beta": betas},
            "parts": parts,
        },
        out / "sweep.json",
    )
    return out


@pytest.fixture(scope="session")
def market_making_run(tmp_path_factory):
    """A small market_making run made through the CLI with --report (4 sessions)."""
    from marketsim.cli import main

    out = tmp_path_factory.mktemp("report") / "mm"
    fast = ["beta=5e-4", "conv_window=2000", "max_periods=100000"]
    sets = [x for v in fast for x in ("--set", v)]
    rc = main(["run", "market_making", "--sessions", "4", "--seed", "1", *sets,
               "--threads", "2", "--quiet", "--out", str(out), "--report"])  # fmt: skip
    assert rc == 0
    return out


KINDS = {
    "pricing": "pricing_run",
    "market_making": "market_making_run",
    "orderbook": "orderbook_run",
    "compare": "compare_run",
    "sweep": "sweep_run",
}
#: charts each report must hold
EXPECTED = {
    "pricing": {"price_paths", "profit_gain", "impulse_response", "outcomes"},
    "market_making": {"markup_index", "asks", "impulse_response", "outcomes"},
    "orderbook": {
        "mid_price",
        "volume",
        "depth",
        "drawdown",
        "inventories",
        "variance_ratio",
        "final_inventories",
        "hawkes",
        "vpin",
    },
    "compare": {"forest"},
    "sweep": {"heatmap_profit_gain", "heatmap_price_index"},
}


@pytest.fixture(scope="session")
def reports(request):
    from marketsim.analysis.report import write_report

    out = {}
    for kind, fixture in KINDS.items():
        run_dir = request.getfixturevalue(fixture)
        path = run_dir / "report.html"
        if kind not in ("pricing", "market_making"):  # those wrote theirs with `run --report`
            path = write_report(run_dir)
        out[kind] = path
    return out


# --------------------------------------------------------------------------- tests


def test_run_report_flag_writes_page_and_pngs(pricing_run):
    assert (pricing_run / "report.html").is_file()
    pngs = {p.stem for p in (pricing_run / "figures").glob("*.png")}
    assert pngs == EXPECTED["pricing"]


@pytest.mark.parametrize("kind", list(KINDS))
def test_report_renders_offline_in_chromium(kind, reports, tmp_path):
    page = reports[kind]
    text = page.read_text()
    n_charts = len(re.findall(r"<div class='chart'", text))
    assert n_charts == len(EXPECTED[kind])
    # nothing loaded from anywhere: no src/href to the network, no external sheets
    assert not re.search(r"""(?:src|href)\s*=\s*["']?\s*(?:https?:)?//""", text)
    assert "default-src 'none'" in text
    dom = _dump_dom(page, tmp_path)
    assert 'class="vega-error"' not in dom, "a chart failed to render"
    charts = re.findall(r"<div class=\"chart\b.*?</div>", dom, flags=re.S)
    assert len(charts) == n_charts
    rendered = re.findall(r'<svg[^>]*class="marks"', dom)
    assert len(rendered) == n_charts, f"{len(rendered)} of {n_charts} charts rendered"
    assert not re.search(r"""(?:src|href)\s*=\s*["']?\s*(?:https?:)?//""", dom)
    # every chart drew marks, not an empty frame
    assert dom.count("<path") >= n_charts


def _svg_size(spec: dict) -> tuple[float, float]:
    import vl_convert as vlc

    svg = vlc.vegalite_to_svg(spec)
    w = float(re.search(r'width="([\d.]+)"', svg).group(1))
    h = float(re.search(r'height="([\d.]+)"', svg).group(1))
    return w, h


@pytest.mark.parametrize("kind", list(KINDS))
def test_pngs_are_images_of_the_chart_size(kind, reports):
    from marketsim.analysis.report import PNG_SCALE

    page = reports[kind]
    text = page.read_text()
    names = re.findall(r"PNG: figures/([\w-]+)\.png", text)
    specs = re.findall(
        r"<script type='application/json' id='spec-\d+'>(.*?)</script>", text, flags=re.S
    )
    assert set(names) == EXPECTED[kind] and len(specs) == len(names)
    for name, spec in zip(names, specs, strict=True):
        data = (page.parent / "figures" / f"{name}.png").read_bytes()
        assert data[:8] == PNG_MAGIC, name
        width = int.from_bytes(data[16:20], "big")
        height = int.from_bytes(data[20:24], "big")
        w, h = _svg_size(json.loads(spec.replace("<\\/", "</")))
        assert (width, height) == (round(w * PNG_SCALE), round(h * PNG_SCALE)), name
        assert width >= 300 and height >= 100, name


def test_header_states_run_and_verdicts(reports, pricing_run):
    text = reports["pricing"].read_text()
    summary = json.loads((pricing_run / "summary.json").read_text())
    assert "calvano2020" in text
    assert f"<th>seed</th><td>{summary['seed']}</td>" in text
    assert summary["git_revision"] in text
    assert f"numba {summary['versions']['numba']}" in text
    assert "<b>beta = 4e-05</b>" in text  # set on the command line: first, in bold
    assert html_escape(summary["detectors"]["verdict"]) in text
    # off the paper's baseline: said in the headline box, no Table 1 beside it
    box = text.split("<div class='verdict headline'>", 1)[1].split("</div>", 1)[0]
    assert "not the baseline of Calvano et al. (2020, Table 1)" in box
    assert "beta = 4e-05, conv_window = 20000" in box
    assert text.index("verdict headline") < text.index("<table class='meta'>")


def test_market_making_report_states_markup_spreads_and_detectors(market_making_run):
    """A market_making run's page (the run's own ``--report``): its headline gives the
    markup index and the markup in price units with their 95% intervals over the
    sessions, the benchmarks, the quoted spread against the competitive one; the
    detectors block gives the run's spread-screen verdict."""
    from marketsim.analysis.market_making import interval

    text = (market_making_run / "report.html").read_text()
    summary = json.loads((market_making_run / "summary.json").read_text())
    sessions = pl.read_parquet(market_making_run / "sessions.parquet")
    assert "<title>Market-making run: market_making</title>" in text
    box = text.split("<div class='headline'>", 1)[1].split("</div>", 1)[0]
    for col in ("markup_index", "markup", "ask_mean"):
        ci = interval(sessions[col])
        assert f"{ci['mean']:.3f} [{ci['ci_lo']:.3f}, {ci['ci_hi']:.3f}]" in box, col
    assert f"competitive {summary['competitive_ask']:.4g}," in box
    assert f"collusive {summary['collusive_ask']:.4g}" in box
    spread = summary["detectors"]["screens"]["spread_level"]
    assert f"{spread['mean_spread']:.4g} against {spread['competitive_spread']:.4g}" in box
    assert "<h2>Detectors</h2>" in text
    assert html_escape(summary["detectors"]["verdict"]) in text
    assert "firm" not in box


@pytest.mark.parametrize(
    ("damage", "needle"),
    [
        ("impulse_columns", "impulse.parquet has no column 'maker'"),
        ("session_columns", "sessions.parquet has no column 'markup'"),
        ("benchmarks", "lacks the benchmark competitive_ask"),
    ],
)
def test_report_on_a_damaged_market_making_folder_is_one_line(
    market_making_run, tmp_path, capsys, damage, needle
):
    from marketsim.cli import main

    run = tmp_path / "mm"
    shutil.copytree(market_making_run, run)
    if damage == "impulse_columns":  # e.g. a table written by another tool
        pl.read_parquet(run / "impulse.parquet").rename({"maker": "dealer"}).write_parquet(
            run / "impulse.parquet"
        )
    elif damage == "session_columns":
        pl.read_parquet(run / "sessions.parquet").drop("markup").write_parquet(
            run / "sessions.parquet"
        )
    else:
        summary = json.loads((run / "summary.json").read_text())
        del summary["competitive_ask"]
        (run / "summary.json").write_text(json.dumps(summary))
    assert main(["report", str(run)]) == 2
    err = capsys.readouterr().err
    assert needle in err and "Traceback" not in err
    assert len(err.strip().splitlines()) == 1


def test_report_on_a_pricing_folder_with_a_foreign_impulse_table_is_one_line(
    pricing_run, tmp_path, capsys
):
    from marketsim.cli import main

    run = tmp_path / "calvano"
    shutil.copytree(pricing_run, run)
    pl.read_parquet(run / "impulse.parquet").rename({"firm": "maker"}).write_parquet(
        run / "impulse.parquet"
    )
    assert main(["report", str(run)]) == 2
    err = capsys.readouterr().err
    assert "impulse.parquet has no column 'firm'" in err and "Traceback" not in err
    assert len(err.strip().splitlines()) == 1


def test_a_market_making_sweep_charts_the_markup_against_the_grid(tmp_path):
    """A market_making sweep's report charts the markup index and the markup (price
    units) per grid cell, the cells' means of the sessions' values."""
    from marketsim.analysis.report_sweep import sweep_figures
    from marketsim.io import write_json_atomic, write_parquet_atomic

    parts = []
    for i, (tick, n) in enumerate((t, n) for t in (0.1, 0.2) for n in (2, 4)):
        parts.append(f"parts/p{i}.parquet")
        write_parquet_atomic(
            pl.DataFrame(
                {
                    "session": np.arange(3),
                    "markup_index": np.array([0.0, 1.0, 2.0]) + tick * n,
                    "markup": np.full(3, tick),
                    "profit_gain": np.full(3, 0.5),
                    "tick": np.full(3, tick),
                    "n_makers": np.full(3, n),
                }
            ),
            tmp_path / parts[-1],
        )
    summary = {"scenario": "market_making", "grid": {"tick": [0.1, 0.2], "n_makers": [2, 4]}}
    write_json_atomic({**summary, "parts": parts}, tmp_path / "sweep.json")
    figs = sweep_figures(tmp_path, summary)
    assert [f.name for f in figs] == ["heatmap_markup_index", "heatmap_markup"]
    values = figs[0].chart.to_dict()["data"]["values"]
    assert {(v["tick"], v["n_makers"]): v["markup_index"] for v in values} == pytest.approx(
        {(t, n): 1.0 + t * n for t in (0.1, 0.2) for n in (2, 4)}
    )


def test_a_baseline_run_opens_with_table1(baseline_run):
    """A real baseline run: the headline box is the Table 1 comparison, with the run's
    Delta beside the paper's 0.849 and its interval."""
    import math

    text = (baseline_run / "report.html").read_text()
    summary = json.loads((baseline_run / "summary.json").read_text())
    delta = summary["profit_gain_mean"]
    assert math.isfinite(delta)
    box = text.split("<div class='verdict headline'>", 1)[1].split("</div>", 1)[0]
    assert box.startswith(f"<p><b>Profit gain Delta = {delta:.3f} over 4 sessions")
    assert "<td>0.849 [0.842, 0.856]</td>" in box
    assert text.index("verdict headline") < text.index("<table class='meta'>")
    assert "parameters (14; every one at the scenario's default)" in text


def html_escape(s: str) -> str:
    import html

    return html.escape(s)


def test_price_paths_extend_the_limit_cycle(pricing_run):
    """The periods added before the impulse window repeat the session's limit cycle."""
    from marketsim.analysis.report import PRE_PERIODS
    from marketsim.analysis.report_pricing import _price_paths

    sessions = pl.read_parquet(pricing_run / "sessions.parquet")
    impulse = pl.read_parquet(pricing_run / "impulse.parquet")
    paths = _price_paths(sessions, impulse)
    t_first = int(impulse["t"].min())
    for s in paths["session"].unique().to_list():
        row = sessions.filter(pl.col("session") == s)
        length = int(row["cycle_length"][0])
        for firm in (1, 2):
            p = paths.filter((pl.col("session") == s) & (pl.col("firm") == firm)).sort("t")
            assert int(p["t"].min()) == t_first - PRE_PERIODS
            pre = p.filter(pl.col("t") < 0)
            prices = dict(zip(pre["t"].to_list(), pre["price"].to_list(), strict=True))
            for t, price in prices.items():
                if t + length in prices:
                    assert price == prices[t + length]
            cycle = set(row[f"cycle_prices_firm{firm}"][0])
            assert set(prices.values()) <= cycle


def test_large_run_is_summarised(pricing_run, tmp_path):
    """A 1,000-session pricing run gives a page under 5 MB (charts are summaries)."""
    from marketsim.analysis.report import write_report

    sessions = pl.read_parquet(pricing_run / "sessions.parquet")
    impulse = pl.read_parquet(pricing_run / "impulse.parquet")
    reps = -(-1000 // sessions.height)
    big_s = pl.concat(
        [sessions.with_columns(pl.col("session") + k * sessions.height) for k in range(reps)]
    ).head(1000)
    big_i = pl.concat(
        [impulse.with_columns(pl.col("session") + k * sessions.height) for k in range(reps)]
    ).filter(pl.col("session") < 1000)
    big_s.write_parquet(tmp_path / "sessions.parquet")
    big_i.write_parquet(tmp_path / "impulse.parquet")
    shutil.copy(pricing_run / "summary.json", tmp_path / "summary.json")
    page = write_report(tmp_path)
    size = page.stat().st_size
    small = (pricing_run / "report.html").stat().st_size
    assert size < 5_000_000
    assert size < small * 1.2  # the page does not grow with the number of sessions


def test_report_command_errors(tmp_path, capsys):
    from marketsim.cli import main

    assert main(["report", str(tmp_path / "missing")]) == 2
    assert "no such folder" in capsys.readouterr().err
    assert main(["report", str(tmp_path)]) == 2
    assert "sessions.parquet" in capsys.readouterr().err


def test_report_command_prints_path(compare_run, capsys):
    from marketsim.cli import main

    assert main(["report", str(compare_run)]) == 0
    out = capsys.readouterr().out.strip()
    assert out == f"report: {(compare_run / 'report.html').resolve()}"


# --- headlines and statistics a reader can rely on (in this file so that the runs above
# are made once per worker) ---------------------------------------------------------
# Report headlines and statistics a reader can rely on.
#
# Each report kind opens with a headline box in plain words with units; order-book charts
# share one clock-time axis and shade the sell programme's window; comparison and sweep
# reports say "N seeds", carry a small-sample note below 10 seeds, and state sessions per
# cell and the ``--set`` values. Screenshots of every kind are taken in headless Chromium.

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


#: two stop-logic pauses of the crash fixture (300 s in all, as its summary says): one of
#: 5 s at 10:01, one of 295 s from 10:03
_HALTS = pl.DataFrame(
    {
        "start_ns": [(10 * 3600 + 60) * 10**9, (10 * 3600 + 180) * 10**9],
        "end_ns": [(10 * 3600 + 65) * 10**9, (10 * 3600 + 475) * 10**9],
        "seconds": [5.0, 295.0],
        "cause": ["stop_logic_pause", "stop_logic_pause"],
    }
)


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
def crash_page(orderbook_run, tmp_path_factory):
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
    _HALTS.write_parquet(out / "halts.parquet")
    return write_report(out)


@pytest.fixture(scope="module")
def two_session_page(orderbook_run, tmp_path_factory):
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
def sweep_page(sweep_run, tmp_path_factory):
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
    halts = [
        v
        for n in _walk(mid)
        if isinstance(n.get("values"), list)
        for v in n["values"]
        if isinstance(v, dict) and v.get("state") == "halt"
    ]
    # the bands are halts.parquet's intervals; the 5 s pause is drawn 1/300 of the axis wide
    least = (hi - lo) / 300
    assert halts == [
        {"start": 36_300 * 1000.0, "end": 36_600 * 1000.0, "state": "halt"},  # book's column
        {
            "start": (10 * 3600 + 60) * 1000.0,
            "end": (10 * 3600 + 60) * 1000.0 + least,
            "state": "halt",
        },
        {"start": (10 * 3600 + 180) * 1000.0, "end": (10 * 3600 + 475) * 1000.0, "state": "halt"},
    ]
    caption = crash_page.read_text()
    assert "shaded red: halts and pauses (2 stop logic pauses; 300 s in all)" in caption
    assert "does not record when" not in caption
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
    crash_page, two_session_page, compare_pages, sweep_page, baseline_run, reports, tmp_path
):
    """Headless Chromium renders each kind to a PNG (kept in .pytest-screenshots/ for a
    reader to look at); each must be a full-size image, not a blank page."""
    SHOTS.mkdir(exist_ok=True)
    pages = {
        "orderbook": crash_page,
        "orderbook_2_sessions": two_session_page,
        "compare_3_seeds": compare_pages[3],
        "sweep": sweep_page,
        "pricing_table1": baseline_run / "report.html",
        "pricing_off_baseline": reports["pricing"],
    }
    for name, page in pages.items():
        png = SHOTS / f"{name}.png"
        png.unlink(missing_ok=True)
        res = subprocess.run(
            [
                chromium(),
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


def test_the_vega_bundle_is_built_once_and_then_read_from_the_user_cache(tmp_path, monkeypatch):
    import vl_convert

    from marketsim.analysis import report_page

    calls = []

    def bundle():
        calls.append(1)
        return "vega();</script>embed();"

    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    monkeypatch.setattr(vl_convert, "javascript_bundle", bundle)
    report_page._vega_bundle.cache_clear()
    try:
        first = report_page._vega_bundle()
        assert first == "vega();<\\/script>embed();"  # cannot end the inline <script>
        stored = report_page._bundle_cache()
        assert stored.parent == tmp_path / "cache" / "marketsim"
        assert vl_convert.__version__ in stored.name
        assert stored.read_text() == first
        report_page._vega_bundle.cache_clear()  # a new process
        assert report_page._vega_bundle() == first
        assert len(calls) == 1
        # a cache folder that cannot be made (a file is in the way) is skipped
        monkeypatch.setenv("XDG_CACHE_HOME", str(stored))
        report_page._vega_bundle.cache_clear()
        assert report_page._vega_bundle() == first
        assert len(calls) == 2
    finally:
        report_page._vega_bundle.cache_clear()
