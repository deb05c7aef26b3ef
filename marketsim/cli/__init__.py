"""The ``marketsim`` command line.

``marketsim run SCENARIO [--sessions N] [--seed S] [--set KEY=VALUE ...] [--config FILE]
[--threads T] [--out DIR]`` runs a scenario and writes its tables and ``summary.json``.
Other subcommands live in their own modules and register themselves through
:data:`COMMAND_MODULES` (each module has ``register(subparsers)``, which sets ``func``).

Bad input exits with code 2 and one line on stderr; results go to files.
"""

from __future__ import annotations

import argparse
import sys
from importlib import import_module
from pathlib import Path

from marketsim.errors import UsageError

#: modules that add a subcommand: ``register(subparsers)``
COMMAND_MODULES: list[str] = [
    "marketsim.cli.detect",
    "marketsim.cli.sweep",
    "marketsim.cli.report",
    "marketsim.cli.audit",
    "marketsim.cli.compare",
    "marketsim.cli.calibrate",
]


def positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value


def seed_arg(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be >= 0, got {value}")
    return value


def add_run_options(p: argparse.ArgumentParser) -> None:
    """Options shared by ``run`` and the commands built on it (compare, sweep)."""
    p.add_argument(
        "--set",
        dest="sets",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="override a scenario parameter (repeatable), e.g. --set alpha=0.15",
    )
    p.add_argument(
        "--config",
        type=Path,
        default=None,
        metavar="FILE.toml",
        help="TOML file of scenario parameters (--set overrides it)",
    )
    p.add_argument(
        "--threads", type=positive_int, default=None, help="numba threads (default: all cores)"
    )
    p.add_argument("--quiet", action="store_true", help="no progress bar")


def _cmd_run(args: argparse.Namespace) -> int:
    from marketsim import api
    from marketsim.scenarios import parse_sets

    replay = [f"llm.replay={args.replay}"] if getattr(args, "replay", None) else []
    summary = api.run(
        args.scenario,
        out=args.out,
        sessions=args.sessions,
        seed=args.seed,
        config=args.config,
        threads=args.threads,
        progress=not args.quiet,
        params=parse_sets(args.sets + replay),
        api_key_env=args.api_key_env,
    ).summary
    verdict = summary["detectors"].get("verdict")
    if verdict:
        print(f"detectors: {verdict}")
    print(f"results: {Path(args.out).resolve()}")
    for key in ("profit_gain_mean", "converged_share", "max_drawdown", "wall_seconds"):
        if key in summary and summary[key] is not None:
            print(f"  {key} = {summary[key]:.4g}")
    if getattr(args, "report", False):
        print(f"report: {api.report(args.out)}")
    return 0


def _cmd_params(args: argparse.Namespace) -> int:
    from marketsim.scenarios import get_scenario

    spec_cls = get_scenario(args.scenario).Spec
    print(f"{spec_cls.name} (version {spec_cls.version})")
    for name, field in spec_cls.model_fields.items():
        desc = field.description or ""
        print(f"  {name} = {field.default!r}  {desc}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="marketsim",
        description="Simulator of algorithmic collusion and market stability.",
    )
    sub = parser.add_subparsers(dest="command", required=True)

    run = sub.add_parser("run", help="run a scenario and write its results")
    run.add_argument("scenario", help="scenario name, e.g. calvano2020")
    run.add_argument(
        "--sessions",
        type=positive_int,
        default=None,
        help="independent sessions (default: the scenario's own)",
    )
    run.add_argument("--seed", type=seed_arg, default=0, help="root seed (default 0)")
    run.add_argument("--out", type=Path, required=True, help="output folder")
    run.add_argument("--report", action="store_true", help="also write report.html")
    run.add_argument(
        "--replay",
        type=Path,
        default=None,
        metavar="TRACE",
        help="rerun from a recorded LLM trace, no server (sets llm.replay)",
    )
    run.add_argument(
        "--api-key-env",
        default=None,
        metavar="NAME",
        help="environment variable holding the LLM key (any name; a scenario or TOML "
        "file may only name one ending in _API_KEY)",
    )
    add_run_options(run)
    run.set_defaults(func=_cmd_run)

    params = sub.add_parser("params", help="list a scenario's parameters and defaults")
    params.add_argument("scenario")
    params.set_defaults(func=_cmd_params)

    for name in COMMAND_MODULES:
        import_module(name).register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except UsageError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print("interrupted: finished results are on disk; re-run to resume", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
