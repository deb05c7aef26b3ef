"""``run`` and ``compare`` record their ``--set`` values and the parameters that differ
from the scenario's defaults; reports list those parameters first."""

from __future__ import annotations

import json

from marketsim.cli import main

SHORT = ["--set", "max_periods=3000", "--set", "conv_window=500", "--set", "alpha=0.2"]


def test_run_records_its_set_values_and_the_non_default_parameters(tmp_path):
    out = tmp_path / "run"
    assert (
        main(["run", "calvano2020", "--sessions", "1", *SHORT, "--quiet", "--out", str(out)]) == 0
    )
    summary = json.loads((out / "summary.json").read_text())
    assert summary["sets"] == ["max_periods=3000", "conv_window=500", "alpha=0.2"]
    assert summary["non_default"] == {"max_periods": 3000, "conv_window": 500, "alpha": 0.2}


def test_a_parameter_set_to_its_default_is_recorded_but_not_non_default(tmp_path):
    out = tmp_path / "run"
    argv = ["run", "calvano2020", "--sessions", "1", *SHORT, "--set", "delta=0.95"]
    assert main([*argv, "--quiet", "--out", str(out)]) == 0
    summary = json.loads((out / "summary.json").read_text())
    assert "delta=0.95" in summary["sets"] and "delta" not in summary["non_default"]


def test_compare_records_its_set_values(tmp_path):
    out = tmp_path / "cmp"
    argv = ["compare", "calvano2020", "--policy", "none", "--policy", "price_cap:cap=1.7"]
    assert (
        main([*argv, "--seeds", "2", "--sessions", "1", *SHORT, "--quiet", "--out", str(out)]) == 0
    )
    meta = json.loads((out / "compare.json").read_text())
    assert meta["sets"] == ["max_periods=3000", "conv_window=500", "alpha=0.2"]
    assert meta["non_default"] == {"max_periods": 3000, "conv_window": 500, "alpha": 0.2}


def test_api_parameters_are_non_default_too(tmp_path):
    import marketsim as ms

    res = ms.run("calvano2020", sessions=1, out=tmp_path / "r", max_periods=3000, conv_window=500)
    assert res.summary["sets"] == []
    assert res.summary["non_default"] == {"max_periods": 3000, "conv_window": 500}


def test_params_block_lists_the_non_default_ones_first_in_bold():
    from marketsim.analysis.report_page import _params_html

    params = {"alpha": 0.2, "beta": 4e-6, "delta": 0.95, "policy": [], "llm": {"model": "x"}}
    first = {"alpha": 0.2, "llm.model": "x", "policy": [{"name": "luld", "tier": 2}]}
    text = _params_html(params, first)
    items = text.split("<li>")[1:]
    assert items[0].startswith("<b>alpha = 0.2</b>")
    assert items[1].startswith("<b>llm.model = x</b>")
    assert items[2].startswith("<b>policy = luld, tier=2</b>")
    assert [i.split(" =")[0] for i in items[3:]] == ["beta", "delta"]  # llm is shown above
    assert "the 3 that differ from the scenario's defaults" in text
    assert "every one at the scenario's default" in _params_html(params, {}, recorded=True)
    # a run from before non_default was recorded: nothing claimed about defaults
    assert "default" not in _params_html(params, {})
