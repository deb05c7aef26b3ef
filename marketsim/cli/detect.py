"""``marketsim detect collusion|crash|feedback FILE``: the detectors on a CSV or Parquet file.

Prints a readable verdict (or JSON with ``--json``). Bad input (a missing column,
unsorted or duplicate timestamps, NaNs, too few observations) is one line on stderr and
exit code 2. Column names default to ``t``, ``firm``, ``price``; when those are absent,
marketsim's own names are used if present (``t_ns``, ``price_tick`` or ``mid``, ``qty``,
``aggressor_side``), so a run's ``trades.parquet`` or ``book.parquet`` works as is.
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
    from marketsim.analysis._validate import read_table
    from marketsim.analysis.collusion import detect_collusion
    from marketsim.analysis.crashes import detect_crashes
    from marketsim.analysis.detectors import to_jsonable
    from marketsim.analysis.feedback import detect_feedback

    frame = read_table(args.file)
    if frame.height == 0:
        raise UsageError(f"{args.file}: the table has no rows")
    time_col = _pick(frame, args.time_col, "time")
    price_col = _pick(frame, args.price_col, "price")
    if args.kind == "collusion":
        firm_col = args.firm_col or "firm"
        market = None
        if args.logit is not None:
            if firm_col not in frame.columns:
                raise UsageError(f"column {firm_col!r} not found; name it with --firm-col")
            market = _logit_market(args.logit, frame[firm_col].n_unique())
        res = detect_collusion(
            frame,
            time_col=time_col,
            firm_col=firm_col,
            price_col=price_col,
            cost_col=args.cost_col,
            competitive_price=args.competitive_price,
            market=market,
            cv_threshold=args.cv_threshold,
        )
        blocks = {
            **res["screens"],
            **({"demand_model": res["demand_model"]} if "demand_model" in res else {}),
        }
    elif args.kind == "crash":
        res = detect_crashes(
            frame,
            time_col=time_col,
            price_col=price_col,
            time_unit=args.time_unit,
            drop=args.drop,
            window=args.window,
            recovery_window=args.recovery_window,
            allow_ties=args.allow_ties,
        )
        blocks = {}
    else:
        res = detect_feedback(
            frame,
            time_col=time_col,
            price_col=price_col,
            volume_col=_pick(frame, args.volume_col, "volume", False),
            side_col=_pick(frame, args.side_col, "side", False),
            depth_col=_pick(frame, args.depth_col, "depth", False),
            time_unit=args.time_unit,
            sample_seconds=args.sample_seconds,
        )
        blocks = {k: v for k, v in res.items() if isinstance(v, dict)}
    if args.json:
        json.dump(to_jsonable(res), sys.stdout, indent=2)
        sys.stdout.write("\n")
        return 0
    print(("FLAGGED  " if res["flagged"] else "clear    ") + res["verdict"])
    for name, block in blocks.items():
        mark = "!" if block.get("flagged") else "-"
        print(f"  {mark} {name}: {block['verdict']}")
    if args.kind == "crash":
        for row in res["drawdowns"].head(10).iter_rows(named=True):
            print(
                f"  ! fall {row['depth']:.1%} from t = {row['start_t']:.6g} to "
                f"{row['trough_t']:.6g}, recovered {row['recovered_share']:.0%}"
            )
        for row in res["mini_flash_crashes"].head(10).iter_rows(named=True):
            print(
                f"  ! {row['direction']}: {row['ticks']} ticks, {row['move']:+.2%} in "
                f"{row['duration_s']:.3g} s from t = {row['start_t']:.6g}"
            )
    return 0


def register(subparsers) -> None:
    """Add the ``detect`` subcommand."""
    p = subparsers.add_parser(
        "detect",
        help="run the collusion, crash or feedback detectors on a CSV/Parquet file",
        description=__doc__.split("\n\n")[1].replace("\n", " "),
    )
    p.add_argument("kind", choices=("collusion", "crash", "feedback"))
    p.add_argument("file", help="a .csv or .parquet table")
    p.add_argument("--time-col", default=None, help="time column (default t, else t_ns)")
    p.add_argument(
        "--price-col", default=None, help="price column (default price, else price_tick or mid)"
    )
    p.add_argument("--firm-col", default=None, help="firm column (collusion; default firm)")
    p.add_argument("--json", action="store_true", help="print the full result as JSON")
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
    g.add_argument("--depth-col", default=None, help="book depth column (liquidity drop)")
    g.add_argument(
        "--sample-seconds",
        type=float,
        default=None,
        help="regular sampling of prices for the variance ratio",
    )
    p.set_defaults(func=_cmd_detect)
