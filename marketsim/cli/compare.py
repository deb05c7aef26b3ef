"""``marketsim compare SCENARIO --policy A --policy B --seeds N --out DIR [--report]
[--ensemble CALIB_DIR]``.

The command line of :func:`marketsim.experiments.compare.compare`: the same seeds under
each policy, paired differences from the first with intervals and p-values; with
``--ensemble``, :func:`marketsim.experiments.ensemble.compare_ensemble` (the same on
every accepted calibration of a ``calibrate`` run).
"""

from __future__ import annotations

import argparse
from pathlib import Path


def _cmd_compare(args: argparse.Namespace) -> int:
    import polars as pl

    from marketsim import api
    from marketsim.cli import shared_kwargs

    res = api.compare(
        args.scenario,
        args.policy,
        seeds=args.seeds,
        sets=args.sets,
        ensemble=args.ensemble,
        **shared_kwargs(
            args, "out", "sessions", "config", "threads", "progress", "workers", "overwrite"
        ),
    )
    if args.ensemble is not None:
        print(f"results: {Path(args.out).resolve() / 'ensemble.parquet'}")
        if args.report:
            print(f"report: {api.report(args.out)}")
        for row in res.summary["summary"]:
            print(f"  {row['verdict']}")
        return 0
    table = res.table
    print(f"results: {Path(args.out).resolve() / 'compare.parquet'}")
    if args.report:
        print(f"report: {api.report(args.out)}")
    base = table["policy"][0]
    for row in table.filter(pl.col("policy") != base).iter_rows(named=True):
        print(
            f"  {row['policy']:>16} {row['metric']:<18} diff {row['diff']:+.4g} "
            f"[{row['diff_lo']:+.4g}, {row['diff_hi']:+.4g}]  p={row['p_value']:.3g}"
        )
    return 0


def register(subparsers) -> None:
    """Add ``marketsim compare``."""
    from marketsim.cli import (
        add_list_option,
        add_output_options,
        add_path_option,
        add_run_options,
        positive_int,
    )

    p = subparsers.add_parser("compare", help="run the same seeds under several policies")
    p.add_argument("scenario", help="scenario name, e.g. flash_crash_2010")
    add_list_option(
        p,
        "--policy",
        "POLICY",
        "policy arm (repeat; first = baseline): none, luld, price_cap:cap=1.6, luld+mwcb ... "
        "(list them: marketsim policies)",
    )
    p.add_argument("--seeds", type=positive_int, default=30, help="seeds per policy")
    add_output_options(p, sessions="sessions per run")
    add_path_option(
        p,
        "--ensemble",
        "CALIB_DIR",
        "a calibrate output folder: run the policies on each accepted calibration and "
        "report the effect per calibration and pooled",
    )
    p.add_argument(
        "--workers",
        type=positive_int,
        default=1,
        help="processes running (policy, seed) cells at once (default 1); the numbers "
        "do not depend on it",
    )
    add_run_options(p)
    p.set_defaults(func=_cmd_compare)
