r"""The magnet effect of price limits: trading and order flow against the distance to the
nearest limit (Subrahmanyam 1994; Cho, Russell, Tiao & Tsay 2003).

For every second :math:`t` of a session with mid price :math:`m_t`, the distance to the
nearest limit is

.. math:: d_t = \min_{L \in \mathcal{L}_t} |m_t - L| / m_t,

where :math:`\mathcal{L}_t` holds the LULD band edges at :math:`t` (the rule's own
:func:`marketsim.market_rules.band_ticks` around the mean trade price of the previous
``reference_window_s`` whole seconds, as in the matching path) and the market-wide
circuit-breaker levels :math:`(1 - \ell)\,P_{close}` not yet reached (a level is reached
once the lowest trade so far is at or below it). Seconds are binned by :math:`d_t`
(``bin_pct`` wide) and, per bin, the trading rate (contracts per second) and the
order-flow rate (order actions per second) are averaged. The same limits are computed
ex post for runs without the rule, so "with" and "without" compare the same distances.
A magnet effect shows as rates that rise as :math:`d_t` falls, more with the rule.

Seconds spent halted count at their distance (their rates are zero): the rule's direct
cost, not a magnet, so read the nearest bin with the halted time in mind.
"""

from __future__ import annotations

import numpy as np
import polars as pl

NS = 1_000_000_000


def limit_distance(
    book: pl.DataFrame,
    trades: pl.DataFrame,
    policies,
    *,
    prev_close_tick: int,
    tick_size: float,
    open_ns: int,
    close_ns: int,
) -> np.ndarray:
    """Distance (fraction of price) from each second's mid to the nearest limit.

    Parameters
    ----------
    book : one session's ``book.parquet`` rows (``t_ns``, ``mid_tick``)
    trades : the same session's ``trades.parquet`` rows (``t_ns``, ``price_tick``)
    policies : list of policy models; ``luld`` and ``mwcb`` are read

    Returns
    -------
    ndarray(float64, shape (len(book),)); NaN where the mid is missing or no limit
    applies.
    """
    from marketsim.market_rules import band_ticks, rules_array
    from marketsim.market_rules import find_policy as find

    t = book["t_ns"].to_numpy()
    mid = book["mid_tick"].cast(pl.Float64).to_numpy()
    dist = np.full(t.shape[0], np.inf)
    luld, mwcb = find(policies, "luld"), find(policies, "mwcb")
    tr_t = trades["t_ns"].to_numpy()
    tr_p = trades["price_tick"].to_numpy().astype(np.int64)
    if luld is not None:
        rules = rules_array(
            [luld],
            tick_size=tick_size,
            prev_close_tick=prev_close_tick,
            open_ns=open_ns,
            close_ns=close_ns,
        )
        w = int(np.ceil(luld.reference_window_s))
        sec = tr_t // NS
        # reference at second s: mean trade price of whole seconds s-w .. s-1
        csum = np.concatenate([[0], np.cumsum(tr_p)])
        ref_prev = float(prev_close_tick)
        for k in range(t.shape[0]):
            s = t[k] // NS
            lo_i, hi_i = np.searchsorted(sec, [s - w, s])
            if hi_i > lo_i:
                mean = (csum[hi_i] - csum[lo_i]) / (hi_i - lo_i)
                # the plan's rule: a new reference only on a move of >= 1% (the rules'
                # freeze during a limit state is not reconstructed here)
                if abs(mean - ref_prev) >= luld.reference_update_pct * ref_prev:
                    ref_prev = mean
            lo, hi = band_ticks(ref_prev, int(t[k]), rules)
            if np.isfinite(mid[k]) and mid[k] > 0:
                dist[k] = min(dist[k], abs(mid[k] - lo) / mid[k], abs(hi - mid[k]) / mid[k])
    if mwcb is not None:
        low_so_far = np.full(t.shape[0], float(prev_close_tick))
        if tr_t.size:
            cummin = np.minimum.accumulate(tr_p)
            n_before = np.searchsorted(tr_t, t, side="right")  # trades at or before t
            low_so_far = np.where(
                n_before > 0, cummin[np.maximum(n_before - 1, 0)], float(prev_close_tick)
            )
        for level in mwcb.levels:
            price = (1.0 - level) * prev_close_tick
            alive = low_so_far > price
            d = np.abs(mid - price) / mid
            dist = np.where(alive & np.isfinite(d), np.minimum(dist, d), dist)
    dist[~np.isfinite(dist)] = np.nan
    return dist


def magnet_rows(
    dist: np.ndarray, book: pl.DataFrame, *, bin_pct: float = 1.0, n_bins: int = 10
) -> pl.DataFrame:
    """Per distance bin: ``bin``, ``seconds``, ``volume``, ``order_actions`` (sums).

    The last bin holds every distance at or beyond ``n_bins * bin_pct`` percent.
    """
    ok = np.isfinite(dist)
    b = np.minimum(np.floor(dist[ok] * 100.0 / bin_pct), n_bins).astype(np.int64)
    return (
        pl.DataFrame(
            {
                "bin": b,
                "volume": book["volume"].to_numpy()[ok].astype(float),
                "order_actions": book["order_actions"].to_numpy()[ok].astype(float),
            }
        )
        .group_by("bin")
        .agg(pl.len().alias("seconds"), pl.col("volume").sum(), pl.col("order_actions").sum())
    )


def magnet_table(
    parts: list[tuple[str, str, int, pl.DataFrame]], *, bin_pct: float = 1.0, n_bins: int = 10
) -> pl.DataFrame:
    """Pool the per-cell bin sums into rates.

    Parameters
    ----------
    parts : ``(policy, arm, seed, rows)`` with ``arm`` in ``{"with", "without"}`` and
        ``rows`` from :func:`magnet_rows`

    Returns
    -------
    polars.DataFrame: ``policy, arm, bin_lo_pct, bin_hi_pct, seconds,
    volume_per_s, order_actions_per_s, n_seeds`` (``bin_hi_pct`` is null for the last,
    open bin).
    """
    schema = {
        "policy": pl.String,
        "arm": pl.String,
        "bin_lo_pct": pl.Float64,
        "bin_hi_pct": pl.Float64,
        "seconds": pl.Int64,
        "volume_per_s": pl.Float64,
        "order_actions_per_s": pl.Float64,
        "n_seeds": pl.Int64,
    }
    if not parts:
        return pl.DataFrame(schema=schema)
    frame = pl.concat(
        [
            rows.with_columns(
                pl.lit(p).alias("policy"), pl.lit(a).alias("arm"), pl.lit(s).alias("seed")
            )
            for p, a, s, rows in parts
        ]
    )
    out = (
        frame.group_by("policy", "arm", "bin")
        .agg(
            pl.col("seconds").sum(),
            pl.col("volume").sum(),
            pl.col("order_actions").sum(),
            pl.col("seed").n_unique().alias("n_seeds"),
        )
        .sort("policy", "arm", "bin")
    )
    return out.select(
        "policy",
        "arm",
        (pl.col("bin") * bin_pct).cast(pl.Float64).alias("bin_lo_pct"),
        pl.when(pl.col("bin") < n_bins)
        .then((pl.col("bin") + 1) * bin_pct)
        .cast(pl.Float64)
        .alias("bin_hi_pct"),
        pl.col("seconds").cast(pl.Int64),
        (pl.col("volume") / pl.col("seconds")).alias("volume_per_s"),
        (pl.col("order_actions") / pl.col("seconds")).alias("order_actions_per_s"),
        pl.col("n_seeds").cast(pl.Int64),
    )


def magnet_summary(table: pl.DataFrame) -> dict:
    """Per policy and arm: rates in the nearest bin with data and over all seconds."""
    out: dict = {}
    for (policy, arm), g in table.group_by("policy", "arm", maintain_order=True):
        g = g.sort("bin_lo_pct")
        near = g.row(0, named=True)
        secs = g["seconds"].sum()
        out.setdefault(policy, {})[arm] = {
            "nearest_bin_pct": [near["bin_lo_pct"], near["bin_hi_pct"]],
            "nearest_seconds": near["seconds"],
            "nearest_volume_per_s": near["volume_per_s"],
            "nearest_order_actions_per_s": near["order_actions_per_s"],
            "all_volume_per_s": float((g["volume_per_s"] * g["seconds"]).sum() / secs),
            "all_order_actions_per_s": float(
                (g["order_actions_per_s"] * g["seconds"]).sum() / secs
            ),
        }
    return out


__all__ = ["limit_distance", "magnet_rows", "magnet_summary", "magnet_table"]
