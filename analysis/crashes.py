r"""Crash detectors: drawdown-and-recovery events and mini flash crashes.

Drawdown events
    For each observation :math:`i` the forward window minimum
    :math:`m_i = \min\{p_j : t_i \le t_j \le t_i + W\}` and the window drop
    :math:`d_i = 1 - m_i / p_i`. An event starts at the first :math:`i` with
    :math:`d_i \ge X`; the peak is the :math:`k` before the first trough that maximises
    :math:`d_k`, the trough is the window minimum from the peak, and the start is the
    knee where the fall began: while the path between start and trough rises above the
    straight chord between them by more than 5% of the fall, the start moves to the
    highest such point, provided the fall from it is still at least :math:`X` (so every
    event listed is at least as deep as the count says). Depth and speed are measured
    from the start. Recovery is
    measured over :math:`[t_{trough}, t_{trough} + R]`:
    recovered share :math:`(\max p - p_{trough}) / (p_{start} - p_{trough})`, capped at 1.
    Defaults follow the 6 May 2010 E-mini episode (CFTC-SEC 2010; Kirilenko et al. 2017):
    a fall of about 5% in minutes, rebounding within about 30 minutes.

Mini flash crashes (Johnson, Zhao, Hunsader, Qi, Johnson, Meng & Tivnan 2013,
"Abrupt rise of new machine ecology beyond human response time", Sci. Rep. 3:2627)
    A crash (spike) is a run of at least 10 consecutive down (up) price ticks — changes
    of zero are skipped — within 1.5 s, moving the price by more than 0.8%.
"""

from __future__ import annotations

import numpy as np
import polars as pl
from numba import njit

from marketsim.analysis._validate import (
    as_frame,
    check_min_obs,
    missing_text,
    numeric_column,
    timed_frame,
)
from marketsim.errors import UsageError

_DRAWDOWN_SCHEMA = {
    "start_t": pl.Float64,
    "start_price": pl.Float64,
    "trough_t": pl.Float64,
    "trough_price": pl.Float64,
    "depth": pl.Float64,
    "duration_s": pl.Float64,
    "speed_per_min": pl.Float64,
    "recovered_share": pl.Float64,
    "recovery_peak_t": pl.Float64,
    "half_recovery_s": pl.Float64,
    "full_recovery_s": pl.Float64,
}

_FLASH_SCHEMA = {
    "start_t": pl.Float64,
    "end_t": pl.Float64,
    "direction": pl.String,
    "ticks": pl.Int64,
    "move": pl.Float64,
    "duration_s": pl.Float64,
    "start_price": pl.Float64,
    "end_price": pl.Float64,
}


@njit(cache=True)
def _forward_window_min(t, p, window):
    """Index of the minimum of p over [t_i, t_i + window] for every i (monotone deque)."""
    n = t.size
    arg = np.empty(n, dtype=np.int64)
    dq = np.empty(n, dtype=np.int64)
    head = 0
    tail = 0  # dq[head:tail] holds indices with increasing prices
    r = 0
    for i in range(n):
        while r < n and t[r] <= t[i] + window:
            while tail > head and p[dq[tail - 1]] >= p[r]:
                tail -= 1
            dq[tail] = r
            tail += 1
            r += 1
        while dq[head] < i:
            head += 1
        arg[i] = dq[head]
    return arg


@njit(cache=True)
def _drawdown_events(t, p, drop, window, recovery_window, arg):
    """Event rows: start, trough, recovery peak, half- and full-recovery indices (-1 = none)."""
    n = t.size
    out = np.full((n, 5), -1, dtype=np.int64)
    k = 0
    i = 0
    while i < n:
        if 1.0 - p[arg[i]] / p[i] < drop:
            i += 1
            continue
        # the peak before the first trough that gives the deepest windowed fall
        best = i
        best_drop = 1.0 - p[arg[i]] / p[i]
        j = i + 1
        while j < arg[i]:
            dj = 1.0 - p[arg[j]] / p[j]
            if dj > best_drop:
                best = j
                best_drop = dj
            j += 1
        tr = arg[best]
        # the fall starts at the knee: while the path from the start to the trough bulges
        # above the chord by more than 5% of the fall, move the start to the bulge, as long
        # as the fall from the new start is still at least ``drop`` (else the event listed
        # would be shallower than the events it is counted among)
        s = best
        while True:
            fall = p[s] - p[tr]
            knee = s
            gap = 0.05 * fall
            for j in range(s + 1, tr):
                chord = p[s] - fall * (t[j] - t[s]) / (t[tr] - t[s])
                if p[j] - chord > gap and 1.0 - p[tr] / p[j] >= drop:
                    gap = p[j] - chord
                    knee = j
            if knee == s:
                break
            s = knee
        top = p[s]
        low = p[tr]
        peak = tr
        half = -1
        full = -1
        j = tr + 1
        while j < n and t[j] <= t[tr] + recovery_window:
            if p[j] > p[peak]:
                peak = j
            if half < 0 and p[j] - low >= 0.5 * (top - low):
                half = j
            if full < 0 and p[j] >= top:
                full = j
            j += 1
        out[k, 0] = s
        out[k, 1] = tr
        out[k, 2] = peak
        out[k, 3] = half
        out[k, 4] = full
        k += 1
        # the next event must start after this one recovered (or after its trough)
        i = max(tr + 1, full if full > 0 else tr + 1)
    return out[:k]


def drawdown_events(
    times, prices, *, drop: float = 0.05, window: float = 900.0, recovery_window: float = 1800.0
) -> pl.DataFrame:
    """Falls of at least ``drop`` within ``window`` seconds and their recovery.

    Parameters
    ----------
    times : ndarray(float64, ndim=1)
        Strictly increasing times in seconds.
    prices : ndarray(float64, ndim=1)
        Prices (> 0).
    drop : float
        Minimum fall as a fraction of the starting price.
    window : float
        Longest time from start to trough (seconds).
    recovery_window : float
        Time after the trough over which recovery is measured (seconds).

    Returns
    -------
    pl.DataFrame, one row per event: ``start_t``, ``start_price``, ``trough_t``,
    ``trough_price``, ``depth`` (fraction), ``duration_s`` (start to trough),
    ``speed_per_min`` (depth per minute), ``recovered_share`` (of the fall, within
    ``recovery_window``, capped at 1), ``recovery_peak_t``, ``half_recovery_s`` and
    ``full_recovery_s`` (from the trough; null if not reached).
    """
    t = np.asarray(times, dtype=np.float64)
    p = np.asarray(prices, dtype=np.float64)
    if not np.all(p > 0):
        raise UsageError("prices must be > 0 for the drawdown detector")
    if not 0 < drop < 1:
        raise UsageError(f"drop must be a fraction in (0, 1) (got {drop})")
    if window <= 0 or recovery_window < 0:
        raise UsageError("window must be > 0 and recovery_window >= 0 (seconds)")
    arg = _forward_window_min(t, p, float(window))
    ev = _drawdown_events(t, p, float(drop), float(window), float(recovery_window), arg)
    if ev.shape[0] == 0:
        return pl.DataFrame(schema=_DRAWDOWN_SCHEMA)
    s, tr, pk, half, full = ev.T
    depth = 1 - p[tr] / p[s]
    dur = t[tr] - t[s]
    rec = np.minimum((p[pk] - p[tr]) / (p[s] - p[tr]), 1.0)
    return pl.DataFrame(
        {
            "start_t": t[s],
            "start_price": p[s],
            "trough_t": t[tr],
            "trough_price": p[tr],
            "depth": depth,
            "duration_s": dur,
            "speed_per_min": np.where(dur > 0, depth / np.maximum(dur, 1e-300) * 60, np.inf),
            "recovered_share": rec,
            "recovery_peak_t": t[pk],
            "half_recovery_s": np.where(half >= 0, t[half] - t[tr], np.nan),
            "full_recovery_s": np.where(full >= 0, t[full] - t[tr], np.nan),
        },
        schema=_DRAWDOWN_SCHEMA,
    ).with_columns(pl.col("half_recovery_s", "full_recovery_s").fill_nan(None))


@njit(cache=True)
def _tick_runs(t, p, min_ticks, max_seconds, min_move):
    """Runs of same-direction non-zero ticks meeting the Johnson et al. (2013) criteria.

    Returns rows (first index, last index, direction, ticks) of each qualifying run.
    """
    n = t.size
    # indices where the price changes
    idx = np.empty(n, dtype=np.int64)
    m = 0
    idx[0] = 0
    m = 1
    for i in range(1, n):
        if p[i] != p[idx[m - 1]]:
            idx[m] = i
            m += 1
    out = np.empty((m, 4), dtype=np.int64)
    k = 0
    a = 0  # run starts at change point idx[a]
    while a < m - 1:
        d = 1 if p[idx[a + 1]] > p[idx[a]] else -1
        b = a + 1
        while b + 1 < m and (1 if p[idx[b + 1]] > p[idx[b]] else -1) == d:
            b += 1
        # run covers idx[a]..idx[b]: b - a ticks; look for any sub-run within max_seconds
        hit = False
        lo = a
        for hi in range(a + min_ticks, b + 1):
            while t[idx[hi]] - t[idx[lo]] > max_seconds:
                lo += 1
            if hi - lo >= min_ticks and abs(p[idx[hi]] - p[idx[lo]]) > min_move * p[idx[lo]]:
                hit = True
                break
        if hit:
            out[k, 0] = idx[a]
            out[k, 1] = idx[b]
            out[k, 2] = d
            out[k, 3] = b - a
            k += 1
        a = b
    return out[:k]


def duration_text(seconds: float) -> str:
    """``900`` -> ``"15 min (900 s)"``, ``90`` -> ``"90 s"``: a window in words."""
    if seconds >= 120 and seconds % 60 == 0:
        return f"{seconds / 60:g} min ({seconds:g} s)"
    return f"{seconds:g} s"


def mini_flash_crashes(
    times, prices, *, min_ticks: int = 10, max_seconds: float = 1.5, min_move: float = 0.008
) -> pl.DataFrame:
    """Mini flash crashes and spikes in tick data (Johnson et al. 2013).

    At least ``min_ticks`` consecutive same-direction price changes within
    ``max_seconds`` seconds, moving the price by more than ``min_move`` (fraction).
    Rows with an unchanged price are skipped, so the run counts price changes only.

    Returns
    -------
    pl.DataFrame, one row per run that contains such a burst: ``start_t``, ``end_t``,
    ``direction`` (``crash`` or ``spike``), ``ticks``, ``move`` (signed fraction over the
    whole run), ``duration_s``, ``start_price``, ``end_price``.
    """
    t = np.asarray(times, dtype=np.float64)
    p = np.asarray(prices, dtype=np.float64)
    if t.size < 2:
        return pl.DataFrame(schema=_FLASH_SCHEMA)
    runs = _tick_runs(t, p, int(min_ticks), float(max_seconds), float(min_move))
    if runs.shape[0] == 0:
        return pl.DataFrame(schema=_FLASH_SCHEMA)
    a, b, d, k = runs.T
    return pl.DataFrame(
        {
            "start_t": t[a],
            "end_t": t[b],
            "direction": np.where(d < 0, "crash", "spike"),
            "ticks": k,
            "move": p[b] / p[a] - 1,
            "duration_s": t[b] - t[a],
            "start_price": p[a],
            "end_price": p[b],
        },
        schema=_FLASH_SCHEMA,
    )


def detect_crashes(
    prices,
    *,
    time_col: str = "t",
    price_col: str = "price",
    time_unit: str | None = None,
    drop: float = 0.05,
    window: float = 900.0,
    recovery_window: float = 1800.0,
    allow_ties: bool = False,
    missing: str | None = None,
    min_ticks: int = 10,
    max_seconds: float = 1.5,
    min_move: float = 0.008,
) -> dict:
    """Drawdown events and mini flash crashes in one price series.

    Parameters
    ----------
    prices : pl.DataFrame or path
        A time column (seconds, ``*_ns`` nanoseconds, or datetimes) and a price column.
    allow_ties : bool
        Accept repeated timestamps (tick data where one order fills at several prices);
        for the drawdown detector only the last price of each timestamp is kept, and the
        verdict says how many prints were merged.
    missing : {None, "drop", "ffill"}
        Rule for missing prices (None: refuse them); counted in ``missing``.

    Returns
    -------
    dict with ``drawdowns`` and ``mini_flash_crashes`` (pl.DataFrame; each time column
    ``*_t`` in seconds has a ``*_time`` beside it, the time as the data gave it),
    ``observations``, ``aggregated_prints``, ``missing`` (rule and counts), ``time_kind``,
    ``max_drawdown`` (deepest event depth or 0), ``flagged`` and ``verdict``.
    """
    frame, miss, labels, t = timed_frame(
        as_frame(prices, "prices"),
        {"time": time_col, "price": price_col},
        missing,
        time_unit,
        allow_ties=allow_ties,
    )
    p = numeric_column(frame, price_col)
    check_min_obs(t.size, 10, "the crash detector")
    if not np.all(p > 0):
        raise UsageError(f"column {price_col!r} has prices <= 0; crashes are measured in %")
    flash = mini_flash_crashes(
        t, p, min_ticks=min_ticks, max_seconds=max_seconds, min_move=min_move
    )
    merged = 0
    if allow_ties:
        last = np.flatnonzero(np.diff(t, append=np.inf) > 0)
        merged = int(t.size - last.size)
        t, p = t[last], p[last]
    dd = drawdown_events(t, p, drop=drop, window=window, recovery_window=recovery_window)
    dd = dd.with_columns(
        pl.Series("start_time", labels.many(dd["start_t"]), dtype=pl.String),
        pl.Series("trough_time", labels.many(dd["trough_t"]), dtype=pl.String),
    )
    flash = flash.with_columns(
        pl.Series("start_time", labels.many(flash["start_t"]), dtype=pl.String),
        pl.Series("end_time", labels.many(flash["end_t"]), dtype=pl.String),
    )
    parts = []
    if dd.height:
        worst = dd.row(int(dd["depth"].arg_max()), named=True)
        rec = worst["recovered_share"]
        parts.append(
            f"{dd.height} crash(es): falls of at least {drop:.0%} of the price within "
            f"{duration_text(window)}; deepest {worst['depth']:.1%} from "
            f"{worst['start_time']} to {worst['trough_time']}, of which {rec:.0%} was "
            f"regained within {duration_text(recovery_window)}"
        )
    if flash.height:
        nc = int((flash["direction"] == "crash").sum())
        parts.append(
            f"{nc} mini flash crash(es) and {flash.height - nc} spike(s): runs of "
            f"{min_ticks} or more price changes in one direction within {max_seconds:g} s "
            f"moving the price more than {min_move:.1%} (Johnson et al. 2013)"
        )
    flagged = bool(dd.height or flash.height)
    verdict = (
        "; ".join(parts)
        if parts
        else (
            f"no crash: no fall of {drop:.0%} of the price within {duration_text(window)}, "
            f"and no mini flash crash ({min_ticks} or more price changes in one direction "
            f"within {max_seconds:g} s moving it more than {min_move:.1%})"
        )
    )
    notes = [missing_text(miss)]
    if merged:
        notes.append(
            f"{merged} print(s) sharing a timestamp merged for the drawdowns (last price kept)"
        )
    if any(notes):
        verdict += " [" + "; ".join(n for n in notes if n) + "]"
    return {
        "drawdowns": dd,
        "mini_flash_crashes": flash,
        "observations": int(frame.height),
        "aggregated_prints": merged,
        "missing": miss,
        "time_kind": labels.kind,
        "first_time": labels(float(t[0])),
        "last_time": labels(float(t[-1])),
        "max_drawdown": float(dd["depth"].max()) if dd.height else 0.0,
        "flagged": flagged,
        "verdict": verdict,
    }
