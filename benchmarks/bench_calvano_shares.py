"""Calvano et al. (2020) baseline with the default random numbers: outcome shares of
5,000 sessions, each with its 95% Wilson interval, beside the authors' 1,000 sessions.

The authors' shares (Table 1; ``data/calvano2020_baseline_sessions.csv``) are also what
``rng=authors`` gives, session by session. The question this answers: is the default
generator's share of each outcome (two-period cycles above all: 28-30% on 1,000 sessions
against their 23.8%) the same as theirs up to sampling error? Two tests compare the
5,000 sessions with the authors' 1,000: a chi-square test of homogeneity over the four
outcomes, and for each outcome the difference of the two shares with its 95% Newcombe
(hybrid Wilson) interval.

Sessions 0-4,999 of root seed 0, run 1,000 at a time (each session has its own stream,
so blocks and thread counts do not change them).
"""

from __future__ import annotations

import time
from pathlib import Path

import numba
import numpy as np
import polars as pl
from scipy import stats

from marketsim.io import run_metadata

DATA = Path(__file__).resolve().parents[1] / "data" / "calvano2020_baseline_sessions.csv"
SESSIONS = 5000
BLOCK = 1000
OUTCOMES = ("symmetric_constant", "asymmetric_constant", "two_cycle", "longer_cycle")
LEVEL = 0.95


def wilson(count: int, total: int) -> tuple[float, float]:
    """95% Wilson score interval of a binomial share."""
    ci = stats.binomtest(int(count), int(total)).proportion_ci(LEVEL, method="wilson")
    return float(ci.low), float(ci.high)


def newcombe(k1: int, n1: int, k2: int, n2: int) -> tuple[float, float]:
    """95% interval of ``k1/n1 - k2/n2`` from the two Wilson intervals (Newcombe 1998,
    method 10)."""
    p1, p2 = k1 / n1, k2 / n2
    l1, u1 = wilson(k1, n1)
    l2, u2 = wilson(k2, n2)
    d = p1 - p2
    return (
        d - float(np.sqrt((p1 - l1) ** 2 + (u2 - p2) ** 2)),
        d + float(np.sqrt((u1 - p1) ** 2 + (p2 - l2) ** 2)),
    )


def authors_outcome_counts(authors: pl.DataFrame) -> dict[str, int]:
    """The four outcomes of Table 1 counted in the authors' per-session file."""
    counts = dict.fromkeys(OUTCOMES, 0)
    for row in authors.iter_rows(named=True):
        if row["cycle_length"] == 1:
            same = str(row["cycle_price_index_firm1"]) == str(row["cycle_price_index_firm2"])
            counts[OUTCOMES[0] if same else OUTCOMES[1]] += 1
        else:
            counts[OUTCOMES[2] if row["cycle_length"] == 2 else OUTCOMES[3]] += 1
    return counts


def run() -> dict:
    from marketsim.scenarios.calvano2020 import Spec, simulate

    t0 = time.perf_counter()
    frames = [
        simulate(Spec(), sessions=BLOCK, seed=0, start=start)[0]
        for start in range(0, SESSIONS, BLOCK)
    ]
    wall = time.perf_counter() - t0
    frame = pl.concat(frames)
    n = frame.height
    ours = dict.fromkeys(OUTCOMES, 0)
    ours.update(dict(frame["outcome"].value_counts().iter_rows()))
    theirs = authors_outcome_counts(pl.read_csv(DATA))
    n_theirs = sum(theirs.values())
    table = np.array([[ours[k] for k in OUTCOMES], [theirs[k] for k in OUTCOMES]])
    chi2 = stats.chi2_contingency(table)
    converged = int(frame["converged"].sum())
    lengths = np.minimum(frame["cycle_length"].to_numpy(), 5)
    return {
        "sessions": n,
        "root_seed": 0,
        "threads": numba.get_num_threads(),
        "wall_seconds": round(wall, 1),
        "converged": converged,
        "converged_share": converged / n,
        "converged_share_interval": wilson(converged, n),
        "outcome_counts": ours,
        "outcome_shares": {k: ours[k] / n for k in OUTCOMES},
        "outcome_share_intervals": {k: wilson(ours[k], n) for k in OUTCOMES},
        "cycle_length_counts_1_2_3_4_5plus": [int(np.sum(lengths == v)) for v in range(1, 6)],
        "profit_gain_mean": round(float(frame["profit_gain"].mean()), 5),
        "authors": {
            "source": "data/calvano2020_baseline_sessions.csv (InfoExperiment_1.txt), Table 1",
            "sessions": n_theirs,
            "outcome_counts": theirs,
            "outcome_shares": {k: theirs[k] / n_theirs for k in OUTCOMES},
            "outcome_share_intervals": {k: wilson(theirs[k], n_theirs) for k in OUTCOMES},
        },
        "difference_intervals": {k: newcombe(ours[k], n, theirs[k], n_theirs) for k in OUTCOMES},
        "chi2_homogeneity": {
            "statistic": round(float(chi2.statistic), 3),
            "dof": int(chi2.dof),
            "pvalue": float(chi2.pvalue),
        },
        "git_revision": run_metadata().get("git_revision"),
    }
