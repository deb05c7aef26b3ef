"""Scenario ``calvano2020``: Q-learning pricing in a logit Bertrand oligopoly.

Calvano, Calzolari, Denicolò & Pastorello (2020), "Artificial Intelligence, Algorithmic
Pricing, and Collusion", AER 110(10): 3267-97. Baseline: n = 2 firms, c = 1, a = 2,
a0 = 0, mu = 0.25, m = 15 prices, xi = 0.1, k = 1, alpha = 0.15, beta = 4e-6,
delta = 0.95; 1,000 sessions, each run until the greedy strategies are stable for
100,000 periods.

Run it as ``marketsim run calvano2020 --sessions 1000 --seed 0 --out runs/calvano`` or
``python scenarios/calvano2020.py --sessions 1000 --seed 0 --out runs/calvano``.
Outputs: ``sessions.parquet`` (one row per session), ``impulse.parquet`` (session, t,
firm, price) and ``summary.json``.
"""

from __future__ import annotations

import time
from typing import Literal

import mesa
import numba
import numpy as np
import polars as pl
from pydantic import Field, field_validator, model_serializer, model_validator

from marketsim.errors import UsageError
from marketsim.logit import LogitMarket, price_index, profit_gain
from marketsim.qlearning import CONVERGED, IMPULSE_PRE, QLearningSessions
from marketsim.qlearning_authors import AuthorsQLearningSessions, authors_game
from marketsim.scenarios._mesa_ids import forget_agent_ids
from marketsim.scenarios._pricing import (
    OUTCOMES,
    LearnerView,
    converging_simulate,
    logit_summary,
    pricing_run,
)
from marketsim.scenarios._spec import (
    LOGIT_VALUE_MAX,
    ScenarioSpec,
    check_logit_market,
    memory_bytes,
)
from marketsim.scenarios.policies import PolicyList, check_market, learner_class, pricing_setup

#: per-session state above this is refused at validation (Q, max and greedy per state)
MAX_SESSION_BYTES = 2 * 2**30
DEFAULT_SESSIONS = 1000


#: seconds numba takes to compile this scenario's kernels on a cold cache (measured on a
#: shared 2-core machine; the "compiling kernels" line quotes it)
COMPILE_SECONDS = 45


class Spec(ScenarioSpec):
    """Parameters of the Calvano et al. (2020) experiment (defaults: the baseline)."""

    name = "calvano2020"
    # 2: every firm deviates from every cycle state, figures pooled as in Table A10
    version = 2

    n_firms: int = Field(2, ge=1, le=8, description="number of firms n")
    m: int = Field(15, ge=2, le=100, description="prices on each firm's grid")
    k: int = Field(1, ge=0, le=4, description="memory: periods of prices in the state")
    alpha: float = Field(0.15, gt=0.0, le=1.0, description="learning rate, in (0, 1]")
    beta: float = Field(4e-6, ge=0.0, lt=1.0, description="exploration decay per period")
    delta: float = Field(0.95, ge=0.0, lt=1.0, description="discount factor, in [0, 1)")
    mu: float = Field(0.25, gt=0.0, le=LOGIT_VALUE_MAX, description="horizontal differentiation")
    a0: float = Field(
        0.0,
        ge=-LOGIT_VALUE_MAX,
        le=LOGIT_VALUE_MAX,
        description="quality of the outside good",
    )
    a: float | list[float] = Field(
        2.0, description="quality a_i (one value or one per firm), within +-1000"
    )
    c: float | list[float] = Field(
        1.0, description="marginal cost c_i (one or one per firm), within +-1000"
    )
    xi: float = Field(0.1, ge=0.0, description="grid extension beyond Nash and monopoly")
    conv_window: int = Field(100_000, ge=1, description="periods of stable strategies")
    max_periods: int = Field(10**9, ge=1, description="cap on periods per session")
    chunk_periods: int = Field(250_000, ge=1, description="periods per Mesa step")
    policy: PolicyList = Field(
        default_factory=list, description="policies (marketsim.scenarios.policies)"
    )
    rng: Literal["default", "authors"] = Field(
        "default",
        description="random numbers: 'default' (one xoshiro256+ stream per session) or "
        "'authors' (the authors' ran2 generator, seeds and order of draws)",
    )
    first_session: int = Field(
        1, ge=1, description="rng=authors: the authors' number (from 1) of the first session"
    )

    @field_validator("a", "c")
    @classmethod
    def _finite(cls, v):
        vals = v if isinstance(v, list) else [v]
        if not all(np.isfinite(vals)):
            raise ValueError("must be finite numbers")
        if any(abs(x) > LOGIT_VALUE_MAX for x in vals):
            raise ValueError(f"must be within [-{LOGIT_VALUE_MAX:g}, {LOGIT_VALUE_MAX:g}]")
        return v

    @model_validator(mode="after")
    def _consistent(self):
        for key in ("a", "c"):
            v = getattr(self, key)
            if isinstance(v, list) and len(v) != self.n_firms:
                raise ValueError(
                    f"{key} has {len(v)} values for {self.n_firms} firms; give one or n_firms"
                )
        check_market(self.policy, "pricing")
        if self.rng == "authors":
            if self.policy:
                raise ValueError(
                    "rng=authors runs the authors' experiment, which has no policies; "
                    "drop policy or use rng=default"
                )
            if self.k < 1 or self.n_firms < 2:
                raise ValueError(
                    "rng=authors needs k >= 1 and n_firms >= 2 (the authors' code redefines "
                    "a memoryless game); use rng=default"
                )
        elif self.first_session != 1:
            raise ValueError(
                "first_session numbers the authors' sessions and needs rng=authors; "
                "default-mode sessions are chosen by --seed"
            )
        check_logit_market(self.a, self.c, self.a0, self.mu)
        need = QLearningSessions.bytes_needed(self.n_firms, self.m, self.k, 1)
        if need > MAX_SESSION_BYTES:
            raise ValueError(
                f"state space m^(n_firms*k) = {self.m}^{self.n_firms * self.k} = "
                f"{self.m ** (self.n_firms * self.k):,} states needs {need / 2**30:.1f} GiB "
                f"per session (limit {MAX_SESSION_BYTES / 2**30:.0f} GiB); lower k, m or n_firms"
            )
        return self

    @model_serializer(mode="wrap")
    def _dump(self, handler):
        # a default-mode spec dumps without the authors'-mode keys, so its outputs, spec
        # hashes and sweep part keys are those of the scenario before the mode existed
        out = handler(self)
        if self.rng == "default" and self.first_session == 1:
            out.pop("rng", None)
            out.pop("first_session", None)
        return out

    def market(self) -> LogitMarket:
        n = self.n_firms
        a = np.broadcast_to(np.asarray(self.a, dtype=float), (n,)).copy()
        c = np.broadcast_to(np.asarray(self.c, dtype=float), (n,)).copy()
        return LogitMarket(a, c, self.a0, self.mu)


class FirmAgent(LearnerView):
    """Thin view of firm ``firm`` across all sessions of a :class:`CalvanoModel`."""

    @property
    def firm(self) -> int:
        return self.index

    @property
    def q(self) -> np.ndarray:
        """Q-values: ndarray(float64, shape (N, S, m))."""
        return self.model.learners.Q[:, self.firm]


class CalvanoModel(mesa.Model):
    """Mesa shell over the Q-learning kernels: each ``step()`` advances every session by
    ``spec.chunk_periods`` periods in one parallel kernel call.

    Parameters
    ----------
    spec : Spec
    sessions : int, number of independent sessions
    seed : int, root seed (session ``b`` uses stream ``start + b``)
    start : int, index of the first session; with ``spec.rng == "authors"`` the first
        session is the authors' session ``spec.first_session + start``
    """

    def __init__(self, spec: Spec, sessions: int, seed: int, start: int = 0):
        super().__init__(seed=seed)
        self.spec = spec
        self.market = spec.market()
        learning = dict(
            alpha=spec.alpha,
            beta=spec.beta,
            delta=spec.delta,
            sessions=sessions,
            conv_window=spec.conv_window,
            max_periods=spec.max_periods,
        )
        if spec.rng == "authors":
            game = authors_game(self.market, spec.m, spec.xi)
            self.grid, self.profit = game["grid"], game["profit"]
            self.nash_profit, self.monopoly_profit = game["nash_profit"], game["monopoly_profit"]
            self.start = spec.first_session + start
            self.learners = AuthorsQLearningSessions(
                self.profit, self.grid, k=spec.k, first=self.start, **learning
            )
        else:
            self.grid = self.market.price_grid(spec.m, spec.xi)
            self.profit = self.market.profit_table(self.grid)
            self.grid, self.profit, k = pricing_setup(
                spec.policy, self.market, self.grid, self.profit, spec.k
            )
            self.nash_profit = self.market.nash_profits()
            self.monopoly_profit = self.market.monopoly_profits()
            self.learners = learner_class(spec.policy)(
                self.profit, self.grid, k=k, seed=seed, start=start, **learning
            )
            self.start = start
        self.periods_played = 0
        self.kernel_seconds = 0.0
        for i in range(spec.n_firms):
            FirmAgent(self, i)
        forget_agent_ids(self)  # the population is fixed: let the model be freed
        self.datacollector = mesa.DataCollector(
            model_reporters={
                "mean_t": lambda m: float(m.learners.t.mean()),
                "converged_share": lambda m: float((m.learners.status == CONVERGED).mean()),
                "running": lambda m: m.learners.running,
            }
        )

    def step(self):
        t0 = time.perf_counter()
        self.periods_played += self.learners.advance(self.spec.chunk_periods)
        self.kernel_seconds += time.perf_counter() - t0
        self.datacollector.collect(self)
        self.running = self.learners.running > 0


def _outcome(length: int, actions: np.ndarray) -> str:
    if length == 1:
        return OUTCOMES[0] if np.all(actions[:, 0] == actions[0, 0]) else OUTCOMES[1]
    return OUTCOMES[2] if length == 2 else OUTCOMES[3]


def session_tables(model: CalvanoModel, seed: int) -> tuple[pl.DataFrame, pl.DataFrame]:
    """The per-session and impulse-response tables of a finished model."""
    spec, lr, grid = model.spec, model.learners, model.grid
    res = lr.analyse()
    n, N = spec.n_firms, lr.state.size
    pn, pm = model.market.nash_prices(), model.market.monopoly_prices()
    pin, pim = model.nash_profit.mean(), model.monopoly_profit.mean()
    L = res["cycle_len"]
    cols: dict[str, object] = {
        "session": np.arange(model.start, model.start + N, dtype=np.int64),
        "seed": np.full(N, seed, dtype=np.int64),
        "converged": lr.status == CONVERGED,
        "periods": np.where(lr.status == CONVERGED, lr.t - spec.conv_window, lr.t),
        "cycle_length": L,
    }
    prices_mean = np.zeros(N)
    for i in range(n):
        acts = [
            res["cycle_actions"][b, i, : min(L[b], res["cycle_actions"].shape[2])] for b in range(N)
        ]
        cols[f"cycle_action_firm{i + 1}"] = [a.tolist() for a in acts]
        cols[f"cycle_prices_firm{i + 1}"] = [grid[i, a].tolist() for a in acts]
        cols[f"cycle_profit_firm{i + 1}"] = res["cycle_profit"][:, i]
        prices_mean += np.array([grid[i, a].mean() for a in acts]) / n
    profit_mean = res["cycle_profit"].mean(axis=1)
    cols["price_mean"] = prices_mean
    cols["price_index"] = price_index(prices_mean, pn.mean(), pm.mean())
    cols["profit_gain"] = profit_gain(profit_mean, pin, pim)
    cols["outcome"] = [_outcome(L[b], res["cycle_actions"][b]) for b in range(N)]
    cols["nash_on_path"] = res["nash_on_path"]
    cols["static_nash_on_path"] = res["static_nash"]
    # each firm deviates from each cycle state: n * L deviations, pooled as the authors do
    cols["deviations"] = n * L
    cols["deviations_unprofitable"] = res["dev_worse"].sum(axis=1)
    cols["deviation_gain"] = res["dev_gain"].mean(axis=1)
    cols["rival_response"] = res["rival_response"].mean(axis=1) if n > 1 else np.full(N, np.nan)
    cols["punishment_length"] = res["punishment"].mean(axis=1)
    sessions = pl.DataFrame(cols)

    ia = res["impulse_actions"]  # (N, n, T)
    T = ia.shape[2]
    t = np.arange(T) - IMPULSE_PRE
    prices = np.stack([grid[i, ia[:, i, :]] for i in range(n)], axis=1)  # (N, n, T)
    impulse = pl.DataFrame(
        {
            "session": np.repeat(cols["session"], n * T),
            "t": np.tile(t, N * n),
            "firm": np.tile(np.repeat(np.arange(1, n + 1), T), N),
            "price": prices.reshape(-1),
        }
    )
    return sessions, impulse


def summarise(sessions: pl.DataFrame, model: CalvanoModel) -> dict:
    """Summary figures of a run (keys documented in the README)."""
    return logit_summary(sessions, model.market, model.grid)


#: periods in one of the authors' episodes; they print times to convergence in episodes
#: with two decimals, so their file's periods are multiples of 250
AUTHORS_EPISODE = 25_000


def match_authors_sessions(sessions: pl.DataFrame, authors: pl.DataFrame) -> pl.DataFrame:
    """Compare an authors'-mode run with the authors' per-session file, session by session.

    Parameters
    ----------
    sessions : the ``sessions`` table of a run with ``rng=authors`` (two firms)
    authors : ``data/calvano2020_baseline_sessions.csv`` (their ``InfoExperiment_1.txt``)

    Returns
    -------
    One row per session of ``sessions`` found in ``authors``: ``session`` and booleans
    ``converged``, ``periods`` (equal once rounded to their 0.01 episode), ``cycle_length``,
    ``cycle_prices`` (both firms' grid indices in their printed order), ``profit_gain``
    (within 1e-4, the precision of their printed profits) and ``identical`` (all five).
    """
    theirs = {row["session"]: row for row in authors.iter_rows(named=True)}
    out: dict[str, list] = {
        k: []
        for k in (
            "session",
            "converged",
            "periods",
            "cycle_length",
            "cycle_prices",
            "profit_gain",
            "identical",
        )
    }
    for row in sessions.iter_rows(named=True):
        ref = theirs.get(row["session"])
        if ref is None:
            continue
        prices = all(
            [a + 1 for a in row[f"cycle_action_firm{i}"]]
            == [int(v) for v in str(ref[f"cycle_price_index_firm{i}"]).split()]
            for i in (1, 2)
        )
        checks = {
            "converged": bool(row["converged"]) == bool(ref["converged"]),
            # as the authors print it: the episodes as a double, rounded to two decimals
            # (59.285 is stored as 59.28499..., so 1,482,125 periods print as 59.28)
            "periods": f"{row['periods'] / AUTHORS_EPISODE:.2f}"
            == f"{ref['periods_to_convergence'] / AUTHORS_EPISODE:.2f}",
            "cycle_length": row["cycle_length"] == ref["cycle_length"],
            "cycle_prices": prices,
            "profit_gain": abs(row["profit_gain"] - ref["profit_gain"]) <= 1e-4,
        }
        out["session"].append(row["session"])
        for k, v in checks.items():
            out[k].append(v)
        out["identical"].append(all(checks.values()))
    return pl.DataFrame(out, schema_overrides={"session": pl.Int64})


def check_run(spec: Spec, *, seed: int, sessions: int | None) -> None:
    """Refuse a run this spec cannot do (before any folder is claimed or work done):
    a nonzero seed in the authors' mode, Q-tables larger than the machine's memory
    (``sessions`` None: the default number)."""
    sessions = DEFAULT_SESSIONS if sessions is None else sessions
    if spec.rng == "authors" and seed != 0:
        raise UsageError(
            f"--seed {seed}: rng=authors uses the authors' fixed seeds (session s explores "
            f"with seed -s); leave --seed at 0 and choose sessions with --set first_session=N"
        )
    need = QLearningSessions.bytes_needed(spec.n_firms, spec.m, spec.k, sessions)
    if need > 0.6 * memory_bytes():
        raise UsageError(
            f"--sessions {sessions}: the Q-tables need {need / 2**30:.1f} GiB, more than 60% "
            f"of this machine's memory; run fewer sessions at a time (or lower k, m, n_firms)"
        )


#: simulate(spec, *, sessions, seed, start=0, threads=None, progress=False): sessions
#: ``start .. start+sessions-1`` to convergence, nothing written; returns (sessions frame,
#: impulse frame, model). With ``spec.rng == "authors"`` the sessions are the authors'
#: sessions ``spec.first_session + start ..`` and ``seed`` must be 0 (their seeds are fixed).
simulate = converging_simulate(CalvanoModel, session_tables, check_run)


def _timing(model: CalvanoModel) -> dict:
    threads = numba.get_num_threads()
    return {
        "kernel_seconds": model.kernel_seconds,
        "threads": threads,
        # kernel time of one session-period on one thread: wall kernel time x threads
        "ns_per_period": model.kernel_seconds * threads / max(model.periods_played, 1) * 1e9,
        "periods_total": model.periods_played,
    }


#: run(spec, *, sessions, seed, out, threads, progress): write ``sessions.parquet``,
#: ``impulse.parquet`` and ``summary.json``
run = pricing_run(simulate, summarise, _timing, DEFAULT_SESSIONS)


if __name__ == "__main__":
    from marketsim.scenarios._spec import run_as_script

    run_as_script(Spec.name)
