"""Scenario ``market_making``: Q-learning market makers quoting to possibly informed clients.

A quote-driven market in the spirit of Glosten & Milgrom (1985) as Colliard, Foucault &
Lovo (2022, SSRN 4252858) set it up; the market, the tie rules, the learners and the
benchmarks are defined in :mod:`marketsim.mm_learning`. ``n_makers`` makers post asks on
a grid of step ``tick``; one client per period is informed with probability ``pi``;
``learner="informed"`` adds the "market knowledge" of Guarino, Jehiel & Symons-Hicks
(2025) as we read it (each period, every ask is updated with the profit it would have
earned against the rivals' actual asks and the same client).

``episode_periods`` keeps the asset's value over that many periods (1, the default: a
new value every period). With ``trade_state`` and episodes, the learned ask after a buy
can differ from the ask after none for a reason: a buy is news about the value.

Defaults. CFL's exact parameters could not be read; ours are: values +-1 around
E[v] = 0, the uninformed client's private value uniform on [0, 1], ``tick = 0.1`` (11
asks), ``pi = 0.3`` (zero-profit ask 0.214, grid-competitive ask 0.3, joint-profit ask
0.6), two makers, shared ties, and Calvano et al.'s learning parameters (alpha 0.15,
beta 4e-6, delta 0.95, 100,000 stable periods), with a cap of 10^7 periods.

The ``informed`` learner's default learning rate is 0.01, not 0.15 (version 4). It
updates every ask of its state every period with a realised, noisy profit (the value is
+-1, the asks' expected profits differ by hundredths), so with a constant rate ``alpha``
each Q-value carries noise of about ``sqrt(alpha / 2)`` times the profit's spread: at
0.15 that is several times the gap between neighbouring asks, the greedy ask keeps
changing and no session met the stability rule (of 100 sessions at the validate size and
tick 0.1, none converged at rates 0.15, 0.05 and 0.02, and 8 at 0.01; 90 at 0.01, tick
0.2). Cartea, Chang & Penalva (2022, SSRN 4105954; only the abstract could be read)
study learning through its deterministic (mean-field) dynamics, the regime of small
steps; at 0.01 the informed makers reproduce the three tick findings of their abstract
at the validate size (tests/test_market_making.py), which at 0.15 they did not. The rate
was chosen after these measurements; the tutorial gives all of them. The basic learner
keeps Calvano's 0.15: at 0.05 and 0.01 its markup does not rise with the tick either.

Run it as ``marketsim run market_making --sessions 200 --seed 0 --out runs/mm``.
Outputs: ``sessions.parquet`` (one row per session; ``markup_index`` = (mean best ask -
competitive ask) / (collusive ask - competitive ask), 0 competitive, 1 collusive),
``impulse.parquet`` (session, t, maker, ask, ask_baseline) and ``summary.json``
(``markup_index_mean`` and its 95% interval, the benchmarks).
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Literal

import mesa
import numba
import numpy as np
import polars as pl
from pydantic import Field, model_validator

from marketsim.errors import UsageError
from marketsim.measures import t_interval
from marketsim.mm_learning import CONVERGED, IMPULSE_T, MarketMakingSessions, benchmarks
from marketsim.scenarios._mesa_ids import forget_agent_ids
from marketsim.scenarios._pricing import LearnerView, converging_simulate, pricing_run
from marketsim.scenarios._spec import ScenarioSpec
from marketsim.scenarios.policies import PolicyList

#: per-session state above this is refused at validation
MAX_SESSION_BYTES = 2**30
DEFAULT_SESSIONS = 200
#: the policies that mean something here: ``memory:k=0`` makes the makers stateless
POLICIES = ("none", "memory")
#: default learning rate of each learner (``alpha`` unset): Calvano et al.'s 0.15 for the
#: basic learner; 0.01 for the informed one, whose every ask is updated every period with
#: a noisy profit (see the module docstring)
LEARNING_RATES = {"basic": 0.15, "informed": 0.01}


#: seconds numba takes to compile this scenario's kernels on a cold cache (41 s of CPU for a
#: first short run, the golden case, after calvano2020's in the same process, one core, at
#: load 3; the same kernels serve maker-major and state-major tables); the "compiling
#: kernels" line quotes it
COMPILE_SECONDS = 45


class Spec(ScenarioSpec):
    """Parameters of the market-making experiment (defaults: see the module docstring)."""

    name = "market_making"
    #: 2: the ``informed`` learner updates only the asks that would not have traded (the
    #: asks above the best rival's), no longer asks whose outcome it inferred from the
    #: client's choice (a mean conditional on the client). Defaults unchanged.
    #: 3: the ``informed`` learner updates every ask each period with the profit it would
    #: have earned against the rivals' actual asks and the same client (full counterfactual
    #: updating; version 2 updated only the asks above the best rival's, with 0).
    #: 4: the ``informed`` learner's default learning rate is 0.01 (was 0.15, the basic
    #: learner's, which stays); ``alpha`` unset means the learner's default.
    version = 4

    n_makers: int = Field(2, ge=1, le=6, description="number of market makers")
    tick: float = Field(0.1, gt=0.0, le=1.0, description="tick size (value half-range = 1)")
    pi: float = Field(0.3, gt=0.0, lt=1.0, description="probability the client is informed")
    private_value_max: float = Field(
        1.0, gt=0.0, le=4.0, description="uninformed client's private value ~ U[0, this]"
    )
    learner: Literal["basic", "informed"] = Field(
        "basic", description="basic Q-learning, or with market knowledge (every ask updated)"
    )
    tie: Literal["split", "time", "random"] = Field(
        "split", description="who trades at a tied best ask: split, time priority, random"
    )
    state: Literal["quotes", "own", "none"] = Field(
        "quotes", description="state: all last asks, own last ask only, or none"
    )
    trade_state: bool = Field(False, description="state also holds whether the last client bought")
    episode_periods: int = Field(
        1,
        ge=1,
        le=10_000,
        description="periods over which the asset's value is kept (1: a new value each period)",
    )
    alpha: float | None = Field(
        None,
        gt=0.0,
        le=1.0,
        description="learning rate, in (0, 1]; unset: 0.15 (basic) or 0.01 (informed)",
    )
    beta: float = Field(4e-6, ge=0.0, lt=1.0, description="exploration decay per period")
    delta: float = Field(0.95, ge=0.0, lt=1.0, description="discount factor, in [0, 1)")
    conv_window: int = Field(100_000, ge=1, description="periods of stable strategies")
    max_periods: int = Field(10**7, ge=1, description="cap on periods per session")
    chunk_periods: int = Field(250_000, ge=1, description="periods per Mesa step")
    policy: PolicyList = Field(
        default_factory=list, description="policies: none, or memory:k=0 (stateless makers)"
    )

    @model_validator(mode="after")
    def _consistent(self):
        for p in self.policy:
            if p.name not in POLICIES:
                raise ValueError(
                    f"policy {p.name!r} does not apply to market_making; use none or memory"
                )
            if p.name == "memory" and p.k > 1:
                raise ValueError("policy memory: k must be 0 or 1 in market_making")
        b = benchmarks(self.n_makers, self.tick, self.pi, self.private_value_max)
        if b["collusive_ask"] <= b["competitive_ask"]:
            raise ValueError(
                f"tick {self.tick:g}: the competitive and collusive asks are the same grid "
                f"point ({b['competitive_ask']:g}), so the markup index is undefined; "
                "use a finer tick"
            )
        m = b["grid"].size
        need = MarketMakingSessions.bytes_needed(
            self.n_makers, m, self.state_mode(), self.trade_state, 1, self.episode_periods
        )
        if need > MAX_SESSION_BYTES:
            raise ValueError(
                f"state space of {m} asks for {self.n_makers} makers needs "
                f"{need / 2**30:.1f} GiB per session; use a coarser tick, fewer makers "
                "or state='own'"
            )
        return self

    def state_mode(self) -> str:
        """The learners' state after the ``memory`` policy (``k=0``: stateless)."""
        if any(p.name == "memory" and p.k == 0 for p in self.policy):
            return "none"
        return self.state

    def benchmarks(self) -> dict:
        return benchmarks(self.n_makers, self.tick, self.pi, self.private_value_max)

    def learning_rate(self) -> float:
        """``alpha``, or the learner's default when unset (:data:`LEARNING_RATES`)."""
        return LEARNING_RATES[self.learner] if self.alpha is None else self.alpha


class MakerAgent(LearnerView):
    """Thin view of market maker ``maker`` across all sessions of a :class:`MarketMakingModel`."""

    @property
    def maker(self) -> int:
        return self.index


class MarketMakingModel(mesa.Model):
    """Mesa shell over :class:`marketsim.mm_learning.MarketMakingSessions`: each
    ``step()`` advances every session by ``spec.chunk_periods`` in one parallel kernel."""

    def __init__(self, spec: Spec, sessions: int, seed: int, start: int = 0):
        super().__init__(seed=seed)
        self.spec = spec
        self.learners = MarketMakingSessions(
            spec.n_makers,
            spec.tick,
            spec.pi,
            private_value_max=spec.private_value_max,
            tie=spec.tie,
            learner=spec.learner,
            state_mode=spec.state_mode(),
            trade_state=spec.trade_state,
            episode_periods=spec.episode_periods,
            alpha=spec.learning_rate(),
            beta=spec.beta,
            delta=spec.delta,
            seed=seed,
            sessions=sessions,
            start=start,
            conv_window=spec.conv_window,
            max_periods=spec.max_periods,
        )
        self.bench = self.learners.bench
        self.start = start
        self.periods_played = 0
        self.kernel_seconds = 0.0
        for i in range(spec.n_makers):
            MakerAgent(self, i)
        forget_agent_ids(self)  # the population is fixed: let the model be freed

    def step(self):
        t0 = time.perf_counter()
        self.periods_played += self.learners.advance(self.spec.chunk_periods)
        self.kernel_seconds += time.perf_counter() - t0
        self.running = self.learners.running > 0


def _outcome(length: int) -> str:
    if length == 0:
        return "stochastic"
    return {1: "constant", 2: "two_cycle"}.get(int(length), "longer_cycle")


def session_tables(model: MarketMakingModel, seed: int) -> tuple[pl.DataFrame, pl.DataFrame]:
    """The per-session and impulse-response tables of a finished model."""
    spec, lr, b = model.spec, model.learners, model.bench
    res = lr.analyse()
    N, n = lr.last_acts.shape
    ask = res["ask_mean"]
    pc, pm = b["competitive_profit"] / n, b["collusive_profit"] / n
    rivals = slice(1, n) if n > 1 else slice(0, 0)
    diff = (res["impulse_dev"] - res["impulse_base"])[:, rivals, :]  # (N, n-1, T)
    rival_diff = diff.mean(axis=1) / spec.tick if n > 1 else np.zeros((N, IMPULSE_T))
    # periods in a row, from the one after the deviation, in which the rivals quote
    # more than half a tick below the path without the deviation
    below = rival_diff[:, 1:] < -0.5
    length = np.where(below.all(axis=1), below.shape[1], np.argmin(below, axis=1))
    sessions = pl.DataFrame(
        {
            "session": np.arange(model.start, model.start + N, dtype=np.int64),
            "seed": np.full(N, seed, dtype=np.int64),
            "converged": lr.status == CONVERGED,
            "periods": np.where(lr.status == CONVERGED, lr.t - spec.conv_window, lr.t),
            "cycle_length": res["cycle_len"],
            "outcome": [_outcome(x) for x in res["cycle_len"]],
            "ask_mean": ask,
            "markup": ask - b["zero_profit_ask"],
            "markup_index": (ask - b["competitive_ask"])
            / (b["collusive_ask"] - b["competitive_ask"]),
            "profit_gain": (res["profit_mean"].mean(axis=1) - pc) / (pm - pc),
            "deviation_gain": res["dev_gain"],
            "deviation_profitable": res["dev_gain"] > 1e-12,
            "rival_response_ticks": rival_diff[:, 1] if n > 1 else np.full(N, np.nan),
            "punished": length > 0,
            "punishment_length": length.astype(np.int64),
            "ask_response_to_buy": res["ask_response"],
        }
    )
    T = IMPULSE_T
    impulse = pl.DataFrame(
        {
            "session": np.repeat(sessions["session"].to_numpy(), n * T),
            "t": np.tile(np.arange(T), N * n),
            "maker": np.tile(np.repeat(np.arange(1, n + 1), T), N),
            "ask": res["impulse_dev"].reshape(-1),
            "ask_baseline": res["impulse_base"].reshape(-1),
        }
    )
    return sessions, impulse


def summarise(sessions: pl.DataFrame, model: MarketMakingModel) -> dict:
    """Summary figures of a run: means with 95% Student-t intervals, the benchmarks."""
    b = model.bench
    out: dict = {"sessions": sessions.height}
    for col in (
        "markup_index",
        "markup",
        "ask_mean",
        "profit_gain",
        "rival_response_ticks",
        "punishment_length",
        "ask_response_to_buy",
    ):
        mean, lo, hi = t_interval(sessions[col].to_numpy())
        out[f"{col}_mean"] = mean
        out[f"{col}_ci"] = [lo, hi]
    out.update(
        converged_share=sessions["converged"].mean(),
        periods_median=sessions["periods"].median(),
        punished_share=sessions["punished"].mean(),
        deviation_unprofitable_share=1.0 - sessions["deviation_profitable"].mean(),
        competitive_ask=b["competitive_ask"],
        collusive_ask=b["collusive_ask"],
        zero_profit_ask=b["zero_profit_ask"],
        competitive_profit=b["competitive_profit"],
        collusive_profit=b["collusive_profit"],
        ask_grid=b["grid"].tolist(),
    )
    return out


def _check_memory(spec: Spec, *, seed: int, sessions: int) -> None:
    """Refuse sessions whose Q-tables would take more than 4 GiB (before any work)."""
    m = spec.benchmarks()["grid"].size
    need = MarketMakingSessions.bytes_needed(
        spec.n_makers, m, spec.state_mode(), spec.trade_state, sessions, spec.episode_periods
    )
    if need > 4 * 2**30:
        raise UsageError(
            f"--sessions {sessions}: the Q-tables need {need / 2**30:.1f} GiB; "
            "run fewer sessions at a time"
        )


#: simulate(spec, *, sessions, seed, start=0, threads=None, progress=False): sessions
#: ``start .. start+sessions-1`` to convergence (or the cap), nothing written; returns
#: (sessions frame, impulse frame, model)
simulate = converging_simulate(MarketMakingModel, session_tables, _check_memory)


def compare_metrics(out: Path, summary: dict, spec: Spec) -> dict[str, float]:
    """A seed's figures for ``marketsim compare``: means over its sessions."""
    return {
        "markup_index": float(summary["markup_index_mean"]),
        "markup": float(summary["markup_mean"]),
        "ask": float(summary["ask_mean_mean"]),
        "profit_gain": float(summary["profit_gain_mean"]),
    }


def _timing(model: MarketMakingModel) -> dict:
    return {
        "kernel_seconds": model.kernel_seconds,
        "threads": numba.get_num_threads(),
        "maker_periods_total": model.periods_played * model.spec.n_makers,
    }


#: run(spec, *, sessions, seed, out, threads, progress): write ``sessions.parquet``,
#: ``impulse.parquet`` and ``summary.json``
run = pricing_run(simulate, summarise, _timing, DEFAULT_SESSIONS)


if __name__ == "__main__":
    from marketsim.scenarios._spec import run_as_script

    run_as_script(Spec.name)
