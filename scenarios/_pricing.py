"""The run shell of the pricing scenarios (``calvano2020``, ``llm_pricing``, ``market_making``).

Each of them steps a Mesa model to its end under one progress bar, turns it into a
per-session table and an impulse-response table, and writes ``sessions.parquet``,
``impulse.parquet`` and ``summary.json`` (the spec, the seed, the scenario's figures,
the timings and the run's metadata), each file atomically. The logit-market figures
that ``calvano2020`` and ``llm_pricing`` share (profit gain, price index, outcomes,
deviations; Calvano et al. 2020) are computed here once.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from functools import partial
from pathlib import Path

import mesa
import numba
import numpy as np
import polars as pl

from marketsim.io import run_metadata, write_json_atomic, write_parquet_atomic
from marketsim.measures import session_deviation_figures
from marketsim.progress import progress_bar
from marketsim.scenarios._spec import scenario_run

#: the limit-cycle outcomes of a logit pricing session (calvano2020 and llm_pricing)
OUTCOMES = ("symmetric_constant", "asymmetric_constant", "two_cycle", "longer_cycle")


class LearnerView(mesa.Agent):
    """Thin view of learner ``index`` across all sessions of a model whose ``learners``
    hold the arrays (a firm of ``calvano2020``, a maker of ``market_making``)."""

    def __init__(self, model: mesa.Model, index: int):
        super().__init__(model)
        self.index = index

    @property
    def strategy(self) -> np.ndarray:
        """Greedy action per (session, state): ndarray(int64, shape (N, S))."""
        return self.model.learners.strategy[:, self.index]


def set_threads(threads: int | None) -> None:
    """Use ``threads`` numba threads (at most the configured number); None: leave as is."""
    if threads is not None:
        numba.set_num_threads(min(threads, numba.config.NUMBA_NUM_THREADS))


def step_to_end(model, label: str, total: float, done: Callable, progress: bool) -> None:
    """Step ``model`` until it stops running, the bar ``label`` showing ``done(model)``."""
    with progress_bar(label, total, enabled=progress) as update:
        while model.running:
            model.step()
            update(completed=done(model))


def converging_simulate(model_class, tables, check):
    """The ``simulate(spec, *, sessions, seed, start, threads, progress)`` of a scenario
    whose sessions of learners run to convergence: ``check(spec, seed=, sessions=)``
    refuses what the spec cannot do, then ``model_class(spec, sessions, seed, start)`` is
    stepped to the end under a bar of converged sessions. Sessions
    ``start .. start+sessions-1`` run; nothing is written. Returns
    ``(*tables(model, seed), model)``: the sessions frame, the impulse frame, the model."""

    def simulate(
        spec,
        *,
        sessions: int,
        seed: int,
        start: int = 0,
        threads: int | None = None,
        progress: bool = False,
    ):
        check(spec, seed=seed, sessions=sessions)
        set_threads(threads)
        model = model_class(spec, sessions, seed, start)
        step_to_end(
            model, "sessions converged", sessions, lambda m: sessions - m.learners.running, progress
        )
        frame, impulse = tables(model, seed)
        return frame, impulse, model

    return simulate


def logit_summary(sessions: pl.DataFrame, market, grid) -> dict:
    """The summary figures of a logit pricing run from its per-session table (the keys
    ``calvano2020`` and ``llm_pricing`` share, documented in the README)."""
    N = sessions.height
    counts = dict.fromkeys(OUTCOMES, 0)
    for name, count in sessions["outcome"].value_counts().iter_rows():
        counts[name] = count
    return {
        "sessions": N,
        "profit_gain_mean": sessions["profit_gain"].mean(),
        "profit_gain_sd": sessions["profit_gain"].std(),
        "price_index_mean": sessions["price_index"].mean(),
        "converged_share": sessions["converged"].mean(),
        "periods_median": sessions["periods"].median(),
        "periods_mean": sessions["periods"].mean(),
        "nash_price": market.nash_prices().tolist(),
        "monopoly_price": market.monopoly_prices().tolist(),
        "nash_profit": market.nash_profits().tolist(),
        "monopoly_profit": market.monopoly_profits().tolist(),
        "price_grid": grid.tolist(),
        "outcome_shares": {k: v / N for k, v in counts.items()},
        "nash_on_path_share": sessions["nash_on_path"].mean(),
        **session_deviation_figures(sessions),
    }


def run_and_write(simulate, summarise, timing, spec, *, seed: int, out, **options) -> dict:
    """Run ``simulate(spec, seed=seed, **options)``, write its two tables and
    ``summary.json`` into ``out``; return the summary.

    ``summarise(sessions, model)`` gives the scenario's figures and ``timing(model)`` the
    figures after ``wall_seconds`` (kernel time, threads, periods).
    """
    out = Path(out)
    t0 = time.perf_counter()
    frame, impulse, model = simulate(spec, seed=seed, **options)
    wall = time.perf_counter() - t0
    write_parquet_atomic(frame, out / "sessions.parquet")
    write_parquet_atomic(impulse, out / "impulse.parquet")
    summary = {
        **spec.describe(),
        "seed": seed,
        **summarise(frame, model),
        "wall_seconds": wall,
        **timing(model),
        **run_metadata(),
    }
    write_json_atomic(summary, out / "summary.json")
    return summary


def pricing_run(simulate, summarise, timing, default_sessions: int):
    """The ``run`` of a pricing scenario (:func:`marketsim.scenarios._spec.scenario_run`)
    from its ``simulate``, ``summarise`` and ``timing`` (see :func:`run_and_write`)."""
    return scenario_run(partial(run_and_write, simulate, summarise, timing), default_sessions)
