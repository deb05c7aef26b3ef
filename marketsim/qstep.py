r"""Steps shared by the tabular Q-learning kernels (pricing firms and market makers).

A session of Calvano et al. (2020)'s learning keeps, per period, an exploration rate
:math:`\varepsilon_t = e^{-\beta t}` and a count of periods in which no greedy strategy
changed; it has converged when that count reaches ``conv_window`` and is capped at
``max_periods``. :func:`end_period` is that bookkeeping, :func:`save_session` writes a
session's counters and stream back after a kernel call, and :func:`argmax_random_ties`
is the greedy action of a Q row with ties broken at random (the authors'
``MaxLocBreakTies``). They are inlined into :mod:`marketsim.qlearning`,
:mod:`marketsim.qlearning_sync` and :mod:`marketsim.mm_learning`, so each kernel stays
one loop with no call overhead.
"""

from __future__ import annotations

from typing import NamedTuple

from numba import njit

from marketsim.rng import next_double

RUNNING, CONVERGED, CAPPED = 0, 1, 2


class Rule(NamedTuple):
    """The learning rule's numbers, one argument of the period kernels.

    Only numbers travel in a tuple: the arrays a ``prange`` kernel writes stay separate
    arguments, because numba 0.68's alias analysis does not see an array taken out of a
    tuple argument as the caller's and drops the loop's writes to it (a ``t`` unpacked
    from a namedtuple stayed 0).
    """

    alpha: float  # learning rate
    delta: float  # discount factor
    eps_decay: float  # exp(-beta)
    conv_window: int  # periods without a change of greedy action that end a session
    max_periods: int  # cap on a session's periods


@njit(cache=True, inline="always")
def argmax_random_ties(row, s0, s1, s2, s3):
    """Index and value of the largest entry of ``row``, ties broken uniformly at random
    (a draw is taken only when there is a tie), and the advanced stream state.

    The maximum is taken first without branches on the data (two interleaved running
    maxima, exact whatever the order), then the ties are counted; a Q row is rescanned
    about every other period, and data-dependent branches there were a third of the
    market-making kernel's time. Same index, value and draws as a left-to-right scan.
    """
    m = row.size
    b0 = row[0]
    b1 = row[m - 1]
    a = 1
    while a + 1 < m:
        v = row[a]
        w = row[a + 1]
        b0 = v if v > b0 else b0
        b1 = w if w > b1 else b1
        a += 2
    best = b1 if b1 > b0 else b0
    ties = 0
    found = 0
    for a in range(m - 1, -1, -1):
        hit = row[a] == best
        ties += hit
        found = a if hit else found
    best = row[found]  # the first maximum, as a left-to-right scan keeps it (signed zeros)
    if ties > 1:
        u, s0, s1, s2, s3 = next_double(s0, s1, s2, s3)
        pick = int(u * ties)
        for a in range(m):
            if row[a] == best:
                if pick == 0:
                    found = a
                    break
                pick -= 1
    return found, best, s0, s1, s2, s3


@njit(cache=True, inline="always")
def update_every_action(Q, max_q, strategy, s, joint, acts, profit, rule, targets, s0, s1, s2, s3):
    """Synchronous updating (:mod:`marketsim.qlearning_sync`) of one session in state
    ``s`` after joint action ``joint`` (``acts``): each firm ``i`` updates every action
    ``a`` with the profit it would have earned against the rivals' actual actions plus the
    discounted value of the state that would have followed, all from the values at the
    start of the period; then its greedy action and max are rescanned (ties at random).

    ``Q``, ``max_q``, ``strategy`` are the session's arrays (shapes (n, S, m), (n, S),
    (n, S)), ``targets`` scratch of shape (m,). Returns (some greedy action changed, the
    advanced stream state).
    """
    n, S, m = Q.shape
    mn = profit.shape[0]
    changed = False
    mult = 1
    for i in range(n):
        rival = joint - acts[i] * mult
        for a in range(m):
            j = rival + a * mult
            targets[a] = profit[j, i] + rule.delta * max_q[i, (s * mn + j) % S]
        for a in range(m):
            Q[i, s, a] = Q[i, s, a] + rule.alpha * (targets[a] - Q[i, s, a])
        greedy, best, s0, s1, s2, s3 = argmax_random_ties(Q[i, s], s0, s1, s2, s3)
        if strategy[i, s] != greedy:
            strategy[i, s] = greedy
            changed = True
        max_q[i, s] = best
        mult *= m
    return changed, s0, s1, s2, s3


@njit(cache=True, inline="always")
def end_period(changed, tt, st, e, rule):
    """Close a period: count it, decay exploration, and apply the convergence rule.

    Parameters
    ----------
    changed : bool, some greedy strategy changed this period
    tt, st : int, periods played and periods since the last change (before this one)
    e : float, exploration rate
    rule : :class:`Rule`

    Returns
    -------
    (status, tt, st, e): ``RUNNING``, else ``CONVERGED`` (``st`` reached
    ``conv_window``; checked first) or ``CAPPED`` (``tt`` reached ``max_periods``).
    """
    tt += 1
    e *= rule.eps_decay
    if changed:
        st = 0
    else:
        st += 1
        if st >= rule.conv_window:
            return CONVERGED, tt, st, e
    if tt >= rule.max_periods:
        return CAPPED, tt, st, e
    return RUNNING, tt, st, e


@njit(cache=True, inline="always")
def save_session(b, k, tt, st, e, s0, s1, s2, s3, played, t, stable, eps, rng):
    """Write session ``b``'s periods played in this call (``k``), counters, exploration
    rate and stream words back to the state arrays."""
    played[b] = k
    t[b] = tt
    stable[b] = st
    eps[b] = e
    rng[b, 0], rng[b, 1], rng[b, 2], rng[b, 3] = s0, s1, s2, s3
