r"""Mixed markets: LLM-pricing proxies against online Q-learners (one numba kernel).

In each logit market (Calvano et al. 2020) some firms follow the behavioural LLM proxy
of :mod:`marketsim.llm_proxy` (continuous prices, Fish, Gonczarowski & Shorrer 2024) and
the others are tabular Q-learners of :mod:`marketsim.qlearning` (a grid of :math:`m`
prices, memory :math:`k = 1`). One kernel steps both kinds of firm every period:

1. the proxies propose (``_propose_market``; learners are ``EXTERNAL`` to it);
2. every learner plays :math:`\varepsilon`-greedy in state :math:`s_t` (explore with
   probability :math:`\varepsilon_t`, then a uniform grid price, else the greedy action);
3. demand and profits settle (``_settle_market``);
4. every learner updates the visited cell exactly as :func:`marketsim.qlearning.advance_sessions`,

.. math::  Q_i(s_t, a_i) \leftarrow (1-\alpha) Q_i(s_t, a_i)
           + \alpha\,[\pi_{i,t} + \delta \max_a Q_i(s_{t+1}, a)],

   with the same cached greedy action and random tie-breaking, and
   :math:`\varepsilon_{t+1} = \varepsilon_t e^{-\beta}` (or a constant).

The state :math:`s_{t+1} = \sum_i a_i m^i` is last period's joint action with every price
mapped to its firm's grid (the nearest grid point, first on a tie; a proxy's continuous
price off the grid maps to an end point). A learner's reward :math:`\pi_{i,t}` is its
real logit profit at the actual prices, so against a proxy it is not a grid-table entry.

Protocol (the two time scales). Q-learners need :math:`10^5`-:math:`10^6` periods to learn,
the proxies were calibrated on 300. So the learners are first *pre-trained in self-play*
(:class:`marketsim.qlearning.QLearningSessions`, every firm a learner, to convergence or
a cap) and then *keep learning online* against the proxies for the run's periods, with
their own Q-tables and their exploration schedule continued from where self-play
stopped (:math:`\varepsilon = e^{-\beta t}`, about 0.1% at a typical convergence) or at
a given constant. Period 0: the learners play their greedy action in the state where
self-play stopped; the proxies their first guess; nothing is learned from period 0
except the state it leads to.

Randomness: each market owns two xoshiro256+ streams (:mod:`marketsim.rng`), the proxy's
(spawn key ``m``, as in :class:`~marketsim.llm_proxy.ProxyMarkets`, so proxy draws are
used the same way whatever the rivals are) and its learners' (spawn key
``LEARNER_STREAM + m``, used by self-play and continued here). The loop is a ``prange``
over markets, so results do not depend on the thread count.
"""

from __future__ import annotations

import numpy as np
from numba import njit, prange

from marketsim import llm_proxy as K
from marketsim.llm_proxy import _propose_step, _settle_step
from marketsim.qlearning import QLearningSessions, epsilon_greedy, update_q_cell

#: spawn key of market 0's learner stream (proxy streams use 0.., biases 2**20, 2**21)
LEARNER_STREAM = 1 << 22


@njit(cache=True, inline="always")
def _grid_index(grid, i, p):
    """Nearest point of firm ``i``'s grid to price ``p`` (the first one on a tie)."""
    best = 0
    d = abs(p - grid[i, 0])
    for a in range(1, grid.shape[1]):
        e = abs(p - grid[i, a])
        if e < d:
            d = e
            best = a
    return best


@njit(cache=True)
def _learners_act(m, t, prices, learning, r0, r1, r2, r3):
    """Epsilon-greedy grid prices of market ``m``'s learners at ``t`` (draws as in
    ``advance_sessions``: one uniform per learner, a second one when it explores)."""
    learner, grid, _, _, strategy, q_state, eps, _, _, _, _, _ = learning
    n = prices.shape[2]
    mg = grid.shape[1]
    s = q_state[m]
    e = eps[m]
    greedy = strategy[m]
    for i in range(n):
        if not learner[i]:
            continue
        ai, r0, r1, r2, r3 = epsilon_greedy(greedy, i, s, e, mg, r0, r1, r2, r3)
        prices[m, t, i] = grid[i, ai]
    return r0, r1, r2, r3


@njit(cache=True)
def _learners_learn(m, t, prices, profits, learning, r0, r1, r2, r3):
    """Q update of market ``m``'s learners after period ``t`` settled; move the state.

    A learner's action is read back from its price, so a caller that overwrote it
    between propose and settle (a deviation) is learned from correctly.
    """
    learner, grid, Q, max_q, strategy, q_state, eps, _, changes, alpha, delta, eps_decay = learning
    n = prices.shape[2]
    mg = grid.shape[1]
    joint = 0
    mult = 1
    for i in range(n):
        joint += _grid_index(grid, i, prices[m, t, i]) * mult
        mult *= mg
    s_new = joint  # k = 1: the state is last period's joint action
    if t > 0:
        s = q_state[m]
        for i in range(n):
            if not learner[i]:
                continue
            ai = _grid_index(grid, i, prices[m, t, i])
            ch, r0, r1, r2, r3 = update_q_cell(
                Q[m],
                max_q[m],
                strategy[m],
                i,
                s,
                ai,
                profits[m, t, i] + delta * max_q[m, i, s_new],
                alpha,
                r0,
                r1,
                r2,
                r3,
            )
            if ch:
                changes[m] += 1
        eps[m] *= eps_decay
    q_state[m] = s_new
    return r0, r1, r2, r3


@njit(cache=True, inline="always")
def _mixed_market(m, t0, t1, propose, settle, book, firms, demand, window, state, rng, learning):
    """Periods ``t0 .. t1 - 1`` of market ``m``: with ``propose`` the proxies' and the
    learners' prices (from period 1 on), with ``settle`` demand and the learners' update.
    The market's two streams are read once and written back once."""
    prices, _, profits, _ = book
    q_rng = learning[7]
    s0, s1, s2, s3 = rng[m, 0], rng[m, 1], rng[m, 2], rng[m, 3]
    r0, r1, r2, r3 = q_rng[m, 0], q_rng[m, 1], q_rng[m, 2], q_rng[m, 3]
    z = np.empty(2 * prices.shape[2])
    for t in range(t0, t1):
        if propose and t > 0:
            s0, s1, s2, s3 = _propose_step(
                m, t, book, firms, demand, window, state, z, s0, s1, s2, s3
            )
            r0, r1, r2, r3 = _learners_act(m, t, prices, learning, r0, r1, r2, r3)
        if settle:
            _settle_step(m, t, book, firms, demand, state)
            r0, r1, r2, r3 = _learners_learn(m, t, prices, profits, learning, r0, r1, r2, r3)
    rng[m, 0], rng[m, 1], rng[m, 2], rng[m, 3] = s0, s1, s2, s3
    q_rng[m, 0], q_rng[m, 1], q_rng[m, 2], q_rng[m, 3] = r0, r1, r2, r3


@njit(cache=True, parallel=True)
def advance_mixed(book, t0, t1, firms, demand, window, state, rng, learning):
    """Advance every mixed market from period ``t0`` to ``t1 - 1``.

    The proxy arguments are those of :func:`marketsim.llm_proxy.advance` (learners have
    kind ``EXTERNAL``); ``learning`` is the tuple
    ``(learner, grid, Q, max_q, strategy, q_state, eps, q_rng, changes, alpha, delta,
    eps_decay)``:

    Parameters
    ----------
    learner : ndarray(bool, shape (n,)), which firms are Q-learners
    grid : ndarray(float64, shape (n, m)), every firm's grid (the state's coordinates)
    Q : ndarray(float64, shape (M, n, m**n, m)); max_q, strategy : shape (M, n, m**n)
        Q-tables with the cached max and greedy action (rows of non-learners unused).
    q_state : ndarray(int64, shape (M,)), the state the next period starts from
    eps : ndarray(float64, shape (M,)), current exploration rate
    q_rng : ndarray(uint64, shape (M, 4)), the learners' streams
    changes : ndarray(int64, shape (M,)), greedy-strategy changes, incremented
    alpha, delta, eps_decay : float, learning rate, discount, per-period eps factor
    """
    for m in prange(book[0].shape[0]):
        _mixed_market(m, t0, t1, True, True, book, firms, demand, window, state, rng, learning)


@njit(cache=True, parallel=True)
def propose_mixed(book, t, firms, demand, window, state, rng, learning):
    """Prices of period ``t >= 1`` (proxies and learners) in every market, unsettled.

    ``propose_mixed`` then :func:`settle_mixed` equals ``advance_mixed(.., t, t + 1, ..)``
    bit for bit; in between a caller may overwrite prices (a deviation, an LLM reply).
    """
    for m in prange(book[0].shape[0]):
        _mixed_market(m, t, t + 1, True, False, book, firms, demand, window, state, rng, learning)


@njit(cache=True, parallel=True)
def settle_mixed(book, t, firms, demand, window, state, rng, learning):
    """Demand, profits, fear and the learners' Q update of period ``t`` in every market
    (the arguments of :func:`propose_mixed`; ``window`` unused, ``rng`` left as it was)."""
    for m in prange(book[0].shape[0]):
        _mixed_market(m, t, t + 1, False, True, book, firms, demand, window, state, rng, learning)


# --------------------------------------------------------------------------------------
# Python surface
# --------------------------------------------------------------------------------------


def pretrain(
    market,
    markets: int,
    seed: int,
    *,
    m: int = 15,
    xi: float = 0.1,
    alpha: float = 0.15,
    beta: float = 4e-6,
    delta: float = 0.95,
    conv_window: int = 100_000,
    max_periods: int = 10**7,
    chunk: int = 250_000,
    on_chunk=None,
    start: int = 0,
) -> QLearningSessions:
    """Self-play of ``markets`` Q-learning sessions (every firm a learner, k = 1).

    Session ``b`` uses learner stream ``LEARNER_STREAM + start + b`` of ``seed``, so it
    is the same session whatever the number of markets. Runs until every session converged
    (``conv_window`` periods without a greedy change) or hit ``max_periods``;
    ``on_chunk(sessions)`` is called after every ``chunk`` periods (a progress bar).
    """
    grid = market.price_grid(m, xi)
    learners = QLearningSessions(
        market.profit_table(grid),
        grid,
        k=1,
        alpha=alpha,
        beta=beta,
        delta=delta,
        seed=seed,
        sessions=markets,
        start=LEARNER_STREAM + start,
        conv_window=conv_window,
        max_periods=max_periods,
    )
    while learners.running:
        learners.advance(chunk)
        if on_chunk is not None:
            on_chunk(learners)
    return learners


class MixedMarkets(K.ProxyMarkets):
    """:class:`~marketsim.llm_proxy.ProxyMarkets` in which some firms are Q-learners.

    Parameters
    ----------
    market, markets, *proxy_args, **proxy_options
        As for :class:`~marketsim.llm_proxy.ProxyMarkets` (``proxy_args``: ``periods,
        params, seed``, passed on unchanged; ``kind`` of the learners is set to
        ``EXTERNAL`` here).
    learners : QLearningSessions
        Pre-trained sessions (one per market, same ``n``); their Q-tables, greedy
        strategies, state, exploration rate and streams are taken over (not copied).
    learner : array of bool, shape (n,)
        Which firms are Q-learners (at least one; at least one firm stays non-learner).
    epsilon : float or None
        Constant exploration rate; ``None`` continues the self-play schedule
        :math:`e^{-\\beta t}` from each session's own ``t``.
    """

    def __init__(
        self,
        market,
        markets,
        *proxy_args,
        learners: QLearningSessions,
        learner,
        epsilon: float | None = None,
        kind=None,
        **proxy_options,
    ):
        n = market.n
        learner = np.ascontiguousarray(learner, dtype=np.bool_)
        if learner.shape != (n,) or not learner.any():
            raise ValueError(f"learner must be a boolean mask of {n} firms with one True")
        if learners.n != n or learners.k != 1 or learners.state.size != int(markets):
            raise ValueError("learners must be k = 1 sessions of the same n, one per market")
        kind = np.zeros(n, np.int64) if kind is None else np.array(kind, dtype=np.int64)
        kind[learner] = K.EXTERNAL
        super().__init__(market, markets, *proxy_args, kind=kind, **proxy_options)
        self.learner = learner
        self.grid = learners.grid
        self.Q, self.max_q, self.strategy = learners.Q, learners.max_q, learners.strategy
        self.q_rng = learners.rng
        if epsilon is None:
            self.eps = learners.eps
            self.eps_decay = float(np.exp(-learners.beta))
        else:
            self.eps = np.full(self.M, float(epsilon))
            self.eps_decay = 1.0
        self.alpha, self.delta = learners.alpha, learners.delta
        self.changes = np.zeros(self.M, dtype=np.int64)
        self.pretrain_periods = learners.t.copy()
        self.pretrain_converged = learners.status == 1
        # period 0: each learner's greedy action where self-play stopped
        rows = np.arange(self.M)
        for i in np.flatnonzero(learner):
            act = learners.strategy[rows, i, learners.state]
            self.prices[:, 0, i] = self.grid[i, act]
        self.q_state = learners.state.copy()

    _advance = staticmethod(advance_mixed)
    _propose = staticmethod(propose_mixed)
    _settle = staticmethod(settle_mixed)

    def _args(self, *times):
        learning = (
            self.learner,
            self.grid,
            self.Q,
            self.max_q,
            self.strategy,
            self.q_state,
            self.eps,
            self.q_rng,
            self.changes,
            self.alpha,
            self.delta,
            self.eps_decay,
        )
        return (*super()._args(*times), learning)
