"""Calibration by the simulated method of moments over a quasi-random design.

``budget`` candidates are drawn from the box given by ``--param NAME=LO:HI`` with a
scrambled Halton sequence (:class:`scipy.stats.qmc.Halton`, ``scramble=True``, fixed
``design_seed``, default 0), so the same command draws the same candidates. Each
candidate runs the same ``seeds`` root seeds ``seed .. seed+seeds-1`` (common random
numbers: candidates differ by their parameters, never by their luck).

The simulated moments are the summary keys the targets card names for the scenario
(:mod:`marketsim.scenarios.targets`), pooled over the seeds by the target's own rule, as
:func:`~marketsim.scenarios.targets.assess` pools them:

- ``rule = "median"``: the moment is the median over the seeds with a value, ``m_t``,
  standardised as ``z_t = (m_t - figure_t) / s_t`` with ``s_t`` the half-width of the
  target's band, ``(high - low) / 2``, or for a one-sided band the distance from the
  figure to its one bound (1 when that is zero); it meets the target inside the band
  (bounds included). A moment missing on every seed makes the distance infinite and the
  candidate rejected.
- ``rule = "share"`` (acceptance asks for a share of seeds in the band): the moment is
  the share ``q_t`` of the seeds whose value lies in the band (a missing value lies
  outside it), standardised as ``z_t = (1 - q_t) / (1 - min_share_t)`` (``1 / n_seeds``
  in place of ``1 - min_share_t`` when ``min_share_t = 1``); it meets the target when
  ``q_t >= min_share_t``. Every seed inside adds 0, a share at ``min_share_t`` adds 1, as
  a median at the edge of its band does, and the term grows with the square of the
  shortfall below that. ``calibration.parquet`` holds the share in the target's column
  and the median over the seeds beside it, in ``<name>_median``; ``summary.json``'s
  ``target_bands`` records such a target's band as the shares ``[min_share_t, 1]``.

The distance of a candidate is ``D = sum_t z_t ** 2 / n_targets``, and it is **accepted**
when it meets every target (a median at the edge of a band centred on its figure adds 1,
as a share at its minimum does). A share needs several seeds to mean much (each seed moves it by
``1 / n_seeds``): run as many seeds per candidate as ``1 / (1 - min_share)`` at least.

Every candidate's per-seed moments are one part, ``OUT/parts/<key>.parquet``, written
atomically, ``key`` the sha256 of (scenario, version, validated spec, seeds, measures):
a run killed at any moment and started again skips the parts on disk and ends with the
same tables. Work goes to ``dask.distributed`` as in :mod:`~marketsim.experiments.sweep`;
``workers=1`` (no scheduler) runs in this process, without a cluster.

With ``refine > 0`` the design's candidate of least distance starts a bounded
Nelder-Mead search (:func:`scipy.optimize.minimize`, in the box scaled to the unit cube,
at most ``refine`` evaluations, run one after another in this process): each evaluation
is a candidate like the others, on the same seeds, written as a part, and it joins the
tables with ``stage = "refine"`` (accepted by the same rule). The search is
deterministic given its evaluations, so a resumed refinement replays the parts on disk.

Why one file of about 670 lines: the design, the parts, the pooling (median or share)
and the refinement are the steps of one resumable command, and each reads the same plan
(:class:`CalibrationPlan`: the card, the bounds, the seeds, the part keys); the report is apart
(:mod:`marketsim.analysis.report_calibration`).
"""

from __future__ import annotations

import math
import os
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl

from marketsim.errors import UsageError
from marketsim.experiments._dask import (
    PARTS,
    dask_client,
    retrying_once,
    start_parts,
    task_progress,
)
from marketsim.experiments.sweep import _sha
from marketsim.io import run_metadata, write_json_atomic, write_parquet_atomic

MANIFEST = "calibrate.json"
#: columns of calibration.parquet besides parameters and moments
RESERVED = {"candidate", "stage", "distance", "accepted"}


def parse_param_items(items: list[str] | None) -> dict[str, tuple[float, float]]:
    """``["noise_rate=0.02:0.1"]`` -> ``{"noise_rate": (0.02, 0.1)}``; bad items raise."""
    box: dict[str, tuple[float, float]] = {}
    for item in items or []:
        name, sep, raw = item.partition("=")
        name = name.strip()
        lo_text, colon, hi_text = raw.partition(":")
        if not sep or not name or not colon:
            raise UsageError(f"--param {item!r}: expected NAME=LO:HI, e.g. noise_rate=0.02:0.1")
        try:
            lo, hi = float(lo_text), float(hi_text)
        except ValueError:
            raise UsageError(f"--param {name}: LO and HI must be numbers, got {raw!r}") from None
        if not (math.isfinite(lo) and math.isfinite(hi)):
            raise UsageError(f"--param {name}: LO and HI must be finite, got {raw!r}")
        if lo >= hi:
            raise UsageError(f"--param {name}: LO {lo:g} >= HI {hi:g}; give LO < HI")
        if name in box:
            raise UsageError(f"--param {name}: given twice; give each parameter once")
        box[name] = (lo, hi)
    return box


def scale_of(target) -> float:
    """The standardising scale of one target: half its band, or figure-to-bound."""
    if target.low is not None and target.high is not None:
        s = (target.high - target.low) / 2
    else:
        bound = target.low if target.low is not None else target.high
        s = abs(target.figure - bound)
    return s if s > 0 else 1.0


def share_scale(target, n_seeds: int) -> float:
    """The standardising scale of a ``share`` target: the shortfall from every seed
    inside that still meets it, ``1 - min_share`` (one seed, ``1 / n_seeds``, when
    ``min_share`` is 1)."""
    s = 1.0 - (target.min_share or 1.0)
    return s if s > 0 else 1.0 / max(n_seeds, 1)


def pool_candidate(targets, part: pl.DataFrame, scenario: str) -> tuple[dict, float, bool]:
    """Pool one candidate's per-seed moments (``part``: a row per seed, a column per
    measure) target by target (the module docstring's rules); ``targets`` are the card's
    targets read on ``scenario``.

    Returns ``(moments, distance, accepted)``: ``moments`` maps each target's name to its
    pooled moment (the share of seeds inside the band for a ``share`` target, with the
    median over the seeds in ``<name>_median``; the median for the others; None when no
    seed has a value)."""
    from marketsim.scenarios.targets import TargetsCard, assess

    card = TargetsCard.model_construct(target=list(targets), scenario=scenario)
    keep = [c for c in part.columns if c not in ("candidate", "seed")]
    summaries = [_nest(r) for r in part.select(keep).to_dicts()]
    pooled = {r["name"]: r for r in assess(card, summaries, scenario)}
    moments: dict[str, float | None] = {}
    dist, accepted = 0.0, True
    for t in targets:
        r = pooled[t.name]
        if t.rule == "share":
            q = r["share_inside"] if summaries else 0.0
            moments[t.name] = q
            moments[f"{t.name}_median"] = r["median"]
            dist += ((1.0 - q) / share_scale(t, len(summaries))) ** 2
            accepted = accepted and q >= t.min_share
            continue
        m = r["median"]
        moments[t.name] = m
        if m is None:
            dist, accepted = math.inf, False
        else:
            dist += ((m - t.figure) / scale_of(t)) ** 2
            accepted = accepted and t.inside(m)
    return moments, dist / len(targets), accepted


def pooled_bands(targets) -> list[dict]:
    """The bands of the pooled moments (``summary.json``'s ``target_bands``): the card's
    band for a ``median`` target; for a ``share`` target, the shares ``[min_share, 1]``
    with figure 1 (every seed inside), the card's band kept as ``seed_low``/``seed_high``."""
    from marketsim.analysis.report_calibration import card_bands

    out = []
    for t, band in zip(targets, card_bands(targets), strict=True):
        if t.rule == "share":
            band = {
                **band,
                "unit": f"share of seeds with {t.measure} in the band",
                "figure": 1.0,
                "low": float(t.min_share),
                "high": 1.0,
                "seed_low": t.low,
                "seed_high": t.high,
                "seed_unit": t.unit,
            }
        out.append({**band, "rule": t.rule})
    return out


def _nest(flat: dict) -> dict:
    """``{"a.b": 1}`` -> ``{"a": {"b": 1}}`` (the summary shape targets read)."""
    out: dict = {}
    for key, v in flat.items():
        node = out
        *head, last = key.split(".")
        for k in head:
            node = node.setdefault(k, {})
        node[last] = v
    return out


@dataclass(frozen=True)
class Candidate:
    index: int
    params: dict
    key: str
    stage: str = "design"

    @property
    def filename(self) -> str:
        return f"{self.key}.parquet"


@dataclass
class CalibrationPlan:
    """A validated calibration: the card's targets, the design and one part per candidate."""

    scenario: str
    version: int
    card_path: str
    targets: list = field(repr=False)
    box: dict[str, tuple[float, float]]
    budget: int
    seeds: list[int]
    design_seed: int
    specs: list = field(repr=False)
    candidates: list[Candidate]
    config: dict = field(default_factory=dict, repr=False)
    sets: list[str] = field(default_factory=list, repr=False)
    card_scenario: str = ""
    card_scenario_version: int = 0

    def add(self, row, stage: str) -> Candidate:
        """Add the candidate at ``row`` (or return the one with the same spec)."""
        spec, cand = _candidate(self, row, len(self.candidates), stage)
        for c in self.candidates:
            if c.key == cand.key:
                return c
        self.specs.append(spec)
        self.candidates.append(cand)
        return cand

    @property
    def measures(self) -> list[str]:
        return [t.measure for t in self.targets]

    def describe(self) -> dict:
        """The calibration's scenario, targets, box, budget, seeds and design."""
        return {
            "scenario": self.scenario,
            "version": self.version,
            "targets": self.card_path,
            "box": {k: list(v) for k, v in self.box.items()},
            "budget": self.budget,
            "seeds": self.seeds,
            "design": {"sequence": "halton", "scramble": True, "seed": self.design_seed},
        }

    def manifest(self) -> dict:
        return {**self.describe(), "parts": [f"{PARTS}/{c.filename}" for c in self.candidates]}


def plan_calibration(
    scenario: str,
    targets: str | os.PathLike,
    box: dict[str, tuple[float, float]],
    *,
    budget: int,
    seeds: int,
    seed: int = 0,
    design_seed: int = 0,
    config: dict | None = None,
    sets: list[str] | None = None,
) -> CalibrationPlan:
    """Validate the box, the card and every candidate's spec; no simulation is run."""
    from scipy.stats import qmc

    from marketsim.scenarios import build_spec, get_scenario
    from marketsim.scenarios.targets import load_targets

    module = get_scenario(scenario)
    if budget < 1:
        raise UsageError(f"--budget {budget}: must be at least 1")
    if seeds < 1:
        raise UsageError(f"--seeds {seeds}: must be at least 1")
    if not box:
        raise UsageError("no --param: give at least one NAME=LO:HI to calibrate")
    spec_cls = module.Spec
    for name in box:
        if name.split(".")[0] not in spec_cls.model_fields:
            raise UsageError(
                f"--param {name}: unknown parameter of {scenario}; "
                f"see 'marketsim params {scenario}' for the valid keys"
            )
    card = load_targets(targets)
    chosen = card.targets_for(scenario)
    if not chosen:
        raise UsageError(
            f"--targets {targets}: no target is read on {scenario} (the card is for "
            f"{card.scenario}); give a card with targets for {scenario}"
        )
    # a share target's column holds the share; its median goes beside it, <name>_median
    medians = {f"{t.name}_median": t.name for t in chosen if t.rule == "share"}
    for t in chosen:
        if t.name in box or t.name in RESERVED or t.name in medians:
            raise UsageError(f"--targets: target name {t.name!r} clashes with a column; rename it")
    for col, name in medians.items():
        if col in box or col in RESERVED:
            raise UsageError(
                f"--targets: target name {name!r} (its column {col!r}) clashes with a "
                "column; rename it"
            )
    config = dict(config or {})
    build_spec(spec_cls, config, sets)  # fixed parameters fail without blaming the box
    names = list(box)
    unit = qmc.Halton(d=len(names), scramble=True, seed=design_seed).random(budget)
    lows = np.array([box[k][0] for k in names])
    highs = np.array([box[k][1] for k in names])
    points = qmc.scale(unit, lows, highs)
    seed_list = list(range(seed, seed + seeds))
    plan = CalibrationPlan(
        scenario,
        spec_cls.version,
        str(targets),
        chosen,
        box,
        budget,
        seed_list,
        design_seed,
        [],
        [],
        config=config,
        sets=list(sets or []),
        card_scenario=card.scenario,
        card_scenario_version=card.scenario_version,
    )
    for row in points:
        plan.add(row, "design")
    return plan


def _candidate(plan: CalibrationPlan, row, index: int, stage: str):
    """The spec and :class:`Candidate` of one point of the box (``row``, in its units)."""
    from marketsim.scenarios import build_spec, get_scenario

    spec_cls = get_scenario(plan.scenario).Spec
    params = {}
    for k, v in zip(plan.box, row, strict=True):
        default = _default(spec_cls, k)
        # an integer parameter takes the nearest whole number
        params[k] = (
            int(round(v))
            if isinstance(default, int) and not isinstance(default, bool)
            else float(f"{v:.12g}")
        )
    try:
        spec = build_spec(
            spec_cls, plan.config, plan.sets + [f"{k}={v}" for k, v in params.items()]
        )
    except UsageError as exc:
        where = ", ".join(f"{k}={v}" for k, v in params.items())
        raise UsageError(f"--param candidate ({where}): {exc}") from None
    key = _sha(
        {
            "scenario": plan.scenario,
            "version": spec.version,
            "spec": spec.model_dump(mode="json"),
            "seeds": plan.seeds,
            "measures": plan.measures,
        }
    )
    return spec, Candidate(index, params, key, stage)


def _default(spec_cls, dotted: str) -> Any:
    top, _, rest = dotted.partition(".")
    value = spec_cls.model_fields[top].default
    for k in rest.split(".") if rest else []:
        value = getattr(value, k, None) if not isinstance(value, dict) else value.get(k)
    return value


# --------------------------------------------------------------------------- work


def run_candidate(scenario: str, spec_json: dict, seeds: list[int], measures: list[str]) -> dict:
    """Run one candidate on every seed; return ``{"rows": [...], "missing": [...]}``.

    ``rows`` holds one dict per seed (``seed`` and each measure, None when the run's
    summary has it as null); ``missing`` lists measures whose key the summary lacks.
    """
    from marketsim.experiments._workers import announce_kernels
    from marketsim.scenarios import get_scenario

    module = get_scenario(scenario)
    announce_kernels(module)
    spec = module.Spec.model_validate(spec_json)
    need_detectors = any(m.startswith("detectors.") for m in measures)
    rows, missing = [], set()
    for s in seeds:
        with tempfile.TemporaryDirectory(prefix="calibrate-") as tmp:
            summary = module.run(spec, sessions=None, seed=s, out=Path(tmp), progress=False)
            if need_detectors:
                from marketsim.analysis import run_detectors

                summary = {**summary, "detectors": run_detectors(Path(tmp), summary.get("params"))}
        row: dict[str, Any] = {"seed": s}
        for m in measures:
            node: Any = summary
            for k in m.split("."):
                if not isinstance(node, dict) or k not in node:
                    missing.add(m)
                    node = None
                    break
                node = node[k]
            ok = isinstance(node, int | float) and not isinstance(node, bool)
            row[m] = float(node) if ok else None
        rows.append(row)
    return {"rows": rows, "missing": sorted(missing)}


def _part_frame(candidate: Candidate, measures: list[str], result: dict) -> pl.DataFrame:
    schema = {"candidate": pl.Int64, "seed": pl.Int64, **{m: pl.Float64 for m in measures}}
    rows = [{"candidate": candidate.index, **r} for r in result["rows"]]
    return pl.DataFrame(rows, schema=schema)


def _check_missing(plan: CalibrationPlan, result: dict) -> None:
    if result["missing"]:
        m = result["missing"][0]
        name = next(t.name for t in plan.targets if t.measure == m)
        raise UsageError(
            f"--targets target[{name}].measure = {m!r}: the summary of {plan.scenario} "
            "has no such key; fix the card's measure"
        )


def run_calibration(
    plan: CalibrationPlan,
    out: str | os.PathLike,
    *,
    workers: int | None = None,
    scheduler: str | None = None,
    quiet: bool = False,
    refine: int = 0,
    log=None,
) -> dict:
    """Run every candidate not on disk, then write ``calibration.parquet``,
    ``accepted.parquet`` and ``summary.json``; return the summary."""
    log = log or (lambda msg: print(msg, file=sys.stderr))
    if refine < 0:
        raise UsageError(f"--refine {refine}: must be 0 (no refinement) or more")
    if plan.card_scenario == plan.scenario and plan.card_scenario_version != plan.version:
        log(
            f"warning: the targets card was written for {plan.scenario} version "
            f"{plan.card_scenario_version}; this is version {plan.version}"
        )
    out = Path(out)
    parts, _, todo = start_parts(out, MANIFEST, plan.manifest(), plan.candidates)
    skipped = len(plan.candidates) - len(todo)
    t0 = time.perf_counter()
    failed: list[str] = []
    dumps = {c.index: plan.specs[c.index].model_dump(mode="json") for c in todo}
    with task_progress(quiet) as bar:
        bar_task = bar.add_task(
            f"{plan.scenario} calibration", total=len(plan.candidates), completed=skipped
        )
        if todo and workers == 1 and not scheduler:
            # one worker: run here, without starting a cluster
            for c in todo:
                result = run_candidate(plan.scenario, dumps[c.index], plan.seeds, plan.measures)
                _check_missing(plan, result)
                write_parquet_atomic(_part_frame(c, plan.measures, result), parts / c.filename)
                bar.advance(bar_task)
        elif todo:
            failed = _execute(
                plan, todo, dumps, parts, workers, scheduler, quiet, bar, bar_task, log
            )
    if failed:
        raise RuntimeError(
            f"calibrate: {len(failed)} candidate(s) failed twice ({failed[0]}, ...); "
            "re-run the same command to retry them"
        )
    refined = None
    if refine > 0:
        refined, r_ran, r_skipped = _refine(plan, out, refine, quiet)
        skipped += r_skipped
        ran = len(todo) + r_ran
        write_json_atomic({**plan.manifest(), **run_metadata()}, out / MANIFEST)
    else:
        ran = len(todo)
    summary = assemble(plan, out)
    summary["refinement"] = refined
    summary["status"] = {
        "candidates": len(plan.candidates),
        "skipped": skipped,
        "ran": ran,
        "wall_seconds": time.perf_counter() - t0,
    }
    write_json_atomic({**summary, **run_metadata()}, out / "summary.json")
    return summary


def _distance(plan: CalibrationPlan, frame: pl.DataFrame) -> tuple[float, bool]:
    """Distance and acceptance of one candidate from its per-seed part."""
    _, dist, accepted = pool_candidate(plan.targets, frame, plan.scenario)
    return dist, accepted


def _refine(plan: CalibrationPlan, out: Path, budget: int, quiet: bool):
    """Bounded Nelder-Mead from the design's best candidate; returns (info, ran, skipped)."""
    from scipy.optimize import minimize

    parts = out / PARTS
    scored = []
    for c in plan.candidates:
        d, _ = _distance(plan, pl.read_parquet(parts / c.filename))
        if math.isfinite(d):
            scored.append((d, c.index))
    if not scored:
        return {"method": "Nelder-Mead", "skipped": "no design candidate has a distance"}, 0, 0
    start = min(scored)[1]
    lows = np.array([v[0] for v in plan.box.values()])
    widths = np.array([v[1] - v[0] for v in plan.box.values()])
    x0 = (np.array(list(plan.candidates[start].params.values()), float) - lows) / widths
    counts = {"ran": 0, "skipped": 0, "evaluations": 0}

    def objective(x):
        if counts["evaluations"] >= budget:
            return 1e12  # never reached with maxfev = budget; a guard
        counts["evaluations"] += 1
        c = plan.add(lows + np.clip(x, 0.0, 1.0) * widths, "refine")
        path = parts / c.filename
        if path.exists():
            counts["skipped"] += 1
        else:
            dump = plan.specs[c.index].model_dump(mode="json")
            result = run_candidate(plan.scenario, dump, plan.seeds, plan.measures)
            _check_missing(plan, result)
            write_parquet_atomic(_part_frame(c, plan.measures, result), path)
            counts["ran"] += 1
        d, _ = _distance(plan, pl.read_parquet(path))
        return d if math.isfinite(d) else 1e12

    step = 0.1
    simplex = [x0] + [
        np.clip(x0 + step * np.eye(len(x0))[i] * (1 if x0[i] < 0.5 else -1), 0, 1)
        for i in range(len(x0))
    ]
    with task_progress(quiet) as bar:
        bar.add_task(f"{plan.scenario} refinement (at most {budget})", total=None)
        res = minimize(
            objective,
            x0,
            method="Nelder-Mead",
            bounds=[(0.0, 1.0)] * len(x0),
            options={
                "maxfev": budget,
                "initial_simplex": np.array(simplex),
                "xatol": 1e-3,
                "fatol": 1e-9,
            },
        )
    info = {
        "method": "Nelder-Mead (scipy.optimize.minimize, bounded to the box)",
        "max_evaluations": budget,
        "evaluations": counts["evaluations"],
        "start_candidate": start,
        "best_distance": float(res.fun),
    }
    return info, counts["ran"], counts["skipped"]


def _execute(plan, todo, dumps, parts, workers, scheduler, quiet, bar, bar_task, log) -> list[str]:
    def finished(c: Candidate, result) -> None:
        _check_missing(plan, result)
        write_parquet_atomic(_part_frame(c, plan.measures, result), parts / c.filename)
        bar.advance(bar_task)

    with dask_client(workers, scheduler, quiet) as client:
        failed = retrying_once(
            client,
            run_candidate,
            todo,
            args=lambda c: (plan.scenario, dumps[c.index], plan.seeds, plan.measures),
            key=lambda c: f"calibrate-{c.key[:16]}",
            on_result=finished,
            on_failure=lambda c: bar.advance(bar_task),
            describe=lambda c: f"candidate {c.index} {c.params}",
            log=log,
        )
    return [f"candidate {c.index}" for c in failed]


def assemble(plan: CalibrationPlan, out: str | os.PathLike) -> dict:
    """Pool the parts into ``calibration.parquet`` and ``accepted.parquet``; the summary."""
    from marketsim.analysis.report_calibration import binding_targets

    out = Path(out)
    rows = []
    for c in plan.candidates:
        part = pl.read_parquet(out / PARTS / c.filename)
        moments, dist, accepted = pool_candidate(plan.targets, part, plan.scenario)
        row: dict[str, Any] = {"candidate": c.index, "stage": c.stage, **c.params, **moments}
        row["distance"] = dist
        row["accepted"] = accepted
        rows.append(row)
    moment_columns = {}
    for t in plan.targets:
        moment_columns[t.name] = pl.Float64
        if t.rule == "share":
            moment_columns[f"{t.name}_median"] = pl.Float64
    schema = {
        "candidate": pl.Int64,
        "stage": pl.String,
        **{k: pl.Float64 for k in plan.box},
        **moment_columns,
        "distance": pl.Float64,
        "accepted": pl.Boolean,
    }
    table = pl.DataFrame(rows, schema=schema)
    accepted = table.filter(pl.col("accepted"))
    write_parquet_atomic(table, out / "calibration.parquet")
    write_parquet_atomic(accepted, out / "accepted.parquet")
    bands = pooled_bands(plan.targets)
    finite = table.filter(pl.col("distance").is_finite())
    best = finite.sort("distance").head(1).to_dicts()
    return {
        **plan.describe(),
        "card_scenario_version": plan.card_scenario_version,
        "sets": list(plan.sets),
        "pooling": {
            t.name: (
                f"share of seeds inside the band (at least {t.min_share:g})"
                if t.rule == "share"
                else "median over seeds"
            )
            for t in plan.targets
        },
        "distance": "mean over targets of z^2: z = (median - figure) / scale, scale = half "
        "the band's width (one-sided: |figure - bound|); for a share target z = (1 - share) "
        "/ (1 - min_share)",
        "acceptance": "every median inside its band and every share at least its min_share",
        "n_accepted": accepted.height,
        "accepted_ranges": {
            k: [accepted[k].min(), accepted[k].max()] if accepted.height else None for k in plan.box
        },
        "targets_inside_share": {
            b["name"]: float(np.mean([_inside(b, v) for v in table[b["name"]].to_list()]))
            for b in bands
        },
        "best": best[0] if best else None,
        "target_bands": bands,
        "binding": binding_targets(table, bands),
    }


def _inside(band: dict, value) -> bool:
    """Is a pooled moment inside its pooled band (None and NaN are not)?"""
    if value is None or math.isnan(value):
        return False
    return (band["low"] is None or value >= band["low"]) and (
        band["high"] is None or value <= band["high"]
    )


def report_bands(folder: Path) -> tuple[list[dict] | None, str | None]:
    """The target bands of a calibration folder whose ``summary.json`` does not record
    them (written before ``target_bands`` was): read from the card it names, found as
    given or below the folder's parents. ``(None, None)`` for any other folder, or when
    the summary records them."""
    from marketsim.analysis.report_calibration import card_bands, is_calibration, summary_of

    if not folder.is_dir() or not is_calibration(folder):
        return None, None
    summary = summary_of(folder)
    if summary.get("target_bands") or not isinstance(summary.get("targets"), str):
        return None, None
    from marketsim.scenarios.targets import load_targets

    name = Path(summary["targets"])
    where = [name] if name.is_absolute() else [name, *(p / name for p in folder.resolve().parents)]
    card_path = next((p for p in where if p.is_file()), None)
    if card_path is None:
        return None, None  # the report says the bands are missing
    card = load_targets(card_path)
    targets = card.targets_for(summary.get("scenario") or card.scenario)
    note = (
        f"This calibration did not record its targets' bands; they are read from the card "
        f"{card_path} as it is now. "
    )
    table = pl.read_parquet(folder / "calibration.parquet")
    if all(t.name in table.columns for t in targets) and "accepted" in table.columns:
        recomputed = [
            all(t.inside(row[t.name]) for t in targets)
            for row in table.select([t.name for t in targets]).iter_rows(named=True)
        ]
        differ = sum(a != b for a, b in zip(recomputed, table["accepted"].to_list(), strict=True))
        note += (
            "Under these bands every candidate keeps its recorded acceptance."
            if not differ
            else f"Under these bands {differ} candidate(s) would change acceptance: the card "
            "was edited after the calibration ran."
        )
    return card_bands(targets), note


__all__ = [
    "CalibrationPlan",
    "assemble",
    "parse_param_items",
    "plan_calibration",
    "pool_candidate",
    "pooled_bands",
    "report_bands",
    "run_calibration",
    "run_candidate",
    "scale_of",
    "share_scale",
]
