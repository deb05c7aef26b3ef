"""Order-book traders: type codes, parameter layout, the event kernel and thin Mesa views.

Model
-----
``n`` traders of six kinds share one limit order book (:mod:`marketsim.orderbook`).
Each trader wakes on its own exponential clock of rate ``rate_i``; because the clocks
are memoryless, the next wake-up of a group is ``Exp(sum_i rate_i)`` and the waking
trader is drawn with probability ``rate_i / sum rate`` (superposition). Two groups run
side by side: *background* traders (noise, fundamental, momentum), whose clock is
scaled by a market activity level ``exp(x_t)`` with ``x`` an Ornstein-Uhlenbeck process
excited by the size of recent returns (news and attention: the source of volatility
clustering), and *intermediaries* (market makers, high-frequency traders, the sell
programme) on constant clocks. A trader who wakes sends order actions that the matching
kernel processes at once, inside the same numba loop.

Reference price. Liquidity is anchored to a latent price ``R_t = F_t exp(I_t)``:

- ``F`` (news): ``log F_{t+1} = log F_t + sigma exp(x_t / 2) z_t`` each second, ``z`` a
  unit-variance Student-t(``info_df``) draw; heavy tails come from ``z`` and from the
  activity level, clustering from ``x``;
- ``I`` (order-flow impact, Kyle 1985): every market order that fills ``q`` contracts
  moves ``I`` by ``+-lambda q (1 + k m)``, ``m`` the share of market makers not quoting
  the side that was hit (withdrawn liquidity makes flow costlier); ``I`` decays by
  ``exp(-1 / tau)`` each second (transient impact, Bouchaud et al. 2004), which anchors
  the price to the news without value traders in calm times.

Every second, after the news, all market makers requote around ``R`` (skewed against
inventory) and first take out (pick off) any stale order inside their new spread, so
the recorded mid sits on ``R`` and is a near-martingale: the bid-ask bounce of a
zero-intelligence book (lag-1 acf about -0.1) and the lag of stale quotes are gone.

- noise (zero intelligence, Farmer, Patelli & Zovko 2005): cancels its resting order,
  then sends a market order (probability ``p_market``) or a limit order placed behind
  the makers' quotes, ``gap + delta`` ticks from ``R`` (``delta`` exponential), so depth
  refills around the reference price; sizes are Pareto distributed.
- fundamental: values the asset at ``v_i = F_t exp(e_i)`` and buys (sells) with a
  market order when ``log(v_i / mid)`` exceeds (falls below minus) a threshold, more
  the larger the gap.
- momentum (chartist): compares the mid with an exponential average over its horizon
  and trades in the direction of the trend when the gap exceeds a threshold.
- market maker: quotes both sides around ``R``, half-spread widening with realised
  volatility and skewed against its inventory; stops quoting a side at its inventory
  limit and withdraws entirely when volatility exceeds its tolerance or the order-flow
  impact ``|I|`` exceeds ``mm_withdraw_impact`` (toxic one-sided flow).
- high-frequency intermediary: joins the best bid and ask with small size and, as soon
  as its inventory exceeds a small limit, lays the position off with a market order
  (the "hot potato" of Kirilenko et al. 2017).
- LLM-style trader (optional, ``llm``): the proxy policy of
  :mod:`marketsim.llm_proxy` (:func:`~marketsim.llm_proxy.trader_signal`,
  :func:`~marketsim.llm_proxy.trader_order`) at each wake-up. It reads the shared
  news / narrative signal ``n_t`` (an AR(1) of the fundamental's own standardised
  news shocks, unit variance, ``n_t = a n_{t-1} + sqrt(1 - a^2) z_t`` each second) and
  the recent return ``(mid - EMA_30s) / (sigma_1s sqrt(30))``, adds its base model's
  bias ``b_j`` (drawn once per session) and error ``e_j`` (an AR(1) per base model,
  updated each second from its own stream, unit variance), and sends a market order of
  ``min(qty_max, ceil(|s| / threshold) qty_unit)`` contracts when ``|s| > threshold``.
  Traders on one base model share ``b_j`` and ``e_j``, so their errors are correlated
  and do not cancel (model monoculture); the first ``round(share n_llm)`` traders run
  model 0, the others each their own model.
- sell programme: from ``start_s`` on, sells ``total_qty`` contracts with market orders
  at ``participation`` of the volume traded in the previous minute (accrued second by
  second), regardless of price or time (CFTC-SEC 2010: 75,000 E-mini contracts at 9%).

Frequent batch auctions (policy ``fba``, seen in the ``rules`` array): orders rest
until the next batch, so between batches the book may be crossed and has no mid; the
traders then read the last clearing price (:func:`price_x2`). A market order's impact is
booked when it is sent (its fills come with the batch). Market makers do not send
pick-offs sized by the whole crossed book (they would count each other's waiting
orders and grow every second) but bid in the batch for ``1 / n_mm`` of the other
traders' stale orders (:func:`_pick_off_batch`) and quote their plain size; the
high-frequency traders do not join a crossed book. Before the open nothing trades, so
no one sends orders meant to trade at once then. Without ``fba`` nothing changes.

Cash is counted in ``price_tick * qty`` units (``int64``), so every trade moves exactly
as much cash and as many contracts from one trader to another: their sums never change.
"""

from __future__ import annotations

import mesa
import numpy as np
from numba import njit

from marketsim.llm_proxy import NO_ORDER, trader_order, trader_signal
from marketsim.market_rules import F_FBA, X_FLAGS, X_LAST_TICK, X_N_BATCHES, X_OPEN_NS
from marketsim.orderbook import (
    DONE,
    L_HEAD,
    L_QTY,
    N_RULES,
    N_STATE,
    O_NEXT,
    O_OWNER,
    O_QTY,
    S_BEST_ASK,
    S_BEST_BID,
    S_FREE_HEAD,
    S_N_ASK,
    S_N_BID,
    S_TICK_LO,
    apply_action,
)
from marketsim.records import BUY, CANCEL, IOC, LIMIT, MARKET, NS_PER_SECOND, OK, SELL
from marketsim.rng import next_double

# --- trader kinds ------------------------------------------------------------------
NOISE, FUNDAMENTAL, MOMENTUM, MARKET_MAKER, HFT, SELL_PROGRAMME, LLM = range(7)
KIND_NAMES = ("noise", "fundamental", "momentum", "market_maker", "hft", "sell_programme", "llm")
INTERMEDIARIES = (MARKET_MAKER, HFT)

# --- per-trader parameters: params[i, P_*] (float64) --------------------------------
P_RATE, P_SIZE, P_A, P_B, P_C, P_LIMIT, P_D = range(7)
N_PARAMS = 7
# noise:        A = p_market, B = placement scale (ticks), C = Pareto exponent of sizes
# fundamental:  A = valuation offset e_i (log), B = threshold (log), C = max size multiple
# momentum:     A = horizon index into the EMAs, B = threshold (log), C = max size multiple
# market maker: A = base half-spread (ticks), B = half-spread per tick of volatility,
#               C = volatility (ticks per second) at which it withdraws,
#               D = |order-flow impact| (log) at which it withdraws
# hft:          A = volatility at which it stops quoting (ticks per second)
# sell prog.:   A = participation, B = total qty, C = start (seconds into the session)
# llm:          SIZE = contracts per threshold of signal, A = news weight, B = trend
#               weight, C = threshold, LIMIT = largest order, D = base model id

# --- per-trader state: acct[i, A_*] (int64) -----------------------------------------
A_INV, A_CASH, A_BOUGHT, A_SOLD, A_BID_OID, A_ASK_OID, A_N_ACTIONS, A_QUOTING = range(8)
N_ACCT = 8  # A_QUOTING: market makers, bit 1 = bidding, bit 2 = offering

# --- market state (float64) g[G_*] --------------------------------------------------
(
    G_F,
    G_F0,
    G_F_KAPPA,
    G_F_SIGMA,
    G_X,
    G_X_TAU,
    G_X_SIGMA,
    G_X_FEEDBACK,
    G_VAR,
    G_VAR_DECAY,
    G_LAST_MID,
    G_EMA0,
    G_EMA1,
    G_EMA2,
    G_RATE_BG,
    G_RATE_FAST,
    G_RET_SCALE,
    G_FLOW,
    G_FLOW_TAU,
    G_FLOW_SIGMA,
    G_WIDEN,
    G_IMPACT,
    G_LAMBDA,
    G_LIQ_K,
    G_INFO_DF,
    G_N_MM,
    G_NOISE_GAP,
    G_INFO_ACTIVITY,
    G_PROG_OWED,
    G_MM_VOL_COEF,
    G_IMPACT_KEEP,
    G_NEWS,
    G_NEWS_KEEP,
    G_LLM_TEMP,
    G_LLM_ERR_KEEP,
) = range(35)
N_G = 36
EMA_HORIZONS_S = (30.0, 120.0, 600.0)

# --- base models of the LLM traders: llm_model[j, M_*] (float64) ----------------------
M_BIAS, M_ERROR = range(2)
N_MODEL_COLS = 2

# --- market state (int64) gi[I_*] -------------------------------------------------------
(
    I_T_BG,
    I_T_FAST,
    I_NEXT_OID,
    I_NEXT_SECOND,
    I_N_SNAP,
    I_N_FILLS,
    I_VOLUME,
    I_N_ACTIONS,
    I_PROG_VOLUME_START,
    I_PROG_SOLD,
    I_PROG_START_NS,
    I_PROG_END_NS,
    I_SESSION_START_NS,
    I_SESSION_END_NS,
    I_HFT_GROSS,
    I_HFT_NET,
    I_TICK_MIN,
    I_TICK_MAX,
    I_MM_BIDDING,
    I_MM_ASKING,
    I_VOL_MINUTE_START,
    I_VOL_PREV_MINUTE,
) = range(22)
N_GI = 24

# --- one-second snapshot columns: snap[k, C_*] (int64) ----------------------------------
(
    C_T_NS,
    C_BEST_BID,
    C_BEST_ASK,
    C_MID_X2,
    C_VOLUME,
    C_N_ACTIONS,
    C_HFT_GROSS,
    C_HFT_NET,
    C_MM_INV,
) = range(9)
C_BID_QTY = 9  # 5 columns
C_ASK_QTY = 14  # 5 columns
N_SNAP_COLS = 19
DEPTH_LEVELS = 5

NEED_SPACE = 10  # chunk kernel: drain fills / grow arrays, then call again


@njit(cache=True, inline="always")
def _u(rng):
    u, rng[0], rng[1], rng[2], rng[3] = next_double(rng[0], rng[1], rng[2], rng[3])
    return u


@njit(cache=True)
def _normal(rng):
    u1 = _u(rng)
    u2 = _u(rng)
    return np.sqrt(-2.0 * np.log(1.0 - u1)) * np.cos(2.0 * np.pi * u2)


@njit(cache=True)
def _exp_ns(rng, rate_per_s):
    return np.int64(-np.log(1.0 - _u(rng)) / rate_per_s * NS_PER_SECOND) + 1


@njit(cache=True)
def _pick(cum, rng):
    """Index drawn with probability proportional to the increments of ``cum``."""
    x = _u(rng) * cum[cum.shape[0] - 1]
    lo, hi = 0, cum.shape[0] - 1
    while lo < hi:
        mid = (lo + hi) // 2
        if cum[mid] > x:
            hi = mid
        else:
            lo = mid + 1
    return lo


@njit(cache=True)
def _pareto_size(rng, scale, alpha, cap):
    q = np.int64(scale * (1.0 - _u(rng)) ** (-1.0 / alpha))
    return max(1, min(q, cap))


@njit(cache=True)
def mid_x2(bstate, n_ticks, last_mid_x2):
    """Twice the mid in ticks (an integer); the last mid when a side is empty."""
    if bstate[S_N_BID] == 0 or bstate[S_N_ASK] == 0:
        return last_mid_x2
    return 2 * bstate[S_TICK_LO] + bstate[S_BEST_BID] + bstate[S_BEST_ASK]


@njit(cache=True, inline="always")
def batch_mode(rules):
    """True when the book matches by frequent batch auctions (policy ``fba``)."""
    return rules.shape[0] > N_RULES and (rules[X_FLAGS] & F_FBA) != 0


@njit(cache=True)
def price_x2(bstate, n_ticks, last_mid_x2, rules):
    """Twice the price the traders read, in ticks: :func:`mid_x2`, except that in
    batch-auction mode a crossed or locked book (bids at or above offers wait for the
    batch) has no mid, and the last clearing price (``X_LAST_TICK``) is read instead
    (before the first batch has traded, the last price read, ``last_mid_x2``)."""
    m2 = mid_x2(bstate, n_ticks, last_mid_x2)
    if (
        batch_mode(rules)
        and bstate[S_N_BID] > 0
        and bstate[S_N_ASK] > 0
        and bstate[S_BEST_BID] >= bstate[S_BEST_ASK]
    ):
        return 2 * rules[X_LAST_TICK] if rules[X_N_BATCHES] > 0 else last_mid_x2
    return m2


@njit(cache=True)
def _send(
    t_ns,
    kind,
    side,
    price_tick,
    qty,
    order_id,
    owner,
    levels,
    orders,
    oid_slot,
    bstate,
    rules,
    fills,
    gi,
    acct,
    is_hft,
):
    """Send one action through the matching kernel and settle its fills."""
    n0 = gi[I_N_FILLS]
    st, n1 = apply_action(
        t_ns,
        kind,
        side,
        price_tick,
        qty,
        order_id,
        owner,
        levels,
        orders,
        oid_slot,
        bstate,
        rules,
        fills,
        n0,
    )
    gi[I_N_FILLS] = n1
    gi[I_N_ACTIONS] += 1
    acct[owner, A_N_ACTIONS] += 1
    for k in range(n0, n1):
        f = fills[k]
        value = f.price_tick * f.qty
        acct[f.buyer, A_INV] += f.qty
        acct[f.buyer, A_CASH] -= value
        acct[f.buyer, A_BOUGHT] += f.qty
        acct[f.seller, A_INV] -= f.qty
        acct[f.seller, A_CASH] += value
        acct[f.seller, A_SOLD] += f.qty
        gi[I_VOLUME] += f.qty
        if is_hft[f.buyer]:
            gi[I_HFT_GROSS] += f.qty
            gi[I_HFT_NET] += f.qty
        if is_hft[f.seller]:
            gi[I_HFT_GROSS] += f.qty
            gi[I_HFT_NET] -= f.qty
    return st


@njit(cache=True)
def _cancel_own(i, t_ns, levels, orders, oid_slot, bstate, rules, fills, gi, acct, is_hft):
    for col in (A_BID_OID, A_ASK_OID):
        oid = acct[i, col]
        if oid >= 0:
            _send(
                t_ns,
                CANCEL,
                BUY,
                0,
                0,
                oid,
                i,
                levels,
                orders,
                oid_slot,
                bstate,
                rules,
                fills,
                gi,
                acct,
                is_hft,
            )
            acct[i, col] = -1


@njit(cache=True)
def _rest(
    i, t_ns, side, price_tick, qty, levels, orders, oid_slot, bstate, rules, fills, gi, acct, is_hft
):
    """A limit order, clipped into the book's price range; remembers its id."""
    lo = bstate[S_TICK_LO] + 1
    hi = bstate[S_TICK_LO] + levels.shape[2] - 2
    p = min(max(price_tick, lo), hi)
    oid = gi[I_NEXT_OID]
    gi[I_NEXT_OID] += 1
    _send(
        t_ns,
        LIMIT,
        side,
        p,
        qty,
        oid,
        i,
        levels,
        orders,
        oid_slot,
        bstate,
        rules,
        fills,
        gi,
        acct,
        is_hft,
    )
    acct[i, A_BID_OID if side == BUY else A_ASK_OID] = oid


@njit(cache=True)
def _market(
    i, t_ns, side, qty, levels, orders, oid_slot, bstate, rules, fills, g, gi, acct, is_hft
):
    """A market order; what it fills moves the market makers' reference price (Kyle).

    The impact per contract is ``lambda (1 + k m)`` with ``m`` the share of market makers
    not quoting the side that was hit: liquidity that has withdrawn makes flow costlier.
    In batch-auction mode the order only rests until the next batch, and the fills this
    call settles are those of a batch of earlier orders: the impact is that of the
    order's own quantity, booked when it is accepted (the order flow the batch will see).
    """
    oid = gi[I_NEXT_OID]
    gi[I_NEXT_OID] += 1
    v0 = gi[I_VOLUME]
    st = _send(
        t_ns,
        MARKET,
        side,
        0,
        qty,
        oid,
        i,
        levels,
        orders,
        oid_slot,
        bstate,
        rules,
        fills,
        gi,
        acct,
        is_hft,
    )
    filled = gi[I_VOLUME] - v0
    if batch_mode(rules):
        filled = qty if st == OK else 0
    n_mm = g[G_N_MM]
    if filled > 0:
        quoting = gi[I_MM_BIDDING] if side == SELL else gi[I_MM_ASKING]
        missing = 1.0 - quoting / n_mm if n_mm > 0 else 0.0
        move = g[G_LAMBDA] * filled * (1.0 + g[G_LIQ_K] * missing)
        g[G_IMPACT] += move if side == BUY else -move


@njit(cache=True)
def _snapshot(t_ns, levels, bstate, g, gi, acct, kind, snap):
    k = gi[I_N_SNAP]
    if k >= snap.shape[0]:
        return
    n_ticks = levels.shape[2]
    lo = bstate[S_TICK_LO]
    snap[k, C_T_NS] = t_ns
    snap[k, C_BEST_BID] = lo + bstate[S_BEST_BID] if bstate[S_N_BID] > 0 else -1
    snap[k, C_BEST_ASK] = lo + bstate[S_BEST_ASK] if bstate[S_N_ASK] > 0 else -1
    snap[k, C_MID_X2] = np.int64(g[G_LAST_MID])
    snap[k, C_VOLUME] = gi[I_VOLUME]
    snap[k, C_N_ACTIONS] = gi[I_N_ACTIONS]
    snap[k, C_HFT_GROSS] = gi[I_HFT_GROSS]
    snap[k, C_HFT_NET] = gi[I_HFT_NET]
    mm = 0
    for i in range(kind.shape[0]):
        if kind[i] == MARKET_MAKER:
            mm += acct[i, A_INV]
    snap[k, C_MM_INV] = mm
    j, c = bstate[S_BEST_BID], 0
    while bstate[S_N_BID] > 0 and j >= 0 and c < DEPTH_LEVELS:
        if levels[L_QTY, BUY, j] > 0:
            snap[k, C_BID_QTY + c] = levels[L_QTY, BUY, j]
            c += 1
        j -= 1
    j, c = bstate[S_BEST_ASK], 0
    while bstate[S_N_ASK] > 0 and j < n_ticks and c < DEPTH_LEVELS:
        if levels[L_QTY, SELL, j] > 0:
            snap[k, C_ASK_QTY + c] = levels[L_QTY, SELL, j]
            c += 1
        j += 1
    gi[I_N_SNAP] = k + 1


@njit(cache=True)
def _crossing_qty(levels, bstate, side, price_tick):
    """Resting quantity on ``side`` at prices a quote at ``price_tick`` would cross."""
    lo = bstate[S_TICK_LO]
    q = 0
    if side == SELL:
        if bstate[S_N_ASK] == 0:
            return 0
        j = bstate[S_BEST_ASK]
        while j < levels.shape[2] and lo + j <= price_tick:
            q += levels[L_QTY, SELL, j]
            j += 1
    else:
        if bstate[S_N_BID] == 0:
            return 0
        j = bstate[S_BEST_BID]
        while j >= 0 and lo + j >= price_tick:
            q += levels[L_QTY, BUY, j]
            j -= 1
    return q


@njit(cache=True)
def _pick_off(
    i, t_ns, side, price_tick, levels, orders, oid_slot, bstate, rules, fills, gi, acct, is_hft
):
    """An immediate-or-cancel order for everything resting at or better than ``price_tick``."""
    q = _crossing_qty(levels, bstate, SELL if side == BUY else BUY, price_tick)
    _ioc(
        i,
        t_ns,
        side,
        price_tick,
        q,
        levels,
        orders,
        oid_slot,
        bstate,
        rules,
        fills,
        gi,
        acct,
        is_hft,
    )


@njit(cache=True)
def _ioc(
    i, t_ns, side, price_tick, q, levels, orders, oid_slot, bstate, rules, fills, gi, acct, is_hft
):
    """Send an immediate-or-cancel order of ``q`` (nothing when ``q < 1``) with a new id."""
    if q > 0:
        oid = gi[I_NEXT_OID]
        gi[I_NEXT_OID] += 1
        _send(
            t_ns,
            IOC,
            side,
            price_tick,
            q,
            oid,
            i,
            levels,
            orders,
            oid_slot,
            bstate,
            rules,
            fills,
            gi,
            acct,
            is_hft,
        )


@njit(cache=True)
def _stale_qty(levels, orders, bstate, side, price_tick, kind):
    """:func:`_crossing_qty` without the market makers' own orders: what a maker can
    pick off in a batch (the other makers' old quotes are cancelled before it)."""
    lo = bstate[S_TICK_LO]
    n_ticks = levels.shape[2]
    q = 0
    if side == SELL:
        if bstate[S_N_ASK] == 0:
            return 0
        j = bstate[S_BEST_ASK]
        step = 1
    else:
        if bstate[S_N_BID] == 0:
            return 0
        j = bstate[S_BEST_BID]
        step = -1
    while 0 <= j < n_ticks and (lo + j <= price_tick if side == SELL else lo + j >= price_tick):
        if levels[L_QTY, side, j] > 0:
            slot = levels[L_HEAD, side, j]
            while slot != -1:
                if kind[orders[O_OWNER, slot]] != MARKET_MAKER:
                    q += orders[O_QTY, slot]
                slot = orders[O_NEXT, slot]
        j += step
    return q


@njit(cache=True)
def _pick_off_batch(
    i,
    t_ns,
    side,
    price_tick,
    levels,
    orders,
    oid_slot,
    bstate,
    rules,
    fills,
    g,
    gi,
    acct,
    kind,
    is_hft,
):
    """Batch-auction mode: an IOC that waits for the batch, for this maker's share
    (``1 / n_mm``) of the other traders' orders at or better than ``price_tick``. Sized
    like :func:`_pick_off` it would count the other makers' waiting IOCs and
    quotes too, and the makers' orders would grow on each other every second."""
    stale = _stale_qty(levels, orders, bstate, SELL if side == BUY else BUY, price_tick, kind)
    n_mm = max(g[G_N_MM], 1.0)
    q = np.int64(np.ceil(stale / n_mm))
    _ioc(
        i,
        t_ns,
        side,
        price_tick,
        q,
        levels,
        orders,
        oid_slot,
        bstate,
        rules,
        fills,
        gi,
        acct,
        is_hft,
    )


@njit(cache=True, inline="always")
def _reference(g):
    """The market makers' reference price in ticks: fundamental x order-flow impact."""
    return g[G_F] * np.exp(g[G_IMPACT])


@njit(cache=True)
def _student_t(rng, df):
    """A Student-t draw with ``df`` (integer >= 3) degrees of freedom, unit variance."""
    chi2 = 0.0
    for _ in range(df):
        z = _normal(rng)
        chi2 += z * z
    return _normal(rng) / np.sqrt(chi2 / df) / np.sqrt(df / (df - 2.0))


@njit(cache=True)
def _news(g, rng):
    """The fundamental's one-second move: a random walk with Student-t shocks whose
    size grows with the activity level (information arrivals cluster)."""
    shock = g[G_F_SIGMA] * np.exp(0.5 * g[G_INFO_ACTIVITY] * g[G_X])
    z = _student_t(rng, np.int64(g[G_INFO_DF]))
    g[G_F] *= np.exp(g[G_F_KAPPA] * np.log(g[G_F0] / g[G_F]) + shock * z)
    # the narrative the LLM traders read: an AR(1) of the standardised news, unit variance
    a = g[G_NEWS_KEEP]
    g[G_NEWS] = a * g[G_NEWS] + np.sqrt(1.0 - a * a) * z


@njit(cache=True)
def _llm_errors(g, llm_model, llm_rng):
    """Each base model's error moves once a second: an AR(1), unit variance."""
    a = g[G_LLM_ERR_KEEP]
    b = np.sqrt(1.0 - a * a)
    for j in range(llm_model.shape[0]):
        llm_model[j, M_ERROR] = a * llm_model[j, M_ERROR] + b * _normal(llm_rng)


@njit(cache=True)
def _on_second(t_ns, levels, bstate, g, gi, acct, kind, snap, rng, rules):
    """Once per simulated second: record the book, then move the slow market state."""
    m2 = price_x2(bstate, levels.shape[2], np.int64(g[G_LAST_MID]), rules)
    r = 0.5 * (m2 - g[G_LAST_MID])  # one-second mid change in ticks
    g[G_LAST_MID] = m2
    _snapshot(t_ns, levels, bstate, g, gi, acct, kind, snap)
    mid = 0.5 * m2
    g[G_VAR] = g[G_VAR_DECAY] * g[G_VAR] + (1.0 - g[G_VAR_DECAY]) * r * r
    for h in range(3):
        a = 1.0 / EMA_HORIZONS_S[h]
        g[G_EMA0 + h] += a * (mid - g[G_EMA0 + h])
    # volume of the previous minute (the sell programme's participation base)
    if (t_ns - gi[I_SESSION_START_NS]) % (60 * NS_PER_SECOND) == 0:
        gi[I_VOL_PREV_MINUTE] = gi[I_VOLUME] - gi[I_VOL_MINUTE_START]
        gi[I_VOL_MINUTE_START] = gi[I_VOLUME]
    if t_ns >= gi[I_PROG_START_NS]:
        g[G_PROG_OWED] += gi[I_VOL_PREV_MINUTE] / 60.0
    # impact is transient (Bouchaud et al. 2004): it decays towards the fundamental
    g[G_IMPACT] *= g[G_IMPACT_KEEP]
    # activity: OU in log-rate, kicked by large moves relative to the usual move size
    tau = g[G_X_TAU]
    # a move is large relative to recent volatility (0.8 = E|Z| for a normal Z)
    kick = g[G_X_FEEDBACK] * (abs(r) / (np.sqrt(g[G_VAR]) + g[G_RET_SCALE]) - 0.8)
    g[G_X] += -g[G_X] / tau + g[G_X_SIGMA] * np.sqrt(2.0 / tau) * _normal(rng) + kick / tau
    g[G_X] = min(max(g[G_X], -3.0), 3.0)
    # order-flow persistence: noise market orders lean to the side of a slow OU
    # (split metaorders; Lillo, Mike & Farmer 2005), offsetting the book's mean reversion
    tau = g[G_FLOW_TAU]
    g[G_FLOW] += -g[G_FLOW] / tau + g[G_FLOW_SIGMA] * np.sqrt(2.0 / tau) * _normal(rng)


@njit(cache=True)
def _act(
    i,
    t_ns,
    kind,
    params,
    acct,
    levels,
    orders,
    oid_slot,
    bstate,
    rules,
    fills,
    g,
    gi,
    rng,
    is_hft,
    llm_model,
):
    """Trader ``i`` wakes at ``t_ns`` and sends its order actions."""
    k = kind[i]
    n_ticks = levels.shape[2]
    lo = bstate[S_TICK_LO]
    has_bid = bstate[S_N_BID] > 0
    has_ask = bstate[S_N_ASK] > 0
    bb = lo + bstate[S_BEST_BID]
    ba = lo + bstate[S_BEST_ASK]
    m2 = price_x2(bstate, n_ticks, np.int64(g[G_LAST_MID]), rules)
    mid = 0.5 * m2
    size = params[i, P_SIZE]
    batch = batch_mode(rules)
    # in batch-auction mode, before the open nothing trades (the first batch is at the
    # open + interval): orders to trade now would only wait, so none are sent
    pre_open = batch and t_ns < rules[X_OPEN_NS]
    if k == NOISE:
        _cancel_own(i, t_ns, levels, orders, oid_slot, bstate, rules, fills, gi, acct, is_hft)
        alpha = params[i, P_C]
        if _u(rng) < params[i, P_A]:
            side = BUY if _u(rng) * (1.0 + np.exp(-g[G_FLOW])) < 1.0 else SELL
            q = _pareto_size(rng, size, alpha, np.int64(50 * size))
            if pre_open:
                return
            _market(
                i,
                t_ns,
                side,
                q,
                levels,
                orders,
                oid_slot,
                bstate,
                rules,
                fills,
                g,
                gi,
                acct,
                is_hft,
            )
        else:
            side = BUY if _u(rng) < 0.5 else SELL
            q = _pareto_size(rng, size, alpha, np.int64(50 * size))
            # liquidity thins out near the mid when volatility rises
            scale = params[i, P_B] * (1.0 + g[G_WIDEN] * np.sqrt(g[G_VAR]))
            delta = np.int64(-scale * np.log(1.0 - _u(rng)))
            # behind the market makers' quotes around the reference price, so the
            # depth refills there and the mid does not bounce with noise orders
            ref = _reference(g)
            gap = g[G_NOISE_GAP] + g[G_MM_VOL_COEF] * np.sqrt(g[G_VAR])
            if side == BUY:
                p = np.int64(np.floor(ref - gap)) - delta
            else:
                p = np.int64(np.ceil(ref + gap)) + delta
            _rest(
                i,
                t_ns,
                side,
                p,
                q,
                levels,
                orders,
                oid_slot,
                bstate,
                rules,
                fills,
                gi,
                acct,
                is_hft,
            )
    elif pre_open and k != MARKET_MAKER and k != HFT:
        return
    elif k == FUNDAMENTAL:
        value = g[G_F] * np.exp(params[i, P_A])
        gap = np.log(value / mid)
        th = params[i, P_B]
        if abs(gap) > th:
            q = np.int64(size * min(abs(gap) / th, params[i, P_C]))
            side = BUY if gap > 0 else SELL
            _market(
                i,
                t_ns,
                side,
                max(q, 1),
                levels,
                orders,
                oid_slot,
                bstate,
                rules,
                fills,
                g,
                gi,
                acct,
                is_hft,
            )
    elif k == MOMENTUM:
        ema = g[G_EMA0 + np.int64(params[i, P_A])]
        trend = np.log(mid / ema)
        th = params[i, P_B]
        if abs(trend) > th:
            q = np.int64(size * min(abs(trend) / th, params[i, P_C]))
            side = BUY if trend > 0 else SELL
            _market(
                i,
                t_ns,
                side,
                max(q, 1),
                levels,
                orders,
                oid_slot,
                bstate,
                rules,
                fills,
                g,
                gi,
                acct,
                is_hft,
            )
    elif k == MARKET_MAKER:
        _cancel_own(i, t_ns, levels, orders, oid_slot, bstate, rules, fills, gi, acct, is_hft)
        vol = np.sqrt(g[G_VAR])
        quoting = 0
        inv = acct[i, A_INV]
        lim = params[i, P_LIMIT]
        half = params[i, P_A] + params[i, P_B] * vol
        # quotes around the reference price, skewed against inventory; a quote that
        # crosses a stale order executes against it (the maker picks it off), which
        # keeps the mid on the reference price: no bid-ask bounce in the mid
        centre = _reference(g) - half * inv / lim
        bid = np.int64(np.floor(centre - half))
        ask = np.int64(np.ceil(centre + half))
        # orders left stale by news inside the maker's new spread are taken out first
        # (picked off), so the mid sits on the reference price and does not catch up
        # with it a second later; a maker that has withdrawn still picks off
        # (in batch-auction mode nothing executes before the batch: the maker bids
        # there for its share of the other traders' stale orders, see _pick_off_batch)
        if batch:
            _pick_off_batch(
                i,
                t_ns,
                BUY,
                ask - 1,
                levels,
                orders,
                oid_slot,
                bstate,
                rules,
                fills,
                g,
                gi,
                acct,
                kind,
                is_hft,
            )
            _pick_off_batch(
                i,
                t_ns,
                SELL,
                bid + 1,
                levels,
                orders,
                oid_slot,
                bstate,
                rules,
                fills,
                g,
                gi,
                acct,
                kind,
                is_hft,
            )
        else:
            _pick_off(
                i,
                t_ns,
                BUY,
                ask - 1,
                levels,
                orders,
                oid_slot,
                bstate,
                rules,
                fills,
                gi,
                acct,
                is_hft,
            )
            _pick_off(
                i,
                t_ns,
                SELL,
                bid + 1,
                levels,
                orders,
                oid_slot,
                bstate,
                rules,
                fills,
                gi,
                acct,
                is_hft,
            )
        # a maker stops quoting while recent one-sided order flow has pushed the price
        # far from the news (toxic flow, Easley, Lopez de Prado & O'Hara 2011; the
        # withdrawal of liquidity on 6 May 2010, CFTC-SEC 2010)
        if vol < params[i, P_C] and abs(g[G_IMPACT]) < params[i, P_D]:
            q = np.int64(size)
            if inv < lim:
                q_bid = q if batch else q + _crossing_qty(levels, bstate, SELL, bid)
                _rest(
                    i,
                    t_ns,
                    BUY,
                    bid,
                    q_bid,
                    levels,
                    orders,
                    oid_slot,
                    bstate,
                    rules,
                    fills,
                    gi,
                    acct,
                    is_hft,
                )
                quoting |= 1
            if inv > -lim:
                q_ask = q if batch else q + _crossing_qty(levels, bstate, BUY, ask)
                _rest(
                    i,
                    t_ns,
                    SELL,
                    ask,
                    q_ask,
                    levels,
                    orders,
                    oid_slot,
                    bstate,
                    rules,
                    fills,
                    gi,
                    acct,
                    is_hft,
                )
                quoting |= 2
        old = acct[i, A_QUOTING]
        gi[I_MM_BIDDING] += (quoting & 1) - (old & 1)
        gi[I_MM_ASKING] += ((quoting >> 1) & 1) - ((old >> 1) & 1)
        acct[i, A_QUOTING] = quoting
    elif k == HFT:
        _cancel_own(i, t_ns, levels, orders, oid_slot, bstate, rules, fills, gi, acct, is_hft)
        inv = acct[i, A_INV]
        lim = params[i, P_LIMIT]
        if abs(inv) > lim and not pre_open:
            side = SELL if inv > 0 else BUY
            _market(
                i,
                t_ns,
                side,
                abs(inv),
                levels,
                orders,
                oid_slot,
                bstate,
                rules,
                fills,
                g,
                gi,
                acct,
                is_hft,
            )
        elif (
            np.sqrt(g[G_VAR]) < params[i, P_A]
            and has_bid
            and has_ask
            and not (batch and bb >= ba)  # a crossed book waiting for its batch has no quotes
        ):
            q = np.int64(size)
            if inv < lim:
                _rest(
                    i,
                    t_ns,
                    BUY,
                    bb,
                    q,
                    levels,
                    orders,
                    oid_slot,
                    bstate,
                    rules,
                    fills,
                    gi,
                    acct,
                    is_hft,
                )
            if inv > -lim:
                _rest(
                    i,
                    t_ns,
                    SELL,
                    ba,
                    q,
                    levels,
                    orders,
                    oid_slot,
                    bstate,
                    rules,
                    fills,
                    gi,
                    acct,
                    is_hft,
                )
    elif k == SELL_PROGRAMME:
        if t_ns >= gi[I_PROG_START_NS]:
            if gi[I_PROG_VOLUME_START] < 0:
                gi[I_PROG_VOLUME_START] = gi[I_VOLUME]
            total = np.int64(params[i, P_B])
            sold = acct[i, A_SOLD]
            if sold < total:
                # 9% of the volume traded in the previous minute, accrued second by second
                target = np.int64(params[i, P_A] * g[G_PROG_OWED]) + np.int64(size)
                q = min(total - sold, target - sold, np.int64(params[i, P_LIMIT]))
                if q > 0:
                    _market(
                        i,
                        t_ns,
                        SELL,
                        q,
                        levels,
                        orders,
                        oid_slot,
                        bstate,
                        rules,
                        fills,
                        g,
                        gi,
                        acct,
                        is_hft,
                    )
                if acct[i, A_SOLD] >= total and gi[I_PROG_END_NS] < 0:
                    gi[I_PROG_END_NS] = t_ns
    elif k == LLM:
        j = np.int64(params[i, P_D])
        h = EMA_HORIZONS_S[0]
        trend = (mid - g[G_EMA0]) / (np.sqrt(g[G_VAR] * h) + 1e-12)
        sig = trader_signal(
            g[G_NEWS],
            trend,
            llm_model[j, M_BIAS],
            llm_model[j, M_ERROR],
            params[i, P_A],
            params[i, P_B],
            g[G_LLM_TEMP],
        )
        side, q = trader_order(sig, params[i, P_C], size, params[i, P_LIMIT])
        if side != NO_ORDER:
            _market(
                i,
                t_ns,
                side,
                q,
                levels,
                orders,
                oid_slot,
                bstate,
                rules,
                fills,
                g,
                gi,
                acct,
                is_hft,
            )


@njit(cache=True)
def run_chunk(
    t_stop_ns,
    kind,
    params,
    acct,
    is_hft,
    bg_idx,
    bg_cum,
    fast_idx,
    fast_cum,
    levels,
    orders,
    oid_slot,
    bstate,
    rules,
    fills,
    g,
    gi,
    rng,
    snap,
    llm_model,
    llm_rng,
):
    """Advance the market to ``t_stop_ns``; returns ``DONE`` or ``NEED_SPACE``.

    ``llm_model`` (``float64[n_models, N_MODEL_COLS]``, zero rows without LLM traders)
    holds each base model's bias and current error; ``llm_rng`` (``uint64[4]``) is the
    stream of those errors, apart from ``rng`` so the rest of the market draws the same
    numbers whatever the base models.

    On ``NEED_SPACE`` nothing is half done: the caller drains ``fills`` (resets
    ``gi[I_N_FILLS]``), grows ``orders``/``oid_slot`` if short, and calls again.
    """
    margin = 8
    while True:
        if (
            bstate[S_FREE_HEAD] == -1
            or orders.shape[1] - (bstate[S_N_BID] + bstate[S_N_ASK]) < margin
            or gi[I_NEXT_OID] + margin >= oid_slot.shape[0]
            or fills.shape[0] - gi[I_N_FILLS] < bstate[S_N_BID] + bstate[S_N_ASK] + margin
        ):
            return NEED_SPACE
        t_bg = gi[I_T_BG]
        t_fast = gi[I_T_FAST]
        t = min(t_bg, t_fast)
        # the book as it stood at each whole second before this event
        while gi[I_NEXT_SECOND] <= min(t, t_stop_ns) and gi[I_NEXT_SECOND] <= gi[I_SESSION_END_NS]:
            # news arrives on the second and every market maker requotes around the new
            # reference price before the book is recorded
            ts = gi[I_NEXT_SECOND]
            _news(g, rng)
            _llm_errors(g, llm_model, llm_rng)
            for j in range(fast_idx.shape[0]):
                if kind[fast_idx[j]] == MARKET_MAKER:
                    _act(
                        fast_idx[j],
                        ts,
                        kind,
                        params,
                        acct,
                        levels,
                        orders,
                        oid_slot,
                        bstate,
                        rules,
                        fills,
                        g,
                        gi,
                        rng,
                        is_hft,
                        llm_model,
                    )
            _on_second(ts, levels, bstate, g, gi, acct, kind, snap, rng, rules)
            gi[I_NEXT_SECOND] += NS_PER_SECOND
        if t >= t_stop_ns:
            return DONE
        background = t_bg <= t_fast
        i = bg_idx[_pick(bg_cum, rng)] if background else fast_idx[_pick(fast_cum, rng)]
        _act(
            i,
            t,
            kind,
            params,
            acct,
            levels,
            orders,
            oid_slot,
            bstate,
            rules,
            fills,
            g,
            gi,
            rng,
            is_hft,
            llm_model,
        )
        if background:
            gi[I_T_BG] = t + _exp_ns(rng, g[G_RATE_BG] * np.exp(g[G_X]))
        else:
            gi[I_T_FAST] = t + _exp_ns(rng, g[G_RATE_FAST])


class Trader(mesa.Agent):
    """A thin view of trader ``index`` of an order-book market model's arrays."""

    def __init__(self, model, index: int):
        super().__init__(model)
        self.index = int(index)

    @property
    def kind(self) -> str:
        return KIND_NAMES[int(self.model.kind[self.index])]

    @property
    def inventory(self) -> int:
        return int(self.model.acct[self.index, A_INV])

    @property
    def cash_ticks(self) -> int:
        return int(self.model.acct[self.index, A_CASH])


class LLMTrader(Trader):
    """A thin view of an LLM-style trader: its base model and that model's state."""

    @property
    def base_model(self) -> int:
        return int(self.model.params[self.index, P_D])

    @property
    def model_bias(self) -> float:
        return float(self.model.llm_model[self.base_model, M_BIAS])

    @property
    def model_error(self) -> float:
        return float(self.model.llm_model[self.base_model, M_ERROR])


__all__ = [
    "FUNDAMENTAL",
    "HFT",
    "INTERMEDIARIES",
    "KIND_NAMES",
    "LLM",
    "LLMTrader",
    "MARKET_MAKER",
    "MOMENTUM",
    "NOISE",
    "N_STATE",
    "SELL_PROGRAMME",
    "Trader",
    "run_chunk",
]
