"""Per-stream random numbers for numba kernels: xoshiro256+ (Blackman & Vigna 2018).

Each independent session (or market) owns four ``uint64`` words of state, seeded from
``np.random.SeedSequence(seed, spawn_key=(i,))``: stream ``i`` is the same whatever the
number of sessions or threads, so a ``prange`` over sessions is reproducible bit for bit.
Kernels keep the four words in locals and call :func:`next_double`, which returns the
uniform draw and the advanced state.
"""

from __future__ import annotations

import numpy as np
from numba import njit

_U11 = np.uint64(11)
_U17 = np.uint64(17)
_U45 = np.uint64(45)
_U19 = np.uint64(19)
_TWO_M53 = 1.0 / 9007199254740992.0  # 2**-53


def stream_states(seed: int, start: int, count: int) -> np.ndarray:
    """Seed words of streams ``start .. start+count-1`` of root ``seed``.

    Returns
    -------
    ndarray(uint64, shape (count, 4))
    """
    out = np.empty((count, 4), dtype=np.uint64)
    for k in range(count):
        words = np.random.SeedSequence(seed, spawn_key=(start + k,)).generate_state(4, np.uint64)
        if not words.any():  # the all-zero state is the one xoshiro cannot leave
            words[0] = np.uint64(0x9E3779B97F4A7C15)
        out[k] = words
    return out


@njit(cache=True, inline="always")
def next_double(s0, s1, s2, s3):
    """One uniform draw on [0, 1) with 53 random bits, and the next state."""
    result = s0 + s3
    t = s1 << _U17
    s2 ^= s0
    s3 ^= s1
    s1 ^= s2
    s0 ^= s3
    s2 ^= t
    s3 = (s3 << _U45) | (s3 >> _U19)
    return np.float64(result >> _U11) * _TWO_M53, s0, s1, s2, s3
