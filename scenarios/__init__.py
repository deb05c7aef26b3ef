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

from marketsim.errors import UsageError, did_you_mean
from marketsim.scenarios._spec import (
    ScenarioSpec,
    _merge,
    build_spec,
    field_rows,
    load_toml,
    parse_sets,
)

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
        hint = did_you_mean(name, SCENARIOS)
        raise UsageError(f"unknown scenario {name!r}{hint}; known scenarios: {known}")
    return import_module(SCENARIOS[name])


def describe_parameters(name: str) -> tuple[str, list[dict[str, str]]]:
    """The parameters of a scenario or a policy: a title line and one row per parameter
    (:func:`field_rows`: name, type, range, default, description). An unknown name is a
    one-line error with the nearest scenario or policy name."""
    from marketsim.scenarios.policies import POLICY_CLASSES, policy_summary

    if name in SCENARIOS:
        spec_cls = get_scenario(name).Spec
        return f"{spec_cls.name} (scenario, version {spec_cls.version})", field_rows(spec_cls)
    if name in POLICY_CLASSES:
        return f"{name} (policy): {policy_summary(name)}", field_rows(POLICY_CLASSES[name])
    hint = did_you_mean(name, [*SCENARIOS, *POLICY_CLASSES])
    raise UsageError(
        f"{name!r} is neither a scenario nor a policy{hint}; list them with "
        "'marketsim policies' and 'marketsim run --help'"
    )


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
    "describe_parameters",
    "field_rows",
    "get_scenario",
    "load_toml",
    "parse_sets",
    "resolve_spec",
]
