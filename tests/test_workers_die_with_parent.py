"""A killed ``compare --workers 2`` takes its worker processes with it (within 5 s)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest

ROOT = Path(__file__).resolve().parents[1]


def _workers(parent: psutil.Process) -> list[psutil.Process]:
    found = []
    for child in parent.children(recursive=True):
        try:
            if "spawn_main" in " ".join(child.cmdline()):
                found.append(child)
        except psutil.NoSuchProcess:
            pass
    return found


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="psutil process tree, Linux")
def test_sigkill_of_compare_leaves_no_worker_alive(tmp_path):
    cmd = [
        sys.executable, "-m", "marketsim", "compare", "calvano2020",
        "--policy", "none", "--policy", "price_cap:cap=1.6",
        "--seeds", "4", "--sessions", "200", "--workers", "2", "--quiet",
        "--out", str(tmp_path / "cmp"),
    ]  # fmt: skip
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.Popen(
        cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True
    )
    try:
        parent = psutil.Process(proc.pid)
        deadline = time.monotonic() + 90
        workers: list[psutil.Process] = []
        while time.monotonic() < deadline and proc.poll() is None:
            workers = _workers(parent)
            if len(workers) == 2:
                break
            time.sleep(0.1)
        assert len(workers) == 2, "compare never started its two workers"
        time.sleep(1.0)  # let them get into their first cell (the initializer has run)
        assert all(w.is_running() for w in workers)
        os.kill(proc.pid, signal.SIGKILL)  # the parent only, not its process group
        proc.wait(timeout=10)
        gone, alive = psutil.wait_procs(workers, timeout=5)
        assert not alive, f"workers alive 5 s after the parent died: {[w.pid for w in alive]}"
        assert not (tmp_path / "cmp" / "compare.json").exists()
    finally:
        try:
            os.killpg(proc.pid, signal.SIGKILL)  # the test's own clean-up, whatever happened
        except ProcessLookupError:
            pass
