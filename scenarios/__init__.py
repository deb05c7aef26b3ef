"""Runnable scenarios: each a named, versioned spec plus a Mesa model over the kernels.

A scenario module defines ``Spec`` (a :class:`ScenarioSpec`), ``run(spec, *, sessions,
seed, out, threads, progress) -> dict`` (writes its files into ``out`` and returns the
summary) and ``main()`` so that ``python scenarios/NAME.py ...`` works like
``marketsim run NAME ...``.
"""

from __future__ import annotations

import sys
from importlib import import_module
from pathlib import Path
from types import ModuleType

from marketsim.errors import UsageError
from marketsim.scenarios._spec import ScenarioSpec, _merge, build_spec, load_toml, parse_sets

#: scenario name -> module implementing it
SCENARIOS: dict[str, str] = {
    "calvano2020": "marketsim.scenarios.calvano2020",
    "market_calm": "marketsim.scenarios.market_calm",
    "flash_crash_2010": "marketsim.scenarios.flash_crash_2010",
    "llm_pricing": "marketsim.scenarios.llm_pricing",
    "market_making": "marketsim.scenarios.market_making",
}


def get_scenario(name: str) -> ModuleType:
    """The module of scenario ``name``; a one-line error lists the known names."""
    if name not in SCENARIOS:
        known = ", ".join(sorted(SCENARIOS))
        raise UsageError(f"unknown scenario {name!r}; known scenarios: {known}")
    return import_module(SCENARIOS[name])


def resolve_spec(scenario: str, config: Path | None, sets: list[str], params: dict | None = None):
    """The scenario module and its validated spec from a TOML file, parameters by name
    (over the file's) and ``KEY=VALUE`` items (over both)."""
    module = get_scenario(scenario)
    data = load_toml(config) if config else {}
    data = _merge(data, params or {})
    if data.get("scenario") not in (None, scenario):
        raise UsageError(f"{config}: file is for scenario {data['scenario']!r}, not {scenario!r}")
    return module, build_spec(module.Spec, data, sets)


class _Scenarios(ModuleType):
    """This package is callable: ``marketsim.scenarios()`` lists the registered names.

    ``marketsim.scenarios`` is both this package and the API's ``ms.scenarios()``: once the
    package is imported it is the attribute of ``marketsim``, so it answers the call.
    """

    def __call__(self) -> list[str]:
        return sorted(SCENARIOS)


sys.modules[__name__].__class__ = _Scenarios

__all__ = [
    "SCENARIOS",
    "ScenarioSpec",
    "build_spec",
    "get_scenario",
    "load_toml",
    "parse_sets",
    "resolve_spec",
]
