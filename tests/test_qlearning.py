"""Q-learning kernels: a slow pure-Python reference, determinism, and invariants."""

import numpy as np
import pytest

from marketsim.logit import LogitMarket
from marketsim.qlearning import CONVERGED, QLearningSessions, initial_q
from marketsim.rng import stream_states

MASK = (1 << 64) - 1


class _Xoshiro:
    """xoshiro256+ in plain Python integers, to check the kernel's streams."""

    def __init__(self, words):
        self.s = [int(w) for w in words]

    def next_double(self):
        s0, s1, s2, s3 = self.s
        result = (s0 + s3) & MASK
        t = (s1 << 17) & MASK
        s2 ^= s0
        s3 ^= s1
        s1 ^= s2
        s0 ^= s3
        s2 ^= t
        s3 = ((s3 << 45) | (s3 >> 19)) & MASK
        self.s = [s0, s1, s2, s3]
        return (result >> 11) * 2.0**-53


def reference_session(profit, n, m, k, alpha, delta, beta, seed, conv_window, max_periods):
    """Textbook Q-learning (Calvano et al. 2020, Section III), one session, no caching."""
    S = m ** (n * k)
    rng = _Xoshiro(stream_states(seed, 0, 1)[0])
    q0 = initial_q(profit, n, m, delta)
    Q = np.repeat(q0[:, None, :], S, axis=1).copy()
    s = int(rng.next_double() * S)  # no greedy ties in these games: no tie draws
    eps, decay = 1.0, float(np.exp(-beta))
    t = stable = 0
    while True:
        acts = []
        for i in range(n):
            if rng.next_double() < eps:
                acts.append(int(rng.next_double() * m))
            else:
                acts.append(int(np.argmax(Q[i, s])))
        joint = sum(a * m**i for i, a in enumerate(acts))
        s_new = (s * m**n + joint) % S
        changed = False
        for i, a in enumerate(acts):
            before = int(np.argmax(Q[i, s]))
            target = profit[joint, i] + delta * Q[i, s_new].max()
            Q[i, s, a] = Q[i, s, a] + alpha * (target - Q[i, s, a])
            changed |= int(np.argmax(Q[i, s])) != before
        t, eps = t + 1, eps * decay
        stable = 0 if changed else stable + 1
        if stable >= conv_window or t >= max_periods:
            return Q, s, t, stable >= conv_window  # the state the last period started from
        s = s_new


@pytest.mark.parametrize(("n", "m", "k"), [(2, 4, 1), (2, 5, 0), (3, 3, 1)])
def test_kernel_equals_pure_python_reference(n, m, k):
    mk = LogitMarket.symmetric(n)
    grid = mk.price_grid(m, 0.1)
    profit = mk.profit_table(grid)
    kw = dict(alpha=0.3, delta=0.9, beta=2e-3)
    Q, s, t, conv = reference_session(
        profit, n, m, k, seed=11, conv_window=300, max_periods=20_000, **kw
    )
    run = QLearningSessions(
        profit, grid, k=k, seed=11, sessions=1, conv_window=300, max_periods=20_000, **kw
    )
    while run.running:
        run.advance(777)  # odd chunks: chunking must not matter
    np.testing.assert_array_equal(run.Q[0], Q)  # bit for bit
    assert run.state[0] == s and run.t[0] == t
    assert (run.status[0] == CONVERGED) == conv
    np.testing.assert_array_equal(run.max_q[0], Q.max(axis=2))
    np.testing.assert_array_equal(run.strategy[0], Q.argmax(axis=2))


def test_initial_q_is_discounted_payoff_against_uniform_rival():
    mk = LogitMarket.symmetric(2)
    grid = mk.price_grid(15, 0.1)
    profit = mk.profit_table(grid)
    q0 = initial_q(profit, 2, 15, 0.95)
    table = profit.reshape(15, 15, 2, order="F")  # [a0, a1, firm]
    np.testing.assert_allclose(q0[0], table[:, :, 0].sum(axis=1) / (0.05 * 15))
    np.testing.assert_allclose(q0[1], table[:, :, 1].sum(axis=0) / (0.05 * 15))


def _short_run(threads, chunk, sessions=6, seed=5):
    import numba

    numba.set_num_threads(threads)
    mk = LogitMarket.symmetric(2)
    grid = mk.price_grid(15, 0.1)
    run = QLearningSessions(
        mk.profit_table(grid), grid, beta=2e-5, seed=seed, sessions=sessions, conv_window=20_000
    )
    while run.running:
        run.advance(chunk)
    return run


def test_same_seed_same_numbers_whatever_threads_and_chunks():
    a = _short_run(1, 10_000_000)
    b = _short_run(2, 33_333)
    np.testing.assert_array_equal(a.Q, b.Q)
    np.testing.assert_array_equal(a.t, b.t)
    c = _short_run(2, 50_000, seed=6)
    assert not np.array_equal(a.Q, c.Q)


def test_session_streams_do_not_depend_on_the_number_of_sessions():
    a = _short_run(2, 100_000, sessions=3)
    b = _short_run(2, 100_000, sessions=6)
    np.testing.assert_array_equal(a.Q, b.Q[:3])
