"""``marketsim detect collusion|crash|feedback|spreads FILE``: detectors on a CSV/Parquet file.

Prints a readable verdict (or JSON with ``--json``), times shown as the file gives them
(ISO datetimes, dates, the original text, clock time for a simulated day). Bad input (a
missing column, unsorted or duplicate timestamps, missing values without a --missing rule,
too few observations) is one line on stderr and exit code 2. Column names default to
``t``, ``firm``, ``price``; when those are absent, marketsim's own names are used if
present (``t_ns``, ``price_tick`` or ``mid``, ``qty``, ``aggressor_side``), so a run's
``trades.parquet`` or ``book.parquet`` works as is. A CSV's separator and decimal comma
are detected (or set with --sep and --decimal-comma). ``spreads`` screens market makers'
quotes (``t, maker, ask[, bid]``); on a ``market_making`` run's ``impulse.parquet`` it
takes the learned quotes and the benchmarks from the run's ``summary.json``.
"""

from __future__ import annotations

import argparse
import json
import sys

from marketsim.errors import UsageError

_FALLBACK = {
    "time": ("t", "t_ns", "time", "timestamp"),
    "price": ("price", "price_tick", "mid", "mid_tick"),
    "volume": ("volume", "qty", "size"),
    "side": ("side", "aggressor_side"),
    "depth": ("depth",),
}


def _pick(frame, given: str | None, role: str, required: bool = True) -> str | None:
    if given:
        return given
    for name in _FALLBACK[role]:
        if name in frame.columns:
            return name
    return _FALLBACK[role][0] if required else None


_KIND = {
    "text": "times as written in the file",
    "datetime": "date and time",
    "date": "dates",
    "clock": "clock time of the day",
    "number": "time as the numbers given",
}


def _listed(rows: list[str], total: int, what: str, shown: int = 10) -> None:
    for line in rows[:shown]:
        print(line)
    if total > shown:
        print(f"  ... and {total - shown} more {what} (--json lists up to 50)")


def _logit_market(text: str | None, n: int):
    if text is None:
        return None
    from marketsim.logit import LogitMarket

    kw: dict[str, float] = {}
    for item in filter(None, text.split(",")):
        key, _, value = item.partition("=")
        key = key.strip()
        if key not in ("a", "c", "a0", "mu") or not value:
            raise UsageError(f"--logit item {item!r}: use a=..,c=..,a0=..,mu=.. (e.g. mu=0.25)")
        try:
            kw[key] = float(value)
        except ValueError:
            raise UsageError(f"--logit {key}: expected a number, got {value!r}") from None
    return LogitMarket.symmetric(n, **kw)


def _cmd_detect(args: argparse.Namespace) -> int:
    import polars as pl

    from marketsim.analysis._validate import read_table
    from marketsim.analysis.collusion import detect_collusion
    from marketsim.analysis.crashes import detect_crashes
    from marketsim.analysis.detectors import to_jsonable
    from marketsim.analysis.feedback import detect_feedback
    from marketsim.analysis.spreads import detect_spreads, run_settings

    frame = read_table(args.file, sep=args.sep, decimal_comma=args.decimal_comma)
    if frame.height == 0:
        raise UsageError(f"{args.file}: the table has no rows")
    time_col = _pick(frame, args.time_col, "time")
    if args.wide and args.kind != "collusion":
        raise UsageError(
            "--wide is for collusion (one price column per firm); for crash or feedback "
            "choose one series with --price-col"
        )
    if args.kind == "collusion":
        firm_col = args.firm_col or "firm"
        price_col = (
            args.price_col or "price" if args.wide else _pick(frame, args.price_col, "price")
        )
        market = None
        if args.logit is not None:
            if args.wide:
                n_firms = frame.width - 1
            elif firm_col not in frame.columns:
                raise UsageError(f"column {firm_col!r} not found; name it with --firm-col")
            else:
                n_firms = frame[firm_col].n_unique()
            market = _logit_market(args.logit, n_firms)
        res = detect_collusion(
            frame,
            time_col=time_col,
            firm_col=firm_col,
            price_col=price_col,
            cost_col=args.cost_col,
            competitive_price=args.competitive_price,
            market=market,
            wide=args.wide,
            missing=args.missing,
            time_unit=args.time_unit,
            cv_threshold=args.cv_threshold,
        )
        blocks = {
            **res["screens"],
            **({"demand_model": res["demand_model"]} if "demand_model" in res else {}),
        }
    elif args.kind == "spreads":
        given = {
            "time_col": args.time_col,
            "maker_col": args.maker_col,
            "ask_col": args.ask_col,
            "bid_col": args.bid_col,
            "session_col": args.session_col,
            "reference": args.reference,
            "competitive_spread": args.competitive_spread,
            "collusive_spread": args.collusive_spread,
        }
        from_run = run_settings(args.file) or {}
        settings = {k: v if v is not None else from_run.get(k) for k, v in given.items()}
        settings["time_col"] = settings["time_col"] or time_col
        settings["maker_col"] = settings["maker_col"] or "maker"
        settings["ask_col"] = settings["ask_col"] or "ask"
        if from_run and not args.json:
            used = [f"{k}={from_run[k]:g}" for k in ("competitive_spread", "collusive_spread")]
            print(
                f"market_making run: learned quotes ({settings['ask_col']}), asks from E[v] = 0, "
                f"benchmarks from summary.json ({', '.join(used)})"
            )
        res = detect_spreads(
            frame,
            **settings,
            missing=args.missing,
            time_unit=args.time_unit,
            min_excess=args.min_excess,
            moves=from_run.get("moves", True),
        )
        blocks = res["screens"]
    elif args.kind == "crash":
        res = detect_crashes(
            frame,
            time_col=time_col,
            price_col=_pick(frame, args.price_col, "price"),
            time_unit=args.time_unit,
            drop=args.drop,
            window=args.window,
            recovery_window=args.recovery_window,
            allow_ties=args.allow_ties,
            missing=args.missing,
        )
        blocks = {}
    else:
        levels = [c for c in frame.columns if c.startswith(("bid_qty_", "ask_qty_"))]
        if args.depth_col is None and "depth" not in frame.columns and levels:
            # a marketsim book.parquet: depth is the quantity on the recorded levels
            frame = frame.with_columns(pl.sum_horizontal(levels).alias("depth"))
        res = detect_feedback(
            frame,
            time_col=time_col,
            price_col=_pick(frame, args.price_col, "price", False),
            volume_col=_pick(frame, args.volume_col, "volume", False),
            side_col=_pick(frame, args.side_col, "side", False),
            depth_col=_pick(frame, args.depth_col, "depth", False),
            time_unit=args.time_unit,
            sample_seconds=args.sample_seconds,
            missing=args.missing,
        )
        blocks = {
            k: v for k, v in res.items() if isinstance(v, dict) and k not in ("skipped", "missing")
        }
    if args.json:
        json.dump(to_jsonable(res), sys.stdout, indent=2)
        sys.stdout.write("\n")
        return 0
    print(("FLAGGED  " if res["flagged"] else "clear    ") + res["verdict"])
    if res.get("first_time") is not None:
        print(
            f"  data: {res.get('observations', res.get('prints'))} observations from "
            f"{res['first_time']} to {res['last_time']} ({_KIND[res['time_kind']]})"
        )
    for name, block in blocks.items():
        mark = "!" if block.get("flagged") else "-"
        print(f"  {mark} {name}: {block['verdict']}")
    for name, why in res.get("skipped", {}).items():
        print(f"  . {name}: not run, {why}")
    if args.kind == "crash":
        dd, fc = res["drawdowns"], res["mini_flash_crashes"]
        _listed(
            [
                f"  ! fall {r['depth']:.1%} from {r['start_time']} to {r['trough_time']}, "
                f"recovered {r['recovered_share']:.0%}"
                for r in dd.head(10).iter_rows(named=True)
            ],
            dd.height,
            "falls",
        )
        _listed(
            [
                f"  ! {r['direction']}: {r['ticks']} ticks, {r['move']:+.2%} in "
                f"{r['duration_s']:.3g} s from {r['start_time']}"
                for r in fc.head(10).iter_rows(named=True)
            ],
            fc.height,
            "mini flash crashes and spikes",
        )
    return 0


def register(subparsers) -> None:
    """Add the ``detect`` subcommand."""
    p = subparsers.add_parser(
        "detect",
        help="run the collusion, crash, feedback or spread detectors on a CSV/Parquet file",
        description=__doc__.split("\n\n")[1].replace("\n", " "),
    )
    p.add_argument("kind", choices=("collusion", "crash", "feedback", "spreads"))
    p.add_argument("file", help="a .csv or .parquet table")
    p.add_argument("--time-col", default=None, help="time column (default t, else t_ns)")
    p.add_argument(
        "--price-col", default=None, help="price column (default price, else price_tick or mid)"
    )
    p.add_argument("--firm-col", default=None, help="firm column (collusion; default firm)")
    p.add_argument(
        "--wide",
        action="store_true",
        help="collusion: the table has a time column and one price column per firm or station",
    )
    p.add_argument("--json", action="store_true", help="print the full result as JSON")
    p.add_argument(
        "--sep",
        default=None,
        help="CSV field separator, e.g. ';' or '\\t' (default: detected from the file)",
    )
    p.add_argument(
        "--decimal-comma",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="CSV numbers use a decimal comma, 1,757 (default: detected)",
    )
    p.add_argument(
        "--missing",
        choices=("drop", "ffill"),
        default=None,
        help="rule for missing values and unbalanced panels: drop the rows (times), or carry "
        "the last value forward; counted in the output (default: refuse them)",
    )
    p.add_argument(
        "--time-unit",
        choices=("s", "ms", "us", "ns"),
        default=None,
        help="unit of a numeric time column (default s, ns for *_ns names)",
    )
    g = p.add_argument_group("collusion")
    g.add_argument("--cost-col", default=None, help="marginal cost column (Lerner index)")
    g.add_argument(
        "--competitive-price",
        type=float,
        default=None,
        help="competitive benchmark price for the margin screen",
    )
    g.add_argument(
        "--logit",
        default=None,
        metavar="a=2,c=1,a0=0,mu=0.25",
        help="known symmetric logit demand (empty string = Calvano baseline)",
    )
    g.add_argument(
        "--cv-threshold",
        type=float,
        default=0.01,
        help="variance screen threshold on the coefficient of variation",
    )
    g = p.add_argument_group("crash")
    g.add_argument("--drop", type=float, default=0.05, help="minimum fall (fraction)")
    g.add_argument("--window", type=float, default=900.0, help="seconds from start to trough")
    g.add_argument(
        "--recovery-window",
        type=float,
        default=1800.0,
        help="seconds after the trough over which recovery is measured",
    )
    g.add_argument(
        "--allow-ties", action="store_true", help="accept repeated timestamps (tick data)"
    )
    g = p.add_argument_group("feedback")
    g.add_argument("--volume-col", default=None, help="volume column (VPIN)")
    g.add_argument("--side-col", default=None, help="aggressor side column (+1/-1, buy/sell)")
    g.add_argument(
        "--depth-col",
        default=None,
        help="book depth column (liquidity drop; default depth, else the sum of bid_qty_k "
        "and ask_qty_k)",
    )
    g.add_argument(
        "--sample-seconds",
        type=float,
        default=None,
        help="regular sampling of prices for the variance ratio",
    )
    g = p.add_argument_group("spreads")
    g.add_argument("--maker-col", default=None, help="market maker column (default maker)")
    g.add_argument("--ask-col", default=None, help="ask column (default ask)")
    g.add_argument("--bid-col", default=None, help="bid column: spread = best ask - best bid")
    g.add_argument(
        "--session-col",
        default=None,
        help="independent markets (e.g. simulated sessions): the test runs over their means",
    )
    g.add_argument(
        "--reference",
        type=float,
        default=None,
        help="without bids: the value asks are measured from (spread = best ask - this)",
    )
    g.add_argument(
        "--competitive-spread",
        type=float,
        default=None,
        help="competitive (zero-profit or Nash) spread, in the data's units",
    )
    g.add_argument(
        "--collusive-spread",
        type=float,
        default=None,
        help="joint-profit-maximising spread: adds the markup index (0 competitive, 1 collusive)",
    )
    g.add_argument(
        "--min-excess",
        type=float,
        default=0.05,
        help="smallest excess over the competitive spread that counts (fraction, default 0.05)",
    )
    p.set_defaults(func=_cmd_detect)
