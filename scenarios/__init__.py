"""Runnable scenarios: each a named, versioned spec plus a Mesa model over the kernels.

A scenario module defines ``Spec`` (a :class:`ScenarioSpec`), ``run(spec, *, sessions,
seed, out, threads, progress) -> dict`` (writes its files into ``out`` and returns the
summary) and ``main()`` so that ``python scenarios/NAME.py ...`` works like
``marketsim run NAME ...``.
"""

from __future__ import annotations

from importlib import import_module
from types import ModuleType

from marketsim.scenarios._spec import ScenarioSpec, build_spec, load_toml, parse_sets

from marketsim.errors import UsageError

#: scenario name -> module implementing it
SCENARIOS: dict[str, str] = {
    "calvano2020": "marketsim.scenarios.calvano2020",
    "market_calm": "marketsim.scenarios.market_calm",
    "flash_crash_2010": "marketsim.scenarios.flash_crash_2010",
    "llm_pricing": "marketsim.scenarios.llm_pricing",
}


def get_scenario(name: str) -> ModuleType:
    """The module of scenario ``name``; a one-line error lists the known names."""
    if name not in SCENARIOS:
        known = ", ".join(sorted(SCENARIOS))
        raise UsageError(f"unknown scenario {name!r}; known scenarios: {known}")
    return import_module(SCENARIOS[name])


__all__ = ["SCENARIOS", "ScenarioSpec", "build_spec", "get_scenario", "load_toml", "parse_sets"]
