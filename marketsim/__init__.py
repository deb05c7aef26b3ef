"""marketsim: a simulator of algorithmic collusion and market stability.

The Python API (:mod:`marketsim.api`), loaded on first use so that ``import marketsim``
and the command line start fast::

    import marketsim as ms
    res = ms.run("calvano2020", sessions=50, seed=0, alpha=0.1)
    res.sessions, res.summary["profit_gain_mean"]
    ms.compare("calvano2020", ["none", "price_cap:cap=1.6"], seeds=8, sessions=5)
    ms.detect.crash(frame, time_col="t", price_col="price")

Layers, from the top: :mod:`marketsim.cli` and :mod:`marketsim.api` (faces),
:mod:`marketsim.experiments`, :mod:`marketsim.scenarios` and :mod:`marketsim.analysis`,
:mod:`marketsim.agents`, then the core modules (kernels and primitives) of this package.
"""

from __future__ import annotations

from importlib import import_module
from importlib.metadata import PackageNotFoundError, version

from marketsim._cpu import pin_cpu_dispatch
from marketsim._numba_cache import ensure_numba_cache
from marketsim.errors import UsageError

pin_cpu_dispatch()  # before numpy is imported: the same bytes on every x86-64 machine
ensure_numba_cache()  # before any kernel module imports numba: read-only installs run

try:
    __version__ = version("marketsim")
except PackageNotFoundError:  # a source tree that was never installed
    __version__ = "0+unknown"

_API = {
    "Comparison",
    "Result",
    "calibrate",
    "compare",
    "detect",
    "params",
    "report",
    "run",
    "sweep",
}


def __getattr__(name: str):
    if name == "scenarios":  # the sub-package, callable: marketsim.scenarios() lists names
        return import_module("marketsim.scenarios")
    if name in _API:
        return getattr(import_module("marketsim.api"), name)
    raise AttributeError(f"module 'marketsim' has no attribute {name!r}")


def __dir__():
    return sorted([*globals(), *_API, "scenarios"])


__all__ = ["UsageError", "__version__", "scenarios", *sorted(_API)]
