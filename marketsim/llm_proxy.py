r"""Behavioural proxies of LLM pricing agents and LLM-style traders (numba kernels).

Pricing proxy (imitating what Fish, Gonczarowski & Shorrer 2024, arXiv 2404.00806,
document for GPT-4 pricing agents in the Calvano et al. 2020 logit market). Each firm
sees the last ``window`` periods of its own price :math:`p`, the rivals' mean price
:math:`r`, its quantity :math:`q` and profit, and keeps a small plan/insight state:

* *insight* (demand): a ridge regression over the window,
  :math:`\log q_t \approx b_0 + b_1 p_t + b_2 r_t`, shrunk toward the previous insight;
* *belief* about the rival's response :math:`\beta \in [0, 1]`: a persona prior mixed with
  the observed co-movement :math:`\hat\beta = \mathrm{cov}(\Delta r_t, \Delta p_t +
  \Delta p_{t-1}) / \mathrm{var}(\Delta p_t)` ("when I moved, they followed");
* *price-war fear* :math:`f \in [0, 1]`: jumps when a rival cuts its price below ours,
  decays geometrically, moves the anchor toward the rivals' price
  (:math:`\rho_f = \rho + f (1 - \rho)`: the firm matches a cut, a punishment) and damps
  its own downward exploration (it avoids starting a price war);
* *best price seen* in the window (highest own profit).

If rivals are believed to move :math:`\beta` for each unit the firm moves, the local
profit :math:`(p - c) e^{b_0 + b_1 p + b_2 (r + \beta \Delta p)}` peaks at the *plan*

.. math::  p^\star = c - 1 / (b_1 + \beta b_2).

With the true logit slopes :math:`b_1 = -(1-q_i)/\mu`, :math:`b_2 = \sum_{j\ne i} q_j/\mu`,
:math:`\beta = 0` gives the one-shot Nash condition :math:`p - c = \mu/(1-q_i)` and
:math:`\beta = 1` the joint-monopoly condition :math:`p - c = \mu/(1-\sum_j q_j)`; so the
belief is the single knob between competition and collusion, learned from the data. The
period's price anchors on recent prices, then adds persona-shaped exploration and
temperature noise:

.. math::  p_t = (1-A)\,[(1-g) p^\star + g\, p^{best}] + A\,[(1-\rho) p_{t-1} + \rho\, r_{t-1}]
           + \sigma_t (z_t + b),

where :math:`A` is the anchoring weight, :math:`\rho_f` the share of the anchor on rivals,
:math:`\sigma_t` the persona's exploration scale times the temperature (decaying toward a
floor), :math:`b` the persona's exploration bias (negative: undercutting) and
:math:`z_t` a normal draw from the firm's *base model*. Firms on one base model share
:math:`z_t` and their biases (markup and belief biases drawn once per base model and
market), so their errors are correlated and do not cancel (model monoculture).

The proxy works in the market's own units; a price scale (Fish et al.'s
:math:`\alpha \in \{1, 3.2, 10\}`) only relabels prices for display and for real LLMs.

Trader proxy (for the order book): LLM-style traders read a shared news / narrative
signal and the recent return, add their base model's bias and error, and emit market
order intents (side, quantity); the monoculture share correlates their intents. Those
kernels live in :mod:`marketsim.llm_traders` and are re-exported here.

All kernels ``prange`` over markets with one xoshiro256+ stream per market
(:mod:`marketsim.rng`), so results are identical whatever the thread count.

Why one file of about 600 lines: the model above is one policy, and its kernel
(:func:`_propose_market`) follows these equations step by step; split across files, the
parameter table, the state it updates and the equations would no longer read together.
The LLM-style traders live apart (:mod:`marketsim.llm_traders`).
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit, prange

from marketsim.llm_traders import NO_ORDER, trader_order, trader_signal  # noqa: F401 (re-exported)
from marketsim.rng import next_double, stream_states

# --- firm kinds ----------------------------------------------------------------------
PROXY = 0  #: the behavioural proxy policy sets the price
FIXED = 1  #: always prices at ``fixed_price[i]`` (e.g. the Nash price)
EXTERNAL = 2  #: the price is written into ``prices[:, t, i]`` by the caller (an LLM, a learner)

# --- columns of the per-firm parameter table ``params[n, N_PARAMS]`` ----------------------
BELIEF_PRIOR = 0  #: persona prior on the rivals' response beta
PRIOR_WEIGHT = 1  #: weight of the prior against the observed co-movement
EXPLORE = 2  #: exploration scale, as a fraction of the last price
EXPLORE_BIAS = 3  #: mean of the exploration draw in units of its scale (<0: undercut)
EXPLORE_TAU = 4  #: periods over which exploration decays to its floor
EXPLORE_FLOOR = 5  #: long-run exploration as a fraction of the initial one
FEAR_GAIN = 6  #: fear added by a rival price cut of 5% or more below our price
FEAR_DECAY = 7  #: per-period retention of fear
BEST_WEIGHT = 8  #: weight g of the best price seen in the plan
RIVAL_ANCHOR = 9  #: share rho of the anchor on the rivals' last price
ANCHORING = 10  #: anchoring weight A on recent prices
TEMPERATURE = 11  #: multiplies the exploration noise
MODEL_CORR = 12  #: correlation of the errors of two firms on one base model
N_PARAMS = 13

PARAM_NAMES = (
    "belief_prior",
    "prior_weight",
    "explore",
    "explore_bias",
    "explore_tau",
    "explore_floor",
    "fear_gain",
    "fear_decay",
    "best_weight",
    "rival_anchor",
    "anchoring",
    "temperature",
    "model_corr",
)

#: a rival "cut" that triggers fear: a drop of at least this relative size below our price
_CUT = 0.01
#: ridge weight: a price spread of 1% of the last price counts as much as the prior insight
_RIDGE_REL = 0.01
#: upper bound on the plan's markup, in units of mu (a safety cap, not a behaviour)
_MAX_MARKUP_MU = 6.0


def base_models(n: int, share: float, markets: int) -> np.ndarray:
    """Base-model id of every firm: the first ``round(share * n)`` firms share model 0.

    The others each run their own model (ids ``1, 2, ...``); a share of 1 is a full
    monoculture, 0 (or ``1/n`` rounded to one firm) fully diverse.

    Returns
    -------
    ndarray(int64, shape (markets, n))
    """
    k = int(round(share * n))
    ids = np.arange(n, dtype=np.int64)
    ids = np.where(ids < k, 0, ids - k + 1) if k > 0 else ids
    return np.broadcast_to(ids, (markets, n)).copy()


def model_biases(
    seed: int, model_id: np.ndarray, markup_sd: float, belief_sd: float, start: int = 0
):
    """Biases of each base model in each market, shared by the firms on that model.

    Parameters
    ----------
    model_id : ndarray(int64, shape (M, n))

    Returns
    -------
    (bias_markup, bias_belief) : two ndarray(float64, shape (M, n))
        ``bias_markup`` multiplies the plan's markup by ``exp(bias)``; ``bias_belief``
        shifts the belief prior.
    """
    M, n = model_id.shape
    gen = np.random.default_rng(np.random.SeedSequence(seed, spawn_key=(1 << 20,)))
    # one pair per possible model id; market b reads row start + b whatever M is
    per_model = gen.standard_normal((start + M, n, 2))[start:]
    rows = np.arange(M)[:, None]
    bias_markup = markup_sd * per_model[rows, model_id, 0]
    bias_belief = belief_sd * per_model[rows, model_id, 1]
    return bias_markup, bias_belief


def market_streams(seed: int, markets: int, start: int = 0) -> np.ndarray:
    """One xoshiro256+ stream per market (``uint64[M, 4]``), spawned from ``seed``:
    market ``b`` gets stream ``start + b``."""
    return stream_states(seed, start, markets)


@njit(cache=True, inline="always")
def _normal_pair(s0, s1, s2, s3):
    u1, s0, s1, s2, s3 = next_double(s0, s1, s2, s3)
    u2, s0, s1, s2, s3 = next_double(s0, s1, s2, s3)
    r = math.sqrt(-2.0 * math.log(1.0 - u1))
    return r * math.cos(2.0 * math.pi * u2), r * math.sin(2.0 * math.pi * u2), s0, s1, s2, s3


@njit(cache=True)
def _draw_models(z, s0, s1, s2, s3):
    """Fill ``z`` (one draw per possible base model) with standard normals."""
    k = 0
    while k < z.size:
        a, b, s0, s1, s2, s3 = _normal_pair(s0, s1, s2, s3)
        z[k] = a
        if k + 1 < z.size:
            z[k + 1] = b
        k += 2
    return s0, s1, s2, s3


@njit(cache=True)
def _settle_market(m, t, prices, shares, profits, rival, fear, kind, params, a, c, a0, mu):
    """Demand, profits and rival means of market ``m`` at ``t``; update the fear state."""
    n = prices.shape[2]
    top = a0 / mu
    for i in range(n):
        u = (a[i] - prices[m, t, i]) / mu
        if u > top:
            top = u
    denom = math.exp(a0 / mu - top)
    total = 0.0
    for i in range(n):
        e = math.exp((a[i] - prices[m, t, i]) / mu - top)
        shares[m, t, i] = e
        denom += e
        total += prices[m, t, i]
    for i in range(n):
        q = shares[m, t, i] / denom
        shares[m, t, i] = q
        profits[m, t, i] = (prices[m, t, i] - c[i]) * q
        rival[m, t, i] = (total - prices[m, t, i]) / (n - 1) if n > 1 else prices[m, t, i]
    if t == 0:
        return
    for i in range(n):
        if kind[i] != PROXY or n == 1:
            continue
        f = fear[m, i] * params[i, FEAR_DECAY]
        # the deepest cut below our price by any rival this period
        cut = 0.0
        for j in range(n):
            if j == i:
                continue
            pj, pj0 = prices[m, t, j], prices[m, t - 1, j]
            below = (prices[m, t, i] - pj) / prices[m, t, i]
            drop = (pj0 - pj) / pj0
            if below > _CUT and drop > _CUT:
                depth = min(below, drop)
                if depth > cut:
                    cut = depth
        if cut > 0.0:
            f += params[i, FEAR_GAIN] * min(1.0, cut / 0.05)
        fear[m, i] = min(1.0, f)


@njit(cache=True)
def _propose_market(
    m,
    t,
    prices,
    shares,
    profits,
    rival,
    kind,
    fixed_price,
    params,
    model_id,
    bias_markup,
    bias_belief,
    c,
    mu,
    window,
    slope_own,
    slope_cross,
    belief,
    fear,
    best_price,
    plan,
    z,
):
    """Every firm's price of market ``m`` at ``t``.

    ``z[:n]`` holds this period's draw of each base model, ``z[n:]`` each firm's own.
    """
    n = prices.shape[2]
    lo = t - window
    if lo < 0:
        lo = 0
    for i in range(n):
        if kind[i] == FIXED:
            prices[m, t, i] = fixed_price[i]
            continue
        if kind[i] == EXTERNAL:
            continue
        p_last = prices[m, t - 1, i]
        r_last = rival[m, t - 1, i]
        # --- one pass over the window: regression sums, co-movement, best price
        cnt = 0.0
        sp = 0.0
        sr = 0.0
        sy = 0.0
        spp = 0.0
        srr = 0.0
        spr = 0.0
        spy = 0.0
        sry = 0.0
        sxy = 0.0
        sxx = 0.0
        best_pi = -1e300
        bp = p_last
        # recent rows weigh more (half-life window/4): an LLM reads the end of its table
        recency = math.exp(-math.log(2.0) * 4.0 / window)
        wt = recency ** (t - lo)
        for s in range(lo, t):
            wt /= recency
            p = prices[m, s, i]
            r = rival[m, s, i]
            y = math.log(max(shares[m, s, i], 1e-300))
            cnt += wt
            sp += wt * p
            sr += wt * r
            sy += wt * y
            spp += wt * p * p
            srr += wt * r * r
            spr += wt * p * r
            spy += wt * p * y
            sry += wt * r * y
            if profits[m, s, i] > best_pi:
                best_pi = profits[m, s, i]
                bp = p
            if s >= lo + 2:
                dp = p - prices[m, s - 1, i]
                dp_prev = prices[m, s - 1, i] - prices[m, s - 2, i]
                dr = r - rival[m, s - 1, i]
                sxy += dr * (dp + dp_prev)
                sxx += dp * dp
        best_price[m, i] = bp
        # --- insight: ridge regression of log q on (p, r), shrunk toward the last insight
        b1 = slope_own[m, i]
        b2 = slope_cross[m, i]
        if t - lo >= 3:
            mp = sp / cnt
            mr = sr / cnt
            my = sy / cnt
            cpp = spp / cnt - mp * mp
            crr = srr / cnt - mr * mr
            cpr = spr / cnt - mp * mr
            cpy = spy / cnt - mp * my
            cry = sry / cnt - mr * my
            lam = (_RIDGE_REL * p_last) ** 2
            if n == 1:
                nb1 = (cpy + lam * b1) / (cpp + lam)
                nb2 = 0.0
            else:
                a11 = cpp + lam
                a22 = crr + lam
                det = a11 * a22 - cpr * cpr
                r1 = cpy + lam * b1
                r2 = cry + lam * b2
                nb1 = (a22 * r1 - cpr * r2) / det
                nb2 = (a11 * r2 - cpr * r1) / det
            if nb1 < 0.0:  # demand slopes down: accept the insight
                b1 = nb1
                b2 = min(max(nb2, 0.0), -nb1)
                slope_own[m, i] = b1
                slope_cross[m, i] = b2
        # --- belief about the rivals' response, and fear
        beta_hat = 0.0
        if sxx > 0.0:
            beta_hat = min(max(sxy / sxx, 0.0), 1.0)
        w = params[i, PRIOR_WEIGHT]
        prior = min(max(params[i, BELIEF_PRIOR] + bias_belief[m, i], 0.0), 1.0)
        # believing that the market follows means believing that every rival does
        prior = prior ** (n - 1) if n > 1 else prior
        beta = w * prior + (1.0 - w) * beta_hat
        f = fear[m, i]
        belief[m, i] = beta
        # --- plan: the price that maximises local profit under the belief
        k = b1 + beta * b2  # beta: the belief without fear
        cap = _MAX_MARKUP_MU * mu
        markup = cap
        if k < -1.0 / cap:
            markup = -1.0 / k
        markup *= math.exp(bias_markup[m, i])
        if markup > cap:
            markup = cap
        g = params[i, BEST_WEIGHT]
        target = c[i] + markup
        target = (1.0 - g) * target + g * bp
        plan[m, i] = target
        # --- anchoring on recent prices
        rho = params[i, RIVAL_ANCHOR] if n > 1 else 0.0
        rho = rho + f * (1.0 - rho)  # a firm that was just undercut matches the rivals
        anchor = (1.0 - rho) * p_last + rho * r_last
        A = params[i, ANCHORING]
        price = (1.0 - A) * target + A * anchor
        # --- exploration and temperature noise from the firm's base model
        decay = math.exp(-t / params[i, EXPLORE_TAU])
        scale = params[i, EXPLORE_FLOOR] + (1.0 - params[i, EXPLORE_FLOOR]) * decay
        sd = params[i, TEMPERATURE] * params[i, EXPLORE] * scale * p_last
        kc = params[i, MODEL_CORR]
        eps = (
            math.sqrt(kc) * z[model_id[m, i]]
            + math.sqrt(1.0 - kc) * z[n + i]
            + params[i, EXPLORE_BIAS]
        )
        if eps < 0.0:
            eps *= 1.0 - f  # a firm that fears a price war does not probe downward
        price += sd * eps
        if price < c[i]:
            price = c[i]
        if price > c[i] + cap:
            price = c[i] + cap
        prices[m, t, i] = price


@njit(cache=True, inline="always")
def _propose_step(m, t, book, firms, demand, window, state, z, s0, s1, s2, s3):
    """Draw market ``m``'s errors of period ``t`` into ``z``, then its proxies' prices.

    The tuples are those of :func:`advance`; returns the advanced stream state.
    """
    s0, s1, s2, s3 = _draw_models(z, s0, s1, s2, s3)
    _propose_market(m, t, *book, *firms, demand[1], demand[3], window, *state, z)
    return s0, s1, s2, s3


@njit(cache=True, inline="always")
def _settle_step(m, t, book, firms, demand, state):
    """:func:`_settle_market` of market ``m`` at ``t`` with the tuples of :func:`advance`."""
    _settle_market(m, t, *book, state[3], firms[0], firms[2], *demand)


@njit(cache=True, parallel=True)
def advance(book, t0, t1, firms, demand, window, state, rng):
    """Advance every market from period ``t0`` to ``t1 - 1`` (prices, demand, state).

    Period 0 is taken as given (``prices[:, 0, :]`` filled by the caller) and only settled.
    Calling ``advance(.., 0, 100, ..)`` then ``advance(.., 100, 300, ..)`` equals one call.
    The arrays travel in tuples (as :class:`ProxyMarkets` builds them), in this order:

    Parameters
    ----------
    book : (prices, shares, profits, rival), ndarray(float64, shape (M, T, n)) each
        Prices, market shares, profits and the mean price of each firm's rivals.
    firms : (kind, fixed_price, params, model_id, bias_markup, bias_belief)
        ``kind`` ndarray(int64, shape (n,)), ``PROXY``, ``FIXED`` or ``EXTERNAL`` per firm;
        ``fixed_price`` ndarray(float64, shape (n,)); ``params`` ndarray(float64, shape
        (n, N_PARAMS)); ``model_id`` ndarray(int64, shape (M, n)), base model of each firm
        (0..n-1); ``bias_markup``, ``bias_belief`` ndarray(float64, shape (M, n)).
    demand : (a, c, a0, mu), ``a``, ``c`` ndarray(float64, shape (n,)); ``a0``, ``mu`` float
    window : int, periods of history the agents see
    state : (slope_own, slope_cross, belief, fear, best_price, plan)
        ndarray(float64, shape (M, n)) each: the plan/insight state, updated in place.
    rng : ndarray(uint64, shape (M, 4)), advanced in place
    """
    M, T, n = book[0].shape
    for m in prange(M):
        s0, s1, s2, s3 = rng[m, 0], rng[m, 1], rng[m, 2], rng[m, 3]
        z = np.empty(2 * n)  # n base-model draws, then n idiosyncratic ones
        for t in range(t0, t1):
            if t > 0:
                s0, s1, s2, s3 = _propose_step(
                    m, t, book, firms, demand, window, state, z, s0, s1, s2, s3
                )
            _settle_step(m, t, book, firms, demand, state)
        rng[m, 0], rng[m, 1], rng[m, 2], rng[m, 3] = s0, s1, s2, s3


@njit(cache=True, parallel=True)
def propose(book, t, firms, demand, window, state, rng):
    """Proxy prices of period ``t >= 1`` in every market, without settling them.

    With :func:`settle` this splits one period of :func:`advance` so a caller can
    overwrite some firms' prices in between (real LLM replies, a learner's action);
    ``propose`` then ``settle`` equals ``advance(.., t, t + 1, ..)`` bit for bit.
    """
    M, T, n = book[0].shape
    for m in prange(M):
        s0, s1, s2, s3 = rng[m, 0], rng[m, 1], rng[m, 2], rng[m, 3]
        z = np.empty(2 * n)
        s0, s1, s2, s3 = _propose_step(m, t, book, firms, demand, window, state, z, s0, s1, s2, s3)
        rng[m, 0], rng[m, 1], rng[m, 2], rng[m, 3] = s0, s1, s2, s3


@njit(cache=True, parallel=True)
def settle(book, t, firms, demand, window, state, rng):
    """Demand, profits, rival means and fear of period ``t`` in every market.

    Takes the arguments of :func:`propose` (``window`` and ``rng`` unused) so that
    :class:`ProxyMarkets` passes one list to both.
    """
    for m in prange(book[0].shape[0]):
        _settle_step(m, t, book, firms, demand, state)


# --------------------------------------------------------------------------------------
# Python surface: allocate, seed, run
# --------------------------------------------------------------------------------------


class ProxyMarkets:
    """Struct-of-arrays state of ``M`` logit markets of ``n`` firms over ``T`` periods.

    Parameters
    ----------
    market : marketsim.logit.LogitMarket
    markets, periods : int
    params : ndarray(float64, shape (n, N_PARAMS)), one persona row per firm
    seed : int, root seed (streams spawned with ``np.random.SeedSequence``)
    window : int, periods of history each agent sees
    monoculture : float in [0, 1], share of firms on one shared base model
    kind : ndarray(int64, shape (n,)), optional, ``PROXY`` by default
    fixed_price : ndarray(float64, shape (n,)), optional, prices of ``FIXED`` firms
    initial_markup : (lo, hi), the first price is ``c + U(lo, hi) * mu``, drawn per base model
    bias_sd : (markup_sd, belief_sd), spread of the base models' biases
    start : int, index of the first market: market ``b`` here is market ``start + b`` of
        ``seed`` (same draws whatever the number of markets), so runs can be split
    """

    def __init__(
        self,
        market,
        markets,
        periods,
        params,
        seed,
        *,
        window=100,
        monoculture=1.0,
        kind=None,
        fixed_price=None,
        initial_markup=(0.5, 4.0),
        bias_sd=(0.05, 0.1),
        start=0,
    ):
        n = market.n
        params = np.ascontiguousarray(params, dtype=np.float64)
        if params.shape != (n, N_PARAMS):
            raise ValueError(f"params must have shape ({n}, {N_PARAMS}), got {params.shape}")
        self.market = market
        self.n, self.M, self.T = n, int(markets), int(periods)
        self.window = int(window)
        self.params = params
        self.kind = (
            np.zeros(n, np.int64) if kind is None else np.ascontiguousarray(kind, dtype=np.int64)
        )
        self.fixed_price = (
            np.zeros(n)
            if fixed_price is None
            else np.ascontiguousarray(fixed_price, dtype=np.float64)
        )
        self.a = np.ascontiguousarray(market.a, dtype=np.float64)
        self.c = np.ascontiguousarray(market.c, dtype=np.float64)
        self.a0, self.mu = float(market.a0), float(market.mu)
        shape = (self.M, self.T, n)
        self.prices = np.zeros(shape)
        self.shares = np.zeros(shape)
        self.profits = np.zeros(shape)
        self.rival = np.zeros(shape)
        self.model_id = base_models(n, monoculture, self.M)
        self.start = int(start)
        self.bias_markup, self.bias_belief = model_biases(
            seed, self.model_id, *bias_sd, start=self.start
        )
        # the first price: a guess of the markup, shared by the firms on one base model
        gen = np.random.default_rng(np.random.SeedSequence(seed, spawn_key=(1 << 21,)))
        guess = gen.uniform(*initial_markup, size=(self.start + self.M, n))[self.start :]
        rows = np.arange(self.M)[:, None]
        p0 = self.c + self.mu * guess[rows, self.model_id]
        p0 = np.where(self.kind == FIXED, self.fixed_price, p0)
        self.prices[:, 0, :] = p0
        # prior insight: "my first price is about right", i.e. b1 = -1 / markup
        self.slope_own = -1.0 / np.maximum(p0 - self.c, 1e-3 * self.mu)
        self.slope_cross = np.zeros((self.M, n))
        self.belief = np.zeros((self.M, n))
        self.fear = np.zeros((self.M, n))
        self.best_price = p0.copy()
        self.plan = p0.copy()
        self.rng = market_streams(seed, self.M, self.start)
        self.t = 0  # periods done

    # the kernels, swapped by subclasses whose kernels take the same arguments plus extras
    _advance = staticmethod(advance)
    _propose = staticmethod(propose)
    _settle = staticmethod(settle)

    def _book(self):
        return (self.prices, self.shares, self.profits, self.rival)

    def _firms(self):
        return (
            self.kind,
            self.fixed_price,
            self.params,
            self.model_id,
            self.bias_markup,
            self.bias_belief,
        )

    def _state(self):
        return (
            self.slope_own,
            self.slope_cross,
            self.belief,
            self.fear,
            self.best_price,
            self.plan,
        )

    def _args(self, *times):
        """The kernels' arguments at period(s) ``times``; subclasses append their own."""
        demand = (self.a, self.c, self.a0, self.mu)
        return (self._book(), *times, self._firms(), demand, self.window, self._state(), self.rng)

    def advance(self, periods: int | None = None) -> None:
        """Run the next ``periods`` periods (all remaining by default) in every market."""
        t1 = self.T if periods is None else min(self.T, self.t + int(periods))
        self._advance(*self._args(self.t, t1))
        self.t = t1

    def propose(self) -> None:
        """Prices of the next period (``self.t``); overwrite some, then :meth:`settle`."""
        if self.t == 0:
            return
        self._propose(*self._args(self.t))

    def settle(self) -> None:
        """Demand and profits of period ``self.t`` at the prices now in place."""
        self._settle(*self._args(self.t))
        self.t += 1

    def copy(self) -> ProxyMarkets:
        """A deep copy (arrays and RNG state): for deviation runs on the same draws."""
        new = object.__new__(type(self))
        for k, v in self.__dict__.items():
            setattr(new, k, v.copy() if isinstance(v, np.ndarray) else v)
        return new

    def extend(self, periods: int) -> None:
        """Make room for ``periods`` more periods (for impulse responses after the run)."""
        pad = ((0, 0), (0, int(periods)), (0, 0))
        for name in ("prices", "shares", "profits", "rival"):
            setattr(self, name, np.pad(getattr(self, name), pad))
        self.T += int(periods)
