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
Ours and the paper's are "the same within sampling error" when a two-sided test that
they are equal gives p >= 0.05: Welch's t-test for a mean, the F-test for a standard
deviation, Fisher's exact test for a share (exact at any number of sessions).
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


def _mean(x: np.ndarray) -> dict:
    """A mean with its 95% Student-t interval, and what a two-sample test needs."""
    from scipy import stats

    n = int(x.size)
    m = float(x.mean()) if n else math.nan
    sd = float(x.std(ddof=1)) if n > 1 else math.nan
    h = float(stats.t.ppf(0.975, n - 1)) * sd / math.sqrt(n) if n > 1 else math.nan
    return {"value": m, "lo": m - h, "hi": m + h, "sd": sd, "n": n}


def _sd(sd: float, n: int) -> dict:
    """A standard deviation with its 95% chi-square interval."""
    from scipy import stats

    if n < 2 or not math.isfinite(sd):
        return {"value": sd, "lo": math.nan, "hi": math.nan, "n": n}
    lo = sd * math.sqrt((n - 1) / float(stats.chi2.ppf(0.975, n - 1)))
    hi = sd * math.sqrt((n - 1) / float(stats.chi2.ppf(0.025, n - 1)))
    return {"value": sd, "lo": lo, "hi": hi, "n": n}


def _share(k: int, n: int) -> dict:
    """A share ``k / n`` with its 95% Wilson interval."""
    if n == 0:
        return {"value": math.nan, "lo": math.nan, "hi": math.nan, "k": 0, "n": 0}
    p = k / n
    z = 1.959963984540054
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return {"value": p, "lo": centre - half, "hi": centre + half, "k": k, "n": n}


def _p_value(kind: str, ours: dict, paper: dict) -> float:
    """Two-sided p-value of "the run and the paper have the same figure": Welch's t-test
    for a mean, the F-test for a standard deviation, Fisher's exact test for a share."""
    from scipy import stats

    if kind == "mean":
        if ours["n"] < 2 or not math.isfinite(ours["sd"]):
            return math.nan
        res = stats.ttest_ind_from_stats(
            ours["value"],
            ours["sd"],
            ours["n"],
            paper["value"],
            paper["sd"],
            paper["n"],
            equal_var=False,
        )
        return float(res.pvalue)
    if kind == "sd":
        if ours["n"] < 2 or not math.isfinite(ours["value"]) or paper["value"] <= 0:
            return math.nan
        f = (ours["value"] / paper["value"]) ** 2
        d1, d2 = ours["n"] - 1, paper["n"] - 1
        return float(min(1.0, 2 * min(stats.f.cdf(f, d1, d2), stats.f.sf(f, d1, d2))))
    if ours["n"] == 0:
        return math.nan
    table = [[ours["k"], ours["n"] - ours["k"]], [paper["k"], paper["n"] - paper["k"]]]
    return float(stats.fisher_exact(table).pvalue)


def table1_rows(sessions: pl.DataFrame) -> list[dict]:
    """One row per figure of Table 1: ``key``, ``what``, ``ours`` and ``paper`` (dicts
    with ``value``, ``lo``, ``hi``: the figure and its 95% interval), ``p_value`` (the
    two-sided test that both are the same) and ``agrees`` (p >= 0.05; None when the run
    has too few sessions for the test)."""
    n = sessions.height
    pg = sessions["profit_gain"].drop_nans().drop_nulls().to_numpy().astype(float)
    outcome = sessions["outcome"].to_list() if "outcome" in sessions.columns else []
    conv = sessions["converged"].cast(pl.Boolean).to_numpy()
    periods = sessions.filter(pl.col("converged"))["periods"].to_numpy().astype(float)
    nash = sessions["nash_on_path"].sum() if "nash_on_path" in sessions.columns else 0
    ours = {
        "profit_gain": _mean(pg),
        "profit_gain_sd": _sd(float(pg.std(ddof=1)) if pg.size > 1 else math.nan, pg.size),
        "converged": _share(int(conv.sum()), n),
        "periods": _mean(periods),
        "nash_on_path": _share(int(nash), n),
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
        p = _p_value(kind, ours[key], paper)
        agrees = None if not math.isfinite(p) else p >= 0.05
        rows.append(
            {
                "key": key,
                "what": what,
                "ours": ours[key],
                "paper": paper,
                "p_value": p,
                "agrees": agrees,
            }
        )
    return rows


def _mean_from(mean: float, sd: float, n: int) -> dict:
    from scipy import stats

    h = float(stats.t.ppf(0.975, n - 1)) * sd / math.sqrt(n)
    return {"value": mean, "lo": mean - h, "hi": mean + h, "sd": sd, "n": n}


def _num(v: float, key: str) -> str:
    if not math.isfinite(v):
        return "n/a"
    if key == "periods":
        return f"{v:,.0f}"
    return f"{v:.3f}"


def _cell(x: dict, key: str) -> str:
    if not math.isfinite(x["lo"]):
        return _num(x["value"], key)
    return f"{_num(x['value'], key)} [{_num(x['lo'], key)}, {_num(x['hi'], key)}]"


def _same(row: dict) -> str:
    if row["agrees"] is None:
        return "n/a"
    return f"{'yes' if row['agrees'] else 'no'} (p = {row['p_value']:.2g})"


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
        f"<p><b>Profit gain Delta = {_num(pg['ours']['value'], 'profit_gain')} over {n} "
        f"session{'s' if n != 1 else ''} of the paper's baseline, {verdict} the "
        f"{pg['paper']['value']:.3f} of Calvano et al. (2020, Table 1; 1,000 sessions).</b> "
        "Delta is how far the learned prices' profit lies from the one-shot Nash profit "
        "(0) towards the joint-monopoly profit (1).</p>"
    )
    trs = "".join(
        f"<tr><td>{html.escape(r['what'])}</td><td>{_cell(r['ours'], r['key'])}</td>"
        f"<td>{_cell(r['paper'], r['key'])}</td><td>{_same(r)}</td></tr>"
        for r in rows
    )
    table = (
        "<table class='tests'><tr><th>figure</th><th>this run [95% interval]</th>"
        "<th>Calvano et al. (2020) [95% interval]</th>"
        "<th>the same within sampling error</th></tr>"
        f"{trs}</table>"
        "<p class='caption'>Intervals: Student-t for a mean, chi-square for a standard "
        "deviation, Wilson for a share; the paper's from its 1,000 sessions (the authors' "
        "per-session output). 'The same within sampling error': a two-sided test that the "
        "run and the paper have the same figure (Welch's t-test for a mean, the F-test for "
        "a standard deviation, Fisher's exact test for a share) gives p of 0.05 or more; "
        "with few sessions only large differences show.</p>"
    )
    return f"<div class='verdict headline'>{body}{table}</div>"
