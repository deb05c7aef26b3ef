r"""Regulatory interventions as validated data: the ``policy`` field of a scenario spec.

A policy is a pydantic model tagged by ``name`` (a discriminated union). A spec's
``policy`` field accepts a name (``--set policy=luld``: every parameter at its default),
one table (``{name = "luld", tier = 2}``) or a list of them (``[[policy]]`` tables in a
TOML file), and always holds a list of policy models. ``none`` is the empty list.

Two families:

* order-book rules (``luld``, ``mwcb``, ``halt``, ``fba``, ``speed_bump``, ``min_rest``,
  ``otr_cap``, ``tax``, ``stop_logic``), applied inside the matching path
  (:mod:`marketsim.market_rules`);
* pricing-market policies (``price_cap``, ``steering``, ``memory``, ``sync_updating``,
  ``audit``), applied to the repeated Bertrand game by :func:`pricing_setup`:

  - ``price_cap`` (``mode="clip"``): every grid price above the cap is replaced by the
    cap, so the action set keeps its size ``m`` (the state space is unchanged) and
    several actions become the same price; ``mode="remove"`` drops them instead
    (``m`` shrinks). ``cap="nash"`` caps at the one-shot Nash price.
  - ``steering`` (Johnson, Rhodes & Wildenbeest 2023): the platform sends a share
    ``weight`` of the buyers of every dearer seller to the lowest-priced seller (split
    equally when several tie for lowest; nothing moves when all prices are equal):

    .. math:: q_i' = (1-w) q_i \;(p_i > \min p), \quad
              q_j' = q_j + \tfrac{w}{|L|} \textstyle\sum_{i \notin L} q_i \;(j \in L).

    Total inside demand is unchanged and profits at equal prices are untouched, so the
    profit gain Delta keeps its meaning; undercutting pays more.
  - ``memory``: the learners' memory ``k`` (``k = 0``: a single state, no way to
    condition on a rival's past price, hence no reward-punishment scheme).
  - ``sync_updating`` (Asker, Fershtman & Pakes 2022): each period every firm updates
    the Q-value of *every* action with its counterfactual profit given the rivals'
    actual prices (:mod:`marketsim.qlearning_sync`).
  - ``audit``: every ``every_periods`` periods the impulse-response test runs on the
    current greedy strategies; where a deviation is unprofitable and the rivals answer
    it with a price cut of at least ``min_cut`` (a punishment scheme), the punishing
    firms' Q-tables are reset to their initial values (the fine: their learned scheme is
    confiscated). See :class:`marketsim.qlearning_sync.AuditedQLearningSessions`.
"""

from __future__ import annotations

import re
from typing import Annotated, Any, ClassVar, Literal, get_args

import numpy as np
from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from marketsim.market_rules import find_policy as find
from marketsim.records import SESSION_CLOSE_S, SESSION_OPEN_S, SESSION_SECONDS

#: regular US equity session 09:30-16:00, seconds since midnight


def _duration(default: float, description: str, *, scale: float = 1, zero: bool = False):
    """A duration of at most one session, in seconds times ``scale`` (``1e3``: ms,
    ``1e6``: microseconds); positive, or non-negative with ``zero``."""
    sign = {"ge": 0.0} if zero else {"gt": 0.0}
    return Field(default, **sign, le=SESSION_SECONDS * scale, description=description)


class _Policy(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)

    #: "book" (order-book rule), "pricing" (repeated Bertrand game) or "any"
    market: ClassVar[str] = "any"

    def label(self) -> str:
        """Short name with the parameters that differ from the defaults."""
        changed = {
            k: v
            for k, v in self.model_dump().items()
            if k != "name" and v != type(self).model_fields[k].default
        }
        inner = ",".join(f"{k}={v}" for k, v in changed.items())
        return f"{self.name}:{inner}" if inner else self.name


class NoPolicy(_Policy):
    """The unregulated baseline."""

    name: Literal["none"] = "none"


# --- order-book rules ------------------------------------------------------------------

#: how trading resumes after a halt or pause (``luld``, ``mwcb``, ``halt``)
Reopening = Annotated[
    Literal["auction", "continuous"],
    Field(
        description="how trading resumes: a call auction over the orders entered "
        "during the halt, or continuous matching of an unchanged book"
    ),
]


class LULD(_Policy):
    """Limit Up-Limit Down (SEC Rule 608 plan, 2012).

    Bands around the mean trade price of the previous ``reference_window_s``: ``5%``
    (tier 1) or ``10%`` (tier 2) above $3, ``20%`` for $0.75-$3, the lesser of $0.15 or
    75% below $0.75; doubled in the first ``double_open_s`` and the last
    ``double_close_s`` of the session. A book at the band for ``limit_state_s`` enters a
    ``pause_s`` trading pause. ``band_pct`` overrides the tier's percentage. As in the
    plan, the reference (and so the band) changes only when the mean has moved
    ``reference_update_pct`` (1%) or more from the reference in effect; ``0`` follows the
    mean at every action.

    ``reprice_to_band`` (price sliding): a sell priced below the lower band is repriced
    to the band (a buy above the upper band likewise), and the part of a market order
    that cannot execute inside the band rests as a limit order at the band; an IOC's
    remainder is cancelled. The plan lets trading centres reprice or reject such
    orders; repricing is the default because the listing exchanges reprice by default,
    and only orders resting at the band let the best offer reach the lower band, which
    is how a limit state (and then a pause) starts. ``False`` refuses every order priced
    outside the band and drops a market order's remainder.
    """

    market: ClassVar[str] = "book"
    name: Literal["luld"] = "luld"
    tier: Literal[1, 2] = Field(1, description="band tier: 1 (5% band above $3) or 2 (10%)")
    band_pct: float | None = Field(None, gt=0.0, lt=1.0, description="override of the band")
    reference_window_s: float = Field(300.0, gt=0.0, description="reference averaging window (s)")
    reference_update_pct: float = Field(
        0.01,
        ge=0.0,
        lt=1.0,
        description="move of the 5-minute mean that resets the reference (0 = every trade)",
    )
    limit_state_s: float = Field(15.0, gt=0.0, description="seconds at the band before a pause")
    pause_s: float = _duration(300.0, "length of a trading pause (s)")
    double_open_s: float = _duration(900.0, "seconds after the open with doubled bands", zero=True)
    double_close_s: float = _duration(
        1500.0, "seconds before the close with doubled bands", zero=True
    )
    reprice_to_band: bool = Field(
        True, description="reprice orders through the band to the band (price sliding)"
    )
    reopening: Reopening = "auction"


class MWCB(_Policy):
    """Market-wide circuit breakers: falls of ``levels`` from the previous close halt
    trading for ``halt_s`` (level 1 and 2; not at or after ``no_halt_after_s``, 15:25);
    the last level closes the market for the day. Each level fires once a session."""

    market: ClassVar[str] = "book"
    name: Literal["mwcb"] = "mwcb"
    levels: list[float] = Field(
        [0.07, 0.13, 0.20],
        min_length=1,
        max_length=5,
        description="falls from the previous close that fire each level (fractions)",
    )
    halt_s: float = _duration(900.0, "halt after a level before the last (s)")
    no_halt_after_s: float = Field(
        15 * 3600 + 25 * 60,
        ge=SESSION_OPEN_S,
        le=SESSION_CLOSE_S,
        description="seconds since midnight",
    )
    reopening: Reopening = "auction"

    @model_validator(mode="after")
    def _levels(self):
        lv = self.levels
        rising = all(b > a for a, b in zip(lv[:-1], lv[1:], strict=True))
        if any(not 0.0 < x < 1.0 for x in lv) or not rising:
            raise ValueError(f"levels: must rise strictly inside (0, 1), got {lv}")
        return self


class Halt(_Policy):
    """Single-stock halt: a move of ``move_pct`` within ``window_s`` halts ``halt_s``."""

    market: ClassVar[str] = "book"
    name: Literal["halt"] = "halt"
    move_pct: float = Field(
        0.10, gt=0.0, lt=1.0, description="move that halts trading (fraction: 0.1 = 10%)"
    )
    window_s: float = _duration(300.0, "window in which the move is measured (s)")
    halt_s: float = _duration(300.0, "length of the halt (s)")
    reopening: Reopening = "auction"


class FBA(_Policy):
    """Frequent batch auctions (Budish, Cramton & Shim 2015): uniform-price clearing
    every ``interval_ms`` instead of continuous matching."""

    market: ClassVar[str] = "book"
    name: Literal["fba"] = "fba"
    interval_ms: float = _duration(100.0, "time between batch auctions (ms)", scale=1e3)


class SpeedBump(_Policy):
    """A fixed delay on incoming liquidity-taking orders (IEX: 350 microseconds)."""

    market: ClassVar[str] = "book"
    name: Literal["speed_bump"] = "speed_bump"
    delay_us: float = _duration(
        350.0, "delay on liquidity-taking orders (microseconds)", scale=1e6, zero=True
    )


class MinRest(_Policy):
    """Limit orders may not be cancelled before resting ``min_rest_ms``."""

    market: ClassVar[str] = "book"
    name: Literal["min_rest"] = "min_rest"
    min_rest_ms: float = _duration(
        500.0, "time an order rests before it may be cancelled (ms)", scale=1e3
    )


class OTRCap(_Policy):
    """A trader whose messages (orders, cancels, reduces) in the current ``window_s``
    window would exceed ``max_ratio`` times its trades there (at least one) is refused
    new orders (status ``REFUSED``); cancels are always accepted. Windows are fixed
    (tumbling) intervals of the clock."""

    market: ClassVar[str] = "book"
    name: Literal["otr_cap"] = "otr_cap"
    max_ratio: float = Field(100.0, ge=1.0, description="messages allowed per trade in a window")
    window_s: float = _duration(60.0, "length of the counting window (s)")


class Tax(_Policy):
    """A tax on cancellations within ``cancel_window_ms`` of entry (``cancel_tax_ticks``
    per contract cancelled or reduced) and on trades (``trade_tax_bps`` of the notional,
    paid by the buyer and by the seller). Charges go to the regulator: the sum of cash
    over the traders and the regulator is unchanged."""

    market: ClassVar[str] = "book"
    name: Literal["tax"] = "tax"
    cancel_tax_ticks: float = Field(
        0.5, ge=0.0, description="tax per contract cancelled early (ticks)"
    )
    cancel_window_ms: float = _duration(
        500.0, "a cancel this soon after entry is taxed (ms)", scale=1e3, zero=True
    )
    trade_tax_bps: float = Field(
        1.0, ge=0.0, le=10_000.0, description="tax on each side's notional (basis points)"
    )


class StopLogic(_Policy):
    """CME Globex Stop Logic (on the E-mini on 6 May 2010, when it paused the contract for
    5 seconds at 14:45:28; CFTC-SEC 2010). An order that would execute more than
    ``band_pct`` away from the last trade before the current instant executes up to that
    price and stops; the market pauses for ``pause_s`` and reopens by a call auction (the
    CME's "reserved state": orders are accepted and cancelled, nothing trades). CME sets
    the threshold per product in index points and did not publish the 2010 E-mini value
    in the sources at hand: ``band_pct`` 0.5% is a model choice. Stop logic always
    reopens by auction; with it in force every halt and pause does (the reopening flag is
    one for the whole market)."""

    market: ClassVar[str] = "book"
    name: Literal["stop_logic"] = "stop_logic"
    band_pct: float = Field(
        0.005, gt=0.0, lt=1.0, description="widest move from the last trade in one instant"
    )
    pause_s: float = _duration(5.0, "length of the pause after a stop (s)")


# --- pricing-market policies -----------------------------------------------------------


class PriceCap(_Policy):
    """No price above ``cap`` (a number, or ``"nash"`` / ``"monopoly"`` for the one-shot
    Nash or joint-monopoly price of the unregulated market)."""

    market: ClassVar[str] = "pricing"
    name: Literal["price_cap"] = "price_cap"
    cap: Literal["nash", "monopoly"] | float = Field(
        "nash", description="highest price: a number, 'nash' or 'monopoly'"
    )
    mode: Literal["clip", "remove"] = Field(
        "clip", description="clip: prices above the cap become the cap; remove: they leave the grid"
    )

    @field_validator("cap")
    @classmethod
    def _positive(cls, v):
        if not isinstance(v, str) and not (np.isfinite(v) and v > 0):
            raise ValueError(f"must be a price > 0, 'nash' or 'monopoly'; got {v}")
        return v


class Steering(_Policy):
    """Platform demand steering toward the lowest-priced seller (share ``weight``)."""

    market: ClassVar[str] = "pricing"
    name: Literal["steering"] = "steering"
    weight: float = Field(
        0.5, gt=0.0, le=1.0, description="share of dearer sellers' buyers sent to the cheapest"
    )


class Memory(_Policy):
    """A limit on the algorithms' memory: ``k`` periods of prices in the state."""

    market: ClassVar[str] = "pricing"
    name: Literal["memory"] = "memory"
    k: int = Field(0, ge=0, le=4, description="periods of prices in the learners' state")


class SyncUpdating(_Policy):
    """Synchronous (counterfactual) Q-updating of every action each period."""

    market: ClassVar[str] = "pricing"
    name: Literal["sync_updating"] = "sync_updating"


class Audit(_Policy):
    """Periodic impulse-response audit; a detected punishment scheme is fined by
    resetting the punishing firm's Q-table."""

    market: ClassVar[str] = "pricing"
    name: Literal["audit"] = "audit"
    every_periods: int = Field(200_000, ge=1, description="periods between audits")
    min_cut: float = Field(0.0, ge=0.0, lt=1.0, description="rival's relative price cut")
    max_fines: int = Field(5, ge=0, description="audits that may fine one session")


Policy = Annotated[
    NoPolicy
    | LULD
    | MWCB
    | Halt
    | FBA
    | SpeedBump
    | MinRest
    | OTRCap
    | Tax
    | StopLogic
    | PriceCap
    | Steering
    | Memory
    | SyncUpdating
    | Audit,
    Field(discriminator="name"),
]
#: policy name -> its model, in the order of :data:`Policy`
POLICY_CLASSES: dict[str, type[_Policy]] = {
    cls.model_fields["name"].default: cls
    for cls in get_args(get_args(Policy)[0])  # Annotated[Union[...], Field] -> the members
}
POLICY_NAMES = tuple(POLICY_CLASSES)

_FAMILY = {"book": "order-book rule", "pricing": "pricing-market policy", "any": "any market"}


def policy_summary(name: str) -> str:
    """One line on a policy: its family and the first sentence of its docstring."""
    cls = POLICY_CLASSES[name]
    doc = " ".join((cls.__doc__ or "").replace("``", "").split())
    first = re.split(r"(?<=\.)\s", doc, maxsplit=1)[0]
    return f"[{_FAMILY[cls.market]}] {first}"


def _coerce(value: Any) -> Any:
    """A name, a table or a list of either -> a list of tables (``none`` dropped)."""
    if value is None:
        return []
    items = value if isinstance(value, list | tuple) else [value]
    out = []
    for item in items:
        if isinstance(item, str):
            if "+" in item:
                out.extend(_coerce(item.split("+")))
                continue
            item = parse_policy_text(item)
        if isinstance(item, BaseModel):
            item = item.model_dump()
        if isinstance(item, dict) and item.get("name") == "none":
            continue
        out.append(item)
    return out


def parse_policy_text(text: str) -> dict[str, Any]:
    """``"luld"`` or ``"price_cap:cap=1.6,mode=remove"`` -> a policy table."""
    import json

    name, _, rest = text.strip().partition(":")
    table: dict[str, Any] = {"name": name.strip()}
    for part in filter(None, (p.strip() for p in re.split(r",(?![^\[]*\])", rest))):
        key, sep, raw = part.partition("=")
        if not sep:
            table[key.strip()] = None  # let validation name the key
            continue
        try:
            table[key.strip()] = json.loads(raw)
        except json.JSONDecodeError:
            table[key.strip()] = raw.strip()
    if table["name"] not in POLICY_NAMES:
        from marketsim.errors import did_you_mean

        hint = did_you_mean(table["name"], POLICY_NAMES)
        raise ValueError(
            f"unknown policy {table['name']!r}{hint}; known: {', '.join(POLICY_NAMES)} "
            "(see 'marketsim policies')"
        )
    return table


#: the spec field type: ``policy: PolicyList = []``
PolicyList = Annotated[list[Policy], BeforeValidator(_coerce)]


class _PolicyHolder(BaseModel):
    """A model holding a policy list, for naming the keys of a policy's group."""

    policy: PolicyList = []


def parse_policies(value: Any) -> list[_Policy]:
    """Validate a policy value outside a spec; one-line :class:`UsageError` if bad."""
    from marketsim.errors import UsageError, format_validation_error

    try:
        return _PolicyHolder.model_validate({"policy": value}).policy
    except ValidationError as exc:
        raise UsageError(format_validation_error(exc, model=_PolicyHolder, name="POLICY")) from None
    except ValueError as exc:
        raise UsageError(f"policy: {exc}") from None


def policy_label(policies: list[_Policy]) -> str:
    """``"none"`` or the labels joined by ``+``."""
    return "+".join(p.label() for p in policies) or "none"


def check_market(policies: list[_Policy], market: str, session_s: float | None = None) -> None:
    """Raise ``ValueError`` (for a spec validator) naming a policy that does not apply to
    this market (``"book"`` or ``"pricing"``) or a duration longer than the session."""
    seen = set()
    for p in policies:
        if p.market not in ("any", market):
            raise ValueError(
                f"policy {p.name!r} applies to {p.market} markets, not to this {market} market"
            )
        if p.name in seen:
            raise ValueError(f"policy {p.name!r} is given twice; give it once")
        seen.add(p.name)
        if session_s is None:
            continue
        for key in ("halt_s", "pause_s", "window_s"):
            v = getattr(p, key, None)
            if v is not None and v > session_s:
                raise ValueError(
                    f"{p.name}.{key} = {v:g} s is longer than the "
                    f"{session_s:g} s session; use at most {session_s:g}"
                )


# --- pricing-market transformations -------------------------------------------------------


def steered_shares(shares: np.ndarray, prices: np.ndarray, weight: float) -> np.ndarray:
    """Shares after steering a share ``weight`` of dearer sellers' buyers to the cheapest.

    Parameters
    ----------
    shares, prices : ndarray(float64, shape (..., n))

    Returns
    -------
    ndarray(float64, shape (..., n)); the sum over firms is unchanged.
    """
    low = prices <= prices.min(axis=-1, keepdims=True) + 1e-12
    n_low = low.sum(axis=-1, keepdims=True)
    dear = ~low
    moved = weight * np.where(dear, shares, 0.0)
    out = shares - moved + low * moved.sum(axis=-1, keepdims=True) / n_low
    return out


def pricing_setup(
    policies: list[_Policy], market, grid: np.ndarray, profit: np.ndarray, k: int
) -> tuple[np.ndarray, np.ndarray, int]:
    """Apply the price cap, steering and memory policies to a repeated logit game.

    Parameters
    ----------
    market : marketsim.logit.LogitMarket
    grid : ndarray(float64, shape (n, m))
    profit : ndarray(float64, shape (m**n, n)), joint index ``sum_i a_i m**i``
    k : int, the spec's memory

    Returns
    -------
    (grid, profit, k) of the regulated game.
    """
    from marketsim.logit import joint_actions

    cap = find(policies, "price_cap")
    if cap is not None:
        if cap.cap == "nash":
            level = market.nash_prices()
        elif cap.cap == "monopoly":
            level = market.monopoly_prices()
        else:
            level = np.full(grid.shape[0], float(cap.cap))
        level = np.asarray(level, dtype=float)[:, None]
        if cap.mode == "clip":
            grid = np.minimum(grid, level)
        else:
            keep = grid <= level + 1e-12
            counts = keep.sum(axis=1)
            if counts.min() < 1 or np.any(counts != counts[0]):
                from marketsim.errors import UsageError

                raise UsageError(
                    f"price_cap.cap = {cap.cap}: mode='remove' must leave the same "
                    f"number (>= 1) of grid prices to every firm; use mode='clip'"
                )
            grid = np.stack([g[kp] for g, kp in zip(grid, keep, strict=True)])
    n, m = grid.shape
    if cap is not None or find(policies, "steering") is not None:
        acts = joint_actions(n, m)  # (m**n, n)
        prices = grid[np.arange(n), acts]
        shares = market.shares(prices)
        steer = find(policies, "steering")
        if steer is not None:
            shares = steered_shares(shares, prices, steer.weight)
        profit = (prices - np.asarray(market.c, dtype=float)) * shares
    mem = find(policies, "memory")
    if mem is not None:
        k = mem.k
    return np.ascontiguousarray(grid), np.ascontiguousarray(profit), k


__all__ = [
    "POLICY_CLASSES",
    "POLICY_NAMES",
    "Policy",
    "PolicyList",
    "check_market",
    "find",
    "learner_class",
    "parse_policies",
    "policy_label",
    "policy_summary",
    "pricing_setup",
    "steered_shares",
]


def learner_class(policies: list[_Policy]):
    """The Q-learning sessions class for these policies (synchronous and/or audited)."""
    from marketsim.qlearning_sync import learner_class as _cls

    return _cls(find(policies, "sync_updating") is not None, find(policies, "audit"))
