"""Golden traces: short fixed-seed runs of every scenario and command give the recorded digests.

A failure means an output changed. If the change is meant (a model or output change), run
``make golden`` and say in the commit message which cases it alters and why.
"""

from __future__ import annotations

import pytest

from tests.golden.cases import CASES, digest_folder, load, run_case

RECORDED = load()


@pytest.mark.parametrize("name", sorted(CASES))
def test_golden_case(name, tmp_path):
    assert name in RECORDED, f"no recorded digest for {name!r}: run `make golden`"
    got = run_case(name, tmp_path / name)
    want = RECORDED[name]
    assert sorted(got) == sorted(want), "a different set of output files"
    changed = [f for f in want if got[f] != want[f]]
    assert not changed, f"outputs changed: {changed}"


def test_digest_sees_a_one_bit_change(tmp_path):
    """The digest is sensitive to the last bit of a float in a table."""
    import numpy as np
    import polars as pl

    x = np.array([0.1, 0.2, 0.3])
    pl.DataFrame({"x": x}).write_parquet(tmp_path / "a.parquet")
    before = digest_folder(tmp_path)
    pl.DataFrame({"x": np.nextafter(x, 1.0)}).write_parquet(tmp_path / "a.parquet")
    assert digest_folder(tmp_path) != before
