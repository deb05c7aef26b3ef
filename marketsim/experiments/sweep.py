"""Parameter sweeps: a grid of scenario specs times many seeds, on dask.distributed.

A sweep is the Cartesian product of grid axes (``alpha=0.05:0.25:5``,
``beta=log:1e-6:1e-5:5``, ``m=10,15``) applied on top of a base spec, each point run
for ``seeds`` sessions. Sessions ``start .. start+count-1`` of a point form one task;
session ``b`` always uses RNG stream ``b`` of the root seed (common random numbers
across grid points), so any block is reproducible on its own.

Every task's table is written to ``OUT/parts/<key>.parquet`` atomically, where ``key``
is the sha256 of the canonical JSON of (scenario, version, marketsim's version,
validated spec, grid column names, root seed, seed block). Re-running a sweep skips
parts already on disk, so a sweep killed at any moment resumes and ends with the same
table as an uninterrupted run; a changed spec gets new keys and never mixes with old
parts. ``OUT/sweep.json`` lists the grid, the points with their spec hashes and the
expected parts; readers go through it (:func:`scan_sweep`), never through a glob.

All execution goes through ``dask.distributed``: a ``LocalCluster`` of single-threaded
worker processes by default, or an existing scheduler.
"""

from __future__ import annotations

import hashlib
import inspect
import itertools
import json
import math
import os
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl

from marketsim.analysis.sweep_tables import MANIFEST, point_summary, read_manifest, scan_sweep
from marketsim.errors import UsageError
from marketsim.experiments._dask import (
    PARTS,
    check_scheduler,
    dask_client,
    retrying_once,
    start_parts,
    task_progress,
)
from marketsim.experiments._limits import check_workers
from marketsim.experiments.out_folder import claim
from marketsim.io import write_json_atomic, write_parquet_atomic

#: sessions per task when not given: big enough to amortise scheduling (a Calvano
#: baseline session takes ~75 ms), small enough to balance 2,500-session grids
DEFAULT_CHUNK = 25
#: most grid points one sweep plans (a 50 x 50 grid): validating a point's spec takes
#: ~2-7 ms, so planning stays within seconds; larger grids are split over several sweeps
MAX_GRID_POINTS = 2_500
#: most tasks (grid points x seed blocks) one sweep schedules
MAX_TASKS = 100_000


# --------------------------------------------------------------------------- grid


def _number(text: str, key: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise UsageError(f"--grid {key}: {text!r} is not a number") from None
    if not math.isfinite(value):
        raise UsageError(f"--grid {key}: {text!r} is not a finite number; give e.g. 0.05:0.25:5")
    return value


def _is_int(text: str) -> bool:
    try:
        int(text)
    except ValueError:
        return False
    return True


def _scalar(text: str) -> Any:
    text = text.strip()
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        return text


def parse_axis_values(key: str, spec: Any) -> list:
    """Values of one grid axis.

    Parameters
    ----------
    key : str, the parameter (dotted for nested groups), used in messages
    spec : str or list
        ``"a,b,c"`` (a list), ``"start:stop:count"`` (``count`` evenly spaced values,
        both ends included), ``"log:start:stop:count"`` (geometric spacing), or an
        already-parsed list (from TOML).

    Returns
    -------
    list of distinct values in the given order
    """
    if isinstance(spec, list):
        values = list(spec)
    elif isinstance(spec, int | float) and not isinstance(spec, bool):
        values = [spec]
    elif isinstance(spec, str):
        text = spec.strip()
        log = text.startswith("log:")
        body = text[4:] if log else text
        pieces = body.split(":")
        if log or (len(pieces) == 3 and "," not in body):
            if len(pieces) != 3:
                raise UsageError(f"--grid {key}: expected log:START:STOP:COUNT, got {text!r}")
            start, stop = _number(pieces[0], key), _number(pieces[1], key)
            if not _is_int(pieces[2]):
                raise UsageError(f"--grid {key}: COUNT must be a whole number, got {pieces[2]!r}")
            count = int(pieces[2])
            if count < 1:
                raise UsageError(f"--grid {key}: empty range (COUNT = {count}); use COUNT >= 1")
            if count > MAX_GRID_POINTS:
                raise UsageError(
                    f"--grid {key}: COUNT = {count} is more than {MAX_GRID_POINTS:,} grid "
                    "points, the most one sweep plans in seconds; use fewer values"
                )
            if log:
                if start <= 0 or stop <= 0:
                    raise UsageError(f"--grid {key}: log range needs START and STOP > 0")
                arr = np.geomspace(start, stop, count)
            else:
                arr = np.linspace(start, stop, count)
            ints = _is_int(pieces[0]) and _is_int(pieces[1]) and np.all(arr == np.round(arr))
            # round away representation noise so 0.1 is 0.1 in keys and columns
            values = [int(v) if ints else float(f"{v:.12g}") for v in arr]
        else:
            values = [_scalar(p) for p in text.split(",") if p.strip() != ""]
    else:
        raise UsageError(f"--grid {key}: expected a list or a range string, got {spec!r}")
    if not values:
        raise UsageError(f"--grid {key}: no values; give a list a,b,c or START:STOP:COUNT")
    out: list = []
    for v in values:
        if v not in out:
            out.append(v)
    return out


def parse_grid_items(items: list[str] | None) -> dict[str, list]:
    """``["alpha=0.05:0.25:5", "beta=1e-6,4e-6"]`` -> ``{"alpha": [...], "beta": [...]}``."""
    from marketsim.scenarios._spec import key_value

    grid: dict[str, list] = {}
    for item in items or []:
        key, raw = key_value(item, "--grid", "KEY=VALUES", "alpha=0.1,0.2")
        if key in grid:
            raise UsageError(f"--grid {key}: given twice; give each key once")
        grid[key] = parse_axis_values(key, raw)
    return grid


# --------------------------------------------------------------------------- plan


def _canonical(obj: Any) -> str:
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), allow_nan=True)


def _sha(obj: Any) -> str:
    return hashlib.sha256(_canonical(obj).encode()).hexdigest()


def _lookup(tree: dict, dotted: str) -> Any:
    node: Any = tree
    for k in dotted.split("."):
        node = node[k]
    return node


@dataclass(frozen=True)
class Task:
    """One block of sessions of one grid point: the unit of work and of output."""

    point: int
    params: dict
    start: int
    count: int
    key: str

    @property
    def filename(self) -> str:
        return f"{self.key}.parquet"

    def describe(self) -> str:
        ps = ", ".join(f"{k}={v}" for k, v in self.params.items())
        return f"{ps}, sessions {self.start}..{self.start + self.count - 1}"


@dataclass
class SweepPlan:
    """A validated sweep: every grid point's spec and the tasks covering all seeds."""

    scenario: str
    version: int
    grid: dict[str, list]
    seeds: int
    seed: int
    chunk: int
    specs: list = field(repr=False)
    points: list[dict]
    spec_hashes: list[str]
    tasks: list[Task]
    #: the ``--set`` values applied to every grid point (for the report)
    sets: list[str] = field(default_factory=list)

    def manifest(self) -> dict:
        return {
            "scenario": self.scenario,
            "version": self.version,
            "grid": self.grid,
            "seeds": self.seeds,
            "seed": self.seed,
            "chunk": self.chunk,
            "sets": list(self.sets),
            "points": [
                {"point": i, "params": p, "spec_hash": h, "spec": s.model_dump()}
                for i, (p, h, s) in enumerate(
                    zip(self.points, self.spec_hashes, self.specs, strict=True)
                )
            ],
            "parts": [f"{PARTS}/{t.filename}" for t in self.tasks],
        }


def _marketsim_version() -> str:
    import marketsim

    return marketsim.__version__


def _check_sweepable(module, scenario: str) -> None:
    fn = getattr(module, "simulate", None)
    if fn is None or "start" not in inspect.signature(fn).parameters:
        raise UsageError(
            f"scenario {scenario!r} cannot be swept: it has no "
            "simulate(spec, *, sessions, seed, start, threads); sweep calvano2020 or llm_pricing"
        )


def plan_sweep(
    scenario: str,
    grid: dict[str, list],
    *,
    seeds: int,
    seed: int = 0,
    config: dict | None = None,
    sets: list[str] | None = None,
    chunk: int | None = None,
) -> SweepPlan:
    """Validate every grid point and cut the seeds into tasks; no work is done.

    Raises
    ------
    UsageError
        naming the key of an unknown parameter, an empty axis or a value the scenario's
        spec rejects, before any cluster is started.
    """
    from marketsim.scenarios import build_spec, get_scenario

    module = get_scenario(scenario)
    _check_sweepable(module, scenario)
    if not grid:
        raise UsageError("no grid: give at least one --grid KEY=VALUES (or a [grid] table)")
    if seeds < 1:
        raise UsageError(f"--seeds {seeds}: must be at least 1")
    spec_cls = module.Spec
    for key, values in grid.items():
        top = key.split(".")[0]
        if top not in spec_cls.model_fields:
            raise UsageError(
                f"--grid {key}: unknown parameter of {scenario}; "
                f"see 'marketsim params {scenario}' for the valid keys"
            )
        if not values:
            raise UsageError(f"--grid {key}: no values")
    n_points = math.prod(len(v) for v in grid.values())
    if n_points > MAX_GRID_POINTS:
        sizes = " x ".join(str(len(v)) for v in grid.values())
        raise UsageError(
            f"--grid: {sizes} = {n_points:,} points is more than {MAX_GRID_POINTS:,} (a 50 x 50 "
            "grid), the most one sweep plans in seconds; split it into sweeps with fewer "
            "values, each into its own --out"
        )
    config = dict(config or {})
    base = build_spec(spec_cls, config, sets)  # fixed parameters fail without grid blame
    llm = getattr(base, "llm", None)
    if llm is not None and getattr(llm, "endpoint", "") and not getattr(llm, "replay", ""):
        raise UsageError(
            "llm.endpoint: a sweep does not call a live LLM (every task would spend "
            "calls and nothing would be recorded); record one run with marketsim run, "
            "then sweep with --set llm.replay=TRACE, or drop llm.endpoint"
        )
    del base
    chunk = min(seeds, DEFAULT_CHUNK) if chunk is None else chunk
    if chunk < 1:
        raise UsageError(f"--chunk {chunk}: must be at least 1")
    n_blocks = math.ceil(seeds / chunk)
    if n_blocks * n_points > MAX_TASKS:
        raise UsageError(
            f"--seeds {seeds} / --chunk {chunk}: {n_blocks:,} tasks per point x {n_points:,} "
            f"points is more than {MAX_TASKS:,} tasks; raise --chunk or use fewer seeds"
        )
    # equal blocks: 100 seeds in chunks of 30 -> 25,25,25,25 rather than 30,30,30,10
    bounds = [round(i * seeds / n_blocks) for i in range(n_blocks + 1)]
    keys = list(grid)
    marketsim_version = _marketsim_version()
    specs, points, hashes, tasks = [], [], [], []
    for i, combo in enumerate(itertools.product(*(grid[k] for k in keys))):
        point_sets = list(sets or []) + [
            f"{k}={json.dumps(v)}" for k, v in zip(keys, combo, strict=True)
        ]
        try:
            spec = build_spec(spec_cls, config, point_sets)
        except UsageError as exc:
            where = ", ".join(f"{k}={v}" for k, v in zip(keys, combo, strict=True))
            raise UsageError(f"--grid point ({where}): {exc}") from None
        dump = spec.model_dump(mode="json")
        params = {k: _lookup(dump, k) for k in keys}
        spec_hash = _sha({"scenario": scenario, "version": spec.version, "spec": dump})
        specs.append(spec)
        points.append(params)
        hashes.append(spec_hash)
        for lo, hi in itertools.pairwise(bounds):
            key = _sha(
                {
                    "scenario": scenario,
                    "version": spec.version,
                    "marketsim": marketsim_version,
                    "spec": dump,
                    "columns": keys,
                    "seed": seed,
                    "start": lo,
                    "count": hi - lo,
                }
            )
            tasks.append(Task(i, params, lo, hi - lo, key))
    if len(set(hashes)) != len(hashes):
        raise UsageError("--grid: two grid points give the same spec; remove repeated values")
    for col in keys:
        clash = {"session", "seed", "spec_hash", "point"}
        if col in clash:
            raise UsageError(f"--grid {col}: clashes with an output column; rename the key")
    return SweepPlan(
        scenario,
        spec_cls.version,
        grid,
        seeds,
        seed,
        chunk,
        specs,
        points,
        hashes,
        tasks,
        sets=list(sets or []),
    )


# --------------------------------------------------------------------------- work


def _warm(scenario: str, spec_json: dict) -> float:
    """Compile or load the scenario's numba kernels on a worker with one tiny session."""
    from marketsim.scenarios import get_scenario

    t0 = time.perf_counter()
    try:
        from marketsim.experiments._workers import announce_kernels

        module = get_scenario(scenario)
        announce_kernels(module)
        spec = module.Spec.model_validate(spec_json)
        module.simulate(spec, sessions=1, seed=0, start=0, threads=1)
    except Exception:  # noqa: BLE001  the task itself fails and is reported with its point
        return float("nan")
    return time.perf_counter() - t0


def run_task(
    scenario: str,
    spec_json: dict,
    params: dict,
    seed: int,
    start: int,
    count: int,
    threads: int = 1,
) -> pl.DataFrame:
    """Sessions ``start .. start+count-1`` of one grid point, with the grid columns added."""
    from marketsim.scenarios import get_scenario

    module = get_scenario(scenario)
    spec = module.Spec.model_validate(spec_json)
    frame = module.simulate(spec, sessions=count, seed=seed, start=start, threads=threads)[0]
    return frame.with_columns(pl.lit(v).alias(k) for k, v in params.items())


def run_sweep(
    plan: SweepPlan,
    out: str | os.PathLike,
    *,
    workers: int | None = None,
    scheduler: str | None = None,
    threads: int = 1,
    quiet: bool = False,
    log=None,
    overwrite: bool = False,
) -> dict:
    """Run every task of ``plan`` not already on disk; write parts and ``sweep.json``.

    ``out`` is checked first (:func:`marketsim.experiments.out_folder.claim`): empty, or
    holding this same sweep (which resumes), or ``overwrite``.

    Returns
    -------
    dict with ``tasks``, ``skipped``, ``done``, ``failed`` (list of task descriptions),
    ``wall_seconds``.
    """
    log = log or (lambda msg: print(msg, file=sys.stderr))
    if scheduler is not None:
        check_scheduler(scheduler)
    check_workers(workers)
    out = claim(
        out,
        command="sweep",
        scenario=plan.scenario,
        identity={"marketsim": _marketsim_version(), "plan": plan.manifest()},
        resumable=True,
        overwrite=overwrite,
        summary=f"grid {', '.join(plan.grid)}",
    )
    parts, manifest, todo = start_parts(out, MANIFEST, plan.manifest(), plan.tasks)
    skipped = len(plan.tasks) - len(todo)
    t0 = time.perf_counter()
    failed: list[str] = []
    done = 0
    startup = 0.0
    if todo:
        with dask_client(workers, scheduler, quiet) as client:
            dumps = [s.model_dump(mode="json") for s in plan.specs]
            client.run(_warm, plan.scenario, dumps[todo[0].point])
            startup = time.perf_counter() - t0
            done, failed = _execute(client, plan, todo, dumps, parts, threads, quiet, skipped, log)
    wall = time.perf_counter() - t0
    status = {
        "tasks": len(plan.tasks),
        "skipped": skipped,
        "done": done,
        "failed": failed,
        "wall_seconds": wall,
        "startup_seconds": startup,
        "complete": all((parts / t.filename).exists() for t in plan.tasks),
    }
    write_json_atomic({**manifest, "status": status}, out / MANIFEST)
    return status


def _execute(
    client,
    plan: SweepPlan,
    todo: list[Task],
    dumps: list[dict],
    parts: Path,
    threads: int,
    quiet: bool,
    skipped: int,
    log,
) -> tuple[int, list[str]]:
    def finished(task: Task, table: pl.DataFrame) -> None:
        write_parquet_atomic(table, parts / task.filename)
        bar.advance(bar_task)

    with task_progress(quiet) as bar:
        bar_task = bar.add_task(
            f"{plan.scenario} sweep tasks", total=len(plan.tasks), completed=skipped
        )
        failed = retrying_once(
            client,
            run_task,
            todo,
            args=lambda task: (
                plan.scenario,
                dumps[task.point],
                task.params,
                plan.seed,
                task.start,
                task.count,
                threads,
            ),
            key=lambda task: f"sweep-{task.key[:16]}",
            on_result=finished,
            on_failure=lambda task: bar.advance(bar_task),
            describe=lambda task: f"task ({task.describe()})",
            log=log,
        )
    return len(todo) - len(failed), [task.describe() for task in failed]


__all__ = [
    "SweepPlan",
    "Task",
    "check_scheduler",
    "parse_axis_values",
    "parse_grid_items",
    "plan_sweep",
    "point_summary",
    "run_sweep",
    "run_task",
    "scan_sweep",
    "read_manifest",
]
