"""Run the detectors on a finished run's folder and return JSON-able verdicts.

:func:`run_detectors` looks at the files a run wrote:

* ``market_making`` runs: the spread screen (:mod:`~marketsim.analysis.spreads`) on the
  learned quotes of ``impulse.parquet`` against the run's competitive and collusive asks;
* pricing runs (``sessions.parquet``, optionally ``impulse.parquet``): the demand-model
  measures across sessions (profit gain, price index), the margin screen on the sessions'
  cycle prices against the Nash price, and the impulse-response punishment test;
* order-book runs (``book.parquet`` one-second snapshots with ``t_ns``, ``mid_tick`` and
  ``bid_qty_k``/``ask_qty_k``; ``trades.parquet`` with ``t_ns``, ``price_tick``, ``qty``,
  ``aggressor_side``): drawdown crashes on the mid,
  mini flash crashes on the trade tape, Hawkes self-excitation of trade arrivals, the
  variance ratio of mid returns, VPIN, order-sign autocorrelation and, when the book has
  depth columns, the depth drop.

``marketsim run`` merges the result into ``summary.json`` under ``detectors``.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import polars as pl

from marketsim.analysis._validate import TimeLabels, time_seconds
from marketsim.analysis.collusion import (
    impulse_response_test,
    margin_screen,
    punishment_from_sessions,
)
from marketsim.analysis.crashes import drawdown_events, mini_flash_crashes
from marketsim.analysis.feedback import (
    aggregate_prints,
    depth_drop,
    feedback_verdict,
    hawkes_fit,
    sign_autocorrelation,
    trade_signs,
    variance_ratio,
    vpin,
)
from marketsim.analysis.spreads import detect_spreads, run_settings
from marketsim.errors import UsageError
from marketsim.measures import fall_from_reference, window_drawdown
from marketsim.records import OPEN_NS

#: most rows of an event table kept in a JSON summary
MAX_EVENTS = 50
#: most trade arrivals used by the Hawkes fit in a run summary (the latest ones)
MAX_HAWKES_EVENTS = 100_000


def to_jsonable(obj, max_rows: int = MAX_EVENTS):
    """Frames to lists of row dicts (at most ``max_rows``), NumPy scalars to Python."""
    if isinstance(obj, pl.DataFrame):
        return obj.head(max_rows).to_dicts()
    if isinstance(obj, dict):
        return {str(k): to_jsonable(v, max_rows) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [to_jsonable(v, max_rows) for v in obj]
    if isinstance(obj, np.generic):
        obj = obj.item()
    if isinstance(obj, float) and not math.isfinite(obj):
        return None
    return obj


def _guarded(fn, *args, **kwargs) -> dict:
    """A detector's result, or its one-line reason for not running (never an exception)."""
    try:
        return fn(*args, **kwargs)
    except UsageError as exc:
        return {"flagged": False, "verdict": f"not computed: {exc}"}


def _market_from_params(params: dict | None):
    if not params:
        return None
    from marketsim.logit import LogitMarket

    n = int(params.get("n_firms", 2))
    try:
        a = np.broadcast_to(np.asarray(params.get("a", 2.0), dtype=np.float64), (n,))
        c = np.broadcast_to(np.asarray(params.get("c", 1.0), dtype=np.float64), (n,))
        return LogitMarket(
            a.copy(), c.copy(), float(params.get("a0", 0.0)), float(params.get("mu", 0.25))
        )
    except (TypeError, ValueError, UsageError):
        return None


#: per-session columns of a marketsim pricing run's exact forced-deviation analysis: the
#: figures, and either the counts of deviations (calvano2020) or one flag (llm_pricing)
SESSION_PUNISHMENT_COLUMNS = ("rival_response", "punishment_length")
SESSION_DEVIATION_COUNTS = (("deviations", "deviations_unprofitable"), ("deviation_profitable",))


def pricing_detectors(
    sessions: pl.DataFrame, impulse: pl.DataFrame | None = None, market=None, delta: float = 0.95
) -> dict:
    """Detector results for a pricing run (one row per session, Calvano format).

    The punishment test (``impulse_response``) uses the sessions' own exact deviation
    analysis when the table has it (:data:`SESSION_PUNISHMENT_COLUMNS`, as a marketsim run
    does), so its figures are the run summary's; otherwise it estimates them from the price
    paths in ``impulse`` (:func:`impulse_response_test`).
    """
    out: dict = {"kind": "pricing", "sessions": int(sessions.height)}
    if "profit_gain" in sessions.columns:
        pg = sessions["profit_gain"].drop_nulls().drop_nans()
        pidx = (
            sessions["price_index"].drop_nulls().drop_nans()
            if "price_index" in sessions.columns
            else None
        )
        share = float((pg > 0.5).mean()) if pg.len() else None
        out["demand_model"] = {
            "profit_gain_mean": pg.mean(),
            "profit_gain_sd": pg.std(),
            "price_index_mean": pidx.mean() if pidx is not None else None,
            "share_sessions_profit_gain_above_half": share,
            "flagged": bool(pg.len() and pg.mean() > 0.5),
            "verdict": (
                f"firms earn {pg.mean():.0%} of the way from the competitive (one-shot Nash) "
                f"profit to the joint-monopoly profit on average (profit gain Delta = "
                f"{pg.mean():.2f}); {share:.0%} of sessions past halfway"
            )
            if pg.len()
            else "no profit gain recorded",
        }
    price_cols = sorted(c for c in sessions.columns if c.startswith("cycle_prices_firm"))
    if market is not None and price_cols and market.n == len(price_cols):
        wide = np.column_stack([sessions[c].list.mean().to_numpy() for c in price_cols])
        if np.isfinite(wide).all() and wide.shape[0] >= 2:
            res = margin_screen(wide, market.nash_prices())
            res["verdict"] = "cycle prices across sessions: " + res["verdict"]
            out["margin"] = res
    if all(c in sessions.columns for c in SESSION_PUNISHMENT_COLUMNS) and any(
        all(c in sessions.columns for c in counts) for counts in SESSION_DEVIATION_COUNTS
    ):
        # the run's own exact deviation analysis: the same figures as its summary
        out["impulse_response"] = punishment_from_sessions(sessions)
    elif impulse is not None and impulse.height:
        ir = _guarded(impulse_response_test, impulse, market, delta=delta)
        ir.pop("sessions", None)
        out["impulse_response"] = ir
    flags = [
        k for k in ("demand_model", "margin", "impulse_response") if out.get(k, {}).get("flagged")
    ]
    out["flagged"] = bool(flags)
    parts = [out[k]["verdict"] for k in ("demand_model", "impulse_response") if k in out]
    out["verdict"] = (
        "supra-competitive pricing: " if flags else "competitive pricing: "
    ) + "; ".join(parts)
    return out


_DEPTH_PAIRS = (("bid_depth", "ask_depth"), ("bid_qty", "ask_qty"), ("bid_size", "ask_size"))


def orderbook_detectors(
    book: pl.DataFrame | None,
    trades: pl.DataFrame | None,
    window_s: float = 900,
    recovery_window_s: float = 1800,
    reference_s: float | None = None,
    low_window_s: float = 3600,
) -> dict:
    """Detector results for an order-book run (book snapshots and/or the trade tape).

    ``crash.max_drawdown`` is :func:`marketsim.measures.window_drawdown` of the mid over
    ``window_s``; with ``reference_s`` (a time on the book's clock, in seconds: the
    start of a sell programme) it is :func:`marketsim.measures.fall_from_reference`, the
    fall from the first mid at or after ``reference_s`` to the lowest within
    ``low_window_s``. Either way it is the definition, and for a marketsim run the same
    windows, as the run's own ``max_drawdown``. ``crash.drawdowns`` lists the separate
    falls of 5% or more.
    """
    out: dict = {"kind": "orderbook"}
    crash: dict = {}
    feedback: dict = {}
    if book is not None and book.height:
        tcol = "t" if "t" in book.columns else ("t_ns" if "t_ns" in book.columns else None)
        mcol = (
            "mid" if "mid" in book.columns else ("mid_tick" if "mid_tick" in book.columns else None)
        )
        levels = [c for c in book.columns if c.startswith(("bid_qty_", "ask_qty_"))]
        if tcol and mcol:
            b = book.select(
                tcol,
                pl.col(mcol).cast(pl.Float64).alias("mid"),
                *[c for pair in _DEPTH_PAIRS for c in pair if c in book.columns],
                *(["depth"] if "depth" in book.columns else []),
                *([pl.sum_horizontal(levels).alias("_levels_depth")] if levels else []),
            )
            b = b.filter(
                pl.col("mid").is_not_null() & pl.col("mid").is_not_nan() & (pl.col("mid") > 0)
            )
            if b.height >= 10:
                t = time_seconds(b, tcol)
                mid = b["mid"].cast(pl.Float64).to_numpy()
                labels = TimeLabels(b, tcol)
                ev = drawdown_events(t, mid, window=window_s, recovery_window=recovery_window_s)
                crash["drawdowns"] = ev.with_columns(
                    pl.Series("start_time", labels.many(ev["start_t"]), dtype=pl.String),
                    pl.Series("trough_time", labels.many(ev["trough_t"]), dtype=pl.String),
                )
                ref = None if reference_s is None else int(np.searchsorted(t, reference_s))
                if ref is not None and ref < t.size:
                    crash["max_drawdown"] = fall_from_reference(mid, ref, low_window_s, times=t)[
                        "max_drawdown"
                    ]
                else:
                    crash["max_drawdown"] = window_drawdown(
                        mid, window_s, recovery_window_s, times=t
                    )["max_drawdown"]
                feedback["variance_ratio"] = _guarded(variance_ratio, mid)
                depth = None
                for bid, ask in _DEPTH_PAIRS:
                    if bid in b.columns and ask in b.columns:
                        depth = (b[bid].fill_null(0) + b[ask].fill_null(0)).cast(pl.Float64)
                        break
                if depth is None and "depth" in b.columns:
                    depth = b["depth"].fill_null(0).cast(pl.Float64)
                if depth is None and "_levels_depth" in b.columns:
                    depth = b["_levels_depth"].fill_null(0).cast(pl.Float64)
                if depth is not None:
                    feedback["depth_drop"] = _guarded(
                        depth_drop, t, depth.to_numpy(), time_label=labels
                    )
    if trades is not None and trades.height:
        tcol = "t_ns" if "t_ns" in trades.columns else ("t" if "t" in trades.columns else None)
        pcol = (
            "price_tick"
            if "price_tick" in trades.columns
            else ("price" if "price" in trades.columns else None)
        )
        if tcol and pcol:
            t = time_seconds(trades, tcol)
            p = trades[pcol].cast(pl.Float64).to_numpy()
            order = np.argsort(t, kind="stable")
            t, p = t[order], p[order]
            fc = mini_flash_crashes(t, p)
            tape_labels = TimeLabels(trades, tcol)
            crash["mini_flash_crashes"] = fc.with_columns(
                pl.Series("start_time", tape_labels.many(fc["start_t"]), dtype=pl.String),
                pl.Series("end_time", tape_labels.many(fc["end_t"]), dtype=pl.String),
            )
            arrivals = np.unique(t)[-MAX_HAWKES_EVENTS:]
            feedback["hawkes"] = _guarded(hawkes_fit, arrivals)
            side = (
                trades["aggressor_side"].to_numpy()[order]
                if ("aggressor_side" in trades.columns)
                else None
            )
            # one sign per aggressive order: its fills share a timestamp and a side
            _, last = aggregate_prints(t, side=side)
            feedback["sign_autocorrelation"] = _guarded(
                sign_autocorrelation, trade_signs(p[last], None if side is None else side[last])
            )
            if "qty" in trades.columns:
                res = _guarded(vpin, t, p, trades["qty"].to_numpy()[order])
                res.pop("series", None)
                feedback["vpin"] = res
    if crash:
        dd = crash.get("drawdowns")
        fc = crash.get("mini_flash_crashes")
        nd = dd.height if dd is not None else 0
        nf = int((fc["direction"] == "crash").sum()) if fc is not None else 0
        crash["flagged"] = bool(nd or nf)
        parts = []
        if dd is not None:
            parts.append(
                f"the largest fall of the price within {window_s / 60:g} min was "
                f"{crash['max_drawdown']:.1%} (max drawdown); {nd} fall(s) of 5% or more"
            )
        if fc is not None:
            parts.append(
                f"{nf} mini flash crash(es): 10 or more price changes in one direction within "
                "1.5 s moving the price more than 0.8% (Johnson et al. 2013)"
            )
        crash["verdict"] = ("crash: " if crash["flagged"] else "no crash: ") + "; ".join(parts)
        out["crash"] = crash
    if feedback:
        feedback["flagged"], feedback["verdict"] = feedback_verdict(feedback)
        out["feedback"] = feedback
    out["flagged"] = bool(
        out.get("crash", {}).get("flagged") or out.get("feedback", {}).get("flagged")
    )
    out["verdict"] = "; ".join(out[k]["verdict"] for k in ("crash", "feedback") if k in out)
    return out


def run_detectors(out_dir, params: dict | None = None) -> dict:
    """Detector results for the run in ``out_dir``, as a JSON-able dict.

    Parameters
    ----------
    out_dir : path
        A run folder: ``sessions.parquet`` (+ ``impulse.parquet``) for pricing runs,
        ``book.parquet`` and/or ``trades.parquet`` for order-book runs.
    params : dict, optional
        The scenario's parameters (``n_firms``, ``a``, ``c``, ``a0``, ``mu``, ``delta``);
        default: ``params`` of ``out_dir/summary.json`` if present. They define the logit
        market used for the Nash benchmark and the deviation's profitability.

    Returns
    -------
    dict with ``kind`` (``pricing``, ``orderbook`` or ``none``), a block per detector
    family (each with ``flagged`` and ``verdict``), ``flagged`` and ``verdict``.
    """
    out_dir = Path(out_dir)
    if params is None and (out_dir / "summary.json").exists():
        try:
            params = json.loads((out_dir / "summary.json").read_text()).get("params")
        except (OSError, ValueError):
            params = None
    sessions_path = out_dir / "sessions.parquet"
    book_path, trades_path = out_dir / "book.parquet", out_dir / "trades.parquet"
    quotes = run_settings(out_dir / "impulse.parquet")
    if quotes is not None and (out_dir / "impulse.parquet").exists():
        try:
            res = {
                "kind": "market_making",
                **detect_spreads(pl.read_parquet(out_dir / "impulse.parquet"), **quotes),
            }
        except UsageError as e:  # too few sessions or quotes for the screen
            res = {"kind": "market_making", "flagged": False, "verdict": f"not computed: {e}"}
    elif sessions_path.exists():
        impulse_path = out_dir / "impulse.parquet"
        impulse = pl.read_parquet(impulse_path) if impulse_path.exists() else None
        res = pricing_detectors(
            pl.read_parquet(sessions_path),
            impulse,
            _market_from_params(params),
            delta=float((params or {}).get("delta", 0.95)),
        )
    elif book_path.exists() or trades_path.exists():
        book = pl.read_parquet(book_path) if book_path.exists() else None
        trades = pl.read_parquet(trades_path) if trades_path.exists() else None
        p = params or {}
        # a marketsim run with a sell programme measures its crash from the programme's
        # start (the summary's max_drawdown); the book's clock is seconds since midnight
        start = p.get("programme_start_s") if p.get("programme") else None
        res = orderbook_detectors(
            book,
            trades,
            window_s=p.get("drawdown_window_s", 900),
            recovery_window_s=p.get("recovery_window_s", 1800),
            reference_s=None if start is None else OPEN_NS / 1e9 + float(start),
            low_window_s=p.get("low_window_s", 3600),
        )
    else:
        res = {
            "kind": "none",
            "flagged": False,
            "verdict": "no sessions.parquet, book.parquet or trades.parquet to examine",
        }
    return to_jsonable(res)
