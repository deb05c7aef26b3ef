"""The audit package keeps its public surface and one job per documented module."""

from __future__ import annotations

import importlib
import pkgutil

import marketsim.experiments.audit as audit


def test_public_names_import_from_the_package():
    for name in audit.__all__:
        assert getattr(audit, name) is not None, name
    from marketsim.experiments.audit import AuditSettings, load_factory, run_audit  # noqa: F401


def test_every_module_opens_with_its_job_and_stays_small():
    for info in pkgutil.iter_modules(audit.__path__):
        module = importlib.import_module(f"{audit.__name__}.{info.name}")
        assert module.__doc__ and len(module.__doc__.strip()) > 40, info.name
        with open(module.__file__, encoding="utf-8") as fh:
            assert sum(1 for _ in fh) < 500, info.name
