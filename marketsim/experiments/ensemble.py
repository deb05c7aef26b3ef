r"""Policy effects across the accepted calibrations of a ``calibrate`` run.

:func:`compare_ensemble` (``marketsim compare SCENARIO --policy none --policy luld
--ensemble CALIB_DIR --seeds 10 --out DIR``) runs :func:`~marketsim.experiments.compare.compare`
once per accepted calibration in ``CALIB_DIR/accepted.parquet``: the scenario at its
defaults with the calibrated parameters set to that calibration's values (the
calibration's own ``--set`` values, such as shortened sessions, are not carried over),
the same seeds ``0 .. seeds-1`` and the same policies (common random numbers across
policies and across calibrations). It writes

* ``DIR/calibrations/cal_<candidate>/``: each calibration's comparison (``compare.json``
  and its cells; resumable as ``compare`` is);
* ``DIR/ensemble.parquet``: one row per (policy, metric, calibration) with the paired
  difference from the baseline, its Student-t interval, p-value and ``sign``
  (``"below"``: the interval lies below zero, ``"above"``, or ``"spans"`` it), and one
  ``calibration = "pooled"`` row per (policy, metric): the paired t interval of all
  calibration x seed differences together (pairs treated as independent);
* ``DIR/ensemble.json``: the same rows, the calibrations' parameters and, per policy and
  metric, the share of calibrations whose interval lies below zero, above zero or spans
  it, with a sentence that says plainly when the conclusion depends on the calibration
  (the calibrations do not all agree on the sign, or on the interval excluding zero).
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np
import polars as pl

from marketsim.errors import UsageError
from marketsim.experiments.compare import check_compare_args, compare, paired_difference
from marketsim.experiments.out_folder import claim
from marketsim.io import run_metadata, write_json_atomic, write_parquet_atomic

COLUMNS = (
    "policy",
    "metric",
    "calibration",
    "diff",
    "diff_lo",
    "diff_hi",
    "p_value",
    "sign",
    "n_pairs",
)


def read_ensemble(folder) -> tuple[str, dict[str, tuple[float, float]], list[dict]]:
    """``(scenario, box, calibrations)`` of a ``calibrate`` output folder: each
    calibration is ``{"candidate": int, "params": {name: value}}``, one per accepted row."""
    folder = Path(folder)
    summary_path, accepted_path = folder / "summary.json", folder / "accepted.parquet"
    if not summary_path.is_file() or not accepted_path.is_file():
        raise UsageError(
            f"--ensemble {folder}: not a finished calibrate folder (no summary.json and "
            "accepted.parquet); run marketsim calibrate ... --out DIR first"
        )
    try:
        summary = json.loads(summary_path.read_text())
        box = {k: tuple(v) for k, v in summary["box"].items()}
        accepted = pl.read_parquet(accepted_path)
    except (OSError, ValueError, KeyError, TypeError, pl.exceptions.PolarsError) as exc:
        raise UsageError(f"--ensemble {folder}: unreadable calibration ({exc})") from None
    missing = [k for k in ("candidate", *box) if k not in accepted.columns]
    if missing:
        raise UsageError(f"--ensemble {folder}: accepted.parquet lacks columns {missing}")
    if accepted.height == 0:
        raise UsageError(
            f"--ensemble {folder}: the calibration accepted no candidate; widen its --param "
            "box or raise --budget, or compare at the scenario's defaults without --ensemble"
        )
    cals = [
        {"candidate": int(row["candidate"]), "params": {k: row[k] for k in box}}
        for row in accepted.sort("candidate").iter_rows(named=True)
    ]
    return str(summary.get("scenario", "")), box, cals


def _sign(lo: float, hi: float) -> str:
    if np.isfinite(hi) and hi < 0:
        return "below"
    if np.isfinite(lo) and lo > 0:
        return "above"
    return "spans"


def verdict(policy: str, metric: str, signs: list[str], diffs: list[float]) -> str:
    """One plain sentence on whether the calibrations agree on ``policy``'s effect."""
    n = len(signs)
    below, above = signs.count("below"), signs.count("above")
    spans = n - below - above
    counts = (
        f"{below} of {n} calibrations below zero, {above} above, {spans} spanning zero"
        " (95% paired intervals)"
    )
    if below == n or above == n:
        way = "lowers" if below == n else "raises"
        return f"{policy} {way} {metric} under every accepted calibration: {counts}."
    if spans == n:
        return (
            f"{policy}'s effect on {metric} is not distinguished from zero under any "
            f"calibration: {counts}."
        )
    if below and above:
        return f"the sign of {policy}'s effect on {metric} depends on the calibration: {counts}."
    lower, higher = sum(d < 0 for d in diffs), sum(d > 0 for d in diffs)
    return (
        f"whether {policy} changes {metric} depends on the calibration: {counts}; "
        f"the point estimates are lower in {lower} of {n} and higher in {higher}."
    )


def compare_ensemble(
    scenario: str,
    policies: list[str],
    *,
    ensemble,
    seeds: int,
    out,
    sessions: int | None = None,
    config: Path | None = None,
    sets: list[str] | None = None,
    params: dict | None = None,
    threads: int | None = None,
    progress: bool = True,
    level: float = 0.95,
    workers: int = 1,
    overwrite: bool = False,
) -> pl.DataFrame:
    """Run ``policies`` on every accepted calibration of ``ensemble`` (a ``calibrate``
    output folder) and pool the effects; returns the rows of ``ensemble.parquet``."""
    from marketsim.scenarios import parse_sets

    check_compare_args(policies, seeds, workers)  # before the folder is claimed
    cal_scenario, box, cals = read_ensemble(ensemble)
    if cal_scenario != scenario:
        raise UsageError(
            f"--ensemble {ensemble}: a calibration of {cal_scenario!r}, not of {scenario!r}"
        )
    fixed = {**(params or {}), **parse_sets(list(sets or []))}
    clash = sorted(set(fixed) & set(box))
    if clash:
        raise UsageError(
            f"--set {clash[0]}: a calibrated parameter; each calibration sets it "
            "(drop it, or compare without --ensemble)"
        )
    out = Path(out)
    claim(
        out,
        command="compare-ensemble",
        scenario=scenario,
        identity={
            "policies": list(policies),
            "calibrations": cals,
            "seeds": seeds,
            "sessions": sessions,
            "fixed": {k: str(v) for k, v in sorted(fixed.items())},
        },
        resumable=True,
        overwrite=overwrite,
        summary=f"{len(cals)} calibrations x {seeds} seeds",
    )
    t0 = time.perf_counter()
    per_cal, rows, versions = [], [], []
    for cal in cals:
        sub = out / "calibrations" / f"cal_{cal['candidate']}"
        sub.mkdir(parents=True, exist_ok=True)
        compare(
            scenario,
            list(policies),
            seeds=seeds,
            out=sub,
            sessions=sessions,
            config=config,
            sets=[],
            params={**fixed, **cal["params"]},
            threads=threads,
            progress=progress,
            level=level,
            workers=workers,
        )
        data = json.loads((sub / "compare.json").read_text())
        per_cal.append((cal, data["baseline"], data["per_seed"]))
        versions.append(data.get("version"))
    labels = list(per_cal[0][2])
    base = per_cal[0][1]
    metrics = sorted({m for _, _, ps in per_cal for m in ps[base]})
    summary_rows = []
    for label in labels[1:]:
        for metric in metrics:
            signs, diffs, xs, bs = [], [], [], []
            for cal, _, ps in per_cal:
                x = np.asarray(ps[label].get(metric, [np.nan] * seeds), dtype=float)
                b = np.asarray(ps[base].get(metric, [np.nan] * seeds), dtype=float)
                d, lo, hi, p = paired_difference(x, b, level=level)
                sign = _sign(lo, hi)
                signs.append(sign)
                diffs.append(d)
                xs.append(x)
                bs.append(b)
                n_pairs = int((np.isfinite(x) & np.isfinite(b)).sum())
                rows.append((label, metric, f"cal_{cal['candidate']}", d, lo, hi, p, sign, n_pairs))
            x, b = np.concatenate(xs), np.concatenate(bs)
            d, lo, hi, p = paired_difference(x, b, level=level)
            n_pairs = int((np.isfinite(x) & np.isfinite(b)).sum())
            rows.append((label, metric, "pooled", d, lo, hi, p, _sign(lo, hi), n_pairs))
            n = len(signs)
            summary_rows.append(
                {
                    "policy": label,
                    "metric": metric,
                    "n_calibrations": n,
                    "share_below": signs.count("below") / n,
                    "share_above": signs.count("above") / n,
                    "share_spans": signs.count("spans") / n,
                    "depends_on_calibration": len(set(signs)) > 1,
                    "pooled": {"diff": d, "diff_lo": lo, "diff_hi": hi, "p_value": p},
                    "verdict": verdict(label, metric, signs, diffs),
                }
            )
    schema = {c: pl.Float64 for c in COLUMNS}
    schema.update(
        policy=pl.String, metric=pl.String, calibration=pl.String, sign=pl.String, n_pairs=pl.Int64
    )
    table = pl.DataFrame(rows, schema=schema, orient="row")
    write_parquet_atomic(table, out / "ensemble.parquet")
    write_json_atomic(
        {
            "scenario": scenario,
            "version": versions[0] if len(set(versions)) == 1 else versions,
            "ensemble": str(Path(ensemble).resolve()),
            "calibrated": {k: list(v) for k, v in box.items()},
            "calibrations": cals,
            "policies": labels,
            "baseline": base,
            "seeds": seeds,
            "fixed": {k: v for k, v in sorted(fixed.items())},
            "level": level,
            "statistics": {
                "per_calibration": "paired t interval over seeds (as compare)",
                "pooled": "paired t interval over all calibration x seed pairs, "
                "taken as independent",
                "sign": "below / above: the interval lies below / above zero; spans: it "
                "contains zero",
            },
            "summary": summary_rows,
            "rows": table.to_dicts(),
            "wall_seconds": time.perf_counter() - t0,
            **run_metadata(),
        },
        out / "ensemble.json",
    )
    return table


__all__ = ["COLUMNS", "compare_ensemble", "read_ensemble", "verdict"]
