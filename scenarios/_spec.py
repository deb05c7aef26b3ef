"""Declarative, validated scenario specs.

A scenario is a named, versioned pydantic model. Unknown keys and out-of-range values
are errors that name the key; ``--set key=value`` overrides and TOML files go through
the same validation, so a spec on disk and one on the command line mean the same.
"""

from __future__ import annotations

import json
import math
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

    # NaN and infinity are never parameters: refused with the field's name
    model_config = ConfigDict(
        extra="forbid", validate_assignment=True, frozen=False, allow_inf_nan=False
    )

    name: ClassVar[str] = ""
    version: ClassVar[int] = 1

    def describe(self) -> dict[str, Any]:
        """Scenario name, version and every parameter, for summaries and reports."""
        return {"scenario": self.name, "version": self.version, "params": self.model_dump()}

    def non_default(self) -> dict[str, Any]:
        """The parameters whose values differ from the scenario's defaults, by dotted key
        (``alpha``, ``llm.model``), as JSON values; a run records them so that its
        report can show them first."""
        mine = _flatten(self.model_dump(mode="json"))
        default = _flatten(type(self)().model_dump(mode="json"))
        return {k: v for k, v in mine.items() if default.get(k, object()) != v}


#: |a|, |c|, |a0| and mu of a logit market at most this (baseline: a = 2, c = 1, mu = 0.25)
LOGIT_VALUE_MAX = 1000.0
#: |(a_i - c_i - a0) / mu| at most this: beyond it the Nash and joint-monopoly
#: benchmarks cannot be computed (the monopoly solve fails above ~27, the market is
#: degenerate, pi^M = pi^N, below ~-27); the baseline is 4
LOGIT_UTILITY_MAX = 25.0


def check_logit_market(a, c, a0: float, mu: float) -> None:
    """Refuse a logit market whose benchmarks cannot be computed (a ValueError naming
    the keys and the range that works, for a pydantic validator)."""
    import numpy as np

    a = np.atleast_1d(np.asarray(a, dtype=float))
    c = np.atleast_1d(np.asarray(c, dtype=float))
    z = (a - c - a0) / mu
    worst = int(np.argmax(np.abs(z)))
    if abs(z[worst]) > LOGIT_UTILITY_MAX:
        raise ValueError(
            f"(a - c - a0) / mu = {z[worst]:.4g} is outside [-{LOGIT_UTILITY_MAX:g}, "
            f"{LOGIT_UTILITY_MAX:g}], where the Nash and monopoly benchmarks can be "
            "computed (baseline 4); bring a, c, a0 closer or raise mu"
        )


def memory_bytes() -> int:
    """Physical memory of this machine (8 GiB when it cannot be read)."""
    import os

    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError, AttributeError):
        return 8 * 2**30


def _flatten(tree: dict, prefix: str = "") -> dict[str, Any]:
    """``{"llm": {"model": "x"}}`` -> ``{"llm.model": "x"}`` (lists stay whole)."""
    out: dict[str, Any] = {}
    for k, v in tree.items():
        if isinstance(v, dict) and v:
            out.update(_flatten(v, f"{prefix}{k}."))
        else:
            out[f"{prefix}{k}"] = v
    return out


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


def key_value(item: str, option: str, form: str, example: str) -> tuple[str, str]:
    """A command-line ``KEY=VALUE`` item as (key, value), stripped; for an item without a
    key or ``=``, one line naming the ``option``, the ``form`` expected and an ``example``."""
    key, sep, raw = item.partition("=")
    key = key.strip()
    if not sep or not key:
        raise UsageError(f"{option} {item!r}: expected {form}, e.g. {option} {example}")
    return key, raw.strip()


def parse_sets(items: list[str] | None) -> dict[str, Any]:
    """Turn ``["alpha=0.15", "llm.model=x"]`` into a nested dict."""
    tree: dict[str, Any] = {}
    for item in items or []:
        key, raw = key_value(item, "--set", "KEY=VALUE", "alpha=0.15")
        _assign(tree, key, _parse_value(raw))
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
        what = "is a folder" if path.is_dir() else "does not exist"
        raise UsageError(f"config file {path} {what}; give a TOML file of parameters")
    try:
        text = path.read_bytes().decode("utf-8")
    except UnicodeDecodeError as exc:
        raise UsageError(
            f"config file {path} is not UTF-8 text (byte {exc.start}); give a TOML file"
        ) from None
    except OSError as exc:
        raise UsageError(
            f"config file {path} cannot be read ({exc.strerror or exc}); check its permissions"
        ) from None
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise UsageError(f"config file {path} is not valid TOML: {exc}") from None


#: the largest integer a parameter may hold: the kernels and tables store int64
INT64_MAX = 2**63 - 1


def _check_numbers(tree: Any, path: str, name: str) -> None:
    """Refuse integers beyond int64 and non-finite floats anywhere in raw input, naming
    the key, before validation (a model validator computing with 10**30 overflows)."""
    if isinstance(tree, dict):
        for k, v in tree.items():
            _check_numbers(v, f"{path}.{k}" if path else str(k), name)
    elif isinstance(tree, list):
        for i, v in enumerate(tree):
            _check_numbers(v, f"{path}[{i}]", name)
    elif isinstance(tree, bool):
        return
    elif isinstance(tree, int) and not -INT64_MAX <= tree <= INT64_MAX:
        raise UsageError(
            f"{name}: {path}: {tree} does not fit a 64-bit integer (|value| <= 2**63 - 1); "
            f"see 'marketsim params {name}' for its range"
        )
    elif isinstance(tree, float) and not math.isfinite(tree):
        raise UsageError(
            f"{name}: {path}: {tree} is not a finite number; give a finite value "
            f"(see 'marketsim params {name}')"
        )


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
    _check_numbers(data, "", spec_cls.name)
    try:
        return spec_cls.model_validate(data)
    except ValidationError as exc:
        line = format_validation_error(exc, model=spec_cls, name=spec_cls.name)
        raise UsageError(f"{spec_cls.name}: {line}") from None


def _type_text(annotation) -> str:
    """A field's type in words: ``float``, ``float or None``, ``one of 'a', 'b'``."""
    import types
    import typing

    origin = typing.get_origin(annotation)
    args = typing.get_args(annotation)
    if origin is typing.Annotated:
        return _type_text(args[0])
    if origin is typing.Literal:
        return "one of " + ", ".join(repr(a) for a in args)
    if origin in (typing.Union, types.UnionType):
        if all(getattr(a, "model_fields", {}).get("name") for a in args):  # tagged models
            return "policies (see 'marketsim policies')"
        return " or ".join(_type_text(a) for a in args)
    if origin in (list, tuple):
        inner = _type_text(args[0]) if args else ""
        return inner if inner.startswith("policies") else f"list of {inner}" if inner else "list"
    if annotation is type(None):
        return "None"
    return getattr(annotation, "__name__", str(annotation))


def _range_text(field) -> str:
    """A field's bounds from its constraints: ``(0, 1]``, ``>= 0``, ``1-5 items``."""
    lo = hi = None
    lo_open = hi_open = False
    items = []
    for c in field.metadata:
        for attr, is_lo, is_open in (("gt", 1, 1), ("ge", 1, 0), ("lt", 0, 1), ("le", 0, 0)):
            v = getattr(c, attr, None)
            if v is not None:
                if is_lo:
                    lo, lo_open = v, bool(is_open)
                else:
                    hi, hi_open = v, bool(is_open)
        for attr in ("min_length", "max_length"):
            if getattr(c, attr, None) is not None:
                items.append((attr, getattr(c, attr)))
    text = ""
    if lo is not None and hi is not None:
        text = f"{'(' if lo_open else '['}{lo:g}, {hi:g}{')' if hi_open else ']'}"
    elif lo is not None:
        text = f"{'>' if lo_open else '>='} {lo:g}"
    elif hi is not None:
        text = f"{'<' if hi_open else '<='} {hi:g}"
    if items:
        d = dict(items)
        text += (" " if text else "") + f"{d.get('min_length', 0)}-{d.get('max_length', '')} items"
    return text


def field_rows(model_cls, prefix: str = "") -> list[dict[str, str]]:
    """One row per parameter of a spec or policy model: ``name``, ``type``, ``range``,
    ``default`` (``required`` when there is none) and ``description``; a group of
    parameters (``llm``) gives one row per member, by dotted name (``llm.model``)."""
    from pydantic import BaseModel
    from pydantic_core import PydanticUndefined

    rows = []
    for key, field in model_cls.model_fields.items():
        if key == "name" and _is_tag(field):  # a policy's tag is its name, not a parameter
            continue
        default = field.get_default(call_default_factory=True)
        if isinstance(default, BaseModel):  # a group: its members, as --set takes them
            rows += field_rows(type(default), prefix=f"{prefix}{key}.")
            continue
        key = prefix + key
        rows.append(
            {
                "name": key,
                "type": _type_text(field.annotation),
                "range": _range_text(field),
                "default": "required" if default is PydanticUndefined else repr(default),
                "description": field.description or "",
            }
        )
    return rows


def _is_tag(field) -> bool:
    """True for a ``Literal["x"] = "x"`` field (a tagged union's tag)."""
    import typing

    args = typing.get_args(field.annotation)
    return typing.get_origin(field.annotation) is typing.Literal and args == (field.default,)


def run_as_script(name: str) -> None:
    """``python scenarios/NAME.py ARGS`` is ``python -m marketsim run NAME ARGS``.

    The script replaces itself with that command, a fresh interpreter: the scenarios
    layer does not import the command line, and marketsim is imported before numpy there,
    so its CPU dispatch is pinned (:mod:`marketsim._cpu`; the script's own imports have
    loaded numpy already) and the script gives the command's bytes.
    """
    import os
    import sys

    argv = [sys.executable, "-m", "marketsim", "run", name, *sys.argv[1:]]
    sys.stdout.flush()
    sys.stderr.flush()
    os.execv(sys.executable, argv)


def scenario_run(write, default_sessions: int):
    """A scenario module's ``run``, the call
    :func:`marketsim.experiments.run.run_scenario` makes: ``write`` with the same
    keywords, ``out`` as a path and ``sessions=None`` as ``default_sessions``."""

    def run(
        spec,
        *,
        sessions: int | None,
        seed: int,
        out,
        threads: int | None = None,
        progress: bool = True,
    ) -> dict:
        """Run the scenario, write its tables and ``summary.json`` into ``out``; return
        the summary."""
        return write(
            spec,
            sessions=default_sessions if sessions is None else sessions,
            seed=seed,
            out=Path(out),
            threads=threads,
            progress=progress,
        )

    return run
