"""``marketsim report DIR``: write ``DIR/report.html`` and ``DIR/figures/*.png``.

DIR is a finished run's folder (``run``, ``compare``, ``sweep``, ``calibrate`` or
``compare --ensemble`` output; nothing is run again); the charts
depend on the files it holds (see :mod:`marketsim.analysis.report`). Prints ``report: PATH``.
"""

from __future__ import annotations

import argparse
from pathlib import Path


def _cmd_report(args: argparse.Namespace) -> int:
    from marketsim import api

    path = api.report(args.run_dir)
    print(f"report: {path.resolve()}")
    return 0


def register(subparsers) -> None:
    """Add the ``report`` subcommand."""
    p = subparsers.add_parser(
        "report", help="write a self-contained report.html (and PNGs) for a run folder"
    )
    p.add_argument(
        "run_dir",
        type=Path,
        metavar="DIR",
        help="a finished run's --out folder (run, compare, sweep, calibrate or compare --ensemble)",
    )
    p.set_defaults(func=_cmd_report)
