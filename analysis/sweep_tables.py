"""Reading a sweep's output folder: its manifest and its parts as one table.

``marketsim sweep`` (:mod:`marketsim.experiments.sweep`) writes ``DIR/sweep.json`` (the
grid, the seeds and the list of parts) and one Parquet part per task under
``DIR/parts/``; these functions read them without running anything.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import polars as pl

from marketsim.errors import UsageError

#: the sweep's manifest, in its output folder
MANIFEST = "sweep.json"


def read_manifest(out: str | os.PathLike) -> dict:
    path = Path(out) / MANIFEST
    if not path.is_file():
        raise UsageError(f"{path} does not exist; is {out} a sweep output folder?")
    return json.loads(path.read_text())


def scan_sweep(out: str | os.PathLike, *, allow_missing: bool = False) -> pl.LazyFrame:
    """The sweep's sessions as one lazy table over the parts its manifest lists.

    One row per session: the scenario's sessions columns plus one column per grid key.
    Raises :class:`UsageError` if parts are missing (unless ``allow_missing``).
    """
    out = Path(out)
    manifest = read_manifest(out)
    paths = [out / p for p in manifest["parts"]]
    present = [p for p in paths if p.exists()]
    if len(present) < len(paths) and not allow_missing:
        raise UsageError(
            f"{out}: {len(paths) - len(present)} of {len(paths)} sweep parts are missing; "
            "re-run the sweep command to finish it"
        )
    if not present:
        raise UsageError(f"{out}: no finished sweep parts yet")
    return pl.scan_parquet(present)


def point_summary(out: str | os.PathLike, value: str = "profit_gain") -> pl.DataFrame:
    """Mean, sd and count of ``value`` per grid point, sorted by the grid keys."""
    keys = list(read_manifest(out)["grid"])
    return (
        scan_sweep(out)
        .group_by(keys)
        .agg(
            pl.col(value).mean().alias(f"{value}_mean"),
            pl.col(value).std().alias(f"{value}_sd"),
            pl.len().alias("sessions"),
        )
        .sort(keys)
        .collect()
    )
