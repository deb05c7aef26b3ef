r"""Q-learning market makers in a quote-driven Glosten-Milgrom market.

The market follows Colliard, Foucault & Lovo (2022, "Algorithmic Pricing and Liquidity
in Securities Markets", SSRN 4252858) as far as we could read it; where their exact
parameters could not be read the choice is ours and is stated here.

Each period :math:`t`

* the asset's value is :math:`v_t = +1` (high) or :math:`-1` (low) with probability
  1/2 each. It is drawn at the first period of each *episode* of ``episode_periods``
  periods and kept until the episode ends (Glosten & Milgrom's sequential trades: a
  trade is then news about the next client's information; CFL's makers "update their
  prices after observing trades"); with ``episode_periods = 1`` it is drawn afresh every
  period and a trade says nothing about the next one. Prices are measured from the
  expected value :math:`E[v] = 0` in units of the value's half-range;
* each of :math:`n` market makers posts an ask :math:`a_i` on the tick grid
  :math:`\{0, \text{tick}, 2\,\text{tick}, \dots, K\,\text{tick}\}`,
  :math:`K\,\text{tick} = \max(1, \ell)` (asks above that never trade). Only the ask
  side is modelled, as in CFL's baseline; the bid side is its mirror image;
* one client arrives who wants to buy one unit: informed with probability :math:`\pi`
  (knows :math:`v_t`, buys iff :math:`v_t > b`, :math:`b = \min_i a_i` the best ask),
  else uninformed with private value :math:`L \sim U[0, \ell]` (buys iff
  :math:`E[v] + L > b`);
* the maker(s) at the best ask sell at their own price and earn :math:`b - v_t`
  (realised, noisy: CFL's "noisy feedback"); the others earn 0.

Who trades at a tied best ask is the ``tie`` rule: ``split`` (each of the :math:`k`
makers at the best ask sells :math:`1/k` unit), ``time`` (price-time priority of a
limit-order book: a quote left unchanged keeps its place in the queue, a changed quote
joins the back; makers that re-quote in the same period arrive in a uniformly random
order, so the oldest unchanged quote trades and equal ages are broken at random) or
``random`` (the unit goes to one tied maker drawn uniformly).

The quotes are not routed through :mod:`marketsim.orderbook`: one client order per
period against at most :math:`n` resting asks is resolved in a few comparisons, and the
book's price-then-time priority is applied here directly (``tie="time"``). This keeps
the kernel at tens of nanoseconds per maker-period; the book's event kernels cost
microseconds per order.

Expected profit of the maker(s) at best ask :math:`b` (used by the benchmarks and the
analysis, never by the learners, who see realised profits):

.. math::

    \Pi(b) = \tfrac{\pi}{2} (b - 1)\,\mathbb 1[b < 1]
             + (1-\pi)\, b\, \max(0, 1 - b/\ell).

With :math:`\ell = 1`, :math:`\Pi(b) = (1-b)\,((1-\pi) b - \pi/2)`: the zero-profit ask
is :math:`\pi / (2(1-\pi))` and the joint-profit-maximising ask
:math:`1/2 + \pi / (4(1-\pi))`.

Learning is Calvano et al.'s (2020) machinery (:mod:`marketsim.qlearning`, whose
``update_q_cell`` and ``epsilon_greedy`` are used as they are): epsilon-greedy with
:math:`\varepsilon_t = e^{-\beta t}`, one Q cell updated per maker and period, a session
has converged when no greedy strategy changed for ``conv_window`` periods. A maker's
state is (``state_mode``) the last period's asks of all makers (``quotes``), its own last
ask only (``own``: it cannot condition on rivals' quotes; the control of the impulse
response) or nothing (``none``); with ``trade_state`` it also holds whether the last
client bought, and, when ``episode_periods`` > 1, whether the period starts an episode
(no trade of this episode yet: :data:`NEW_EPISODE`). The benchmarks are those of
a period with no earlier trade in its episode (prior 1/2 on the value).

The ``informed`` learner is our reading of the "basic understanding of the market and
basic information about outstanding quotes" with which Guarino, Jehiel & Symons-Hicks
(2025, CEPR DP 20461) find that Q-learning market makers price competitively; only their
abstract could be read, so the algorithm below is ours. A maker knows the market's rules
(the client trades at the best ask; a maker alone there sells at its ask and earns ask
minus value; tied makers share) and, after the period, sees its rivals' asks, the
client's order (his reservation price: a buy order up to ``v`` for an informed client,
``L`` for an uninformed one) and the value. It can then compute what every ask would
have earned against the rivals' actual asks and that client, and which state it would
have led to; each period it updates every ask of the period's state with that
counterfactual profit (the ask played with its realised profit), as in the synchronous
updating of Asker, Fershtman & Pakes (2022; :func:`marketsim.qstep.update_every_action`
for ``calvano2020``). Every cell is updated every period whatever the client was, so each
learns the unconditional expected profit of its ask. A counterfactual ask tied with
rivals gets the expected share ``1/k`` whatever the ``tie`` rule. Version 2 of the
scenario gave the makers less: each period only the asks above the best rival ask were
updated, with profit 0 (the asks that could not have traded), and undercutting was
learned by trial alone.

Why one file of about 1,000 lines: the market's exact benchmarks, the learning kernel
and the analysis kernel share the state encoding, the client's draw and the tables'
layout (:func:`_state`, :func:`_client_draw`, :func:`_cell`), inlined into both kernels.
numba keys a cached kernel on its own source file only, so an inlined helper in another
file could change without the kernels that inline it being compiled again.
"""

from __future__ import annotations

import numpy as np
from numba import njit, prange

from marketsim.qlearning import epsilon_greedy, update_q_cell
from marketsim.qstep import CAPPED as CAPPED  # status codes: also imported from here
from marketsim.qstep import CONVERGED as CONVERGED
from marketsim.qstep import RUNNING, Rule, argmax_random_ties, end_period, save_session
from marketsim.rng import next_double, stream_states

TIES = ("split", "time", "random")
LEARNERS = ("basic", "informed")
STATE_MODES = ("quotes", "own", "none")
#: periods of the impulse response from the deviation on (t = 0 .. IMPULSE_T - 1)
IMPULSE_T = 16
#: trade part of the state at an episode's first period (``episode_periods`` > 1)
NEW_EPISODE = 2
#: Q-table bytes per session above which the tables are stored state-major (L2 cache)
STATE_MAJOR_BYTES = 2**19
#: periods of greedy play averaged when the path is random (``trade_state``)
EVAL_BURN, EVAL_PERIODS, IMPULSE_REPS = 100, 2000, 64


# --------------------------------------------------------------------------- market


def ask_grid(tick: float, private_value_max: float = 1.0) -> np.ndarray:
    """Asks ``0, tick, ..., max(1, private_value_max)``; the top must be a tick multiple.

    Returns
    -------
    ndarray(float64, shape (m,))
    """
    top = max(1.0, float(private_value_max))
    k = round(top / tick)
    if k < 1 or abs(k * tick - top) > 1e-9 * top:
        raise ValueError(
            f"tick {tick:g} does not divide max(1, private_value_max) = {top:g}; "
            f"use e.g. {top / max(k, 1):g}"
        )
    return np.arange(k + 1) * (top / k)


def expected_profit(ask, pi: float, private_value_max: float = 1.0):
    r""":math:`\Pi(b)`: expected profit per period of the makers at best ask ``ask``
    (summed over them)."""
    a = np.asarray(ask, dtype=float)
    informed = 0.5 * pi * (a - 1.0) * (a < 1.0)
    uninformed = (1.0 - pi) * a * np.maximum(0.0, 1.0 - a / private_value_max)
    return informed + uninformed


def zero_profit_ask(pi: float, private_value_max: float = 1.0) -> float:
    """The continuous competitive ask: the lowest ask in (0, 1) with zero expected profit,
    the smallest root of ``-(1-pi)/l b^2 + (1 - pi/2) b - pi/2`` (b < l), else the
    ask where the uninformed alone pay (b >= 1). NaN when no ask earns a profit."""
    ell = float(private_value_max)
    qa, qb, qc = -(1.0 - pi) / ell, 1.0 - pi / 2.0, -pi / 2.0
    disc = qb * qb - 4 * qa * qc
    if disc >= 0:
        roots = sorted(((-qb + s * np.sqrt(disc)) / (2 * qa)) for s in (1.0, -1.0))
        for r in roots:
            if 0.0 <= r < min(1.0, ell):
                return float(r)
    if ell > 1.0:  # above v_H only the uninformed buy, at a profit while b < l
        return 1.0
    return float("nan")


def profit_table(grid: np.ndarray, n: int, pi: float, private_value_max: float = 1.0):
    """Expected profit of every maker for every joint ask profile; a tie is shared
    equally (exact for ``split``; the expectation for ``random`` and, with random
    arrival order, for ``time``).

    Returns
    -------
    ndarray(float64, shape (m**n, n)); row ``j = sum_i a_i m**i``
    """
    m = grid.size
    J = m**n
    acts = (np.arange(J)[:, None] // (m ** np.arange(n))[None, :]) % m
    best = acts.min(axis=1)
    at_best = acts == best[:, None]
    total = expected_profit(grid[best], pi, private_value_max)
    return np.where(at_best, (total / at_best.sum(axis=1))[:, None], 0.0)


def benchmarks(n: int, tick: float, pi: float, private_value_max: float = 1.0) -> dict:
    """Exact competitive and collusive asks of the grid game.

    * ``competitive_ask``: the lowest symmetric pure Nash equilibrium of the one-shot
      game on the grid with shared ties: every maker at ``b`` with
      ``Pi(b) >= 0`` and ``Pi(b)/n >= Pi(b')`` for every lower grid ask ``b'`` (raising
      one's ask loses the client);
    * ``collusive_ask``: the grid ask maximising joint expected profit ``Pi(b)`` (the
      lowest if several do);
    * ``zero_profit_ask``: the continuous competitive ask (off the grid).
    """
    grid = ask_grid(tick, private_value_max)
    prof = expected_profit(grid, pi, private_value_max)
    nash = [
        k
        for k in range(grid.size)
        if prof[k] >= 0 and (k == 0 or prof[k] / n >= prof[:k].max() - 1e-15)
    ]
    if not nash or prof.max() <= 0:
        raise ValueError(
            f"pi = {pi:g}: no ask on the grid earns a profit (the market breaks down); "
            "lower pi or raise private_value_max"
        )
    kc = nash[0]
    km = int(np.argmax(prof))
    return {
        "grid": grid,
        "profit": prof,
        "competitive_action": kc,
        "collusive_action": km,
        "competitive_ask": float(grid[kc]),
        "collusive_ask": float(grid[km]),
        "competitive_profit": float(prof[kc]),
        "collusive_profit": float(prof[km]),
        "zero_profit_ask": zero_profit_ask(pi, private_value_max),
        "nash_actions": nash,
    }


# --------------------------------------------------------------------------- kernels


@njit(cache=True, inline="always")
def _trade_codes(trade_state, episode):
    """Values of the trade part of the state: none, bought or not, or also a new episode."""
    if not trade_state:
        return 1
    return 3 if episode > 1 else 2


@njit(cache=True, inline="always")
def _cell(i, s, sm):
    """Indices of maker ``i``'s state ``s`` in a session's tables as stored: ``[i, s]``
    maker-major, ``[s, i]`` state-major (``sm``; see :class:`MarketMakingSessions`). The
    kernels take the stored arrays, C-contiguous either way, so one compiled kernel serves
    both orders (a transposed view would be typed layout ``A`` and compiled again)."""
    if sm:
        return s, i
    return i, s


@njit(cache=True, inline="always")
def _state(acts, i, trade, mode, trade_state, m, S0):
    if mode == 0:
        s = 0
        mult = 1
        for j in range(acts.size):
            s += acts[j] * mult
            mult *= m
    elif mode == 1:
        s = acts[i]
    else:
        s = 0
    if trade_state:
        s += S0 * trade
    return s


@njit(cache=True, inline="always")
def _encode(acts, m):
    j = 0
    mult = 1
    for i in range(acts.size):
        j += acts[i] * mult
        mult *= m
    return j


@njit(cache=True, inline="always")
def _states(acts, trade, mode, trade_state, m, S0, out):
    """Every maker's state (:func:`_state`) after asks ``acts`` and trade ``trade``,
    into ``out``; with ``quotes`` the makers share one state, encoded once."""
    shared = S0 * trade if trade_state else 0
    if mode == 0:
        shared += _encode(acts, m)
    for i in range(out.size):
        out[i] = shared + acts[i] if mode == 1 else shared


@njit(cache=True, inline="always")
def _client_draw(pi, lmax, v, fresh, s0, s1, s2, s3):
    """Draw the client (and the value ``v`` when ``fresh``: an episode's first period;
    else the episode's value is kept): (his reservation price, value, stream). He buys at
    a best ask ``b`` iff his reservation price exceeds it: ``v`` for an informed client,
    ``E[v] + L = L`` for an uninformed one."""
    if fresh:
        u, s0, s1, s2, s3 = next_double(s0, s1, s2, s3)
        v = 1.0 if u < 0.5 else -1.0
    u, s0, s1, s2, s3 = next_double(s0, s1, s2, s3)
    if u < pi:
        res = v
    else:
        u, s0, s1, s2, s3 = next_double(s0, s1, s2, s3)
        res = lmax * u
    return res, v, s0, s1, s2, s3


@njit(cache=True, inline="always")
def _client(best_price, pi, lmax, v, fresh, s0, s1, s2, s3):
    """Draw the client (:func:`_client_draw`) facing best ask ``best_price``:
    (buys, value, stream)."""
    res, v, s0, s1, s2, s3 = _client_draw(pi, lmax, v, fresh, s0, s1, s2, s3)
    return res > best_price, v, s0, s1, s2, s3


@njit(cache=True, inline="always")
def _trade_code(buy, next_pos, episode):
    """The trade part of the next period's state: 1 if the client bought, 0 if not,
    :data:`NEW_EPISODE` when the next period starts an episode (its position in the
    episode ``next_pos`` is 0 and ``episode`` > 1: no trade of this episode yet)."""
    if episode > 1 and next_pos == 0:
        return NEW_EPISODE
    return 1 if buy else 0


@njit(cache=True, inline="always")
def _winner(acts, best, age, tie, s0, s1, s2, s3):
    """The maker who sells at a tied best ask (-1: shared, ``split``), and the stream."""
    n = acts.size
    if tie == 0:
        return -1, s0, s1, s2, s3
    top = -1
    cnt = 0
    for i in range(n):
        if acts[i] == best:
            key = age[i] if tie == 1 else 0
            if key > top:
                top = key
                cnt = 1
            elif key == top:
                cnt += 1
    pick = 0
    if cnt > 1:
        u, s0, s1, s2, s3 = next_double(s0, s1, s2, s3)
        pick = int(u * cnt)
    for i in range(n):
        if acts[i] == best and (age[i] if tie == 1 else 0) == top:
            if pick == 0:
                return i, s0, s1, s2, s3
            pick -= 1
    return -1, s0, s1, s2, s3


@njit(cache=True, inline="always")
def counterfactual(acts, i, a, grid, res, v, m):
    """What maker ``i`` would have earned had it asked ``grid[a]`` while its rivals kept
    their asks ``acts``, facing the same client (reservation price ``res``) and value
    ``v``: (profit, the client would have bought). Alone at the best ask it sells the unit
    at its ask; tied with ``k - 1`` rivals it gets the expected share ``1/k`` (exact for
    ``split``, the mean for ``random`` and ``time``); above a rival's ask it sells nothing.
    """
    rival = m
    tied = 1
    for j in range(acts.size):
        if j != i:
            if acts[j] < rival:
                rival = acts[j]
                tied = 2
            elif acts[j] == rival:
                tied += 1
    best = a if a < rival else rival
    buy = res > grid[best]
    if not buy or a > rival:
        return 0.0, buy
    if a < rival:
        return grid[a] - v, buy
    return (grid[a] - v) / tied, buy


@njit(cache=True, inline="always")
def informed_update(Q, max_q, strategy, sm, i, s, s_next, acts, reward, trade, res, v,
                    grid, pos, episode, mode, trade_state, S0, rule, targets,
                    s0, s1, s2, s3):  # fmt: skip
    """Market knowledge (``learner="informed"``): maker ``i`` updates every ask of state
    ``s``, not only the one it played (``acts[i]``, realised ``reward``, next state
    ``s_next``): each other ask ``a`` with the profit it would have earned against the
    rivals' actual asks and the same client (:func:`counterfactual`), plus the discounted
    value of the state ``a`` would have led to (its own ask ``a`` in the quotes, and
    whether the client would have bought). Targets are taken from the values at the start
    of the period; then the greedy ask of ``s`` is found again (ties at random). Tables as
    stored (``sm``: :func:`_cell`).

    Returns (some greedy ask changed, the advanced stream state).
    """
    m = grid.size
    base = s_next - (S0 * trade if trade_state else 0)
    mult = 1
    for _ in range(i):
        mult *= m
    for a in range(m):
        if a == acts[i]:
            x, y = _cell(i, s_next, sm)
            targets[a] = reward + rule.delta * max_q[x, y]
            continue
        r, buy = counterfactual(acts, i, a, grid, res, v, m)
        if mode == 0:
            nxt = base + (a - acts[i]) * mult
        elif mode == 1:
            nxt = a
        else:
            nxt = 0
        if trade_state:
            nxt += S0 * _trade_code(buy, pos, episode)
        x, y = _cell(i, nxt, sm)
        targets[a] = r + rule.delta * max_q[x, y]
    x, y = _cell(i, s, sm)
    for a in range(m):
        Q[x, y, a] = Q[x, y, a] + rule.alpha * (targets[a] - Q[x, y, a])
    greedy, best, s0, s1, s2, s3 = argmax_random_ties(Q[x, y], s0, s1, s2, s3)
    changed = strategy[x, y] != greedy
    strategy[x, y] = greedy
    max_q[x, y] = best
    return changed, s0, s1, s2, s3


@njit(cache=True)
def init_sessions(q0, S, Q, max_q, strategy, sm, last_acts, last_trade, rng):
    """Fill Q with ``q0`` (n, m) in every state, cache the greedy actions (ties at
    random) and draw the initial asks.

    Q : ndarray(float64, shape (N, n, S, m), or (N, S, n, m) if ``sm``); max_q, strategy :
    the same without the last axis; last_acts : ndarray(int64, shape (N, n));
    last_trade : ndarray(int64, shape (N,))
    """
    N = Q.shape[0]
    n, m = q0.shape
    for b in prange(N):
        s0, s1, s2, s3 = rng[b, 0], rng[b, 1], rng[b, 2], rng[b, 3]
        for i in range(n):
            best_a = 0
            for a in range(1, m):
                if q0[i, a] > q0[i, best_a]:
                    best_a = a
            for s in range(S):
                x, y = _cell(i, s, sm)
                for a in range(m):
                    Q[b, x, y, a] = q0[i, a]
                strategy[b, x, y] = best_a
                max_q[b, x, y] = q0[i, best_a]
        for i in range(n):
            u, s0, s1, s2, s3 = next_double(s0, s1, s2, s3)
            last_acts[b, i] = int(u * m)
        last_trade[b] = 0
        rng[b, 0], rng[b, 1], rng[b, 2], rng[b, 3] = s0, s1, s2, s3


@njit(cache=True, parallel=True)
def advance_sessions(
    Q,
    max_q,
    strategy,
    sm,
    last_acts,
    last_trade,
    age,
    value,
    t,
    stable,
    eps,
    rng,
    status,
    grid,
    n_periods,
    rule,
    pi,
    lmax,
    tie,
    learner,
    mode,
    trade_state,
    episode,
):
    """Advance every running session by up to ``n_periods`` periods (in place, so a run
    cut into chunks equals one long call).

    Parameters
    ----------
    Q : ndarray(float64, shape (N, n, S, m), or (N, S, n, m) if ``sm``: state-major);
    max_q, strategy : the same without the last axis
    last_acts, age : ndarray(int64, shape (N, n)), last asks and periods unchanged
    last_trade, t, stable : ndarray(int64, shape (N,))
    value : ndarray(float64, shape (N,)), the asset's value in the current episode
    eps : ndarray(float64, shape (N,)); rng : ndarray(uint64, shape (N, 4))
    status : ndarray(int8, shape (N,)); grid : ndarray(float64, shape (m,))
    rule : :class:`marketsim.qstep.Rule`
    tie, learner, mode : int codes of :data:`TIES`, :data:`LEARNERS`, :data:`STATE_MODES`
    episode : int, periods over which the value is kept (1: drawn every period)

    Returns
    -------
    int, periods played by all sessions in this call
    """
    N, n = last_acts.shape
    S = Q.shape[1] if sm else Q.shape[2]
    m = Q.shape[3]
    S0 = S // _trade_codes(trade_state, episode)
    played = np.zeros(N, dtype=np.int64)
    for b in prange(N):
        if status[b] != RUNNING:
            continue
        s0, s1, s2, s3 = rng[b, 0], rng[b, 1], rng[b, 2], rng[b, 3]
        Qb = Q[b]
        mq = max_q[b]
        sg = strategy[b]
        last = last_acts[b].copy()
        ag = age[b].copy()
        trade = last_trade[b]
        v = value[b]
        tt = t[b]
        pos = tt % episode  # position in the episode, counted on (no division per period)
        st = stable[b]
        e = eps[b]
        acts = np.empty(n, dtype=np.int64)
        s_old = np.empty(n, dtype=np.int64)
        s_new = np.empty(n, dtype=np.int64)
        reward = np.empty(n)
        targets = np.empty(m)
        # a period's states are those the last period's asks and trade led to
        _states(last, trade, mode, trade_state, m, S0, s_new)
        k = 0
        while k < n_periods:
            k += 1
            s_old, s_new = s_new, s_old
            best = m
            for i in range(n):
                x, y = _cell(i, s_old[i], sm)
                ai, s0, s1, s2, s3 = epsilon_greedy(sg, x, y, e, m, s0, s1, s2, s3)
                acts[i] = ai
                if ai < best:
                    best = ai
            if tie == 1:  # only time priority reads the quotes' ages
                for i in range(n):
                    ag[i] = ag[i] + 1 if acts[i] == last[i] else 0
            ntie = 0
            for i in range(n):
                if acts[i] == best:
                    ntie += 1
            res, v, s0, s1, s2, s3 = _client_draw(pi, lmax, v, pos == 0, s0, s1, s2, s3)
            buy = res > grid[best]
            pos += 1
            if pos == episode:
                pos = 0
            win = -1
            if buy and ntie > 1:
                win, s0, s1, s2, s3 = _winner(acts, best, ag, tie, s0, s1, s2, s3)
            for i in range(n):
                r = 0.0
                if buy and acts[i] == best:
                    if ntie == 1:
                        r = grid[best] - v
                    elif win < 0:
                        r = (grid[best] - v) / ntie
                    elif win == i:
                        r = grid[best] - v
                reward[i] = r
            trade = _trade_code(buy, pos, episode)
            _states(acts, trade, mode, trade_state, m, S0, s_new)
            changed = False
            for i in range(n):
                if learner == 1:
                    ch, s0, s1, s2, s3 = informed_update(
                        Qb, mq, sg, sm, i, s_old[i], s_new[i], acts, reward[i], trade, res, v,
                        grid, pos, episode, mode, trade_state, S0, rule, targets,
                        s0, s1, s2, s3,
                    )  # fmt: skip
                else:
                    x, y = _cell(i, s_new[i], sm)
                    target = reward[i] + rule.delta * mq[x, y]
                    x, y = _cell(i, s_old[i], sm)
                    ch, s0, s1, s2, s3 = update_q_cell(
                        Qb, mq, sg, x, y, acts[i], target, rule.alpha, s0, s1, s2, s3
                    )
                changed |= ch
            for i in range(n):
                last[i] = acts[i]
            code, tt, st, e = end_period(changed, tt, st, e, rule)
            if code != RUNNING:
                status[b] = code
                break
        last_acts[b] = last
        age[b] = ag
        last_trade[b] = trade
        value[b] = v
        save_session(b, k, tt, st, e, s0, s1, s2, s3, played, t, stable, eps, rng)
    return played.sum()


# --------------------------------------------------------------------------- analysis


@njit(cache=True, inline="always")
def _greedy_acts(sg, sm, last, trade, mode, trade_state, m, S0, out):
    best = m
    for i in range(out.size):
        x, y = _cell(i, _state(last, i, trade, mode, trade_state, m, S0), sm)
        a = sg[x, y]
        out[i] = a
        if a < best:
            best = a
    return best


@njit(cache=True, inline="always")
def _decode(j, m, out):
    for i in range(out.size):
        out[i] = j % m
        j //= m


@njit(cache=True)
def _next_joint(sg, sm, j, mode, m, S0, tmp, nxt):
    _decode(j, m, tmp)
    _greedy_acts(sg, sm, tmp, 0, mode, False, m, S0, nxt)
    return _encode(nxt, m)


@njit(cache=True)
def _cycle(sg, sm, x0, mode, m, S0, tmp, nxt):
    """Brent's cycle detection on the deterministic greedy path of joint asks: (first
    state of the limit cycle, its length)."""
    power = 1
    lam = 1
    tortoise = x0
    hare = _next_joint(sg, sm, x0, mode, m, S0, tmp, nxt)
    while tortoise != hare:
        if power == lam:
            tortoise = hare
            power *= 2
            lam = 0
        hare = _next_joint(sg, sm, hare, mode, m, S0, tmp, nxt)
        lam += 1
    tortoise = x0
    hare = x0
    for _ in range(lam):
        hare = _next_joint(sg, sm, hare, mode, m, S0, tmp, nxt)
    while tortoise != hare:
        tortoise = _next_joint(sg, sm, tortoise, mode, m, S0, tmp, nxt)
        hare = _next_joint(sg, sm, hare, mode, m, S0, tmp, nxt)
    return tortoise, lam


@njit(cache=True, inline="always")
def _period_profit(acts, best, tot, out):
    k = 0
    for i in range(acts.size):
        if acts[i] == best:
            k += 1
    for i in range(acts.size):
        out[i] = tot[best] / k if acts[i] == best else 0.0


@njit(cache=True, parallel=True)
def analyse_sessions(
    strategy,
    sm,
    last_acts,
    last_trade,
    value,
    t,
    rng,
    grid,
    tot,
    pi,
    lmax,
    delta,
    mode,
    trade_state,
    episode,
    cycle_len,
    ask_mean,
    profit_mean,
    ask_response,
    imp_base,
    imp_dev,
    dev_gain,
):
    """Greedy play of the learned strategies, the impulse response and the quote
    response to trades, for every session.

    Without ``trade_state`` greedy play is deterministic: the limit cycle is found from
    the final asks (Brent) and ``ask_mean``/``profit_mean`` are exact cycle averages.
    With it, play depends on the clients: ``cycle_len`` is 0 and the averages are over
    ``EVAL_PERIODS`` periods after ``EVAL_BURN``, drawn from the session's own stream
    (``rng``, advanced in place).

    Impulse: from the first cycle state (or the state after burn-in) maker 0 is forced
    for one period (t = 0) to one tick below the lowest rival ask (or to 0), then all
    play greedily; a baseline path without the deviation uses the same client draws.
    ``imp_base``/``imp_dev`` (N, n, IMPULSE_T) are the asks' means over ``IMPULSE_REPS``
    replications (one when play is deterministic); ``dev_gain`` is maker 0's discounted
    expected-profit gain over those periods.

    ``ask_response`` (trade_state only, else NaN): mean over on-path periods and makers
    of the greedy ask after a buy minus after no buy, in the same quote state.
    ``tot`` : ndarray(float64, shape (m,)), expected profit at each best ask.
    With ``episode`` > 1 the clients' value is kept over episodes aligned with the
    sessions' periods (``value``, ``t``), as in learning.
    """
    N, n = last_acts.shape
    S = strategy.shape[1] if sm else strategy.shape[2]
    m = grid.size
    S0 = S // _trade_codes(trade_state, episode)
    T = imp_base.shape[2]
    for b in prange(N):
        sg = strategy[b]
        s0, s1, s2, s3 = rng[b, 0], rng[b, 1], rng[b, 2], rng[b, 3]
        cur = last_acts[b].copy()
        nxt = np.empty(n, dtype=np.int64)
        tmp = np.empty(n, dtype=np.int64)
        prof = np.empty(n)
        acc = np.zeros(n)
        trade = last_trade[b]
        v = value[b]
        ask_sum = 0.0
        resp = 0.0
        if trade_state:
            cycle_len[b] = 0
            burn, periods, reps = EVAL_BURN, EVAL_PERIODS, IMPULSE_REPS
        else:
            first, periods = _cycle(sg, sm, _encode(cur, m), mode, m, S0, tmp, nxt)
            cycle_len[b] = periods
            _decode(first, m, cur)
            burn, reps = 0, 1
        for k in range(burn + periods):
            if trade_state and k >= burn:
                for i in range(n):
                    x, y = _cell(i, _state(cur, i, 1, mode, True, m, S0), sm)
                    hi = sg[x, y]
                    x, y = _cell(i, _state(cur, i, 0, mode, True, m, S0), sm)
                    lo = sg[x, y]
                    resp += grid[hi] - grid[lo]
            best = _greedy_acts(sg, sm, cur, trade, mode, trade_state, m, S0, nxt)
            if trade_state:
                p = t[b] + k
                fresh = p % episode == 0
                buy, v, s0, s1, s2, s3 = _client(grid[best], pi, lmax, v, fresh, s0, s1, s2, s3)
                trade = _trade_code(buy, (p + 1) % episode, episode)
            if k >= burn:
                ask_sum += grid[best]
                _period_profit(nxt, best, tot, prof)
                for i in range(n):
                    acc[i] += prof[i]
            cur[:] = nxt
        ask_mean[b] = ask_sum / periods
        for i in range(n):
            profit_mean[b, i] = acc[i] / periods
        ask_response[b] = resp / (periods * n) if trade_state else np.nan
        start = cur.copy()
        start_trade = trade
        start_value = v
        pb = cur.copy()
        pd = cur.copy()
        gain = 0.0
        for i in range(n):
            for k in range(T):
                imp_base[b, i, k] = 0.0
                imp_dev[b, i, k] = 0.0
        for _ in range(reps):
            pb[:] = start
            pd[:] = start
            tb = start_trade
            td = start_trade
            v = start_value
            disc = 1.0
            for k in range(T):
                bb = _greedy_acts(sg, sm, pb, tb, mode, trade_state, m, S0, nxt)
                pb[:] = nxt
                bd = _greedy_acts(sg, sm, pd, td, mode, trade_state, m, S0, nxt)
                if k == 0:
                    rival = m
                    for j in range(1, n):
                        if nxt[j] < rival:
                            rival = nxt[j]
                    if n > 1:
                        nxt[0] = rival - 1 if rival > 0 else 0
                    bd = m
                    for j in range(n):
                        if nxt[j] < bd:
                            bd = nxt[j]
                pd[:] = nxt
                if trade_state:  # common client draws (and values) on both paths
                    p = t[b] + EVAL_BURN + EVAL_PERIODS + k
                    fresh = p % episode == 0
                    c0, c1, c2, c3 = s0, s1, s2, s3
                    buy, vb, s0, s1, s2, s3 = _client(grid[bb], pi, lmax, v, fresh, s0, s1, s2, s3)
                    tb = _trade_code(buy, (p + 1) % episode, episode)
                    buy, v, c0, c1, c2, c3 = _client(grid[bd], pi, lmax, v, fresh, c0, c1, c2, c3)
                    td = _trade_code(buy, (p + 1) % episode, episode)
                _period_profit(pd, bd, tot, prof)
                gain += disc * prof[0]
                _period_profit(pb, bb, tot, prof)
                gain -= disc * prof[0]
                disc *= delta
                for i in range(n):
                    imp_base[b, i, k] += grid[pb[i]]
                    imp_dev[b, i, k] += grid[pd[i]]
        for i in range(n):
            for k in range(T):
                imp_base[b, i, k] /= reps
                imp_dev[b, i, k] /= reps
        dev_gain[b] = gain / reps
        rng[b, 0], rng[b, 1], rng[b, 2], rng[b, 3] = s0, s1, s2, s3


# --------------------------------------------------------------------------- sessions


class MarketMakingSessions:
    """Many independent sessions of Q-learning market makers, as arrays.

    Parameters
    ----------
    n : int, market makers
    tick, pi, private_value_max : float, the market (see the module docstring)
    tie : "split" | "time" | "random"
    learner : "basic" | "informed"
    state_mode : "quotes" | "own" | "none"; trade_state : bool
    episode_periods : int, periods over which the asset's value is kept (1: a new value
        every period); with ``trade_state`` an episode's first period has its own state
    alpha, beta, delta : float, learning rate, exploration decay, discount factor
    seed : int, root seed; session ``start + b`` uses stream ``start + b``
    sessions, start : int
    conv_window, max_periods : int
    """

    def __init__(
        self,
        n=2,
        tick=0.1,
        pi=0.3,
        *,
        private_value_max=1.0,
        tie="split",
        learner="basic",
        state_mode="quotes",
        trade_state=False,
        episode_periods=1,
        alpha=0.15,
        beta=4e-6,
        delta=0.95,
        seed=0,
        sessions=1,
        start=0,
        conv_window=100_000,
        max_periods=10**7,
    ):
        self.n, self.tick, self.pi = int(n), float(tick), float(pi)
        self.lmax = float(private_value_max)
        self.bench = benchmarks(self.n, self.tick, self.pi, self.lmax)
        self.grid = self.bench["grid"]
        m = self.m = self.grid.size
        self.tie, self.learner, self.state_mode = tie, learner, state_mode
        self.trade_state = bool(trade_state)
        self.episode = int(episode_periods)
        if self.episode < 1:
            raise ValueError(f"episode_periods {episode_periods}: must be at least 1")
        self.S = self.states(self.n, m, state_mode, self.trade_state, self.episode)
        self.alpha, self.beta, self.delta = float(alpha), float(beta), float(delta)
        self.conv_window, self.max_periods = int(conv_window), int(max_periods)
        N = int(sessions)
        self.start = int(start)
        # Indexed (session, maker, state, ask). Tables larger than a core's L2 cache are
        # stored state-major: with the quotes in the state every maker reads the same state
        # each period, so their rows then sit together (4 makers: 11.1 -> 15.8 million
        # maker-periods per CPU second); smaller ones stay maker-major, which is ~7%
        # faster when the tables fit in cache. The numbers do not depend on it. The
        # kernels take the stored arrays (``_tables``) and the order; ``Q``, ``max_q`` and
        # ``strategy`` are views indexed (session, maker, state[, ask]) either way.
        self.state_major = self.n * self.S * m * 8 > STATE_MAJOR_BYTES
        rows = (self.S, self.n) if self.state_major else (self.n, self.S)
        self._tables = (
            np.empty((N, *rows, m)),
            np.empty((N, *rows)),
            np.empty((N, *rows), dtype=np.int64),
        )
        views = (a.swapaxes(1, 2) for a in self._tables) if self.state_major else self._tables
        self.Q, self.max_q, self.strategy = views
        self.last_acts = np.empty((N, self.n), dtype=np.int64)
        self.last_trade = np.zeros(N, dtype=np.int64)
        self.value = np.zeros(N)
        self.age = np.zeros((N, self.n), dtype=np.int64)
        self.t = np.zeros(N, dtype=np.int64)
        self.stable = np.zeros(N, dtype=np.int64)
        self.eps = np.ones(N)
        self.status = np.zeros(N, dtype=np.int8)
        self.rng = stream_states(seed, start, N)
        # Calvano's Q_0: discounted expected profit against uniformly random rivals
        table = profit_table(self.grid, self.n, self.pi, self.lmax)
        acts = (np.arange(m**self.n)[:, None] // (m ** np.arange(self.n))[None, :]) % m
        q0 = np.empty((self.n, m))
        for i in range(self.n):
            q0[i] = np.bincount(acts[:, i], weights=table[:, i], minlength=m) / m ** (self.n - 1)
        init_sessions(
            q0 / (1.0 - self.delta),
            self.S,
            *self._tables,
            self.state_major,
            self.last_acts,
            self.last_trade,
            self.rng,
        )
        if self.episode > 1:
            self.last_trade[:] = NEW_EPISODE  # the first period starts an episode

    @staticmethod
    def states(n: int, m: int, state_mode: str, trade_state: bool, episode: int = 1) -> int:
        S0 = {"quotes": m**n, "own": m, "none": 1}[state_mode]
        return S0 * (1 if not trade_state else 3 if episode > 1 else 2)

    @staticmethod
    def bytes_needed(
        n: int, m: int, state_mode: str, trade_state: bool, sessions: int, episode: int = 1
    ) -> int:
        S = MarketMakingSessions.states(n, m, state_mode, trade_state, episode)
        return sessions * n * S * (m * 8 + 16)

    @property
    def running(self) -> int:
        return int((self.status == RUNNING).sum())

    def advance(self, periods: int) -> int:
        """Advance every running session by up to ``periods``; returns periods played."""
        return int(
            advance_sessions(
                *self._tables,
                self.state_major,
                self.last_acts,
                self.last_trade,
                self.age,
                self.value,
                self.t,
                self.stable,
                self.eps,
                self.rng,
                self.status,
                self.grid,
                int(periods),
                Rule(
                    self.alpha,
                    self.delta,
                    float(np.exp(-self.beta)),
                    self.conv_window,
                    self.max_periods,
                ),
                self.pi,
                self.lmax,
                TIES.index(self.tie),
                LEARNERS.index(self.learner),
                STATE_MODES.index(self.state_mode),
                self.trade_state,
                self.episode,
            )
        )

    def analyse(self) -> dict[str, np.ndarray]:
        """Greedy play, impulse response and quote response (:func:`analyse_sessions`);
        continues each session's own stream on a copy, so it can be called again."""
        N, n = self.last_acts.shape
        out = {
            "cycle_len": np.zeros(N, dtype=np.int64),
            "ask_mean": np.zeros(N),
            "profit_mean": np.zeros((N, n)),
            "ask_response": np.zeros(N),
            "impulse_base": np.zeros((N, n, IMPULSE_T)),
            "impulse_dev": np.zeros((N, n, IMPULSE_T)),
            "dev_gain": np.zeros(N),
        }
        analyse_sessions(
            self._tables[2],
            self.state_major,
            self.last_acts,
            self.last_trade,
            self.value,
            self.t,
            self.rng.copy(),
            self.grid,
            self.bench["profit"],
            self.pi,
            self.lmax,
            self.delta,
            STATE_MODES.index(self.state_mode),
            self.trade_state,
            self.episode,
            out["cycle_len"],
            out["ask_mean"],
            out["profit_mean"],
            out["ask_response"],
            out["impulse_base"],
            out["impulse_dev"],
            out["dev_gain"],
        )
        return out


__all__ = [
    "LEARNERS",
    "STATE_MODES",
    "TIES",
    "MarketMakingSessions",
    "ask_grid",
    "benchmarks",
    "expected_profit",
    "profit_table",
    "zero_profit_ask",
]
