"""Run the command line without root's override of file permissions.

Permission tests need a process that file modes bind: as root the subprocess starts
through ``setpriv`` with CAP_DAC_OVERRIDE and CAP_DAC_READ_SEARCH removed from its
bounding set (so a 0o555 folder or a 0o000 file refuses it, as for any user); as any
other user it runs as that user.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DROP = ["--bounding-set=-dac_override,-dac_read_search", "--inh-caps=-all"]


def run_cli(args: list[str], env: dict | None = None, timeout: float = 120):
    """``python -m marketsim ARGS`` bound by file modes; the CompletedProcess."""
    full_env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "PYTHONPATH": str(ROOT),
        "HOME": "/nonexistent",
        **(env or {}),
    }
    prefix = []
    if os.getuid() == 0:
        setpriv = shutil.which("setpriv")
        assert setpriv, "running as root: permission tests need util-linux setpriv"
        prefix = [setpriv, *DROP]
    return subprocess.run(
        [*prefix, sys.executable, "-m", "marketsim", *args],
        capture_output=True,
        text=True,
        env=full_env,
        timeout=timeout,
        cwd="/",
    )
