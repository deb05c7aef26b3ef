"""The order-book market shared by ``market_calm`` and ``flash_crash_2010``.

A Mesa :class:`OrderBookMarket` owns the struct-of-arrays state of ~1,000 traders and
of one limit order book, and advances the whole market one chunk of simulated time per
Mesa step by calling :func:`marketsim.agents.traders.run_chunk` (event-driven inside: exponential
wake-ups, each trader's order actions matched at once). A session is 09:30-16:00
(6.5 h, ``t_ns`` counted from midnight); a warm-up before the open fills the book.

Outputs (one session): ``trades.parquet`` (t_ns, price_tick, qty, buyer, seller,
aggressor_side), ``book.parquet`` (one-second snapshots: best bid/ask, mid, depth at 5
levels, volume), ``agents.parquet`` (inventory, cash and P&L by trader kind) and
``summary.json``.

Optional LLM-style traders (``llm_traders``, default 0: none, every result unchanged):
the proxy policy of :mod:`marketsim.llm_proxy` inside the trader kernel (kind ``llm``,
see :mod:`marketsim.agents.traders`), on the market's own news and recent returns; the first
``round(llm_monoculture * llm_traders)`` run one base model (shared bias and error).
Measured (one hour, 100 traders, orders of 10 per threshold, seeds 1-3): monoculture
1.0 vs 0.0 raises the mean pairwise correlation of their per-minute net flow from
0.06-0.16 to 0.32-0.67 and the 15-minute drawdown from 0.2-0.8% to 0.6-10.9% (two of
three sessions drive the makers out).

Definitions used in the summary
-------------------------------
- ``max_drawdown``: the largest fall of the one-second mid from a peak to a trough at
  most ``drawdown_window_s`` (900 s) later, as a fraction of the peak;
  ``drawdown_seconds`` is the time from that peak to that trough.
- ``recovery_share``: (highest mid within ``recovery_window_s`` (1,800 s) after the
  trough - trough) / (peak - trough).
- ``hot_potato_ratio``: over the window in which the sell programme trades (the whole
  session when there is none), the high-frequency traders' gross traded volume
  (sum over HFT accounts of contracts bought + sold) divided by the absolute change of
  their aggregate net position, ``max(|net change|, 1)``. Kirilenko et al. (2017) and
  CFTC-SEC (2010, p. 3): ~27,000 contracts traded in 14 s for ~200 net, a ratio ~135.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Annotated

import mesa
import numpy as np
import polars as pl
from pydantic import Field, model_validator

from marketsim.agents.traders import (
    A_ASK_OID,
    A_BID_OID,
    A_BOUGHT,
    A_CASH,
    A_INV,
    A_N_ACTIONS,
    A_QUOTING,
    A_SOLD,
    C_ASK_QTY,
    C_BEST_ASK,
    C_BEST_BID,
    C_BID_QTY,
    C_HFT_GROSS,
    C_HFT_NET,
    C_MID_X2,
    C_MM_INV,
    C_N_ACTIONS,
    C_T_NS,
    C_VOLUME,
    DEPTH_LEVELS,
    FUNDAMENTAL,
    G_EMA0,
    G_F,
    G_F0,
    G_F_KAPPA,
    G_F_SIGMA,
    G_FLOW_SIGMA,
    G_FLOW_TAU,
    G_IMPACT_KEEP,
    G_INFO_ACTIVITY,
    G_INFO_DF,
    G_LAMBDA,
    G_LAST_MID,
    G_LIQ_K,
    G_LLM_ERR_KEEP,
    G_LLM_TEMP,
    G_MM_VOL_COEF,
    G_N_MM,
    G_NEWS_KEEP,
    G_NOISE_GAP,
    G_RATE_BG,
    G_RATE_FAST,
    G_RET_SCALE,
    G_VAR,
    G_VAR_DECAY,
    G_WIDEN,
    G_X_FEEDBACK,
    G_X_SIGMA,
    G_X_TAU,
    HFT,
    I_MM_ASKING,
    I_MM_BIDDING,
    I_N_ACTIONS,
    I_N_FILLS,
    I_N_SNAP,
    I_NEXT_OID,
    I_NEXT_SECOND,
    I_PROG_END_NS,
    I_PROG_START_NS,
    I_PROG_VOLUME_START,
    I_SESSION_END_NS,
    I_SESSION_START_NS,
    I_T_BG,
    I_T_FAST,
    I_VOLUME,
    KIND_NAMES,
    LLM,
    M_BIAS,
    M_ERROR,
    MARKET_MAKER,
    MOMENTUM,
    N_ACCT,
    N_G,
    N_GI,
    N_MODEL_COLS,
    N_PARAMS,
    N_SNAP_COLS,
    NOISE,
    P_A,
    P_B,
    P_C,
    P_D,
    P_LIMIT,
    P_RATE,
    P_SIZE,
    SELL_PROGRAMME,
    LLMTrader,
    Trader,
    run_chunk,
)
from marketsim.io import run_metadata, write_json_atomic, write_parquet_atomic
from marketsim.llm_proxy import base_models
from marketsim.market_rules import (
    BOOK_RULES_IMPLEMENTED,
    UTICKS_PER_TICK,
    owner_counts,
    rules_array,
    rules_report,
)
from marketsim.measures import window_drawdown
from marketsim.orderbook import (
    S_N_ASK,
    S_N_BID,
    default_rules,
    grow_ids,
    grow_orders,
    new_book_arrays,
)
from marketsim.progress import progress_bar
from marketsim.records import FILL_DTYPE, NS_PER_SECOND, SIDE_NAMES
from marketsim.rng import stream_states
from marketsim.scenarios._spec import ScenarioSpec
from marketsim.scenarios.policies import PolicyList, check_market
from marketsim.stylised import stylised_facts

OPEN_NS = (9 * 3600 + 30 * 60) * NS_PER_SECOND  # 09:30
FULL_SESSION_S = 6 * 3600 + 30 * 60  # 09:30-16:00
LLM_STREAM = 1 << 21  # spawn key offset of the LLM base models' error stream


#: fall from the previous close to the opening price (a spec field)
PriorDecline = Annotated[
    float,
    Field(
        ge=-0.5,
        lt=0.5,
        description="fall from the previous close to the opening price (circuit breakers "
        "and the opening LULD reference count from the previous close)",
    ),
]


class MarketSpec(ScenarioSpec):
    """Parameters of the order-book market (no sell programme unless a scenario adds it).

    Rates are wake-ups per trader per second; sizes are contracts; prices are ticks.
    """

    session_seconds: int = Field(
        FULL_SESSION_S,
        ge=60,
        le=FULL_SESSION_S,
        description="session length from 09:30 (shorten for tests)",
    )
    warmup_seconds: int = Field(300, ge=0, le=3600, description="book build-up before the open")
    chunk_seconds: int = Field(300, ge=1, description="simulated seconds per Mesa step")
    tick_size: float = Field(0.01, gt=0, description="price units per tick")
    initial_price_tick: int = Field(
        100_000, ge=100, le=10**7, description="opening price in ticks (100000 = 1000.00)"
    )
    prior_decline: PriorDecline = 0.0

    n_noise: int = Field(800, ge=1, description="noise (zero-intelligence) traders")
    noise_rate: float = Field(0.05, gt=0, description="wake-ups per noise trader per second")
    noise_p_market: float = Field(0.2, ge=0, le=1, description="share of market orders")
    noise_size: float = Field(4.0, ge=1, description="Pareto scale of order sizes")
    noise_size_alpha: float = Field(2.5, gt=1, description="Pareto tail exponent of sizes")
    noise_placement_ticks: float = Field(40.0, ge=0, description="scale of limit placement")
    noise_vol_widening: float = Field(
        0.0, ge=0, description="placement scale growth per tick/s of vol"
    )

    n_fundamental: int = Field(150, ge=0, description="fundamental (value) traders")
    fundamental_rate: float = Field(0.02, gt=0)
    fundamental_size: float = Field(5.0, ge=1)
    fundamental_threshold: float = Field(0.03, gt=0, description="log mispricing to act")
    fundamental_max_multiple: float = Field(10.0, ge=1, description="cap on size multiple")
    fundamental_dispersion: float = Field(0.002, ge=0, description="SD of log valuations")
    fundamental_kappa: float = Field(0.0, ge=0, description="mean reversion per second")
    fundamental_sigma: float = Field(
        0.00006, ge=0, description="news shock SD per second (fraction)"
    )
    info_df: int = Field(4, ge=3, le=30, description="Student-t degrees of freedom of news")
    info_activity: float = Field(1.0, ge=0, description="news SD grows as exp(info_activity x / 2)")
    impact_per_contract: float = Field(
        5e-7, ge=0, description="log reference-price move per contract"
    )
    impact_withdrawal_multiple: float = Field(
        15.0, ge=0, description="extra impact when makers are out"
    )
    impact_decay_seconds: float = Field(
        600.0, ge=0, description="e-folding time of impact (0 = permanent)"
    )

    n_momentum: int = Field(100, ge=0, description="momentum (chartist) traders")
    momentum_rate: float = Field(0.02, gt=0)
    momentum_size: float = Field(4.0, ge=1)
    momentum_threshold: float = Field(0.005, gt=0, description="log trend to act")
    momentum_max_multiple: float = Field(5.0, ge=1)

    n_market_makers: int = Field(10, ge=0)
    mm_rate: float = Field(
        0.1, gt=0, description="extra requotes per second (all requote each second)"
    )
    mm_size: int = Field(25, ge=1)
    mm_half_spread_ticks: float = Field(2.0, ge=0.5)
    mm_vol_coef: float = Field(0.2, ge=0, description="half-spread per tick/s of volatility")
    mm_withdraw_vol: float = Field(40.0, gt=0, description="volatility (ticks/s) to withdraw")
    mm_inventory_limit: int = Field(1500, ge=1)
    mm_withdraw_impact: float = Field(
        0.0045, gt=0, description="|order-flow impact| (log) to withdraw"
    )

    n_hft: int = Field(16, ge=0, description="high-frequency intermediaries")
    hft_rate: float = Field(1.0, gt=0)
    hft_size: int = Field(1, ge=1)
    hft_inventory_limit: int = Field(30, ge=1, description="lay-off threshold (contracts)")
    hft_withdraw_vol: float = Field(50.0, gt=0)

    activity_tau_seconds: float = Field(300.0, gt=1, description="activity memory")
    activity_sigma: float = Field(0.8, ge=0, description="SD of the log-activity level")
    activity_feedback: float = Field(0.3, ge=0, description="activity kick per large move")
    flow_tau_seconds: float = Field(2.0, gt=1, description="memory of order-flow sign")
    flow_sigma: float = Field(0.0, ge=0, description="SD of the order-flow sign logit")
    vol_halflife_seconds: float = Field(20.0, gt=0, description="half-life of realised vol")

    llm_traders: int = Field(
        0, ge=0, le=10_000, description="LLM-style traders (proxy policy; 0 = none)"
    )
    llm_monoculture: float = Field(
        1.0, ge=0, le=1, description="share of LLM traders on one base model"
    )
    llm_rate: float = Field(0.02, gt=0, description="wake-ups per LLM trader per second")
    llm_order_size: float = Field(4.0, ge=1, description="contracts per threshold of signal")
    llm_order_max: int = Field(40, ge=1, description="largest LLM market order")
    llm_news_weight: float = Field(0.5, description="weight on the news / narrative signal")
    llm_trend_weight: float = Field(
        0.2, description="weight on the recent 30-s return in SDs (> 0 momentum, < 0 contrarian)"
    )
    llm_threshold: float = Field(1.5, gt=0, description="|signal| needed to send an order")
    llm_temperature: float = Field(1.0, ge=0, description="scale of a base model's error")
    llm_bias_sd: float = Field(0.3, ge=0, description="SD of a base model's fixed bias")
    llm_error_memory_s: float = Field(
        60.0, gt=0, description="e-folding time of a base model's error"
    )
    llm_news_memory_s: float = Field(
        60.0, gt=0, description="e-folding time of the narrative signal"
    )

    programme: bool = Field(False, description="run the large sell programme")
    programme_qty: int = Field(75_000, ge=1, description="contracts to sell")
    programme_participation: float = Field(0.09, gt=0, lt=1, description="share of volume")
    programme_start_s: int = Field(10_800, ge=0, description="seconds after the open")
    programme_child_max: int = Field(3000, ge=1, description="largest child order")
    programme_rate: float = Field(1.0, gt=0, description="wake-ups per second")

    drawdown_window_s: int = Field(900, ge=1)
    recovery_window_s: int = Field(1800, ge=1)
    policy: PolicyList = Field(default_factory=list, description="market rules (policies)")

    @model_validator(mode="after")
    def _policy(self):
        check_market(self.policy, "book", session_s=self.session_seconds)
        for p in self.policy:
            if p.name not in BOOK_RULES_IMPLEMENTED:
                raise ValueError(
                    f"policy {p.name!r} is not implemented in the order-book "
                    f"market yet; use one of {', '.join(BOOK_RULES_IMPLEMENTED)}"
                )
        return self


def previous_close_tick(spec: MarketSpec) -> int:
    """The previous session's close in ticks: ``initial_price_tick / (1 - prior_decline)``."""
    return round(spec.initial_price_tick / (1.0 - spec.prior_decline))


def _population(spec: MarketSpec, rng: np.random.Generator):
    """Trader kinds and per-trader parameters, ``(kind int64[n], params float64[n, 6])``."""
    groups = [
        (NOISE, spec.n_noise, spec.noise_rate, spec.noise_size),
        (FUNDAMENTAL, spec.n_fundamental, spec.fundamental_rate, spec.fundamental_size),
        (MOMENTUM, spec.n_momentum, spec.momentum_rate, spec.momentum_size),
        (MARKET_MAKER, spec.n_market_makers, spec.mm_rate, spec.mm_size),
        (HFT, spec.n_hft, spec.hft_rate, spec.hft_size),
        (
            SELL_PROGRAMME,
            1 if spec.programme else 0,
            spec.programme_rate,
            max(1, spec.programme_child_max // 10),
        ),
        (LLM, spec.llm_traders, spec.llm_rate, spec.llm_order_size),
    ]
    model_id = base_models(spec.llm_traders, spec.llm_monoculture, 1)[0]
    kinds, rows = [], []
    for kind, n, rate, size in groups:
        for _ in range(n):
            p = np.zeros(N_PARAMS)
            p[P_RATE], p[P_SIZE] = rate, size
            if kind == NOISE:
                p[P_A], p[P_B], p[P_C] = (
                    spec.noise_p_market,
                    spec.noise_placement_ticks,
                    spec.noise_size_alpha,
                )
            elif kind == FUNDAMENTAL:
                p[P_A] = rng.normal(0.0, spec.fundamental_dispersion)
                p[P_B] = spec.fundamental_threshold * rng.uniform(0.5, 1.5)
                p[P_C] = spec.fundamental_max_multiple
            elif kind == MOMENTUM:
                p[P_A] = rng.integers(0, 3)
                p[P_B] = spec.momentum_threshold * rng.uniform(0.5, 1.5)
                p[P_C] = spec.momentum_max_multiple
            elif kind == MARKET_MAKER:
                p[P_A], p[P_B], p[P_C] = (
                    spec.mm_half_spread_ticks,
                    spec.mm_vol_coef,
                    spec.mm_withdraw_vol * rng.uniform(0.7, 1.3),
                )
                p[P_LIMIT] = spec.mm_inventory_limit
                p[P_D] = spec.mm_withdraw_impact * rng.uniform(0.8, 1.2)
            elif kind == HFT:
                p[P_A] = spec.hft_withdraw_vol
                p[P_LIMIT] = spec.hft_inventory_limit
            elif kind == LLM:
                p[P_A], p[P_B], p[P_C] = (
                    spec.llm_news_weight,
                    spec.llm_trend_weight,
                    spec.llm_threshold,
                )
                p[P_LIMIT] = spec.llm_order_max
                p[P_D] = model_id[sum(k == LLM for k in kinds)]
            else:
                p[P_A], p[P_B] = spec.programme_participation, spec.programme_qty
                p[P_C] = spec.programme_start_s
                p[P_LIMIT] = spec.programme_child_max
            kinds.append(kind)
            rows.append(p)
    return np.array(kinds, dtype=np.int64), np.array(rows).reshape(-1, N_PARAMS)


class OrderBookMarket(mesa.Model):
    """A Mesa model over the arrays of one order-book market session.

    Each :meth:`step` advances ``spec.chunk_seconds`` of simulated time in one kernel
    call. ``self.traders`` holds thin :class:`marketsim.agents.traders.Trader` views.
    """

    def __init__(self, spec: MarketSpec, seed: int, session: int = 0):
        super().__init__(rng=int(seed))
        self.spec = spec
        self.session = session
        ss = np.random.SeedSequence(seed, spawn_key=(session,))
        pop_seed, _ = ss.spawn(2)
        pop_rng = np.random.default_rng(pop_seed)
        self.kind, self.params = _population(spec, pop_rng)
        n = self.kind.shape[0]
        # LLM base models: bias (fixed) and error (stationary start); one row per model id
        n_models = int(self.params[self.kind == LLM, P_D].max()) + 1 if spec.llm_traders else 0
        self.llm_model = np.zeros((n_models, N_MODEL_COLS))
        if n_models:  # drawn after the population, so other traders' draws do not move
            draws = pop_rng.standard_normal((spec.llm_traders, N_MODEL_COLS))[:n_models]
            self.llm_model[:, M_BIAS] = spec.llm_bias_sd * draws[:, 0]
            self.llm_model[:, M_ERROR] = draws[:, 1]
        self.llm_rng = stream_states(seed, LLM_STREAM + session, 1)[0].copy()
        self.acct = np.zeros((n, N_ACCT), dtype=np.int64)
        self.acct[:, A_BID_OID] = -1
        self.acct[:, A_ASK_OID] = -1
        self.is_hft = (self.kind == HFT).astype(np.int64)
        bg = np.isin(self.kind, (NOISE, FUNDAMENTAL, MOMENTUM, LLM))
        self.bg_idx = np.flatnonzero(bg).astype(np.int64)
        self.fast_idx = np.flatnonzero(~bg).astype(np.int64)
        rate = self.params[:, P_RATE]
        self.bg_cum = np.cumsum(rate[self.bg_idx]) if self.bg_idx.size else np.ones(1)
        self.fast_cum = np.cumsum(rate[self.fast_idx]) if self.fast_idx.size else np.ones(1)
        p0 = spec.initial_price_tick
        self.levels, self.orders, self.oid_slot, self.bstate = new_book_arrays(
            0, 2 * p0, 8192, 1 << 16
        )
        self.rules = (
            default_rules()
            if not spec.policy
            else rules_array(
                spec.policy,
                tick_size=spec.tick_size,
                prev_close_tick=previous_close_tick(spec),
                open_ns=OPEN_NS,
                close_ns=OPEN_NS + spec.session_seconds * NS_PER_SECOND,
                n_owners=n,
            )
        )
        self.fills = np.zeros(1 << 16, dtype=FILL_DTYPE)
        self._fill_parts: list[np.ndarray] = []
        self.g = np.zeros(N_G)
        self.g[G_F] = self.g[G_F0] = p0
        self.g[G_F_KAPPA] = spec.fundamental_kappa
        self.g[G_F_SIGMA] = spec.fundamental_sigma  # a fraction: log shocks
        self.g[G_X_TAU] = spec.activity_tau_seconds
        self.g[G_X_SIGMA] = spec.activity_sigma
        self.g[G_X_FEEDBACK] = spec.activity_feedback
        self.g[G_FLOW_TAU] = spec.flow_tau_seconds
        self.g[G_WIDEN] = spec.noise_vol_widening
        self.g[G_FLOW_SIGMA] = spec.flow_sigma
        self.g[G_INFO_DF] = spec.info_df
        self.g[G_INFO_ACTIVITY] = spec.info_activity
        self.g[G_LAMBDA] = spec.impact_per_contract
        self.g[G_LIQ_K] = spec.impact_withdrawal_multiple
        self.g[G_NOISE_GAP] = spec.mm_half_spread_ticks + 1.0
        self.g[G_MM_VOL_COEF] = spec.mm_vol_coef
        self.g[G_IMPACT_KEEP] = (
            np.exp(-1.0 / spec.impact_decay_seconds) if spec.impact_decay_seconds > 0 else 1.0
        )
        self.g[G_NEWS_KEEP] = np.exp(-1.0 / spec.llm_news_memory_s)
        self.g[G_LLM_ERR_KEEP] = np.exp(-1.0 / spec.llm_error_memory_s)
        self.g[G_LLM_TEMP] = spec.llm_temperature
        n_mm = int((self.kind == MARKET_MAKER).sum())
        self.g[G_N_MM] = n_mm
        self.acct[self.kind == MARKET_MAKER, A_QUOTING] = 3
        self.g[G_VAR_DECAY] = 0.5 ** (1.0 / spec.vol_halflife_seconds)
        self.g[G_VAR] = 1.0
        self.g[G_RET_SCALE] = 1.0
        self.g[G_LAST_MID] = 2 * p0
        self.g[G_EMA0 : G_EMA0 + 3] = p0
        self.g[G_RATE_BG] = self.bg_cum[-1] if self.bg_idx.size else 1e-12
        self.g[G_RATE_FAST] = self.fast_cum[-1] if self.fast_idx.size else 1e-12
        self.gi = np.zeros(N_GI, dtype=np.int64)
        start = OPEN_NS - spec.warmup_seconds * NS_PER_SECOND
        self.gi[I_SESSION_START_NS] = OPEN_NS
        self.gi[I_SESSION_END_NS] = OPEN_NS + spec.session_seconds * NS_PER_SECOND
        self.gi[I_NEXT_SECOND] = OPEN_NS
        never = np.iinfo(np.int64).max  # a group without traders never wakes
        self.gi[I_T_BG] = start if self.bg_idx.size else never
        self.gi[I_T_FAST] = start if self.fast_idx.size else never
        self.gi[I_PROG_START_NS] = OPEN_NS + spec.programme_start_s * NS_PER_SECOND
        self.gi[I_PROG_END_NS] = -1
        self.gi[I_PROG_VOLUME_START] = -1
        self.gi[I_MM_BIDDING] = self.gi[I_MM_ASKING] = n_mm
        self.rng_state = stream_states(seed, session, 1)[0].copy()
        self.snap = np.zeros((spec.session_seconds + 1, N_SNAP_COLS), dtype=np.int64)
        self.t_ns = start
        self.end_ns = int(self.gi[I_SESSION_END_NS])
        self.kernel_seconds = 0.0
        self.traders = [(LLMTrader if self.kind[i] == LLM else Trader)(self, i) for i in range(n)]
        self.running = True

    def _drain(self):
        n = int(self.gi[I_N_FILLS])
        if n:
            self._fill_parts.append(self.fills[:n].copy())
        self.gi[I_N_FILLS] = 0

    def step(self):
        """Advance the market by ``chunk_seconds`` (to the close at most)."""
        stop = min(self.t_ns + self.spec.chunk_seconds * NS_PER_SECOND, self.end_ns + 1)
        t0 = time.perf_counter()
        while True:
            code = run_chunk(
                stop,
                self.kind,
                self.params,
                self.acct,
                self.is_hft,
                self.bg_idx,
                self.bg_cum,
                self.fast_idx,
                self.fast_cum,
                self.levels,
                self.orders,
                self.oid_slot,
                self.bstate,
                self.rules,
                self.fills,
                self.g,
                self.gi,
                self.rng_state,
                self.snap,
                self.llm_model,
                self.llm_rng,
            )
            self._drain()
            if code == 0:
                break
            resting = int(self.bstate[S_N_BID] + self.bstate[S_N_ASK])
            if self.orders.shape[1] - resting < 64:
                self.orders = grow_orders(self.orders, self.bstate)
            if self.gi[I_NEXT_OID] + 64 >= self.oid_slot.shape[0]:
                self.oid_slot = grow_ids(self.oid_slot, int(self.gi[I_NEXT_OID]) + 64)
            if self.fills.shape[0] < 2 * resting + 64:
                self.fills = np.zeros(2 * self.fills.shape[0], dtype=FILL_DTYPE)
        self.kernel_seconds += time.perf_counter() - t0
        self.t_ns = stop
        if self.t_ns > self.end_ns:
            self.running = False

    def fills_all(self) -> np.ndarray:
        """Every fill of the session so far, ``ndarray(FILL_DTYPE)``."""
        if not self._fill_parts:
            return np.zeros(0, dtype=FILL_DTYPE)
        if len(self._fill_parts) > 1:
            self._fill_parts = [np.concatenate(self._fill_parts)]
        return self._fill_parts[0]

    @property
    def order_actions(self) -> int:
        return int(self.gi[I_N_ACTIONS])

    @property
    def volume(self) -> int:
        return int(self.gi[I_VOLUME])


# ====================================================================================
# tables and statistics
# ====================================================================================


def trades_frame(model: OrderBookMarket) -> pl.DataFrame:
    """The trade tape: ``t_ns, price_tick, qty, buyer, seller, aggressor_side``."""
    f = model.fills_all()
    return pl.DataFrame(
        {
            "t_ns": f["t_ns"],
            "price_tick": f["price_tick"],
            "qty": f["qty"],
            "buyer": f["buyer"],
            "seller": f["seller"],
            "aggressor_side": pl.Series(
                np.array(SIDE_NAMES)[f["aggressor_side"]], dtype=pl.Enum(list(SIDE_NAMES))
            ),
        }
    )


def book_frame(model: OrderBookMarket) -> pl.DataFrame:
    """One row per second: best quotes, mid, depth at 5 levels, volume in that second."""
    s = model.snap[: int(model.gi[I_N_SNAP])]
    cum_vol = s[:, C_VOLUME]
    cols = {
        "t_ns": s[:, C_T_NS],
        "best_bid_tick": pl.Series(s[:, C_BEST_BID]),
        "best_ask_tick": pl.Series(s[:, C_BEST_ASK]),
        "mid_tick": s[:, C_MID_X2] / 2.0,
    }
    for k in range(DEPTH_LEVELS):
        cols[f"bid_qty_{k + 1}"] = s[:, C_BID_QTY + k]
    for k in range(DEPTH_LEVELS):
        cols[f"ask_qty_{k + 1}"] = s[:, C_ASK_QTY + k]
    cols["volume"] = np.diff(cum_vol, prepend=cum_vol[:1] if len(cum_vol) else cum_vol)
    cols["order_actions"] = np.diff(s[:, C_N_ACTIONS], prepend=s[:1, C_N_ACTIONS])
    cols["hft_gross_volume"] = s[:, C_HFT_GROSS]
    cols["hft_net_position"] = s[:, C_HFT_NET]
    cols["mm_inventory"] = s[:, C_MM_INV]
    frame = pl.DataFrame(cols)
    # an empty side is a null quote, not a price
    return frame.with_columns(
        pl.when(pl.col(c) >= 0).then(pl.col(c)).alias(c) for c in ("best_bid_tick", "best_ask_tick")
    )


def agents_frame(model: OrderBookMarket) -> pl.DataFrame:
    """Final inventory, cash and P&L by trader kind (cash and P&L in price units)."""
    mid = model.g[G_LAST_MID] / 2.0
    a = model.acct
    tick = model.spec.tick_size
    per = pl.DataFrame(
        {
            "kind": np.array(KIND_NAMES)[model.kind],
            "inventory": a[:, A_INV],
            "cash_ticks": a[:, A_CASH],
            "bought": a[:, A_BOUGHT],
            "sold": a[:, A_SOLD],
            "order_actions": a[:, A_N_ACTIONS],
            "pnl": (a[:, A_CASH] + a[:, A_INV] * mid) * tick,
        }
    )
    taxed = any(p.name == "tax" for p in model.spec.policy)
    if taxed:  # taxes leave the traders' cash for the regulator's (see market_rules)
        paid = owner_counts(model.rules)["tax_uticks"] / UTICKS_PER_TICK
        per = per.with_columns(
            pl.Series("taxes_paid", paid * tick), pnl=pl.col("pnl") - paid * tick
        )
    frame = per.group_by("kind", maintain_order=True).agg(
        pl.len().alias("n_agents"),
        pl.col("inventory").sum(),
        pl.col("cash_ticks").sum(),
        (pl.col("cash_ticks").sum() * tick).alias("cash"),
        pl.col("pnl").sum(),
        pl.col("bought").sum(),
        pl.col("sold").sum(),
        pl.col("order_actions").sum(),
        (pl.col("inventory").abs().max()).alias("max_abs_inventory"),
        *([pl.col("taxes_paid").sum()] if taxed else []),
    )
    if taxed:  # the regulator's row: cash less taxes, summed over every row, is unchanged
        frame = pl.concat(
            [
                frame,
                pl.DataFrame({"kind": ["regulator"], "taxes_paid": [-float(paid.sum()) * tick]}),
            ],
            how="diagonal_relaxed",
        )
    return frame


def hot_potato(book: pl.DataFrame, start_s: int | None, end_s: int | None) -> dict:
    """HFT gross volume / |net position change| over seconds ``[start_s, end_s]``."""
    gross = book["hft_gross_volume"].to_numpy()
    net = book["hft_net_position"].to_numpy()
    if gross.size == 0:
        return {"hot_potato_ratio": None, "hft_gross_volume": 0, "hft_net_change": 0}
    a = 0 if start_s is None else min(max(start_s, 0), gross.size - 1)
    b = gross.size - 1 if end_s is None else min(max(end_s, a), gross.size - 1)
    g = int(gross[b] - gross[a])
    d = int(net[b] - net[a])
    return {"hot_potato_ratio": g / max(abs(d), 1), "hft_gross_volume": g, "hft_net_change": d}


def simulate(
    spec: MarketSpec,
    *,
    seed: int,
    session: int = 0,
    progress: bool = False,
    label: str = "simulated minutes",
) -> OrderBookMarket:
    """Run one session to the close; nothing is written."""
    model = OrderBookMarket(spec, seed, session)
    total = (model.end_ns - model.t_ns) / NS_PER_SECOND / 60
    start = model.t_ns
    count = "{task.completed:.0f}/{task.total:.0f}"
    with progress_bar(label, total, enabled=progress, count=count) as update:
        while model.running:
            model.step()
            update(completed=min((model.t_ns - start) / NS_PER_SECOND / 60, total))
    return model


def session_summary(model: OrderBookMarket, book: pl.DataFrame) -> dict:
    """Summary figures of one finished session (see the module docstring)."""
    spec = model.spec
    mid = book["mid_tick"].to_numpy()
    out = window_drawdown(mid, spec.drawdown_window_s, spec.recovery_window_s)
    prog = None
    if spec.programme:
        i = int(np.flatnonzero(model.kind == SELL_PROGRAMME)[0])
        end_ns = int(model.gi[I_PROG_END_NS])
        prog = {
            "start_s": spec.programme_start_s,
            "end_s": None if end_ns < 0 else (end_ns - OPEN_NS) / NS_PER_SECOND,
            "sold": int(model.acct[i, A_SOLD]),
            "target_qty": spec.programme_qty,
            "volume_since_start": int(model.gi[I_VOLUME] - model.gi[I_PROG_VOLUME_START])
            if model.gi[I_PROG_VOLUME_START] >= 0
            else 0,
        }
        hp = hot_potato(
            book, spec.programme_start_s, None if prog["end_s"] is None else int(prog["end_s"]) + 1
        )
    else:
        hp = hot_potato(book, None, None)
    cash = model.acct[:, A_CASH]
    inv = model.acct[:, A_INV]
    return {
        **out,
        **hp,
        "volume": model.volume,
        "order_actions": model.order_actions,
        "n_agents": int(model.kind.shape[0]),
        "trades": int(model.fills_all().shape[0]),
        "open_mid_tick": float(mid[0]) if mid.size else None,
        "close_mid_tick": float(mid[-1]) if mid.size else None,
        "cash_sum_ticks": int(cash.sum()),
        "inventory_sum": int(inv.sum()),
        "programme": prog,
        "stylised": stylised_facts(mid),
        **rules_report(model.rules),
    }


def run_market(
    spec: MarketSpec, *, sessions: int | None, seed: int, out, progress: bool = True
) -> dict:
    """Run ``sessions`` sessions (default 1); write the tables and ``summary.json``.

    With several sessions every table gets a ``session`` column and the summary holds
    one entry per session under ``sessions`` (the top-level figures are session 0's).
    """
    sessions = 1 if sessions is None else sessions
    out = Path(out)
    t0 = time.perf_counter()
    trades, books, agents, summaries = [], [], [], []
    kernel_seconds = 0.0
    for s in range(sessions):
        model = simulate(
            spec, seed=seed, session=s, progress=progress, label=f"session {s}: simulated minutes"
        )
        kernel_seconds += model.kernel_seconds
        book = book_frame(model)
        summ = session_summary(model, book)
        summ["session"] = s
        summaries.append(summ)
        tag = pl.lit(s, dtype=pl.Int64).alias("session")
        trades.append(
            trades_frame(model).with_columns(tag) if sessions > 1 else trades_frame(model)
        )
        books.append(book.with_columns(tag) if sessions > 1 else book)
        agents.append(
            agents_frame(model).with_columns(tag) if sessions > 1 else agents_frame(model)
        )
    wall = time.perf_counter() - t0
    write_parquet_atomic(pl.concat(trades), out / "trades.parquet")
    write_parquet_atomic(pl.concat(books), out / "book.parquet")
    write_parquet_atomic(pl.concat(agents), out / "agents.parquet")
    actions = sum(x["order_actions"] for x in summaries)
    summary = {
        **spec.describe(),
        "seed": seed,
        **summaries[0],
        "sessions": summaries if sessions > 1 else None,
        "wall_seconds": wall,
        "kernel_seconds": kernel_seconds,
        "actions_per_second": actions / max(kernel_seconds, 1e-12),
        **run_metadata(),
    }
    write_json_atomic(summary, out / "summary.json")
    return summary
