"""The logit Bertrand market against Calvano et al. (2020), Section II and Table 1."""

import numpy as np
import pytest

from marketsim.errors import UsageError
from marketsim.logit import LogitMarket, joint_actions


@pytest.mark.parametrize(
    ("n", "p_nash", "p_mon"),
    [(2, 1.47293, 1.92498), (3, 1.37016, 2.0), (4, 1.33146, 2.05441)],
)
def test_published_benchmarks(n, p_nash, p_mon):
    # Calvano et al. (2020), Section II / online appendix: tolerance 1e-5
    mk = LogitMarket.symmetric(n)
    np.testing.assert_allclose(mk.nash_prices(), p_nash, atol=1e-5)
    np.testing.assert_allclose(mk.monopoly_prices(), p_mon, atol=1e-5)


def test_baseline_profits():
    mk = LogitMarket.symmetric(2)
    np.testing.assert_allclose(mk.nash_profits(), 0.22293, atol=1e-5)
    np.testing.assert_allclose(mk.monopoly_profits(), 0.33749, atol=1e-5)


def test_price_grid_of_the_paper():
    # 15 points, step 0.038748, from 1.42773 to 1.97018; p_N is not on the grid
    grid = LogitMarket.symmetric(2).price_grid(15, 0.1)
    assert grid.shape == (2, 15)
    np.testing.assert_allclose(grid[0, 0], 1.42773, atol=1e-5)
    np.testing.assert_allclose(grid[0, -1], 1.97018, atol=1e-5)
    np.testing.assert_allclose(np.diff(grid[0]), 0.038748, atol=1e-6)
    assert np.min(np.abs(grid[0] - 1.47293)) > 0.005


def test_nash_is_a_mutual_best_response_for_asymmetric_firms():
    mk = LogitMarket(np.array([2.0, 2.3, 1.8]), np.array([1.0, 1.1, 0.9]), 0.1, 0.3)
    p = mk.nash_prices()
    for i in range(3):
        for eps in (-1e-4, 1e-4):
            q = p.copy()
            q[i] += eps
            assert mk.profits(q)[i] < mk.profits(p)[i]


def test_monopoly_maximises_joint_profit():
    mk = LogitMarket(np.array([2.0, 2.3]), np.array([1.0, 1.1]), 0.0, 0.25)
    p = mk.monopoly_prices()
    best = mk.profits(p).sum()
    rng = np.random.default_rng(0)
    for _ in range(200):
        assert mk.profits(p + rng.normal(0, 0.05, 2)).sum() < best


def test_profit_table_matches_direct_evaluation():
    mk = LogitMarket.symmetric(3)
    grid = mk.price_grid(5, 0.1)
    table = mk.profit_table(grid)
    acts = joint_actions(3, 5)
    j = 2 + 4 * 5 + 1 * 25  # firm0 -> 2, firm1 -> 4, firm2 -> 1
    np.testing.assert_array_equal(acts[j], [2, 4, 1])
    np.testing.assert_allclose(table[j], mk.profits(grid[[0, 1, 2], [2, 4, 1]]))


def test_bad_market_is_a_usage_error():
    with pytest.raises(UsageError, match="mu"):
        LogitMarket.symmetric(2, mu=0.0)
    with pytest.raises(UsageError, match="m must be"):
        LogitMarket.symmetric(2).price_grid(1)
