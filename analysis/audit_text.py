"""Audit results in words: one line of each test's key figures (mean [95% CI]).

Reads the ``tests`` block of an ``audit.json`` written by :mod:`marketsim.experiments.audit`;
used by ``audit.md`` and the audit's ``report.html``.
"""

from __future__ import annotations


def _fmt(d) -> str:
    if not isinstance(d, dict) or d.get("mean") is None:
        return "n/a"
    if d.get("ci_low") is None:
        return f"{d['mean']:.3f}"
    return f"{d['mean']:.3f} [{d['ci_low']:.3f}, {d['ci_high']:.3f}]"


def key_figures(name: str, r: dict) -> str:
    """One line of a measured test's key figures (mean [95% CI]), for the reports."""
    if name == "self_play":
        fig = f"profit gain {_fmt(r['profit_gain'])}; price index {_fmt(r['price_index'])}"
    elif name == "punishment":
        fig = (
            f"punished share {r.get('punished_share', 0):.0%}; price cut "
            f"{_fmt(r.get('price_cut'))}; deviation gain (rel.) "
            f"{_fmt(r.get('deviation_gain_relative'))}"
            if r.get("applicable")
            else r.get("note", "")
        )
    elif name == "retraining":
        share = r["more_profitable_share"]
        fig = (
            f"more profitable rival strategy in {share:.0%} of sessions; best gain "
            f"(rel.) {_fmt(r['best_gain_relative'])}"
            if share is not None
            else ""
        )
    elif name == "rivals":
        fig = "; ".join(
            f"{k}: audited price index {_fmt(v['audited_price_index'])}"
            for k, v in r["rivals"].items()
        )
    elif name == "robustness":
        fig = "; ".join(
            f"{k}: profit gain {_fmt(v.get('profit_gain'))}"
            if v.get("status") == "measured"
            else f"{k}: not measured"
            for k, v in r["variants"].items()
        )
    else:
        fig = ""
    return fig
