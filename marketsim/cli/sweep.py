"""``marketsim sweep``: a scenario over a parameter grid and many seeds, resumable.

``marketsim sweep calvano2020 --grid alpha=0.05:0.25:5 --grid beta=log:1e-6:1e-5:5
--seeds 100 --out runs/grid [--workers N | --scheduler tcp://host:8786] [--report]``

A grid axis is a list (``1e-6,4e-6``), ``START:STOP:COUNT`` (linear) or
``log:START:STOP:COUNT``. A TOML file (``--config``) may hold the scenario's fixed
parameters at top level, ``scenario = "..."``, a ``[grid]`` table (values as lists or
range strings) and a ``[sweep]`` table (``seeds``, ``seed``, ``chunk``); command-line
options override it. Re-running the same command resumes: finished parts are skipped.
Exit code 0 when every part is on disk, 1 when a task failed twice, 2 for bad input.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from marketsim.errors import UsageError


def _cmd_sweep(args: argparse.Namespace) -> int:
    from marketsim.experiments._limits import check_workers
    from marketsim.experiments.sweep import (
        check_scheduler,
        parse_axis_values,
        parse_grid_items,
        plan_sweep,
        run_sweep,
    )
    from marketsim.scenarios import load_toml

    data = load_toml(args.config) if args.config else {}
    scenario = args.scenario or data.get("scenario")
    if not scenario:
        raise UsageError('no scenario: give SCENARIO or scenario = "..." in --config')
    if data.get("scenario") not in (None, scenario):
        raise UsageError(
            f"{args.config}: file is for scenario {data['scenario']!r}, not {scenario!r}"
        )
    file_grid = data.pop("grid", {}) or {}
    opts = data.pop("sweep", {}) or {}
    if not isinstance(file_grid, dict) or not isinstance(opts, dict):
        raise UsageError(f"{args.config}: [grid] and [sweep] must be tables")
    unknown = set(opts) - {"seeds", "seed", "chunk"}
    if unknown:
        raise UsageError(
            f"{args.config}: [sweep] {sorted(unknown)[0]}: unknown option; use seeds, seed, chunk"
        )
    for name, low in (("seeds", 1), ("seed", 0), ("chunk", 1)):
        v = opts.get(name)
        if v is not None and (
            isinstance(v, bool) or not isinstance(v, int) or not low <= v <= 2**63 - 1
        ):
            raise UsageError(f"{args.config}: [sweep] {name} = {v!r}: give a whole number >= {low}")
    grid = {k: parse_axis_values(k, v) for k, v in file_grid.items()}
    grid.update(parse_grid_items(args.grid))
    seeds = args.seeds if args.seeds is not None else opts.get("seeds")
    if seeds is None:
        raise UsageError("--seeds: required (sessions per grid point), e.g. --seeds 100")
    seed = args.seed if args.seed is not None else opts.get("seed", 0)
    chunk = args.chunk if args.chunk is not None else opts.get("chunk")
    if args.workers is not None and args.scheduler is not None:
        raise UsageError("--workers and --scheduler: give one (workers belong to the cluster)")
    if args.scheduler is not None:
        check_scheduler(args.scheduler)
    check_workers(args.workers)
    plan = plan_sweep(
        scenario, grid, seeds=int(seeds), seed=int(seed), config=data, sets=args.sets, chunk=chunk
    )
    status = run_sweep(
        plan,
        args.out,
        workers=args.workers,
        scheduler=args.scheduler,
        threads=args.threads or 1,
        quiet=args.quiet,
        overwrite=args.overwrite,
    )
    print(f"results: {Path(args.out).resolve()}")
    print(
        f"  tasks = {status['tasks']} (skipped {status['skipped']} already on disk, "
        f"ran {status['done']}, failed {len(status['failed'])})"
    )
    print(f"  wall_seconds = {status['wall_seconds']:.4g}")
    if args.report:
        print(f"report: {_report(args.out)}")
    if status["failed"] or not status["complete"]:
        print(
            f"error: {len(status['failed'])} task(s) failed twice; re-run the same "
            "command to retry them",
            file=sys.stderr,
        )
        return 1
    return 0


def _report(out) -> Path:
    from marketsim import api

    return api.report(out)  # the same checks of the folder's files as 'marketsim report'


def register(subparsers) -> None:
    from marketsim.cli import (
        add_cluster_options,
        add_list_option,
        add_run_options,
        positive_int,
        seed_arg,
    )

    p = subparsers.add_parser("sweep", help="run a scenario over a parameter grid x seeds")
    p.add_argument(
        "scenario", nargs="?", default=None, help="scenario name (or scenario = ... in --config)"
    )
    add_list_option(
        p, "--grid", "KEY=VALUES", "grid axis: a,b,c | START:STOP:COUNT | log:START:STOP:COUNT"
    )
    p.add_argument("--seeds", type=positive_int, default=None, help="sessions per grid point")
    p.add_argument("--seed", type=seed_arg, default=None, help="root seed (default 0)")
    p.add_argument(
        "--chunk", type=positive_int, default=None, help="sessions per task (default 25 or fewer)"
    )
    p.add_argument("--out", type=Path, required=True, help="output folder (resumable)")
    add_cluster_options(p, "local worker processes (default: all cores)")
    p.add_argument("--report", action="store_true", help="also draw the heat maps")
    add_run_options(p)
    p.set_defaults(func=_cmd_sweep)
