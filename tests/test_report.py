"""Reports: every kind of run folder gives a self-contained page that renders offline.

Each report is opened in headless Chromium (Debian's ``chromium``; ``.ci/run`` installs
it); the DOM after the scripts ran must hold one rendered SVG per chart, no Vega error,
and no ``http`` URL in any ``src``/``href``. PNGs must be images of the chart's size.
"""

from __future__ import annotations

import json
import re
import shutil

import numpy as np
import polars as pl
import pytest

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


KINDS = {
    "pricing": "pricing_run",
    "orderbook": "orderbook_run",
    "compare": "compare_run",
    "sweep": "sweep_run",
}
#: charts each report must hold
EXPECTED = {
    "pricing": {"price_paths", "profit_gain", "impulse_response", "outcomes"},
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
        if kind != "pricing":  # the pricing run wrote its own through `run --report`
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
    assert "beta = 4e-05" in text
    assert html_escape(summary["detectors"]["verdict"]) in text


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
