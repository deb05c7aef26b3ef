"""The layout of the ``rules`` array: the book's own words, the rules' parameters and
state (``X_*``), their flags (``F_*``) and units; declared once, read by every rules module.
"""

from __future__ import annotations

import numpy as np

#: policies the order-book scenarios accept. Under ``fba`` the traders are batch-aware
#: (agents/traders.py): they read the last clearing price while the book is crossed
#: between batches, and the market makers bid in the batch for their share of stale
#: orders instead of picking them off (before, flash_crash_2010 v2, seed 0, 2,400 s,
#: fell 50% on 430 times the volume)
BOOK_RULES_IMPLEMENTED = (
    "luld",
    "mwcb",
    "min_rest",
    "halt",
    "fba",
    "speed_bump",
    "otr_cap",
    "tax",
    "stop_logic",
)

N_RULES = 8  # the matching kernel's own words (marketsim.orderbook.N_RULES)
_R_HALTED, _R_BAND_LO, _R_BAND_HI, _R_SLIDE = 0, 1, 2, 3
#: stop logic's book words (marketsim.orderbook.R_STOP*) and R_STOP's values
_R_STOP, _R_STOP_LO, _R_STOP_HI = 4, 5, 6
_STOP_ON, _STOP_HIT = 1, 2
_NO_LO = np.iinfo(np.int64).min
_NO_HI = np.iinfo(np.int64).max
_PPB = 1_000_000_000

# --- parameters and state (offsets into rules) ----------------------------------------
(
    X_FLAGS,
    X_TICK_PPB,
    X_TIER,
    X_BAND_PPB,
    X_REF_WINDOW_S,
    X_LIMIT_NS,
    X_PAUSE_NS,
    X_OPEN_NS,
    X_CLOSE_NS,
    X_DOUBLE_OPEN_NS,
    X_DOUBLE_CLOSE_NS,
    X_PREV_CLOSE_TICK,
    X_MWCB_N,
    X_MWCB_L0,
    X_MWCB_L1,
    X_MWCB_L2,
    X_MWCB_L3,
    X_MWCB_L4,
    X_MWCB_HALT_NS,
    X_MWCB_CUTOFF_NS,
    X_MIN_REST_NS,
    X_HALT_PPB,
    X_HALT_WINDOW_S,
    X_HALT_NS,
    X_HALT_RING_AT,
    X_FBA_NS,
    X_FBA_NEXT_NS,
    X_FBA_IOC_AT,
    X_FBA_IOC_CAP,
    X_FBA_IOC_N,
    X_OTR_RATIO_MILLI,
    X_OTR_WINDOW_NS,
    X_CANCEL_TAX_UTICKS,
    X_CANCEL_WINDOW_NS,
    X_TRADE_TAX_URATE,
    X_N_OWNERS,
    X_OWNERS_AT,
    X_HALT_UNTIL,
    X_CLOSED,
    X_LIMIT_SINCE,
    X_MWCB_FIRED,
    X_HALTED_NS,
    X_N_PAUSES,
    X_N_MWCB,
    X_LAST_TICK,
    X_LIMIT_NS_TOTAL,
    X_REF_MILLI,
    X_N_REFUSED,
    X_N_HALTS,
    X_N_BATCHES,
    X_BATCH_VOLUME,
    X_N_REFUSED_OTR,
    X_REGULATOR_UTICKS,
    X_BUMP_NS,
    X_BUMP_AT,
    X_BUMP_CAP,
    X_BUMP_HEAD,
    X_BUMP_N,
    X_N_DELAYED,
    X_REF_UPDATE_PPB,
    X_REOPEN_PENDING,
    X_N_REOPENINGS,
    X_REOPEN_VOLUME,
    X_SL_PPB,
    X_SL_PAUSE_NS,
    X_SL_T_NS,
    X_SL_REF_TICK,
    X_N_STOPS,
    X_LOG_AT,
    X_LOG_CAP,
    X_LOG_N,
    X_RING,
) = range(N_RULES, N_RULES + 72)
#: flags
F_LULD, F_MWCB, F_MIN_REST, F_HALT, F_FBA, F_OTR, F_TAX, F_BUMP = 1, 2, 4, 8, 16, 32, 64, 128
F_REOPEN = 256  # halts and pauses end with a reopening call auction
F_STOP = 512  # stop logic
#: the LULD ring at ``X_RING``: per slot (second stamp, sum of trade ticks, trade count);
#: the halt ring at ``rules[X_HALT_RING_AT]``: per slot (second stamp, min tick, max tick);
#: the pending batch-auction IOC ids at ``rules[X_FBA_IOC_AT]``; the owner block at
#: ``rules[X_OWNERS_AT]``: per owner (window index, messages, trades, tax in micro-ticks);
#: the speed-bump ring at ``rules[X_BUMP_AT]``: per entry (release time, kind, side,
#: price, qty, order id, owner); the halt log at ``rules[X_LOG_AT]``: per halt or pause
#: (start, end in ns since midnight, cause ``HALT_*``), ``X_LOG_CAP`` entries, the first
#: ``X_LOG_CAP`` of the ``X_LOG_N`` halts (a halt extended while in force is one entry,
#: with the cause of the last extension)
OW_WINDOW, OW_MESSAGES, OW_TRADES, OW_TAX = range(4)
N_OWNER_WORDS = 4
N_BUMP_WORDS = 7
N_LOG_WORDS = 3
#: what started a halt or pause (the halt log's cause word)
HALT_LULD, HALT_MWCB, HALT_MWCB_CLOSE, HALT_SINGLE_STOCK, HALT_STOP_LOGIC = 1, 2, 3, 4, 5
#: cause word -> name in ``halts.parquet``
HALT_CAUSES = {
    HALT_LULD: "luld_pause",
    HALT_MWCB: "mwcb_halt",
    HALT_MWCB_CLOSE: "mwcb_close",
    HALT_SINGLE_STOCK: "single_stock_halt",
    HALT_STOP_LOGIC: "stop_logic_pause",
}
#: taxes are accounted in micro-ticks (1e-6 tick), exact integers
UTICKS_PER_TICK = 1_000_000


#: what ``from marketsim.market_rules.words import *`` (and so :mod:`marketsim.market_rules`)
#: exports: every public upper-case word, flag and unit above
__all__ = [name for name in list(globals()) if name.isupper() and not name.startswith("_")]
