"""Order-book traders: the random draws of the event kernel, from one xoshiro stream.

Every draw reads ``rng`` (``uint64[4]``, :func:`marketsim.rng.next_double`), so the order
in which the kernels call these functions is the order of the stream: a kernel that
changed it would change every later number of the session. Uniforms are ``u`` in
``[0, 1)``; normals by Box-Muller (one per two uniforms); exponential waiting times by
inversion, ``-log(1 - u) / rate``; sizes Pareto, ``scale (1 - u)^(-1 / alpha)``; the news
a unit-variance Student-t, ``z_0 / sqrt(chi2_df / df) / sqrt(df / (df - 2))``.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from marketsim.records import NS_PER_SECOND
from marketsim.rng import next_double


@njit(cache=True, inline="always")
def _u(rng):
    u, rng[0], rng[1], rng[2], rng[3] = next_double(rng[0], rng[1], rng[2], rng[3])
    return u


@njit(cache=True)
def _normal(rng):
    u1 = _u(rng)
    u2 = _u(rng)
    return np.sqrt(-2.0 * np.log(1.0 - u1)) * np.cos(2.0 * np.pi * u2)


@njit(cache=True)
def _exp_ns(rng, rate_per_s):
    return np.int64(-np.log(1.0 - _u(rng)) / rate_per_s * NS_PER_SECOND) + 1


@njit(cache=True)
def _pick(cum, rng):
    """Index drawn with probability proportional to the increments of ``cum``."""
    x = _u(rng) * cum[cum.shape[0] - 1]
    lo, hi = 0, cum.shape[0] - 1
    while lo < hi:
        mid = (lo + hi) // 2
        if cum[mid] > x:
            hi = mid
        else:
            lo = mid + 1
    return lo


@njit(cache=True)
def _pareto_size(rng, scale, alpha, cap):
    q = np.int64(scale * (1.0 - _u(rng)) ** (-1.0 / alpha))
    return max(1, min(q, cap))


@njit(cache=True)
def _student_t(rng, df):
    """A Student-t draw with ``df`` (integer >= 3) degrees of freedom, unit variance."""
    chi2 = 0.0
    for _ in range(df):
        z = _normal(rng)
        chi2 += z * z
    return _normal(rng) / np.sqrt(chi2 / df) / np.sqrt(df / (df - 2.0))
