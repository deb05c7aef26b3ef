"""marketsim compare: statistics, output files, resume, and pricing-policy effects.

Policy effects in the Calvano et al. (2020) baseline market (n=2, m=15, k=1,
alpha=0.15, beta=4e-6, delta=0.95) over a few seeds of a few sessions each.
"""

import json

import numpy as np
import polars as pl
import pytest
from scipy import stats

from marketsim.cli import main
from marketsim.experiments.compare import (
    COLUMNS,
    compare,
    compare_table,
    paired_difference,
    t_interval,
)


def test_t_interval_matches_scipy():
    x = np.array([0.1, 0.4, 0.35, 0.2, 0.9, 0.5])
    mean, lo, hi = t_interval(x)
    ref = stats.t.interval(0.95, len(x) - 1, loc=x.mean(), scale=stats.sem(x))
    assert mean == pytest.approx(x.mean()) and (lo, hi) == pytest.approx(ref)


def test_paired_difference_sees_a_shift_hidden_by_between_seed_noise():
    rng = np.random.default_rng(1)
    seed_effect = rng.normal(0, 1.0, 12)  # common random numbers: shared per seed
    base = seed_effect + rng.normal(0, 0.01, 12)
    treated = seed_effect - 0.05 + rng.normal(0, 0.01, 12)
    d, lo, hi, p = paired_difference(treated, base, seed=0)
    assert d == pytest.approx(-0.05, abs=0.01) and hi < 0 and p < 0.001
    # unpaired intervals overlap completely: only pairing reveals the effect
    _, blo, bhi = t_interval(base)
    _, tlo, thi = t_interval(treated)
    assert tlo < bhi and blo < thi
    null = np.array(
        [-0.02, 0.01, 0.015, -0.01, 0.005, -0.012, 0.02, -0.004, 0.0, 0.003, -0.015, 0.008]
    )  # mean ~0
    d0, lo0, hi0, p0 = paired_difference(base + null, base, seed=0)
    assert lo0 < 0 < hi0 and p0 > 0.5


def test_interval_and_p_value_come_from_one_paired_t_test():
    base = np.zeros(5)
    d = np.array([1, 2, 3, 4, 5.0])
    diff, lo, hi, p = paired_difference(base + d, base)
    ref = stats.ttest_1samp(d, 0.0)
    assert p == pytest.approx(ref.pvalue)
    assert (lo, hi) == pytest.approx(stats.t.interval(0.95, 4, loc=3.0, scale=stats.sem(d)))
    # the two cannot disagree: the interval excludes 0 exactly when p < 0.05
    rng = np.random.default_rng(5)
    for n in (3, 4, 6, 10):
        for _ in range(40):
            x = rng.normal(0.5, 1.0, n)
            _, lo, hi, p = paired_difference(x, np.zeros(n))
            assert (lo > 0 or hi < 0) == (p < 0.05)
    d, lo, hi, p = paired_difference(base + 2.0, base)
    assert (d, lo, hi, p) == (2.0, 2.0, 2.0, 0.0)


def test_compare_table_layout_and_missing_values():
    vals = {
        "none": {"delta": np.array([0.8, 0.9, 0.85]), "volume": np.array([1.0, 2, 3])},
        "cap": {"delta": np.array([0.0, 0.01, np.nan])},
    }
    t = compare_table(vals)
    assert tuple(t.columns) == COLUMNS
    row = t.filter((pl.col("policy") == "cap") & (pl.col("metric") == "delta")).row(0, named=True)
    assert row["n_seeds"] == 2 and row["diff"] == pytest.approx(((0 - 0.8) + (0.01 - 0.9)) / 2)
    base = t.filter(pl.col("policy") == "none")
    assert base["diff"].to_list() == [0.0, 0.0]


FAST = ["beta=4e-5", "conv_window=20000"]


def test_compare_writes_both_files_and_resumes_from_cells(tmp_path, capsys):
    out = tmp_path / "cmp"
    args = [
        "compare",
        "calvano2020",
        "--policy",
        "none",
        "--policy",
        "price_cap",
        "--seeds",
        "3",
        "--sessions",
        "2",
        "--threads",
        "2",
        "--out",
        str(out),
        "--quiet",
    ]
    for s in FAST:
        args += ["--set", s]
    assert main(args) == 0
    table = pl.read_parquet(out / "compare.parquet")
    assert tuple(table.columns) == COLUMNS
    assert set(table["policy"]) == {"none", "price_cap"}
    assert {"delta", "price_index", "mean_price", "consumer_surplus"} <= set(table["metric"])
    js = json.loads((out / "compare.json").read_text())
    assert js["baseline"] == "none" and len(js["per_seed"]["price_cap"]["delta"]) == 3
    cells = sorted(out.glob("cells/*/seed_*/metrics.json"))
    assert len(cells) == 6
    stamps = [c.stat().st_mtime_ns for c in cells]
    (out / "compare.parquet").unlink()
    assert main(args) == 0  # resumes: nothing is rerun, the table is the same
    assert [c.stat().st_mtime_ns for c in cells] == stamps
    assert pl.read_parquet(out / "compare.parquet").equals(table)
    capsys.readouterr()
    assert (
        main(["compare", "calvano2020", "--policy", "none", "--seeds", "3", "--out", str(out)]) == 2
    )
    assert "at least two policies" in capsys.readouterr().err
    assert (
        main(
            [
                "compare",
                "calvano2020",
                "--policy",
                "none",
                "--policy",
                "steering:weight=-1",
                "--out",
                str(out),
            ]
        )
        == 2
    )
    assert "steering.weight" in capsys.readouterr().err


@pytest.fixture(scope="module")
def pricing_comparison(tmp_path_factory):
    out = tmp_path_factory.mktemp("pricing")
    table = compare(
        "calvano2020",
        ["none", "steering", "memory", "price_cap"],
        seeds=6,
        sessions=4,
        out=out,
        threads=2,
        progress=False,
    )
    return {(r["policy"], r["metric"]): r for r in table.iter_rows(named=True)}


@pytest.mark.slow
def test_steering_lowers_delta_with_an_interval_excluding_zero(pricing_comparison):
    # Johnson, Rhodes & Wildenbeest (2023): steering toward the cheapest seller
    # undermines algorithmic collusion. Measured: diff about -0.35 (8 seeds x 5 sessions).
    r = pricing_comparison[("steering", "delta")]
    assert r["diff"] < -0.15 and r["diff_hi"] < 0
    assert pricing_comparison[("steering", "consumer_surplus")]["diff_lo"] > 0


@pytest.mark.slow
def test_price_cap_at_nash_drives_delta_to_zero(pricing_comparison):
    r = pricing_comparison[("price_cap", "delta")]
    assert abs(r["mean"]) < 0.02 and r["ci_hi"] < 0.05 and r["diff_hi"] < 0


@pytest.mark.slow
def test_memoryless_learners_do_not_price_lower(pricing_comparison):
    # k = 0 removes the state a reward-punishment scheme needs, but memoryless
    # Q-learners still settle on high prices (measured +0.075 [0.046, 0.11] over 8 seeds
    # x 5 sessions): a memory limit alone does not restore competition here.
    r = pricing_comparison[("memory", "delta")]
    assert r["mean"] > 0.5 and r["diff_lo"] > -0.05
