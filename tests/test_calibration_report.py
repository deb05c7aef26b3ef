"""The calibration report and the ensemble report (``marketsim report`` on a
``calibrate`` folder or a ``compare --ensemble`` folder).

Tables are built in the tests (no simulation) except where a real calibration is
needed: the stored ``data/flash_crash_2010_calibration/`` and one three-candidate
calibration of a 300 s calm market. Mechanics only: no test asks for a finding about
the model."""

from __future__ import annotations

import html
import json
import re
import shutil
from pathlib import Path

import numpy as np
import polars as pl
import pytest

from marketsim.analysis.report_calibration import binding_targets, finding
from marketsim.cli import main
from tests._browser import rendered_offline
from tests.test_calibrate import _card

ROOT = Path(__file__).resolve().parents[1]
STORED = ROOT / "data" / "flash_crash_2010_calibration"

BANDS = [
    {"name": "a", "measure": "m_a", "unit": "s", "figure": 10.0, "low": 5.0, "high": 15.0},
    {"name": "b", "measure": "m_b", "unit": "%", "figure": 0.5, "low": 0.0, "high": 1.0},
    {"name": "c", "measure": "m_c", "unit": "ratio", "figure": 100.0, "low": 50.0, "high": None},
]
IN = {"a": 10.0, "b": 0.5, "c": 100.0}  # inside every band
OUT = {"a": 20.0, "b": 2.0, "c": 10.0}  # outside every band


def _row(i: int, misses: str) -> dict:
    moments = {k: (OUT[k] if k in misses else IN[k]) for k in IN}
    return {"candidate": i, "stage": "design", "x": 0.1 * i, "y": 1.0 + i, **moments}


def _table() -> pl.DataFrame:
    """Ten candidates: 2 accepted; 4 miss only b; 1 misses only c; a is missed by 3,
    never alone (a+c twice, a+b+c once)."""
    misses = ["", "", "b", "b", "b", "b", "c", "ac", "ac", "abc"]
    rows = [_row(i, m) for i, m in enumerate(misses)]
    table = pl.DataFrame(rows).with_columns(
        pl.lit(1.0).alias("distance"),
        pl.Series("accepted", [m == "" for m in misses]),
    )
    # a moment missing on every seed (null) is a miss: candidate 9's b
    return table.with_columns(
        pl.when(pl.col("candidate") == 9).then(None).otherwise(pl.col("b")).alias("b")
    )


def _calibration_folder(folder: Path, table: pl.DataFrame | None = None) -> Path:
    folder.mkdir()
    table = _table() if table is None else table
    table.write_parquet(folder / "calibration.parquet")
    table.filter(pl.col("accepted")).write_parquet(folder / "accepted.parquet")
    summary = {
        "scenario": "market_calm",
        "version": 2,
        "box": {"x": [0.0, 1.0], "y": [1.0, 11.0]},
        "seeds": [0, 1],
        "target_bands": BANDS,
    }
    (folder / "summary.json").write_text(json.dumps(summary))
    return folder


def _text(page: Path) -> str:
    """The page's text: tags dropped, entities unescaped, spaces collapsed."""
    body = page.read_text().split("<body>", 1)[1].split("<script", 1)[0]
    return re.sub(r"\s+", " ", html.unescape(re.sub(r"<[^>]+>", " ", body)))


def test_binding_counts_misses_and_the_sole_miss_of_near_accepted_candidates():
    res = binding_targets(_table(), BANDS)
    rows = {r["name"]: r for r in res["targets"]}
    assert res["candidates"] == 10 and res["accepted"] == 2
    assert res["near_accepted"] == 5  # four miss only b, one misses only c
    assert (rows["a"]["missed"], rows["b"]["missed"], rows["c"]["missed"]) == (3, 5, 4)
    assert (rows["a"]["sole_miss"], rows["b"]["sole_miss"], rows["c"]["sole_miss"]) == (0, 4, 1)
    # b binds: it alone rejects most near-accepted candidates
    assert res["binding"] == "b"


def test_without_near_accepted_candidates_the_most_missed_target_binds():
    misses = ["", "ab", "ab", "abc", "bc"]
    table = pl.DataFrame([_row(i, m) for i, m in enumerate(misses)]).with_columns(
        pl.Series("accepted", [m == "" for m in misses]), pl.lit(1.0).alias("distance")
    )
    res = binding_targets(table, BANDS)
    assert res["near_accepted"] == 0 and res["fewest_missed"] == 2
    assert res["binding"] == "b"  # missed by 4 of 5
    text = " ".join(finding(table, BANDS))
    assert "The binding target is b: 4 of 5 candidates (80%)" in text
    assert "no candidate missed only one target" in text


def test_report_of_a_synthetic_calibration_names_the_binding_target(tmp_path, capsys):
    folder = _calibration_folder(tmp_path / "calib")
    assert main(["report", str(folder)]) == 0
    page = Path(capsys.readouterr().out.split("report: ", 1)[1].strip())
    text = _text(page)
    # the finding leads the page, before the provenance table
    lead = text.split("About this run")[0]
    assert "2 of 10 candidates (20%) met every target" in lead
    assert (
        "The binding target is b: 5 of 10 candidates (50%) miss its band (0 to 1 %), and it "
        "alone rejects 4 of the 5 near-accepted candidates" in lead
    )
    assert "Candidates missing each other target (of 10): c 4, a 3." in lead
    assert {p.name for p in (folder / "figures").glob("*.png")} == {
        "targets.png",
        "binding.png",
        "parameters.png",
        "pairs.png",
    }
    # the page renders offline in Chromium: one SVG per chart, no Vega error
    rendered_offline(page, tmp_path)


def test_report_of_the_stored_calibration_agrees_with_its_summary(tmp_path, monkeypatch, capsys):
    """The stored flash-crash calibration: per target, the report's count of candidates
    missing it is the complement of the share inside that its summary recorded, and the
    target it names is :func:`binding_targets`'s. Bands the summary does not record
    come from its card, found from the folder's parents."""
    from marketsim.analysis.report_calibration import card_bands
    from marketsim.scenarios.targets import load_targets

    folder = tmp_path / "data" / "calib"
    shutil.copytree(STORED, folder, ignore=shutil.ignore_patterns("full_sessions", "report*"))
    summary = json.loads((STORED / "summary.json").read_text())
    card = ROOT / summary["targets"]
    shutil.copy(card, tmp_path / "data" / card.name)
    monkeypatch.chdir(tmp_path / "data")  # the card's recorded path is not below the cwd
    assert main(["report", str(folder)]) == 0
    capsys.readouterr()
    text = _text(folder / "report.html")
    table = pl.read_parquet(STORED / "calibration.parquet")
    n = table.height
    bands = summary.get("target_bands")
    if bands is None:
        bands = card_bands(load_targets(card).targets_for(summary["scenario"]))
        assert "every candidate keeps its recorded acceptance" in text
    assert f"{summary['n_accepted']} of {n} candidates" in text
    for b in bands:
        inside = summary["targets_inside_share"][b["name"]]
        row = re.search(rf"{b['name']} {b['measure']} .*? (\d+) of {n} ", text)
        assert row is not None and int(row.group(1)) == round((1 - inside) * n), b["name"]
    binding = binding_targets(table, bands)["binding"]
    assert f"The binding target is {binding}: " in text


def _bad_missing_summary(folder):
    _calibration_folder(folder)
    (folder / "summary.json").unlink()


def _bad_missing_column(folder):
    _calibration_folder(folder, _table().drop("c"))


def _bad_no_bands(folder):
    _calibration_folder(folder)
    data = json.loads((folder / "summary.json").read_text())
    del data["target_bands"]
    (folder / "summary.json").write_text(json.dumps(data))


def _bad_not_a_run(folder):
    folder.mkdir()
    (folder / "notes.txt").write_text("hello")


@pytest.mark.parametrize(
    ("make", "words"),
    [
        (_bad_missing_summary, ["without summary.json", "re-run marketsim calibrate"]),
        (_bad_missing_column, ["calibration.parquet", "no column 'c'"]),
        (_bad_no_bands, ["records no target bands"]),
        (_bad_not_a_run, ["calibration.parquet", "pass a finished run's --out folder"]),
    ],
)
def test_a_folder_that_is_not_a_calibration_is_one_line_and_exit_2(tmp_path, capsys, make, words):
    folder = tmp_path / "f"
    make(folder)
    assert main(["report", str(folder)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and err.count("\n") == 1, err
    assert all(w in err for w in words), err
    assert not (folder / "report.html").exists()


def test_calibrate_report_writes_the_report_and_records_bands_and_binding(tmp_path, capsys):
    """``calibrate --report`` on three candidates of a 300 s calm market; the summary's
    ``binding`` is the report's definition."""
    card = _card(tmp_path / "card.toml", 58000.0, 7000.0)  # band 51,000-65,000
    out = tmp_path / "out"
    args = ["calibrate", "market_calm", "--targets", str(card), "--param", "noise_rate=0.02:0.07"]
    args += ["--budget", "3", "--seeds", "1", "--workers", "1", "--out", str(out), "--quiet"]
    args += ["--set", "session_seconds=300", "--set", "warmup_seconds=60", "--report"]
    assert main(args) == 0
    assert f"report: {(out / 'report.html').resolve()}" in capsys.readouterr().out
    summary = json.loads((out / "summary.json").read_text())
    assert [b["name"] for b in summary["target_bands"]] == ["actions"]
    assert summary["target_bands"][0]["low"] == 51000.0
    table = pl.read_parquet(out / "calibration.parquet")
    assert summary["binding"] == binding_targets(table, summary["target_bands"])
    text = _text(out / "report.html")
    assert f"{summary['n_accepted']} of 3 candidates" in text


# --------------------------------------------------------------------------- ensemble

#: per calibration, the luld arm's shift of each metric from the baseline per seed
_SHIFTS = {0: {"max_drawdown": -0.02, "volume": 50.0}, 1: {"max_drawdown": 0.0, "volume": -40.0}}
_NOISE = np.array([0.004, -0.003, 0.001, -0.002])


def _fake_compare(scenario, policies, *, seeds, out, params, **_):
    """Writes the compare.json an ensemble reads: per-seed values of each arm."""
    k = 0 if params["impact_withdrawal_multiple"] < 10 else 1
    base = {"max_drawdown": list(0.05 + _NOISE[:seeds]), "volume": list(1e4 + 100 * _NOISE)}
    arm = {
        m: [
            v + _SHIFTS[k][m] + (0.5 * _NOISE[i] if m == "max_drawdown" else 30 * _NOISE[i])
            for i, v in enumerate(vals)
        ]
        for m, vals in base.items()
    }
    Path(out).mkdir(parents=True, exist_ok=True)
    data = {"version": 5, "baseline": "none", "per_seed": {"none": base, "luld": arm}}
    (Path(out) / "compare.json").write_text(json.dumps(data))


def test_ensemble_report_shows_each_calibration_and_the_pooled_row_as_the_json(
    tmp_path, monkeypatch, capsys
):
    from marketsim.experiments import ensemble

    cal = tmp_path / "calib"
    cal.mkdir()
    box = {"impact_withdrawal_multiple": [2.0, 20.0]}
    (cal / "summary.json").write_text(json.dumps({"scenario": "flash_crash_2010", "box": box}))
    pl.DataFrame(
        {"candidate": [3, 24], "impact_withdrawal_multiple": [5.0, 15.0], "accepted": [True] * 2}
    ).write_parquet(cal / "accepted.parquet")
    monkeypatch.setattr(ensemble, "compare", _fake_compare)
    out = tmp_path / "ens"
    args = ["compare", "flash_crash_2010", "--policy", "none", "--policy", "luld", "--seeds", "4"]
    args += ["--ensemble", str(cal), "--out", str(out), "--report", "--quiet"]
    assert main(args) == 0
    assert "report: " in capsys.readouterr().out
    data = json.loads((out / "ensemble.json").read_text())
    text = _text(out / "report.html")
    for s in data["summary"]:
        assert s["verdict"][1:] in text
        below, above, spans = (round(100 * s[f"share_{k}"]) for k in ("below", "above", "spans"))
        assert (
            f"below zero {below}%, above zero {above}%, spanning zero {spans}% of 2 calibrations"
            in text
        )
    # the drawdown verdict leads the page (the first metric), before any table
    lead = text.split("luld against none")[0]
    assert "depends on the calibration" in lead
    seen = set()
    for r in data["rows"]:
        scale = 100.0 if r["metric"] == "max_drawdown" else 1.0
        d, lo, hi = (scale * r[k] for k in ("diff", "diff_lo", "diff_hi"))
        cell = f"{r['calibration']} {d:+.3g} [{lo:+.3g}, {hi:+.3g}] {r['p_value']:.2g} {r['sign']}"
        assert cell in text, cell
        seen.add(r["calibration"])
    assert seen == {"cal_3", "cal_24", "pooled"}
    assert "flash_crash_2010 (version 5)" in text
    # the table read by the report is the JSON's
    table = pl.read_parquet(out / "ensemble.parquet")
    assert table.to_dicts() == data["rows"]
    assert (out / "figures" / "forest_0.png").is_file()
    rendered_offline(out / "report.html", tmp_path)
