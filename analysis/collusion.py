r"""Collusion (supra-competitive pricing) detectors.

With a known demand model (Calvano, Calzolari, Denicolò & Pastorello 2020, AER)
    Profit gain :math:`\Delta = (\bar\pi - \pi^N)/(\pi^M - \pi^N)` and normalised price
    index :math:`(\bar p - p^N)/(p^M - p^N)` against the one-shot Nash (0) and joint
    monopoly (1) benchmarks of a :class:`~marketsim.logit.LogitMarket`.

Impulse-response punishment test (Calvano et al. 2020, Section V; online appendix A10)
    One firm is forced to deviate for one period (t = 0); a reward-punishment scheme shows
    as the rival cutting its price at t = 1 (relative response
    :math:`p^{rival}_1 / p^{rival}_{-1} - 1 < 0`), prices returning to the pre-shock
    cycle after a few periods, and a deviation whose discounted profit
    :math:`\sum_{t \ge 0} \delta^t (\pi^{dev}_t - \bar\pi^{pre})` is negative.

Screens that need no demand model, on observed prices :math:`p_{it}` of several firms
    * margin: mean relative excess :math:`x_t = \frac1n\sum_i (p_{it} - b_i)/b_i` over a
      competitive benchmark :math:`b_i` (user price, or the Nash price of a known market),
      one-sided test of :math:`E x_t > 0` with a Newey-West (1987) standard error;
    * variance screen (Abrantes-Metz, Froeb, Geweke & Taylor 2006): coefficient of
      variation :math:`\mathrm{sd}(p_i)/\mathrm{mean}(p_i)`, low under collusion;
    * parallelism: correlation of price changes across firms and the leader-follower
      correlation :math:`\mathrm{corr}(\Delta p_{i,t}, \Delta p_{j,t+1})`, Fisher-z p-values;
    * structural break (Andrews 1993): sup-F over break dates in the central 70% for a
      shift in the mean price (Newey-West variance), and the same on :math:`|\Delta p|`
      for a shift in volatility; a higher, stickier regime is a rise in the mean with a
      fall in volatility. p-values from the asymptotic sup-F law, simulated once.
"""

from __future__ import annotations

import math
from functools import lru_cache

import numpy as np
import polars as pl
from numba import njit
from scipy import stats

from marketsim.analysis._validate import (
    as_frame,
    check_min_obs,
    check_times,
    numeric_column,
    require_columns,
)
from marketsim.errors import UsageError

# --------------------------------------------------------------------------- demand model


def collusion_benchmarks(market) -> dict:
    """Nash and joint-monopoly prices and profits of a :class:`LogitMarket` (per firm)."""
    return {
        "nash_price": market.nash_prices().tolist(),
        "monopoly_price": market.monopoly_prices().tolist(),
        "nash_profit": market.nash_profits().tolist(),
        "monopoly_profit": market.monopoly_profits().tolist(),
    }


def profit_gain(profits, market) -> np.ndarray:
    r"""Profit gain :math:`\Delta = (\pi - \pi^N)/(\pi^M - \pi^N)` per firm (last axis).

    Parameters
    ----------
    profits : ndarray(float64, shape (..., n))
    market : LogitMarket
    """
    pn, pm = market.nash_profits(), market.monopoly_profits()
    return (np.asarray(profits, dtype=np.float64) - pn) / (pm - pn)


def price_index(prices, market) -> np.ndarray:
    r"""Normalised price :math:`(p - p^N)/(p^M - p^N)` per firm (last axis)."""
    pn, pm = market.nash_prices(), market.monopoly_prices()
    return (np.asarray(prices, dtype=np.float64) - pn) / (pm - pn)


def demand_model_measures(wide: np.ndarray, market) -> dict:
    """Average profit gain and price index of a price path under a known market.

    Parameters
    ----------
    wide : ndarray(float64, shape (T, n))
        Prices, one column per firm (in the market's firm order).
    """
    if wide.shape[1] != market.n:
        raise UsageError(f"the data have {wide.shape[1]} firms but the market has {market.n}")
    prof = market.profits(wide).mean(axis=0)
    pn, pm = market.nash_profits(), market.monopoly_profits()
    delta = float((prof.mean() - pn.mean()) / (pm.mean() - pn.mean()))
    pi_ = float(price_index(wide, market).mean())
    return {
        "profit_gain": delta,
        "profit_gain_by_firm": profit_gain(prof, market).tolist(),
        "price_index": pi_,
        "flagged": bool(delta > 0.5),
        "verdict": (
            f"profit gain Delta = {delta:.2f}, price index {pi_:.2f} (0 = Nash, 1 = joint monopoly)"
        ),
        **collusion_benchmarks(market),
    }


# --------------------------------------------------------------------------- impulse response


def impulse_response_test(
    impulse,
    market=None,
    *,
    deviator: int = 1,
    delta: float = 0.95,
    tol: float = 0.01,
    session_col: str = "session",
    time_col: str = "t",
    firm_col: str = "firm",
    price_col: str = "price",
) -> dict:
    """Summarise forced-deviation experiments across sessions (Calvano et al. 2020).

    Parameters
    ----------
    impulse : pl.DataFrame
        Long frame ``session, t, firm, price`` with ``t = 0`` the deviation period and
        negative ``t`` before it (the ``impulse.parquet`` of a Calvano run).
    market : LogitMarket, optional
        Needed for the deviation's profitability.
    deviator : int
        The firm forced to deviate.
    delta : float
        Discount factor for the deviation's discounted profit.
    tol : float
        Relative tolerance for "back to the pre-shock prices".

    Returns
    -------
    dict with ``sessions`` (per-session pl.DataFrame: ``rival_response``, ``punished``,
    ``punishment_length``, ``deviation_gain``), ``punished_share``,
    ``rival_response_mean``, ``punishment_length_mean``, ``deviation_unprofitable_share``
    (null without a market), ``flagged`` and ``verdict``.
    """
    frame = as_frame(impulse, "impulse")
    require_columns(
        frame, {"session": session_col, "time": time_col, "firm": firm_col, "price": price_col}
    )
    numeric_column(frame, price_col)
    wide = frame.pivot(
        on=firm_col, index=[session_col, time_col], values=price_col, aggregate_function="first"
    ).sort(session_col, time_col)
    firms = sorted(c for c in wide.columns if c not in (session_col, time_col))
    firms = sorted(firms, key=lambda f: int(f) if str(f).lstrip("-").isdigit() else str(f))
    if str(deviator) not in [str(f) for f in firms]:
        raise UsageError(f"deviator firm {deviator} not in column {firm_col!r} ({firms})")
    d_col = [f for f in firms if str(f) == str(deviator)][0]
    rivals = [f for f in firms if f != d_col]
    if not rivals:
        raise UsageError("the impulse frame has one firm; the punishment test needs rivals")
    rows = []
    for (sess,), g in wide.group_by([session_col], maintain_order=True):
        t = g[time_col].to_numpy()
        P = g.select(firms).to_numpy().astype(np.float64)
        if np.isnan(P).any():
            raise UsageError(f"session {sess}: some firm has no price at some t; fill them")
        pre = t < 0
        if not pre.any() or not (t == 0).any() or not (t == 1).any():
            raise UsageError(f"session {sess}: needs t < 0, t = 0 and t = 1 rows")
        lo = P[pre].min(axis=0) * (1 - tol)
        hi = P[pre].max(axis=0) * (1 + tol)
        last_pre = P[np.flatnonzero(pre)[-1]]
        at1 = P[np.flatnonzero(t == 1)[0]]
        riv = [firms.index(f) for f in rivals]
        rival_response = float(np.mean(at1[riv] / last_pre[riv] - 1))
        after = np.flatnonzero(t >= 1)
        back = [t[k] for k in after if np.all((P[k] >= lo) & (P[k] <= hi))]
        length = float(back[0]) if back else None
        gain = None
        if market is not None:
            prof = market.profits(P)[:, firms.index(d_col)]
            base = prof[pre].mean()
            post = t >= 0
            disc = delta ** t[post].astype(np.float64)
            gain = float(np.sum(disc * (prof[post] - base)) / (base / (1 - delta)))
        rows.append(
            {
                "session": sess,
                "rival_response": rival_response,
                "punished": rival_response < -tol / 2,
                "punishment_length": length,
                "deviation_gain": gain,
            }
        )
    per = pl.DataFrame(
        rows,
        schema={
            "session": wide.schema[session_col],
            "rival_response": pl.Float64,
            "punished": pl.Boolean,
            "punishment_length": pl.Float64,
            "deviation_gain": pl.Float64,
        },
        orient="row",
    )
    punished = float(per["punished"].mean())
    unprof = float((per["deviation_gain"] < 0).mean()) if market is not None else None
    return {
        "sessions": per,
        "punished_share": punished,
        "rival_response_mean": float(per["rival_response"].mean()),
        "punishment_length_mean": per["punishment_length"].mean(),
        "deviation_gain_mean": per["deviation_gain"].mean() if market is not None else None,
        "deviation_unprofitable_share": unprof,
        **_punishment_verdict(punished, float(per["rival_response"].mean()), unprof),
    }


def _punishment_verdict(punished: float, response: float, unprof: float | None) -> dict:
    """``flagged`` and ``verdict`` of the punishment test from its three figures."""
    flagged = punished >= 0.5 and (unprof is None or unprof >= 0.5)
    verdict = (
        f"rivals cut prices after a deviation in {punished:.0%} of sessions "
        f"(mean response {response:+.3f})"
    )
    if unprof is not None:
        verdict += f"; the deviation is unprofitable in {unprof:.0%}"
    verdict += (
        " -> reward-punishment scheme (Calvano et al. 2020)"
        if flagged
        else " -> no evidence of punishment"
    )
    return {"flagged": bool(flagged), "verdict": verdict}


def punishment_from_sessions(sessions: pl.DataFrame, tol: float = 0.01) -> dict:
    """The punishment test from a pricing run's own exact forced-deviation analysis.

    Reads the per-session columns ``rival_response`` (rivals' relative price change the
    period after firm 1's one-period deviation to its static best response),
    ``punishment_length`` and ``deviation_profitable`` of a marketsim sessions table, and
    reports the same figures, under the same names and definitions, as the run's summary
    (``rival_response_mean``, ``punishment_length_mean``, ``deviation_unprofitable_share``);
    a session counts as punished when ``rival_response < -tol / 2``, as in
    :func:`impulse_response_test`.
    """
    response = sessions["rival_response"].mean()
    punished = float((sessions["rival_response"] < -tol / 2).mean())
    unprof = 1.0 - sessions["deviation_profitable"].mean()
    return {
        "source": "the sessions' exact deviation analysis (as the run summary)",
        "punished_share": punished,
        "rival_response_mean": response,
        "punishment_length_mean": sessions["punishment_length"].mean(),
        "deviation_unprofitable_share": unprof,
        **_punishment_verdict(punished, response, unprof),
    }


# --------------------------------------------------------------------------- screens


def _newey_west_var(x: np.ndarray, lags: int | None = None) -> float:
    """Long-run variance of x (Bartlett kernel, Newey & West 1994 bandwidth)."""
    T = x.size
    if lags is None:
        lags = int(4 * (T / 100) ** (2 / 9))
    d = x - x.mean()
    v = d @ d / T
    for lag in range(1, min(lags, T - 1) + 1):
        v += 2 * (1 - lag / (lags + 1)) * (d[lag:] @ d[:-lag]) / T
    return max(v, 0.0)


def margin_screen(
    wide: np.ndarray, benchmark: np.ndarray, *, min_excess: float = 0.05, alpha: float = 0.05
) -> dict:
    """Prices above a competitive benchmark: mean relative excess and a one-sided HAC test.

    Parameters
    ----------
    wide : ndarray(float64, shape (T, n))
    benchmark : ndarray(float64, shape (n,))
        Competitive price per firm.
    min_excess : float
        Smallest excess (fraction of the benchmark) that counts as material.
    """
    x = ((wide - benchmark) / benchmark).mean(axis=1)
    m = float(x.mean())
    lrv = _newey_west_var(x)
    if lrv > 0:
        z = m / math.sqrt(lrv / x.size)
        p = float(stats.norm.sf(z))
    else:
        z = math.inf if m > 0 else (-math.inf if m < 0 else 0.0)
        p = 0.0 if m > 0 else 1.0
    flagged = p < alpha and m >= min_excess
    verdict = f"prices are {m:+.1%} vs the competitive benchmark (one-sided p = {p:.2g})" + (
        ": supra-competitive" if flagged else ": not materially above it"
    )
    return {"statistic": m, "z": z, "p_value": p, "flagged": bool(flagged), "verdict": verdict}


def variance_screen(wide: np.ndarray, *, cv_threshold: float = 0.01, alpha: float = 0.05) -> dict:
    """Variance screen (Abrantes-Metz et al. 2006): low coefficient of variation of prices.

    The score is the mean over firms of ``sd(p_i) / mean(p_i)``. The p-value tests
    ``CV < cv_threshold`` with the chi-square law of the sample variance (iid prices;
    persistent prices make it optimistic, so read it with the score).
    """
    mean = wide.mean(axis=0)
    sd = wide.std(axis=0, ddof=1)
    cv = sd / np.abs(mean)
    score = float(cv.mean())
    T = wide.shape[0]
    chi = (T - 1) * (cv**2) / cv_threshold**2
    p = float(np.max(stats.chi2.cdf(chi, T - 1)))  # every firm must be below the threshold
    flagged = score < cv_threshold and p < alpha
    verdict = f"coefficient of variation {score:.4f} " + (
        f"is below {cv_threshold:g}: unusually stable prices"
        if flagged
        else f"is not below {cv_threshold:g}"
    )
    return {
        "statistic": score,
        "cv_by_firm": cv.tolist(),
        "p_value": p,
        "flagged": bool(flagged),
        "verdict": verdict,
    }


def parallelism_screen(wide: np.ndarray, *, min_corr: float = 0.5, alpha: float = 0.05) -> dict:
    """Parallel pricing: contemporaneous and leader-follower correlation of price changes.

    ``flagged`` when either the mean pairwise correlation of changes or the strongest
    leader-follower correlation is at least ``min_corr`` and significant (Fisher z).
    Common cost shocks also move prices together: parallelism is a screen, not proof.
    """
    d = np.diff(wide, axis=0)
    T, n = d.shape
    moving = d.std(axis=0) > 0
    if n < 2:
        raise UsageError("parallelism needs at least two firms")
    if moving.sum() < 2 or T < 5:
        return {
            "statistic": None,
            "leader": None,
            "follower": None,
            "lag_correlation": None,
            "p_value": None,
            "flagged": False,
            "verdict": "prices (almost) never change: parallelism not measurable",
        }
    contemp = []
    for i in range(n):
        for j in range(i + 1, n):
            if moving[i] and moving[j]:
                contemp.append(np.corrcoef(d[:, i], d[:, j])[0, 1])
    rc = float(np.mean(contemp))
    best = (-np.inf, None, None)
    for i in range(n):
        for j in range(n):
            if i != j and d[:-1, i].std() > 0 and d[1:, j].std() > 0:
                r = np.corrcoef(d[:-1, i], d[1:, j])[0, 1]
                if r > best[0]:
                    best = (r, i, j)

    def p_of(r, m):
        r = min(max(r, -0.999999), 0.999999)
        return float(stats.norm.sf(math.atanh(r) * math.sqrt(max(m - 3, 1))))

    pc = p_of(rc, T)
    rl, lead, follow = best
    pl_ = p_of(rl, T - 1) if lead is not None else 1.0
    hit_c = rc >= min_corr and pc < alpha
    hit_l = lead is not None and rl >= min_corr and pl_ < alpha
    if hit_l and not hit_c:
        verdict = (
            f"leader-follower pricing: firm #{follow + 1} follows firm #{lead + 1} "
            f"one period later (r = {rl:.2f}, p = {pl_:.2g})"
        )
    elif hit_c:
        verdict = f"parallel price changes: mean correlation {rc:.2f} (p = {pc:.2g})"
    else:
        verdict = f"no parallel pricing: change correlation {rc:.2f}, strongest lagged {rl:.2f}"
    return {
        "statistic": rc,
        "p_value": pc,
        "lag_correlation": float(rl) if lead is not None else None,
        "leader": lead,
        "follower": follow,
        "lag_p_value": pl_,
        "flagged": bool(hit_c or hit_l),
        "verdict": verdict,
    }


@njit(cache=True)
def _sup_f_path(y, lo, hi, step, lags):
    """Mean-shift F statistics (Newey-West variance) at break dates lo, lo+step, ..., hi."""
    T = y.size
    cs = np.zeros(T + 1)
    for i in range(T):
        cs[i + 1] = cs[i] + y[i]
    nk = (hi - lo) // step + 1
    F = np.zeros(nk)
    ks = np.empty(nk, dtype=np.int64)
    e = np.empty(T)
    for a in range(nk):
        k = lo + a * step
        ks[a] = k
        m1 = cs[k] / k
        m2 = (cs[T] - cs[k]) / (T - k)
        for t in range(T):
            e[t] = y[t] - (m1 if t < k else m2)
        v = 0.0
        for t in range(T):
            v += e[t] * e[t]
        for lag in range(1, lags + 1):
            g = 0.0
            for t in range(lag, T):
                g += e[t] * e[t - lag]
            v += 2.0 * (1.0 - lag / (lags + 1.0)) * g
        v /= T
        diff2 = (m2 - m1) ** 2
        if v <= 0.0:
            F[a] = np.inf if diff2 > 0 else 0.0
        else:
            F[a] = diff2 / (v * (1.0 / k + 1.0 / (T - k)))
    return ks, F


@lru_cache(maxsize=4)
def _sup_f_null(trim: float = 0.15, reps: int = 4000, steps: int = 1000) -> np.ndarray:
    """Sorted draws of sup_{pi in [trim, 1-trim]} (W(pi) - pi W(1))^2 / (pi (1 - pi)).

    The asymptotic law of the sup-F statistic for one restriction (Andrews 1993);
    simulated once from a fixed seed so p-values are reproducible.
    """
    rng = np.random.default_rng(np.random.SeedSequence(1993))
    W = np.cumsum(rng.standard_normal((reps, steps)), axis=1) / math.sqrt(steps)
    pis = np.arange(1, steps + 1) / steps
    keep = (pis >= trim) & (pis <= 1 - trim)
    bb = W[:, keep] - pis[keep] * W[:, -1:]
    return np.sort(np.max(bb**2 / (pis[keep] * (1 - pis[keep])), axis=1))


def sup_f_test(y, *, trim: float = 0.15, max_candidates: int = 200) -> dict:
    """Andrews (1993) sup-F test for one break in the mean of ``y`` (HAC variance).

    Returns
    -------
    dict with ``statistic`` (sup-F), ``p_value``, ``break_index``, ``mean_before``,
    ``mean_after``.
    """
    y = np.asarray(y, dtype=np.float64)
    T = y.size
    lo = max(int(math.ceil(trim * T)), 2)
    hi = min(int(math.floor((1 - trim) * T)), T - 2)
    step = max(1, (hi - lo) // max_candidates)
    lags = int(4 * (T / 100) ** (2 / 9))
    ks, F = _sup_f_path(y, lo, hi, step, lags)
    a = int(np.argmax(F))
    k = int(ks[a])
    null = _sup_f_null(trim)
    stat = float(F[a])
    p = float((null.size - np.searchsorted(null, stat, side="left") + 1) / (null.size + 1))
    return {
        "statistic": stat,
        "p_value": min(p, 1.0),
        "break_index": k,
        "mean_before": float(y[:k].mean()),
        "mean_after": float(y[k:].mean()),
    }


def structural_break_screen(times: np.ndarray, wide: np.ndarray, *, alpha: float = 0.05) -> dict:
    """A shift to a higher, stickier price regime: sup-F on mean price and on |price change|.

    ``flagged`` when the mean break is significant and upward and volatility after the
    break is lower than before (its own sup-F reported as ``volatility_p_value``).
    """
    y = wide.mean(axis=1)
    if np.ptp(y) == 0:
        return {
            "statistic": 0.0,
            "p_value": 1.0,
            "break_t": None,
            "flagged": False,
            "verdict": "prices are constant: no break",
        }
    mean_test = sup_f_test(y)
    k = mean_test["break_index"]
    vol = np.abs(np.diff(y))
    vol_test = sup_f_test(vol) if np.ptp(vol) > 0 else {"p_value": 1.0, "statistic": 0.0}
    vol_before = float(vol[: max(k - 1, 1)].mean())
    vol_after = float(vol[max(k - 1, 1) :].mean())
    up = mean_test["mean_after"] > mean_test["mean_before"]
    sticky = vol_after < vol_before
    flagged = mean_test["p_value"] < alpha and up and sticky
    bt = float(times[k])
    if flagged:
        verdict = (
            f"shift to a higher, stickier regime at t = {bt:.6g}: mean "
            f"{mean_test['mean_before']:.4g} -> {mean_test['mean_after']:.4g}, mean "
            f"|change| {vol_before:.3g} -> {vol_after:.3g} (sup-F p = "
            f"{mean_test['p_value']:.2g})"
        )
    elif mean_test["p_value"] < alpha:
        verdict = (
            f"a break at t = {bt:.6g} (sup-F p = {mean_test['p_value']:.2g}) but not to "
            "a higher, stickier regime"
        )
    else:
        verdict = f"no structural break in the price level (sup-F p = {mean_test['p_value']:.2g})"
    return {
        "statistic": mean_test["statistic"],
        "p_value": mean_test["p_value"],
        "break_t": bt,
        "mean_before": mean_test["mean_before"],
        "mean_after": mean_test["mean_after"],
        "volatility_before": vol_before,
        "volatility_after": vol_after,
        "volatility_p_value": vol_test["p_value"],
        "flagged": bool(flagged),
        "verdict": verdict,
    }


# --------------------------------------------------------------------------- detect_collusion


def wide_prices(
    frame: pl.DataFrame,
    *,
    time_col: str = "t",
    firm_col: str = "firm",
    price_col: str = "price",
    min_obs: int = 20,
):
    """Validate a long price frame and pivot it to (times, firms, prices[T, n])."""
    require_columns(frame, {"time": time_col, "firm": firm_col, "price": price_col})
    numeric_column(frame, price_col)
    tcol = frame.get_column(time_col)
    if not (tcol.dtype.is_numeric() or tcol.dtype.is_temporal()):
        raise UsageError(f"column {time_col!r} is {tcol.dtype}; use numbers or datetimes")
    if frame.get_column(firm_col).null_count():
        raise UsageError(f"column {firm_col!r} has missing firm ids; drop those rows")
    for (firm,), g in frame.group_by([firm_col], maintain_order=True):
        tt = g.get_column(time_col)
        if tt.null_count():
            raise UsageError(f"column {time_col!r} has missing times; drop those rows")
        tt = tt.to_physical().cast(pl.Float64).to_numpy()
        check_times(tt, time_col, group=f"firm {firm}")
    wide = frame.pivot(on=firm_col, index=time_col, values=price_col).sort(time_col)
    firms = [c for c in wide.columns if c != time_col]
    if len(firms) < 2:
        raise UsageError(f"column {firm_col!r} has one firm; collusion screens need two or more")
    P = wide.select(firms).to_numpy().astype(np.float64)
    if np.isnan(P).any():
        r, c = np.argwhere(np.isnan(P))[0]
        raise UsageError(
            f"firm {firms[c]} has no price at {time_col} = {wide[time_col][int(r)]}; "
            "give every firm a price at every time"
        )
    check_min_obs(P.shape[0], min_obs, "the collusion screens")
    times = wide.get_column(time_col).to_physical().cast(pl.Float64).to_numpy()
    return times, firms, P


def detect_collusion(
    prices,
    *,
    time_col: str = "t",
    firm_col: str = "firm",
    price_col: str = "price",
    cost_col: str | None = None,
    competitive_price=None,
    market=None,
    impulse=None,
    cv_threshold: float = 0.01,
    min_excess: float = 0.05,
    alpha: float = 0.05,
) -> dict:
    """Screens for supra-competitive pricing on observed prices of several firms.

    Parameters
    ----------
    prices : pl.DataFrame or path
        Long frame ``t, firm, price[, cost]`` (one row per firm and time).
    cost_col : str, optional
        Marginal cost column: reported as a Lerner index; with ``competitive_price``
        absent it is not a competitive benchmark by itself (differentiated firms price
        above cost in competition too).
    competitive_price : float or sequence of float (one per firm, in sorted firm order)
        The competitive benchmark; default the Nash prices of ``market`` if given.
    market : LogitMarket, optional
        Known demand: adds profit gain and price index, and sets the benchmark.
    impulse : pl.DataFrame, optional
        Forced-deviation paths (``session, t, firm, price``) for the punishment test.

    Returns
    -------
    dict with ``screens`` (``margin``, ``variance``, ``parallelism``, ``structural_break``,
    each with ``statistic``, ``p_value``, ``flagged``, ``verdict``), optionally
    ``demand_model``, ``lerner_index`` and ``impulse_response``, ``firms``,
    ``observations``, ``flagged`` and ``verdict``. With a benchmark, prices are flagged
    when the margin screen is; without one, when at least two of the other screens are.
    """
    frame = as_frame(prices, "prices")
    times, firms, P = wide_prices(frame, time_col=time_col, firm_col=firm_col, price_col=price_col)
    out: dict = {"firms": [str(f) for f in firms], "observations": int(P.shape[0])}
    bench = None
    if competitive_price is not None:
        bench = np.broadcast_to(
            np.asarray(competitive_price, dtype=np.float64), (len(firms),)
        ).copy()
        if not np.all(bench > 0):
            raise UsageError("competitive_price must be > 0")
    elif market is not None:
        bench = market.nash_prices()
        if bench.size != len(firms):
            raise UsageError(f"the data have {len(firms)} firms but the market has {market.n}")
    screens: dict = {}
    if bench is not None:
        screens["margin"] = margin_screen(P, bench, min_excess=min_excess, alpha=alpha)
    else:
        screens["margin"] = {
            "statistic": None,
            "p_value": None,
            "flagged": False,
            "verdict": "no competitive benchmark given (competitive_price "
            "or market): margin screen skipped",
        }
    screens["variance"] = variance_screen(P, cv_threshold=cv_threshold, alpha=alpha)
    screens["parallelism"] = parallelism_screen(P, alpha=alpha)
    screens["structural_break"] = structural_break_screen(times, P, alpha=alpha)
    out["screens"] = screens
    if cost_col:
        require_columns(frame, {"cost": cost_col})
        c = numeric_column(frame, cost_col)
        p = numeric_column(frame, price_col)
        out["lerner_index"] = float(np.mean((p - c) / p))
    if market is not None:
        out["demand_model"] = demand_model_measures(P, market)
    if impulse is not None:
        out["impulse_response"] = impulse_response_test(impulse, market)
    others = [k for k in ("variance", "parallelism", "structural_break") if screens[k]["flagged"]]
    if bench is not None:
        flagged = screens["margin"]["flagged"]
        verdict = "supra-competitive prices: " if flagged else "no supra-competitive prices: "
        verdict += screens["margin"]["verdict"]
        verdict += f"; {len(others)} of 3 other screens agree" + (
            f" ({', '.join(others)})" if others else ""
        )
    else:
        flagged = len(others) >= 2
        verdict = (
            ("collusive pattern: " if flagged else "no collusive pattern: ")
            + f"{len(others)} of 3 screens flag"
            + (f" ({', '.join(others)})" if others else "")
        )
    out["flagged"] = bool(flagged)
    out["verdict"] = verdict
    return out
