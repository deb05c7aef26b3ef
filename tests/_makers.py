"""Market makers requoting by hand: the market state they read set first (shared by the
tests of their withdrawal rules)."""

from __future__ import annotations

import numpy as np

from marketsim.agents import traders as T
from marketsim.agents._traders_intermediaries import _market_maker
from marketsim.agents.traders import Market
from marketsim.orderbook import layout as L

#: a short flash_crash_2010 session: the programme of 6,000 contracts a minute in
SHORT_CRASH = {
    "session_seconds": 900,
    "warmup_seconds": 60,
    "chunk_seconds": 1,
    "programme_start_s": 60,
    "programme_qty": 6000,
}


def requote_all(model, *, impact: float = 0.0, vpin=None, inv=None) -> np.ndarray:
    """Every maker of ``model`` requotes with the volatility inside its tolerance, the
    order-flow impact ``impact``, the VPIN ``vpin`` (unchanged if None) and, as each
    requotes, inventory ``inv`` (unchanged if None: the others' new quotes may have traded
    with it); returns their quoting flags (1 bid, 2 offer)."""
    model.g[T.G_VAR] = 1.0
    model.g[T.G_IMPACT] = impact
    if vpin is not None:
        model.g[T.G_VPIN] = vpin
    book = L.Book(model.levels, model.orders, model.oid_slot, model.bstate)
    market = Market(book, model.rules, model.fills, model.g, model.gi)
    makers = np.flatnonzero(model.kind == T.MARKET_MAKER)
    for i in makers:
        if inv is not None:
            model.acct[i, T.A_INV] = inv
        _market_maker(i, model.t_ns, False, market, model.trader_arrays)
    model._drain()
    return model.acct[makers, T.A_QUOTING].copy()
