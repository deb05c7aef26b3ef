"""Worker processes that end with the process that started them.

A ``compare --workers N`` pool is N spawned processes. When the parent is killed
(SIGKILL, the OOM killer, a closed terminal) nothing tells them to stop, and they used
to finish their cells and hold their memory for minutes. :func:`die_with_parent` is the
pool's initializer: on Linux the kernel sends the worker SIGKILL when its parent dies
(``prctl(PR_SET_PDEATHSIG)``, which acts even while a numba kernel holds the GIL), and
on every platform a daemon thread polls the parent's pid twice a second.
"""

from __future__ import annotations

import os
import signal
import sys
import threading
import time

#: seconds between two looks at the parent's pid
POLL_S = 0.5
_PR_SET_PDEATHSIG = 1


def _exit_if_orphaned(parent_pid: int) -> None:
    if os.getppid() != parent_pid:
        os._exit(1)  # no cleanup: the results are the parent's, and it is gone


def _watch(parent_pid: int) -> None:
    while True:
        time.sleep(POLL_S)
        _exit_if_orphaned(parent_pid)


def die_with_parent(parent_pid: int) -> None:
    """Pool initializer: end this worker when process ``parent_pid`` dies."""
    if sys.platform.startswith("linux"):
        try:
            import ctypes

            libc = ctypes.CDLL(None, use_errno=True)
            libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
        except (OSError, AttributeError):  # no libc prctl: the thread below still watches
            pass
    _exit_if_orphaned(parent_pid)  # the parent died before prctl took effect
    threading.Thread(
        target=_watch, args=(parent_pid,), daemon=True, name="marketsim-parent-watch"
    ).start()


def announce_kernels(module) -> None:
    """Say on stderr when this process compiles the scenario's kernels (a cache miss):
    ``compiling kernels (first run only, ~N s)...``, N the scenario's measured
    ``COMPILE_SECONDS`` (see :func:`marketsim.progress.announce_compiling`)."""
    from marketsim.progress import announce_compiling

    announce_compiling(getattr(module, "COMPILE_SECONDS", None))
