"""Shared fixtures: expensive simulations run once per test session."""

from __future__ import annotations

from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT / "data"

#: test files whose tests share no module- or session-scoped fixture: under ``make test``
#: (``pytest -n 2 --dist loadfile``) their tests go to whichever worker is free; every other
#: file's tests stay together in one worker, so its expensive fixtures are built once
SPREAD = {"test_docs_examples.py"}


def pytest_xdist_make_scheduler(config, log):
    """``--dist loadfile``, except for the files in :data:`SPREAD`. (``--dist loadgroup``
    would say the same with marks, but pytest-xdist 3.8 cannot group under pytest 9.2.)"""
    if config.getoption("dist") != "loadfile":
        return None
    from xdist.scheduler import LoadScopeScheduling

    class _FileScheduling(LoadScopeScheduling):
        def _split_scope(self, nodeid: str) -> str:
            path = nodeid.split("::", 1)[0]
            return nodeid if path.rsplit("/", 1)[-1] in SPREAD else path

    return _FileScheduling(config, log)


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
