"""The compare forest plot draws each metric's own rows on its own scale (issue 17, item 1).

Before the fix the rows were given both to the layer and to the facet, so every panel drew
every metric's points on one shared axis (the consumer-surplus row of a price-cap
comparison showed Delta's -0.35 beside its real +0.14). Checked on the Vega-Lite spec's
data and encodings, not on pixels.
"""

from __future__ import annotations

import json

import polars as pl
import pytest

#: two metrics whose differences are five orders of magnitude apart
EFFECTS = pl.DataFrame(
    {
        "policy": ["none", "luld", "none", "luld"],
        "metric": ["max_drawdown", "max_drawdown", "volume", "volume"],
        "diff": [0.0, -0.021, 0.0, -512_000.0],
        "diff_lo": [0.0, -0.034, 0.0, -598_000.0],
        "diff_hi": [0.0, -0.008, 0.0, -430_000.0],
        "p_value": [1.0, 0.02, 1.0, 0.01],
    }
)


def _rows(spec: dict, view: dict) -> list[dict]:
    """Data rows of one view (inline or named in the spec's top-level datasets)."""
    data = view.get("data")
    if data is None:
        return []
    if "values" in data:
        return data["values"]
    return spec["datasets"][data["name"]]


def _panels(spec: dict) -> list[dict]:
    assert "vconcat" in spec, f"one panel per metric expected, got keys {sorted(spec)}"
    return spec["vconcat"]


@pytest.fixture(scope="module")
def spec():
    from marketsim.analysis.charts import forest_plot

    labels = {
        "max_drawdown": ("max drawdown", "percentage points of the peak", "+.1%"),
        "volume": ("volume", "contracts", None),
    }
    return forest_plot(EFFECTS, labels).to_dict()


def test_each_panel_holds_only_its_own_metrics_rows(spec):
    panels = _panels(spec)
    assert len(panels) == 2
    for panel, metric in zip(panels, ("max_drawdown", "volume"), strict=True):
        # the distinct data sources the panel and its layers read (layers may share one)
        sources = {
            json.dumps(v["data"], sort_keys=True): v
            for v in [panel, *panel["layer"]]
            if "data" in v
        }
        rows = [r for v in sources.values() for r in _rows(spec, v) if "metric" in r]
        assert {r["metric"] for r in rows} == {metric}
        expected = EFFECTS.filter(pl.col("metric") == metric)
        assert sorted(r["diff"] for r in rows) == sorted(expected["diff"].to_list())
        assert sorted(r["diff_lo"] for r in rows) == sorted(expected["diff_lo"].to_list())


def test_each_panel_has_its_own_x_scale(spec):
    assert spec.get("resolve", {}).get("scale", {}).get("x") == "independent"
    # and no panel fixes a shared domain that would squash the smaller metric
    for panel in _panels(spec):
        for layer in panel["layer"]:
            x = layer.get("encoding", {}).get("x", {})
            assert "domain" not in x.get("scale", {})


def test_each_panel_names_its_metric_and_unit(spec):
    titles = []
    for panel in _panels(spec):
        xs = [layer["encoding"]["x"] for layer in panel["layer"] if "x2" in layer["encoding"]]
        (x,) = xs
        titles.append(x["title"])
        assert x["field"] == "diff_lo" and xs[0] is x
    assert "max drawdown" in titles[0] and "percentage points" in titles[0]
    assert "volume" in titles[1] and "contracts" in titles[1]


def test_compiled_chart_has_one_x_scale_per_metric(spec):
    """Vega itself (compiled by vl-convert) gets two x scales with different domains."""
    import vl_convert as vlc

    vega = vlc.vegalite_to_vega(spec)
    x_scales = [
        s
        for m in vega.get("marks", [])
        for s in m.get("scales", [])
        if s["name"].endswith("x") and s.get("type") == "linear"
    ] + [s for s in vega.get("scales", []) if s["name"].endswith("x")]
    assert len(x_scales) == 2, [s["name"] for s in x_scales]
