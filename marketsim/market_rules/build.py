"""From policies to the ``rules`` array and back: :func:`rules_array` lays out the
parameters of the policies in force; :func:`rules_report` and :func:`owner_counts` read
the counters after a run (plain Python, outside the numba loop).
"""

from __future__ import annotations

import math

import numpy as np

from marketsim.market_rules import words as W
from marketsim.records import CLOSE_NS, OPEN_NS


def find_policy(policies, name: str):
    """The policy called ``name`` in a list of policy models (anything with ``.name``), or
    None. The models themselves are :mod:`marketsim.scenarios.policies`."""
    for p in policies:
        if p.name == name:
            return p
    return None


def rules_array(
    policies,
    *,
    tick_size: float,
    prev_close_tick: int,
    open_ns: int = OPEN_NS,
    close_ns: int = CLOSE_NS,
    n_owners: int = 0,
    fba_ioc_capacity: int = 4096,
    bump_capacity: int = 4096,
    halt_log_capacity: int = 4096,
) -> np.ndarray:
    """The ``rules`` array for a book under these policies (``marketsim.scenarios.policies``).

    Parameters
    ----------
    policies : list of policy models; ``luld``, ``mwcb``, ``min_rest``, ``halt``, ``fba``,
        ``speed_bump``, ``otr_cap``, ``tax`` and ``stop_logic`` are read
    tick_size : float, dollars per tick (LULD's price tiers are in dollars)
    prev_close_tick : int, previous close (MWCB reference and LULD's opening reference)
    n_owners : int, traders ``0 .. n_owners-1`` whose messages, trades and taxes are
        counted (the order-to-trade cap and the taxes need them; other owners are
        neither capped nor taxed)
    fba_ioc_capacity : int, IOC/market orders that may wait for one batch
    bump_capacity : int, orders that may wait in the speed bump at once (more are refused)
    halt_log_capacity : int, halts and pauses whose times are logged (:func:`halt_log`;
        more are counted, not logged); used only under a rule that halts

    Returns
    -------
    ndarray(int64); the first ``N_RULES`` words as :func:`marketsim.orderbook.default_rules`
    """
    find = find_policy
    luld, mwcb, rest = find(policies, "luld"), find(policies, "mwcb"), find(policies, "min_rest")
    halt, fba = find(policies, "halt"), find(policies, "fba")
    otr, tax, bump = find(policies, "otr_cap"), find(policies, "tax"), find(policies, "speed_bump")
    stop = find(policies, "stop_logic")
    if (otr or tax) and n_owners < 1:
        from marketsim.errors import UsageError

        raise UsageError(
            "n_owners: the otr_cap and tax rules count per trader; pass "
            "n_owners >= 1 to rules_array"
        )
    window = int(math.ceil(luld.reference_window_s)) if luld else 1
    halt_window = int(math.ceil(halt.window_s)) if halt else 1
    ioc_cap = int(fba_ioc_capacity) if fba else 0
    halt_at = W.X_RING + 3 * window
    ioc_at = halt_at + 3 * halt_window
    bump_cap = int(bump_capacity) if bump else 0
    bump_at = ioc_at + ioc_cap
    owners_at = bump_at + W.N_BUMP_WORDS * bump_cap
    log_at = owners_at + W.N_OWNER_WORDS * max(int(n_owners), 0)
    halting = luld or mwcb or halt or stop
    log_cap = int(halt_log_capacity) if halting else 0
    rules = np.zeros(log_at + W.N_LOG_WORDS * log_cap, dtype=np.int64)
    rules[W.X_LOG_AT], rules[W.X_LOG_CAP] = log_at, log_cap
    rules[W.X_BUMP_AT], rules[W.X_BUMP_CAP] = bump_at, bump_cap
    rules[W._R_BAND_LO], rules[W._R_BAND_HI] = W._NO_LO, W._NO_HI
    rules[W._R_STOP_LO], rules[W._R_STOP_HI] = W._NO_LO, W._NO_HI
    flags = 0
    rules[W.X_TICK_PPB] = round(tick_size * W._PPB)
    rules[W.X_OPEN_NS], rules[W.X_CLOSE_NS] = open_ns, close_ns
    rules[W.X_PREV_CLOSE_TICK] = prev_close_tick
    rules[W.X_REF_WINDOW_S] = window
    rules[W.X_HALT_WINDOW_S] = halt_window
    rules[W.X_HALT_RING_AT] = halt_at
    rules[W.X_FBA_IOC_AT], rules[W.X_FBA_IOC_CAP] = ioc_at, ioc_cap
    rules[W.X_N_OWNERS], rules[W.X_OWNERS_AT] = max(int(n_owners), 0), owners_at
    if luld:
        flags |= W.F_LULD
        rules[W.X_TIER] = luld.tier
        rules[W.X_BAND_PPB] = 0 if luld.band_pct is None else round(luld.band_pct * W._PPB)
        rules[W.X_REF_UPDATE_PPB] = round(luld.reference_update_pct * W._PPB)
        rules[W.X_LIMIT_NS] = round(luld.limit_state_s * 1e9)
        rules[W.X_PAUSE_NS] = round(luld.pause_s * 1e9)
        rules[W.X_DOUBLE_OPEN_NS] = round(luld.double_open_s * 1e9)
        rules[W.X_DOUBLE_CLOSE_NS] = round(luld.double_close_s * 1e9)
        rules[W._R_SLIDE] = 1 if luld.reprice_to_band else 0
    if mwcb:
        flags |= W.F_MWCB
        rules[W.X_MWCB_N] = len(mwcb.levels)
        for j, lv in enumerate(mwcb.levels):
            rules[W.X_MWCB_L0 + j] = round(lv * W._PPB)
        rules[W.X_MWCB_HALT_NS] = round(mwcb.halt_s * 1e9)
        rules[W.X_MWCB_CUTOFF_NS] = round(mwcb.no_halt_after_s * 1e9)
    if rest:
        flags |= W.F_MIN_REST
        rules[W.X_MIN_REST_NS] = round(rest.min_rest_ms * 1e6)
    if halt:
        flags |= W.F_HALT
        rules[W.X_HALT_PPB] = round(halt.move_pct * W._PPB)
        rules[W.X_HALT_NS] = round(halt.halt_s * 1e9)
    if fba:
        flags |= W.F_FBA
        rules[W.X_FBA_NS] = max(1, round(fba.interval_ms * 1e6))
        rules[W.X_FBA_NEXT_NS] = open_ns + rules[W.X_FBA_NS]
    if bump and bump.delay_us > 0:
        flags |= W.F_BUMP
        rules[W.X_BUMP_NS] = round(bump.delay_us * 1e3)
    if otr:
        flags |= W.F_OTR
        rules[W.X_OTR_RATIO_MILLI] = round(otr.max_ratio * 1000)
        rules[W.X_OTR_WINDOW_NS] = max(1, round(otr.window_s * 1e9))
    if tax:
        flags |= W.F_TAX
        rules[W.X_CANCEL_TAX_UTICKS] = round(tax.cancel_tax_ticks * W.UTICKS_PER_TICK)
        rules[W.X_CANCEL_WINDOW_NS] = round(tax.cancel_window_ms * 1e6)
        # bps of the notional in micro-ticks per tick of notional: 1 bp = 100 uticks/tick
        rules[W.X_TRADE_TAX_URATE] = round(tax.trade_tax_bps * 100)
    if stop:
        # the CME reopens a paused instrument with an opening call (no other way)
        flags |= W.F_STOP | W.F_REOPEN
        rules[W._R_STOP] = W._STOP_ON
        rules[W.X_SL_PPB] = round(stop.band_pct * W._PPB)
        rules[W.X_SL_PAUSE_NS] = round(stop.pause_s * 1e9)
        rules[W.X_SL_T_NS] = -1
    if any(p is not None and p.reopening == "auction" for p in (luld, mwcb, halt)):
        flags |= W.F_REOPEN
    rules[W.X_FLAGS] = flags
    rules[W.X_LIMIT_SINCE] = -1
    rules[W.X_LAST_TICK] = prev_close_tick
    rules[W.X_REF_MILLI] = 1000 * prev_close_tick
    rules[W.X_RING : halt_at : 3] = -1  # no second stamped yet
    rules[halt_at:ioc_at:3] = -1
    return rules


def rules_report(rules: np.ndarray) -> dict:
    """The rules' counters for a run summary (times in seconds, taxes in ticks)."""
    if rules.shape[0] <= W.N_RULES:  # no rules: nothing halted, nothing refused
        return {
            "seconds_halted": 0.0,
            "luld_pauses": 0,
            "seconds_in_limit_state": 0.0,
            "mwcb_levels_fired": 0,
            "market_closed_by_mwcb": False,
            "actions_refused_min_rest": 0,
            "single_stock_halts": 0,
            "batches_with_trades": 0,
            "actions_refused_otr": 0,
            "tax_collected_ticks": 0.0,
            "orders_delayed": 0,
            "reopening_auctions": 0,
            "reopening_volume": 0,
            "stop_logic_pauses": 0,
        }
    return {
        "seconds_halted": int(rules[W.X_HALTED_NS]) / 1e9,
        "luld_pauses": int(rules[W.X_N_PAUSES]),
        "seconds_in_limit_state": int(rules[W.X_LIMIT_NS_TOTAL]) / 1e9,
        "mwcb_levels_fired": int(rules[W.X_N_MWCB]),
        "market_closed_by_mwcb": bool(rules[W.X_CLOSED]),
        "actions_refused_min_rest": int(rules[W.X_N_REFUSED]),
        "single_stock_halts": int(rules[W.X_N_HALTS]),
        "batches_with_trades": int(rules[W.X_N_BATCHES]),
        "actions_refused_otr": int(rules[W.X_N_REFUSED_OTR]),
        "tax_collected_ticks": int(rules[W.X_REGULATOR_UTICKS]) / W.UTICKS_PER_TICK,
        "orders_delayed": int(rules[W.X_N_DELAYED]),
        "reopening_auctions": int(rules[W.X_N_REOPENINGS]),
        "reopening_volume": int(rules[W.X_REOPEN_VOLUME]),
        "stop_logic_pauses": int(rules[W.X_N_STOPS]),
    }


def halt_log(rules: np.ndarray) -> dict:
    """The halts and pauses of a session, in the order they started, as the rules logged
    them: ``start_ns``, ``end_ns`` (ns since midnight; the end of a halt extended while in
    force is its last end; a market closed by MWCB ends at the close) and ``cause``
    (names of :data:`HALT_CAUSES`; of a halt extended while in force, the extending
    cause), each an array of one length, and ``not_logged``
    (halts beyond the log's capacity: counted, their times lost)."""
    if rules.shape[0] <= W.N_RULES or rules[W.X_LOG_CAP] == 0:
        z = np.zeros(0, dtype=np.int64)
        return {"start_ns": z, "end_ns": z, "cause": np.array([], dtype=object), "not_logged": 0}
    n = int(rules[W.X_LOG_N])
    kept = min(n, int(rules[W.X_LOG_CAP]))
    at = int(rules[W.X_LOG_AT])
    block = rules[at : at + W.N_LOG_WORDS * kept].reshape(kept, W.N_LOG_WORDS)
    return {
        "start_ns": block[:, 0].copy(),
        "end_ns": block[:, 1].copy(),
        "cause": np.array([W.HALT_CAUSES[int(c)] for c in block[:, 2]], dtype=object),
        "not_logged": n - kept,
    }


def owner_counts(rules: np.ndarray) -> dict[str, np.ndarray]:
    """Per-owner counters: ``messages`` and ``trades`` (current OTR window) and
    ``tax_uticks`` (whole session, micro-ticks), each ``ndarray(int64, (n_owners,))``;
    ``regulator_uticks`` is their sum of taxes."""
    n = int(rules[W.X_N_OWNERS]) if rules.shape[0] > W.N_RULES else 0
    if n == 0:
        z = np.zeros(0, dtype=np.int64)
        return {"messages": z, "trades": z, "tax_uticks": z, "regulator_uticks": 0}
    at = int(rules[W.X_OWNERS_AT])
    block = rules[at : at + W.N_OWNER_WORDS * n].reshape(n, W.N_OWNER_WORDS)
    return {
        "messages": block[:, W.OW_MESSAGES].copy(),
        "trades": block[:, W.OW_TRADES].copy(),
        "tax_uticks": block[:, W.OW_TAX].copy(),
        "regulator_uticks": int(rules[W.X_REGULATOR_UTICKS]),
    }
