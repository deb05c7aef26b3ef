"""Fuzz the command line's input path: every ``--set KEY=VALUE`` and every ``--config``
TOML document either validates or exits 2 with one line on stderr; never a traceback.

The scenario's simulation and the detectors are replaced by stubs, so each draw runs the
real parsing, validation and ``--out`` checks in-process in milliseconds; what follows
validation (the kernels) is tested elsewhere.
"""

from __future__ import annotations

import contextlib
import io
import json
import math
import tempfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from marketsim.cli import main
from marketsim.scenarios import SCENARIOS, get_scenario

# bounded by examples, not time: the first draw pays for imports
FUZZ = settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow], derandomize=True
)

_text = st.text(st.characters(blacklist_categories=("Cs",)), max_size=12)
_floats = st.one_of(
    st.floats(allow_nan=True, allow_infinity=True),
    st.sampled_from([1e308, -1e308, 5e-324, 1e-9, 0.0, -0.0, 0.5, 1.5, 100.0, 1e6]),
)
_ints = st.one_of(
    st.integers(-(10**30), 10**30),
    st.sampled_from([0, 1, -1, 2, 2**31, 2**63 - 1, 2**63, -(2**63), 10**9]),
)
_scalars = st.one_of(st.booleans(), _ints, _floats, _text, st.none())
_json_values = st.recursive(
    _scalars,
    lambda inner: st.one_of(st.lists(inner, max_size=4), st.dictionaries(_text, inner, max_size=3)),
    max_leaves=6,
)


def _value_text(v) -> str:
    """How a user would type ``v`` after ``KEY=`` (JSON, or the raw text of a string)."""
    if isinstance(v, str):
        return v
    return json.dumps(v)


def _keys(scenario: str):
    spec = get_scenario(scenario).Spec
    names = list(spec.model_fields)
    nested = [f"llm.{k}" for k in ("timeout_s", "retry_budget", "max_calls", "replay", "zzz")]
    return st.one_of(
        st.sampled_from(names),
        st.sampled_from(nested + ["policy", "name", "a.b", ".", "a..b", "x" * 200]),
        _text,
    )


def _stub_run(spec, *, sessions, seed, out, threads, progress):
    return {**spec.describe(), "profit_gain_mean": 0.5, "max_drawdown": 0.01}


@contextlib.contextmanager
def _stubbed():
    with pytest.MonkeyPatch.context() as mp:
        for name in SCENARIOS:
            mp.setattr(get_scenario(name), "run", _stub_run)
        mp.setattr("marketsim.experiments.run.run_detectors", lambda out, params: {})
        with tempfile.TemporaryDirectory(prefix="marketsim-fuzz-") as tmp:
            yield Path(tmp)


def _check(args: list[str]) -> None:
    err = io.StringIO()
    with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
        code = main(args)
    text = err.getvalue()
    assert code in (0, 2), f"exit {code} for {args!r}: {text}"
    assert "Traceback" not in text and "internal error" not in text, (args, text)
    if code == 2:
        assert text.startswith("error: ") and text.count("\n") == 1, (args, text)


@pytest.mark.parametrize("scenario", sorted(SCENARIOS))
@FUZZ
@given(data=st.data())
def test_set_values_validate_or_exit_2(scenario, data):
    items = data.draw(st.lists(st.tuples(_keys(scenario), _json_values), min_size=1, max_size=3))
    sets = []
    for key, value in items:
        sets += ["--set", f"{key}={_value_text(value)}"]
    with _stubbed() as tmp:
        _check(["run", scenario, "--sessions", "1", "--quiet", *sets, "--out", str(tmp / "o")])


def _toml_value(v) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, int):
        return str(v)
    if isinstance(v, float):
        return (
            "nan" if math.isnan(v) else ("inf" if v > 0 else "-inf") if math.isinf(v) else repr(v)
        )
    if isinstance(v, str):
        return json.dumps(v, ensure_ascii=False)
    if isinstance(v, list):
        return "[" + ", ".join(_toml_value(x) for x in v) + "]"
    return "{" + ", ".join(f"{json.dumps(k)} = {_toml_value(x)}" for k, x in v.items()) + "}"


_toml_values = st.recursive(
    st.one_of(st.booleans(), _ints, _floats, _text),
    lambda inner: st.one_of(st.lists(inner, max_size=3), st.dictionaries(_text, inner, max_size=2)),
    max_leaves=5,
)


@pytest.mark.parametrize("scenario", sorted(SCENARIOS))
@FUZZ
@given(data=st.data())
def test_toml_documents_validate_or_exit_2(scenario, data):
    kind = data.draw(st.sampled_from(["table", "text", "bytes"]))
    if kind == "table":
        doc = data.draw(st.dictionaries(_keys(scenario), _toml_values, max_size=4))
        body = "\n".join(f"{json.dumps(k)} = {_toml_value(v)}" for k, v in doc.items())
        raw = body.encode("utf-8")
    elif kind == "text":
        raw = data.draw(st.text(max_size=60)).encode("utf-8")
    else:
        raw = data.draw(st.binary(max_size=60))
    with _stubbed() as tmp:
        cfg = tmp / "spec.toml"
        cfg.write_bytes(raw)
        _check(
            [
                "run",
                scenario,
                "--sessions",
                "1",
                "--quiet",
                "--config",
                str(cfg),
                "--out",
                str(tmp / "o"),
            ]
        )


_grid_text = st.one_of(
    _text,
    st.builds(
        lambda lo, hi, n, log: f"{'log:' if log else ''}{lo}:{hi}:{n}",
        st.one_of(_floats, _ints, _text),
        st.one_of(_floats, _ints, _text),
        st.one_of(_ints, _text),
        st.booleans(),
    ),
    st.lists(st.one_of(_floats, _ints, _text), min_size=1, max_size=4).map(
        lambda xs: ",".join(str(x) for x in xs)
    ),
)


@FUZZ
@given(key=_keys("calvano2020"), text=_grid_text, seeds=st.one_of(_ints, _text))
def test_sweep_grid_and_seeds_validate_or_exit_2(key, text, seeds):
    def stub_sweep(plan, out, **kwargs):
        return {
            "tasks": len(plan.tasks),
            "skipped": 0,
            "done": 0,
            "failed": [],
            "wall_seconds": 0.0,
            "complete": True,
        }

    with _stubbed() as tmp, pytest.MonkeyPatch.context() as mp:
        mp.setattr("marketsim.experiments.sweep.run_sweep", stub_sweep)
        args = ["sweep", "calvano2020", "--grid", f"{key}={text}", "--seeds", str(seeds)]
        _check([*args, "--quiet", "--out", str(tmp / "o")])
