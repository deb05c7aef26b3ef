"""The order-book market shared by ``market_calm`` and ``flash_crash_2010``.

A Mesa :class:`OrderBookMarket` owns the struct-of-arrays state of ~1,000 traders and
of one limit order book, and advances the whole market one chunk of simulated time per
Mesa step by calling :func:`marketsim.agents.traders.run_chunk` (event-driven inside: exponential
wake-ups, each trader's order actions matched at once). A session is 09:30-16:00
(6.5 h, ``t_ns`` counted from midnight); a warm-up before the open fills the book.

Outputs (one session): ``trades.parquet`` (t_ns, price_tick, qty, buyer, seller,
aggressor_side), ``book.parquet`` (one-second snapshots: best bid/ask, mid, depth at 5
levels, volume), ``halts.parquet`` (every halt and pause: start, end, cause, from the
market rules' log), ``agents.parquet`` (inventory, cash and P&L by trader kind) and
``summary.json``.

Optional LLM-style traders (``llm_traders``, default 0: none, every result unchanged):
the proxy policy of :mod:`marketsim.llm_proxy` inside the trader kernel (kind ``llm``,
see :mod:`marketsim.agents.traders`), on the market's own news and recent returns; the first
``round(llm_monoculture * llm_traders)`` run one base model (shared bias and error).
Measured (one hour, 100 traders, orders of 10 per threshold, seeds 1-3): monoculture
1.0 vs 0.0 raises the mean pairwise correlation of their per-minute net flow from
0.06-0.16 to 0.32-0.67 and the 15-minute drawdown from 0.2-0.8% to 0.6-10.9% (two of
three sessions drive the makers out).

Definitions used in the summary
-------------------------------
- ``max_drawdown``: the largest fall of the one-second mid from a peak to a trough at
  most ``drawdown_window_s`` (900 s) later, as a fraction of the peak;
  ``drawdown_seconds`` is the time from that peak to that trough.
- ``recovery_share``: (highest mid within ``recovery_window_s`` (1,800 s) after the
  trough - trough) / (peak - trough).
- With a sell programme (``flash_crash_2010`` v4) the crash is measured from the
  programme's start, the pre-crash reference (:func:`marketsim.measures.fall_from_reference`):
  ``max_drawdown`` is ``1 - low / reference``, the low being the lowest one-second mid
  within ``low_window_s`` (3,600 s) of the start; ``peak_s`` and ``trough_s`` are the
  start's and the low's seconds since the open, ``drawdown_seconds`` (=
  ``low_after_start_s``) the time between them; ``recovery_share`` is the share of that
  fall regained at the highest mid within ``recovery_window_s`` after the low (capped
  at 1). Added: ``steepest_5min_fall`` (the largest fall within any 300 s between the
  start and the low, :func:`marketsim.measures.window_drawdown`), ``programme_duration_s``
  (start to the last contract sold; null if unfinished), ``recovery_15min`` and
  ``recovery_30min`` (share of the fall regained at the mid 900 s and 1,800 s after the
  low: negative if lower, above 1 if higher than the reference; null when the session
  ends first), ``rise_above_start_1h`` (largest rise of the mid above the reference
  within 3,600 s after the low, as a fraction; 0 if it stays below) and
  ``depth_at_low_ratio`` (resting buy quantity on the best 5 bid levels at the low over
  its mean from the open to the programme's start), ``programme_sold_share_at_low``
  (contracts the programme sold up to the low over ``programme_qty``) and
  ``hft_net_peak_share`` (largest change of the HFTs' aggregate net position from the
  programme's start while it sells, over ``programme_qty``), ``hft_inventory_half_life_s``
  (half-life of the HFTs' aggregate net position over the session, from its AR(1) on
  one-second samples, :func:`marketsim.measures.inventory_half_life`; null when it does
  not revert), ``hft_volume_share`` (the HFTs' contracts bought and sold while the
  programme sells over twice the volume then) and ``volume_ratio_programme`` (volume
  per second while it sells over that of the 30 minutes before it). Without a
  programme the window definition above applies.
- ``hot_potato_ratio``: over the window in which the sell programme trades (the whole
  session when there is none), the high-frequency traders' gross traded volume
  (sum over HFT accounts of contracts bought + sold) divided by the absolute change of
  their aggregate net position, ``max(|net change|, 1)``. Kirilenko et al. (2017) and
  CFTC-SEC (2010, p. 3): ~27,000 contracts traded in 14 s for ~200 net, a ratio ~135.
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import polars as pl

from marketsim.agents import traders as T
from marketsim.io import run_metadata, write_json_atomic, write_parquet_atomic
from marketsim.market_rules import (
    HALT_CAUSES,
    UTICKS_PER_TICK,
    halt_log,
    owner_counts,
    rules_report,
)
from marketsim.measures import (
    depth_ratio,
    fall_from_reference,
    inventory_half_life,
    recovered_share,
    rise_above_reference,
    share_regained,
    window_drawdown,
)
from marketsim.progress import progress_bar
from marketsim.records import NS_PER_SECOND, OPEN_NS, SIDE_NAMES
from marketsim.scenarios._market_model import OrderBookMarket
from marketsim.scenarios._market_spec import (
    FULL_SESSION_S,
    MarketSpec,
    PriorDecline,
    previous_close_tick,
)
from marketsim.stylised import stylised_facts

#: seconds numba takes to compile the order-book kernels on a cold cache: 113 s of CPU
#: for a first short market_calm run (the golden case, imports included; one core, so
#: about the wall time on a quiet 2-core machine; a shared one takes longer). The
#: "compiling kernels" line quotes it.
COMPILE_SECONDS = 110


def trades_frame(model: OrderBookMarket) -> pl.DataFrame:
    """The trade tape: ``t_ns, price_tick, qty, buyer, seller, aggressor_side``."""
    f = model.fills_all()
    return pl.DataFrame(
        {
            "t_ns": f["t_ns"],
            "price_tick": f["price_tick"],
            "qty": f["qty"],
            "buyer": f["buyer"],
            "seller": f["seller"],
            "aggressor_side": pl.Series(
                np.array(SIDE_NAMES)[f["aggressor_side"]], dtype=pl.Enum(list(SIDE_NAMES))
            ),
        }
    )


def book_frame(model: OrderBookMarket) -> pl.DataFrame:
    """One row per second: best quotes, mid, depth at 5 levels, volume in that second."""
    s = model.snap[: int(model.gi[T.I_N_SNAP])]
    cum_vol = s[:, T.C_VOLUME]
    cols = {
        "t_ns": s[:, T.C_T_NS],
        "best_bid_tick": pl.Series(s[:, T.C_BEST_BID]),
        "best_ask_tick": pl.Series(s[:, T.C_BEST_ASK]),
        "mid_tick": s[:, T.C_MID_X2] / 2.0,
    }
    for k in range(T.DEPTH_LEVELS):
        cols[f"bid_qty_{k + 1}"] = s[:, T.C_BID_QTY + k]
    for k in range(T.DEPTH_LEVELS):
        cols[f"ask_qty_{k + 1}"] = s[:, T.C_ASK_QTY + k]
    cols["volume"] = np.diff(cum_vol, prepend=cum_vol[:1] if len(cum_vol) else cum_vol)
    cols["order_actions"] = np.diff(s[:, T.C_N_ACTIONS], prepend=s[:1, T.C_N_ACTIONS])
    cols["hft_gross_volume"] = s[:, T.C_HFT_GROSS]
    cols["hft_net_position"] = s[:, T.C_HFT_NET]
    cols["mm_inventory"] = s[:, T.C_MM_INV]
    frame = pl.DataFrame(cols)
    # an empty side is a null quote, not a price
    return frame.with_columns(
        pl.when(pl.col(c) >= 0).then(pl.col(c)).alias(c) for c in ("best_bid_tick", "best_ask_tick")
    )


def halts_frame(model: OrderBookMarket) -> pl.DataFrame:
    """Every halt and pause of the session as the market rules logged it: ``start_ns``,
    ``end_ns`` (ns since midnight), ``seconds`` and ``cause`` (``luld_pause``,
    ``mwcb_halt``, ``mwcb_close``, ``single_stock_halt``, ``stop_logic_pause``); no rows
    when nothing halted."""
    log = halt_log(model.rules)
    return pl.DataFrame(
        {
            "start_ns": pl.Series(log["start_ns"], dtype=pl.Int64),
            "end_ns": pl.Series(log["end_ns"], dtype=pl.Int64),
            "seconds": pl.Series((log["end_ns"] - log["start_ns"]) / 1e9, dtype=pl.Float64),
            "cause": pl.Series(log["cause"].tolist(), dtype=pl.Enum(list(HALT_CAUSES.values()))),
        }
    )


def agents_frame(model: OrderBookMarket) -> pl.DataFrame:
    """Final inventory, cash and P&L by trader kind (cash and P&L in price units)."""
    mid = model.g[T.G_LAST_MID] / 2.0
    a = model.acct
    tick = model.spec.tick_size
    per = pl.DataFrame(
        {
            "kind": np.array(T.KIND_NAMES)[model.kind],
            "inventory": a[:, T.A_INV],
            "cash_ticks": a[:, T.A_CASH],
            "bought": a[:, T.A_BOUGHT],
            "sold": a[:, T.A_SOLD],
            "order_actions": a[:, T.A_N_ACTIONS],
            "pnl": (a[:, T.A_CASH] + a[:, T.A_INV] * mid) * tick,
        }
    )
    taxed = any(p.name == "tax" for p in model.spec.policy)
    if taxed:  # taxes leave the traders' cash for the regulator's (see market_rules)
        paid = owner_counts(model.rules)["tax_uticks"] / UTICKS_PER_TICK
        per = per.with_columns(
            pl.Series("taxes_paid", paid * tick), pnl=pl.col("pnl") - paid * tick
        )
    frame = per.group_by("kind", maintain_order=True).agg(
        pl.len().alias("n_agents"),
        pl.col("inventory").sum(),
        pl.col("cash_ticks").sum(),
        (pl.col("cash_ticks").sum() * tick).alias("cash"),
        pl.col("pnl").sum(),
        pl.col("bought").sum(),
        pl.col("sold").sum(),
        pl.col("order_actions").sum(),
        (pl.col("inventory").abs().max()).alias("max_abs_inventory"),
        *([pl.col("taxes_paid").sum()] if taxed else []),
    )
    if taxed:  # the regulator's row: cash less taxes, summed over every row, is unchanged
        frame = pl.concat(
            [
                frame,
                pl.DataFrame({"kind": ["regulator"], "taxes_paid": [-float(paid.sum()) * tick]}),
            ],
            how="diagonal_relaxed",
        )
    return frame


def hot_potato(book: pl.DataFrame, start_s: int | None, end_s: int | None) -> dict:
    """HFT gross volume / |net position change| over seconds ``[start_s, end_s]``."""
    gross = book["hft_gross_volume"].to_numpy()
    net = book["hft_net_position"].to_numpy()
    if gross.size == 0:
        return {"hot_potato_ratio": None, "hft_gross_volume": 0, "hft_net_change": 0}
    a = 0 if start_s is None else min(max(start_s, 0), gross.size - 1)
    b = gross.size - 1 if end_s is None else min(max(end_s, a), gross.size - 1)
    g = int(gross[b] - gross[a])
    d = int(net[b] - net[a])
    return {"hot_potato_ratio": g / max(abs(d), 1), "hft_gross_volume": g, "hft_net_change": d}


def simulate(
    spec: MarketSpec,
    *,
    seed: int,
    session: int = 0,
    progress: bool = False,
    label: str = "simulated minutes",
) -> OrderBookMarket:
    """Run one session to the close; nothing is written."""
    model = OrderBookMarket(spec, seed, session)
    total = (model.end_ns - model.t_ns) / NS_PER_SECOND / 60
    start = model.t_ns
    count = "{task.completed:.0f}/{task.total:.0f}"
    with progress_bar(label, total, enabled=progress, count=count) as update:
        while model.running:
            model.step()
            update(completed=min((model.t_ns - start) / NS_PER_SECOND / 60, total))
    return model


#: the low of a programme run is sought within this long after its start, unless the
#: spec sets ``low_window_s`` (``flash_crash_2010`` does)
LOW_WINDOW_S = 3600


def crash_measures(
    mid: np.ndarray,
    bid_depth: np.ndarray,
    start_s: int,
    *,
    low_window_s: float,
    recovery_window_s: float,
) -> dict:
    """The crash measured from the programme's start on a one-second grid (index =
    seconds since the open; see the module docstring for each key)."""
    ref = min(max(int(start_s), 0), mid.size - 1)
    low = fall_from_reference(mid, ref, low_window_s)
    i = low["low_index"]
    steep = window_drawdown(mid[ref : i + 1], 300, 0)["max_drawdown"] if i > ref else 0.0

    def _nan_none(x: float) -> float | None:
        return None if np.isnan(x) else x

    return {
        "max_drawdown": low["max_drawdown"],
        "peak_s": ref,
        "trough_s": i,
        "drawdown_seconds": i - ref,
        "recovery_share": recovered_share(mid, ref, i, recovery_window_s),
        "reference_mid_tick": low["reference_price"],
        "low_mid_tick": low["low_price"],
        "low_after_start_s": i - ref,
        "steepest_5min_fall": steep,
        "recovery_15min": _nan_none(share_regained(mid, ref, i, 900)),
        "recovery_30min": _nan_none(share_regained(mid, ref, i, 1800)),
        "rise_above_start_1h": rise_above_reference(mid, ref, i, 3600),
        "depth_at_low_ratio": _nan_none(depth_ratio(bid_depth, i, ref)),
    }


def hft_flow(book: pl.DataFrame, start_s: int, end_s: float | None) -> dict:
    """The high-frequency traders' inventory and volume around a sell programme: the
    half-life of their aggregate net position over the session (one-second samples,
    :func:`marketsim.measures.inventory_half_life`), their share of the contracts traded
    while the programme sold (gross over twice the volume: each contract has two sides)
    and the volume per second then over the 30 minutes before its start."""
    net = book["hft_net_position"].to_numpy()
    gross = book["hft_gross_volume"].to_numpy()
    vol = book["volume"].to_numpy()
    n = vol.size
    a = min(max(int(start_s), 0), n - 1)
    b = n - 1 if end_s is None else min(int(end_s) + 1, n - 1)
    during = float(vol[a + 1 : b + 1].sum())
    before = vol[max(a - 1800, 0) + 1 : a + 1]
    half_life = inventory_half_life(net)
    return {
        "hft_inventory_half_life_s": None if np.isnan(half_life) else half_life,
        "hft_volume_share": float(gross[b] - gross[a]) / (2.0 * during) if during > 0 else None,
        "volume_ratio_programme": float(during / max(b - a, 1) / before.mean())
        if before.size and before.mean() > 0 and b > a
        else None,
    }


def _programme_shares(model, book, i: int, low_s: int, end_s: float | None) -> dict:
    """Contract counts as shares of the programme's size (the targets card's scaling):
    what the programme had sold by the low, and the largest change of the HFTs'
    aggregate net position from the programme's start while it sold."""
    spec = model.spec
    f = model.fills_all()
    low_ns = OPEN_NS + int(low_s) * NS_PER_SECOND
    sold = int(f["qty"][(f["seller"] == i) & (f["t_ns"] <= low_ns)].sum())
    net = book["hft_net_position"].to_numpy()
    a = min(max(spec.programme_start_s, 0), net.size - 1)
    b = net.size - 1 if end_s is None else min(int(end_s) + 1, net.size - 1)
    peak = int(np.abs(net[a : b + 1] - net[a]).max()) if b >= a else 0
    return {
        "programme_sold_share_at_low": sold / spec.programme_qty,
        "hft_net_peak_share": peak / spec.programme_qty,
    }


def session_summary(model: OrderBookMarket, book: pl.DataFrame) -> dict:
    """Summary figures of one finished session (see the module docstring)."""
    spec = model.spec
    mid = book["mid_tick"].to_numpy()
    if spec.programme and mid.size > 1:
        bid_depth = book.select(
            pl.sum_horizontal(pl.col(f"bid_qty_{k + 1}") for k in range(T.DEPTH_LEVELS))
        ).to_series()
        out = crash_measures(
            mid,
            bid_depth.to_numpy(),
            spec.programme_start_s,
            low_window_s=getattr(spec, "low_window_s", LOW_WINDOW_S),
            recovery_window_s=spec.recovery_window_s,
        )
    else:
        out = window_drawdown(mid, spec.drawdown_window_s, spec.recovery_window_s)
    prog = None
    if spec.programme:
        i = int(np.flatnonzero(model.kind == T.SELL_PROGRAMME)[0])
        end_ns = int(model.gi[T.I_PROG_END_NS])
        prog = {
            "start_s": spec.programme_start_s,
            "end_s": None if end_ns < 0 else (end_ns - OPEN_NS) / NS_PER_SECOND,
            "sold": int(model.acct[i, T.A_SOLD]),
            "target_qty": spec.programme_qty,
            "volume_since_start": int(model.gi[T.I_VOLUME] - model.gi[T.I_PROG_VOLUME_START])
            if model.gi[T.I_PROG_VOLUME_START] >= 0
            else 0,
        }
        hp = hot_potato(
            book, spec.programme_start_s, None if prog["end_s"] is None else int(prog["end_s"]) + 1
        )
        out["programme_duration_s"] = (
            None if prog["end_s"] is None else prog["end_s"] - spec.programme_start_s
        )
        if "trough_s" in out:
            out.update(_programme_shares(model, book, i, out["trough_s"], prog["end_s"]))
        out.update(hft_flow(book, spec.programme_start_s, prog["end_s"]))
    else:
        hp = hot_potato(book, None, None)
    cash = model.acct[:, T.A_CASH]
    inv = model.acct[:, T.A_INV]
    return {
        **out,
        **hp,
        "volume": model.volume,
        "order_actions": model.order_actions,
        "n_agents": int(model.kind.shape[0]),
        "trades": int(model.fills_all().shape[0]),
        "open_mid_tick": float(mid[0]) if mid.size else None,
        "close_mid_tick": float(mid[-1]) if mid.size else None,
        "cash_sum_ticks": int(cash.sum()),
        "inventory_sum": int(inv.sum()),
        "programme": prog,
        "stylised": stylised_facts(mid),
        **rules_report(model.rules),
        "halts_not_logged": halt_log(model.rules)["not_logged"],
    }


def run_market(
    spec: MarketSpec, *, sessions: int, seed: int, out: Path, threads: int | None, progress: bool
) -> dict:
    """Run ``sessions`` sessions; write the tables and ``summary.json`` into ``out``
    (``market_calm``'s ``run``). A session's kernels run on one thread: ``threads`` is
    not used.

    With several sessions every table gets a ``session`` column and the summary holds
    one entry per session under ``sessions`` (the top-level figures are session 0's).
    """
    t0 = time.perf_counter()
    trades, books, agents, halts, summaries = [], [], [], [], []
    kernel_seconds = 0.0
    for s in range(sessions):
        model = simulate(
            spec, seed=seed, session=s, progress=progress, label=f"session {s}: simulated minutes"
        )
        kernel_seconds += model.kernel_seconds
        book = book_frame(model)
        summ = session_summary(model, book)
        summ["session"] = s
        summaries.append(summ)
        tag = pl.lit(s, dtype=pl.Int64).alias("session")
        trades.append(
            trades_frame(model).with_columns(tag) if sessions > 1 else trades_frame(model)
        )
        books.append(book.with_columns(tag) if sessions > 1 else book)
        agents.append(
            agents_frame(model).with_columns(tag) if sessions > 1 else agents_frame(model)
        )
        halts.append(halts_frame(model).with_columns(tag) if sessions > 1 else halts_frame(model))
    wall = time.perf_counter() - t0
    write_parquet_atomic(pl.concat(trades), out / "trades.parquet")
    write_parquet_atomic(pl.concat(books), out / "book.parquet")
    write_parquet_atomic(pl.concat(agents), out / "agents.parquet")
    write_parquet_atomic(pl.concat(halts), out / "halts.parquet")
    actions = sum(x["order_actions"] for x in summaries)
    summary = {
        **spec.describe(),
        "seed": seed,
        **summaries[0],
        "sessions": summaries if sessions > 1 else None,
        "wall_seconds": wall,
        "kernel_seconds": kernel_seconds,
        "actions_per_second": actions / max(kernel_seconds, 1e-12),
        **run_metadata(),
    }
    write_json_atomic(summary, out / "summary.json")
    return summary


__all__ = [
    "COMPILE_SECONDS",
    "FULL_SESSION_S",
    "OPEN_NS",
    "MarketSpec",
    "OrderBookMarket",
    "PriorDecline",
    "agents_frame",
    "book_frame",
    "crash_measures",
    "halts_frame",
    "hot_potato",
    "previous_close_tick",
    "run_market",
    "session_summary",
    "simulate",
    "trades_frame",
    "window_drawdown",
]
