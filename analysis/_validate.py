"""Shared input validation for the detectors.

Detectors run on data that did not come from marketsim (a regulator's price or trade
file), so every public detector checks its table first and stops with a one-line
:class:`~marketsim.errors.UsageError` naming the column and the fix: a missing column,
a non-numeric column, missing values or NaNs, timestamps that go back in time or repeat,
and too few observations. The CLI prints that line and exits with code 2.
"""

from __future__ import annotations

import datetime as _dt
import os
import re
from pathlib import Path
from zoneinfo import ZoneInfo

import numpy as np
import polars as pl

from marketsim.errors import UsageError

#: seconds per unit for numeric time columns
TIME_UNITS: dict[str, float] = {"s": 1.0, "ms": 1e-3, "us": 1e-6, "ns": 1e-9}


_SEPARATORS = (",", ";", "\t", "|")
#: texts read as missing values in a CSV file
NULL_TEXTS = ["", "NA", "N/A", "NaN", "nan", "null", "NULL"]


def sniff_csv(head: str) -> tuple[str, bool]:
    """The separator and whether decimals use a comma, from the first lines of a CSV file.

    The separator is the candidate found the same number of times (> 0) on the most of the
    first lines, the header included; a comma between digits in the data, with a separator
    other than the comma, means a decimal comma (``1,757``).
    """
    lines = [ln for ln in head.splitlines()[:20] if ln.strip()]
    if not lines:
        return ",", False
    best, best_score = ",", -1
    for sep in _SEPARATORS:
        n0 = lines[0].count(sep)
        if n0 == 0:
            continue
        score = sum(ln.count(sep) == n0 for ln in lines)
        if score > best_score:
            best, best_score = sep, score
    decimal_comma = best != "," and bool(re.search(r"\d,\d", "\n".join(lines[1:])))
    return best, decimal_comma


def read_table(
    path: str | os.PathLike, *, sep: str | None = None, decimal_comma: bool | None = None
) -> pl.DataFrame:
    """Read a CSV or Parquet file into a Polars frame (by suffix).

    For CSV, ``sep`` and ``decimal_comma`` default to what the first lines show
    (:func:`sniff_csv`): ``;`` with ``1,757`` reads as European CSV. Empty cells and
    ``NA``/``NaN``/``null`` are missing values. Text columns stay text (a time column of
    date strings is parsed by :func:`time_seconds`, which keeps the text for display).
    """
    path = Path(path)
    if not path.exists():
        raise UsageError(f"{path}: file not found")
    suffix = path.suffix.lower()
    try:
        if suffix in (".parquet", ".pq"):
            return pl.read_parquet(path)
        if suffix in (".csv", ".txt", ".tsv"):
            if sep is None or decimal_comma is None:
                with open(path, encoding="utf-8", errors="replace") as fh:
                    head = fh.read(65536)
                found_sep, found_dc = sniff_csv(head)
                sep = found_sep if sep is None else sep
                decimal_comma = found_dc if decimal_comma is None else decimal_comma
            if sep == "\\t":
                sep = "\t"
            if len(sep) != 1:
                raise UsageError(f"--sep {sep!r}: give one character, e.g. ';' or ','")
            if decimal_comma and sep == ",":
                raise UsageError(
                    "a decimal comma needs another separator: give --sep ';' (or '\\t')"
                )
            return pl.read_csv(
                path,
                separator=sep,
                decimal_comma=bool(decimal_comma),
                infer_schema_length=10000,
                null_values=NULL_TEXTS,
            )
    except (pl.exceptions.PolarsError, OSError) as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        hint = "" if sep is None else f" (read with separator {sep!r}; set it with --sep)"
        raise UsageError(f"{path}: could not read the file ({first}){hint}") from None
    raise UsageError(f"{path}: unknown file type {suffix!r}; use a .csv or .parquet file")


def wide_to_long(
    frame: pl.DataFrame, time_col: str, *, firm_col: str = "firm", price_col: str = "price"
) -> pl.DataFrame:
    """A wide table (a time column and one price column per firm or station) made long."""
    require_columns(frame, {"time": time_col})
    firms = [c for c in frame.columns if c != time_col]
    if len(firms) < 1:
        raise UsageError(f"--wide: the table has no column besides {time_col!r}")
    bad = [c for c in firms if not frame.schema[c].is_numeric()]
    if bad:
        raise UsageError(
            f"--wide: column {bad[0]!r} is {frame.schema[bad[0]]}, not prices; every column "
            f"but {time_col!r} must hold one firm's or station's prices"
        )
    return frame.unpivot(
        index=time_col, on=firms, variable_name=firm_col, value_name=price_col
    ).with_columns(pl.col(price_col).cast(pl.Float64))


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


#: formats tried, in order, for a time column of text that Polars does not parse itself
_TEXT_FORMATS = (
    "%d.%m.%Y %H:%M:%S%.f",
    "%d.%m.%Y %H:%M:%S",
    "%d.%m.%Y %H:%M",
    "%d.%m.%Y",
    "%d/%m/%Y %H:%M:%S",
    "%d/%m/%Y %H:%M",
    "%d/%m/%Y",
    "%Y%m%d",
)


def _parse_text_times(s: pl.Series, col: str) -> pl.Series:
    """A text column of dates or datetimes as Datetime(us); a clear error if it is not one."""
    kept = s.null_count()
    try:
        out = s.str.to_datetime(time_unit="us", strict=False)
        if out.null_count() == kept:
            return out
    except pl.exceptions.PolarsError:
        pass
    for fmt in _TEXT_FORMATS:
        try:
            out = s.str.to_datetime(fmt, time_unit="us", strict=False)
        except pl.exceptions.PolarsError:
            continue
        if out.null_count() == kept:
            return out
    first = s.drop_nulls().head(1).to_list()
    raise UsageError(
        f"column {col!r} holds text that is not a date or time (first: {first[0]!r}); "
        "use ISO dates (2010-05-06 14:45:00), day.month.year, or numbers with --time-unit"
        if first
        else f"column {col!r} is empty"
    )


def _unit_of(col: str, unit: str | None) -> tuple[str, bool]:
    """The unit of a numeric time column and whether it was stated (option or name)."""
    if unit is not None:
        return unit, True
    for suffix in ("ns", "us", "ms"):
        if col.endswith("_" + suffix):
            return suffix, True
    return "s", col.endswith("_s")


def time_seconds(frame: pl.DataFrame, col: str, unit: str | None = None) -> np.ndarray:
    """Time column ``col`` in seconds (float64).

    Datetimes, dates and durations are converted exactly; text is parsed as dates or
    datetimes (ISO, day.month.year, day/month/year); numeric columns are read in ``unit``
    (``s``, ``ms``, ``us`` or ``ns``); by default ``ns`` when the name ends in ``_ns``
    (``_us``, ``_ms`` likewise) and seconds otherwise.
    """
    s = frame.get_column(col)
    if s.null_count():
        first = int(np.flatnonzero(s.is_null().to_numpy())[0])
        raise UsageError(
            f"column {col!r} has {s.null_count()} missing timestamps (first at row {first}); "
            "drop those rows"
        )
    if s.dtype == pl.String:
        s = _parse_text_times(s, col)
    if s.dtype == pl.Datetime or isinstance(s.dtype, pl.Datetime):
        return s.dt.epoch("us").cast(pl.Float64).to_numpy() * 1e-6
    if s.dtype == pl.Date:
        return s.cast(pl.Datetime("us")).dt.epoch("us").cast(pl.Float64).to_numpy() * 1e-6
    if isinstance(s.dtype, pl.Duration):
        return s.dt.total_microseconds().cast(pl.Float64).to_numpy() * 1e-6
    unit, _ = _unit_of(col, unit)
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


class TimeLabels:
    """Times shown the way the data gave them.

    ``labels(seconds)`` turns the detectors' times (seconds, as :func:`time_seconds`
    returns them) back into text: the original text of a text column, ISO datetimes
    (``2010-05-06 14:45:27.500``) for datetime columns, ISO dates for date columns, clock
    time (``14:45:27``) for a numeric column with a unit whose values lie within a day
    (a simulated trading day: marketsim's ``t_ns`` counts from midnight), and ``t = <the number>``
    otherwise. ``kind`` names the case.
    """

    def __init__(self, frame: pl.DataFrame, col: str, unit: str | None = None):
        s = frame.get_column(col)
        self.kind = "number"
        self._text: dict[float, str] = {}
        self._tz = None
        self._fraction = False
        if s.dtype == pl.String:
            self.kind = "text"
            secs = time_seconds(frame, col, unit)
            for sec, text in zip(secs.tolist(), s.to_list(), strict=True):
                self._text.setdefault(sec, text)
            self._fraction = bool(np.any(secs % 1))
        elif isinstance(s.dtype, pl.Datetime):
            self.kind = "datetime"
            self._tz = s.dtype.time_zone
            secs = time_seconds(frame, col, unit)
            self._fraction = bool(np.any(np.round(secs % 1, 6) % 1))
        elif s.dtype == pl.Date:
            self.kind = "date"
        elif isinstance(s.dtype, pl.Duration):
            self.kind = "clock"
        elif s.dtype.is_numeric():
            unit_, stated = _unit_of(col, unit)
            if stated and s.len() and unit_ in TIME_UNITS:
                secs = time_seconds(frame, col, unit)
                if secs.min() >= 0 and secs.max() < 2 * 86_400:
                    self.kind = "clock"
                    self._fraction = bool(np.any(np.round(secs % 1, 6) % 1))
                elif secs.min() > 1e8:  # after 1973: an epoch timestamp
                    self.kind = "datetime"
                    self._fraction = bool(np.any(np.round(secs % 1, 6) % 1))

    def __call__(self, seconds) -> str | None:
        """One time in seconds as text (None for a missing value)."""
        if seconds is None or not np.isfinite(seconds):
            return None
        sec = float(seconds)
        if self.kind == "text" and sec in self._text:
            return self._text[sec]
        if self.kind in ("datetime", "text"):
            when = _dt.datetime.fromtimestamp(sec, tz=_dt.UTC)
            if self._tz:
                try:
                    when = when.astimezone(ZoneInfo(self._tz))
                except (KeyError, ValueError):
                    pass
            fmt = "%Y-%m-%d %H:%M:%S"
            if when.hour == when.minute == when.second == 0 and not self._fraction:
                if self.kind == "text":
                    fmt = "%Y-%m-%d"
            text = when.strftime(fmt)
            if self._fraction:
                text += f".{when.microsecond // 1000:03d}"
            return text
        if self.kind == "date":
            return _dt.datetime.fromtimestamp(sec, tz=_dt.UTC).strftime("%Y-%m-%d")
        if self.kind == "clock":
            day, rest = divmod(sec, 86_400)
            h, rest = divmod(rest, 3600)
            m, x = divmod(rest, 60)
            text = f"{int(h):02d}:{int(m):02d}:" + (
                f"{x:06.3f}" if self._fraction else f"{int(x):02d}"
            )
            return (f"day {int(day) + 1} " if day else "") + text
        return f"t = {sec:.10g}"

    def many(self, seconds) -> list[str | None]:
        """Several times as text."""
        return [self(x) for x in np.asarray(seconds, dtype=np.float64).tolist()]


MISSING_RULES = ("drop", "ffill")


def handle_missing(
    frame: pl.DataFrame,
    time_col: str,
    value_cols: list[str],
    rule: str | None,
    *,
    group_col: str | None = None,
) -> tuple[pl.DataFrame, dict]:
    """Apply the stated rule for missing values (null or NaN) in ``value_cols``.

    ``rule`` None refuses them (the error names ``--missing``); ``drop`` removes the rows;
    ``ffill`` carries each series' last value forward (within ``group_col``, in time order)
    and drops the rows before its first value. Rows without a time are dropped under
    either rule. Returns the frame and counts: ``rule``, ``rows_dropped``, ``values_filled``.
    """
    if rule is not None and rule not in MISSING_RULES:
        raise UsageError(f"--missing {rule!r}: use drop or ffill")
    value_cols = [c for c in value_cols if c]
    num = [c for c in value_cols if frame.schema[c].is_float()]
    frame = frame.with_columns(pl.col(c).fill_nan(None) for c in num)
    bad_time = frame.get_column(time_col).null_count()
    bad_values = {c: frame.get_column(c).null_count() for c in value_cols}
    note = {"rule": rule, "rows_dropped": 0, "values_filled": 0}
    if not bad_time and not any(bad_values.values()):
        return frame, note
    if rule is None:
        col, n = (time_col, bad_time) if bad_time else max(bad_values.items(), key=lambda x: x[1])
        first = int(np.flatnonzero(frame.get_column(col).is_null().to_numpy())[0])
        raise UsageError(
            f"column {col!r} has {n} missing, NaN or empty values (first at row {first}); "
            "choose a rule: --missing drop (remove those rows) or --missing ffill (carry the "
            "last value forward)"
        )
    n0 = frame.height
    frame = frame.filter(pl.col(time_col).is_not_null())
    if rule == "ffill":
        before = sum(frame.get_column(c).null_count() for c in value_cols)
        over = [group_col] if group_col else None
        frame = frame.with_columns(
            pl.col(c).forward_fill().over(over) if over else pl.col(c).forward_fill()
            for c in value_cols
        )
        after = sum(frame.get_column(c).null_count() for c in value_cols)
        note["values_filled"] = int(before - after)
    frame = frame.drop_nulls(value_cols)
    note["rows_dropped"] = int(n0 - frame.height)
    return frame, note


def missing_text(note: dict | None) -> str:
    """The missing-value rule and its counts, for a verdict ('' when nothing was missing)."""
    if not note or not (note.get("rows_dropped") or note.get("values_filled")):
        return ""
    parts = []
    if note.get("values_filled"):
        parts.append(f"{note['values_filled']} missing value(s) filled forward")
    if note.get("rows_dropped"):
        parts.append(f"{note['rows_dropped']} row(s) dropped")
    return f"--missing {note['rule']}: " + ", ".join(parts)


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
                + (
                    "keep one row per firm and time"
                    if group
                    else "keep one row per timestamp, or pass --allow-ties (allow_ties=True) "
                    "to keep the last price of each"
                )
            )


def time_text(seconds: float, labels=None) -> str:
    """A time in a verdict: as the data gave it (``labels``, a :class:`TimeLabels`), or
    ``t = SECONDS`` without labels."""
    return labels(seconds) if labels is not None else f"t = {seconds:.6g}"


def timed_frame(
    frame: pl.DataFrame,
    columns: dict[str, str],
    missing: str | None,
    time_unit: str | None,
    *,
    allow_ties: bool,
) -> tuple[pl.DataFrame, dict, TimeLabels, np.ndarray]:
    """A detector's checked input: the ``columns`` (role -> name, ``time`` among them)
    present, the missing-value rule applied to the others, the times read and in order.

    Returns the frame, the missing-value counts (:func:`handle_missing`), the labels of
    its times and the times in seconds.
    """
    time_col = columns["time"]
    require_columns(frame, columns)
    values = [col for role, col in columns.items() if role != "time"]
    frame, note = handle_missing(frame, time_col, values, missing)
    labels = TimeLabels(frame, time_col, time_unit)
    t = time_seconds(frame, time_col, time_unit)
    check_times(t, time_col, allow_ties=allow_ties)
    return frame, note, labels, t


def p_text(p: float) -> str:
    """A p-value for a sentence: ``p = 0.012``, or ``p < 1e-12`` below that (a printed
    ``p = 0`` reads as certainty, which no test gives)."""
    return f"p = {p:.2g}" if p >= 1e-12 else "p < 1e-12"


def check_min_obs(n: int, minimum: int, what: str) -> None:
    if n < minimum:
        raise UsageError(f"only {n} observations; {what} needs at least {minimum}")
