"""The installed package: one namespace (``marketsim.*``), ``python -m marketsim``, and a
user's own ``agents/`` package or ``analysis.py`` next to an audited pricer."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import sysconfig
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("wheel")
    # a copy of the sources: a build in the checkout would leave build/ behind, and files
    # left there by an earlier layout would end up in the wheel
    src = out / "src"
    shutil.copytree(
        ROOT,
        src,
        symlinks=True,  # as a clone has them: marketsim/agents etc. are links
        ignore=shutil.ignore_patterns(
            ".venv", ".git", "build", "runs", "site", "*.egg-info", "__pycache__", "tests"
        ),
    )
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--quiet", "-w", str(out), str(src)],
        check=True,
        capture_output=True,
    )
    (path,) = out.glob("marketsim-*.whl")
    return path


def test_the_wheel_installs_only_the_marketsim_namespace(wheel):
    with zipfile.ZipFile(wheel) as z:
        names = z.namelist()
        (top,) = [n for n in names if n.endswith("top_level.txt")]
        assert z.read(top).decode().split() == ["marketsim"]
    tops = {n.split("/")[0] for n in names if not n.split("/")[0].endswith(".dist-info")}
    assert tops == {"marketsim"}
    for module in ("agents/traders.py", "scenarios/calvano2020.py", "analysis/report.py"):
        assert f"marketsim/{module}" in names


def test_every_package_folder_is_listed_in_pyproject():
    """setuptools takes the explicit ``packages`` list: a new sub-package must be in it."""
    import tomllib

    setuptools = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]
    listed = set(setuptools["packages"])
    found = set()
    roots = {
        "marketsim": ROOT / "marketsim",
        "marketsim.agents": ROOT / "agents",
        "marketsim.scenarios": ROOT / "scenarios",
        "marketsim.analysis": ROOT / "analysis",
    }
    for dotted, folder in roots.items():
        for init in folder.rglob("__init__.py"):
            rel = init.parent.relative_to(folder).parts
            found.add(".".join((dotted, *rel)))
    assert found == listed


def test_the_wheel_in_a_fresh_venv_runs_marketsim_and_python_m(wheel, tmp_path):
    """The wheel alone (dependencies from this environment's site-packages, which holds no
    ``marketsim`` of its own) gives a working ``marketsim`` and ``python -m marketsim``."""
    venv = tmp_path / "venv"
    # no pip of its own (ensurepip takes seconds): this environment's pip installs into it
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    py = venv / "bin" / "python"
    subprocess.run(
        [sys.executable, "-m", "pip", "--python", str(py), "install", "--quiet", "--no-deps"]
        + ["--no-index", str(wheel)],
        check=True,
        capture_output=True,
    )
    env = {**os.environ, "PYTHONPATH": sysconfig.get_paths()["purelib"]}
    where = subprocess.run(
        [py, "-c", "import marketsim.agents.traders as t; print(t.__file__)"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert str(venv) in where, where
    for cmd in ([venv / "bin" / "marketsim", "--help"], [py, "-m", "marketsim", "--help"]):
        r = subprocess.run(cmd, cwd=tmp_path, env=env, capture_output=True, text=True)
        assert r.returncode == 0, r.stderr
        assert "usage: marketsim" in r.stdout


USER_AGENTS = '''"""A user's own package named agents: it has no reference_pricers."""
'''
USER_ANALYSIS = """raise ImportError("the user's analysis.py must not be imported by marketsim")
"""
USER_PRICER = """from agents.fixed import Fixed


def make():
    return Fixed()
"""
USER_FIXED = """class Fixed:
    def reset(self, n_firms, firm, seed):
        pass

    def price(self, prices, profits):
        return 1.9
"""


def test_audit_from_a_folder_with_its_own_agents_package_and_analysis_module(tmp_path):
    (tmp_path / "agents").mkdir()
    (tmp_path / "agents" / "__init__.py").write_text(USER_AGENTS)
    (tmp_path / "agents" / "fixed.py").write_text(USER_FIXED)
    (tmp_path / "analysis.py").write_text(USER_ANALYSIS)
    (tmp_path / "my_pricer.py").write_text(USER_PRICER)
    args = ["audit", "my_pricer:make", "--sessions", "2", "--periods", "20", "--horizon", "8"]
    r = subprocess.run(
        [BIN / "marketsim", *args, "--out", "out", "--quiet"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
    )
    assert r.returncode == 0, r.stderr
    audit = json.loads((tmp_path / "out" / "audit.json").read_text())
    # a fixed price near monopoly with no reaction to a deviation
    assert audit["verdict"] == "supra_competitive_without_punishment"
