"""Shared fixtures: expensive simulations run once per test session."""

from __future__ import annotations

from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT / "data"


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
