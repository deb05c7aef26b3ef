r"""Policy stress tests: the same seeds under each policy, with honest uncertainty.

:func:`compare` (``marketsim compare SCENARIO --policy none --policy luld --seeds 30 --out
DIR`` on the command line, :mod:`marketsim.cli.compare`) runs
seed ``s = 0 .. seeds-1`` of the scenario under every policy (common random numbers:
policy arms differ only in the policy, never in the random streams) and writes

* ``DIR/compare.parquet``: one row per (policy, metric): ``policy, metric, mean, ci_lo,
  ci_hi, diff, diff_lo, diff_hi, p_value, n_seeds``;
* ``DIR/compare.json``: the same rows, the per-seed values and the run's metadata;
* ``DIR/magnet.parquet`` (order-book scenarios, arms with ``luld`` or ``mwcb``): trading
  and order-flow rates by distance to the nearest limit, with and without the rule
  (:func:`magnet_effect`, :mod:`marketsim.analysis.magnet`), summarised in ``compare.json``;
* ``DIR/report.html`` with ``--report`` (forest plots, the magnet chart);
* ``DIR/cells/<policy>/seed_<s>/``: each run's own outputs and ``metrics.json``. A
  finished cell is reused when the command is run again with the same spec, so an
  interrupted comparison resumes where it stopped.

Statistics, for metric :math:`x_{p,s}` of policy :math:`p` and seed :math:`s`:

* ``mean``, ``ci_lo``, ``ci_hi``: the mean over seeds and its 95% Student-t interval;
* ``diff = mean_s (x_{p,s} - x_{0,s})``, the paired difference from the first policy
  (the baseline); ``diff_lo, diff_hi``: its 95% Student-t interval and ``p_value`` the
  two-sided p-value of the same paired t-test (``scipy.stats.ttest_1samp`` of the
  per-seed differences), so the interval excludes zero exactly when ``p < 0.05`` (a
  point and p = 0 when every difference is equal and non-zero). With few seeds the
  interval is wide; reports say so below 10 seeds.

A seed's metrics come from the scenario module's ``compare_metrics(out, summary, spec)``
when it has one, else from :func:`default_metrics`. In the Calvano market a seed is a
run of ``--sessions`` sessions and its ``delta`` is their mean profit gain.
"""

from __future__ import annotations

import hashlib
import json
import os
import time
from pathlib import Path

import numpy as np
import polars as pl
from scipy import stats

from marketsim.errors import UsageError
from marketsim.experiments._limits import check_workers
from marketsim.experiments.out_folder import claim
from marketsim.io import run_metadata, write_json_atomic, write_parquet_atomic
from marketsim.measures import t_interval
from marketsim.progress import progress_bar

#: most seeds per policy: the plan holds one cell per policy and seed in memory, and
#: 100,000 seeds already give intervals far narrower than any model's error
MAX_SEEDS = 100_000

COLUMNS = (
    "policy",
    "metric",
    "mean",
    "ci_lo",
    "ci_hi",
    "diff",
    "diff_lo",
    "diff_hi",
    "p_value",
    "n_seeds",
)

#: summary key -> metric name, for scenarios without their own ``compare_metrics``
SUMMARY_METRICS = {
    "profit_gain_mean": "delta",
    "price_index_mean": "price_index",
    "max_drawdown": "max_drawdown",
    "drawdown_seconds": "drawdown_seconds",
    "recovery_share": "recovery_share",
    "recovery_seconds": "recovery_seconds",
    "volatility": "volatility",
    "volume": "volume",
    "hot_potato_ratio": "hot_potato_ratio",
    "seconds_halted": "seconds_halted",
    "order_actions": "order_actions",
    "trades": "trades",
}


def default_metrics(out: Path, summary: dict, spec) -> dict[str, float]:
    """Numeric summary figures named in :data:`SUMMARY_METRICS`, plus, for Bertrand runs
    (a ``sessions.parquet`` with cycle prices), ``mean_price`` and ``consumer_surplus``:
    the logit surplus at each session's cycle prices, averaged over the cycle and the
    sessions. Under steering the logit surplus ignores where buyers were sent."""
    metrics: dict[str, float] = {}
    for key, name in SUMMARY_METRICS.items():
        v = summary.get(key)
        if isinstance(v, int | float) and not isinstance(v, bool) and v is not None:
            metrics[name] = float(v)
    sessions = out / "sessions.parquet"
    if sessions.is_file() and hasattr(spec, "market"):
        frame = pl.read_parquet(sessions)
        if "price_mean" in frame.columns:
            metrics["mean_price"] = float(frame["price_mean"].mean())
            market = spec.market()
            n = market.n
            cs = []
            for row in frame.select([f"cycle_prices_firm{i + 1}" for i in range(n)]).rows():
                prices = np.stack([np.asarray(r, dtype=float) for r in row], axis=-1)
                cs.append(float(market.consumer_surplus(prices).mean()))
            metrics["consumer_surplus"] = float(np.mean(cs))
    return metrics


# ------------------------------------------------------------------------------------
# statistics
# ------------------------------------------------------------------------------------


def paired_difference(
    x: np.ndarray, base: np.ndarray, *, seed: int = 0, level: float = 0.95, resamples: int = 9999
) -> tuple[float, float, float, float]:
    """Mean paired difference ``x - base``, its Student-t interval and the p-value of the
    same paired t-test (``scipy.stats.ttest_1samp`` of the differences against 0), so the
    interval excludes 0 exactly when ``p < 1 - level``.

    Seeds where either value is missing are dropped (pairs stay pairs). ``seed`` and
    ``resamples`` are accepted for callers of the earlier resampling version and unused.

    Returns
    -------
    (diff, diff_lo, diff_hi, p_value)
    """
    del seed, resamples
    x, base = np.asarray(x, dtype=float), np.asarray(base, dtype=float)
    ok = np.isfinite(x) & np.isfinite(base)
    d = x[ok] - base[ok]
    if d.size == 0:
        return np.nan, np.nan, np.nan, np.nan
    diff = float(d.mean())
    if d.size < 2:
        return diff, np.nan, np.nan, np.nan
    if np.all(d == d[0]):  # no spread: the interval is the point, the test is decided
        return diff, diff, diff, (1.0 if d[0] == 0 else 0.0)
    res = stats.ttest_1samp(d, 0.0)
    ci = res.confidence_interval(confidence_level=level)
    return diff, float(ci.low), float(ci.high), float(res.pvalue)


def compare_table(values: dict[str, dict[str, np.ndarray]], level: float = 0.95) -> pl.DataFrame:
    """The comparison table from per-seed values.

    Parameters
    ----------
    values : {policy label: {metric: ndarray(float64, shape (seeds,))}}; the first
        policy is the baseline. A metric missing in a run is NaN for that seed.
    """
    labels = list(values)
    base = values[labels[0]]
    metrics = sorted({m for v in values.values() for m in v})
    rows = []
    for pi, label in enumerate(labels):
        for mi, metric in enumerate(metrics):
            x = values[label].get(metric)
            if x is None:
                continue
            mean, lo, hi = t_interval(x, level)
            if pi == 0 or metric not in base:
                d = (0.0, 0.0, 0.0, 1.0) if pi == 0 else (np.nan,) * 4
            else:
                d = paired_difference(x, base[metric], seed=1000 * pi + mi, level=level)
            rows.append(
                {
                    "policy": label,
                    "metric": metric,
                    "mean": mean,
                    "ci_lo": lo,
                    "ci_hi": hi,
                    "diff": d[0],
                    "diff_lo": d[1],
                    "diff_hi": d[2],
                    "p_value": d[3],
                    "n_seeds": int(np.isfinite(x).sum()),
                }
            )
    schema = {c: pl.Float64 for c in COLUMNS}
    schema.update(policy=pl.String, metric=pl.String, n_seeds=pl.Int64)
    return pl.DataFrame(rows, schema=schema)


# ------------------------------------------------------------------------------------
# running the cells
# ------------------------------------------------------------------------------------


def _safe(label: str) -> str:
    keep = "".join(ch if ch.isalnum() or ch in "-_.=+" else "_" for ch in label)
    return keep[:80] + "-" + hashlib.sha1(label.encode()).hexdigest()[:6]


def marketsim_version() -> str:
    """marketsim's version, part of every cached cell's key: an upgrade recomputes."""
    import marketsim

    return marketsim.__version__


def run_cell(
    module, spec, *, seed: int, sessions: int | None, out: Path, threads: int | None
) -> dict[str, float]:
    """Run one (policy, seed) cell into ``out`` unless it is already there; its metrics.

    A cell on disk is reused only when its key (the validated spec, the scenario's
    version, marketsim's version, the seed and sessions) is this cell's."""
    key = hashlib.sha1(
        json.dumps(
            {
                "spec": spec.model_dump(mode="json"),
                "seed": seed,
                "sessions": sessions,
                "version": spec.version,
                "marketsim": marketsim_version(),
            },
            sort_keys=True,
        ).encode()
    ).hexdigest()
    done = out / "metrics.json"
    if done.is_file():
        cached = json.loads(done.read_text())
        if cached.get("key") == key:
            return {k: (np.nan if v is None else v) for k, v in cached["metrics"].items()}
    summary = module.run(
        spec, sessions=sessions, seed=seed, out=out, threads=threads, progress=False
    )
    hook = getattr(module, "compare_metrics", None)
    metrics = hook(out, summary, spec) if hook else default_metrics(out, summary, spec)
    write_json_atomic({"key": key, "seed": seed, "metrics": metrics}, done)
    return metrics


def _run_cell_in_worker(
    scenario: str, spec_json: dict, seed: int, sessions, out: str, threads: int
) -> dict[str, float]:
    """:func:`run_cell` in a worker process (the spec travels as JSON)."""
    from marketsim.experiments._workers import announce_kernels
    from marketsim.scenarios import build_spec, get_scenario

    module = get_scenario(scenario)
    announce_kernels(module)
    spec = build_spec(module.Spec, spec_json, None)
    return run_cell(module, spec, seed=seed, sessions=sessions, out=Path(out), threads=threads)


def check_compare_args(policies: list[str], seeds: int, workers: int) -> None:
    """The counts a comparison needs, checked before anything is written: two policies or
    more, 2 to :data:`MAX_SEEDS` seeds, a valid worker count."""
    if not policies:
        raise UsageError("--policy: give at least two, e.g. --policy none --policy luld")
    if len(policies) < 2:
        raise UsageError(
            "--policy: give at least two policies to compare (the first is "
            "the baseline), e.g. --policy none --policy luld"
        )
    if seeds < 2:
        raise UsageError(f"--seeds {seeds}: need at least 2 seeds for an interval")
    if seeds > MAX_SEEDS:
        raise UsageError(f"--seeds {seeds}: at most {MAX_SEEDS:,} seeds per policy")
    check_workers(workers)


def compare(
    scenario: str,
    policies: list[str],
    *,
    seeds: int,
    out,
    sessions: int | None = None,
    config: Path | None = None,
    sets: list[str] | None = None,
    threads: int | None = None,
    progress: bool = True,
    level: float = 0.95,
    workers: int = 1,
    params: dict | None = None,
    overwrite: bool = False,
) -> pl.DataFrame:
    """Run the comparison and write ``compare.parquet`` and ``compare.json``.

    Parameters
    ----------
    scenario : str, a registered scenario name
    policies : list of policy texts (``"none"``, ``"luld"``, ``"price_cap:cap=1.6"``,
        ``"luld+mwcb"``); the first is the baseline
    seeds : int, seeds 0 .. seeds-1 under every policy
    sessions : int or None, sessions per run (None: the scenario's default)
    workers : int, processes running cells at once (1: in this process). Each cell's
        numbers do not depend on it: a cell is a function of its spec and seed.
    params : dict, scenario parameters by name (``sets`` override them)
    overwrite : replace an earlier run in ``out``; without it ``out`` must be empty or
        hold this same comparison (which resumes; more seeds extend it)

    Returns
    -------
    polars.DataFrame with :data:`COLUMNS`
    """
    from marketsim.scenarios import resolve_spec
    from marketsim.scenarios.policies import parse_policies, policy_label

    check_compare_args(policies, seeds, workers)
    out = Path(out)
    module, base_spec = resolve_spec(scenario, config, list(sets or []), params)
    if "policy" not in type(base_spec).model_fields:
        raise UsageError(f"scenario {scenario!r} has no 'policy' field; it cannot be compared")
    specs, labels = [], []
    for text in policies:
        parsed = parse_policies(text)
        label = policy_label(parsed)
        if label in labels:
            raise UsageError(f"--policy {text}: given twice (as {label!r})")
        merged = list(base_spec.policy) + parsed
        data = base_spec.model_dump()
        data["policy"] = [p.model_dump() for p in merged]
        from marketsim.scenarios import build_spec

        specs.append(build_spec(type(base_spec), data, None))
        labels.append(label)

    claim(
        out,
        command="compare",
        scenario=scenario,
        identity={
            "version": base_spec.version,
            "marketsim": marketsim_version(),
            "policies": labels,
            "specs": [sp.model_dump(mode="json") for sp in specs],
            "sessions": sessions,
        },
        resumable=True,
        overwrite=overwrite,
        summary=" vs ".join(labels),
    )
    values: dict[str, dict[str, np.ndarray]] = {lab: {} for lab in labels}
    t0 = time.perf_counter()
    cells = [(p, s) for s in range(seeds) for p in range(len(labels))]

    def _cell_out(p, s):
        return out / "cells" / _safe(labels[p]) / f"seed_{s}"

    def _store(p, s, m):
        for k, v in m.items():
            values[labels[p]].setdefault(k, np.full(seeds, np.nan))[s] = v

    def _do(p, s):
        _store(
            p,
            s,
            run_cell(
                module, specs[p], seed=s, sessions=sessions, out=_cell_out(p, s), threads=threads
            ),
        )

    def _run_all(advance):
        if workers <= 1:
            for p, s in cells:
                _do(p, s)
                advance()
            return
        import multiprocessing
        from concurrent.futures import ProcessPoolExecutor, as_completed

        ctx = multiprocessing.get_context("spawn")  # no fork of numba's thread pool
        from marketsim.experiments._workers import die_with_parent

        with ProcessPoolExecutor(
            max_workers=min(workers, len(cells)),
            mp_context=ctx,
            initializer=die_with_parent,  # a killed parent takes its workers with it
            initargs=(os.getpid(),),
        ) as pool:
            futures = {
                pool.submit(
                    _run_cell_in_worker,
                    scenario,
                    specs[p].model_dump(mode="json"),
                    s,
                    sessions,
                    str(_cell_out(p, s)),
                    1 if threads is None else threads,
                ): (p, s)
                for p, s in cells
            }
            for fut in as_completed(futures):
                p, s = futures[fut]
                _store(p, s, fut.result())
                advance()

    if workers <= 1:
        from marketsim.experiments._workers import announce_kernels

        announce_kernels(module)
    with progress_bar("policy x seed runs", len(cells), enabled=progress) as update:
        _run_all(lambda: update(advance=1))

    table = compare_table(values, level)
    write_parquet_atomic(table, out / "compare.parquet")
    magnet = magnet_effect(out, labels, specs, seeds)
    if magnet is not None:
        from marketsim.analysis.magnet import magnet_summary

        write_parquet_atomic(magnet, out / "magnet.parquet")
    write_json_atomic(
        {
            "scenario": scenario,
            "version": base_spec.version,
            "params": base_spec.model_dump(mode="json"),
            "sets": list(sets or []),
            "non_default": base_spec.non_default(),
            "policies": [
                {"label": lab, "policy": sp.model_dump(mode="json")["policy"]}
                for lab, sp in zip(labels, specs, strict=True)
            ],
            "baseline": labels[0],
            "seeds": seeds,
            "sessions_per_seed": sessions,
            "level": level,
            "statistics": {
                "ci": "Student-t interval of the mean over seeds",
                "diff_ci": "Student-t interval of the mean paired difference (paired t-test)",
                "p_value": "two-sided p-value of the same paired t-test",
            },
            "rows": table.to_dicts(),
            **(
                {
                    "magnet": {
                        "bin_pct": MAGNET_BIN_PCT,
                        "by_policy": magnet_summary(magnet),
                        "method": "trading and order-flow rates per second binned by the "
                        "mid's distance to the nearest LULD band edge or "
                        "unreached MWCB level; 'without' = the baseline's runs "
                        "with the same limits computed ex post "
                        "(marketsim.analysis.magnet)",
                    }
                }
                if magnet is not None
                else {}
            ),
            "per_seed": {lab: {k: v.tolist() for k, v in m.items()} for lab, m in values.items()},
            "wall_seconds": time.perf_counter() - t0,
            **run_metadata(),
        },
        out / "compare.json",
    )
    return table


#: width of the magnet-effect distance bins, percent of price
MAGNET_BIN_PCT = 1.0


def magnet_effect(
    out: Path, labels: list[str], specs: list, seeds: int, bin_pct: float = MAGNET_BIN_PCT
) -> pl.DataFrame | None:
    """The magnet-effect table (:mod:`marketsim.analysis.magnet`) for order-book comparisons.

    For each policy arm with a price limit (``luld`` and/or ``mwcb``), its own runs
    (``arm = "with"``) and the baseline's runs with the same limits computed ex post
    (``"without"``). None when no arm has a limit or the cells have no book tables.
    """
    from marketsim.analysis.magnet import limit_distance, magnet_rows, magnet_table

    base = specs[0]
    if not all(hasattr(base, k) for k in ("tick_size", "initial_price_tick", "session_seconds")):
        return None
    from marketsim.scenarios._orderbook_market import OPEN_NS, previous_close_tick

    parts = []
    for label, spec in zip(labels[1:], specs[1:], strict=True):
        limits = [p for p in spec.policy if p.name in ("luld", "mwcb")]
        if not limits:
            continue
        for arm, cell_label in (("with", label), ("without", labels[0])):
            for s in range(seeds):
                cell = out / "cells" / _safe(cell_label) / f"seed_{s}"
                if not (cell / "book.parquet").is_file() or not (cell / "trades.parquet").is_file():
                    return None
                book = pl.read_parquet(cell / "book.parquet")
                trades = pl.read_parquet(
                    cell / "trades.parquet",
                    columns=["t_ns", "price_tick"]
                    + (["session"] if "session" in book.columns else []),
                )
                sessions = (
                    book["session"].unique().sort().to_list()
                    if "session" in book.columns
                    else [None]
                )
                for sess in sessions:
                    b = book if sess is None else book.filter(pl.col("session") == sess)
                    tr = trades if sess is None else trades.filter(pl.col("session") == sess)
                    dist = limit_distance(
                        b,
                        tr,
                        limits,
                        prev_close_tick=previous_close_tick(spec),
                        tick_size=spec.tick_size,
                        open_ns=OPEN_NS,
                        close_ns=OPEN_NS + spec.session_seconds * 1_000_000_000,
                    )
                    parts.append((label, arm, s, magnet_rows(dist, b, bin_pct=bin_pct)))
    if not parts:
        return None
    return magnet_table(parts, bin_pct=bin_pct)


__all__ = [
    "COLUMNS",
    "compare",
    "compare_table",
    "default_metrics",
    "paired_difference",
    "t_interval",
]
