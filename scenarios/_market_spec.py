"""The order-book market's parameters (:class:`MarketSpec`, shared by ``market_calm`` and
``flash_crash_2010``) and the previous close they imply; the model is in
:mod:`marketsim.scenarios._market_model`, the outputs in
:mod:`marketsim.scenarios._orderbook_market`.
"""

from __future__ import annotations

from typing import Annotated

from pydantic import Field, model_validator

from marketsim.market_rules import (
    BOOK_RULES_IMPLEMENTED,
)
from marketsim.records import SESSION_SECONDS
from marketsim.scenarios._spec import ScenarioSpec, memory_bytes
from marketsim.scenarios.policies import PolicyList, check_market

FULL_SESSION_S = SESSION_SECONDS  # 09:30-16:00
#: most traders of one kind: memory grows with traders and their resting orders
#: (n_noise = 10**9 took over 3 GB before its first event)
MAX_TRADERS = 100_000
#: most wake-ups per trader per second (one every 10 ms); infinity would never end
MAX_RATE = 100.0
#: most trader wake-ups in one session (warm-up and session): the default day has
#: about 1.7 million, so this is ~1,000 default days of work (hours) in one session
MAX_WAKEUPS = 2 * 10**9
#: memory a session's tables take per trader wake-up, measured: market_calm with
#: n_noise = 100,000 peaked at 1.63 GB over a 600-s session and 2.39 GB over 1,200 s
#: (3.0 million more wake-ups: ~260 bytes each); rounded up
BYTES_PER_WAKEUP = 300
#: share of the machine's memory one session may plan to use
MEMORY_SHARE = 0.6


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
    chunk_seconds: int = Field(300, le=86_400, ge=1, description="simulated seconds per Mesa step")
    tick_size: float = Field(0.01, le=1000, gt=0, description="price units per tick")
    initial_price_tick: int = Field(
        100_000, ge=100, le=10**7, description="opening price in ticks (100000 = 1000.00)"
    )
    prior_decline: PriorDecline = 0.0

    n_noise: int = Field(800, le=MAX_TRADERS, ge=1, description="noise (zero-intelligence) traders")
    noise_rate: float = Field(
        0.05, le=MAX_RATE, gt=0, description="wake-ups per noise trader per second"
    )
    noise_p_market: float = Field(0.2, ge=0, le=1, description="share of market orders")
    noise_size: float = Field(4.0, le=10_000, ge=1, description="Pareto scale of order sizes")
    noise_size_alpha: float = Field(2.5, gt=1, description="Pareto tail exponent of sizes")
    noise_placement_ticks: float = Field(
        40.0, le=100_000, ge=0, description="scale of limit placement"
    )
    noise_vol_widening: float = Field(
        0.0, le=100, ge=0, description="placement scale growth per tick/s of vol"
    )

    n_fundamental: int = Field(150, le=MAX_TRADERS, ge=0, description="fundamental (value) traders")
    fundamental_rate: float = Field(0.02, le=MAX_RATE, gt=0, description="wake-ups per second")
    fundamental_size: float = Field(5.0, le=10_000, ge=1, description="contracts at the threshold")
    fundamental_threshold: float = Field(0.03, le=10, gt=0, description="log mispricing to act")
    fundamental_max_multiple: float = Field(10.0, le=1000, ge=1, description="cap on size multiple")
    fundamental_dispersion: float = Field(0.002, le=1, ge=0, description="SD of log valuations")
    fundamental_kappa: float = Field(0.0, le=1, ge=0, description="mean reversion per second")
    fundamental_sigma: float = Field(
        0.00006, le=0.01, ge=0, description="news shock SD per second (fraction)"
    )
    info_df: int = Field(4, ge=3, le=30, description="Student-t degrees of freedom of news")
    info_activity: float = Field(
        1.0, le=10, ge=0, description="news SD grows as exp(info_activity x / 2)"
    )
    impact_per_contract: float = Field(
        5e-7, le=0.001, ge=0, description="log reference-price move per contract"
    )
    impact_withdrawal_multiple: float = Field(
        15.0, le=1000, ge=0, description="extra impact when makers are out"
    )
    impact_decay_seconds: float = Field(
        600.0, le=86_400, ge=0, description="e-folding time of impact (0 = permanent)"
    )

    n_momentum: int = Field(100, le=MAX_TRADERS, ge=0, description="momentum (chartist) traders")
    momentum_rate: float = Field(0.02, le=MAX_RATE, gt=0, description="wake-ups per second")
    momentum_size: float = Field(4.0, le=10_000, ge=1, description="contracts at the threshold")
    momentum_threshold: float = Field(0.005, le=10, gt=0, description="log trend to act")
    momentum_max_multiple: float = Field(5.0, le=1000, ge=1, description="cap on size multiple")

    n_market_makers: int = Field(
        10, le=1000, ge=0, description="market makers (requote both sides every second)"
    )
    mm_rate: float = Field(
        0.1, le=MAX_RATE, gt=0, description="extra requotes per second (all requote each second)"
    )
    mm_size: int = Field(
        25, le=1_000_000, ge=1, description="contracts a market maker quotes on each side"
    )
    mm_half_spread_ticks: float = Field(
        2.0, le=10_000, ge=0.5, description="half-spread at zero volatility (ticks)"
    )
    mm_vol_coef: float = Field(
        0.2, le=100, ge=0, description="half-spread per tick/s of volatility"
    )
    mm_withdraw_vol: float = Field(40.0, gt=0, description="volatility (ticks/s) to withdraw")
    mm_inventory_limit: int = Field(
        1500,
        le=10**9,
        ge=1,
        description="inventory (contracts) that skews the quotes by a full half-spread",
    )
    mm_withdraw_impact: float = Field(
        0.0045, gt=0, description="|order-flow impact| (log) to withdraw"
    )

    n_hft: int = Field(16, le=10_000, ge=0, description="high-frequency intermediaries")
    hft_rate: float = Field(
        1.0, le=MAX_RATE, gt=0, description="wake-ups per high-frequency trader per second"
    )
    hft_size: int = Field(1, le=10_000, ge=1, description="contracts per order at the best quotes")
    hft_inventory_limit: int = Field(
        30, le=10**9, ge=1, description="lay-off threshold (contracts)"
    )
    hft_withdraw_vol: float = Field(
        50.0, gt=0, description="volatility (ticks/s) above which they stop quoting"
    )

    activity_tau_seconds: float = Field(300.0, le=86_400, gt=1, description="activity memory")
    activity_sigma: float = Field(0.8, le=5, ge=0, description="SD of the log-activity level")
    activity_feedback: float = Field(0.3, le=10, ge=0, description="activity kick per large move")
    flow_tau_seconds: float = Field(2.0, le=86_400, gt=1, description="memory of order-flow sign")
    flow_sigma: float = Field(0.0, le=10, ge=0, description="SD of the order-flow sign logit")
    vol_halflife_seconds: float = Field(
        20.0, le=86_400, gt=0, description="half-life of realised vol"
    )

    llm_traders: int = Field(
        0, ge=0, le=10_000, description="LLM-style traders (proxy policy; 0 = none)"
    )
    llm_monoculture: float = Field(
        1.0, ge=0, le=1, description="share of LLM traders on one base model"
    )
    llm_rate: float = Field(
        0.02, le=MAX_RATE, gt=0, description="wake-ups per LLM trader per second"
    )
    llm_order_size: float = Field(
        4.0, le=10_000, ge=1, description="contracts per threshold of signal"
    )
    llm_order_max: int = Field(40, le=1_000_000, ge=1, description="largest LLM market order")
    llm_news_weight: float = Field(
        0.5, ge=-100, le=100, description="weight on the news / narrative signal"
    )
    llm_trend_weight: float = Field(
        0.2,
        ge=-100,
        le=100,
        description="weight on the recent 30-s return in SDs (> 0 momentum, < 0 contrarian)",
    )
    llm_threshold: float = Field(1.5, le=100, gt=0, description="|signal| needed to send an order")
    llm_temperature: float = Field(1.0, le=100, ge=0, description="scale of a base model's error")
    llm_bias_sd: float = Field(0.3, le=100, ge=0, description="SD of a base model's fixed bias")
    llm_error_memory_s: float = Field(
        60.0, le=86_400, gt=0, description="e-folding time of a base model's error"
    )
    llm_news_memory_s: float = Field(
        60.0, le=86_400, gt=0, description="e-folding time of the narrative signal"
    )

    programme: bool = Field(False, description="run the large sell programme")
    programme_qty: int = Field(75_000, le=10**9, ge=1, description="contracts to sell")
    programme_participation: float = Field(0.09, gt=0, lt=1, description="share of volume")
    programme_start_s: int = Field(10_800, le=86_400, ge=0, description="seconds after the open")
    programme_child_max: int = Field(3000, le=1_000_000, ge=1, description="largest child order")
    programme_rate: float = Field(1.0, le=MAX_RATE, gt=0, description="wake-ups per second")

    drawdown_window_s: int = Field(900, le=86_400, ge=1, description="max peak-to-trough span (s)")
    recovery_window_s: int = Field(1800, le=86_400, ge=1, description="recovery span after low (s)")
    policy: PolicyList = Field(default_factory=list, description="market rules (policies)")

    def wakeups_per_second(self) -> float:
        """Expected trader wake-ups per simulated second (market makers requote each
        second on top of their rate)."""
        return (
            self.n_noise * self.noise_rate
            + self.n_fundamental * self.fundamental_rate
            + self.n_momentum * self.momentum_rate
            + self.n_market_makers * (1.0 + self.mm_rate)
            + self.n_hft * self.hft_rate
            + self.llm_traders * self.llm_rate
            + (self.programme_rate if self.programme else 0.0)
        )

    @model_validator(mode="after")
    def _work_budget(self):
        seconds = self.session_seconds + self.warmup_seconds
        work = self.wakeups_per_second() * seconds
        if work > MAX_WAKEUPS:
            raise ValueError(
                f"traders x rates give {work:.3g} wake-ups per session, more than "
                f"{MAX_WAKEUPS:.0e} (~1,000 default days of work); lower the n_* counts "
                "or *_rate values, or session_seconds"
            )
        need, have = work * BYTES_PER_WAKEUP, memory_bytes()
        if need > MEMORY_SHARE * have:
            raise ValueError(
                f"traders x rates give {work:.3g} wake-ups per session, whose tables need "
                f"about {need / 2**30:.1f} GiB, more than {MEMORY_SHARE:.0%} of this "
                f"machine's {have / 2**30:.1f} GiB; lower the n_* counts or *_rate values, "
                "or session_seconds"
            )
        return self

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
