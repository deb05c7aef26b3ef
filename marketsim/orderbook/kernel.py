"""One action through the book under the market rules, and the batch loop.

:func:`apply_action` runs, in order: the speed bump (release the waiting orders now due;
a liquidity-taking order waits), the rules' checks before the action (refuse, set the
halted flag and the band), the reopening auction or rest-while-halted, the batch-auction
mode, matching, and the rules' bookkeeping of the action and its trades. Without rule
words past ``N_RULES`` it is plain matching. :func:`needs` tells the caller which array
to grow before an action; :func:`process_actions_kernel` applies a stream of actions.
An action is seven scalars ``(t_ns, kind, side, price_tick, qty, order_id, owner)``, the
fields of ``ACTION_DTYPE``; the book's arrays travel as one
:class:`~marketsim.orderbook.layout.Book`. Every call into the market rules reads
``MR.<name>`` (:mod:`marketsim.market_rules`), so the seam shows at each call.
"""

from __future__ import annotations

from numba import njit

from marketsim import market_rules as MR
from marketsim.orderbook import layout as L
from marketsim.orderbook.auction import _batch_if_due, _reopen, _rest_for_batch, _rest_while_halted
from marketsim.orderbook.matching import _match, takes_liquidity
from marketsim.records import CANCEL, LIMIT, OK, REDUCE, REFUSED


@njit(cache=True)
def needs(kind, price_tick, order_id, book, fills, n_fills):
    """The ``NEED_*`` code if the arrays are too small for this action, else ``DONE``."""
    if kind == CANCEL or kind == REDUCE:
        return L.DONE
    # every new order may rest: IOC and market orders wait for the batch in auction mode
    if book.state[L.S_FREE_HEAD] == -1:
        return L.NEED_ORDER_SLOTS
    if order_id >= book.oid_slot.shape[0]:
        return L.NEED_ORDER_IDS
    # only a resting limit order must lie inside the ladder; IOC and market orders are
    # compared with absolute ticks (and clamped to the ladder while they wait for a batch)
    if kind == LIMIT:
        idx = price_tick - book.state[L.S_TICK_LO]
        if idx < 0 or idx >= book.levels.shape[2]:
            return L.NEED_PRICE_RANGE
    # a batch auction may fill every resting order once
    if fills.shape[0] - n_fills < book.state[L.S_N_ASK] + book.state[L.S_N_BID] + 1:
        return L.NEED_FILL_SPACE
    return L.DONE


@njit(cache=True)
def apply_action(t_ns, kind, side, price_tick, qty, order_id, owner, book, rules, fills, n_fills):
    """Apply one order action to the book; returns ``(status, n_fills)``.

    The caller has checked :func:`needs`. Fills are written to ``fills[n_fills:]``.
    A ``rules`` array longer than ``N_RULES`` (see :func:`marketsim.market_rules.rules_array`)
    also runs the market rules before and after the action; with a speed bump, waiting
    orders now due go first and a liquidity-taking order waits (status ``OK``); in
    batch-auction mode a due batch is cleared first (:func:`clear_batch`) and new orders
    rest without matching.
    """
    if rules.shape[0] <= L.N_RULES:
        return _match(
            t_ns, kind, side, price_tick, qty, order_id, owner, book, rules, fills, n_fills
        )
    if MR.bump_on(rules):
        n_fills = _release_due(t_ns, book, rules, fills, n_fills)
        if kind == CANCEL and MR.bump_cancel(order_id, rules):
            return OK, n_fills
        if takes_liquidity(kind, side, price_tick, book):
            release_ns = MR.bump_release_ns(t_ns, rules)
            if MR.bump_push(release_ns, kind, side, price_tick, qty, order_id, owner, rules):
                return OK, n_fills
            return REFUSED, n_fills
    return _apply_ruled(
        t_ns, kind, side, price_tick, qty, order_id, owner, book, rules, fills, n_fills
    )


@njit(cache=True)
def _release_due(t_ns, book, rules, fills, n_fills):
    """Apply the speed bump's waiting orders due at or before ``t_ns``, oldest first, at
    their release times. One waits longer only while the arrays lack room for it (a
    free order slot, its id, its price on the ladder, room for its fills)."""
    n_fills, _ = _release_due_code(t_ns, book, rules, fills, n_fills)
    return n_fills


@njit(cache=True)
def _release_due_code(t_ns, book, rules, fills, n_fills):
    """:func:`_release_due`, also returning the ``NEED_*`` code it stopped on (or DONE)."""
    while True:
        b = MR.bump_due(t_ns, rules)
        if b < 0:
            return n_fills, L.DONE
        release, kind, side, price, qty, oid, owner = MR.bump_entry(b, rules)
        if kind < 0:  # withdrawn while waiting
            MR.bump_pop(rules)
            continue
        code = needs(kind, price, oid, book, fills, n_fills)
        if code != L.DONE:
            return n_fills, code
        MR.bump_pop(rules)
        _, n_fills = _apply_ruled(
            release, kind, side, price, qty, oid, owner, book, rules, fills, n_fills
        )


@njit(cache=True)
def _apply_ruled(t_ns, kind, side, price_tick, qty, order_id, owner, book, rules, fills, n_fills):
    """:func:`apply_action` under the rules, once past the speed bump."""
    order_t = -1
    order_owner = -1
    order_qty = 0
    if (kind == CANCEL or kind == REDUCE) and 0 <= order_id < book.oid_slot.shape[0]:
        if book.oid_slot[order_id] != -1:
            order_t = book.orders[L.O_T, book.oid_slot[order_id]]
            order_owner = book.orders[L.O_OWNER, book.oid_slot[order_id]]
            order_qty = book.orders[L.O_QTY, book.oid_slot[order_id]]
    tick_lo = book.state[L.S_TICK_LO]
    best_bid = tick_lo + book.state[L.S_BEST_BID] if book.state[L.S_N_BID] > 0 else L.NO_BAND_LO
    best_ask = tick_lo + book.state[L.S_BEST_ASK] if book.state[L.S_N_ASK] > 0 else L.NO_BAND_HI
    if MR.before_action(t_ns, kind, owner, order_id, order_t, best_bid, best_ask, rules) != 0:
        return REFUSED, n_fills
    if MR.reopening_due(rules):
        n_fills = _reopen(book, rules, fills, n_fills)
    elif MR.rests_while_halted(kind, rules):
        st = _rest_while_halted(t_ns, side, price_tick, qty, order_id, owner, book)
        MR.after_action(t_ns, kind, owner, st, -1, -1, 0, fills, n_fills, n_fills, rules)
        return st, n_fills
    if MR.batch_mode(rules):
        n_fills = _batch_if_due(t_ns, book, rules, fills, n_fills)
        if kind != CANCEL and kind != REDUCE:
            st = _rest_for_batch(t_ns, kind, side, price_tick, qty, order_id, owner, book, rules)
            MR.after_action(t_ns, kind, owner, st, -1, -1, 0, fills, n_fills, n_fills, rules)
            return st, n_fills
    st, n_after = _match(
        t_ns, kind, side, price_tick, qty, order_id, owner, book, rules, fills, n_fills
    )
    removed = order_qty if kind == CANCEL else min(qty, order_qty)
    MR.after_action(
        t_ns, kind, owner, st, order_t, order_owner, removed, fills, n_fills, n_after, rules
    )
    return st, n_after


@njit(cache=True)
def process_actions_kernel(actions, start, book, rules, fills, n_fills, status):
    """Apply ``actions[start:]`` in order; returns ``(code, next_index, n_fills)``.

    ``code`` is ``DONE`` or a ``NEED_*`` code telling the caller which array to grow
    before calling again with ``start=next_index``. ``status[i]`` gets each action's
    result code (``OK``, ``UNKNOWN_ORDER``, ...).
    """
    bump = MR.bump_on(rules)
    for i in range(start, actions.shape[0]):
        a = actions[i]
        if bump:  # waiting orders due first, each with room in the arrays
            n_fills, code = _release_due_code(a.t_ns, book, rules, fills, n_fills)
            if code != L.DONE:
                return code, i, n_fills
        code = needs(a.kind, a.price_tick, a.order_id, book, fills, n_fills)
        if code != L.DONE:
            return code, i, n_fills
        st, n_fills = apply_action(
            a.t_ns,
            a.kind,
            a.side,
            a.price_tick,
            a.qty,
            a.order_id,
            a.owner,
            book,
            rules,
            fills,
            n_fills,
        )
        status[i] = st
    return L.DONE, actions.shape[0], n_fills
