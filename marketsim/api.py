"""The Python API: ``import marketsim as ms``.

The same runs as the command line (which is a thin layer over these functions), for
notebooks and scripts. Results come back as Polars frames and plain dicts; files are
written only when ``out=`` is given (otherwise the run goes to a temporary folder that is
read back into memory and removed).

>>> import marketsim as ms
>>> res = ms.run("calvano2020", sessions=50, seed=0, alpha=0.1)   # doctest: +SKIP
>>> res.summary["profit_gain_mean"], res.sessions.height           # doctest: +SKIP

Functions: :func:`run`, :func:`compare`, :func:`sweep`, :func:`calibrate`, :func:`report`,
:func:`scenarios`, :func:`params`, and the detectors ``detect.collusion``, ``detect.crash``,
``detect.feedback``, ``detect.spreads`` (over frames you hold, from marketsim or not).
"""

from __future__ import annotations

import json
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import polars as pl

from marketsim import _API
from marketsim.errors import UsageError


@dataclass
class Result:
    """A finished run: its summary and its tables.

    Attributes
    ----------
    scenario : str
    summary : dict, the content of ``summary.json`` (with the ``detectors`` block)
    tables : dict of str to polars.DataFrame, one per Parquet file of the run, by file
        stem (with ``out``, read from disk on first use); each is also an attribute
        (``result.sessions``, ``result.impulse``, ``result.trades``, ``result.book``,
        ``result.agents``)
    out : Path or None, the output folder when ``out=`` was given
    """

    scenario: str
    summary: dict
    tables: dict[str, pl.DataFrame] = field(repr=False)
    out: Path | None = None

    def __getattr__(self, name: str) -> pl.DataFrame:
        tables = self.__dict__.get("tables", {})
        if name in tables:
            if isinstance(tables[name], Path):  # files on disk are read on first use
                tables[name] = pl.read_parquet(tables[name])
            return tables[name]
        known = ", ".join(sorted(tables)) or "none"
        raise AttributeError(
            f"this {self.__dict__.get('scenario')} run has no table {name!r} (tables: {known})"
        )

    def __dir__(self):
        return [*super().__dir__(), *self.__dict__.get("tables", {})]


@dataclass
class Comparison:
    """A finished comparison: ``table`` (one row per policy and metric: mean, CI, paired
    difference from the baseline with its CI and p-value), ``summary`` (``compare.json``),
    ``out`` (the folder, or None)."""

    scenario: str
    table: pl.DataFrame
    summary: dict = field(repr=False)
    out: Path | None = None


def _tables(folder: Path, eager: bool) -> dict[str, pl.DataFrame | Path]:
    """The run's Parquet tables by stem: read now (``eager``) or on first use."""
    paths = sorted(folder.glob("*.parquet"))
    return {p.stem: pl.read_parquet(p) if eager else p for p in paths}


class _Folder:
    """``out`` when given, else a temporary folder removed on exit."""

    def __init__(self, out):
        self.out = None if out is None else Path(out)
        self._tmp = None

    def __enter__(self) -> Path:
        if self.out is not None:
            return self.out
        self._tmp = tempfile.TemporaryDirectory(prefix="marketsim-")
        return Path(self._tmp.name) / "run"

    def __exit__(self, *exc):
        if self._tmp is not None:
            self._tmp.cleanup()


def _runner_options(sessions, config, threads, progress, overwrite) -> dict:
    """The options :func:`run` and :func:`compare` pass on to their runner unchanged but
    for ``config``, a path."""
    return {
        "sessions": sessions,
        "config": None if config is None else Path(config),
        "threads": threads,
        "progress": progress,
        "overwrite": overwrite,
    }


def run(
    scenario: str,
    *,
    sessions: int | None = None,
    seed: int = 0,
    out=None,
    config=None,
    threads: int | None = None,
    progress: bool = False,
    params: dict[str, Any] | None = None,
    sets: list[str] | None = None,
    api_key_env: str | None = None,
    overwrite: bool = False,
    **kwargs: Any,
) -> Result:
    """Run a scenario; the same run as ``marketsim run``.

    Parameters
    ----------
    scenario : str, a name from :func:`scenarios`
    sessions : int or None, independent sessions (None: the scenario's default)
    seed : int, root seed; the same scenario, parameters and seed give the same numbers
    out : path or None, folder for the files (``summary.json`` and the tables)
    config : path of a TOML file of parameters (``params`` override it)
    threads : int or None, numba threads (the numbers do not depend on it)
    params : dict, scenario parameters by name (nested dicts for groups such as ``llm``)
    sets : list of ``KEY=VALUE`` texts (``--set``), over ``params``; recorded as given in
        the summary's ``sets`` (every parameter that differs from the scenario's default
        is in its ``non_default``)
    api_key_env : str or None, the environment variable holding an LLM key
        (``--api-key-env``); the scenario's ``llm.api_key_env`` may only name one
        ending in ``_API_KEY``
    overwrite : bool, replace an earlier run in ``out`` (without it a non-empty ``out``
        raises :class:`marketsim.UsageError`)
    **kwargs : scenario parameters by name, e.g. ``alpha=0.1``, ``policy="luld"``
        (over ``params``); see :func:`params`. An unknown name or a value out of range
        raises :class:`marketsim.UsageError` naming it.
    """
    from marketsim.experiments.run import run_scenario

    with _Folder(out) as folder:
        summary = run_scenario(
            scenario,
            out=folder,
            seed=seed,
            params={**(params or {}), **kwargs},
            sets=sets,
            api_key_env=api_key_env,
            **_runner_options(sessions, config, threads, progress, overwrite),
        )
        summary = json.loads(json.dumps(summary, default=str))
        return Result(scenario, summary, _tables(folder, eager=out is None), out and folder)


def compare(
    scenario: str,
    policies: list[str],
    *,
    seeds: int = 30,
    sessions: int | None = None,
    out=None,
    config=None,
    threads: int | None = None,
    workers: int = 1,
    progress: bool = False,
    params: dict[str, Any] | None = None,
    sets: list[str] | None = None,
    overwrite: bool = False,
    ensemble=None,
    **kwargs: Any,
) -> Comparison:
    """The same seeds under each policy (the first is the baseline); ``marketsim compare``.

    ``policies`` are policy texts (``"none"``, ``"luld"``, ``"price_cap:cap=1.6"``,
    ``"luld+mwcb"``). ``sets`` are ``KEY=VALUE`` texts (``--set``) over ``params``, recorded
    in ``compare.json``. Without ``out`` the cells run in a temporary folder, so nothing
    resumes; give ``out`` for a long comparison (the same call resumes there;
    ``overwrite=True`` replaces an earlier run).

    ``ensemble``: a ``calibrate`` output folder; the comparison then runs once per
    accepted calibration (``compare --ensemble``, :mod:`marketsim.experiments.ensemble`)
    and ``table`` is ``ensemble.parquet`` (the effect per calibration and pooled),
    ``summary`` is ``ensemble.json``.
    """
    if ensemble is None:
        from marketsim.experiments.compare import compare as runner

        extra = {"sets": list(sets or []), "params": {**(params or {}), **kwargs}}
        summary_name = "compare.json"
    else:
        from marketsim.experiments.ensemble import compare_ensemble as runner
        from marketsim.scenarios import parse_sets

        params = {**(params or {}), **parse_sets(list(sets or [])), **kwargs}
        extra = {"ensemble": Path(ensemble), "params": params}
        summary_name = "ensemble.json"
    with _Folder(out) as folder:
        table = runner(
            scenario,
            list(policies),
            seeds=seeds,
            out=folder,
            workers=workers,
            **_runner_options(sessions, config, threads, progress, overwrite),
            **extra,
        )
        summary = json.loads((folder / summary_name).read_text())
        return Comparison(scenario, table, summary, None if out is None else folder)


def sweep(
    scenario: str,
    grid: dict[str, list],
    *,
    seeds: int,
    seed: int = 0,
    out=None,
    workers: int | None = None,
    scheduler: str | None = None,
    progress: bool = False,
    overwrite: bool = False,
    **params: Any,
) -> pl.DataFrame:
    """A scenario over a parameter grid and ``seeds`` sessions per point; ``marketsim sweep``.

    Returns one row per session with a column per grid key. With ``out`` the sweep resumes
    where it stopped when called again (``overwrite=True`` replaces an earlier run).
    """
    from marketsim.analysis.sweep_tables import scan_sweep
    from marketsim.experiments.sweep import plan_sweep, run_sweep

    plan = plan_sweep(
        scenario, {k: list(v) for k, v in grid.items()}, seeds=seeds, seed=seed, config=params
    )
    with _Folder(out) as folder:
        status = run_sweep(
            plan,
            folder,
            workers=workers,
            scheduler=scheduler,
            quiet=not progress,
            overwrite=overwrite,
        )
        if status["failed"]:
            raise UsageError(f"sweep: {len(status['failed'])} task(s) failed: {status['failed']}")
        return scan_sweep(folder).collect().sort([*grid, "session"])


def calibrate(
    scenario: str,
    *,
    targets,
    params: dict[str, tuple[float, float]],
    budget: int,
    seeds: int,
    seed: int = 0,
    out=None,
    workers: int | None = None,
    scheduler: str | None = None,
    progress: bool = False,
    sets: list[str] | None = None,
    config: dict | None = None,
    refine: int = 0,
) -> dict:
    """Fit ``params`` (name -> (LO, HI)) to a targets card; ``marketsim calibrate``.

    Returns the calibration's summary (``summary.json``) with ``table`` (every candidate:
    parameters, pooled moments, distance, accepted) and ``accepted`` (the accepted rows)
    as polars frames. With ``out`` the calibration resumes where it stopped when called
    again. See :mod:`marketsim.experiments.calibrate` for the distance and acceptance.
    """
    from marketsim.experiments.calibrate import plan_calibration, run_calibration

    plan = plan_calibration(
        scenario,
        targets,
        {k: (float(v[0]), float(v[1])) for k, v in params.items()},
        budget=budget,
        seeds=seeds,
        seed=seed,
        config=config,
        sets=sets,
    )
    with _Folder(out) as folder:
        summary = run_calibration(
            plan, folder, workers=workers, scheduler=scheduler, quiet=not progress, refine=refine
        )
        summary["table"] = pl.read_parquet(folder / "calibration.parquet")
        summary["accepted"] = pl.read_parquet(folder / "accepted.parquet")
        return summary


def report(result) -> Path:
    """Write ``report.html`` for a run, comparison, sweep, calibration or ensemble folder
    (or a result with ``out``); nothing is run again."""
    from marketsim.analysis.report import write_report

    folder = getattr(result, "out", result)
    if folder is None:
        raise UsageError("report: this result has no folder; run it with out=... to report it")
    folder = Path(folder)
    _check_run_files(folder)
    from marketsim.experiments.calibrate import report_bands

    bands, note = report_bands(folder)
    try:
        return Path(write_report(folder, bands=bands, bands_note=note))
    except (pl.exceptions.PolarsError, OSError) as exc:  # a table damaged inside
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        raise UsageError(
            f"report: a table in {folder} cannot be read ({first}); re-run the command "
            "that wrote the folder"
        ) from None


def _check_run_files(folder: Path) -> None:
    """Each summary file of a run folder is a JSON object and each table a Parquet file,
    or one line naming the file (before any chart is drawn)."""
    if not folder.is_dir():
        return  # write_report says so
    for name in ("summary.json", "compare.json", "sweep.json", "audit.json", "ensemble.json"):
        path = folder / name
        if not path.exists():
            continue
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise UsageError(
                f"report: {path}: not valid JSON ({exc}); re-run to rewrite it"
            ) from None
        if not isinstance(data, dict):
            raise UsageError(
                f"report: {path}: holds a JSON {type(data).__name__}, not an object; "
                "re-run the command that wrote the folder"
            )
    for path in [*sorted(folder.glob("*.parquet")), *sorted(folder.glob("parts/*.parquet"))]:
        try:
            pl.read_parquet_schema(path)
        except (pl.exceptions.PolarsError, OSError) as exc:
            first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
            raise UsageError(
                f"report: {path}: not a readable Parquet file ({first}); re-run the "
                "command that wrote the folder"
            ) from None


def scenarios() -> list[str]:
    """The names of the registered scenarios."""
    from marketsim.scenarios import SCENARIOS

    return sorted(SCENARIOS)


def params(name: str) -> pl.DataFrame:
    """A scenario's or a policy's parameters, one row each: ``name``, ``type``, ``range``,
    ``default`` (``required`` when there is none) and ``description``."""
    from marketsim.scenarios import describe_parameters

    _, rows = describe_parameters(name)
    cols = ("name", "type", "range", "default", "description")
    return pl.DataFrame(rows, schema=dict.fromkeys(cols, pl.String))


def _collusion(prices, **kwargs) -> dict:
    """Collusion screens on firms' prices (:func:`marketsim.analysis.detect_collusion`)."""
    from marketsim.analysis.collusion import detect_collusion

    return detect_collusion(prices, **kwargs)


def _crash(prices, **kwargs) -> dict:
    """Drawdowns and mini flash crashes (:func:`marketsim.analysis.detect_crashes`)."""
    from marketsim.analysis.crashes import detect_crashes

    return detect_crashes(prices, **kwargs)


def _feedback(trades, **kwargs) -> dict:
    """Feedback detectors on trades (:func:`marketsim.analysis.detect_feedback`)."""
    from marketsim.analysis.feedback import detect_feedback

    return detect_feedback(trades, **kwargs)


def _spreads(quotes, **kwargs) -> dict:
    """Spread screen on market makers' quotes (:mod:`marketsim.analysis.spreads`)."""
    from marketsim.analysis.spreads import detect_spreads

    return detect_spreads(quotes, **kwargs)


#: the detectors over frames: ``detect.collusion``, ``detect.crash``, ``detect.feedback``,
#: ``detect.spreads``
detect = SimpleNamespace(collusion=_collusion, crash=_crash, feedback=_feedback, spreads=_spreads)

#: the names ``marketsim`` offers lazily (its ``__getattr__``), all defined here
__all__ = sorted([*_API, "scenarios"])
