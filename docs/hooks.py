"""MkDocs hook: pages generated from the code at build time, so the guide cannot drift.

A page may contain these markers, each replaced by Markdown rendered from the code:

* ``<!-- marketsim:scenarios -->``: every registered scenario (``scenarios.SCENARIOS``),
  its version, the first paragraph of its module docstring and a table of its ``Spec``
  fields (name, type, default, constraints, description); nested groups (``llm.*``)
  are flattened to dotted keys, the form ``--set`` takes.
* ``<!-- marketsim:policies -->``: every policy of ``marketsim.scenarios.policies`` with its market
  and its fields.
* ``<!-- marketsim:validation -->``: the measured figures in ``benchmarks/results.json``
  beside the published ones.
* ``<!-- marketsim:validation-authors -->``: the authors'-mode run in the same file (how
  many of the 1,000 sessions are identical to the authors' file, and the aggregates).

The functions are importable (``docs/hooks.py`` is loaded by path), so the tests can
render the same tables.
"""

from __future__ import annotations

import inspect
import json
import re
import sys
import typing
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

_CONSTRAINTS = {
    "ge": ">=",
    "gt": ">",
    "le": "<=",
    "lt": "<",
    "min_length": "length >=",
    "max_length": "length <=",
}


def _cell(text: object) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")


def _type_name(annotation) -> str:
    text = getattr(annotation, "__name__", None) if not typing.get_args(annotation) else None
    if text is None:
        text = repr(annotation).replace("typing.", "")
    if "Annotated[" in text:  # the policy list: a discriminated union, listed on its own page
        return "list of policies (see Policies)" if "policies" in text else "annotated"
    return re.sub(r"\b(?:\w+\.)+(\w+)", r"\1", text).replace("NoneType", "None")


def _constraints(field) -> str:
    parts = []
    for meta in field.metadata:
        for attr, sign in _CONSTRAINTS.items():
            value = getattr(meta, attr, None)
            if value is not None:
                parts.append(f"{sign} {value:g}" if isinstance(value, float) else f"{sign} {value}")
    return ", ".join(parts)


def _default(field) -> str:
    if field.default_factory is not None:
        value = field.default_factory()
        if hasattr(value, "model_dump"):
            return "(group)"
        return repr(value)
    return repr(field.default)


def field_rows(model, prefix: str = "") -> list[tuple[str, str, str, str, str]]:
    """``(key, type, default, constraints, description)`` for every field of a pydantic
    model; fields that are themselves models are flattened to dotted keys."""
    from pydantic import BaseModel

    rows = []
    for name, field in model.model_fields.items():
        ann = field.annotation
        if inspect.isclass(ann) and issubclass(ann, BaseModel):
            rows.extend(field_rows(ann, prefix=f"{prefix}{name}."))
            continue
        rows.append(
            (
                f"{prefix}{name}",
                _type_name(ann),
                _default(field),
                _constraints(field),
                field.description or "",
            )
        )
    return rows


def _table(rows) -> str:
    out = ["| key | type | default | allowed | meaning |", "|---|---|---|---|---|"]
    out += [
        "| " + " | ".join(f"`{_cell(r[0])}`" if i == 0 else _cell(r[i]) for i in range(5)) + " |"
        for r in rows
    ]
    return "\n".join(out)


def _first_paragraph(doc: str | None) -> str:
    text = inspect.cleandoc(doc or "")
    return text.split("\n\n")[0].replace("\n", " ") if text else ""


def render_scenarios() -> str:
    """Markdown: one section per registered scenario with its parameter table."""
    from marketsim.scenarios import SCENARIOS, get_scenario

    parts = []
    for name in sorted(SCENARIOS):
        module = get_scenario(name)
        spec = module.Spec
        parts.append(f"## `{name}` (version {spec.version})\n")
        parts.append(_first_paragraph(module.__doc__) + "\n")
        parts.append(
            f"Module `{SCENARIOS[name]}`. Show the same list with "
            f"`marketsim params {name}`; change a value with "
            f"`--set KEY=VALUE` or a TOML file.\n"
        )
        parts.append(_table(field_rows(spec)) + "\n")
    return "\n".join(parts)


def policy_classes() -> list[type]:
    """The policy models of the discriminated union ``marketsim.scenarios.policies.Policy``."""
    from marketsim.scenarios import policies

    union = typing.get_args(policies.Policy)[0]
    return list(typing.get_args(union))


def render_policies() -> str:
    """Markdown: one section per policy with its market and parameter table."""
    parts = []
    for cls in policy_classes():
        name = cls.model_fields["name"].default
        market = {"book": "order-book markets", "pricing": "pricing markets", "any": "any market"}[
            cls.market
        ]
        parts.append(f"### `{name}` ({market})\n")
        parts.append(inspect.cleandoc(cls.__doc__ or "").replace("\n", " ") + "\n")
        rows = [r for r in field_rows(cls) if r[0] != "name"]
        parts.append(_table(rows) + "\n" if rows else "No parameters.\n")
    return "\n".join(parts)


def _fmt(value) -> str:
    if isinstance(value, float):
        return f"{value:,.4g}" if abs(value) < 1e4 else f"{value:,.0f}"
    return str(value)


def render_validation(path: Path | None = None) -> str:
    """Markdown: the measured Calvano baseline in ``benchmarks/results.json`` next to the
    published figures it stores beside them."""
    path = path or ROOT / "benchmarks" / "results.json"
    if not path.is_file():
        return (
            "*No measured figures on this checkout: `make bench` writes "
            "`benchmarks/results.json`, and the next `make docs` shows them here.*\n"
        )
    data = json.loads(path.read_text())
    bench = data.get("bench_calvano")
    if not bench:
        return "*`benchmarks/results.json` holds no `bench_calvano` figures yet.*\n"
    paper = bench.get("paper", {})
    rows = [
        ("Profit gain Delta, mean", bench.get("profit_gain_mean"), paper.get("profit_gain_mean")),
        ("Profit gain Delta, SD", bench.get("profit_gain_sd"), paper.get("profit_gain_sd")),
        ("Share converged", bench.get("converged_share"), 1.0),
        ("Periods to convergence, median", bench.get("periods_median"), "about 1.70M"),
    ]
    if bench.get("profit_gain_mean_seed1") is not None:
        rows.append(
            (
                "Profit gain Delta, mean (root seed 1)",
                bench["profit_gain_mean_seed1"],
                paper.get("profit_gain_mean"),
            )
        )
    published = paper.get("outcome_shares", [])
    # seed 0, then (when the benchmark has them) a second 1,000 sessions and the pool
    for key, suffix in (
        ("outcome_shares", ""),
        ("outcome_shares_seed1", " (root seed 1)"),
        ("outcome_shares_pooled_2000", " (both seeds, 2,000 sessions)"),
    ):
        for i, (name, value) in enumerate(bench.get(key, {}).items()):
            rows.append(
                (
                    f"Outcome share: {name.replace('_', ' ')}{suffix}",
                    value,
                    published[i] if i < len(published) else "",
                )
            )
    for key, label in (
        ("deviation_unprofitable_share", "Deviation unprofitable (IC)"),
        ("nash_on_path_share", "One-shot Nash on path"),
        ("rival_response_mean", "Rival's immediate response"),
        ("punishment_length_mean", "Punishment length (periods)"),
    ):
        rows.append((f"{label} (Table A10)", bench.get(key), paper.get(key)))
    machine = bench.get("machine") or data.get("machine", {})
    lines = [
        f"Measured by `make bench` (`benchmarks/bench_calvano.py`): 1,000 sessions, seed 0, "
        f"git revision `{machine.get('git_revision', '?')}`, {machine.get('cpus', '?')} "
        f"cores, wall time {_fmt(bench.get('baseline_1000_sessions_2_threads_wall_seconds'))} s, "
        f"{_fmt(bench.get('ns_per_period_one_thread'))} ns per period on one thread.\n",
        "| figure | marketsim | Calvano et al. (2020) |",
        "|---|---|---|",
    ]
    lines += [
        f"| {label} | {_fmt(ours)} | {_fmt(theirs)} |"
        for label, ours, theirs in rows
        if ours is not None
    ]
    return "\n".join(lines) + "\n"


def _validate_figures(path: Path | None, name: str) -> dict | str:
    """Benchmark ``name``'s figures in ``results.json`` (written by ``make validate``), or
    the note to show instead (with ``{what}`` to fill in)."""
    path = path or ROOT / "benchmarks" / "results.json"
    bench = json.loads(path.read_text()).get(name) if path.is_file() else None
    return bench or (
        "*No {what} on this checkout: `make validate` writes them to "
        "`benchmarks/results.json`, and the next `make docs` shows them here.*\n"
    )


def render_validation_authors(path: Path | None = None) -> str:
    """Markdown: the ``rng=authors`` run of ``benchmarks/bench_calvano_authors.py``, the
    count of sessions identical to the authors' file and the aggregates beside theirs."""
    bench = _validate_figures(path, "bench_calvano_authors")
    if isinstance(bench, str):
        return bench.format(what="authors'-mode figures")
    # the Table A10 row sits beside the other published figures (or, in files written
    # before they were flattened, under "table_a10")
    theirs = {**bench.get("authors", {}).get("table_a10", {}), **bench.get("authors", {})}
    checks = bench.get("matching_by_check", {})

    def fine(value) -> str:  # the authors print five decimals
        return f"{value:.5g}" if isinstance(value, float) else str(value)

    lines = [
        f"Measured by `make validate` (`benchmarks/bench_calvano_authors.py`): "
        f"**{bench.get('identical_sessions')} of {bench.get('sessions')} sessions identical** "
        f"to the authors' file (git revision `{bench.get('git_revision', '?')}`); wall time "
        f"{_fmt(bench.get('wall_seconds', bench.get('wall_seconds_2_threads')))} s on "
        f"{bench.get('threads', 2)} thread(s), "
        f"{_fmt(bench.get('ns_per_period_one_thread'))} ns per period on one "
        f"thread (default kernel in the same run: "
        f"{_fmt(bench.get('ns_per_period_one_thread_default_kernel'))} ns).\n",
        "| check | sessions equal |",
        "|---|---|",
    ]
    lines += [f"| {k.replace('_', ' ')} | {v} |" for k, v in checks.items()]
    lines += ["", "| figure | marketsim, rng=authors | Calvano et al. (2020) |", "|---|---|---|"]
    published = theirs.get("outcome_shares", [])
    rows = [
        ("Profit gain Delta, mean", "profit_gain_mean"),
        ("Profit gain Delta, SD", "profit_gain_sd"),
        ("Deviation unprofitable (IC, Table A10)", "deviation_unprofitable_share"),
        ("Nash equilibrium on path (Table A10)", "nash_on_path_share"),
        ("Rival's immediate response (Table A10)", "rival_response_mean"),
        ("Punishment length (Table A10)", "punishment_length_mean"),
    ]
    lines += [
        f"| {label} | {fine(bench.get(key))} | {fine(theirs.get(key, ''))} |"
        for label, key in rows
        if bench.get(key) is not None
    ]
    for i, (name, value) in enumerate(bench.get("outcome_shares", {}).items()):
        ref = published[i] if i < len(published) else ""
        lines.append(f"| Outcome share: {name.replace('_', ' ')} | {fine(value)} | {fine(ref)} |")
    return "\n".join(lines) + "\n"


def render_validation_shares(path: Path | None = None) -> str:
    """Markdown: the 5,000 default-mode sessions of ``benchmarks/bench_calvano_shares.py``,
    each outcome share with its 95% Wilson interval, beside the authors' 1,000 sessions
    (which ``rng=authors`` reproduces) and the interval of the difference."""
    bench = _validate_figures(path, "bench_calvano_shares")
    if isinstance(bench, str):
        return bench.format(what="5,000-session figures")
    theirs = bench.get("authors", {})

    def pct(value) -> str:
        return f"{100 * value:.1f}%"

    def interval(pair) -> str:
        return f"{100 * pair[0]:.1f} to {100 * pair[1]:.1f}"

    chi2 = bench.get("chi2_homogeneity", {})
    lines = [
        f"Measured by `make validate` (`benchmarks/bench_calvano_shares.py`): "
        f"{bench.get('sessions'):,} sessions of root seed {bench.get('root_seed')}, "
        f"{bench.get('converged'):,} converged, git revision "
        f"`{bench.get('git_revision', '?')}`. Intervals are 95% (Wilson for a share, "
        f"Newcombe for a difference of two shares), in percentage points.\n",
        f"| outcome | marketsim, default ({bench.get('sessions'):,}) | interval "
        f"| authors ({theirs.get('sessions', 1000):,}; = rng=authors) | interval "
        f"| difference | interval |",
        "|---|---|---|---|---|---|---|",
    ]
    for name, share in bench.get("outcome_shares", {}).items():
        ref = theirs.get("outcome_shares", {}).get(name)
        if ref is None:
            continue
        lines.append(
            f"| {name.replace('_', ' ')} | {pct(share)} "
            f"| {interval(bench['outcome_share_intervals'][name])} | {pct(ref)} "
            f"| {interval(theirs['outcome_share_intervals'][name])} "
            f"| {100 * (share - ref):+.1f} | {interval(bench['difference_intervals'][name])} |"
        )
    if chi2:
        lines.append(
            f"\nChi-square test that both come from one distribution of the four outcomes: "
            f"statistic {chi2['statistic']:.2f}, {chi2['dof']} degrees of freedom, "
            f"p = {chi2['pvalue']:.2g}."
        )
    return "\n".join(lines) + "\n"


_MARKERS = {
    "<!-- marketsim:scenarios -->": render_scenarios,
    "<!-- marketsim:policies -->": render_policies,
    "<!-- marketsim:validation -->": render_validation,
    "<!-- marketsim:validation-authors -->": render_validation_authors,
    "<!-- marketsim:validation-shares -->": render_validation_shares,
}


def on_page_markdown(markdown: str, page, config, files) -> str:  # noqa: ARG001
    """MkDocs event: replace each marker with the Markdown rendered from the code."""
    for marker, render in _MARKERS.items():
        if marker in markdown:
            markdown = markdown.replace(marker, render())
    return markdown
