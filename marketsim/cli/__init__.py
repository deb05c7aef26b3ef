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


#: the largest whole number an option takes: counts and seeds are stored as int64
INT64_MAX = 2**63 - 1


def _whole(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
    if value > INT64_MAX:
        raise argparse.ArgumentTypeError(
            f"{text} does not fit a 64-bit integer; give at most 2**63 - 1"
        )
    return value


def positive_int(text: str) -> int:
    value = _whole(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value


def nonnegative_int(text: str) -> int:
    """A whole number >= 0 (a seed; ``--refine N``, where 0 turns the step off)."""
    value = _whole(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be >= 0, got {value}")
    return value


seed_arg = nonnegative_int


def add_list_option(p, flag: str, metavar: str, help: str, dest: str | None = None) -> None:
    """A repeatable option collected into a list (``--set``, ``--grid``, ``--policy``)."""
    extra = {"dest": dest} if dest else {}
    p.add_argument(flag, action="append", default=[], metavar=metavar, help=help, **extra)


def add_path_option(p, flag: str, metavar: str, help: str) -> None:
    """An optional path (``--config``, ``--replay``, ``--ensemble``), ``None`` when absent."""
    p.add_argument(flag, type=Path, default=None, metavar=metavar, help=help)


def add_set_option(
    p, help: str = "override a scenario parameter (repeatable), e.g. --set alpha=0.15"
):
    """``--set KEY=VALUE`` (repeatable), collected in ``args.sets``."""
    add_list_option(p, "--set", "KEY=VALUE", help, dest="sets")


#: keyword arguments of the API taken from the options of the same name
_SHARED = {
    "out": lambda a: a.out,
    "sessions": lambda a: a.sessions,
    "seed": lambda a: a.seed,
    "config": lambda a: a.config,
    "threads": lambda a: a.threads,
    "workers": lambda a: a.workers,
    "overwrite": lambda a: a.overwrite,
    "progress": lambda a: not a.quiet,
}


def shared_kwargs(args: argparse.Namespace, *names: str) -> dict:
    """The API's keyword arguments ``names`` from the parsed options (``progress`` is
    ``not --quiet``)."""
    return {name: _SHARED[name](args) for name in names}


def add_cluster_options(p, workers_help: str) -> None:
    """``--workers N`` (local processes) and ``--scheduler tcp://HOST:PORT`` (a running
    dask cluster) of the commands that spread tasks over processes."""
    p.add_argument("--workers", type=positive_int, default=None, help=workers_help)
    p.add_argument(
        "--scheduler",
        default=None,
        metavar="tcp://HOST:PORT",
        help="use a running dask scheduler instead of a local cluster",
    )


def add_output_options(p: argparse.ArgumentParser, sessions: str) -> None:
    """``--sessions N`` (``sessions`` says what they are; default: the scenario's own),
    ``--out DIR`` and ``--report``, of the commands that write one folder (run, compare)."""
    p.add_argument(
        "--sessions",
        type=positive_int,
        default=None,
        help=f"{sessions} (default: the scenario's own)",
    )
    p.add_argument("--out", type=Path, required=True, help="output folder")
    p.add_argument("--report", action="store_true", help="also write report.html")


def add_run_options(p: argparse.ArgumentParser) -> None:
    """Options shared by ``run`` and the commands built on it (compare, sweep)."""
    add_set_option(p)
    add_path_option(
        p, "--config", "FILE.toml", "TOML file of scenario parameters (--set overrides it)"
    )
    p.add_argument(
        "--threads", type=positive_int, default=None, help="numba threads (default: all cores)"
    )
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.add_argument(
        "--overwrite",
        action="store_true",
        help="replace an earlier run in --out (else --out must be empty, or hold this same "
        "command to resume where that is possible)",
    )


def _cmd_run(args: argparse.Namespace) -> int:
    from marketsim import api

    replay = [f"llm.replay={args.replay}"] if getattr(args, "replay", None) else []
    summary = api.run(
        args.scenario,
        **shared_kwargs(args, "out", "sessions", "seed", "config", "threads", "progress"),
        sets=args.sets + replay,
        api_key_env=args.api_key_env,
        overwrite=args.overwrite,
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
    from marketsim.scenarios import describe_parameters

    title, rows = describe_parameters(args.name)
    print(title)
    width = max((len(r["name"]) for r in rows), default=0)
    for r in rows:
        kind = r["type"] + (f", {r['range']}" if r["range"] else "")
        print(f"  {r['name']:<{width}} = {r['default']}  ({kind})  {r['description']}".rstrip())
    return 0


def _cmd_policies(args: argparse.Namespace) -> int:
    from marketsim.scenarios.policies import POLICY_CLASSES, policy_summary

    width = max(len(n) for n in POLICY_CLASSES)
    for name in POLICY_CLASSES:
        print(f"{name:<{width}}  {policy_summary(name)}")
    print(
        "a policy's parameters: marketsim params POLICY; apply one with "
        "--set policy=NAME:KEY=VALUE (run) or --policy NAME:KEY=VALUE (compare)"
    )
    return 0


class _Parser(argparse.ArgumentParser):
    """An argument parser whose errors are one line (the option, the problem, where to
    read more), exit code 2; sub-commands' parsers are of the same class."""

    def error(self, message: str):
        import re

        from marketsim.errors import did_you_mean

        # argparse: "argument command: invalid choice: 'rn' (choose from 'run', ...)"
        bad = re.search(r"invalid choice: '([^']*)' \(choose from (.*)\)$", message)
        if bad:
            choices = re.findall(r"'([^']*)'", bad.group(2))
            message = message.replace(bad.group(0), bad.group(0) + did_you_mean(bad[1], choices))
        self.exit(2, f"error: {self.prog}: {message}; see '{self.prog} --help'\n")

    def format_help(self) -> str:
        for action in self._actions:
            lazy = getattr(action, "lazy_help", None)
            if lazy is not None:
                action.help = lazy()
        return super().format_help()


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="marketsim",
        description="Simulator of algorithmic collusion and market stability.",
    )
    parser.add_argument(
        "--version", action="version", version=f"marketsim {_version()}", help="print the version"
    )
    sub = parser.add_subparsers(dest="command", required=True)

    run = sub.add_parser("run", help="run a scenario and write its results")
    scenario = run.add_argument("scenario", help="scenario name")
    # the names are looked up only when help is shown: the scenarios package loads pydantic
    scenario.lazy_help = lambda: f"scenario name: {', '.join(_scenario_names())}"
    run.add_argument("--seed", type=seed_arg, default=0, help="root seed (default 0)")
    add_output_options(run, sessions="independent sessions")
    add_path_option(
        run, "--replay", "TRACE", "rerun from a recorded LLM trace, no server (sets llm.replay)"
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

    params = sub.add_parser(
        "params", help="list a scenario's or a policy's parameters: type, range, default, meaning"
    )
    params.add_argument("name", metavar="SCENARIO|POLICY", help="e.g. calvano2020 or luld")
    params.set_defaults(func=_cmd_params)

    policies = sub.add_parser("policies", help="list the policies and market rules, one line each")
    policies.set_defaults(func=_cmd_policies)

    for name in COMMAND_MODULES:
        import_module(name).register(sub)
    return parser


def _version() -> str:
    from marketsim import __version__

    return __version__


def _scenario_names() -> list[str]:
    from marketsim.scenarios import SCENARIOS

    return sorted(SCENARIOS)


def error_log_dir() -> Path:
    """Where an internal error's traceback is written: ``$XDG_CACHE_HOME/marketsim/errors``
    (``~/.cache/marketsim/errors``), or ``<tmp>/marketsim-<uid>/errors`` when the home
    cache cannot be written."""
    import os
    import tempfile

    from marketsim._numba_cache import user_cache_home

    uid = os.getuid() if hasattr(os, "getuid") else os.getpid()
    candidates = [
        user_cache_home() / "marketsim" / "errors",
        Path(tempfile.gettempdir()) / f"marketsim-{uid}" / "errors",
    ]
    for folder in candidates:
        try:
            folder.mkdir(parents=True, exist_ok=True)
        except OSError:
            continue
        if os.access(folder, os.W_OK):
            return folder
    return candidates[-1]


def _log_internal_error(argv: list[str] | None) -> str:
    """Write the current exception's traceback to a log file; its path (or a note)."""
    import datetime
    import os
    import traceback

    from marketsim import __version__

    stamp = datetime.datetime.now(datetime.UTC).strftime("%Y%m%dT%H%M%SZ")
    text = (
        f"marketsim {__version__}, python {sys.version.split()[0]}\n"
        f"command: marketsim {' '.join(sys.argv[1:] if argv is None else argv)}\n\n"
        f"{traceback.format_exc()}"
    )
    try:
        path = error_log_dir() / f"internal-error-{stamp}-{os.getpid()}.log"
        path.write_text(text, encoding="utf-8")
    except OSError as exc:  # nowhere to write: the traceback goes to stderr after all
        sys.stderr.write(text)
        return f"stderr above (no log file: {exc})"
    return str(path)


def _quiet_stdout() -> None:
    """Point stdout at /dev/null so the interpreter's last flush cannot fail again."""
    import os

    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError):
        pass


def main(argv: list[str] | None = None) -> int:
    """Run the command line; the exit code.

    0 success; 1 a failed task or an internal error (one line on stderr, the traceback
    in a log file under :func:`error_log_dir`); 2 bad input (one line naming the field
    and the fix); 130 interrupted; 141 stdout closed by the reader (``| head``): quiet.
    """
    command = None
    try:
        parser = build_parser()
        args = parser.parse_args(argv)
        command = args.command
        code = int(args.func(args) or 0)
        sys.stdout.flush()  # a closed pipe shows here, inside the guard
        return code
    except UsageError as exc:
        lines = [ln.strip() for ln in str(exc).splitlines() if ln.strip()]
        print(f"error: {'; '.join(lines)}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        if command in ("compare", "sweep"):
            hint = "finished cells are on disk; run the same command again to resume"
        elif command == "run":
            hint = "the run is incomplete; run it again with --overwrite"
        else:
            hint = "stopped before finishing"
        print(f"interrupted: {hint}", file=sys.stderr)
        return 130
    except BrokenPipeError:
        _quiet_stdout()
        return 141
    except SystemExit as exc:  # argparse's own exit (usage errors: 2, --help: 0)
        return exc.code if isinstance(exc.code, int) else 0 if exc.code is None else 2
    except Exception as exc:  # noqa: BLE001  the guard: one line, the traceback in a file
        where = _log_internal_error(argv)
        print(
            f"internal error: {type(exc).__name__}: {_one_line(str(exc))}; details in {where}",
            file=sys.stderr,
        )
        return 1


def _one_line(text: str) -> str:
    lines = [ln.strip() for ln in text.splitlines() if ln.strip()]
    return lines[0] + (" ..." if len(lines) > 1 else "") if lines else "(no message)"


if __name__ == "__main__":
    sys.exit(main())
