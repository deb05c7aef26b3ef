"""Every runnable example of the user guide (``docs/``) runs, in order, page by page.

A page's fenced blocks are taken in order:

* `` ```sh ``: each command line runs in the page's temporary working folder (comments
  and blank lines skipped). ``marketsim ...`` lines, optionally after ``NAME=value``
  environment assignments, run in this process through :func:`marketsim.cli.main`, the
  same function as the console script (saves the interpreter and numba start-up per
  command); any other line runs in ``bash`` with the virtual environment's ``bin`` first
  on ``PATH``. Every command must exit 0.
* `` ```python `` without a title: executed in one namespace per page.
* `` ```python title="NAME" `` (or ``toml``, ``csv``, ...): a file the reader saves; it is
  written to ``NAME`` in the working folder (and not executed).
* `` ```text `` and anything else: shown, not run (full-size commands, outputs).

Pages with no runnable block are skipped; a page listed in ``mkdocs.yml`` must exist.
"""

from __future__ import annotations

import importlib.util
import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
DOCS = ROOT / "docs"
FENCE = re.compile(
    r"^(?P<indent> *)```(?P<info>[^\n`]*)\n(?P<body>.*?)^(?P=indent)```[ \t]*$", re.S | re.M
)
TITLE = re.compile(r'title="([^"]+)"')
ENV_WORD = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*=")


def blocks(path: Path) -> list[tuple[str, str | None, str]]:
    """``(language, title, body)`` of every fenced block of a Markdown page, in order."""
    out = []
    for m in FENCE.finditer(path.read_text()):
        info = m.group("info").strip()
        lang = info.split()[0] if info else ""
        title = TITLE.search(info)
        indent = len(m.group("indent"))
        body = "\n".join(line[indent:] for line in m.group("body").splitlines())
        out.append((lang, title.group(1) if title else None, body + "\n"))
    return out


def _runnable(path: Path) -> bool:
    return any(lang in ("sh", "python") or title for lang, title, _ in blocks(path))


PAGES = sorted(p for p in DOCS.rglob("*.md") if _runnable(p))


def _command_lines(body: str) -> list[str]:
    """Logical lines of a shell block (backslash continuations joined)."""
    lines, current = [], ""
    for raw in body.splitlines():
        line = raw.rstrip()
        if line.endswith("\\"):
            current += line[:-1] + " "
            continue
        current += line
        if current.strip() and not current.strip().startswith("#"):
            lines.append(current.strip())
        current = ""
    return lines


def _run_marketsim(words: list[str], env: dict[str, str], cwd: Path, capsys) -> int:
    from marketsim.cli import main

    saved_env = {k: os.environ.get(k) for k in env}
    saved_path = list(sys.path)
    os.environ.update(env)
    for entry in env.get("PYTHONPATH", "").split(os.pathsep):
        if entry:
            sys.path.insert(0, str((cwd / entry).resolve()))
    try:
        return main(words[1:])
    finally:
        sys.path[:] = saved_path
        for k, v in saved_env.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


def run_shell_line(line: str, cwd: Path, capsys) -> None:
    words = shlex.split(line)
    env = {}
    while words and ENV_WORD.match(words[0]):
        key, _, value = words.pop(0).partition("=")
        env[key] = value
    simple = not any(ch in line for ch in "|&;<>$`")
    if words and words[0] == "marketsim" and simple:
        code = _run_marketsim(words, env, cwd, capsys)
        out = capsys.readouterr()
        assert code == 0, f"`{line}` exited {code}\n{out.out}\n{out.err}"
        return
    bin_dir = str(Path(sys.executable).parent)
    full_env = {**os.environ, "PATH": bin_dir + os.pathsep + os.environ.get("PATH", "")}
    res = subprocess.run(
        ["bash", "-euo", "pipefail", "-c", line],
        cwd=cwd,
        env=full_env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert res.returncode == 0, f"`{line}` exited {res.returncode}\n{res.stdout}\n{res.stderr}"


@pytest.mark.parametrize("page", PAGES, ids=[str(p.relative_to(DOCS)) for p in PAGES])
def test_page_examples_run(page, tmp_path, monkeypatch, capsys):
    """A page's examples may register a scenario (how-to/extend.md) or import modules from
    the working folder: both are undone afterwards, so no page leaks into later tests."""
    from marketsim.scenarios import SCENARIOS

    before_modules = set(sys.modules)
    before_scenarios = dict(SCENARIOS)
    try:
        _run_page(page, tmp_path, monkeypatch, capsys)
    finally:
        SCENARIOS.clear()
        SCENARIOS.update(before_scenarios)
        for name in set(sys.modules) - before_modules:
            module = sys.modules[name]
            if str(tmp_path) in str(getattr(module, "__file__", "") or ""):
                del sys.modules[name]


def _run_page(page, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    namespace: dict = {"__name__": "__docs__"}
    ran = 0
    for lang, title, body in blocks(page):
        if title:
            (tmp_path / title).parent.mkdir(parents=True, exist_ok=True)
            (tmp_path / title).write_text(body)
        elif lang == "sh":
            for line in _command_lines(body):
                run_shell_line(line, tmp_path, capsys)
                ran += 1
        elif lang == "python":
            monkeypatch.syspath_prepend(str(tmp_path))
            exec(compile(body, f"{page.name}:python", "exec"), namespace)
            ran += 1
    assert ran > 0, f"{page}: runnable blocks found but none ran"


def _hooks():
    spec = importlib.util.spec_from_file_location("docs_hooks", DOCS / "hooks.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_every_scenario_parameter_is_in_the_generated_reference():
    from marketsim.scenarios import SCENARIOS, get_scenario

    text = _hooks().render_scenarios()
    for name in SCENARIOS:
        assert f"## `{name}` (version {get_scenario(name).Spec.version})" in text
        for field in get_scenario(name).Spec.model_fields:
            assert f"`{field}" in text, (name, field)
    # constraints come from the pydantic metadata: calvano2020 alpha is in (0, 1]
    row = next(line for line in text.splitlines() if line.startswith("| `alpha` |"))
    assert "> 0" in row and "<= 1" in row and "0.15" in row


def test_every_policy_is_in_the_generated_reference():
    from marketsim.scenarios.policies import POLICY_NAMES

    text = _hooks().render_policies()
    for name in POLICY_NAMES:
        assert f"### `{name}` (" in text, name


def test_validation_table_reads_the_benchmark_file(tmp_path):
    results = tmp_path / "results.json"
    results.write_text(
        '{"machine": {"git_revision": "abc1234", "cpus": 2}, "bench_calvano": '
        '{"profit_gain_mean": 0.8123, "paper": {"profit_gain_mean": 0.849}}}'
    )
    text = _hooks().render_validation(results)
    assert "| Profit gain Delta, mean | 0.8123 | 0.849 |" in text
    assert "`abc1234`" in text
    assert "make bench" in _hooks().render_validation(tmp_path / "missing.json")


def test_validation_table_shows_the_second_seed_and_pooled_shares_when_present(tmp_path):
    results = tmp_path / "results.json"
    results.write_text(
        '{"bench_calvano": {"profit_gain_mean": 0.85, "profit_gain_mean_seed1": 0.84, '
        '"outcome_shares": {"two_cycle": 0.299}, "outcome_shares_seed1": {"two_cycle": 0.28}, '
        '"outcome_shares_pooled_2000": {"two_cycle": 0.2895}, '
        '"paper": {"profit_gain_mean": 0.849, "outcome_shares": [0.238]}}}'
    )
    text = _hooks().render_validation(results)
    assert "| Outcome share: two cycle | 0.299 | 0.238 |" in text
    assert "| Outcome share: two cycle (root seed 1) | 0.28 | 0.238 |" in text
    assert "| Outcome share: two cycle (both seeds, 2,000 sessions) | 0.2895 | 0.238 |" in text
    assert "| Profit gain Delta, mean (root seed 1) | 0.84 | 0.849 |" in text


def test_authors_mode_table_reads_the_benchmark_file(tmp_path):
    results = tmp_path / "results.json"
    results.write_text(
        '{"bench_calvano_authors": {"sessions": 1000, "identical_sessions": 998, '
        '"matching_by_check": {"cycle_prices": 999}, "profit_gain_mean": 0.84871, '
        '"authors": {"profit_gain_mean": 0.84872}}}'
    )
    text = _hooks().render_validation_authors(results)
    assert "**998 of 1000 sessions identical**" in text
    assert "| cycle prices | 999 |" in text
    assert "| Profit gain Delta, mean | 0.84871 | 0.84872 |" in text
    assert "make validate" in _hooks().render_validation_authors(tmp_path / "missing.json")


def test_shares_table_reads_the_benchmark_file(tmp_path):
    results = tmp_path / "results.json"
    results.write_text(
        '{"bench_calvano_shares": {"sessions": 5000, "root_seed": 0, "converged": 5000, '
        '"outcome_shares": {"two_cycle": 0.2734}, '
        '"outcome_share_intervals": {"two_cycle": [0.2612, 0.2859]}, '
        '"difference_intervals": {"two_cycle": [0.0061, 0.0641]}, '
        '"chi2_homogeneity": {"statistic": 9.5, "dof": 3, "pvalue": 0.0233}, '
        '"authors": {"sessions": 1000, "outcome_shares": {"two_cycle": 0.238}, '
        '"outcome_share_intervals": {"two_cycle": [0.2126, 0.2654]}}}}'
    )
    text = _hooks().render_validation_shares(results)
    assert "| two cycle | 27.3% | 26.1 to 28.6 | 23.8% | 21.3 to 26.5 | +3.5 | 0.6 to 6.4 |" in text
    assert "p = 0.023" in text and "5,000 sessions of root seed 0, 5,000 converged" in text
    assert "make validate" in _hooks().render_validation_shares(tmp_path / "missing.json")


def test_pages_in_the_navigation_exist():
    nav = (ROOT / "mkdocs.yml").read_text()
    pages = re.findall(r":\s+([\w/.-]+\.md)\s*$", nav, re.M)
    assert len(pages) >= 8
    for page in pages:
        assert (DOCS / page).is_file(), page


def test_readme_quick_start_keeps_the_two_commands():
    text = (ROOT / "README.md").read_text()
    quick = text.split("## Quick start", 1)[1].split("\n## ", 1)[0]
    block = quick.split("```sh", 1)[1].split("```", 1)[0]
    commands = [line.split("#")[0].strip() for line in block.splitlines() if line.strip()]
    assert commands == ["make demo", "make test"]
