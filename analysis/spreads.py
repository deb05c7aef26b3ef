r"""Spread screen: supra-competitive quoted spreads and parallel quote moves of market makers.

Input: quotes of several market makers, one row per maker and time (``t, maker, ask``
and optionally ``bid``; with a ``session`` column, independent markets such as the
sessions of a simulation). At each time the best ask is the lowest ask, the best bid the
highest bid, and the quoted spread

.. math::

    s_t = \min_i a_{it} - \max_i b_{it}
    \quad\text{or, with asks alone,}\quad s_t = \min_i a_{it} - r

the half-spread over a reference value :math:`r` (marketsim's ``market_making`` measures
asks from :math:`E[v] = 0`). Two screens:

* **spread level** (the margin screen of :mod:`~marketsim.analysis.collusion_screens`
  applied to spreads, as regulators compare quoted spreads with a competitive benchmark):
  mean relative excess :math:`\bar x = \overline{(s_t - s^c)/s^c}` over the competitive
  spread :math:`s^c`; one-sided test of :math:`E x > 0` over session means (independent
  sessions, Student t) or, for one market, with a Newey-West (1987) standard error.
  Flagged when :math:`p < \alpha` and :math:`\bar x \ge` ``min_excess``. With a collusive
  (joint-profit) spread :math:`s^m` the markup index :math:`(\bar s - s^c)/(s^m - s^c)` is
  reported too (0 competitive, 1 collusive; the ``markup_index`` of ``market_making``).
* **parallel moves**: among the times at which some maker changes its quote, the share at
  which two or more makers move and all movers move the same way (Christie & Schultz
  1994 read co-ordinated quoting on Nasdaq from such patterns). The null of independent
  quoting is simulated by shifting each other maker's series of moves circularly against
  the first maker's by a random lag of 1 to T-1 periods (within each session), which keeps
  each maker's own dynamics; one-sided
  permutation p-value with a fixed seed, so the same data give the same answer.

The spread level decides the verdict when a benchmark is known; parallel moves are
reported beside it (and decide alone, without a benchmark).
"""

from __future__ import annotations

import json
import math

import numpy as np
import polars as pl
from scipy import stats

from marketsim.analysis import _validate as check
from marketsim.analysis.collusion_screens import margin_screen
from marketsim.errors import UsageError

#: circular-shift replications of the parallel-moves null, and their seed
SHIFT_REPS, SHIFT_SEED = 999, 20240601


def run_settings(path) -> dict | None:
    """The screen's settings for a table of a ``market_making`` run, else None.

    ``impulse.parquet`` of such a run holds, per session, the learned quotes on the path
    without the deviation (``ask_baseline``); asks are measured from E[v] = 0, and the run's
    ``summary.json`` gives the competitive and collusive asks of its grid.
    """
    from pathlib import Path

    path = Path(path)
    summary = path.parent / "summary.json"
    if path.name != "impulse.parquet" or not summary.exists():
        return None
    try:
        info = json.loads(summary.read_text())
    except (OSError, ValueError):
        return None
    if info.get("scenario") != "market_making":
        return None
    averaged = bool((info.get("params") or {}).get("trade_state"))
    return {
        # with the last trade in the state the path depends on the clients, and the run
        # records its mean over client draws: a spread level, not quotes that move
        "moves": not averaged,
        "time_col": "t",
        "maker_col": "maker",
        "ask_col": "ask_baseline",
        "session_col": "session",
        "reference": 0.0,
        "competitive_spread": float(info["competitive_ask"]),
        "collusive_spread": float(info["collusive_ask"]),
    }


def best_spreads(
    frame: pl.DataFrame,
    *,
    time_col: str = "t",
    maker_col: str = "maker",
    ask_col: str = "ask",
    bid_col: str | None = None,
    session_col: str | None = None,
    reference: float | None = None,
    missing: str | None = None,
    time_unit: str | None = None,
):
    """Validate a long quote table; the best spread per time and each maker's asks.

    Returns
    -------
    (spread : ndarray(float64, (T,)), session : ndarray(int64, (T,)) the session index of
    each time, asks : ndarray(float64, (T, n)) with NaN where a maker did not quote,
    makers : list, note : dict of missing-value counts)
    """
    cols = {"time": time_col, "maker": maker_col, "ask": ask_col}
    if bid_col:
        cols["bid"] = bid_col
    if session_col:
        cols["session"] = session_col
    check.require_columns(frame, cols)
    if bid_col is None and reference is None:
        raise UsageError(
            "no bid column and no reference value: give --bid-col (spread = best ask - "
            "best bid) or --reference (spread = best ask - the value the asks are measured "
            "from, e.g. the mid)"
        )
    if frame.get_column(maker_col).null_count():
        raise UsageError(f"column {maker_col!r} has missing maker ids; drop those rows")
    values = [ask_col] + ([bid_col] if bid_col else [])
    frame, note = check.handle_missing(frame, time_col, values, missing, group_col=maker_col)
    for c in values:
        check.numeric_column(frame, c)
    frame = frame.with_columns(pl.Series("_t", check.time_seconds(frame, time_col, time_unit)))
    keys = ([session_col] if session_col else []) + [maker_col]
    for key, g in frame.group_by(keys, maintain_order=True):
        label = ", ".join(f"{k} {v}" for k, v in zip(keys, key, strict=True))
        check.check_times(g.get_column("_t").to_numpy(), time_col, group=label)
    sess = pl.col(session_col) if session_col else pl.lit(0)
    frame = frame.with_columns(sess.alias("_s"))
    best = (
        frame.group_by(["_s", "_t"])
        .agg(
            pl.col(ask_col).min().alias("_ask"),
            *([pl.col(bid_col).max().alias("_bid")] if bid_col else []),
        )
        .sort(["_s", "_t"])
    )
    spread = best["_ask"].to_numpy() - (best["_bid"].to_numpy() if bid_col else reference)
    wide = frame.pivot(on=maker_col, index=["_s", "_t"], values=ask_col).sort(["_s", "_t"])
    makers = [c for c in wide.columns if c not in ("_s", "_t")]
    session_codes = best["_s"].rank("dense").cast(pl.Int64).to_numpy() - 1
    asks = wide.select(makers).to_numpy().astype(np.float64)
    return spread.astype(np.float64), session_codes, asks, makers, note


def spread_level_screen(
    spread: np.ndarray,
    session: np.ndarray,
    competitive: float,
    *,
    collusive: float | None = None,
    min_excess: float = 0.05,
    alpha: float = 0.05,
) -> dict:
    """Quoted spreads above the competitive spread (see the module docstring)."""
    x = (spread - competitive) / competitive
    n_sessions = int(session.max()) + 1
    if n_sessions > 1:
        means = np.bincount(session, weights=x) / np.bincount(session)
        m = float(means.mean())
        sd = float(means.std(ddof=1))
        z = m / (sd / math.sqrt(n_sessions)) if sd > 0 else (math.inf if m > 0 else 0.0)
        p = float(stats.t.sf(z, n_sessions - 1))
        unit = f"{n_sessions} sessions"
    else:  # one market: the margin screen's Newey-West test, on spreads
        res = margin_screen(spread[:, None], np.array([competitive]), alpha=alpha)
        m, z, p = res["statistic"], res["z"], res["p_value"]
        unit = f"{x.size} times, Newey-West"
    flagged = p < alpha and m >= min_excess
    mean_spread = float(spread.mean())
    out = {
        "statistic": m,
        "mean_spread": mean_spread,
        "competitive_spread": float(competitive),
        "z": z,
        "p_value": p,
        "flagged": bool(flagged),
    }
    verdict = (
        f"quoted spread {mean_spread:.4g} is {m:+.1%} vs the competitive {competitive:.4g} "
        f"(one-sided p = {p:.2g}, {unit})"
    )
    if collusive is not None:
        out["collusive_spread"] = float(collusive)
        out["markup_index"] = (mean_spread - competitive) / (collusive - competitive)
        verdict += f", markup index {out['markup_index']:.2f} (0 competitive, 1 collusive)"
    out["verdict"] = verdict + (": supra-competitive" if flagged else ": not materially above it")
    return out


def _parallel_share(moves: np.ndarray) -> tuple[float, int]:
    """Share of times with a move at which >= 2 makers move, all the same way."""
    up = (moves > 0).sum(axis=1)
    down = (moves < 0).sum(axis=1)
    active = (up + down) > 0
    k = int(active.sum())
    if k == 0:
        return 0.0, 0
    parallel = ((up >= 2) & (down == 0)) | ((down >= 2) & (up == 0))
    return float(parallel.sum() / k), k


def parallel_moves_screen(
    asks: np.ndarray, session: np.ndarray, *, alpha: float = 0.05, min_moves: int = 10
) -> dict:
    """Makers moving their quotes together, against circularly shifted moves."""
    if asks.shape[1] < 2:
        return {"statistic": None, "p_value": None, "flagged": False,
                "verdict": "one maker: parallel moves need two or more"}  # fmt: skip
    blocks = []
    for s in range(int(session.max()) + 1):
        a = asks[session == s]
        if a.shape[0] >= 3:
            d = np.sign(np.diff(a, axis=0))
            blocks.append(np.where(np.isnan(d), 0.0, d))
    if not blocks:
        share, k = 0.0, 0
    else:
        share, k = _parallel_share(np.concatenate(blocks))
    if k < min_moves:
        return {
            "statistic": share if k else None,
            "moves": k,
            "p_value": None,
            "flagged": False,
            "verdict": f"{k} time(s) with a quote move; the parallel-moves test needs "
            f"{min_moves}: not run",
        }
    rng = np.random.default_rng(SHIFT_SEED)
    null = np.empty(SHIFT_REPS)
    for r in range(SHIFT_REPS):
        shifted = []
        for d in blocks:
            T = d.shape[0]
            # the first maker stays, each other moves by 1 .. T-1 (never the data's alignment)
            lags = np.concatenate([[0], rng.integers(1, T, size=d.shape[1] - 1)])
            shifted.append(np.stack([np.roll(d[:, j], lags[j]) for j in range(d.shape[1])], 1))
        null[r] = _parallel_share(np.concatenate(shifted))[0]
    p = float((1 + (null >= share).sum()) / (1 + SHIFT_REPS))
    flagged = p < alpha
    verdict = (
        f"{share:.0%} of {k} quote moves are parallel (all movers the same way), against "
        f"{null.mean():.0%} with each maker's moves shifted in time (p = {p:.2g})"
        + (": co-ordinated quoting" if flagged else ": no more than chance")
    )
    return {
        "statistic": share,
        "moves": k,
        "null_mean": float(null.mean()),
        "p_value": p,
        "flagged": bool(flagged),
        "verdict": verdict,
    }


def detect_spreads(
    quotes,
    *,
    competitive_spread: float | None = None,
    collusive_spread: float | None = None,
    min_excess: float = 0.05,
    alpha: float = 0.05,
    moves: bool = True,
    **columns,
) -> dict:
    """The spread screen on a long quote table (see the module docstring).

    Parameters
    ----------
    quotes : pl.DataFrame or path, one row per maker and time
    columns : ``time_col, maker_col, ask_col, bid_col, session_col, reference, missing,
        time_unit`` of :func:`best_spreads` (``reference``: the value asks are measured
        from when there is no bid column)
    competitive_spread, collusive_spread : float, benchmarks in the spread's units
    moves : bool, run the parallel-moves screen (False when the asks are averages)

    Returns
    -------
    dict with ``screens`` (``spread_level``, ``parallel_moves``, each with ``statistic``,
    ``p_value``, ``flagged``, ``verdict``), ``makers``, ``observations``, ``sessions``,
    ``flagged`` and ``verdict``.
    """
    frame = check.as_frame(quotes, "quotes")
    if competitive_spread is not None and not competitive_spread > 0:
        raise UsageError(
            f"--competitive-spread {competitive_spread:g}: the competitive spread must be > 0 "
            "(the excess is measured relative to it)"
        )
    if (
        collusive_spread is not None
        and competitive_spread is not None
        and not collusive_spread > competitive_spread
    ):
        raise UsageError(
            f"--collusive-spread {collusive_spread:g} must be above --competitive-spread "
            f"{competitive_spread:g}"
        )
    spread, session, asks, makers, note = best_spreads(frame, **columns)
    check.check_min_obs(spread.size, 10, "the spread screen")
    screens: dict = {}
    if competitive_spread is not None:
        screens["spread_level"] = spread_level_screen(
            spread,
            session,
            competitive_spread,
            collusive=collusive_spread,
            min_excess=min_excess,
            alpha=alpha,
        )
    else:
        screens["spread_level"] = {
            "statistic": None,
            "p_value": None,
            "flagged": False,
            "verdict": "no competitive spread given (--competitive-spread): "
            "spread level not tested",
        }
    if moves:
        screens["parallel_moves"] = parallel_moves_screen(asks, session, alpha=alpha)
    else:
        screens["parallel_moves"] = {
            "statistic": None,
            "p_value": None,
            "flagged": False,
            "verdict": "not run: the asks are averages over client draws, not quotes",
        }
    level, par = screens["spread_level"], screens["parallel_moves"]
    if competitive_spread is not None:
        flagged = level["flagged"]
        verdict = (
            "supra-competitive spreads: " if flagged else "no supra-competitive spreads: "
        ) + (level["verdict"])
        verdict += "; parallel quote moves " + (
            "agree" if par["flagged"] else "do not agree" if par["p_value"] is not None
            else "not tested"
        )  # fmt: skip
    else:
        flagged = par["flagged"]
        verdict = ("co-ordinated quoting: " if flagged else "no co-ordinated quoting: ") + par[
            "verdict"
        ]
    extra = check.missing_text(note)
    if extra:
        verdict += f" [{extra}]"
    return {
        "makers": [str(m) for m in makers],
        "observations": int(spread.size),
        "sessions": int(session.max()) + 1,
        "missing": note,
        "screens": screens,
        "flagged": bool(flagged),
        "verdict": verdict,
    }
