"""The golden cases, the canonical digest of a run folder, and ``python -m tests.golden``."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
import polars as pl

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
DIGESTS = HERE / "digests.json"

#: keys whose values differ between two runs of one seed (time, machine, revision)
VOLATILE = {
    "wall_seconds",
    "kernel_seconds",
    "startup_seconds",
    "ns_per_period",
    "actions_per_second",
    "threads",
    "python",
    "versions",
    "git_revision",
}
#: lists whose order is the order in which parallel tasks finished
UNORDERED = {"parts"}

_BOOK = [
    "--set",
    "session_seconds=900",
    "--set",
    "warmup_seconds=60",
    "--set",
    "chunk_seconds=300",
]
_CRASH = [*_BOOK, "--set", "programme_start_s=120", "--set", "programme_qty=20000"]
_CALVANO_FAST = ["--set", "beta=4e-5", "--set", "conv_window=20000"]
_MM_FAST = ["--set", "beta=5e-4", "--set", "conv_window=2000", "--set", "max_periods=100000"]

#: name -> command line (``--out DIR`` and ``--quiet`` are added)
CASES: dict[str, list[str]] = {
    "calvano2020": ["run", "calvano2020", "--sessions", "3", "--seed", "1", "--threads", "2"],
    "calvano2020_price_cap": [
        "run",
        "calvano2020",
        "--sessions",
        "2",
        "--seed",
        "2",
        *_CALVANO_FAST,
        "--set",
        "policy=price_cap:cap=1.7",
    ],
    "llm_pricing": ["run", "llm_pricing", "--sessions", "2", "--seed", "1", "--set", "periods=200"],
    "market_making": ["run", "market_making", "--sessions", "3", "--seed", "1", *_MM_FAST],
    "market_making_informed": [
        "run",
        "market_making",
        "--sessions",
        "3",
        "--seed",
        "2",
        *_MM_FAST,
        "--set",
        "n_makers=3",
        "--set",
        "learner=informed",
        "--set",
        "tie=time",
        "--set",
        "trade_state=true",
    ],
    "market_calm": ["run", "market_calm", "--seed", "1", *_BOOK],
    "flash_crash_2010": ["run", "flash_crash_2010", "--seed", "1", *_CRASH],
    "flash_crash_2010_luld": [
        "run",
        "flash_crash_2010",
        "--seed",
        "1",
        *_CRASH,
        "--set",
        "policy=luld",
    ],
    "compare_calvano2020": [
        "compare",
        "calvano2020",
        "--policy",
        "none",
        "--policy",
        "price_cap:cap=1.7",
        "--seeds",
        "2",
        "--sessions",
        "2",
        *_CALVANO_FAST,
    ],
    "sweep_calvano2020": [
        "sweep",
        "calvano2020",
        "--grid",
        "alpha=0.1,0.2",
        "--seeds",
        "2",
        "--workers",
        "1",
        *_CALVANO_FAST,
    ],
    "audit": [
        "audit",
        "tests/golden/pricer.py:Factory",  # relative: audit.json records it
        "--sessions",
        "2",
        "--periods",
        "20",
        "--horizon",
        "8",
        "--no-report",
    ],
}


def _canonical_json(obj):
    if isinstance(obj, dict):
        return {
            k: sorted(v) if k in UNORDERED else _canonical_json(v)
            for k, v in sorted(obj.items())
            if k not in VOLATILE
        }
    if isinstance(obj, list):
        return [_canonical_json(v) for v in obj]
    if isinstance(obj, float):
        return float(obj).hex()
    return obj


def _frame_bytes(frame: pl.DataFrame) -> bytes:
    h = hashlib.sha256()
    h.update(str(frame.shape).encode())
    for name in frame.columns:
        col = frame[name]
        h.update(f"{name}:{col.dtype}".encode())
        if col.dtype.is_numeric() and col.null_count() == 0:
            h.update(np.ascontiguousarray(col.to_numpy()).tobytes())
        else:
            h.update(json.dumps(col.to_list(), default=str).encode())
    return h.digest()


def digest_folder(folder: Path) -> dict[str, str]:
    """SHA-256 of each table and JSON file under ``folder`` (relative path -> hex digest)."""
    out: dict[str, str] = {}
    for path in sorted(folder.rglob("*")):
        rel = path.relative_to(folder).as_posix()
        if any(part.startswith(".") for part in rel.split("/")):
            continue  # bookkeeping (the folder's mark of the run that wrote it), no result
        if path.suffix == ".parquet":
            out[rel] = hashlib.sha256(_frame_bytes(pl.read_parquet(path))).hexdigest()
        elif path.suffix == ".json":
            data = _canonical_json(json.loads(path.read_text()))
            out[rel] = hashlib.sha256(json.dumps(data, sort_keys=True).encode()).hexdigest()
    return out


def run_case(name: str, folder: Path) -> dict[str, str]:
    """Run one case into ``folder`` (must not exist) and return its digests.

    Runs from the repository's root, so that paths the outputs record (the audited
    pricer's) are the same in every checkout.
    """
    import os

    from marketsim.cli import main

    here = os.getcwd()
    os.chdir(ROOT)
    try:
        code = main([*CASES[name], "--out", str(Path(folder).resolve()), "--quiet"])
    finally:
        os.chdir(here)
    if code != 0:
        raise RuntimeError(f"golden case {name!r} exited with {code}")
    return digest_folder(folder)


def load() -> dict[str, dict[str, str]]:
    return json.loads(DIGESTS.read_text()) if DIGESTS.exists() else {}
