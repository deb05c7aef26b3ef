"""``audit.md``: the verdict with its evidence and one table row per test."""

from __future__ import annotations

from pathlib import Path

from marketsim.analysis.audit_text import key_figures


def write_report(result: dict, path) -> Path:
    """``audit.md``: the verdict with its evidence and one table per test."""

    from marketsim.io import write_text_atomic

    t = result["tests"]
    lines = [
        f"# Audit of `{result['algorithm'] or 'algorithm'}`",
        "",
        f"**Verdict: {result['verdict']}**, because:",
        "",
    ]
    lines += [f"- {w}" for w in result["evidence"]]
    lines += ["", "| test | status | key figures (mean [95% CI]) | failures |", "|---|---|---|---|"]
    for name, r in t.items():
        fails = ", ".join(f"{k} {v}" for k, v in r.get("failures", {}).items() if v) or "none"
        if r.get("status") != "measured":
            lines.append(f"| {name} | not measured | {r.get('reason', '')} | {fails} |")
            continue
        fig = key_figures(name, r)
        lines.append(f"| {name} | measured | {fig} | {fails} |")
    lines += [
        "",
        "Profit gain Delta = (profit - Nash profit) / (monopoly profit - Nash "
        "profit); price index likewise for prices. See `audit.json` for every figure.",
        "",
    ]
    return write_text_atomic("\n".join(lines), path)
