"""Synchronous updating (Asker, Fershtman & Pakes 2022): learners that update every
action's counterfactual return price more competitively than Calvano's asynchronous ones."""

from marketsim.scenarios.calvano2020 import Spec, simulate

FAST = dict(beta=4e-5, conv_window=20_000)


def test_synchronous_updating_lowers_profit_gain():
    # measured (12 sessions, seed 4): asynchronous Delta 0.76 (SD 0.05), synchronous 0.41
    # (SD 0.13); the margin below is about four standard errors of the difference
    base, _, _ = simulate(Spec(**FAST), sessions=12, seed=4, threads=2)
    sync, _, _ = simulate(Spec(policy="sync_updating", **FAST), sessions=12, seed=4, threads=2)
    assert sync["converged"].all()
    assert base["profit_gain"].mean() - sync["profit_gain"].mean() > 0.15


def test_memoryless_learners_price_near_monopoly_unless_they_update_synchronously():
    """Asker, Fershtman & Pakes (2022, AEA P&P 112; 2024, JEMS 33(2)): memoryless
    algorithms with asynchronous learning price close to monopoly, with synchronous
    learning competitively. Baseline Calvano parameters, k = 0. Measured (40 sessions,
    seed 0): asynchronous Delta 0.967, synchronous -0.024. This is why the memory limit
    (``policy = "memory"``, k = 0) does not lower Delta in this market."""
    spec = dict(k=0)
    asyn, _, _ = simulate(Spec(**spec), sessions=10, seed=0, threads=2)
    syn, _, _ = simulate(Spec(policy="sync_updating", **spec), sessions=10, seed=0, threads=2)
    assert asyn["converged"].all() and syn["converged"].all()
    assert asyn["profit_gain"].mean() > 0.85
    assert abs(syn["profit_gain"].mean()) < 0.15
