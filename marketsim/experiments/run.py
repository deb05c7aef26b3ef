"""One scenario run: the scenario writes its tables and summary, then the detectors read them.

Shared by ``marketsim run`` and :func:`marketsim.run`, so both write the same
``summary.json``: the scenario's own summary plus a ``detectors`` block
(:func:`marketsim.analysis.run_detectors` over the files just written).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from marketsim.analysis import run_detectors
from marketsim.errors import UsageError
from marketsim.io import write_json_atomic
from marketsim.scenarios import resolve_spec


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
    """
    import inspect

    module, spec = resolve_spec(scenario, config, list(sets or []), params)
    out = Path(out)
    extra = {}
    if api_key_env is not None:
        if "api_key_env" not in inspect.signature(module.run).parameters:
            raise UsageError(f"--api-key-env: scenario {scenario} calls no LLM; drop the option")
        extra["api_key_env"] = api_key_env
    summary = module.run(
        spec, sessions=sessions, seed=seed, out=out, threads=threads, progress=progress, **extra
    )
    summary = {**summary, "detectors": run_detectors(out, summary.get("params"))}
    write_json_atomic(summary, out / "summary.json")
    return summary
