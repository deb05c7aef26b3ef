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
(10 minutes) and the makers return: the price rebounds. Measured on seeds 1-5 of
version 4 (aggressive seller, stop logic on): falls of 5.1-7.5% from the programme's
start, the low 356-2,524 s after it, hot-potato ratio 62-1,306; the programme completes
its 75,000 contracts in 40-76 minutes (version 3, peak-to-trough: 5.1-12.2%).

The day was already falling: the DJIA lost about 9% from the previous close at the
trough, about 5 points of it in the minutes of the crash (CFTC-SEC 2010), so about 4%
before. ``prior_decline`` (0.04) puts the previous close that far above the opening
price; market-wide circuit breakers count from it (7% from the close is a 3.1% fall
from the open). Without rules it changes nothing.

Version 4 (the market as it was in 2010, measured against the targets card
``data/flash_crash_2010_targets.toml``):

- CME Stop Logic is in force (``stop_logic = true``, the default: the ``stop_logic``
  rule with its default parameters, :class:`marketsim.scenarios.policies.StopLogic`, is
  added to ``policy`` unless ``policy`` already names it). ``--set stop_logic=false``
  is the counterfactual market without it; a ``stop_logic`` entry in ``policy`` is in
  force either way (so ``--set stop_logic=false --set policy=stop_logic:band_pct=0.01``
  runs other parameters, and ``compare --set stop_logic=false --policy none --policy
  stop_logic`` measures the rule itself). Policies under test come on top:
  ``compare --policy none --policy luld`` compares the 2010 market with and without LULD.
- ``seller``: ``"aggressive"`` (the staff report's reading: market orders) or
  ``"passive"`` (Nanex's reading of the same day: one sell order at the best offer,
  never crossing the spread; :mod:`marketsim.agents.traders`).
- the crash is measured from the programme's start: ``max_drawdown`` is the fall from
  the mid at the start to the lowest mid within ``low_window_s``, and the summary adds
  the card's measures (``low_after_start_s``, ``steepest_5min_fall``,
  ``programme_duration_s``, ``recovery_15min``, ``recovery_30min``,
  ``rise_above_start_1h``, ``depth_at_low_ratio``; definitions in
  :mod:`marketsim.scenarios._orderbook_market`).

The other parameters are those of version 3 (not yet calibrated to the card).

Run it as ``marketsim run flash_crash_2010 --seed 1 --out runs/crash``. The summary
also has ``drawdown_seconds``, ``recovery_share``, ``stop_logic_pauses`` and
``hot_potato_ratio``.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator

from marketsim.scenarios._orderbook_market import COMPILE_SECONDS as COMPILE_SECONDS  # announced
from marketsim.scenarios._orderbook_market import MarketSpec, PriorDecline
from marketsim.scenarios.market_calm import run as run  # the programme is in the spec
from marketsim.scenarios.policies import StopLogic


class Spec(MarketSpec):
    """Parameters of the flash-crash session (the calm market + the sell programme)."""

    name = "flash_crash_2010"
    # 2: reference-price makers; 3: the day's prior decline, halts reopen by auction;
    # 4: CME Stop Logic on, seller variants, the crash measured from the programme's start
    version = 4

    programme: bool = Field(True, description="run the large sell programme")
    prior_decline: PriorDecline = 0.04
    seller: Literal["aggressive", "passive"] = Field(
        "aggressive",
        description="the programme's orders: market orders, or one order at the best offer",
    )
    stop_logic: bool = Field(
        True,
        description="CME Stop Logic in force as in 2010 (added to policy unless policy "
        "names it); false: the market without it",
    )
    low_window_s: int = Field(
        3600, ge=1, description="the crash's low is sought this long after the programme's start"
    )

    @model_validator(mode="before")
    @classmethod
    def _stop_logic_in_force(cls, data):
        # items keep their form (names, tables, models): the policy field validates them
        if not isinstance(data, dict) or data.get("stop_logic", True) is not True:
            return data
        raw = data.get("policy")
        items = list(raw) if isinstance(raw, list | tuple) else ([] if raw is None else [raw])
        if "stop_logic" in {n for item in items for n in _policy_names(item)}:
            return data
        return {**data, "policy": [*items, StopLogic()]}


def _policy_names(item) -> list[str]:
    """The policy names in one item of a ``policy`` value (a text, a table or a model)."""
    if isinstance(item, str):
        return [part.partition(":")[0].strip() for part in item.split("+")]
    if isinstance(item, dict):
        return [str(item.get("name"))]
    return [str(getattr(item, "name", ""))]


if __name__ == "__main__":
    from marketsim.scenarios._spec import run_as_script

    run_as_script(Spec.name)
