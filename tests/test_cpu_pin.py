"""numpy's and OpenBLAS's CPU dispatch is pinned when marketsim is imported first
(:mod:`marketsim._cpu`), so the golden digests hold on AVX2 and AVX-512 machines alike."""

from __future__ import annotations

import json
import os
import platform
import subprocess
import sys

import pytest

from marketsim import _cpu

PROBE = (
    "import json, os, sys; import marketsim; import numpy; "
    "from numpy._core._multiarray_umath import __cpu_features__ as f; "
    "print(json.dumps({'numpy': numpy.__version__, 'features': f, "
    "'env': {k: os.environ.get(k) for k in ('NPY_DISABLE_CPU_FEATURES', 'OPENBLAS_CORETYPE')}}))"
)


_VARS = ("NPY_DISABLE_CPU_FEATURES", "OPENBLAS_CORETYPE")
X86 = platform.machine().lower() in ("x86_64", "amd64")  # as marketsim._cpu decides


def _probe(**env) -> dict:
    clean = {k: v for k, v in os.environ.items() if k not in _VARS}
    res = subprocess.run(
        [sys.executable, "-c", PROBE], env={**clean, **env}, capture_output=True, text=True
    )
    assert res.returncode == 0, res.stderr[-2000:]
    return json.loads(res.stdout)


@pytest.mark.skipif(not X86, reason="the pin applies to x86-64 only")
def test_importing_marketsim_first_runs_numpy_on_its_baseline_loops():
    got = _probe()
    assert got["numpy"].startswith("2.4."), (
        f"numpy {got['numpy']}: check its x86 dispatch targets (numpy.show_runtime()) and "
        "update marketsim._cpu.NUMPY_24_TARGETS and the version it applies to"
    )
    assert got["env"]["NPY_DISABLE_CPU_FEATURES"] == _cpu.NUMPY_24_TARGETS
    for name in _cpu.NUMPY_24_TARGETS.split():
        assert got["features"][name] is False, name
    assert got["features"]["X86_V2"] is True  # the baseline stays
    if {"avx2", "fma"} <= _cpu._cpu_flags():
        assert got["env"]["OPENBLAS_CORETYPE"] == "Haswell"


@pytest.mark.skipif(not X86, reason="the pin applies to x86-64 only")
def test_a_users_own_setting_is_kept():
    got = _probe(NPY_DISABLE_CPU_FEATURES="X86_V4", OPENBLAS_CORETYPE="SkylakeX")
    assert got["env"] == {"NPY_DISABLE_CPU_FEATURES": "X86_V4", "OPENBLAS_CORETYPE": "SkylakeX"}


def test_nothing_is_pinned_once_numpy_is_imported(monkeypatch):
    for k in _VARS:
        monkeypatch.delenv(k, raising=False)
    import numpy  # noqa: F401  (loaded already in this process)

    assert _cpu.pin_cpu_dispatch() == {}
    assert not any(k in os.environ for k in _VARS)
