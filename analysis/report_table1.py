"""A pricing run beside Table 1 of Calvano, Calzolari, Denicolò & Pastorello (2020, AER
110(10): 3267-97): the baseline's profit gain, its spread, convergence, the limit
outcomes and Nash play on path, each with a 95% interval, ours next to the paper's.

The paper's figures are those of its 1,000 baseline sessions as the authors' own code
wrote them (replication package, openICPSR 119462, ``InfoExperiment_1.txt``; in this
repository ``data/calvano2020_baseline_sessions.csv``; summarised in the project's
REFERENCES.md): Delta 0.8487 (SD 0.1120), all converged, 1,751,154 periods to
convergence on average (SD 293,458), outcomes 277 / 366 / 238 / 119 of 1,000, a one-shot
Nash equilibrium of the grid game on path in 505 (Table A10, benchmark row).

Intervals: a mean's is Student-t, a standard deviation's chi-square, a share's Wilson.
Ours and the paper's agree "within sampling error" when their difference is less than
1.96 standard errors of the difference (the two standard errors combined).
"""

from __future__ import annotations

import html
import math

import numpy as np
import polars as pl

#: the paper's sessions
PAPER_SESSIONS = 1000
#: (key, what, kind, paper's value, paper's SD for a mean or count for a share)
TABLE1 = (
    (
        "profit_gain",
        "profit gain Delta, mean (0 = Nash, 1 = monopoly)",
        "mean",
        0.8487193,
        0.1120378,
    ),
    (
        "profit_gain_sd",
        "profit gain Delta, standard deviation across sessions",
        "sd",
        0.1120378,
        None,
    ),
    ("converged", "sessions converged (share)", "share", 1.0, 1000),
    (
        "periods",
        "periods to convergence, mean (after the 100,000 stable)",
        "mean",
        1751154.25,
        293457.72,
    ),
    ("symmetric_constant", "limit: symmetric constant price (share)", "share", 0.277, 277),
    ("asymmetric_constant", "limit: asymmetric constant prices (share)", "share", 0.366, 366),
    ("two_cycle", "limit: two-period cycle (share)", "share", 0.238, 238),
    ("longer_cycle", "limit: longer cycle (share)", "share", 0.119, 119),
    (
        "nash_on_path",
        "one-shot Nash equilibrium of the grid game on path (share)",
        "share",
        0.505,
        505,
    ),
)

#: the parameters of the paper's baseline (Table 1); other values are not its setting
BASELINE = {
    "n_firms": 2,
    "m": 15,
    "k": 1,
    "alpha": 0.15,
    "beta": 4e-6,
    "delta": 0.95,
    "mu": 0.25,
    "a0": 0.0,
    "a": 2.0,
    "c": 1.0,
    "xi": 0.1,
    "conv_window": 100_000,
    "max_periods": 10**9,
    "policy": [],
}


def not_baseline(params: dict) -> dict:
    """The parameters of a calvano2020 run that differ from the paper's baseline."""
    out = {}
    for key, want in BASELINE.items():
        got = params.get(key, want)
        if isinstance(got, list) and key in ("a", "c") and len(set(got)) == 1:
            got = got[0]
        if got != want and not (
            isinstance(got, int | float)
            and isinstance(want, int | float)
            and math.isclose(got, want)
        ):
            out[key] = got
    return out


def _mean(x: np.ndarray) -> tuple[float, float, float, float]:
    """Mean, its standard error and its 95% Student-t interval."""
    from scipy import stats

    n = x.size
    m = float(x.mean())
    if n < 2:
        return m, math.nan, math.nan, math.nan
    se = float(x.std(ddof=1)) / math.sqrt(n)
    h = float(stats.t.ppf(0.975, n - 1)) * se
    return m, se, m - h, m + h


def _sd(s: float, n: int) -> tuple[float, float, float, float]:
    """An SD, its standard error (s / sqrt(2(n-1))) and its 95% chi-square interval."""
    from scipy import stats

    if n < 2:
        return s, math.nan, math.nan, math.nan
    lo = s * math.sqrt((n - 1) / float(stats.chi2.ppf(0.975, n - 1)))
    hi = s * math.sqrt((n - 1) / float(stats.chi2.ppf(0.025, n - 1)))
    return s, s / math.sqrt(2 * (n - 1)), lo, hi


def _share(k: int, n: int) -> tuple[float, float, float, float]:
    """A share, its standard error and its 95% Wilson interval."""
    p = k / n
    z = 1.959963984540054
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return p, math.sqrt(max(p * (1 - p), 0.25 / n) / n), centre - half, centre + half


def table1_rows(sessions: pl.DataFrame) -> list[dict]:
    """One row per figure of Table 1: ``key``, ``what``, ``ours`` and ``paper`` (each
    ``(value, standard error, lo, hi)``) and ``agrees`` (within sampling error, or None
    when ours has no interval)."""
    n = sessions.height
    pg = sessions["profit_gain"].drop_nans().drop_nulls().to_numpy().astype(float)
    outcome = sessions["outcome"].to_list() if "outcome" in sessions.columns else []
    conv = sessions["converged"].cast(pl.Boolean).to_numpy()
    periods = sessions.filter(pl.col("converged"))["periods"].to_numpy().astype(float)
    ours = {
        "profit_gain": _mean(pg),
        "profit_gain_sd": _sd(float(pg.std(ddof=1)) if pg.size > 1 else math.nan, pg.size),
        "converged": _share(int(conv.sum()), n),
        "periods": _mean(periods) if periods.size else (math.nan,) * 4,
        "nash_on_path": _share(int(sessions["nash_on_path"].sum()), n)
        if "nash_on_path" in sessions.columns
        else (math.nan,) * 4,
    }
    for name in ("symmetric_constant", "asymmetric_constant", "two_cycle", "longer_cycle"):
        ours[name] = _share(sum(o == name for o in outcome), n)
    rows = []
    for key, what, kind, value, spread in TABLE1:
        if kind == "mean":
            paper = _mean_from(value, spread, PAPER_SESSIONS)
        elif kind == "sd":
            paper = _sd(value, PAPER_SESSIONS)
        else:
            paper = _share(spread, PAPER_SESSIONS)
        mine = ours[key]
        se = math.hypot(mine[1], paper[1])
        agrees = None if not math.isfinite(se) or se == 0 else abs(mine[0] - paper[0]) < 1.96 * se
        rows.append({"key": key, "what": what, "ours": mine, "paper": paper, "agrees": agrees})
    return rows


def _mean_from(mean: float, sd: float, n: int) -> tuple[float, float, float, float]:
    from scipy import stats

    se = sd / math.sqrt(n)
    h = float(stats.t.ppf(0.975, n - 1)) * se
    return mean, se, mean - h, mean + h


def _num(v: float, key: str) -> str:
    if not math.isfinite(v):
        return "n/a"
    if key == "periods":
        return f"{v:,.0f}"
    return f"{v:.3f}"


def _cell(x: tuple, key: str) -> str:
    value, _, lo, hi = x
    if not math.isfinite(lo):
        return _num(value, key)
    return f"{_num(value, key)} [{_num(lo, key)}, {_num(hi, key)}]"


def table1_html(sessions: pl.DataFrame, params: dict) -> str:
    """The headline box of a calvano2020 report: the run beside Table 1 when its spec is
    the paper's baseline, else one line naming the parameters that are not."""
    other = not_baseline(params)
    if other:
        diff = ", ".join(f"{k} = {v}" for k, v in other.items())
        return (
            "<div class='verdict headline'><p>This run is not the baseline of Calvano et al. "
            f"(2020, Table 1): {html.escape(diff)} (the paper's setting is "
            f"{html.escape(', '.join(f'{k} = {BASELINE[k]}' for k in other))}), so it is not "
            "set beside the paper's figures.</p></div>"
        )
    rows = table1_rows(sessions)
    pg = rows[0]
    n = sessions.height
    verdict = (
        "within sampling error of"
        if pg["agrees"]
        else "outside sampling error of"
        if pg["agrees"] is False
        else "beside (one session gives no interval)"
    )
    body = (
        f"<p><b>Profit gain Delta = {_num(pg['ours'][0], 'profit_gain')} over {n} session"
        f"{'s' if n != 1 else ''} of the paper's baseline, {verdict} the "
        f"{pg['paper'][0]:.3f} of Calvano et al. (2020, Table 1; 1,000 sessions).</b> "
        "Delta is how far the learned prices' profit lies from the one-shot Nash profit "
        "(0) towards the joint-monopoly profit (1).</p>"
    )
    trs = "".join(
        f"<tr><td>{html.escape(r['what'])}</td><td>{_cell(r['ours'], r['key'])}</td>"
        f"<td>{_cell(r['paper'], r['key'])}</td><td>"
        + ("yes" if r["agrees"] else "no" if r["agrees"] is False else "n/a")
        + "</td></tr>"
        for r in rows
    )
    table = (
        "<table class='tests'><tr><th>figure</th><th>this run [95% interval]</th>"
        "<th>Calvano et al. (2020) [95% interval]</th><th>within sampling error</th></tr>"
        f"{trs}</table>"
        "<p class='caption'>Intervals: Student-t for a mean, chi-square for a standard "
        "deviation, Wilson for a share; the paper's from its 1,000 sessions (the authors' "
        "per-session output). 'Within sampling error': the two figures differ by less than "
        "1.96 standard errors of their difference.</p>"
    )
    return f"<div class='verdict headline'>{body}{table}</div>"
