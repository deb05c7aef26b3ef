"""Shared fixtures: expensive simulations run once per test session."""

from __future__ import annotations

from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT / "data"

#: test files whose tests share no module- or session-scoped fixture: under ``make test``
#: (``pytest -n 2 --dist loadgroup``) their tests go to whichever worker is free; every
#: other file's tests stay together in one worker, as ``--dist loadfile`` keeps them
SPREAD = {"test_docs_examples.py"}


def pytest_collection_modifyitems(config, items):
    for item in items:
        if item.path.name not in SPREAD:
            item.add_marker(pytest.mark.xdist_group(item.path.name))


@pytest.fixture(scope="session")
def calvano_baseline():
    """250 baseline sessions of Calvano et al. (2020), seed 2020, 2 threads.

    250 rather than the paper's 1,000 keeps the suite fast; tolerances below follow from
    the authors' standard deviations at this size. The full 1,000 run is a benchmark.
    """
    from marketsim.scenarios.calvano2020 import Spec, simulate

    frame, impulse, model = simulate(Spec(), sessions=250, seed=2020, threads=2)
    return frame, impulse, model


@pytest.fixture(scope="session")
def authors_sessions():
    """The authors' own 1,000 baseline sessions (replication package, Table A2)."""
    import polars as pl

    return pl.read_csv(DATA / "calvano2020_baseline_sessions.csv")
