"""The Q-learning steps shared by the pricing and market-making kernels (marketsim.qstep)."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from numba import njit

from marketsim.qstep import CAPPED, CONVERGED, RUNNING, Rule, argmax_random_ties, end_period
from marketsim.rng import next_double, stream_states


@njit(cache=True)
def _argmax(row, words):
    found, best, s0, s1, s2, s3 = argmax_random_ties(row, words[0], words[1], words[2], words[3])
    return found, best, np.array([s0, s1, s2, s3])


def _reference(row, words):
    """Left-to-right scan keeping the first maximum; one draw picks among ties."""
    best, ties = row[0], 1
    for v in row[1:]:
        if v > best:
            best, ties = v, 1
        elif v == best:
            ties += 1
    hits = [a for a, v in enumerate(row) if v == best]
    if ties > 1:
        u, *words = next_double(*words)
        return hits[int(u * ties)], best, list(words)
    return hits[0], best, list(words)


@settings(max_examples=300, deadline=None, derandomize=True)
@given(
    st.lists(st.integers(-3, 3), min_size=1, max_size=15),
    st.integers(0, 2**16),
)
def test_argmax_equals_a_left_to_right_scan(values, stream):
    """Same index, value and stream as the plain scan, on rows full of ties (small
    integers) of every length from 1 to 15."""
    row = np.array(values, dtype=np.float64) / 4.0
    words = stream_states(stream, 0, 1)[0]
    found, best, after = _argmax(row, words)
    want_found, want_best, want_after = _reference(row, list(words))
    assert found == want_found
    assert best == want_best
    assert after.tolist() == [int(w) for w in want_after]


def test_argmax_keeps_the_first_maximum_of_signed_zeros():
    _, best, _ = _argmax(np.array([-1.0, 0.0, -0.0]), stream_states(0, 0, 1)[0])
    assert best == 0.0 and math.copysign(1.0, best) == 1.0
    _, best, _ = _argmax(np.array([-0.0, 0.0]), stream_states(0, 0, 1)[0])
    assert math.copysign(1.0, best) == -1.0


@pytest.mark.parametrize(
    ("changed", "tt", "st", "want"),
    [
        (True, 5, 9, (RUNNING, 6, 0)),  # a change restarts the stable count
        (False, 5, 8, (RUNNING, 6, 9)),
        (False, 5, 9, (CONVERGED, 6, 10)),  # conv_window = 10 reached
        (True, 99, 3, (CAPPED, 100, 0)),  # max_periods = 100 reached
        (False, 99, 9, (CONVERGED, 100, 10)),  # both: convergence is checked first
    ],
)
def test_end_period(changed, tt, st, want):
    rule = Rule(alpha=0.15, delta=0.95, eps_decay=0.9, conv_window=10, max_periods=100)
    code, tt2, st2, e = end_period(changed, tt, st, 0.5, rule)
    assert (code, tt2, st2) == want
    assert e == 0.5 * 0.9
