"""``marketsim calibrate``: fit a scenario's parameters to a targets card, resumable.

``marketsim calibrate SCENARIO --targets FILE --param NAME=LO:HI ... --budget N
--seeds K [--refine N] --out DIR [--report] [--workers W | --scheduler tcp://HOST:PORT]
[--set KEY=VALUE]``

Runs ``N`` candidates of a scrambled Halton design over the box, each on the same ``K``
seeds, and writes ``calibration.parquet`` (every candidate), ``accepted.parquet`` (the
candidates whose pooled moments all lie in their bands) and ``summary.json``; with
``--report`` also ``report.html`` (:mod:`marketsim.analysis.report_calibration`). Re-running
the same command resumes: finished candidates are skipped. Exit code 0 on success, 1
when a candidate failed twice, 2 for bad input.
"""

from __future__ import annotations

import argparse
from pathlib import Path


def _cmd_calibrate(args: argparse.Namespace) -> int:
    from marketsim import api
    from marketsim.cli import shared_kwargs
    from marketsim.errors import UsageError
    from marketsim.experiments.calibrate import parse_param_items
    from marketsim.scenarios import load_toml

    if args.workers is not None and args.scheduler:
        raise UsageError("--workers and --scheduler: give one (workers belong to the cluster)")
    if args.threads is not None:
        raise UsageError("--threads: calibrate runs each candidate on one thread; drop it")
    config = load_toml(args.config) if args.config else {}
    try:
        summary = api.calibrate(
            args.scenario,
            targets=args.targets,
            params=parse_param_items(args.param),
            budget=args.budget,
            seeds=args.seeds,
            **shared_kwargs(args, "seed", "out", "workers", "progress"),
            scheduler=args.scheduler,
            sets=args.sets,
            config=config,
            refine=args.refine,
        )
    except RuntimeError as exc:
        import sys

        print(f"error: {exc}", file=sys.stderr)
        return 1
    st = summary["status"]
    print(f"results: {Path(args.out).resolve()}")
    print(
        f"  candidates = {st['candidates']} (skipped {st['skipped']} already on disk, "
        f"ran {st['ran']}); accepted = {summary['n_accepted']}"
    )
    for k, r in summary["accepted_ranges"].items():
        if r is not None:
            print(f"  {k}: accepted {r[0]:.4g} .. {r[1]:.4g}")
    if args.report:
        print(f"report: {api.report(args.out).resolve()}")
    return 0


def register(subparsers) -> None:
    from marketsim.cli import (
        add_cluster_options,
        add_list_option,
        add_run_options,
        nonnegative_int,
        positive_int,
        seed_arg,
    )

    p = subparsers.add_parser(
        "calibrate", help="fit parameters to a targets card (simulated method of moments)"
    )
    p.add_argument("scenario", help="scenario name")
    p.add_argument("--targets", type=Path, required=True, help="targets card (TOML)")
    add_list_option(p, "--param", "NAME=LO:HI", "a parameter to calibrate and its box (repeatable)")
    p.add_argument("--budget", type=int, required=True, help="candidates in the design")
    p.add_argument("--seeds", type=positive_int, required=True, help="seeds per candidate")
    p.add_argument("--seed", type=seed_arg, default=0, help="first seed (default 0)")
    refine = "then at most N Nelder-Mead evaluations from the best candidate (default 0)"
    p.add_argument("--refine", type=nonnegative_int, default=0, metavar="N", help=refine)
    p.add_argument("--out", type=Path, required=True, help="output folder (resumable)")
    p.add_argument(
        "--report",
        action="store_true",
        help="also write report.html: each target's band against the candidates, which "
        "targets bind, the parameters (marketsim report DIR writes it for a finished run)",
    )
    add_cluster_options(p, "local worker processes (default: all cores; 1 runs in this process)")
    add_run_options(p)
    p.set_defaults(func=_cmd_calibrate)
