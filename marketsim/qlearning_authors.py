r"""Q-learning with the authors' random numbers (Calvano, Calzolari, Denicolò & Pastorello 2020).

The same algorithm as :mod:`marketsim.qlearning`, driven by the generator, seeding and
order of draws of the authors' Fortran code, so that session :math:`s` of a run is
session :math:`s` of theirs:

* the generator is L'Ecuyer's combined multiplicative congruential generator
  (moduli :math:`2^{31}-85` and :math:`2^{31}-249`) with a 32-entry Bays-Durham shuffle,
  in the form of Numerical Recipes' ``ran2`` (Press et al. 1992, ch. 7.1), seeded with a
  negative integer; every product is formed with Schrage's method, so all integer steps
  fit in ``int64``;
* one stream seeded with :math:`-1` draws every session's initial prices (session
  outermost, then memory lag, then firm), so session :math:`s` of a two-firm, one-period
  memory game uses draws :math:`2s-1` and :math:`2s`; the exploration stream of session
  :math:`s` is seeded with :math:`-s`, and so is its tie-breaking stream;
* every period draws :math:`2n` uniforms, even when nobody explores: :math:`u_1` of each
  firm, then :math:`u_2` of each firm; firm :math:`i` explores when
  :math:`u_{1,i} \le \varepsilon` and then plays grid price :math:`\lfloor m u_{2,i} \rfloor`
  (0-based); :math:`\varepsilon` starts at 1 and is multiplied by :math:`e^{-\beta}` after
  the comparison;
* greedy ties (values within ``2.22e-16`` of the row maximum) are broken by one draw of
  the tie stream, uniformly among the tied prices in grid order;
* the price grid is built from the Nash and monopoly prices rounded to five decimals
  (the authors typed 1.47293 and 1.92498), by adding the step cumulatively;
  :math:`Q_0(a_i)` sums the profits against every rival price in grid order and divides
  by :math:`m^{n-1}(1-\delta)`;
* the stability counter is set to 1 when a greedy action changes and the session has
  converged when it reaches ``conv_window`` (100,000): one period sooner than the
  default kernel's count of stable periods; the session stops in the state it started
  the last period from.

Checked against the authors' per-session output (``data/calvano2020_baseline_sessions.csv``,
their ``InfoExperiment_1.txt``): see ``tests/test_calvano_authors.py``.
"""

from __future__ import annotations

import numpy as np
from numba import njit, prange

from marketsim.qlearning import CAPPED, CONVERGED, RUNNING, QLearningSessions, store_q_cell

# ran2 constants (L'Ecuyer 1988; Press et al. 1992)
_IM1, _IM2 = 2147483563, 2147483399
_IA1, _IA2 = 40014, 40692
_IQ1, _IQ2 = 53668, 52774
_IR1, _IR2 = 12211, 3791
_IMM1 = _IM1 - 1
_NTAB = 32
_NDIV = 1 + _IMM1 // _NTAB
_AM = 1.0 / _IM1
_RNMX = 1.0 - 1.2e-7
#: words of one stream: the two generators' states, the last output, the shuffle table
RAN2_WORDS = 3 + _NTAB
#: the authors' tolerance for a tie between two Q-values (Fortran EPSILON of a REAL(8))
TIE_TOL = 2.220446049250313e-16
#: decimals of the Nash and monopoly prices the authors typed into their input file
PRICE_DECIMALS = 5


@njit(cache=True, inline="always")
def _schrage(x, a, q, r, modulus):
    """``a * x mod modulus`` without overflow (Schrage's method), for 0 < x < modulus."""
    k = x // q
    x = a * (x - k * q) - k * r
    if x < 0:
        x += modulus
    return x


@njit(cache=True)
def ran2_seed(st, seed):
    """Initialise stream ``st`` (int64[RAN2_WORDS]) with a negative integer ``seed``.

    Eight warm-up steps, then the shuffle table filled from its last entry down; the
    second generator starts from the seed itself.
    """
    x = max(-seed, 1)
    st[1] = x
    for j in range(_NTAB + 7, -1, -1):
        x = _schrage(x, _IA1, _IQ1, _IR1, _IM1)
        if j < _NTAB:
            st[3 + j] = x
    st[0] = x
    st[2] = st[3]


@njit(cache=True, inline="always")
def ran2_next(st):
    """One uniform draw on (0, 1) of stream ``st``, which is advanced in place."""
    x = _schrage(st[0], _IA1, _IQ1, _IR1, _IM1)
    st[0] = x
    y2 = _schrage(st[1], _IA2, _IQ2, _IR2, _IM2)
    st[1] = y2
    j = st[2] // _NDIV
    y = st[3 + j] - y2
    st[3 + j] = x
    if y < 1:
        y += _IMM1
    st[2] = y
    return min(_AM * y, _RNMX)


def ran2_draws(seed: int, count: int) -> np.ndarray:
    """The first ``count`` draws of the stream seeded with ``seed`` (negative).

    Returns
    -------
    ndarray(float64, shape (count,))
    """
    st = np.zeros(RAN2_WORDS, dtype=np.int64)
    ran2_seed(st, int(seed))
    return _draws(st, int(count))


@njit(cache=True)
def _draws(st, count):
    out = np.empty(count)
    for k in range(count):
        out[k] = ran2_next(st)
    return out


def reference_prices(market) -> tuple[np.ndarray, np.ndarray]:
    """Nash and monopoly prices rounded as the authors input them (five decimals)."""
    return (
        np.round(market.nash_prices(), PRICE_DECIMALS),
        np.round(market.monopoly_prices(), PRICE_DECIMALS),
    )


def _logit_profits(prices, a, c, a0, mu):
    """Profits at one price vector, in the authors' order of operations."""
    e = np.array([np.exp((a[i] - prices[i]) / mu) for i in range(prices.size)])
    total = 0.0
    for v in e:
        total += v
    denom = total + np.exp(a0 / mu)
    return np.array([(prices[i] - c[i]) * (e[i] / denom) for i in range(prices.size)])


def authors_game(market, m: int, xi: float) -> dict[str, np.ndarray]:
    """Grid, profit table and benchmark profits built as the authors' code builds them.

    Parameters
    ----------
    market : marketsim.logit.LogitMarket
    m : int, prices on each grid; xi : float, the grid's extension

    Returns
    -------
    dict with ``grid`` (float64, (n, m)), ``profit`` (float64, (m**n, n), joint index
    ``sum_i a_i m**i``), ``nash_profit`` and ``monopoly_profit`` (float64, (n,), at the
    rounded prices).
    """
    a = np.asarray(market.a, dtype=float)
    c = np.asarray(market.c, dtype=float)
    a0, mu = float(market.a0), float(market.mu)
    pn, pm = reference_prices(market)
    n = pn.size
    grid = np.empty((n, m))
    grid[:, 0] = pn - xi * (pm - pn)
    grid[:, m - 1] = pm + xi * (pm - pn)
    step = (grid[:, m - 1] - grid[:, 0]) / (m - 1)
    for j in range(1, m - 1):
        grid[:, j] = grid[:, j - 1] + step
    profit = np.empty((m**n, n))
    for joint in range(m**n):
        acts = [(joint // m**i) % m for i in range(n)]
        prices = np.array([grid[i, acts[i]] for i in range(n)])
        profit[joint] = _logit_profits(prices, a, c, a0, mu)
    return {
        "grid": grid,
        "profit": profit,
        "nash_profit": _logit_profits(pn, a, c, a0, mu),
        "monopoly_profit": _logit_profits(pm, a, c, a0, mu),
    }


def authors_initial_q(profit: np.ndarray, n: int, m: int, delta: float) -> np.ndarray:
    """:math:`Q_0` summed in the authors' order: joint actions with firm 1 the most
    significant digit, so the rivals' prices ascend, firm 1's the slowest.

    Returns
    -------
    ndarray(float64, shape (n, m))
    """
    total = np.zeros((n, m))
    for A in range(m**n):
        digits = [(A // m ** (n - 1 - i)) % m for i in range(n)]  # firm i's price
        joint = sum(d * m**i for i, d in enumerate(digits))
        for i in range(n):
            total[i, digits[i]] += profit[joint, i]
    return total / (float(m ** (n - 1)) * (1.0 - delta))


@njit(cache=True)
def initial_price_draws(first, count, per_session):
    """Uniforms of the initial prices of sessions ``first .. first+count-1`` (1-based):
    the stream seeded with -1 is run through the earlier sessions' draws.

    Returns
    -------
    ndarray(float64, shape (count, per_session)), per session: lag outermost, then firm
    """
    st = np.zeros(RAN2_WORDS, dtype=np.int64)
    ran2_seed(st, -1)
    for _ in range((first - 1) * per_session):
        ran2_next(st)
    out = np.empty((count, per_session))
    for b in range(count):
        for k in range(per_session):
            out[b, k] = ran2_next(st)
    return out


@njit(cache=True, inline="always")
def _argmax_ties(Qb, i, s, m, rt):
    """The authors' tie-breaking argmax of ``Qb[i, s]``: the maximum, and a price drawn
    uniformly (one draw of tie stream ``rt``) among those within TIE_TOL of it."""
    best = Qb[i, s, 0]
    for a in range(1, m):
        if Qb[i, s, a] > best:
            best = Qb[i, s, a]
    ties = 0
    for a in range(m):
        if abs(Qb[i, s, a] - best) <= TIE_TOL:
            ties += 1
    pick = 0
    if ties > 1:
        pick = int(ties * ran2_next(rt))
    for a in range(m):
        if abs(Qb[i, s, a] - best) <= TIE_TOL:
            if pick == 0:
                return a, best
            pick -= 1
    return 0, best  # unreachable: the maximum ties with itself


@njit(cache=True, parallel=True)
def init_sessions_authors(q0, first, Q, max_q, strategy, state, rng_explore, rng_ties, u_ini):
    """Seed the streams of sessions ``first ..`` (1-based), fill Q with ``q0``, break
    greedy ties (firm outermost, states in the authors' order) and set the initial state.

    Parameters
    ----------
    q0 : ndarray(float64, shape (n, m))
    Q : ndarray(float64, shape (N, n, S, m)); max_q, strategy : shape (N, n, S)
    state : ndarray(int64, shape (N,))
    rng_explore, rng_ties : ndarray(int64, shape (N, RAN2_WORDS))
    u_ini : ndarray(float64, shape (N, k * n)), from :func:`initial_price_draws`
    """
    N, n, S, m = Q.shape
    L = u_ini.shape[1]  # digits of a state: k lags of n prices
    for b in prange(N):
        ran2_seed(rng_explore[b], -(first + b))
        rt = rng_ties[b]
        ran2_seed(rt, -(first + b))
        Qb = Q[b]
        for i in range(n):
            for s in range(S):
                for a in range(m):
                    Qb[i, s, a] = q0[i, a]
        for i in range(n):
            for A in range(S):
                # the authors' state A lists the newest prices first, firm 1 first and most
                # significant; here the newest firm-0 price is the least significant digit
                s = 0
                rest = A
                for j in range(L - 1, -1, -1):
                    s += (rest % m) * m**j
                    rest //= m
                g, best = _argmax_ties(Qb, i, s, m, rt)
                strategy[b, i, s] = g
                max_q[b, i, s] = best
        s0 = 0
        for j in range(L):
            s0 += int(m * u_ini[b, j]) * m**j
        state[b] = s0


@njit(cache=True, parallel=True)
def advance_sessions_authors(
    Q,
    max_q,
    strategy,
    state,
    t,
    stable,
    eps,
    rng_explore,
    rng_ties,
    status,
    profit,
    n_periods,
    rule,
):
    """Advance every running session by up to ``n_periods`` periods, the authors' way.

    Arguments as in :func:`marketsim.qlearning.advance_sessions`, except the streams:
    ``rng_explore``, ``rng_ties`` : ndarray(int64, shape (N, RAN2_WORDS)). ``stable`` is
    the authors' counter (1 in a period that changed a greedy action); a session is
    capped once it has played more than ``max_periods`` periods.

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
        rx = rng_explore[b]
        rt = rng_ties[b]
        s = state[b]
        tt = t[b]
        st = stable[b]
        e = eps[b]
        u = np.empty(2 * n)
        acts = np.empty(n, dtype=np.int64)
        Qb = Q[b]
        mq = max_q[b]
        sg = strategy[b]
        k = 0
        while k < n_periods:
            k += 1
            for j in range(2 * n):
                u[j] = ran2_next(rx)
            joint = 0
            mult = 1
            for i in range(n):
                if u[i] <= e:
                    ai = int(m * u[n + i])
                else:
                    ai = sg[i, s]
                acts[i] = ai
                joint += ai * mult
                mult *= m
            e *= rule.eps_decay
            # one period of memory: the new state is the joint action (no integer division)
            s_new = joint if S == mn else (s * mn + joint) % S
            changed = False
            for i in range(n):
                a = acts[i]
                target = profit[joint, i] + rule.delta * mq[i, s_new]
                ch, rescan = store_q_cell(Qb, mq, sg, i, s, a, target, rule.alpha)
                if rescan:  # ties within the authors' tolerance, drawn from the tie stream
                    g, best = _argmax_ties(Qb, i, s, m, rt)
                    mq[i, s] = best
                    if g != a:
                        sg[i, s] = g
                        ch = True
                changed |= ch
            tt += 1
            st = 1 if changed else st + 1
            if st == rule.conv_window:
                status[b] = CONVERGED
                break
            if tt > rule.max_periods:
                status[b] = CAPPED
                break
            s = s_new
        played[b] = k
        state[b] = s
        t[b] = tt
        stable[b] = st
        eps[b] = e
    return played.sum()


@njit(cache=True)
def _greedy_successors(strategy, state, mn, S):
    """The state one greedy period after each session's final state."""
    N, n, _ = strategy.shape
    m = 1
    while m**n < mn:
        m += 1
    out = np.empty(N, dtype=np.int64)
    for b in range(N):
        s = state[b]
        joint = 0
        mult = 1
        for i in range(n):
            joint += strategy[b, i, s] * mult
            mult *= m
        out[b] = (s * mn + joint) % S
    return out


class AuthorsQLearningSessions(QLearningSessions):
    """Sessions ``first .. first+sessions-1`` (the authors' 1-based numbers) of the
    authors' experiment: their generator, seeds and order of draws.

    Parameters as :class:`marketsim.qlearning.QLearningSessions` (its learning keywords),
    but ``seed`` and ``start`` are replaced by ``first``; ``profit`` and ``grid`` should come from
    :func:`authors_game` for the authors' numbers.
    """

    def __init__(self, profit, grid, *, first=1, **learning):
        if learning.get("k", 1) < 1 or np.shape(grid)[0] < 2:
            raise ValueError("the authors' scheme needs k >= 1 and at least two firms")
        if first < 1:
            raise ValueError(f"first session is numbered from 1 (got {first})")
        self._allocate(profit, grid, **learning)
        self.first = int(first)
        N, n = self.state.size, self.n
        self.rng = np.zeros((N, RAN2_WORDS), dtype=np.int64)
        self.rng_ties = np.zeros((N, RAN2_WORDS), dtype=np.int64)
        init_sessions_authors(
            authors_initial_q(self.profit, n, self.m, self.delta),
            self.first,
            self.Q,
            self.max_q,
            self.strategy,
            self.state,
            self.rng,
            self.rng_ties,
            initial_price_draws(self.first, N, n * self.k),
        )

    def advance(self, periods: int) -> int:
        """Advance every running session by up to ``periods``; returns periods played."""
        return int(
            advance_sessions_authors(
                *self._arrays(), self.rng, self.rng_ties, *self._rules(periods)
            )
        )

    def analysis_state(self) -> np.ndarray:
        """The authors list a limit cycle from the state one greedy period after the final
        state, so the cycle is printed in their order."""
        mn = self.profit.shape[0]
        return _greedy_successors(self.strategy, self.state, mn, self.S)
