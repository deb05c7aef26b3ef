r"""Tabular Q-learning in repeated pricing games (Calvano, Calzolari, Denicolò & Pastorello 2020).

Each of :math:`n` firms picks action :math:`a_i \in \{0..m-1\}` (a grid price) given the
state :math:`s` = the last :math:`k` periods' joint actions (:math:`S = m^{nk}` states;
:math:`k = 0` gives a single state). With probability
:math:`\varepsilon_t = e^{-\beta t}` a firm explores uniformly, otherwise it plays its
greedy action :math:`\arg\max_a Q_i(s, a)` (ties broken at random, as the authors'
Fortran does). After profits :math:`\pi_i` are realised and the state moves to
:math:`s'`, every firm updates only the visited cell

.. math::

    Q_i(s, a_i) \leftarrow (1-\alpha) Q_i(s, a_i) + \alpha\,[\pi_i + \delta \max_a Q_i(s', a)].

:math:`Q_{i,0}(s, a_i) = \sum_{a_{-i}} \pi_i(a_i, a_{-i}) / ((1-\delta) m^{n-1})`, the
discounted payoff against uniformly random rivals. A session has converged when no
firm's greedy strategy has changed for ``conv_window`` (100,000) consecutive periods.

Performance: the kernel caches each firm's greedy action and its Q-value per state, so a
period costs one Q update per firm and a rescan of 15 values only when the greedy
action's value falls. Sessions run in a ``prange`` with one xoshiro256+ stream each
(:mod:`marketsim.rng`), so results do not depend on the thread count or on how the run
is cut into chunks.

Joint-action index ``j = sum_i a_i m**i``; next state ``s' = (s m^n + j) mod S``.
The analysis of the learned strategies (limit cycles, equilibrium checks, impulse
responses) lives in :mod:`marketsim.qlearning_analysis`; :meth:`QLearningSessions.analyse`
calls it.
"""

from __future__ import annotations

import numpy as np
from numba import njit, prange

from marketsim.qlearning_analysis import IMPULSE_POST, IMPULSE_PRE, analyse_sessions
from marketsim.qstep import CAPPED as CAPPED  # status codes: also imported from here
from marketsim.qstep import CONVERGED as CONVERGED
from marketsim.qstep import (
    RUNNING,
    Rule,
    argmax_random_ties,
    end_period,
    save_session,
    update_every_action,
)
from marketsim.rng import next_double, stream_states


def initial_q(profit: np.ndarray, n: int, m: int, delta: float) -> np.ndarray:
    """:math:`Q_0(a_i)` of each firm, the same in every state.

    Parameters
    ----------
    profit : ndarray(float64, shape (m**n, n))

    Returns
    -------
    ndarray(float64, shape (n, m))
    """
    table = profit.reshape((m,) * n + (n,), order="F")  # axis i = firm i's action
    q0 = np.empty((n, m))
    for i in range(n):
        others = tuple(ax for ax in range(n) if ax != i)
        q0[i] = (
            table[..., i].mean(axis=others) / (1.0 - delta)
            if others
            else table[..., i] / (1.0 - delta)
        )
    return q0


@njit(cache=True, inline="always")
def store_q_cell(Q, max_q, strategy, i, s, a, target, alpha):
    """Move firm ``i``'s ``Q[i, s, a]`` toward ``target``, keeping its cached max and
    greedy action exact when the value rises.

    Only the visited cell changes, so the greedy action can change only in state ``s``:
    it becomes ``a`` when its value rises above the max. When the greedy action's own
    value falls, the row's maximum must be found again: the caller does it, with its own
    tie-breaking.

    Returns
    -------
    (bool: the greedy action of ``s`` changed, bool: the row must be rescanned)
    """
    old = Q[i, s, a]
    new = old + alpha * (target - old)
    Q[i, s, a] = new
    if new > max_q[i, s]:
        max_q[i, s] = new
        if strategy[i, s] != a:
            strategy[i, s] = a
            return True, False
        return False, False
    return False, a == strategy[i, s] and new < max_q[i, s]


@njit(cache=True, inline="always")
def update_q_cell(Q, max_q, strategy, i, s, a, target, alpha, s0, s1, s2, s3):
    """:func:`store_q_cell`, then a rescan with ties broken at random when needed.
    Arrays are passed whole (no per-period views: they cost a third of the kernel's time).

    Parameters
    ----------
    Q : ndarray(float64, shape (n, S, m)); max_q, strategy : shape (n, S)

    Returns
    -------
    (bool: the greedy action of ``s`` changed, advanced stream state)
    """
    changed, rescan = store_q_cell(Q, max_q, strategy, i, s, a, target, alpha)
    if rescan:
        best_a, best, s0, s1, s2, s3 = argmax_random_ties(Q[i, s], s0, s1, s2, s3)
        max_q[i, s] = best
        if best_a != a:
            strategy[i, s] = best_a
            changed = True
    return changed, s0, s1, s2, s3


@njit(cache=True, inline="always")
def epsilon_greedy(strategy, i, s, eps, m, s0, s1, s2, s3):
    """Firm ``i``'s action in state ``s``: with probability ``eps`` a uniform grid action
    (a second draw), else its cached greedy action ``strategy[i, s]``; and the advanced
    stream state."""
    u, s0, s1, s2, s3 = next_double(s0, s1, s2, s3)
    if u < eps:
        u, s0, s1, s2, s3 = next_double(s0, s1, s2, s3)
        return int(u * m), s0, s1, s2, s3
    return strategy[i, s], s0, s1, s2, s3


@njit(cache=True, inline="always")
def choose_actions(strategy, s, eps, m, acts, s0, s1, s2, s3):
    """Epsilon-greedy actions of every firm in state ``s`` (:func:`epsilon_greedy`).
    Fills ``acts`` and returns the joint action index ``sum_i acts[i] m**i`` with the
    advanced stream state."""
    joint = 0
    mult = 1
    for i in range(acts.size):
        ai, s0, s1, s2, s3 = epsilon_greedy(strategy, i, s, eps, m, s0, s1, s2, s3)
        acts[i] = ai
        joint += ai * mult
        mult *= m
    return joint, s0, s1, s2, s3


@njit(cache=True)
def init_sessions(q0, S, Q, max_q, strategy, state, rng):
    """Fill every session's Q with ``q0``, draw greedy ties and the initial state.

    Parameters
    ----------
    q0 : ndarray(float64, shape (n, m))
    Q : ndarray(float64, shape (N, n, S, m)), filled in place
    max_q : ndarray(float64, shape (N, n, S))
    strategy : ndarray(int64, shape (N, n, S))
    state : ndarray(int64, shape (N,))
    rng : ndarray(uint64, shape (N, 4)), advanced in place
    """
    N = Q.shape[0]
    n, m = q0.shape
    for b in prange(N):
        s0, s1, s2, s3 = rng[b, 0], rng[b, 1], rng[b, 2], rng[b, 3]
        for i in range(n):
            for s in range(S):
                for a in range(m):
                    Q[b, i, s, a] = q0[i, a]
                greedy, best, s0, s1, s2, s3 = argmax_random_ties(q0[i], s0, s1, s2, s3)
                strategy[b, i, s] = greedy
                max_q[b, i, s] = best
        u, s0, s1, s2, s3 = next_double(s0, s1, s2, s3)
        state[b] = int(u * S)
        rng[b, 0], rng[b, 1], rng[b, 2], rng[b, 3] = s0, s1, s2, s3


@njit(cache=True, parallel=True)
def advance_sessions(
    Q, max_q, strategy, state, t, stable, eps, rng, status, profit, n_periods, rule, sync
):
    """Advance every running session by up to ``n_periods`` periods.

    State arrays are updated in place, so a run can be advanced in chunks (for progress
    and Mesa steps) with results identical to one long call.

    Parameters
    ----------
    Q : ndarray(float64, shape (N, n, S, m))
    max_q : ndarray(float64, shape (N, n, S)), cached max of Q over actions
    strategy : ndarray(int64, shape (N, n, S)), cached greedy action
    state, t, stable : ndarray(int64, shape (N,))
        Current state, periods played, periods since the last strategy change.
    eps : ndarray(float64, shape (N,)), current exploration rate exp(-beta t)
    rng : ndarray(uint64, shape (N, 4))
    status : ndarray(int8, shape (N,)), RUNNING / CONVERGED / CAPPED
    profit : ndarray(float64, shape (m**n, n))
    rule : :class:`marketsim.qstep.Rule`
    sync : bool, synchronous updating of every action
        (:func:`marketsim.qstep.update_every_action`) instead of the visited cell

    Returns
    -------
    int, total periods played by all sessions in this call
    """
    N, n, S, m = Q.shape
    mn = profit.shape[0]
    played = np.zeros(N, dtype=np.int64)
    for b in prange(N):
        if status[b] != RUNNING:
            continue
        s0, s1, s2, s3 = rng[b, 0], rng[b, 1], rng[b, 2], rng[b, 3]
        s = state[b]
        tt = t[b]
        st = stable[b]
        e = eps[b]
        acts = np.empty(n, dtype=np.int64)
        targets = np.empty(m)
        Qb = Q[b]
        mq = max_q[b]
        sg = strategy[b]
        k = 0
        while k < n_periods:
            k += 1
            joint, s0, s1, s2, s3 = choose_actions(sg, s, e, m, acts, s0, s1, s2, s3)
            # one period of memory: the new state is the joint action (no integer division)
            s_new = joint if S == mn else (s * mn + joint) % S
            if sync:
                changed, s0, s1, s2, s3 = update_every_action(
                    Qb, mq, sg, s, joint, acts, profit, rule, targets, s0, s1, s2, s3
                )
            else:
                changed = False
                for i in range(n):
                    target = profit[joint, i] + rule.delta * mq[i, s_new]
                    ch, s0, s1, s2, s3 = update_q_cell(
                        Qb, mq, sg, i, s, acts[i], target, rule.alpha, s0, s1, s2, s3
                    )
                    changed |= ch
            code, tt, st, e = end_period(changed, tt, st, e, rule)
            if code != RUNNING:
                status[b] = code
                # as the authors' code, keep the state this period started from (the
                # synchronous sessions have always kept the new one)
                if sync:
                    s = s_new
                break
            s = s_new
        state[b] = s
        save_session(b, k, tt, st, e, s0, s1, s2, s3, played, t, stable, eps, rng)
    return played.sum()


class QLearningSessions:
    """Many independent Q-learning sessions of one repeated pricing game, as arrays.

    Parameters
    ----------
    profit : ndarray(float64, shape (m**n, n)), profits of every joint action
    grid : ndarray(float64, shape (n, m)), each firm's prices
    k : int, memory (periods of joint actions in the state; 0 = stateless)
    alpha, beta, delta : float, learning rate, exploration decay, discount factor
    seed : int, root seed; session ``start + b`` uses stream ``start + b``
    sessions : int, number of sessions
    start : int, index of the first session (sweeps run blocks of sessions)
    conv_window, max_periods : int, convergence window and cap
    """

    def __init__(self, profit, grid, *, seed=0, start=0, **learning):
        self._allocate(profit, grid, **learning)
        self.rng = stream_states(seed, start, self.state.size)
        init_sessions(
            initial_q(self.profit, self.n, self.m, self.delta),
            self.S,
            self.Q,
            self.max_q,
            self.strategy,
            self.state,
            self.rng,
        )

    def _allocate(
        self,
        profit,
        grid,
        *,
        k=1,
        alpha=0.15,
        beta=4e-6,
        delta=0.95,
        sessions=1,
        conv_window=100_000,
        max_periods=10**9,
    ):
        """The game, the learning parameters and every session's arrays, not yet filled
        (each kind of session seeds its own streams and initial Q-values)."""
        self.profit = np.ascontiguousarray(profit, dtype=np.float64)
        self.grid = np.ascontiguousarray(grid, dtype=np.float64)
        n, m = self.grid.shape
        self.n, self.m, self.k = n, m, k
        self.S = m ** (n * k)
        self.alpha, self.beta, self.delta = float(alpha), float(beta), float(delta)
        self.conv_window, self.max_periods = int(conv_window), int(max_periods)
        N = int(sessions)
        self.Q = np.empty((N, n, self.S, m))
        self.max_q = np.empty((N, n, self.S))
        self.strategy = np.empty((N, n, self.S), dtype=np.int64)
        self.state = np.empty(N, dtype=np.int64)
        self.t = np.zeros(N, dtype=np.int64)
        self.stable = np.zeros(N, dtype=np.int64)
        self.eps = np.ones(N)
        self.status = np.zeros(N, dtype=np.int8)

    @staticmethod
    def bytes_needed(n: int, m: int, k: int, sessions: int) -> int:
        """Memory of the state arrays: Q, cached max and greedy action per session."""
        S = m ** (n * k)
        return sessions * n * S * (m * 8 + 8 + 8)

    @property
    def running(self) -> int:
        return int((self.status == RUNNING).sum())

    #: synchronous updating of every action (:mod:`marketsim.qlearning_sync`)
    sync = False

    def advance(self, periods: int) -> int:
        """Advance every running session by up to ``periods``; returns periods played."""
        return int(advance_sessions(*self._arrays(), self.rng, *self._rules(periods), self.sync))

    def _arrays(self) -> tuple:
        """A period kernel's first arguments: the arrays it advances, before the streams
        (passed one by one: see :class:`marketsim.qstep.Rule`)."""
        return self.Q, self.max_q, self.strategy, self.state, self.t, self.stable, self.eps

    def _rules(self, periods: int) -> tuple:
        """A period kernel's arguments after the streams: status, game, periods, rule."""
        rule = Rule(
            self.alpha, self.delta, float(np.exp(-self.beta)), self.conv_window, self.max_periods
        )
        return self.status, self.profit, int(periods), rule

    def analysis_state(self) -> np.ndarray:
        """The state each session's analysis starts from: the final state."""
        return self.state

    def analyse(self, eq_tol: float = 1e-12) -> dict[str, np.ndarray]:
        """Limit cycles, equilibrium checks and impulse responses (see analyse_sessions);
        the deviation figures have one column per deviating firm."""
        N, n = self.state.size, self.n
        Lmax = min(self.S, 4096)
        out = {
            "cycle_len": np.zeros(N, dtype=np.int64),
            "cycle_actions": np.zeros((N, n, Lmax), dtype=np.int64),
            "cycle_profit": np.zeros((N, n)),
            "nash_on_path": np.zeros(N, dtype=np.bool_),
            "static_nash": np.zeros(N, dtype=np.bool_),
            "dev_gain": np.zeros((N, n)),
            "dev_worse": np.zeros((N, n), dtype=np.int64),
            "rival_response": np.zeros((N, n)),
            "punishment": np.zeros((N, n)),
            "impulse_actions": np.zeros((N, n, IMPULSE_PRE + 1 + IMPULSE_POST), dtype=np.int64),
        }
        analyse_sessions(
            self.strategy,
            self.analysis_state(),
            self.profit,
            self.grid,
            self.delta,
            eq_tol,
            out["cycle_len"],
            out["cycle_actions"],
            out["cycle_profit"],
            out["nash_on_path"],
            out["static_nash"],
            out["dev_gain"],
            out["dev_worse"],
            out["rival_response"],
            out["punishment"],
            out["impulse_actions"],
        )
        return out
