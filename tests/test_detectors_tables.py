"""The detectors' table readers: CSV dialects, text dates, times shown as given, missing rules."""

from __future__ import annotations

import numpy as np
import polars as pl
import pytest

from marketsim.analysis._validate import (
    TimeLabels,
    handle_missing,
    read_table,
    sniff_csv,
    time_seconds,
)
from marketsim.errors import UsageError


@pytest.mark.parametrize(
    "head, sep, comma",
    [
        ("t,price\n1,2.5\n2,2.75\n", ",", False),
        ("t;price\n1;2,5\n2;2,75\n", ";", True),
        ("t;price\n1;2.5\n2;2.75\n", ";", False),
        ("t\tprice\n1\t2,5\n", "\t", True),
        ('date,firm,price\n2021-01-04,"A",1.5\n', ",", False),
    ],
)
def test_sniff_csv_finds_the_separator_and_the_decimal_comma(head, sep, comma):
    assert sniff_csv(head) == (sep, comma)


def test_read_table_reads_european_csv_and_keeps_text_times(tmp_path):
    path = tmp_path / "x.csv"
    path.write_text("Zeit;Kurs\n06.05.2010 14:45:00;1757,25\n06.05.2010 14:45:01;NA\n")
    frame = read_table(path)
    assert frame["Kurs"].to_list() == [1757.25, None]
    assert frame["Zeit"].dtype == pl.String
    assert np.diff(time_seconds(frame, "Zeit")).tolist() == [1.0]
    with pytest.raises(UsageError, match="--sep"):
        read_table(path, sep=",", decimal_comma=True)


def test_time_labels_show_times_as_given():
    ns = pl.DataFrame({"t_ns": [34_200 * 10**9, 34_200 * 10**9 + 1_500_000_000]})
    clock = TimeLabels(ns, "t_ns")
    assert clock.kind == "clock" and clock.many([34_200.0, 34_201.5]) == [
        "09:30:00.000",
        "09:30:01.500",
    ]
    whole = TimeLabels(pl.DataFrame({"t_s": [3600, 3601]}), "t_s")
    assert whole(3600.0) == "01:00:00"
    plain = TimeLabels(pl.DataFrame({"t": [0, 1, 2]}), "t")
    assert plain.kind == "number" and plain(2.0) == "t = 2"
    dates = pl.DataFrame({"d": pl.date_range(pl.date(2021, 1, 4), pl.date(2021, 1, 6), eager=True)})
    lab = TimeLabels(dates, "d")
    assert lab.many(time_seconds(dates, "d")) == ["2021-01-04", "2021-01-05", "2021-01-06"]
    text = pl.DataFrame({"ts": ["2010-05-06T14:45:27.250", "2010-05-06T14:45:28.000"]})
    lab = TimeLabels(text, "ts")
    assert lab.kind == "text" and lab.many(time_seconds(text, "ts")) == text["ts"].to_list()
    epoch = pl.DataFrame({"t_ms": [1_273_157_127_250, 1_273_157_128_000]})
    assert TimeLabels(epoch, "t_ms")(1_273_157_127.25) == "2010-05-06 14:45:27.250"
    with pytest.raises(UsageError, match="not a date or time"):
        time_seconds(pl.DataFrame({"t": ["soon", "later"]}), "t")


def test_missing_rules_drop_and_ffill_count_what_they_did():
    frame = pl.DataFrame({"t": [1, 2, 3, 4, None], "p": [None, 2.0, float("nan"), 4.0, 5.0]})
    with pytest.raises(UsageError, match="--missing drop"):
        handle_missing(frame, "t", ["p"], None)
    dropped, note = handle_missing(frame, "t", ["p"], "drop")
    assert dropped["t"].to_list() == [2, 4] and note["rows_dropped"] == 3
    filled, note = handle_missing(frame, "t", ["p"], "ffill")
    # the NaN is filled from 2.0; the leading gap cannot be; the row without a time goes
    assert filled["p"].to_list() == [2.0, 2.0, 4.0] and note == {
        "rule": "ffill",
        "rows_dropped": 2,
        "values_filled": 1,
    }
