"""The rules' queues and the book's questions to them (numba): frequent batch auctions
(the batch clock, IOC orders waiting for the batch), the speed bump's delay ring, and the
small calls through which the order book asks about halts, reopenings and batches without
reading the rules' words.
"""

from __future__ import annotations

from numba import njit

from marketsim.market_rules import words as W
from marketsim.records import LIMIT


@njit(cache=True)
def batch_due(t_ns, rules):
    """The batch time ``T <= t_ns`` to clear now (-1 if none) and the next one set after
    ``t_ns``. Batches fall at ``open + k * interval``; missed empty batches are skipped."""
    nxt = rules[W.X_FBA_NEXT_NS]
    if t_ns < nxt:
        return -1
    step = rules[W.X_FBA_NS]
    last = nxt + ((t_ns - nxt) // step) * step
    rules[W.X_FBA_NEXT_NS] = last + step
    return last


@njit(cache=True)
def batch_ioc_push(order_id, rules):
    """Remember an IOC/market order that waits for the batch; False when the list is full."""
    n = rules[W.X_FBA_IOC_N]
    if n >= rules[W.X_FBA_IOC_CAP]:
        return False
    rules[rules[W.X_FBA_IOC_AT] + n] = order_id
    rules[W.X_FBA_IOC_N] = n + 1
    return True


@njit(cache=True)
def bump_push(release_ns, kind, side, price_tick, qty, order_id, owner, rules):
    """Queue an order in the speed bump until ``release_ns``; False when the queue is full."""
    cap = rules[W.X_BUMP_CAP]
    n = rules[W.X_BUMP_N]
    if n >= cap:
        return False
    b = rules[W.X_BUMP_AT] + W.N_BUMP_WORDS * ((rules[W.X_BUMP_HEAD] + n) % cap)
    rules[b] = release_ns
    rules[b + 1] = kind
    rules[b + 2] = side
    rules[b + 3] = price_tick
    rules[b + 4] = qty
    rules[b + 5] = order_id
    rules[b + 6] = owner
    rules[W.X_BUMP_N] = n + 1
    rules[W.X_N_DELAYED] += 1
    return True


@njit(cache=True)
def bump_waiting(rules):
    """How many orders wait in the speed bump (0 without one): each may rest or trade
    when it is released."""
    if rules.shape[0] <= W.N_RULES:
        return 0
    return rules[W.X_BUMP_N]


@njit(cache=True)
def bump_head(rules):
    """Offset of the oldest waiting order's words, or -1 when none waits."""
    if rules[W.X_BUMP_N] == 0:
        return -1
    return rules[W.X_BUMP_AT] + W.N_BUMP_WORDS * rules[W.X_BUMP_HEAD]


@njit(cache=True)
def bump_pop(rules):
    """Drop the oldest waiting order."""
    rules[W.X_BUMP_HEAD] = (rules[W.X_BUMP_HEAD] + 1) % rules[W.X_BUMP_CAP]
    rules[W.X_BUMP_N] -= 1


@njit(cache=True)
def bump_cancel(order_id, rules):
    """Withdraw a waiting order (its kind becomes -1); True if it was waiting."""
    cap = rules[W.X_BUMP_CAP]
    for k in range(rules[W.X_BUMP_N]):
        b = rules[W.X_BUMP_AT] + W.N_BUMP_WORDS * ((rules[W.X_BUMP_HEAD] + k) % cap)
        if rules[b + 5] == order_id and rules[b + 1] >= 0:
            rules[b + 1] = -1
            return True
    return False


# --- the book's questions to the rules ------------------------------------------------
# The order book (marketsim.orderbook) reads its own words rules[R_*] and asks everything
# else through these calls, so that the rules' layout (X_*, F_*) stays in this module.


@njit(cache=True)
def bump_on(rules):
    """Does a speed bump delay liquidity-taking orders?"""
    return rules.shape[0] > W.N_RULES and (rules[W.X_FLAGS] & W.F_BUMP) != 0


@njit(cache=True)
def bump_release_ns(t_ns, rules):
    """When an order arriving at ``t_ns`` reaches the book through the speed bump."""
    return t_ns + rules[W.X_BUMP_NS]


@njit(cache=True)
def bump_due(t_ns, rules):
    """Offset of the oldest waiting order if it is due at or before ``t_ns``, else -1."""
    b = bump_head(rules)
    if b < 0 or rules[b] > t_ns:
        return -1
    return b


@njit(cache=True)
def bump_entry(b, rules):
    """The waiting order at offset ``b``: ``(release_ns, kind, side, price_tick, qty,
    order_id, owner)``; ``kind`` is -1 when it was withdrawn."""
    return (
        rules[b],
        rules[b + 1],
        rules[b + 2],
        rules[b + 3],
        rules[b + 4],
        rules[b + 5],
        rules[b + 6],
    )


@njit(cache=True)
def reopening_due(rules):
    """Is a reopening auction owed now (a halt with ``reopening="auction"`` has ended)?"""
    return (
        (rules[W.X_FLAGS] & W.F_REOPEN) != 0
        and rules[W.X_REOPEN_PENDING] != 0
        and rules[W._R_HALTED] == 0
    )


@njit(cache=True)
def rests_while_halted(kind, rules):
    """Does this order rest unmatched for the reopening auction (a limit order during a
    halt that ends with an auction; not once the market is closed for the day)?"""
    return (
        (rules[W.X_FLAGS] & W.F_REOPEN) != 0
        and rules[W._R_HALTED] != 0
        and rules[W.X_CLOSED] == 0
        and kind == LIMIT
    )


@njit(cache=True)
def halt_end_ns(rules):
    """When the current (or last) halt ends."""
    return rules[W.X_HALT_UNTIL]


@njit(cache=True)
def reopening_done(fills, n_before, n_after, rules):
    """Record the reopening auction whose trades are ``fills[n_before:n_after]``."""
    rules[W.X_REOPEN_PENDING] = 0
    rules[W.X_N_REOPENINGS] += 1
    for k in range(n_before, n_after):
        rules[W.X_REOPEN_VOLUME] += fills[k].qty


@njit(cache=True)
def last_trade_tick(rules):
    """The last trade price (ticks; the previous close before the first trade)."""
    return rules[W.X_LAST_TICK]


@njit(cache=True)
def batch_mode(rules):
    """Do new orders rest unmatched until the next batch auction?"""
    return (rules[W.X_FLAGS] & W.F_FBA) != 0


@njit(cache=True)
def batch_pending(t_ns, rules):
    """Is a batch auction due at or before ``t_ns``?"""
    return t_ns >= rules[W.X_FBA_NEXT_NS]


@njit(cache=True)
def batch_done(n_before, n_after, rules):
    """Count the batch whose trades are ``fills[n_before:n_after]`` (if it traded)."""
    if n_after > n_before:
        rules[W.X_N_BATCHES] += 1


@njit(cache=True)
def batch_ioc_count(rules):
    """How many IOC/market orders wait for the batch."""
    return rules[W.X_FBA_IOC_N]


@njit(cache=True)
def batch_ioc_id(k, rules):
    """The order id of the ``k``-th IOC/market order waiting for the batch."""
    return rules[rules[W.X_FBA_IOC_AT] + k]


@njit(cache=True)
def batch_ioc_clear(rules):
    """Forget the IOC/market orders that waited for the batch (it has been cleared)."""
    rules[W.X_FBA_IOC_N] = 0
