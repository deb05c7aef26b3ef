"""What a new user needs to find their way: ``--version``, ``marketsim policies``,
``marketsim params SCENARIO|POLICY``, "did you mean" for a mistyped name, and a line on
stderr while numba compiles (only on a cache miss)."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

import marketsim
from marketsim.cli import main
from marketsim.scenarios import SCENARIOS
from marketsim.scenarios.policies import POLICY_NAMES

ROOT = Path(__file__).resolve().parents[1]


def _env() -> dict:
    return {**os.environ, "PYTHONPATH": str(ROOT)}


def test_version_prints_the_package_version(capsys):
    assert main(["--version"]) == 0
    assert capsys.readouterr().out.strip() == f"marketsim {marketsim.__version__}"


@pytest.mark.parametrize(
    ("argv", "suggestion"),
    [
        (["rn", "calvano2020"], "did you mean 'run'?"),
        (["polcies"], "did you mean 'policies'?"),
        (["run", "calvano202"], "did you mean 'calvano2020'?"),
        (
            ["run", "calvano2020", "--set", "alpah=0.1"],
            "alpah: unknown parameter (did you mean 'alpha'?)",
        ),
        (["run", "calvano2020", "--set", "policy=price_ca"], "did you mean 'price_cap'?"),
        (
            ["run", "calvano2020", "--set", "policy=price_cap:capp=1.6"],
            "capp: unknown parameter (did you mean 'cap'?); see 'marketsim params price_cap'",
        ),
        (
            ["run", "llm_pricing", "--set", "llm.modl=x"],
            "llm.modl: unknown parameter (did you mean 'model'?)",
        ),
        (
            ["compare", "flash_crash_2010", "--policy", "none", "--policy", "ludl"],
            "did you mean 'luld'?",
        ),
        (["params", "ludl"], "did you mean 'luld'?"),
        (["detect", "crash", "x.csv", "--missing", "drp"], "did you mean 'drop'?"),
    ],
)
def test_a_mistyped_name_gets_the_nearest_one_and_exit_2(argv, suggestion, tmp_path, capsys):
    out = tmp_path / "out"
    extra = [] if argv[0] in ("params", "polcies", "detect") else ["--out", str(out)]
    assert main([*argv, *extra]) == 2
    err = capsys.readouterr().err
    assert suggestion in err, err
    assert err.count("\n") == 1 and "Traceback" not in err
    assert not out.exists() or not any(out.iterdir())


def test_no_suggestion_for_a_name_far_from_every_known_one(capsys):
    assert main(["run", "zzzzzz", "--out", "unused"]) == 2
    err = capsys.readouterr().err
    assert "did you mean" not in err and "known scenarios: calvano2020" in err


@pytest.mark.parametrize("name", [*SCENARIOS, *POLICY_NAMES])
def test_params_lists_every_field_with_a_default_never_pydantic_undefined(name, capsys):
    from marketsim.scenarios import describe_parameters

    assert main(["params", name]) == 0
    out = capsys.readouterr().out
    assert "PydanticUndefined" not in out
    _, rows = describe_parameters(name)
    listed = [ln.split("=", 1)[0].strip() for ln in out.splitlines()[1:]]
    assert listed == [r["name"] for r in rows]


def test_params_of_a_policy_gives_type_range_default_and_meaning(capsys):
    assert main(["params", "luld"]) == 0
    out = capsys.readouterr().out
    assert out.splitlines()[0].startswith("luld (policy): [order-book rule] Limit Up-Limit Down")
    band = next(ln for ln in out.splitlines() if ln.strip().startswith("band_pct"))
    assert "= None" in band and "(float or None, (0, 1))" in band and "override of the band" in band
    tier = next(ln for ln in out.splitlines() if ln.strip().startswith("tier"))
    assert "one of 1, 2" in tier
    assert main(["params", "calvano2020"]) == 0
    policy = next(ln for ln in capsys.readouterr().out.splitlines() if "policy " in ln)
    assert "= []" in policy and "marketsim policies" in policy


def test_a_required_field_is_listed_as_required():
    from pydantic import BaseModel, Field

    from marketsim.scenarios import field_rows

    class Needs(BaseModel):
        cap: float = Field(gt=0.0, description="the cap")
        mode: str = "clip"

    rows = {r["name"]: r for r in field_rows(Needs)}
    assert rows["cap"]["default"] == "required" and rows["cap"]["range"] == "> 0"
    assert rows["mode"]["default"] == "'clip'"


def test_policies_lists_each_policy_once_with_its_family_and_meaning(capsys):
    assert main(["policies"]) == 0
    lines = capsys.readouterr().out.splitlines()
    rows = {ln.split()[0]: ln for ln in lines[:-1]}
    assert list(rows) == list(POLICY_NAMES)
    assert "[order-book rule]" in rows["stop_logic"] and "Stop Logic" in rows["stop_logic"]
    assert "[pricing-market policy]" in rows["price_cap"]
    assert all(len(ln.split("]", 1)[1].strip()) > 10 for ln in lines[:-1])


def test_run_help_names_the_scenarios_and_help_loads_no_scenario_code(capsys):
    assert main(["run", "--help"]) == 0
    text = " ".join(capsys.readouterr().out.split())
    assert all(name in text for name in SCENARIOS)
    code = (
        "import sys, marketsim.cli as c; c.build_parser(); "
        "print(sorted(m for m in ('marketsim.scenarios', 'pydantic') if m in sys.modules))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, env=_env()
    )
    assert out.stdout.strip() == "[]"


_KERNEL = """
from numba import njit

@njit(cache=True)
def twice(x):
    return 2 * x
"""

_SCRIPT = """
import sys
sys.path.insert(0, sys.argv[1])
from marketsim.progress import announce_compiling
announce_compiling(12)
announce_compiling(12)  # a second call adds no second listener
import kernel_mod
print(kernel_mod.twice(21))
"""


def test_compiling_line_only_when_numba_compiles(tmp_path):
    """A cold cache prints the line once; the same call with the kernel cached prints
    nothing (numba raises its compile event only on a cache miss)."""
    (tmp_path / "kernel_mod.py").write_text(textwrap.dedent(_KERNEL))
    env = {**_env(), "NUMBA_CACHE_DIR": str(tmp_path / "cache")}
    runs = [
        subprocess.run(
            [sys.executable, "-c", _SCRIPT, str(tmp_path)],
            capture_output=True,
            text=True,
            env=env,
            timeout=120,
            check=True,
        )
        for _ in range(2)
    ]
    assert [r.stdout.strip() for r in runs] == ["42", "42"]
    line = "compiling kernels (first run only, ~12 s)..."
    assert runs[0].stderr.count(line) == 1, runs[0].stderr
    assert "compiling kernels" not in runs[1].stderr


def test_run_announces_the_scenario_compile_time(monkeypatch, tmp_path):
    """``run`` passes the scenario's measured compile time to the announcement."""
    import marketsim.progress as progress
    from marketsim.scenarios import get_scenario

    seen = []
    monkeypatch.setattr(progress, "announce_compiling", lambda s=None: seen.append(s))
    main(
        [
            "run",
            "calvano2020",
            "--sessions",
            "1",
            "--set",
            "max_periods=2000",
            "--quiet",
            "--out",
            str(tmp_path / "r"),
        ]
    )
    assert seen == [get_scenario("calvano2020").COMPILE_SECONDS]


@pytest.mark.parametrize("name", [*SCENARIOS, *POLICY_NAMES])
def test_every_parameter_says_what_it_means(name):
    from marketsim.scenarios import describe_parameters

    _, rows = describe_parameters(name)
    assert [r["name"] for r in rows if not r["description"].strip()] == []


def test_a_group_is_listed_member_by_member_as_set_takes_it(capsys):
    assert main(["params", "llm_pricing"]) == 0
    out = capsys.readouterr().out
    assert "  llm.model " in out and "  llm.breaker_window " in out
    assert "LLMSpec(" not in out
