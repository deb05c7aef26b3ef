"""Order-book traders: the struct-of-arrays layout every trader kernel reads and writes.

Traders are rows of arrays, not objects. A trader's kind is ``kind[i]`` (a code below);
its parameters are ``params[i, P_*]`` (``float64``) and its account ``acct[i, A_*]``
(``int64``: cash in ``price_tick * qty`` units, so cash and contracts are conserved); the
market's slow state is ``g[G_*]`` (``float64``) and ``gi[I_*]`` (``int64``); the one-second
record is ``snap[k, C_*]``; the LLM traders' base models are ``llm_model[j, M_*]``.

The arrays that travel together pass to the kernels as two bundles (namedtuples, which
numba takes and caches like tuples of arrays): :class:`Traders` (who trades: kinds,
parameters, accounts) and :class:`Market` (what their orders reach and move: the book,
its rule words, the fill records and the market state ``g``, ``gi``); the event loop also
takes the :class:`Clocks` (who wakes on which clock).

The parameter columns ``P_A .. P_D`` (and ``P_SIZE``, ``P_LIMIT``) mean different things
for different kinds. Each kind's meanings are named once here (``P_THRESHOLD``,
``P_MM_WITHDRAW_IMPACT``, ...), as aliases of the generic columns, and the kernels use
those names; the set-up may fill either.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from marketsim.orderbook.layout import Book

# --- trader kinds ------------------------------------------------------------------
NOISE, FUNDAMENTAL, MOMENTUM, MARKET_MAKER, HFT, SELL_PROGRAMME, LLM = range(7)
KIND_NAMES = ("noise", "fundamental", "momentum", "market_maker", "hft", "sell_programme", "llm")
INTERMEDIARIES = (MARKET_MAKER, HFT)

# --- per-trader parameters: params[i, P_*] (float64) --------------------------------
P_RATE, P_SIZE, P_A, P_B, P_C, P_LIMIT, P_D, P_E = range(8)
N_PARAMS = 8
# Every kind: P_RATE = wake-up rate (per second), P_SIZE = order size (contracts).
# What the other columns mean for each kind (aliases: one column, one meaning per kind):
# noise (zero intelligence)
P_NOISE_P_MARKET = P_A  # probability that a wake-up sends a market order
P_NOISE_SCALE = P_B  # mean distance (ticks) of a limit order behind the makers' quotes
P_NOISE_ALPHA = P_C  # Pareto exponent of order sizes
# fundamental and momentum (threshold traders)
P_FUND_OFFSET = P_A  # fundamental: valuation offset e_i (log), v_i = F exp(e_i)
P_MOM_HORIZON = P_A  # momentum: index of its EMA horizon (EMA_HORIZONS_S)
P_THRESHOLD = P_B  # |log gap| (fundamental) or |log trend| (momentum) that triggers an order
P_MAX_MULTIPLE = P_C  # largest order, in multiples of P_SIZE
# market maker
P_MM_HALF_SPREAD = P_A  # base half-spread (ticks)
P_MM_SPREAD_PER_VOL = P_B  # half-spread added per tick of one-second volatility
P_MM_WITHDRAW_VOL = P_C  # volatility (ticks per second) at which it withdraws
P_MM_WITHDRAW_IMPACT = P_D  # |order-flow impact| (log) at which it withdraws
P_MM_WITHDRAW_TOXICITY = P_E  # flow toxicity (VPIN, 0-1) above which it withdraws
P_INVENTORY_LIMIT = P_LIMIT  # market maker and hft: largest |inventory| it quotes into
# high-frequency trader
P_HFT_WITHDRAW_VOL = P_A  # volatility (ticks per second) at which it stops quoting
P_HFT_HALF_LIFE = P_B  # half-life (s) of its inventory (market orders at each wake; 0: none)
# sell programme (P_SIZE: contracts it may sell ahead of its participation)
P_PROG_PARTICIPATION = P_A  # share of the previous minute's volume it sells
P_PROG_TOTAL_QTY = P_B  # contracts to sell in all
P_PROG_START_S = P_C  # start, in seconds into the session
P_PROG_CHILD_MAX = P_LIMIT  # largest child order
P_PROG_PASSIVE = P_D  # 1: posts at the best offer (passive seller); 0: market orders
# LLM-style trader (P_SIZE: contracts per threshold of signal)
P_LLM_NEWS_WEIGHT = P_A  # weight of the news / narrative signal
P_LLM_TREND_WEIGHT = P_B  # weight of the recent return
P_LLM_THRESHOLD = P_C  # |signal| below which it does not trade
P_LLM_ORDER_MAX = P_LIMIT  # largest order (contracts)
P_LLM_MODEL = P_D  # base model id: row of llm_model

# --- per-trader state: acct[i, A_*] (int64) -----------------------------------------
A_INV, A_CASH, A_BOUGHT, A_SOLD, A_BID_OID, A_ASK_OID, A_N_ACTIONS, A_QUOTING = range(8)
N_ACCT = 8  # A_QUOTING: market makers, bit 1 = bidding, bit 2 = offering
A_HFT_LAST_WAKE_NS = A_QUOTING  # high-frequency traders: time of the last wake-up (ns)

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
# the volume-volatility relation (flash_crash_2010 version 7; see _traders_loop._on_second):
# the session's usual one-second variance (a slow EMA of G_VAR), its per-second weight, the
# background traders' activity elasticity to volatility and the resulting rate multiplier
G_VAR_SLOW, G_VAR_SLOW_KEEP, G_VOL_ELASTICITY, G_VOL_ACTIVITY = range(35, 39)
# flow toxicity (flash_crash_2010 version 8; see _traders_loop._toxicity): VPIN of Easley,
# Lopez de Prado & O'Hara (2012), the aggressor-signed order imbalance over the last
# G_TOX_N buckets of G_TOX_BUCKET contracts (0: off). The bucket being filled (its buy
# and sell volume), the sum of the last buckets' |buy - sell|, the VPIN, whether the
# makers' own trades are left out (1), the last buckets' net buy - sell, whether a maker
# withdraws only the side the net flow hits (1), then a ring of the last
# TOX_MAX_BUCKETS buckets' buy - sell
(
    G_TOX_BUCKET,
    G_TOX_N,
    G_TOX_CUR_BUY,
    G_TOX_CUR_SELL,
    G_TOX_SUM,
    G_VPIN,
    G_TOX_OTHERS,
    G_TOX_NET,
    G_TOX_ONE_SIDED,
    G_TOX_RING,
) = range(39, 49)
TOX_MAX_BUCKETS = 250
# market makers below this trader index, beyond their impact tolerance, withdraw only
# the side the flow hits (no bid while I < 0, no offer while I > 0); the others withdraw
# both sides (0: none; the makers are one block of rows, so the first k makers)
G_IMPACT_ONE_SIDED = G_TOX_RING + TOX_MAX_BUCKETS
N_G = G_IMPACT_ONE_SIDED + 1
#: largest multiple of the background traders' rate that volatility alone gives (the same
#: bound, e^3, as the activity level's exp(x))
MAX_VOL_ACTIVITY = float(np.exp(3.0))
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
    I_NEED_SLOTS,
    I_NEED_IDS,
    I_NEED_FILLS,
) = range(25)
# flow toxicity: the volume bought and sold by aggressors (market and marketable orders)
# since the start, what of it the buckets have taken, and the buckets completed
I_AGG_BUY, I_AGG_SELL, I_TOX_SEEN_BUY, I_TOX_SEEN_SELL, I_TOX_N_DONE = range(25, 30)
N_GI = 31

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
# New orders one trader action may send at most: a market maker's two pick-offs and two
# quotes (an HFT sends three, every other trader one). The chunk kernel reserves room
# for whole actions with this bound before it starts them.
ACT_MAX_ORDERS = 4


class Traders(NamedTuple):
    """The traders' arrays, row ``i`` for trader ``i``: ``kind`` (``int64[n]``), ``params``
    (``float64[n, N_PARAMS]``), ``acct`` (``int64[n, N_ACCT]``), ``is_hft`` (``int64[n]``:
    1 for the high-frequency traders). Only what every order of every trader touches:
    each array in a bundle is passed on every kernel call."""

    kind: np.ndarray
    params: np.ndarray
    acct: np.ndarray
    is_hft: np.ndarray


class Clocks(NamedTuple):
    """The two clock groups of the event loop, background and fast: their traders
    (``bg_idx``, ``fast_idx``, ``int64``) and cumulative wake-up rates (``bg_cum``,
    ``fast_cum``, ``float64``)."""

    bg_idx: np.ndarray
    bg_cum: np.ndarray
    fast_idx: np.ndarray
    fast_cum: np.ndarray


class Market(NamedTuple):
    """What the traders' orders reach and move: the order ``book``
    (:class:`~marketsim.orderbook.layout.Book`), its ``rules`` words (``int64``), the
    ``fills`` records (``FILL_DTYPE``; ``gi[I_N_FILLS]`` of them written) and the market
    state ``g[G_*]`` (``float64``) and ``gi[I_*]`` (``int64``)."""

    book: Book
    rules: np.ndarray
    fills: np.ndarray
    g: np.ndarray
    gi: np.ndarray


#: what ``from marketsim.agents._traders_layout import *`` (and so
#: :mod:`marketsim.agents.traders`) exports: every upper-case word and code, the bundles
__all__ = [*(name for name in list(globals()) if name.isupper()), "Clocks", "Market", "Traders"]
