"""The same bytes on every x86-64 machine: numpy's and OpenBLAS's CPU dispatch pinned.

numpy chooses the SIMD loops of its ufuncs by the CPU when it is imported, and OpenBLAS
(bundled with numpy and with scipy) chooses its kernels the same way. On a machine with
AVX-512, numpy's ``exp``, ``log``, ``power``, ... and OpenBLAS's dot products round
differently, in the last bits, from the same calls on an AVX2 machine. The numba kernels
(compiled without fast-math) give the same bits everywhere, but what is computed around
them did not: the logit demand tables of the pricing scenarios, autocorrelations, the
Hawkes fit of the detectors. Measured: the golden digests recorded on an AVX2 machine
failed on an AVX-512 one in 7 of 12 cases, and with OpenBLAS's AVX-512 kernels the Hawkes
fit of ``market_calm`` said ``converged`` false where the AVX2 kernels said true.

:func:`pin_cpu_dispatch` runs when ``marketsim`` is imported (so before numpy in the
command line, the scenario scripts, the workers it starts and the tests) and, unless the
user has set them:

* ``NPY_DISABLE_CPU_FEATURES``: numpy's dispatch targets above its baseline (x86-64-v2)
  are turned off, so every x86-64 machine runs the baseline loops (numpy 2.4, whose names
  are these; other numpy versions are left alone, since a name of its baseline would stop
  numpy from importing);
* ``OPENBLAS_CORETYPE=Haswell`` where the CPU has AVX2 and FMA (every x86-64 machine of
  the last ten years; on an older one OpenBLAS picks its own kernels).

The cost is numpy's vectorised math outside the kernels, a small part of any run. In a
Python session that imported numpy before marketsim the pin cannot apply: results then
agree with the command line's to about 1e-15, not always bit for bit.
"""

from __future__ import annotations

import os
import platform
import sys

#: numpy 2.4's x86 dispatch targets above its baseline (``numpy.show_runtime()``)
NUMPY_24_TARGETS = "X86_V3 X86_V4 AVX512_ICL AVX512_SPR"
OPENBLAS_CORE = "Haswell"


def _numpy_version() -> tuple[int, ...] | None:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return tuple(int(p) for p in version("numpy").split(".")[:2])
    except (PackageNotFoundError, ValueError):
        return None


def _cpu_flags() -> set[str]:
    try:
        with open("/proc/cpuinfo", encoding="ascii", errors="replace") as f:
            for line in f:
                if line.startswith("flags"):
                    return set(line.split(":", 1)[1].split())
    except OSError:
        pass
    return set()


def pin_cpu_dispatch() -> dict[str, str]:
    """Set the variables above where they apply and are unset; returns those it set.

    Does nothing once numpy is imported (its dispatch is chosen then), off x86-64, and
    for a variable the user has set."""
    if "numpy" in sys.modules or platform.machine().lower() not in ("x86_64", "amd64"):
        return {}
    wanted = {}
    if _numpy_version() == (2, 4):
        wanted["NPY_DISABLE_CPU_FEATURES"] = NUMPY_24_TARGETS
    if {"avx2", "fma"} <= _cpu_flags():
        wanted["OPENBLAS_CORETYPE"] = OPENBLAS_CORE
    done = {k: v for k, v in wanted.items() if k not in os.environ}
    os.environ.update(done)
    return done


__all__ = ["NUMPY_24_TARGETS", "OPENBLAS_CORE", "pin_cpu_dispatch"]
