"""``marketsim audit ALGORITHM --market calvano2020 --sessions N --out DIR``.

``ALGORITHM`` is ``module:factory`` (calling ``factory()`` returns an object with
``reset(n_firms, firm, seed)`` and ``price(prices, profits) -> float``) or an http(s)
URL (see :class:`marketsim.experiments.audit.HTTPPricer`). Writes ``DIR/audit.json``,
``DIR/audit.md`` and, unless ``--no-report``, ``DIR/report.html`` with
``DIR/figures/*.png`` (the verdict with its evidence, the tests, charts; see
:mod:`marketsim.analysis.report`); see :mod:`marketsim.experiments.audit`.

Exit codes (:data:`EXIT_CODES`): 0, the audit finished and every test was measured;
3, the audit finished and wrote ``audit.json`` but some test was not measured (the
algorithm failed, timed out, exited or raised, or the budget ran out: see
``not_measured``); 2, bad input, including a plug-in that cannot be loaded (missing,
raises or exits at import, syntax error; one line, nothing written); 130, the audit was
interrupted (Ctrl-C or SIGINT to the process): ``audit.json`` says where, verdict
``inconclusive``. A ``KeyboardInterrupt`` or ``SystemExit`` raised by the plug-in's own
code is not an interruption: it is a counted failure of the algorithm.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

#: exit code -> meaning (see the module docstring)
EXIT_CODES = {
    0: "the audit finished; every test was measured",
    2: "bad input: options, or a plug-in that cannot be loaded",
    3: "the audit finished, but some test was not measured (see not_measured)",
    130: "interrupted; audit.json records where",
}


#: AuditSettings field -> the option that sets it
_SETTINGS = {
    "sessions": "sessions",
    "periods": "periods",
    "horizon": "horizon",
    "seed": "seed",
    "call_timeout": "timeout",
    "reset_timeout": "reset_timeout",
    "budget_s": "budget",
    "max_failures": "max_failures",
}


def _cmd_audit(args: argparse.Namespace) -> int:
    from marketsim.errors import UsageError
    from marketsim.experiments.audit import AuditSettings, load_factory, run_audit
    from marketsim.scenarios import resolve_spec

    if args.market != "calvano2020":
        raise UsageError(f"--market {args.market!r}: only calvano2020 is supported")
    _, spec = resolve_spec(args.market, args.config, args.sets)
    settings = AuditSettings(
        **{key: getattr(args, option) for key, option in _SETTINGS.items()}, delta=spec.delta
    )
    if args.periods < 8:
        raise UsageError(f"--periods {args.periods}: use at least 8")
    out = Path(args.out).resolve()
    try:
        factory = load_factory(
            args.algorithm, call_timeout=args.timeout, import_timeout=args.reset_timeout
        )
    except KeyboardInterrupt:
        print("interrupted while loading the algorithm: nothing was written", file=sys.stderr)
        return 130
    try:
        result = run_audit(
            factory,
            market=spec.market(),
            settings=settings,
            out=args.out,
            algorithm=args.algorithm,
            progress=not args.quiet,
        )
    except KeyboardInterrupt:  # a second Ctrl-C, or one outside the battery
        print(
            f"interrupted: {out / 'audit.json'}, if written, says whether the audit finished "
            "(the key incomplete)",
            file=sys.stderr,
        )
        return 130
    print(f"verdict: {result['verdict']}")
    for line in result["evidence"]:
        print(f"  - {line}")
    for name, reason in result["not_measured"].items():
        print(f"  not measured: {name}: {reason}")
    print(f"results: {out / 'audit.json'}, summary: {out / 'audit.md'}")
    if "incomplete" in result:
        print(
            f"interrupted: {out / 'audit.json'} holds the tests finished before it "
            "(verdict inconclusive); no report written",
            file=sys.stderr,
        )
        return 130
    if not args.no_report:
        from marketsim.analysis.report import write_report

        try:
            print(f"report: {write_report(out).resolve()}")
        except KeyboardInterrupt:
            print(
                f"interrupted while writing the report: {out / 'audit.json'} and "
                f"{out / 'audit.md'} are complete",
                file=sys.stderr,
            )
            return 130
    return 3 if result["not_measured"] else 0


def register(subparsers) -> None:
    from marketsim.cli import add_set_option, positive_int, seed_arg

    p = subparsers.add_parser(
        "audit",
        help="stress-test a pricing algorithm for collusion",
        epilog="exit codes: " + "; ".join(f"{k} {v}" for k, v in EXIT_CODES.items()),
    )
    p.add_argument(
        "algorithm",
        help="module:factory (e.g. marketsim.agents.reference_pricers:"
        "GrimTriggerPricer) or an http(s) endpoint URL",
    )
    p.add_argument("--market", default="calvano2020", help="market (default calvano2020)")
    p.add_argument(
        "--sessions",
        type=positive_int,
        default=200,
        help="self-play and punishment sessions (default 200)",
    )
    p.add_argument(
        "--periods",
        type=positive_int,
        default=300,
        help="periods before the deviation (default 300)",
    )
    p.add_argument(
        "--horizon", type=positive_int, default=25, help="periods after the deviation (default 25)"
    )
    p.add_argument("--seed", type=seed_arg, default=0, help="root seed (default 0)")
    p.add_argument(
        "--timeout",
        type=float,
        default=1.0,
        help="seconds allowed per price() call, and per factory() call with the "
        "constructor (default 1)",
    )
    p.add_argument(
        "--reset-timeout",
        type=float,
        default=60.0,
        help="seconds allowed per reset() call, and to import the module (default 60)",
    )
    p.add_argument(
        "--budget",
        type=float,
        default=1800.0,
        help="total wall seconds for the battery (default 1800)",
    )
    p.add_argument(
        "--max-failures",
        type=positive_int,
        default=10,
        help="failures after which a test is not measured (default 10)",
    )
    add_set_option(p, "market parameter of the scenario spec, e.g. --set mu=0.5")
    p.add_argument("--config", type=Path, default=None, metavar="FILE.toml")
    p.add_argument("--out", type=Path, required=True, help="output folder")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.add_argument(
        "--no-report",
        action="store_true",
        help="skip report.html and figures/*.png (audit.json and audit.md only)",
    )
    p.set_defaults(func=_cmd_audit)
