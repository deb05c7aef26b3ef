"""Scenario ``llm_pricing``: LLM pricing agents (proxies, or a real LLM) in the logit market.

Fish, Gonczarowski & Shorrer (2024, arXiv 2404.00806) let GPT-4 agents price in the
logit Bertrand market of Calvano et al. (2020) for 300 periods, each seeing the last 100
periods and its own PLANS and INSIGHTS. This scenario runs the behavioural proxy of
:mod:`marketsim.llm_proxy` in thousands of markets at once, optionally against fixed
rivals (Nash or a given price) or Q-learners (``rivals=qlearning``: firms 2..n are
Calvano Q-learners pre-trained in self-play that keep learning online against the proxy,
:mod:`marketsim.mixed`), or lets a real OpenAI-compatible endpoint price
(:mod:`marketsim.llm_backend`; ``--set llm.endpoint=... --set llm.model=...``), with a
JSONL trace that ``--replay TRACE`` (``--set llm.replay=TRACE``) reruns exactly.

Outputs have the columns and keys of ``calvano2020`` so every detector and report works
unchanged. What they mean here:

* the "cycle" is the evaluation window, periods ``eval_start+1 .. periods`` (101-300 by
  default, as in Fish et al.); ``cycle_prices_firm{i}`` is the price path over it,
  ``cycle_action_firm{i}`` the nearest points of the Calvano grid (m = 15, xi = 0.1),
  ``cycle_profit_firm{i}`` the mean profit, ``cycle_length`` the window's length;
* ``converged``: from some period on, every firm's price stays within ``conv_tol`` (5%)
  of its mean over the last ``conv_tail`` (50) periods, and that period is at least
  ``conv_tail`` periods before the end; ``periods`` is that first period (else ``periods``);
* ``outcome``: ``*_constant`` if every firm's price sd over the last ``conv_tail``
  periods is below half a grid step (symmetric if the firms' means are within half a
  step), ``two_cycle`` if prices repeat at lag 2 (mean |p_t - p_{t-2}| below half a
  step while lag-1 changes are larger), else ``longer_cycle``;
* ``nash_on_path``: the firms' mean window prices, snapped to the grid, are a one-shot
  Nash equilibrium of the grid game; ``static_nash_on_path`` the same;
* impulse response (n >= 2, always with the proxy policy): after the last period the
  run is copied twice with the same random state; in one copy firm 1 prices at its
  static best response to the rivals' last prices for one period (t = 0), then every
  firm follows its policy for ``impulse_periods`` periods. ``deviation_gain`` is the
  deviator's discounted (``delta``) profit difference against the undisturbed copy,
  ``deviation_profitable`` whether it is positive, ``rival_response`` the rivals' mean
  relative price difference at t = 1, ``punishment_length`` the number of periods
  t >= 1 in which the rivals price more than 1% below the undisturbed copy.

With ``rivals=qlearning`` the learners are first trained in self-play (every firm a
learner, the ``q_*`` parameters; to convergence or ``q_pretrain_max`` periods), then
firm 1 becomes the proxy and the learners keep their Q-tables and learn online for the
run's ``periods``, exploring at ``q_epsilon`` or, by default, on their self-play schedule
``exp(-q_beta t)`` continued. In the impulse response they go on learning on both copies
(same draws). Extra columns: ``q_pretrain_periods``, ``q_pretrain_converged`` and
``q_strategy_changes`` (greedy changes of the learners during the run).

n_firms = 1 is the monopoly test: Nash and monopoly prices coincide, so ``price_index``
and ``profit_gain`` are undefined (null); ``profit_ratio`` (profit over the monopoly
optimum) and ``optimal_share`` (share of window periods at >= 99% of it) carry the result.
"""

from __future__ import annotations

import time
from pathlib import Path

import mesa
import numba
import numpy as np
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationInfo,
    field_validator,
    model_validator,
)

from marketsim import llm_proxy as K
from marketsim.agents.llm_proxy import PERSONAS, LLMProxyFirm, persona_params
from marketsim.errors import UsageError
from marketsim.llm_backend import (
    LLMBackend,
    LLMSettings,
    build_messages,
    resolve_api_key_env,
    spec_key_env_error,
)
from marketsim.logit import LogitMarket
from marketsim.mixed import MixedMarkets, pretrain
from marketsim.progress import progress_bar
from marketsim.qlearning import QLearningSessions
from marketsim.scenarios._llm_pricing_tables import session_tables, summarise
from marketsim.scenarios._mesa_ids import forget_agent_ids
from marketsim.scenarios._pricing import run_and_write, set_threads, step_to_end
from marketsim.scenarios._spec import (
    LOGIT_VALUE_MAX,
    ScenarioSpec,
    check_logit_market,
    memory_bytes,
)

DEFAULT_SESSIONS = 1000
#: Q-tables of one market's learners may use at most this much memory
MAX_Q_BYTES_PER_MARKET = 256 * 2**20
RIVALS = ("same", "nash", "fixed", "qlearning")


class LLMSpec(BaseModel):
    """The ``llm`` group: a real OpenAI-compatible backend (empty endpoint: proxies only)."""

    model_config = ConfigDict(extra="forbid", validate_assignment=True, allow_inf_nan=False)

    endpoint: str = Field(
        "", description="chat-completions base URL, e.g. http://127.0.0.1:8000/v1"
    )
    model: str = Field("", description="model name sent to the endpoint")
    api_key_env: str = Field(
        "OPENAI_API_KEY",
        description="environment variable of the key; here only *_API_KEY names "
        "(any other: --api-key-env or MARKETSIM_API_KEY_ENV)",
    )
    timeout_s: float = Field(30.0, gt=0.0, description="per-call timeout in seconds")
    retry_budget: int = Field(20, ge=0, description="extra attempts shared by all agents")
    breaker_window: int = Field(
        20, ge=1, le=10_000, description="calls in the breaker's sliding window"
    )
    breaker_min_calls: int = Field(
        10, ge=1, description="calls recorded before the breaker judges the rates"
    )
    breaker_failure_rate: float = Field(
        0.5, gt=0.0, le=1.0, description="failure rate in the window that opens the breaker"
    )
    breaker_slow_rate: float = Field(
        1.0, gt=0.0, le=1.0, description="slow-call rate in the window that opens it"
    )
    breaker_slow_s: float = Field(20.0, gt=0.0, description="a call longer than this is slow")
    breaker_wait_s: float = Field(
        60.0, ge=0.0, description="seconds open before trial calls (half-open)"
    )
    breaker_trial_calls: int = Field(
        3, ge=1, le=1000, description="trial calls half-open; their rates close or reopen it"
    )
    max_wall_s: float = Field(
        3600.0, gt=0.0, description="seconds all calls of a run may take; then the proxy"
    )
    max_calls: int = Field(10_000, ge=0, description="hard cap on calls per run")
    max_tokens: int = Field(5_000_000, ge=0, description="hard cap on tokens per run")
    completion_tokens: int = Field(400, ge=16, description="max_tokens of one reply")
    history: int = Field(100, ge=1, description="rows of history in a prompt")
    replay: str = Field("", description="JSONL trace to replay instead of calling a server")

    @field_validator("api_key_env")
    @classmethod
    def _key_env(cls, v):
        problem = spec_key_env_error(v)
        if problem is not None:
            raise ValueError(problem)
        return v

    @model_validator(mode="after")
    def _breaker(self):
        if self.breaker_min_calls > self.breaker_window:
            raise ValueError(
                f"breaker_min_calls ({self.breaker_min_calls}) exceeds breaker_window "
                f"({self.breaker_window}): the breaker could never open; lower it"
            )
        return self

    @property
    def active(self) -> bool:
        return bool(self.endpoint or self.replay)


#: seconds numba takes to compile this scenario's kernels on a cold cache (20 s of CPU for a first
#: 50-period session, imports included; one core, so about the wall time on a quiet 2-core
#: machine); the "compiling kernels" line quotes it
COMPILE_SECONDS = 15


class Spec(ScenarioSpec):
    """Parameters of the LLM pricing experiment (defaults: Fish et al. 2024, prompt P1)."""

    name = "llm_pricing"
    version = 1

    persona: str = Field("P1", description="prompt persona: P0, P1 or P2")
    n_firms: int = Field(2, ge=1, le=8, description="firms per market")
    window: int = Field(100, ge=2, le=10_000, description="periods of history an agent sees")
    anchoring: float = Field(0.5, ge=0.0, le=1.0, description="weight on recent prices")
    temperature: float = Field(1.0, ge=0.0, le=5.0, description="scales exploration noise")
    monoculture: float = Field(
        1.0, ge=0.0, le=1.0, description="share of firms on one shared base model"
    )
    model_corr: float = Field(
        0.8, ge=0.0, le=1.0, description="error correlation of firms on one base model"
    )
    periods: int = Field(300, ge=2, le=1_000_000, description="periods per session")
    eval_start: int = Field(100, ge=0, description="periods before the evaluation window")
    price_scale: float = Field(1.0, gt=0.0, description="price relabelling alpha (1, 3.2, 10)")
    rivals: str = Field("same", description="firms 2..n: same (persona), nash, fixed, qlearning")
    rival_price: float = Field(1.6, gt=0.0, description="price of 'fixed' rivals")
    mu: float = Field(0.25, gt=0.0, le=LOGIT_VALUE_MAX, description="horizontal differentiation")
    a0: float = Field(
        0.0, ge=-LOGIT_VALUE_MAX, le=LOGIT_VALUE_MAX, description="quality of the outside good"
    )
    a: float = Field(2.0, ge=-LOGIT_VALUE_MAX, le=LOGIT_VALUE_MAX, description="quality a_i")
    c: float = Field(1.0, ge=-LOGIT_VALUE_MAX, le=LOGIT_VALUE_MAX, description="marginal cost c_i")
    delta: float = Field(0.95, ge=0.0, lt=1.0, description="discount factor of deviations")
    impulse_periods: int = Field(15, ge=1, le=1000, description="periods after a deviation")
    conv_tol: float = Field(0.05, gt=0.0, description="relative price band of convergence")
    conv_tail: int = Field(50, ge=2, description="periods of the convergence tail")
    chunk_periods: int = Field(50, ge=1, description="periods per Mesa step (proxies)")
    q_m: int = Field(15, ge=2, le=100, description="Q-learners' grid prices m")
    q_xi: float = Field(0.1, ge=0.0, description="Q grid extension beyond Nash and monopoly")
    q_alpha: float = Field(0.15, gt=0.0, le=1.0, description="Q-learning rate alpha")
    q_beta: float = Field(4e-6, ge=0.0, lt=1.0, description="Q exploration decay beta")
    q_delta: float = Field(0.95, ge=0.0, lt=1.0, description="Q-learners' discount factor")
    q_conv_window: int = Field(100_000, ge=1, description="self-play convergence window")
    q_pretrain_max: int = Field(10**7, ge=1, description="cap on self-play periods")
    q_epsilon: float | None = Field(
        None,
        ge=0.0,
        le=1.0,
        description="constant exploration against the proxy (default: continue exp(-q_beta t))",
    )
    llm: LLMSpec = Field(
        default_factory=LLMSpec,
        description="the LLM backend: llm.endpoint, llm.model, timeouts, circuit breaker "
        "(see the LLM how-to)",
    )

    @field_validator("persona", "rivals")
    @classmethod
    def _known(cls, v, info: ValidationInfo):
        known = PERSONAS if info.field_name == "persona" else RIVALS
        if v not in known:
            raise ValueError(f"unknown {info.field_name} {v!r}; use one of {', '.join(known)}")
        return v

    @model_validator(mode="after")
    def _market(self):
        check_logit_market(self.a, self.c, self.a0, self.mu)
        return self

    @model_validator(mode="after")
    def _learners(self):
        if self.rivals != "qlearning":
            return self
        if self.n_firms < 2:
            raise ValueError("rivals=qlearning needs n_firms >= 2 (firm 1 is the proxy)")
        if self.llm.active:
            raise ValueError("rivals=qlearning runs the proxy only; drop llm.endpoint/replay")
        need = QLearningSessions.bytes_needed(self.n_firms, self.q_m, 1, 1)
        if need > MAX_Q_BYTES_PER_MARKET:
            raise ValueError(
                f"rivals=qlearning: q_m^n_firms = {self.q_m}^{self.n_firms} states need "
                f"{need / 2**20:,.0f} MiB per market (limit "
                f"{MAX_Q_BYTES_PER_MARKET / 2**20:.0f}); lower q_m or n_firms"
            )
        return self

    def market(self) -> LogitMarket:
        return LogitMarket.symmetric(self.n_firms, self.a, self.c, self.a0, self.mu)


class LLMPricingModel(mesa.Model):
    """Mesa shell over :class:`marketsim.llm_proxy.ProxyMarkets`.

    With proxies only, each ``step()`` advances every market by ``chunk_periods`` periods
    in one kernel call; with a real LLM, one period: the kernel proposes proxy prices,
    the backend overwrites the LLM firms' prices it got valid replies for, the kernel
    settles demand.
    """

    def __init__(
        self,
        spec: Spec,
        sessions: int,
        seed: int,
        *,
        backend: LLMBackend | None = None,
        learners: QLearningSessions | None = None,
        start: int = 0,
    ):
        super().__init__(seed=seed)
        self.spec = spec
        self.start = int(start)
        self.market = spec.market()
        n = spec.n_firms
        params = persona_params(
            [spec.persona] * n, spec.anchoring, spec.temperature, spec.model_corr
        )
        kind = np.full(n, K.PROXY, dtype=np.int64)
        fixed = np.zeros(n)
        if spec.rivals in ("nash", "fixed") and n > 1:
            kind[1:] = K.FIXED
            fixed[1:] = self.market.nash_prices()[1:] if spec.rivals == "nash" else spec.rival_price
        options = dict(
            window=spec.window,
            monoculture=spec.monoculture,
            kind=kind,
            fixed_price=fixed,
            start=self.start,
        )
        if spec.rivals == "qlearning":
            if learners is None:
                learners = pretrain_learners(spec, sessions, seed, start=self.start)
            self.markets = MixedMarkets(
                self.market,
                sessions,
                spec.periods,
                params,
                seed,
                learners=learners,
                learner=np.arange(n) > 0,
                epsilon=spec.q_epsilon,
                **options,
            )
        else:
            self.markets = K.ProxyMarkets(
                self.market, sessions, spec.periods, params, seed, **options
            )
        self.backend = backend
        self.notes = [[("", "") for _ in range(n)] for _ in range(sessions)]
        self.kernel_seconds = 0.0
        self.pretrain_seconds = 0.0
        for b in range(min(sessions, 64)):  # views for inspection; the arrays hold all
            for i in range(n):
                LLMProxyFirm(self, self.markets, b, i)
        forget_agent_ids(self)  # the population is fixed: let the model be freed
        self.running = True

    def step(self):
        pm = self.markets
        t0 = time.perf_counter()
        if self.backend is None:
            pm.advance(self.spec.chunk_periods)
        else:
            pm.propose()
            self.kernel_seconds += time.perf_counter() - t0
            self._ask_llm(pm.t)
            t0 = time.perf_counter()
            pm.settle()
        self.kernel_seconds += time.perf_counter() - t0
        self.running = pm.t < pm.T

    def _ask_llm(self, t: int) -> None:
        spec, pm, s = self.spec, self.markets, self.spec.price_scale
        cap = (pm.c.max() + K._MAX_MARKUP_MU * pm.mu) * s
        lo = max(0, t - spec.llm.history)
        for b in range(pm.M):
            for i in range(pm.n):
                if pm.kind[i] != K.PROXY:
                    continue
                history = [
                    {
                        "period": u + 1,
                        "price": pm.prices[b, u, i] * s,
                        "rivals": [pm.prices[b, u, j] * s for j in range(pm.n) if j != i],
                        "quantity": 100.0 * pm.shares[b, u, i],
                        "profit": 100.0 * s * pm.profits[b, u, i],
                    }
                    for u in range(lo, t)
                ]
                plans, insights = self.notes[b][i]
                messages = build_messages(
                    PERSONAS[spec.persona].prompt,
                    cost=pm.c[i] * s,
                    history=history,
                    plans=plans,
                    insights=insights,
                    price_min=0.0,
                    price_max=cap,
                    n_rivals=pm.n - 1,
                )
                d = self.backend.decide(
                    session=self.start + b,
                    firm=i,
                    period=t,
                    messages=messages,
                    price_min=0.0,
                    price_max=cap,
                    tick=0.01 * s,
                )
                if d is not None:
                    pm.prices[b, t, i] = d.price / s
                    self.notes[b][i] = (d.plans, d.insights)


def pretrain_learners(
    spec: Spec, sessions: int, seed: int, on_chunk=None, start: int = 0
) -> QLearningSessions:
    """Self-play of the Q-learners of ``rivals=qlearning`` (one session per market;
    market ``b`` is session ``start + b`` of ``seed``)."""
    return pretrain(
        spec.market(),
        sessions,
        seed,
        m=spec.q_m,
        xi=spec.q_xi,
        alpha=spec.q_alpha,
        beta=spec.q_beta,
        delta=spec.q_delta,
        conv_window=spec.q_conv_window,
        max_periods=spec.q_pretrain_max,
        on_chunk=on_chunk,
        start=start,
    )


def simulate(
    spec: Spec,
    *,
    sessions: int,
    seed: int,
    start: int = 0,
    threads: int | None = None,
    progress: bool = False,
    trace_path: Path | None = None,
    api_key_env: str | None = None,
):
    """Run sessions ``start .. start + sessions - 1`` of ``seed``; nothing but the LLM
    trace is written (a new file if ``trace_path`` exists). A session's numbers do not
    depend on ``start`` or ``sessions`` (without a live LLM), so runs can be split
    (``marketsim sweep``). ``api_key_env`` names the key's environment variable (the
    command line's ``--api-key-env``; see :func:`marketsim.llm_backend.resolve_api_key_env`).

    Returns
    -------
    (sessions frame, impulse frame, model)
    """
    set_threads(threads)
    backend = None
    if spec.llm.active:
        s = spec.llm
        backend = LLMBackend(
            LLMSettings(
                endpoint=s.endpoint,
                model=s.model,
                api_key_env=resolve_api_key_env(s.api_key_env, api_key_env),
                timeout_s=s.timeout_s,
                retry_budget=s.retry_budget,
                breaker_window=s.breaker_window,
                breaker_min_calls=s.breaker_min_calls,
                breaker_failure_rate=s.breaker_failure_rate,
                breaker_slow_rate=s.breaker_slow_rate,
                breaker_slow_s=s.breaker_slow_s,
                breaker_wait_s=s.breaker_wait_s,
                breaker_trial_calls=s.breaker_trial_calls,
                max_wall_s=s.max_wall_s,
                max_calls=s.max_calls,
                max_tokens=s.max_tokens,
                completion_tokens=s.completion_tokens,
                temperature=spec.temperature,
                replay=s.replay,
            ),
            trace_path=None if s.replay else trace_path,
            run_id=f"llm_pricing-{seed}",
            quiet=False,
        )
    learners, pretrain_seconds = None, 0.0
    if spec.rivals == "qlearning":
        learners, pretrain_seconds = _pretrain_with_progress(spec, sessions, seed, progress, start)
    threads_before = numba.get_num_threads()
    try:
        model = LLMPricingModel(
            spec, sessions, seed, backend=backend, learners=learners, start=start
        )
        model.pretrain_seconds = pretrain_seconds
        model.threads = threads_before
        if backend is not None:
            # one kernel call per period: starting numba's threads for each cost 15 ms a
            # period on a loaded 2-core machine, more than the period's work; the numbers
            # do not depend on the thread count
            if threads is None:
                numba.set_num_threads(1)
                model.threads = 1
            model._ask_llm(0)  # period 0: the LLM sets its first price too
            model.markets.settle()
        step_to_end(model, "periods", spec.periods, lambda m: m.markets.t, progress)
    finally:
        numba.set_num_threads(threads_before)
        if backend is not None:
            backend.close()
    frame, impulse = session_tables(model, seed)
    return frame, impulse, model


def _pretrain_with_progress(spec: Spec, sessions: int, seed: int, progress: bool, start=0):
    """Self-play of the learners, with a bar of converged sessions; memory is checked."""
    need = QLearningSessions.bytes_needed(spec.n_firms, spec.q_m, 1, sessions)
    if need > 0.6 * memory_bytes():
        raise UsageError(
            f"--sessions {sessions}: the Q-tables of rivals=qlearning need "
            f"{need / 2**30:.1f} GiB, more than 60% of this machine's memory; run fewer "
            f"sessions (or lower q_m, n_firms)"
        )
    t0 = time.perf_counter()
    if not progress:
        return pretrain_learners(spec, sessions, seed, start=start), time.perf_counter() - t0
    with progress_bar("Q-learners' self-play (converged)", sessions) as update:
        learners = pretrain_learners(
            spec,
            sessions,
            seed,
            start=start,
            on_chunk=lambda q: update(completed=sessions - q.running),
        )
    return learners, time.perf_counter() - t0


def run(
    spec: Spec,
    *,
    sessions: int | None,
    seed: int,
    out,
    threads: int | None = None,
    progress: bool = True,
    api_key_env: str | None = None,
) -> dict:
    """Run the scenario and write ``sessions.parquet``, ``impulse.parquet``, ``summary.json``
    (and, with a live LLM backend, a new trace: ``llm_trace.jsonl``, or ``llm_trace-2.jsonl``,
    ... when earlier runs left theirs; ``summary.json``'s ``llm.trace`` names it)."""
    out = Path(out)
    return run_and_write(
        simulate,
        summarise,
        _timing,
        spec,
        sessions=DEFAULT_SESSIONS if sessions is None else sessions,
        seed=seed,
        out=out,
        threads=threads,
        progress=progress,
        trace_path=out / "llm_trace.jsonl",
        api_key_env=api_key_env,
    )


def _timing(model: LLMPricingModel) -> dict:
    periods_total = model.markets.M * model.spec.periods
    return {
        "kernel_seconds": model.kernel_seconds,
        "threads": model.threads,
        "ns_per_period": model.kernel_seconds * model.threads / max(periods_total, 1) * 1e9,
        "periods_total": periods_total,
    }


if __name__ == "__main__":
    from marketsim.scenarios._spec import run_as_script

    run_as_script(Spec.name)
