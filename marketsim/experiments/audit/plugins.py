"""The plug-in loader: the audited algorithm's factory from ``module:attr``, a ``.py`` file
or an http(s) URL, with one-line errors for a target that cannot be loaded.

The module is imported on a daemon worker thread and waited for at most
``import_timeout`` seconds, so whatever its code does at import (raise, ``sys.exit``,
``KeyboardInterrupt``, a syntax error, an endless loop) is one line naming the plug-in
and the problem (:class:`~marketsim.errors.UsageError`, exit code 2), never a traceback
or the plug-in's own exit code. A signal (Ctrl-C) still reaches the main thread and
interrupts the command.

The current folder is searched for the user's module only: it is put at the end of
``sys.path`` while that module is imported (so the module finds itself and the files
beside it it imports at load time), after marketsim's own modules are imported, and taken
off again; so a ``vl_convert.py``, ``numpy.py`` or ``analysis.py`` lying in the folder is
never imported in place of what marketsim needs, and a built-in pricer never looks there.
"""

from __future__ import annotations

from concurrent.futures import TimeoutError as FutureTimeout
from importlib import import_module

from marketsim.errors import UsageError
from marketsim.experiments.audit.guard import _Worker, describe
from marketsim.experiments.audit.http_pricer import HTTPPricer
from marketsim.http import FailSafe

#: what the audit and its report import later, imported before the user's module
_OWN_MODULES = ("marketsim.agents.reference_pricers", "marketsim.experiments.audit")


def _import_target(module_name: str, added: list | None = None):
    """A module by dotted name, looked up in the current directory too (as
    ``python -m`` and uvicorn do, but after the installed packages, and only for this
    import), or a ``.py`` file by path. ``added`` receives the folder while it is on
    ``sys.path``, for the caller to take off if the import never returns."""
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
    for own in _OWN_MODULES:
        import_module(own)
    cwd = os.getcwd()
    on_path = cwd in sys.path or "" in sys.path
    if not on_path:
        sys.path.append(cwd)
        if added is not None:
            added.append(cwd)
    try:
        return import_module(module_name)
    finally:
        if not on_path:
            _take_off(cwd)


def _take_off(folder: str):
    import sys

    try:
        sys.path.remove(folder)
    except ValueError:
        pass


def _resolve(target: str, module_name: str, attr: str, added: list):
    """On the worker: the factory, or ``UsageError`` (whatever the plug-in raised)."""
    try:
        obj = _import_target(module_name, added)
    except (ImportError, OSError) as exc:
        return UsageError(
            f"algorithm {target!r}: cannot import {module_name!r} ({describe(exc)}); "
            "check the module path and PYTHONPATH"
        )
    except SyntaxError as exc:
        where = f"{exc.filename}, line {exc.lineno}" if exc.filename else f"line {exc.lineno}"
        return UsageError(
            f"algorithm {target!r}: {module_name} has a syntax error ({exc.msg}; {where})"
        )
    except BaseException as exc:  # noqa: BLE001 - SystemExit and KeyboardInterrupt too
        return UsageError(
            f"algorithm {target!r}: importing {module_name} raised "
            f"{describe(exc, contained=False)}; "
            "the error is in the plug-in's own code"
        )
    try:
        for part in attr.split("."):
            if not hasattr(obj, part):
                return UsageError(
                    f"algorithm {target!r}: {module_name} has no attribute "
                    f"{attr!r}; name a class or function that returns the pricer"
                )
            obj = getattr(obj, part)
        if not callable(obj):
            return UsageError(f"algorithm {target!r}: {attr} is not callable; name a factory")
    except BaseException as exc:  # noqa: BLE001 - a module __getattr__ is plug-in code too
        return UsageError(
            f"algorithm {target!r}: looking up {attr} raised {describe(exc, contained=False)}"
        )
    return obj


def load_factory(target: str, call_timeout: float = 1.0, import_timeout: float = 60.0):
    """A no-argument factory of pricing objects from ``module:attr`` or an http(s) URL.

    Raises :class:`~marketsim.errors.UsageError` (one line) when the target cannot be
    loaded: a missing module or attribute, a module that raises or exits at import, has a
    syntax error or takes longer than ``import_timeout`` seconds to import.
    """
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
    added: list = []
    fut = _Worker().submit(_resolve, target, module_name, attr, added)
    try:
        # a stored exception is returned, not raised: only a real Ctrl-C propagates
        stray = fut.exception(timeout=import_timeout)
    except FutureTimeout:
        for folder in added:  # the hung import keeps running: leave it no path to use
            _take_off(folder)
        raise UsageError(
            f"algorithm {target!r}: importing {module_name} took longer than "
            f"{import_timeout:g} s (--reset-timeout); the module hangs at import"
        ) from None
    if stray is not None:
        raise UsageError(f"algorithm {target!r}: loading it failed ({describe(stray)})")
    obj = fut.result()
    if isinstance(obj, UsageError):
        raise obj
    return obj
