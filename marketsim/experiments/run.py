"""One scenario run: the scenario writes its tables and summary, then the detectors read them.

Shared by ``marketsim run`` and :func:`marketsim.run`, so both write the same
``summary.json``: the scenario's own summary plus a ``detectors`` block
(:func:`marketsim.analysis.run_detectors` over the files just written).
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

from marketsim.analysis import run_detectors
from marketsim.errors import UsageError
from marketsim.experiments.out_folder import claim
from marketsim.io import write_json_atomic
from marketsim.scenarios import resolve_spec

#: a run's headline figure, by the first of these keys its summary holds
HEADLINES = ("profit_gain_mean", "max_drawdown")


def check_headline(scenario: str, summary: dict, out: Path) -> None:
    """A headline that is not a number fails the run loudly (its files stay for a look).

    The profit gain of one firm is undefined by construction (its Nash and monopoly
    profits coincide) and reported as missing; any other missing headline is an error.
    """
    if (summary.get("params") or {}).get("n_firms") == 1:
        return
    for key in HEADLINES:
        if key not in summary:
            continue
        value = summary[key]
        if value is None or (isinstance(value, float) and not math.isfinite(value)):
            raise UsageError(
                f"{scenario}: the headline {key} is not a number ({value}): the parameters "
                f"give a market where it is undefined (prices, qualities, costs or "
                f"volatilities at extremes); check them with 'marketsim params {scenario}' "
                f"(files kept in {out} for inspection)"
            )
        return


def run_scenario(
    scenario: str,
    *,
    out,
    sessions: int | None = None,
    seed: int = 0,
    params: dict[str, Any] | None = None,
    sets: list[str] | None = None,
    config: Path | None = None,
    threads: int | None = None,
    progress: bool = True,
    api_key_env: str | None = None,
    overwrite: bool = False,
) -> dict:
    """Run ``scenario`` into ``out`` and return its summary (with ``detectors``).

    Parameters
    ----------
    scenario : str, a registered scenario name (:data:`marketsim.scenarios.SCENARIOS`)
    out : path of the output folder
    sessions : int or None, independent sessions (None: the scenario's own default)
    seed : int, root seed
    params : dict, scenario parameters by name (validated by the scenario's spec)
    sets : list of ``KEY=VALUE`` texts, applied over ``params`` and ``config``
    config : path of a TOML file of parameters
    api_key_env : name of the environment variable holding an LLM key (``--api-key-env``;
        only for scenarios that call an LLM)
    overwrite : replace an earlier run in ``out`` (else a non-empty ``out`` is refused;
        see :mod:`marketsim.experiments.out_folder`)

    Raises
    ------
    UsageError
        for a bad parameter or ``out`` (before any work), and when the run's headline
        figure is not a number (after its files are written).
    """
    import inspect

    module, spec = resolve_spec(scenario, config, list(sets or []), params)
    out = Path(out)
    extra = {}
    if api_key_env is not None:
        if "api_key_env" not in inspect.signature(module.run).parameters:
            raise UsageError(f"--api-key-env: scenario {scenario} calls no LLM; drop the option")
        extra["api_key_env"] = api_key_env
    check = getattr(module, "check_run", None)  # a scenario's own refusals, before any work
    if check is not None:
        check(spec, seed=seed, sessions=sessions)
    out = claim(
        out,
        command="run",
        scenario=scenario,
        identity={
            "version": spec.version,
            "spec": spec.model_dump(mode="json"),
            "seed": seed,
            "sessions": sessions,
        },
        resumable=False,
        overwrite=overwrite,
        summary=f"seed {seed}",
    )
    from marketsim.experiments._workers import announce_kernels

    announce_kernels(module)
    summary = module.run(
        spec, sessions=sessions, seed=seed, out=out, threads=threads, progress=progress, **extra
    )
    summary = {
        **summary,
        "sets": list(sets or []),
        "non_default": spec.non_default(),
        "detectors": run_detectors(out, summary.get("params")),
    }
    write_json_atomic(summary, out / "summary.json")
    check_headline(scenario, summary, out)
    return summary
