"""The order-book market as a Mesa model: :class:`OrderBookMarket` owns the struct-of-arrays
state of the traders and of one limit order book, and advances the whole market one chunk
of simulated time per Mesa step through :func:`marketsim.agents.traders.run_chunk`;
``_population`` draws the traders from the spec.
"""

from __future__ import annotations

import time

import mesa
import numpy as np

from marketsim.agents import traders as T
from marketsim.agents.traders import Clocks, LLMTrader, Market, Trader, Traders, run_chunk
from marketsim.llm_proxy import base_models
from marketsim.market_rules import rules_array
from marketsim.orderbook import layout as L
from marketsim.records import FILL_DTYPE, NS_PER_SECOND, OPEN_NS
from marketsim.rng import stream_states
from marketsim.scenarios._market_spec import LLM_STREAM, MarketSpec, previous_close_tick
from marketsim.scenarios._mesa_ids import forget_agent_ids


def _tolerance_factor(u: float, spread: float) -> float:
    """A market maker's impact tolerance over the spec's, from one uniform draw ``u``.

    ``(0.8 + 0.4 u) exp(spread (2u - 1))``: the calm market's +-20% (``spread = 0`` gives
    ``rng.uniform(0.8, 1.2)`` bit for bit) widened by a log-uniform factor, so that the
    makers range from ``0.8 e^-spread`` to ``1.2 e^spread`` times the tolerance, ordered
    as before (flash_crash_2010's ``mm_withdraw_impact_spread``; other specs have none)."""
    f = 0.8 + (1.2 - 0.8) * u  # as numpy's uniform(0.8, 1.2) computes it
    return f if spread == 0.0 else f * float(np.exp(spread * (2.0 * u - 1.0)))


def _population(spec: MarketSpec, rng: np.random.Generator):
    """Trader kinds and parameters: ``kind`` int64[n], ``params`` float64[n, N_PARAMS]."""
    groups = [
        (T.NOISE, spec.n_noise, spec.noise_rate, spec.noise_size),
        (T.FUNDAMENTAL, spec.n_fundamental, spec.fundamental_rate, spec.fundamental_size),
        (T.MOMENTUM, spec.n_momentum, spec.momentum_rate, spec.momentum_size),
        (T.MARKET_MAKER, spec.n_market_makers, spec.mm_rate, spec.mm_size),
        (T.HFT, spec.n_hft, spec.hft_rate, spec.hft_size),
        (
            T.SELL_PROGRAMME,
            1 if spec.programme else 0,
            spec.programme_rate,
            max(1, spec.programme_child_max // 10),
        ),
        (T.LLM, spec.llm_traders, spec.llm_rate, spec.llm_order_size),
    ]
    model_id = base_models(spec.llm_traders, spec.llm_monoculture, 1)[0]
    kinds, rows = [], []
    for kind, n, rate, size in groups:
        for _ in range(n):
            p = np.zeros(T.N_PARAMS)
            p[T.P_RATE], p[T.P_SIZE] = rate, size
            if kind == T.NOISE:
                p[T.P_A], p[T.P_B], p[T.P_C] = (
                    spec.noise_p_market,
                    spec.noise_placement_ticks,
                    spec.noise_size_alpha,
                )
            elif kind == T.FUNDAMENTAL:
                p[T.P_A] = rng.normal(0.0, spec.fundamental_dispersion)
                p[T.P_B] = spec.fundamental_threshold * rng.uniform(0.5, 1.5)
                p[T.P_C] = spec.fundamental_max_multiple
            elif kind == T.MOMENTUM:
                p[T.P_A] = rng.integers(0, 3)
                p[T.P_B] = spec.momentum_threshold * rng.uniform(0.5, 1.5)
                p[T.P_C] = spec.momentum_max_multiple
            elif kind == T.MARKET_MAKER:
                p[T.P_A], p[T.P_B], p[T.P_C] = (
                    spec.mm_half_spread_ticks,
                    spec.mm_vol_coef,
                    spec.mm_withdraw_vol * rng.uniform(0.7, 1.3),
                )
                p[T.P_LIMIT] = spec.mm_inventory_limit
                # one draw sets both tolerances: a maker tolerant of the price's
                # displacement is as tolerant of one-sided flow (no draw added); the
                # impact tolerance alone is widened by mm_withdraw_impact_spread
                u = rng.random()
                p[T.P_D] = spec.mm_withdraw_impact * _tolerance_factor(
                    u, getattr(spec, "mm_withdraw_impact_spread", 0.0)
                )
                p[T.P_MM_WITHDRAW_TOXICITY] = getattr(
                    spec, "mm_withdraw_toxicity", 0.0
                ) * _tolerance_factor(u, 0.0)
            elif kind == T.HFT:
                p[T.P_A] = spec.hft_withdraw_vol
                # flash_crash_2010's mean reversion; other order-book specs have none
                p[T.P_HFT_HALF_LIFE] = getattr(spec, "hft_inventory_half_life_s", 0.0)
                p[T.P_LIMIT] = spec.hft_inventory_limit
            elif kind == T.LLM:
                p[T.P_A], p[T.P_B], p[T.P_C] = (
                    spec.llm_news_weight,
                    spec.llm_trend_weight,
                    spec.llm_threshold,
                )
                p[T.P_LIMIT] = spec.llm_order_max
                p[T.P_D] = model_id[sum(k == T.LLM for k in kinds)]
            else:
                p[T.P_A], p[T.P_B] = spec.programme_participation, spec.programme_qty
                p[T.P_C] = spec.programme_start_s
                p[T.P_LIMIT] = spec.programme_child_max
                # flash_crash_2010's seller; other order-book specs sell aggressively
                p[T.P_D] = 1.0 if getattr(spec, "seller", "aggressive") == "passive" else 0.0
            kinds.append(kind)
            rows.append(p)
    return np.array(kinds, dtype=np.int64), np.array(rows).reshape(-1, T.N_PARAMS)


class OrderBookMarket(mesa.Model):
    """A Mesa model over the arrays of one order-book market session.

    Each :meth:`step` advances ``spec.chunk_seconds`` of simulated time in one kernel
    call (the arrays travel to it as the bundles ``self.trader_arrays``, a
    :class:`~marketsim.agents.traders.Traders`, ``self.clocks``, a
    :class:`~marketsim.agents.traders.Clocks`, and a
    :class:`~marketsim.agents.traders.Market` around the book). ``self.traders`` holds thin
    :class:`marketsim.agents.traders.Trader` views.
    """

    def __init__(
        self,
        spec: MarketSpec,
        seed: int,
        session: int = 0,
        capacity: tuple[int, int, int] = (8192, 1 << 16, 1 << 16),
    ):
        super().__init__(rng=int(seed))
        self.spec = spec
        self.session = session
        ss = np.random.SeedSequence(seed, spawn_key=(session,))
        pop_seed, _ = ss.spawn(2)
        pop_rng = np.random.default_rng(pop_seed)
        self.kind, self.params = _population(spec, pop_rng)
        n = self.kind.shape[0]
        # T.LLM base models: bias (fixed) and error (stationary start); one row per model id
        n_models = int(self.params[self.kind == T.LLM, T.P_D].max()) + 1 if spec.llm_traders else 0
        self.llm_model = np.zeros((n_models, T.N_MODEL_COLS))
        if n_models:  # drawn after the population, so other traders' draws do not move
            draws = pop_rng.standard_normal((spec.llm_traders, T.N_MODEL_COLS))[:n_models]
            self.llm_model[:, T.M_BIAS] = spec.llm_bias_sd * draws[:, 0]
            self.llm_model[:, T.M_ERROR] = draws[:, 1]
        self.llm_rng = stream_states(seed, LLM_STREAM + session, 1)[0].copy()
        self.acct = np.zeros((n, T.N_ACCT), dtype=np.int64)
        self.acct[:, T.A_BID_OID] = -1
        self.acct[:, T.A_ASK_OID] = -1
        self.is_hft = (self.kind == T.HFT).astype(np.int64)
        bg = np.isin(self.kind, (T.NOISE, T.FUNDAMENTAL, T.MOMENTUM, T.LLM))
        self.bg_idx = np.flatnonzero(bg).astype(np.int64)
        self.fast_idx = np.flatnonzero(~bg).astype(np.int64)
        rate = self.params[:, T.P_RATE]
        self.bg_cum = np.cumsum(rate[self.bg_idx]) if self.bg_idx.size else np.ones(1)
        self.fast_cum = np.cumsum(rate[self.fast_idx]) if self.fast_idx.size else np.ones(1)
        p0 = spec.initial_price_tick
        # initial order slots, order ids and fill records; each grows (doubling) when the
        # chunk kernel asks, so the numbers do not depend on them
        n_slots, n_ids, n_fills = capacity
        self.levels, self.orders, self.oid_slot, self.bstate = L.new_book_arrays(
            0, 2 * p0, n_slots, n_ids
        )
        self.rules = (
            L.default_rules()
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
        self.fills = np.zeros(n_fills, dtype=FILL_DTYPE)
        self._fill_parts: list[np.ndarray] = []
        self.g = np.zeros(T.N_G)
        self.g[T.G_F] = self.g[T.G_F0] = p0
        self.g[T.G_F_KAPPA] = spec.fundamental_kappa
        self.g[T.G_F_SIGMA] = spec.fundamental_sigma  # a fraction: log shocks
        self.g[T.G_X_TAU] = spec.activity_tau_seconds
        self.g[T.G_X_SIGMA] = spec.activity_sigma
        self.g[T.G_X_FEEDBACK] = spec.activity_feedback
        self.g[T.G_FLOW_TAU] = spec.flow_tau_seconds
        self.g[T.G_WIDEN] = spec.noise_vol_widening
        self.g[T.G_FLOW_SIGMA] = spec.flow_sigma
        self.g[T.G_INFO_DF] = spec.info_df
        self.g[T.G_INFO_ACTIVITY] = spec.info_activity
        self.g[T.G_LAMBDA] = spec.impact_per_contract
        self.g[T.G_LIQ_K] = spec.impact_withdrawal_multiple
        self.g[T.G_NOISE_GAP] = spec.mm_half_spread_ticks + 1.0
        self.g[T.G_MM_VOL_COEF] = spec.mm_vol_coef
        self.g[T.G_IMPACT_KEEP] = (
            np.exp(-1.0 / spec.impact_decay_seconds) if spec.impact_decay_seconds > 0 else 1.0
        )
        self.g[T.G_NEWS_KEEP] = np.exp(-1.0 / spec.llm_news_memory_s)
        self.g[T.G_LLM_ERR_KEEP] = np.exp(-1.0 / spec.llm_error_memory_s)
        self.g[T.G_LLM_TEMP] = spec.llm_temperature
        mm = np.flatnonzero(self.kind == T.MARKET_MAKER)
        n_mm = mm.size
        self.g[T.G_N_MM] = n_mm
        self.acct[mm, T.A_QUOTING] = 3
        self.g[T.G_VAR_DECAY] = 0.5 ** (1.0 / spec.vol_halflife_seconds)
        self.g[T.G_VAR] = 1.0
        self.g[T.G_RET_SCALE] = 1.0
        # the volume-volatility relation: off (a multiple of 1) unless the spec sets it
        self.g[T.G_VOL_ELASTICITY] = getattr(spec, "activity_vol_elasticity", 0.0)
        self.g[T.G_VAR_SLOW_KEEP] = 0.5 ** (1.0 / getattr(spec, "activity_vol_memory_s", 1800.0))
        self.g[T.G_VAR_SLOW] = self.g[T.G_VAR]
        self.g[T.G_VOL_ACTIVITY] = 1.0
        # flow toxicity (VPIN): on when the spec gives the makers a tolerance
        if getattr(spec, "mm_withdraw_toxicity", 0.0) > 0.0:
            self.g[T.G_TOX_BUCKET] = spec.toxicity_bucket_contracts
            self.g[T.G_TOX_N] = spec.toxicity_buckets
            self.g[T.G_TOX_OTHERS] = 0.0 if spec.toxicity_counts_makers else 1.0
            self.g[T.G_TOX_ONE_SIDED] = 1.0 if spec.toxicity_one_sided else 0.0
        # the first round(share x makers) makers, beyond their impact tolerance, withdraw
        # only the side the flow hits; the others both (their draws are independent of
        # their order, so which makers are one-sided is independent of their tolerances)
        k = int(round(getattr(spec, "mm_one_sided_share", 0.0) * n_mm))
        self.g[T.G_IMPACT_ONE_SIDED] = mm[k - 1] + 1 if k > 0 else 0
        self.g[T.G_LAST_MID] = 2 * p0
        self.g[T.G_EMA0 : T.G_EMA0 + 3] = p0
        self.g[T.G_RATE_BG] = self.bg_cum[-1] if self.bg_idx.size else 1e-12
        self.g[T.G_RATE_FAST] = self.fast_cum[-1] if self.fast_idx.size else 1e-12
        self.gi = np.zeros(T.N_GI, dtype=np.int64)
        start = OPEN_NS - spec.warmup_seconds * NS_PER_SECOND
        self.gi[T.I_SESSION_START_NS] = OPEN_NS
        self.gi[T.I_SESSION_END_NS] = OPEN_NS + spec.session_seconds * NS_PER_SECOND
        self.gi[T.I_NEXT_SECOND] = OPEN_NS
        never = np.iinfo(np.int64).max  # a group without traders never wakes
        self.gi[T.I_T_BG] = start if self.bg_idx.size else never
        self.gi[T.I_T_FAST] = start if self.fast_idx.size else never
        self.gi[T.I_PROG_START_NS] = OPEN_NS + spec.programme_start_s * NS_PER_SECOND
        self.gi[T.I_PROG_END_NS] = -1
        self.gi[T.I_PROG_VOLUME_START] = -1
        self.gi[T.I_MM_BIDDING] = self.gi[T.I_MM_ASKING] = n_mm
        self.rng_state = stream_states(seed, session, 1)[0].copy()
        self.snap = np.zeros((spec.session_seconds + 1, T.N_SNAP_COLS), dtype=np.int64)
        self.t_ns = start
        self.end_ns = int(self.gi[T.I_SESSION_END_NS])
        self.kernel_seconds = 0.0
        self.trader_arrays = Traders(self.kind, self.params, self.acct, self.is_hft)
        self.clocks = Clocks(self.bg_idx, self.bg_cum, self.fast_idx, self.fast_cum)
        self.traders = [(LLMTrader if self.kind[i] == T.LLM else Trader)(self, i) for i in range(n)]
        forget_agent_ids(self)  # the population is fixed: let the model be freed
        self.running = True

    def _drain(self):
        n = int(self.gi[T.I_N_FILLS])
        if n:
            self._fill_parts.append(self.fills[:n].copy())
        self.gi[T.I_N_FILLS] = 0

    def step(self):
        """Advance the market by ``chunk_seconds`` (to the close at most)."""
        stop = min(self.t_ns + self.spec.chunk_seconds * NS_PER_SECOND, self.end_ns + 1)
        t0 = time.perf_counter()
        while True:
            book = L.Book(self.levels, self.orders, self.oid_slot, self.bstate)
            market = Market(book, self.rules, self.fills, self.g, self.gi)
            code = run_chunk(
                stop,
                self.trader_arrays,
                self.clocks,
                market,
                self.rng_state,
                self.snap,
                self.llm_model,
                self.llm_rng,
            )
            self._drain()
            if code == 0:
                break
            # grow (doubling) to what the kernel asked for in gi[I_NEED_*]
            resting = int(self.bstate[L.S_N_BID] + self.bstate[L.S_N_ASK])
            while self.orders.shape[1] - resting < self.gi[T.I_NEED_SLOTS]:
                self.orders = L.grow_orders(self.orders, self.bstate)
            if self.oid_slot.shape[0] < self.gi[T.I_NEED_IDS]:
                self.oid_slot = L.grow_ids(self.oid_slot, int(self.gi[T.I_NEED_IDS]))
            cap = self.fills.shape[0]
            while cap < self.gi[T.I_NEED_FILLS]:
                cap *= 2
            if cap > self.fills.shape[0]:
                self.fills = np.zeros(cap, dtype=FILL_DTYPE)
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
        return int(self.gi[T.I_N_ACTIONS])

    @property
    def volume(self) -> int:
        return int(self.gi[T.I_VOLUME])


# ====================================================================================
# tables and statistics
# ====================================================================================
