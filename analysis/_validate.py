"""Shared input validation for the detectors.

Detectors run on data that did not come from marketsim (a regulator's price or trade
file), so every public detector checks its table first and stops with a one-line
:class:`~marketsim.errors.UsageError` naming the column and the fix: a missing column,
a non-numeric column, missing values or NaNs, timestamps that go back in time or repeat,
and too few observations. The CLI prints that line and exits with code 2.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import polars as pl

from marketsim.errors import UsageError

#: seconds per unit for numeric time columns
TIME_UNITS: dict[str, float] = {"s": 1.0, "ms": 1e-3, "us": 1e-6, "ns": 1e-9}


def read_table(path: str | os.PathLike) -> pl.DataFrame:
    """Read a CSV or Parquet file into a Polars frame (by suffix)."""
    path = Path(path)
    if not path.exists():
        raise UsageError(f"{path}: file not found")
    suffix = path.suffix.lower()
    try:
        if suffix in (".parquet", ".pq"):
            return pl.read_parquet(path)
        if suffix in (".csv", ".txt"):
            return pl.read_csv(path, try_parse_dates=True, infer_schema_length=10000)
    except (pl.exceptions.PolarsError, OSError) as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise UsageError(f"{path}: could not read the file ({first})") from None
    raise UsageError(f"{path}: unknown file type {suffix!r}; use a .csv or .parquet file")


def as_frame(data, what: str = "data") -> pl.DataFrame:
    """A Polars frame from a frame, a pandas frame, a dict of columns or a file path."""
    if isinstance(data, pl.DataFrame):
        return data
    if isinstance(data, pl.LazyFrame):
        return data.collect()
    if isinstance(data, str | os.PathLike):
        return read_table(data)
    if isinstance(data, dict):
        return pl.DataFrame(data)
    try:
        return pl.from_pandas(data)
    except Exception:  # noqa: BLE001 - anything that is not a table
        raise UsageError(
            f"{what} must be a Polars frame, a dict of columns or a CSV/Parquet path, "
            f"not {type(data).__name__}"
        ) from None


def require_columns(frame: pl.DataFrame, columns: dict[str, str]) -> None:
    """Each ``role -> column`` must exist; the error names the option that sets it."""
    for role, col in columns.items():
        if col not in frame.columns:
            have = ", ".join(frame.columns[:12]) + (", ..." if frame.width > 12 else "")
            raise UsageError(
                f"column {col!r} not found (columns: {have}); "
                f"name the {role} column with --{role}-col / {role}_col="
            )


def numeric_column(frame: pl.DataFrame, col: str) -> np.ndarray:
    """Column ``col`` as float64, refusing text, nulls and NaNs with a one-line error."""
    s = frame.get_column(col)
    if not (s.dtype.is_numeric() or s.dtype == pl.Boolean):
        raise UsageError(f"column {col!r} is {s.dtype}, not numeric; convert it to numbers")
    x = s.cast(pl.Float64).to_numpy()
    bad = ~np.isfinite(x)
    if bad.any():
        first = int(np.flatnonzero(bad)[0])
        raise UsageError(
            f"column {col!r} has {int(bad.sum())} missing, NaN or infinite values "
            f"(first at row {first}); drop or fill them"
        )
    return x


def time_seconds(frame: pl.DataFrame, col: str, unit: str | None = None) -> np.ndarray:
    """Time column ``col`` in seconds (float64).

    Datetimes and durations are converted exactly; numeric columns are read in ``unit``
    (``s``, ``ms``, ``us`` or ``ns``); by default ``ns`` when the name ends in ``_ns``
    and seconds otherwise.
    """
    s = frame.get_column(col)
    if s.null_count():
        first = int(np.flatnonzero(s.is_null().to_numpy())[0])
        raise UsageError(
            f"column {col!r} has {s.null_count()} missing timestamps (first at row {first}); "
            "drop those rows"
        )
    if s.dtype == pl.Datetime or isinstance(s.dtype, pl.Datetime):
        return s.dt.epoch("us").cast(pl.Float64).to_numpy() * 1e-6
    if s.dtype == pl.Date:
        return s.cast(pl.Datetime("us")).dt.epoch("us").cast(pl.Float64).to_numpy() * 1e-6
    if isinstance(s.dtype, pl.Duration):
        return s.dt.total_microseconds().cast(pl.Float64).to_numpy() * 1e-6
    if unit is None:
        unit = "ns" if col.endswith("_ns") else "s"
    if unit not in TIME_UNITS:
        raise UsageError(f"time unit {unit!r} unknown; use one of {', '.join(TIME_UNITS)}")
    if not s.dtype.is_numeric():
        raise UsageError(
            f"column {col!r} is {s.dtype}, neither a number nor a datetime; "
            "convert it to seconds or to a datetime"
        )
    if s.dtype.is_integer():
        # subtract the first value in integers so nanosecond epochs keep their precision
        raw = s.to_numpy().astype(np.int64)
        return (raw - raw[0]).astype(np.float64) * TIME_UNITS[unit] + float(raw[0]) * TIME_UNITS[
            unit
        ]
    return numeric_column(frame, col) * TIME_UNITS[unit]


def check_times(t: np.ndarray, col: str, *, allow_ties: bool = False, group: str = "") -> None:
    """Timestamps must increase (strictly unless ``allow_ties``)."""
    if t.size < 2:
        return
    d = np.diff(t)
    back = np.flatnonzero(d < 0)
    where = f" for {group}" if group else ""
    if back.size:
        i = int(back[0]) + 1
        raise UsageError(
            f"column {col!r} is not sorted{where} (row {i} goes back in time); sort by {col}"
        )
    if not allow_ties:
        dup = np.flatnonzero(d == 0)
        if dup.size:
            i = int(dup[0]) + 1
            raise UsageError(
                f"column {col!r} has {dup.size} duplicate timestamps{where} (first at row {i}); "
                "keep one row per timestamp"
            )


def check_min_obs(n: int, minimum: int, what: str) -> None:
    if n < minimum:
        raise UsageError(f"only {n} observations; {what} needs at least {minimum}")
