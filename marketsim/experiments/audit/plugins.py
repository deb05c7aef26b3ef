"""The plug-in loader: the audited algorithm's factory from ``module:attr``, a ``.py`` file
or an http(s) URL, with one-line errors for a target that cannot be loaded."""

from __future__ import annotations

from importlib import import_module

from marketsim.errors import UsageError
from marketsim.experiments.audit.http_pricer import HTTPPricer
from marketsim.http import FailSafe


def _import_target(module_name: str):
    """A module by dotted name, looked up in the current directory too (as
    ``python -m`` and uvicorn do, but after the installed packages), or a ``.py`` file by
    path."""
    import importlib.util
    import os
    import sys

    if module_name.endswith(".py"):
        path = os.path.abspath(module_name)
        if not os.path.isfile(path):
            raise ImportError(f"no file {path}")
        name = "marketsim_audit_target_" + os.path.splitext(os.path.basename(path))[0]
        spec = importlib.util.spec_from_file_location(name, path)
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        spec.loader.exec_module(module)
        return module
    # The current folder goes last: its files (an ``agents/`` package, a ``vl_convert.py``)
    # must not shadow marketsim or the libraries it imports.
    cwd = os.getcwd()
    if cwd not in sys.path and "" not in sys.path:
        sys.path.append(cwd)
    return import_module(module_name)


def load_factory(target: str, call_timeout: float = 1.0):
    """A no-argument factory of pricing objects from ``module:attr`` or an http(s) URL."""
    if target.startswith(("http://", "https://")):
        failsafe = FailSafe(retry_budget=20, breaker_threshold=5)
        return lambda: HTTPPricer(target, timeout_s=call_timeout, failsafe=failsafe)
    module_name, _, attr = target.partition(":")
    if not module_name or not attr:
        raise UsageError(
            f"algorithm {target!r}: give module:factory (e.g. "
            "marketsim.agents.reference_pricers:GrimTriggerPricer, mypricer:make or "
            "path/to/mypricer.py:make) or an http(s) URL"
        )
    try:
        obj = _import_target(module_name)
    except (ImportError, OSError) as exc:
        raise UsageError(
            f"algorithm {target!r}: cannot import {module_name!r} ({exc}); "
            "check the module path and PYTHONPATH"
        ) from None
    for part in attr.split("."):
        if not hasattr(obj, part):
            raise UsageError(
                f"algorithm {target!r}: {module_name} has no attribute "
                f"{attr!r}; name a class or function that returns the pricer"
            )
        obj = getattr(obj, part)
    if not callable(obj):
        raise UsageError(f"algorithm {target!r}: {attr} is not callable; name a factory")
    return obj
