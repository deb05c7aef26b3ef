"""Declarative, validated scenario specs.

A scenario is a named, versioned pydantic model. Unknown keys and out-of-range values
are errors that name the key; ``--set key=value`` overrides and TOML files go through
the same validation, so a spec on disk and one on the command line mean the same.
"""

from __future__ import annotations

import json
import tomllib
from pathlib import Path
from typing import Any, ClassVar

from pydantic import BaseModel, ConfigDict, ValidationError

from marketsim.errors import UsageError, format_validation_error


class ScenarioSpec(BaseModel):
    """Base of every scenario's parameters.

    Subclasses set ``name`` and ``version``; changing what a scenario means bumps
    ``version`` (it is part of every output's metadata and of sweep part keys).
    """

    model_config = ConfigDict(extra="forbid", validate_assignment=True, frozen=False)

    name: ClassVar[str] = ""
    version: ClassVar[int] = 1

    def describe(self) -> dict[str, Any]:
        """Scenario name, version and every parameter, for summaries and reports."""
        return {"scenario": self.name, "version": self.version, "params": self.model_dump()}


def _parse_value(text: str) -> Any:
    """A ``--set`` value: JSON when it parses (numbers, lists, true/false), else a string."""
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        return text


def _assign(tree: dict, dotted: str, value: Any) -> None:
    keys = dotted.split(".")
    node = tree
    for k in keys[:-1]:
        node = node.setdefault(k, {})
        if not isinstance(node, dict):
            raise UsageError(f"--set {dotted}: '{k}' is not a group of parameters")
    node[keys[-1]] = value


def parse_sets(items: list[str] | None) -> dict[str, Any]:
    """Turn ``["alpha=0.15", "llm.model=x"]`` into a nested dict."""
    tree: dict[str, Any] = {}
    for item in items or []:
        key, sep, raw = item.partition("=")
        key = key.strip()
        if not sep or not key:
            raise UsageError(f"--set {item!r}: expected KEY=VALUE, e.g. --set alpha=0.15")
        _assign(tree, key, _parse_value(raw.strip()))
    return tree


def _merge(base: dict, over: dict) -> dict:
    out = dict(base)
    for k, v in over.items():
        if isinstance(v, dict) and isinstance(out.get(k), dict):
            out[k] = _merge(out[k], v)
        else:
            out[k] = v
    return out


def load_toml(path: str | Path) -> dict[str, Any]:
    """Read a TOML scenario file, with a one-line error for a missing or malformed file."""
    path = Path(path)
    if not path.is_file():
        raise UsageError(f"config file {path} does not exist")
    try:
        return tomllib.loads(path.read_text())
    except tomllib.TOMLDecodeError as exc:
        raise UsageError(f"config file {path} is not valid TOML: {exc}") from None


def build_spec(
    spec_cls: type[ScenarioSpec],
    config: dict[str, Any] | None = None,
    sets: list[str] | dict[str, Any] | None = None,
) -> ScenarioSpec:
    """Validate ``config`` (from TOML) overlaid with ``sets`` into ``spec_cls``."""
    data = dict(config or {})
    data.pop("scenario", None)
    over = sets if isinstance(sets, dict) else parse_sets(sets)
    data = _merge(data, over)
    try:
        return spec_cls.model_validate(data)
    except ValidationError as exc:
        raise UsageError(f"{spec_cls.name}: {format_validation_error(exc)}") from None


def run_as_script(name: str) -> None:
    """``python scenarios/NAME.py ARGS`` is ``python -m marketsim run NAME ARGS``.

    The scenario module hands over to the command line at run time, as ``python -m``
    would, so the scenarios layer does not import the command line.
    """
    import runpy
    import sys

    sys.argv = ["marketsim", "run", name, *sys.argv[1:]]
    runpy.run_module("marketsim", run_name="__main__", alter_sys=True)
