r"""Market rules inside the matching path: LULD bands and pauses, market-wide circuit
breakers, stop logic, minimum resting time, single-stock halts, frequent batch auctions,
an order-to-trade cap and taxes on cancellations and trades.

The order book's ``rules`` array (``int64``) is the seam (:mod:`marketsim.orderbook`):
its first :data:`~marketsim.orderbook.N_RULES` words are read by the matching kernel
(halted flag, band in ticks). :func:`rules_array` appends, after them, the rules'
parameters, their state and a ring of one-second trade buckets; when ``rules`` is that
long, :func:`marketsim.orderbook.apply_action` calls :func:`before_action` and
:func:`after_action` around every action, so the rules run wherever the book runs,
inside the same numba loop. Every quantity is an integer: prices in ticks, times in
nanoseconds since midnight, fractions in parts per billion (``_PPB``).

Limit Up-Limit Down (SEC Rule 608 plan): the reference price is the arithmetic mean of
the trade prices of the previous ``reference_window_s`` (whole seconds), computed at
every action; as in the plan it replaces the reference in effect (at first the previous
close) only when it has moved ``reference_update_pct`` (1%) or more from it, and not
during a limit state (the market leaves a limit state when the quotes at the band are
executed or cancelled, not when the band moves away from them); the band is ``ref * pct``
with ``pct`` 5% (tier 1) or 10% (tier 2) above $3, 20% for $0.75-$3, and
``min($0.15, 0.75 ref)`` below $0.75,
doubled in the first ``double_open_s`` and last ``double_close_s`` of the session. The
band is ``[ceil((ref - band)/tick), floor((ref + band)/tick)]`` ticks and no trade
prints outside it. With ``reprice_to_band`` (price sliding, the default) a sell priced
below the lower band is repriced to the lower band (a buy above the upper band to the
upper band), and what is left of a market order that cannot execute inside the band
rests as a limit order at the band (an IOC's remainder is cancelled as usual); other
orders priced outside the band (a bid below the lower band, an offer above the upper)
are refused. Without it every limit order priced outside the band is refused and a
market order's remainder is dropped, so nothing ever rests at the band. The market is in the
*limit state* while the best ask sits at the lower band or the best bid at the upper
band; a limit state that lasts ``limit_state_s`` starts a ``pause_s`` trading pause at
exactly ``since + limit_state_s`` (new orders are refused; cancels are allowed).

Market-wide circuit breakers: when a trade prints at or below ``(1 - level) x previous
close`` for a level not yet fired, that level fires (once a session): levels before
the last halt trading for ``halt_s`` unless the trade is at or after
``no_halt_after_s`` (15:25); the last level closes the market for the day.

Reopening auctions (``reopening = "auction"``, the default of ``luld``, ``mwcb`` and
``halt``, and always after a stop-logic pause; the listing exchanges reopen halted and
paused securities by auction): during
a halt or pause, limit orders are accepted and rest without matching (inside the
book's price range; LULD bands are not applied while halted), cancels and reduces work,
market and IOC orders are refused (``HALTED``). At the first action at or after the end
of the halt, before that action, the book is cleared at one price by
:func:`marketsim.orderbook.clear_batch` (the FBA clearing rule; time stamp = the end of
the halt; candidates inside the band then in force), and continuous trading resumes.
With ``reopening = "continuous"`` every new order is refused during a halt and the
unchanged book trades on afterwards. A market closed by the last MWCB level does not
reopen.

Stop logic (CME Globex Stop Logic, in force on the E-mini on 6 May 2010; CFTC-SEC 2010:
at 14:45:28 it paused the E-mini for 5 seconds): the band is every price within
``band_pct`` of the last trade before the current instant (one time stamp; all actions
at that time stamp share the reference), ``[ceil(ref (1 - band_pct)), floor(ref (1 +
band_pct))]`` ticks, exact in integers. An order that would execute beyond the band
executes up to it and stops; the market then pauses for ``pause_s`` (5 s) from that
instant and reopens by auction (the reopening above; stop logic always reopens so). What
is left of the stopped order rests for the auction: a limit order at its limit (the
book may be crossed while paused), a market order at the band (CME turns market orders
into limit orders at a protection price), an IOC's remainder is cancelled. The band does
not bound the reopening auction's price. Under frequent batch auctions no order matches
continuously, so stop logic never fires.

Minimum resting time: a cancel or reduce of an order that has rested less than
``min_rest_ms`` is refused (status ``REFUSED``).

Single-stock halt (configurable; the 2010 pilot used 10% in five minutes): a trade
``move_pct`` or more below the highest or above the lowest trade of the last
``window_s`` whole seconds (the current second included) halts trading for ``halt_s``;
the window starts afresh after the halt. Exact integer test, like MWCB.

Frequent batch auctions (Budish, Cramton & Shim 2015): new orders rest without matching
(IOC and market orders too, until the batch; a market order at the last trade price +/-
5%, a protection collar, inside the band and the ladder); at every batch time ``open + k
* interval`` the book is cleared at one price by :func:`marketsim.orderbook.clear_batch`
(maximal volume, then minimal imbalance, then nearest the last trade, then the lower
price; allocation in price-time priority). The batch due is cleared at the first action
at or after it; a batch due while the market is halted is held until the market reopens.
What is left of IOC and market orders lapses after the batch.

Order-to-trade cap: per trader, messages (new orders, cancels, reduces) and trades in
fixed windows of ``window_s``; a new order that would lift messages above
``max_ratio x max(trades, 1)`` is refused (``REFUSED``); cancels are always accepted.

Taxes: a cancel or reduce within ``cancel_window_ms`` of the order's entry costs
``cancel_tax_ticks`` per contract; every trade costs the buyer and the seller
``trade_tax_bps`` of the notional. Charges are kept per trader in micro-ticks (exact
integers) and the same amount is credited to the regulator's word, so the traders'
cash plus the regulator's is conserved. The order-to-trade cap and the taxes count
traders ``0 .. n_owners-1`` (``rules_array(n_owners=...)``).

Speed bump (IEX, 350 us): an incoming order that would take liquidity on arrival
(market, IOC, or a limit order crossing the opposite best quote) waits in a ring in
``rules`` and reaches the book at exactly ``t + delay``: it is applied at the first
action at or after its release time, before that action, with its release time as its
time stamp (and time priority). Resting orders, cancels and reduces are not delayed; a
cancel of a waiting order withdraws it. A waiting order is accepted (status ``OK``).
Orders still waiting when the session ends never reach the book.

Every halt and pause is logged as it starts (start, end, cause; a halt extended while in
force stays one entry): :func:`halt_log` reads the log, and the order-book scenarios
write it as ``halts.parquet``.

Circuit-breaker levels (and the single-stock halt) are checked after the whole action:
a market order that sweeps through a level completes (within the LULD band, if any)
before the halt starts.

Numba caching: :func:`marketsim.orderbook.apply_action` compiles these functions into
its own cache, which numba keys on its own file (``orderbook/kernel.py``) only; after
editing this module, delete ``marketsim/orderbook/__pycache__/*.nb?`` (and the caches of
kernels that call ``apply_action``) or the old rule code keeps running.
"""

from marketsim.market_rules import words
from marketsim.market_rules.build import (
    find_policy,
    halt_log,
    owner_counts,
    rules_array,
    rules_report,
)
from marketsim.market_rules.limits import (
    after_action,
    band_ticks,
    before_action,
    record_trade,
    reference_tick,
    stop_band_ticks,
)
from marketsim.market_rules.queues import (
    batch_done,
    batch_due,
    batch_ioc_clear,
    batch_ioc_count,
    batch_ioc_id,
    batch_ioc_push,
    batch_mode,
    batch_pending,
    bump_cancel,
    bump_due,
    bump_entry,
    bump_head,
    bump_on,
    bump_pop,
    bump_push,
    bump_release_ns,
    bump_waiting,
    halt_end_ns,
    last_trade_tick,
    reopening_done,
    reopening_due,
    rests_while_halted,
)
from marketsim.market_rules.words import *  # noqa: F403 (the rules' words: see words.__all__)

__all__ = [
    *words.__all__,
    "after_action",
    "band_ticks",
    "batch_done",
    "batch_due",
    "batch_ioc_clear",
    "batch_ioc_count",
    "batch_ioc_id",
    "batch_ioc_push",
    "batch_mode",
    "batch_pending",
    "before_action",
    "bump_cancel",
    "bump_due",
    "bump_entry",
    "bump_head",
    "bump_on",
    "bump_pop",
    "bump_push",
    "bump_release_ns",
    "bump_waiting",
    "find_policy",
    "halt_log",
    "halt_end_ns",
    "halt_log",
    "last_trade_tick",
    "owner_counts",
    "record_trade",
    "reference_tick",
    "reopening_done",
    "reopening_due",
    "rests_while_halted",
    "rules_array",
    "rules_report",
    "stop_band_ticks",
    "words",
]
