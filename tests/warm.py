"""``python -m tests.warm``: compile the numba kernels before the suite, in two processes.

On a cold cache the suite's two pytest workers would each compile the kernels their first
files need, often the same ones at the same time (the order book's alone is about 160
CPU-seconds). Run before ``pytest -n 2`` (``make test`` does), this compiles each family
once: the order book in one process, the pricing, market-making and audit kernels in the
other, by running short golden cases (``tests/golden/cases.py``) into a temporary folder.
Results are not checked here; ``tests/test_golden.py`` does that.
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
from pathlib import Path

GROUPS = (
    ("market_calm",),
    ("calvano2020", "market_making", "llm_pricing", "audit"),
)


def _run(names: tuple[str, ...]) -> None:
    from tests.golden.cases import run_case

    with tempfile.TemporaryDirectory() as tmp:
        for name in names:
            run_case(name, Path(tmp) / name)


def main() -> int:
    if len(sys.argv) > 1:  # a child: the group's case names
        _run(tuple(sys.argv[1:]))
        return 0
    print("compiling kernels where the cache misses ...", file=sys.stderr, flush=True)
    children = [
        subprocess.Popen(
            [sys.executable, "-m", "tests.warm", *group],
            stdout=subprocess.DEVNULL,
        )
        for group in GROUPS
    ]
    return max(child.wait() for child in children)


if __name__ == "__main__":
    sys.exit(main())
