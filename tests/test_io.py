"""Atomic result files: whole or absent, and readable like any file the user writes."""

import os
import stat

import polars as pl
import pytest

from marketsim import io


def test_atomic_files_get_the_usual_permissions(tmp_path):
    mask = os.umask(0o022)
    try:
        j = io.write_json_atomic({"x": 1.5, "bad": float("nan")}, tmp_path / "a" / "s.json")
        p = io.write_parquet_atomic(pl.DataFrame({"x": [1, 2]}), tmp_path / "t.parquet")
    finally:
        os.umask(mask)
    for path in (j, p):
        assert stat.S_IMODE(path.stat().st_mode) & 0o044 == 0o044  # group/other can read
    assert j.read_text().count("null") == 1  # NaN is written as null
    assert not list(tmp_path.rglob("*.tmp"))


def test_a_failed_write_leaves_no_file(tmp_path):
    class Unserialisable:
        pass

    with pytest.raises(TypeError):
        io.write_json_atomic({"x": Unserialisable()}, tmp_path / "s.json")
    assert not (tmp_path / "s.json").exists()
    assert not list(tmp_path.glob(".*tmp"))
