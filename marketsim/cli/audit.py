"""``marketsim audit ALGORITHM --market calvano2020 --sessions N --out DIR``.

``ALGORITHM`` is ``module:factory`` (calling ``factory()`` returns an object with
``reset(n_firms, firm, seed)`` and ``price(prices, profits) -> float``) or an http(s)
URL (see :class:`marketsim.experiments.audit.HTTPPricer`). Writes ``DIR/audit.json``,
``DIR/audit.md`` and, unless ``--no-report``, ``DIR/report.html`` with
``DIR/figures/*.png`` (the verdict with its evidence, the tests, charts; see
:mod:`marketsim.analysis.report`); see :mod:`marketsim.experiments.audit`.
"""

from __future__ import annotations

import argparse
from pathlib import Path


def _cmd_audit(args: argparse.Namespace) -> int:
    from marketsim.errors import UsageError
    from marketsim.experiments.audit import AuditSettings, load_factory, run_audit
    from marketsim.scenarios import resolve_spec

    if args.market != "calvano2020":
        raise UsageError(f"--market {args.market!r}: only calvano2020 is supported")
    _, spec = resolve_spec(args.market, args.config, args.sets)
    settings = AuditSettings(
        sessions=args.sessions,
        periods=args.periods,
        horizon=args.horizon,
        seed=args.seed,
        call_timeout=args.timeout,
        reset_timeout=args.reset_timeout,
        budget_s=args.budget,
        max_failures=args.max_failures,
        delta=spec.delta,
    )
    if args.periods < 8:
        raise UsageError(f"--periods {args.periods}: use at least 8")
    factory = load_factory(args.algorithm, call_timeout=args.timeout)
    result = run_audit(
        factory,
        market=spec.market(),
        settings=settings,
        out=args.out,
        algorithm=args.algorithm,
        progress=not args.quiet,
    )
    out = Path(args.out).resolve()
    print(f"verdict: {result['verdict']}")
    for line in result["evidence"]:
        print(f"  - {line}")
    for name, reason in result["not_measured"].items():
        print(f"  not measured: {name}: {reason}")
    print(f"results: {out / 'audit.json'}, summary: {out / 'audit.md'}")
    if not args.no_report:
        from marketsim.analysis.report import write_report

        print(f"report: {write_report(out).resolve()}")
    return 0


def register(subparsers) -> None:
    from marketsim.cli import positive_int, seed_arg

    p = subparsers.add_parser("audit", help="stress-test a pricing algorithm for collusion")
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
        "--timeout", type=float, default=1.0, help="seconds allowed per price() call (default 1)"
    )
    p.add_argument(
        "--reset-timeout",
        type=float,
        default=60.0,
        help="seconds allowed per reset() call (default 60)",
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
    p.add_argument(
        "--set",
        dest="sets",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="market parameter of the scenario spec, e.g. --set mu=0.5",
    )
    p.add_argument("--config", type=Path, default=None, metavar="FILE.toml")
    p.add_argument("--out", type=Path, required=True, help="output folder")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.add_argument(
        "--no-report",
        action="store_true",
        help="skip report.html and figures/*.png (audit.json and audit.md only)",
    )
    p.set_defaults(func=_cmd_audit)
