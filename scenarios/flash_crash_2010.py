"""Scenario ``flash_crash_2010``: the calm market plus a large sell programme.

On 6 May 2010 a fundamental seller sold 75,000 E-mini contracts with an algorithm
targeting 9% of the traded volume "without regard to price or time" (CFTC-SEC 2010;
Kirilenko, Kyle, Samadi & Tuzun 2017, J. Finance 72(3)). High-frequency traders
passed contracts back and forth (the "hot potato"), the volume they generated sped the
programme up, liquidity withdrew and the E-mini fell about 5% in minutes before
rebounding within about 30 minutes. Here the same programme starts mid-session
(``programme_start_s``) in the ``market_calm`` market, selling 9% of the volume traded
in the previous minute (the 2010 algorithm's rule).

How the crash arises (see :mod:`marketsim.agents.traders`): the programme's one-sided flow
builds up the transient order-flow impact; when it exceeds the makers' tolerance
(``mm_withdraw_impact``, 0.45%) they stop quoting (toxic flow), every contract
traded then moves the price ``1 + impact_withdrawal_multiple`` times as much, and the
chartists and high-frequency lay-offs (hot potato) sell into the fall. Value traders
(thresholds 1.5-4.5% below the fundamental) buy late and hard, the impact decays
(10 minutes) and the makers return: the price rebounds. Measured on seeds 1-5: falls
of 5.1-12.2% within 213-547 s, 59-100% recovered within 30 minutes, hot-potato
ratio 62-1,306; the programme completes its 75,000 contracts in 40-95 minutes.

The day was already falling: the DJIA lost about 9% from the previous close at the
trough, about 5 points of it in the minutes of the crash (CFTC-SEC 2010), so about 4%
before. ``prior_decline`` (0.04) puts the previous close that far above the opening
price; market-wide circuit breakers count from it (7% from the close is a 3.1% fall
from the open). Without rules it changes nothing.

Run it as ``marketsim run flash_crash_2010 --seed 1 --out runs/crash``. The summary
has ``max_drawdown``, ``drawdown_seconds``, ``recovery_share`` and
``hot_potato_ratio`` (definitions in :mod:`marketsim.scenarios._orderbook_market`).
"""

from __future__ import annotations

from pydantic import Field

from marketsim.scenarios._orderbook_market import MarketSpec, PriorDecline, run_market


class Spec(MarketSpec):
    """Parameters of the flash-crash session (the calm market + the sell programme)."""

    name = "flash_crash_2010"
    version = 3  # 2: reference-price makers; 3: the day's prior decline, halts reopen by auction

    programme: bool = Field(True, description="run the large sell programme")
    prior_decline: PriorDecline = 0.04


def run(
    spec: Spec,
    *,
    sessions: int | None,
    seed: int,
    out,
    threads: int | None = None,
    progress: bool = True,
) -> dict:
    """Run ``sessions`` sessions (default 1) and write the tables and ``summary.json``."""
    return run_market(spec, sessions=sessions, seed=seed, out=out, progress=progress)


if __name__ == "__main__":
    from marketsim.scenarios._spec import run_as_script

    run_as_script(Spec.name)
