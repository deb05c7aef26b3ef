"""Targets cards: the published figures a scenario's runs are measured against.

A card (TOML, e.g. ``data/flash_crash_2010_targets.toml``) lists targets, each with the
2010 ``figure``, a band ``[low, high]`` (either bound may be open), the summary key that
measures it on a run (``measure``, dots for nested keys) and how seeds are pooled: at
least ``min_share`` of the seeds inside the band (``rule = "share"``) or the median
over seeds inside it (``rule = "median"``). A value missing from a run (null, NaN, an
unfinished programme) is outside every band. :func:`load_targets` validates a card and
turns any fault into one line naming the field (:class:`~marketsim.errors.UsageError`,
exit code 2); :func:`assess` pools run summaries against it.

``python -m marketsim.scenarios.targets CARD`` checks a card and lists its targets.
"""

from __future__ import annotations

import math
import re
import sys
import tomllib
from pathlib import Path
from typing import Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from marketsim.errors import UsageError, format_validation_error

_NAME = r"^[a-z][a-z0-9_]*$"
_MEASURE = r"^[a-z][a-z0-9_]*(\.[a-z0-9_]+)*$"


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Scaling(_Strict):
    """How the card's contract counts map to the model's (see the card's header)."""

    reference_programme_qty: int = Field(gt=0, description="the 2010 programme (contracts)")
    model_parameter: str = Field(min_length=1, description="the model's programme size")
    rule: str = Field(min_length=1)


class Target(_Strict):
    """One published figure, its band and how a run measures it."""

    name: str = Field(pattern=_NAME)
    measure: str = Field(pattern=_MEASURE, description="summary key (dots for nested keys)")
    scenario: str | None = Field(None, description="read on this scenario (default: the card's)")
    unit: str = Field(min_length=1)
    figure: float = Field(allow_inf_nan=False)
    low: float | None = Field(None, allow_inf_nan=False)
    high: float | None = Field(None, allow_inf_nan=False)
    rule: Literal["share", "median"]
    min_share: float | None = Field(None, gt=0.0, le=1.0)
    source: str = Field(min_length=1)
    how: str = Field(min_length=1)
    tolerance: str = Field(min_length=1)

    @model_validator(mode="after")
    def _band(self):
        if self.low is None and self.high is None:
            raise ValueError("give low, high or both: a target needs a band")
        if self.low is not None and self.high is not None and self.low > self.high:
            raise ValueError(f"low {self.low:g} is above high {self.high:g}; swap them")
        if self.rule == "share" and self.min_share is None:
            raise ValueError('rule = "share" needs min_share (a share of seeds in (0, 1])')
        if self.rule == "median" and self.min_share is not None:
            raise ValueError('rule = "median" takes no min_share; drop it or use rule = "share"')
        return self

    def inside(self, value) -> bool:
        """Is ``value`` in the band (bounds included)? None and NaN are not."""
        if value is None or isinstance(value, bool) or not isinstance(value, int | float):
            return False
        if math.isnan(value):
            return False
        return (self.low is None or value >= self.low) and (self.high is None or value <= self.high)

    def value(self, summary: dict):
        """The measure in one run's summary (None when the run lacks it)."""
        node = summary
        for key in self.measure.split("."):
            if not isinstance(node, dict) or key not in node:
                return None
            node = node[key]
        return node


class TargetsCard(_Strict):
    """A validated targets card."""

    version: Literal[1]
    scenario: str = Field(pattern=_NAME)
    scenario_version: int = Field(ge=1)
    scaling: Scaling
    target: list[Target] = Field(min_length=1)

    @model_validator(mode="after")
    def _unique(self):
        seen = set()
        for t in self.target:
            if t.name in seen:
                raise ValueError(f"target {t.name!r} is given twice; give each name once")
            seen.add(t.name)
        from marketsim.scenarios import SCENARIOS

        for where in {self.scenario, *(t.scenario for t in self.target if t.scenario)}:
            if where not in SCENARIOS:
                known = ", ".join(sorted(SCENARIOS))
                raise ValueError(f"unknown scenario {where!r}; known: {known}")
        return self

    def targets_for(self, scenario: str) -> list[Target]:
        """The targets read on ``scenario``."""
        return [t for t in self.target if (t.scenario or self.scenario) == scenario]


def load_targets(path: str | Path) -> TargetsCard:
    """Read and validate a targets card; any fault is one line naming the field."""
    path = Path(path)
    if not path.is_file():
        raise UsageError(f"targets card {path} does not exist")
    try:
        data = tomllib.loads(path.read_text())
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise UsageError(f"targets card {path} is not valid TOML: {exc}") from None
    try:
        return TargetsCard.model_validate(data)
    except ValidationError as exc:
        line = format_validation_error(_named(exc, data))
        raise UsageError(f"targets card {path}: {line}") from None


class _Renamed(Exception):
    """A validation error whose locations name targets (``target[fall].low``)."""

    def __init__(self, errors):
        self._errors = errors

    def errors(self):
        return self._errors


def _named(exc: ValidationError, data: dict) -> _Renamed:
    """Locations ``target.3.low`` become ``target[fall].low`` where the name is known."""
    out = []
    targets = data.get("target") if isinstance(data, dict) else None
    for err in exc.errors():
        loc = list(err["loc"])
        if len(loc) >= 2 and loc[0] == "target" and isinstance(loc[1], int):
            item = targets[loc[1]] if isinstance(targets, list) else None
            name = item.get("name") if isinstance(item, dict) else None
            if isinstance(name, str) and re.match(_NAME, name):
                loc = [f"target[{name}]", *loc[2:]]
        out.append({**err, "loc": tuple(loc)})
    return _Renamed(out)


def assess(card: TargetsCard, summaries: list[dict], scenario: str | None = None) -> list[dict]:
    """Pool run summaries (one per seed, all of ``scenario``, default the card's) against
    the card's targets for that scenario.

    Returns one dict per target: ``name, measure, figure, low, high, rule, min_share,
    n_seeds, share_inside, median, met`` (``median`` over the seeds with a value).
    """
    scenario = scenario or card.scenario
    rows = []
    for t in card.targets_for(scenario):
        values = [t.value(s) for s in summaries]
        inside = [t.inside(v) for v in values]
        finite = np.array(
            [v for v in values if isinstance(v, int | float) and not isinstance(v, bool)],
            dtype=float,
        )
        finite = finite[np.isfinite(finite)]
        median = float(np.median(finite)) if finite.size else None
        share = float(np.mean(inside)) if inside else float("nan")
        met = t.inside(median) if t.rule == "median" else share >= (t.min_share or 1.0)
        rows.append(
            {
                "name": t.name,
                "measure": t.measure,
                "figure": t.figure,
                "low": t.low,
                "high": t.high,
                "rule": t.rule,
                "min_share": t.min_share,
                "n_seeds": len(summaries),
                "share_inside": share,
                "median": median,
                "met": bool(met) if summaries else False,
            }
        )
    return rows


def main(argv: list[str] | None = None) -> int:
    """``python -m marketsim.scenarios.targets CARD``: validate and list the targets."""
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 1:
        print("usage: python -m marketsim.scenarios.targets CARD.toml", file=sys.stderr)
        return 2
    try:
        card = load_targets(args[0])
    except UsageError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return exc.exit_code
    for t in card.target:
        band = (
            f"[{'' if t.low is None else f'{t.low:g}'}, {'' if t.high is None else f'{t.high:g}'}]"
        )
        print(f"{t.name}: {t.measure} {band} ({t.rule}); 2010: {t.figure:g} {t.unit}")
    return 0


__all__ = ["Scaling", "Target", "TargetsCard", "assess", "load_targets", "main"]

if __name__ == "__main__":
    raise SystemExit(main())
