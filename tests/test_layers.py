"""The layers, enforced: import-linter's contracts in ``pyproject.toml`` hold.

The folders ``agents/``, ``scenarios/`` and ``analysis/`` install under ``marketsim`` (see
``pyproject.toml``); in the checkout, the links ``marketsim/agents`` etc. point at them, so
``lint-imports`` run from the root sees the package as installed. See
docs/reference/layers.md.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
LINT_IMPORTS = Path(sys.executable).parent / "lint-imports"
CONFIG = tomllib.loads((ROOT / "pyproject.toml").read_text())
UPPER = {"cli", "experiments", "agents", "scenarios", "analysis"}
SKIP = shutil.ignore_patterns("__pycache__", "*.pyc", "*.nb[ic]")


def _lint(where: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [LINT_IMPORTS, "--config", str(ROOT / "pyproject.toml"), "--no-cache"],
        cwd=where,
        env={**os.environ, "PYTHONPATH": str(where)},
        capture_output=True,
        text=True,
    )


def test_the_import_contracts_hold():
    """``lint-imports`` from the repository root, as a developer runs it: the links
    marketsim/agents, marketsim/scenarios and marketsim/analysis show it the whole package."""
    r = _lint(ROOT)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "3 kept, 0 broken" in r.stdout


def test_a_layer_violation_is_caught(tmp_path):
    """The check can fail: analysis importing a scenario breaks the layers contract."""
    # a copy of the package as installed (the links followed), with one bad module
    shutil.copytree(ROOT / "marketsim", tmp_path / "marketsim", ignore=SKIP)
    staged = tmp_path
    (staged / "marketsim" / "analysis" / "_violation.py").write_text(
        "import marketsim.scenarios.calvano2020\n"
    )
    r = _lint(staged)
    assert r.returncode != 0
    assert "marketsim.analysis._violation -> marketsim.scenarios.calvano2020" in r.stdout


def test_every_core_module_is_in_the_core_contract():
    """A new module at marketsim/'s top level is core, and the core contract must name it."""
    (core,) = [
        c for c in CONFIG["tool"]["importlinter"]["contracts"] if c["name"].startswith("The core")
    ]
    listed = {m.removeprefix("marketsim.") for m in core["source_modules"]}
    present = {
        p.stem if p.is_file() else p.name
        for p in (ROOT / "marketsim").iterdir()
        if (p.suffix == ".py" and not p.name.startswith("__"))
        or (p.is_dir() and (p / "__init__.py").exists())
    }
    assert present - UPPER - {"api"} == listed


def test_bare_top_level_imports_are_banned():
    """``import agents`` (and scenarios, analysis) is a lint error: TID251 in pyproject.toml."""
    banned = CONFIG["tool"]["ruff"]["lint"]["flake8-tidy-imports"]["banned-api"]
    assert set(banned) == {"agents", "scenarios", "analysis"}
    r = subprocess.run(
        [Path(sys.executable).parent / "ruff", "check", "--select", "TID251", "."],
        cwd=ROOT,
        capture_output=True,
        text=True,
    )
    assert r.returncode == 0, r.stdout
