"""Order-book traders: type codes, parameter layout, the event kernels and thin Mesa views.

This module is the public face of the traders; the code lives in private modules, one
job each: the array layout and the per-kind names of the parameter columns
(:mod:`~marketsim.agents._traders_layout`), the random draws
(:mod:`~marketsim.agents._traders_draws`), order sending and settlement
(:mod:`~marketsim.agents._traders_orders`), one kernel per trader kind
(:mod:`~marketsim.agents._traders_background`: noise, fundamental and momentum,
LLM-style; :mod:`~marketsim.agents._traders_intermediaries`: market makers,
high-frequency traders, the sell programme), the event loop :func:`run_chunk`
(:mod:`~marketsim.agents._traders_loop`) and the Mesa views
(:mod:`~marketsim.agents._traders_views`). After editing a kernel module, delete
``agents/__pycache__/_traders_*.nb?``: numba keys the cache of :func:`run_chunk` on
``_traders_loop.py`` alone.

Model
-----
``n`` traders of seven kinds (LLM-style traders optional) share one limit order book
(:mod:`marketsim.orderbook`). Each trader wakes on its own exponential clock of rate
``rate_i``; because the clocks are memoryless, the next wake-up of a group is
``Exp(sum_i rate_i)`` and the waking trader is drawn with probability
``rate_i / sum rate`` (superposition). Two groups run side by side: *background* traders
(noise, fundamental, momentum), whose clock is scaled by a market activity level
``exp(x_t)`` with ``x`` an Ornstein-Uhlenbeck process excited by the size of recent
returns (news and attention: the source of volatility clustering), and *intermediaries*
(market makers, high-frequency traders, the sell programme) on constant clocks. A trader
who wakes sends order actions that the matching kernel processes at once, inside the
same numba loop.

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
  (the "hot potato" of Kirilenko et al. 2017). With a half-life ``h`` (``flash_crash_2010``:
  120 s) it also trades ``|inventory| (1 - 2^(-dt / h))`` contracts back towards zero with
  a market order at each wake-up, ``dt`` seconds after the last (rounded at random to an
  integer with that mean): its inventory halves in ``h`` on average.
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
- sell programme: from ``start_s`` on, sells ``total_qty`` contracts at ``participation``
  of the volume traded in the previous minute (accrued second by second), regardless of
  price or time (CFTC-SEC 2010: 75,000 E-mini contracts at 9%): with market orders
  (aggressive), or (passive, Nanex's reading of the day) with one sell order kept at the
  best offer, never crossing the spread.

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

from marketsim.agents import _traders_layout
from marketsim.agents._traders_layout import *  # noqa: F403 (the words and bundles: see __all__)
from marketsim.agents._traders_loop import run_chunk
from marketsim.agents._traders_orders import batch_mode, mid_x2, price_x2
from marketsim.agents._traders_views import LLMTrader, Trader
from marketsim.orderbook import N_STATE

#: the layout's words (P_*, A_*, G_*, I_*, C_*, the kinds, ...) and bundles, for the
#: set-up, and the kernels and views
__all__ = [
    *_traders_layout.__all__,
    "LLMTrader",
    "N_STATE",
    "Trader",
    "batch_mode",
    "mid_x2",
    "price_x2",
    "run_chunk",
]
