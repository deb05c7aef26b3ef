"""Atomic, resumable output.

Results are written to a temporary file in the destination folder and renamed into
place, so an interrupted run never leaves a half-written Parquet or JSON file behind.
"""

from __future__ import annotations

import json
import math
import os
import platform
import subprocess
import tempfile
from importlib import metadata
from pathlib import Path
from typing import Any

import polars as pl


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


_FILE_MODE = 0o666 & ~_umask()


def _atomic_target(path: Path):
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    # mkstemp makes 0600 files; results should read like any file the user writes
    os.fchmod(fd, _FILE_MODE)
    os.close(fd)
    return Path(tmp)


def _write_atomic(path: str | os.PathLike, write) -> Path:
    """Call ``write(tmp)`` on a temporary file beside ``path``, then rename it to ``path``:
    the file appears whole or not at all (an interrupted run leaves the old one)."""
    path = Path(path)
    tmp = _atomic_target(path)
    try:
        write(tmp)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    return path


def write_parquet_atomic(frame: pl.DataFrame, path: str | os.PathLike) -> Path:
    """Write ``frame`` to ``path`` as Parquet; the file appears whole or not at all."""
    return _write_atomic(path, frame.write_parquet)


def write_bytes_atomic(data: bytes, path: str | os.PathLike) -> Path:
    """Write ``data`` to ``path``; the file appears whole or not at all."""
    return _write_atomic(path, lambda tmp: tmp.write_bytes(data))


def write_text_atomic(text: str, path: str | os.PathLike) -> Path:
    """Write ``text`` to ``path`` (UTF-8); the file appears whole or not at all."""
    return _write_atomic(path, lambda tmp: tmp.write_text(text, encoding="utf-8"))


def _json_default(obj: Any):
    import numpy as np

    if isinstance(obj, np.integer):
        return int(obj)
    if isinstance(obj, np.floating):
        return _finite(float(obj))
    if isinstance(obj, np.bool_):
        return bool(obj)
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    if isinstance(obj, Path):
        return str(obj)
    raise TypeError(f"not JSON serialisable: {type(obj).__name__}")


def _finite(x: float):
    return x if math.isfinite(x) else None


def _clean(obj: Any):
    if isinstance(obj, float):
        return _finite(obj)
    if isinstance(obj, dict):
        return {str(k): _clean(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [_clean(v) for v in obj]
    return obj


def write_json_atomic(obj: Any, path: str | os.PathLike) -> Path:
    """Write ``obj`` as indented JSON (NaN/inf become null) atomically."""
    return write_text_atomic(json.dumps(_clean(obj), indent=2, default=_json_default) + "\n", path)


def git_revision() -> str | None:
    """The project's git revision, or None outside a checkout."""
    here = Path(__file__).resolve().parent
    try:
        out = subprocess.run(
            ["git", "-C", str(here), "rev-parse", "--short", "HEAD"],
            capture_output=True,
            text=True,
            timeout=5,
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    return out.stdout.strip() or None if out.returncode == 0 else None


def run_metadata() -> dict[str, Any]:
    """Versions and revision recorded in every summary, so a result can be traced."""
    versions = {}
    for pkg in ("marketsim", "numpy", "numba", "scipy", "polars", "mesa", "altair"):
        try:
            versions[pkg] = metadata.version(pkg)
        except metadata.PackageNotFoundError:
            versions[pkg] = None
    return {
        "python": platform.python_version(),
        "versions": versions,
        "git_revision": git_revision(),
    }
