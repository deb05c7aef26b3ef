r"""Limit cycles, equilibrium checks and impulse responses of Q-learning sessions.

The analysis of Calvano, Calzolari, Denicolò & Pastorello (2020, online appendix) applied
to the greedy strategies :math:`\sigma_i(s) = \arg\max_a Q_i(s, a)` that
:mod:`marketsim.qlearning` learns: iterate :math:`s_{t+1} = (s_t m^n + j(\sigma(s_t)))
\bmod S` from the final state to the limit cycle, test every cycle state for one-shot
and repeated-game (one-period deviation) Nash, and follow a deviation to the
static best response, each firm in turn and from every cycle state, until play returns
to the cycle (the punishment length).

A job apart from learning: these kernels only read the strategies, never the Q-tables.
"""

from __future__ import annotations

import numpy as np
from numba import njit, prange

#: periods of the impulse response recorded before and after the deviation
IMPULSE_PRE = 3
IMPULSE_POST = 25


@njit(cache=True, inline="always")
def _greedy_joint(sg, s, n, m):
    joint = 0
    mult = 1
    for i in range(n):
        joint += sg[i, s] * mult
        mult *= m
    return joint


@njit(cache=True)
def _static_best_response(profit, rival_joint, i, n, m):
    """Firm ``i``'s best grid action against rivals' fixed actions (``rival_joint``)."""
    mi = m**i
    best_a = 0
    best = -np.inf
    for a in range(m):
        v = profit[rival_joint + a * mi, i]
        if v > best:
            best = v
            best_a = a
    return best_a


@njit(cache=True, inline="always")
def _greedy_path(sg, x, n, m, S, mn, seen, order):
    """Follow the greedy strategies from state ``x`` until a state repeats.

    Records the states in ``order`` and their position in ``seen`` (int64[S], all -1 on
    entry, left marked: the caller restores it); returns the number of states recorded
    and the first repeated state (``seen`` of it is where the final loop starts).
    """
    T = 0
    while seen[x] < 0:
        seen[x] = T
        order[T] = x
        T += 1
        x = (x * mn + _greedy_joint(sg, x, n, m)) % S
    return T, x


@njit(cache=True)
def _follow_value(sg, x, i, profit, delta, n, m, S, mn, seen, order):
    """Firm ``i``'s discounted profit when every firm follows its greedy strategy from
    state ``x`` on: the deterministic path is summed exactly, its final loop as a
    geometric series. ``seen`` (int64[S], all -1) is restored before returning."""
    T, x = _greedy_path(sg, x, n, m, S, mn, seen, order)
    c0 = seen[x]
    head = 0.0
    disc = 1.0
    loop = 0.0
    loop_disc = 1.0
    for t in range(T):
        v = profit[_greedy_joint(sg, order[t], n, m), i]
        if t < c0:
            head += disc * v
            disc *= delta
        else:
            loop += loop_disc * v
            loop_disc *= delta
        seen[order[t]] = -1
    return head + disc * loop / (1.0 - loop_disc)


@njit(cache=True, parallel=True)
def analyse_sessions(
    strategy,
    state,
    profit,
    grid,
    delta,
    eq_tol,
    cycle_len,
    cycle_actions,
    cycle_profit,
    nash_on_path,
    static_nash,
    dev_gain,
    dev_worse,
    rival_response,
    punishment,
    impulse_actions,
):
    r"""Limit cycle, equilibrium checks and impulse response of each converged session.

    Follows the authors' replication code (Calvano et al. 2020, online appendix):

    * limit cycle: from the final state the greedy strategies are iterated until a state
      repeats;
    * ``nash_on_path``: at every cycle state, no firm gains from a one-period deviation
      to any grid price followed by the strategies (the value of each path summed
      exactly), i.e. every firm best-responds on path;
    * ``static_nash``: every cycle period is a one-shot Nash equilibrium of the grid game;
    * impulse response (the authors' detailed analysis behind Table A10): each firm
      ``i`` in turn, from each cycle state, plays its static best response to the rivals'
      greedy prices for one period, then everyone plays greedy. ``dev_gain[b, i]`` is
      the deviation's exact discounted gain over following the strategy (the true
      :math:`Q_i(s, a^{BR}) - Q_i(s, \sigma_i(s))`), ``dev_worse[b, i]`` the number of
      cycle states where that gain is strictly negative (zero when the strategy already
      plays the best response), ``rival_response[b, i]`` the rivals' relative price
      change from the deviation period to the next, ``punishment[b, i]`` the periods
      from the deviation (counted as period 1) until the state is back on the
      pre-deviation cycle (the authors' ``ShockLength``; the period where a different
      loop closes if it never returns). Gains, responses and lengths are averaged over
      the cycle's states.
    * ``impulse_actions`` records firm 1's deviation from the first cycle state for
      periods ``-IMPULSE_PRE .. IMPULSE_POST`` (0 = the deviation).

    Parameters
    ----------
    strategy : ndarray(int64, shape (N, n, S))
    state : ndarray(int64, shape (N,))
    profit : ndarray(float64, shape (m**n, n))
    grid : ndarray(float64, shape (n, m))
    cycle_actions : ndarray(int64, shape (N, n, Lmax)), filled up to ``cycle_len``
    cycle_profit : ndarray(float64, shape (N, n))
    nash_on_path, static_nash : ndarray(bool, shape (N,))
    dev_gain, rival_response, punishment : ndarray(float64, shape (N, n))
    dev_worse : ndarray(int64, shape (N, n))
    impulse_actions : ndarray(int64, shape (N, n, IMPULSE_PRE + 1 + IMPULSE_POST))
    """
    N, n, S = strategy.shape
    mn, _ = profit.shape
    m = grid.shape[1]
    Lmax = cycle_actions.shape[2]
    for b in prange(N):
        sg = strategy[b]
        seen = np.full(S, -1, dtype=np.int64)
        order = np.empty(S + 1, dtype=np.int64)
        # ---- limit cycle
        path = np.empty(S + 1, dtype=np.int64)
        idx, s = _greedy_path(sg, state[b], n, m, S, mn, seen, path)
        start = seen[s]
        L = idx - start
        for t in range(idx):
            seen[path[t]] = -1
        cycle_len[b] = L
        on_cycle = np.zeros(S, dtype=np.bool_)
        for c in range(L):
            on_cycle[path[start + c]] = True
        static_ok = True
        eq_ok = True
        for c in range(L):
            sc = path[start + c]
            joint = _greedy_joint(sg, sc, n, m)
            mult = 1
            for i in range(n):
                ai = sg[i, sc]
                if c < Lmax:
                    cycle_actions[b, i, c] = ai
                cycle_profit[b, i] += profit[joint, i] / L
                rj = joint - ai * mult
                br = _static_best_response(profit, rj, i, n, m)
                if profit[rj + br * mult, i] > profit[joint, i] + 1e-12:
                    static_ok = False
                if eq_ok:
                    own = profit[joint, i] + delta * _follow_value(
                        sg, (sc * mn + joint) % S, i, profit, delta, n, m, S, mn, seen, order
                    )
                    for a in range(m):
                        if a == ai:
                            continue
                        j = rj + a * mult
                        v = profit[j, i] + delta * _follow_value(
                            sg, (sc * mn + j) % S, i, profit, delta, n, m, S, mn, seen, order
                        )
                        if v > own + eq_tol * (abs(own) + 1.0):
                            eq_ok = False
                            break
                mult *= m
        static_nash[b] = static_ok
        nash_on_path[b] = eq_ok
        # ---- impulse response: each firm in turn deviates from each cycle state
        for i in range(n):
            mi = m**i
            gain_sum = 0.0
            pun_sum = 0.0
            resp_sum = 0.0
            worse = 0
            for c in range(L):
                sc = path[start + c]
                joint0 = _greedy_joint(sg, sc, n, m)
                rj = joint0 - sg[i, sc] * mi
                jdev = rj + _static_best_response(profit, rj, i, n, m) * mi
                base = profit[joint0, i] + delta * _follow_value(
                    sg, (sc * mn + joint0) % S, i, profit, delta, n, m, S, mn, seen, order
                )
                dev = profit[jdev, i] + delta * _follow_value(
                    sg, (sc * mn + jdev) % S, i, profit, delta, n, m, S, mn, seen, order
                )
                gain_sum += dev - base
                if dev < base:
                    worse += 1
                # walk the deviation path: record it, find the return to the cycle
                x = sc
                jd = jdev
                back = 0
                h = 0
                written = 0
                record = i == 0 and c == 0
                while True:
                    if record and h <= IMPULSE_POST:
                        mult = 1
                        for j in range(n):
                            impulse_actions[b, j, IMPULSE_PRE + h] = (jd // mult) % m
                            mult *= m
                    if h == 1 and n > 1:
                        mult = 1
                        for j in range(n):
                            if j != i:
                                p0 = grid[j, (joint0 // mult) % m]
                                resp_sum += (grid[j, (jd // mult) % m] - p0) / p0 / (n - 1)
                            mult *= m
                    x = (x * mn + jd) % S
                    if back == 0:
                        if on_cycle[x]:
                            back = h + 1
                        elif seen[x] >= 0:
                            back = seen[x] + 1  # a different loop closes here
                        else:
                            seen[x] = h
                            order[written] = x
                            written += 1
                    if back > 0 and h >= (IMPULSE_POST if record else 1):
                        break
                    jd = _greedy_joint(sg, x, n, m)
                    h += 1
                for t in range(written):
                    seen[order[t]] = -1
                pun_sum += back
            dev_gain[b, i] = gain_sum / L
            dev_worse[b, i] = worse
            punishment[b, i] = pun_sum / L
            rival_response[b, i] = resp_sum / L
        # periods before the deviation: the cycle itself
        for h in range(1, IMPULSE_PRE + 1):
            sc = path[start + ((-h) % L)]
            for i in range(n):
                impulse_actions[b, i, IMPULSE_PRE - h] = sg[i, sc]
