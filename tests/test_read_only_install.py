"""A read-only install works: when numba can cache neither beside the package nor in
the user's cache, marketsim caches its kernels in a private temporary folder and says
so once on stderr.

The install is a copy of the package with every folder and file read-only, run without
root's override of file modes (``setpriv`` drops CAP_DAC_OVERRIDE when the tests run as
root) and with a home below a file, so neither of numba's places can be written.
"""

from __future__ import annotations

import os
import shutil
import stat
import subprocess
import sys
from pathlib import Path

import pytest

import marketsim
from tests._other_user import DROP

PACKAGE = Path(marketsim.__file__).resolve().parent


def _read_only_copy(dest: Path) -> Path:
    site = dest / "site"
    shutil.copytree(
        PACKAGE, site / "marketsim", symlinks=False, ignore=shutil.ignore_patterns("__pycache__")
    )
    for root, _dirs, files in os.walk(site):
        for name in files:
            os.chmod(os.path.join(root, name), stat.S_IRUSR | stat.S_IRGRP | stat.S_IROTH)
        os.chmod(root, 0o555)
    return site


def _run(site: Path, tmp: Path, *args: str) -> subprocess.CompletedProcess:
    prefix = [shutil.which("setpriv"), *DROP] if os.getuid() == 0 else []
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "PYTHONPATH": str(site),
        "HOME": "/dev/null/home",  # below a file: no user-wide cache for anyone
        "TMPDIR": str(tmp),
    }
    return subprocess.run(
        [*prefix, sys.executable, *args], capture_output=True, text=True, env=env, cwd="/",
        timeout=120,
    )  # fmt: skip


@pytest.mark.skipif(os.getuid() == 0 and not shutil.which("setpriv"), reason="needs setpriv")
def test_every_command_imports_from_a_read_only_install(tmp_path):
    site = _read_only_copy(tmp_path)
    tmp = tmp_path / "tmp"
    tmp.mkdir()
    probe = _run(site, tmp, "-c", "import os; print(os.access(os.environ['PYTHONPATH'], os.W_OK))")
    assert probe.stdout.strip() == "False", "the copy is writable: the test proves nothing"
    # one process imports every kernel module, as the commands do between them
    code = (
        "import marketsim, sys\n"
        "from marketsim.cli import main\n"
        "for name in ('calvano2020', 'market_calm', 'flash_crash_2010', 'llm_pricing'):\n"
        "    assert main(['params', name]) == 0\n"
        "import marketsim.analysis, marketsim.experiments.audit, marketsim.api\n"
        "import numba; print('CACHE', numba.config.CACHE_DIR)\n"
    )
    res = _run(site, tmp, "-c", code)
    assert res.returncode == 0, res.stderr[-2000:]
    folder = tmp / f"marketsim-numba-{os.getuid()}"
    assert f"CACHE {folder}" in res.stdout
    notes = [ln for ln in res.stderr.splitlines() if ln.startswith("note: numba cannot cache")]
    assert len(notes) == 1 and str(folder) in notes[0], res.stderr
    assert "Traceback" not in res.stderr
    assert stat.S_IMODE(folder.stat().st_mode) == 0o700
    # the command line itself, a fresh process: same folder, one note, exit 0
    res = _run(site, tmp, "-m", "marketsim", "params", "market_calm")
    assert res.returncode == 0 and res.stderr.count("note: numba cannot cache") == 1, res.stderr


def test_a_writable_install_keeps_numba_defaults(tmp_path, monkeypatch):
    from marketsim._numba_cache import ensure_numba_cache

    monkeypatch.delenv("NUMBA_CACHE_DIR", raising=False)
    pkg = tmp_path / "pkg"
    pkg.mkdir()
    assert ensure_numba_cache(pkg) is None and "NUMBA_CACHE_DIR" not in os.environ
    monkeypatch.setenv("NUMBA_CACHE_DIR", str(tmp_path / "mine"))
    assert ensure_numba_cache(Path("/dev/null/pkg")) is None  # the user's choice stands
