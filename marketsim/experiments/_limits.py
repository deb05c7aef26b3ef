"""Limits on what one command may ask of the machine, stated in the errors."""

from __future__ import annotations

import os

from marketsim.errors import UsageError


def usable_cores() -> int:
    """Cores this process may run on (its CPU affinity, else the machine's count)."""
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return os.cpu_count() or 1


def max_workers() -> int:
    """Most worker processes: one per usable core (at least 2, so the two-process path
    can always be used). Each worker is a whole Python process with its own compiled
    kernels and tables (0.3-2 GB); more workers than cores only add memory."""
    return max(2, usable_cores())


def check_workers(workers: int | None, option: str = "--workers") -> None:
    """Refuse a worker count above :func:`max_workers`, naming the limit."""
    if workers is None:
        return
    if workers > max_workers():
        raise UsageError(
            f"{option} {workers}: more than this machine's {usable_cores()} usable core(s); "
            f"each worker is a process of its own, so use at most {max_workers()}"
        )
