"""The LLM pricing market's outputs: per-session rows (limit cycle, outcome, profit gain,
the one-period deviation and its punishment) and the run summary; see
:mod:`marketsim.scenarios.llm_pricing` for the model and the definitions.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import polars as pl

from marketsim.logit import LogitMarket, price_index, profit_gain
from marketsim.mixed import MixedMarkets
from marketsim.scenarios._pricing import OUTCOMES, logit_summary

if TYPE_CHECKING:
    from marketsim.scenarios.llm_pricing import LLMPricingModel

IMPULSE_PRE = 3
#: rivals price this much below the undisturbed copy: a punishment period
PUNISH_TOL = 0.01


def _best_response(market: LogitMarket, prices: np.ndarray, firm: int) -> np.ndarray:
    """Static best response of ``firm`` to the others' ``prices`` (M, n): p = c + mu/(1-q)."""
    p = prices.copy()
    c, mu = market.c[firm], market.mu
    for _ in range(200):
        q = market.shares(p)[:, firm]
        p[:, firm] = 0.5 * p[:, firm] + 0.5 * (c + mu / (1.0 - q))
    return p[:, firm]


def _grid(market: LogitMarket) -> np.ndarray:
    if market.n == 1:  # Nash = monopoly: a grid of +-50% of the markup around it
        pm, c = market.monopoly_prices(), market.c
        return np.linspace(c + 0.5 * (pm - c), pm + 0.5 * (pm - c), 15, axis=-1)
    return market.price_grid(15, 0.1)


def _impulse(model: LLMPricingModel):
    """Deviation and undisturbed copies after the run; see the module docstring."""
    spec, mk = model.spec, model.market
    H = spec.impulse_periods
    base = model.markets.copy()
    base.extend(H + 1)
    dev = base.copy()
    T = model.markets.T
    for run, deviate in ((base, False), (dev, True)):
        run.propose()
        if deviate:
            last = run.prices[:, T - 1, :].copy()
            run.prices[:, T, 0] = _best_response(mk, last, 0)
        run.settle()
        run.advance(H)
    disc = spec.delta ** np.arange(H + 1)
    gain = ((dev.profits[:, T:, 0] - base.profits[:, T:, 0]) * disc).sum(axis=1)
    rival_dev = dev.rival[:, T + 1 :, 0]
    rival_base = base.rival[:, T + 1 :, 0]
    response = (rival_dev[:, 0] - rival_base[:, 0]) / rival_base[:, 0]
    punish = (rival_dev < rival_base * (1.0 - PUNISH_TOL)).sum(axis=1)
    path = dev.prices[:, T - IMPULSE_PRE :, :]  # (M, IMPULSE_PRE + H + 1, n)
    return gain, response, punish.astype(float), path


def session_tables(model: LLMPricingModel, seed: int):
    """The per-session and impulse tables of a finished model (calvano2020 columns)."""
    spec, mk, pm = model.spec, model.market, model.markets
    n, N, T = pm.n, pm.M, spec.periods
    pn, pmon = mk.nash_prices(), mk.monopoly_prices()
    pin, pim = mk.nash_profits().mean(), mk.monopoly_profits().mean()
    grid = _grid(mk)
    step = grid[0, 1] - grid[0, 0]
    w0 = min(spec.eval_start, T - 1)
    P = pm.prices[:, w0:T, :]
    Pi = pm.profits[:, w0:T, :]
    L = T - w0
    idx = np.stack(
        [np.abs(P[:, :, i, None] - grid[i]).argmin(axis=-1) for i in range(n)], axis=2
    )  # (N, L, n)
    # convergence: the last period out of the band around the tail mean
    tail = min(spec.conv_tail, T)
    tail_mean = pm.prices[:, T - tail : T, :].mean(axis=1)
    out_band = (
        np.abs(pm.prices[:, :T, :] - tail_mean[:, None, :]) > spec.conv_tol * tail_mean[:, None, :]
    )
    out_any = out_band.any(axis=2)
    last_out = np.where(out_any.any(axis=1), T - 1 - np.argmax(out_any[:, ::-1], axis=1), -1)
    settled_at = last_out + 1
    converged = settled_at <= T - tail
    # outcome
    tail_p = pm.prices[:, T - tail : T, :]
    sd = tail_p.std(axis=1)
    means = tail_p.mean(axis=1)
    const = (sd < step / 2).all(axis=1)
    sym = (means.max(axis=1) - means.min(axis=1)) < step / 2
    lag2 = np.abs(tail_p[:, 2:] - tail_p[:, :-2]).mean(axis=(1, 2))
    lag1 = np.abs(tail_p[:, 1:] - tail_p[:, :-1]).mean(axis=(1, 2))
    two = (lag2 < step / 2) & (lag1 > lag2)
    outcome = np.where(
        const, np.where(sym, OUTCOMES[0], OUTCOMES[1]), np.where(two, OUTCOMES[2], OUTCOMES[3])
    )
    # Nash on path, on the grid at the snapped mean prices
    mean_idx = np.stack(
        [np.abs(P[:, :, i].mean(axis=1)[:, None] - grid[i]).argmin(axis=1) for i in range(n)],
        axis=1,
    )
    nash = np.ones(N, dtype=bool)
    if n > 1:
        for i in range(n):
            cand = np.repeat(grid[np.arange(n), mean_idx][:, None, :], grid.shape[1], axis=1)
            cand[:, :, i] = grid[i][None, :]
            br = mk.profits(cand)[:, :, i].argmax(axis=1)
            nash &= br == mean_idx[:, i]
    cols: dict[str, object] = {
        "session": model.start + np.arange(N, dtype=np.int64),
        "seed": np.full(N, seed, dtype=np.int64),
        "converged": converged,
        "periods": np.where(converged, settled_at, T).astype(np.int64),
        "cycle_length": np.full(N, L, dtype=np.int64),
    }
    for i in range(n):
        cols[f"cycle_action_firm{i + 1}"] = [row.tolist() for row in idx[:, :, i]]
        cols[f"cycle_prices_firm{i + 1}"] = [row.tolist() for row in P[:, :, i]]
        cols[f"cycle_profit_firm{i + 1}"] = Pi[:, :, i].mean(axis=1)
    price_mean = P.mean(axis=(1, 2))
    profit_mean = Pi.mean(axis=(1, 2))
    span_p = pmon.mean() - pn.mean()
    defined = n > 1 and span_p > 1e-9
    cols["price_mean"] = price_mean
    nan = np.full(N, np.nan)
    cols["price_index"] = price_index(price_mean, pn.mean(), pmon.mean()) if defined else nan
    cols["profit_gain"] = profit_gain(profit_mean, pin, pim) if defined else nan
    cols["outcome"] = outcome.tolist()
    cols["nash_on_path"] = nash
    cols["static_nash_on_path"] = nash
    if n > 1:
        gain, response, punish, path = _impulse(model)
    else:
        gain, response, punish = np.zeros(N), np.full(N, np.nan), np.zeros(N)
        path = pm.prices[:, T - IMPULSE_PRE : T, :]
    cols["deviation_gain"] = gain
    cols["deviation_profitable"] = gain > 1e-12
    cols["rival_response"] = response
    cols["punishment_length"] = punish
    ratio = Pi.mean(axis=2) / mk.monopoly_profits().mean()
    cols["profit_ratio"] = ratio.mean(axis=1)
    cols["optimal_share"] = (ratio >= 0.99).mean(axis=1)
    cols["above_nash_share"] = (P.mean(axis=2) > pn.mean()).mean(axis=1) if n > 1 else np.ones(N)
    cols["belief_mean"] = pm.belief.mean(axis=1)
    cols["fear_mean"] = pm.fear.mean(axis=1)
    if isinstance(pm, MixedMarkets):
        cols["q_pretrain_periods"] = pm.pretrain_periods
        cols["q_pretrain_converged"] = pm.pretrain_converged
        cols["q_strategy_changes"] = pm.changes
    sessions = pl.DataFrame(cols)
    Tn = path.shape[1]
    impulse = pl.DataFrame(
        {
            "session": model.start + np.repeat(np.arange(N, dtype=np.int64), n * Tn),
            "t": np.tile(np.arange(Tn, dtype=np.int64) - IMPULSE_PRE, N * n),
            "firm": np.tile(np.repeat(np.arange(1, n + 1, dtype=np.int64), Tn), N),
            "price": np.transpose(path, (0, 2, 1)).reshape(-1),
        }
    )
    return sessions, impulse


def summarise(sessions: pl.DataFrame, model: LLMPricingModel) -> dict:
    """Summary figures (the calvano2020 keys plus the LLM-proxy ones)."""
    mk = model.market
    out = {
        **logit_summary(sessions, mk, _grid(mk)),
        "profit_ratio_mean": sessions["profit_ratio"].mean(),
        "optimal_share_mean": sessions["optimal_share"].mean(),
        "above_nash_share_mean": sessions["above_nash_share"].mean(),
        "price_scale": model.spec.price_scale,
    }
    if "q_pretrain_periods" in sessions.columns:
        n = model.market.n
        prices = np.stack(
            [sessions[f"cycle_prices_firm{i + 1}"].list.mean().to_numpy() for i in range(n)], axis=1
        )
        pn, pmon = mk.nash_prices().mean(), mk.monopoly_prices().mean()
        out["qlearning"] = {
            "pretrain_periods_mean": sessions["q_pretrain_periods"].mean(),
            "pretrain_converged_share": sessions["q_pretrain_converged"].mean(),
            "strategy_changes_mean": sessions["q_strategy_changes"].mean(),
            "proxy_price_index_mean": float(price_index(prices[:, 0], pn, pmon).mean()),
            "learner_price_index_mean": float(price_index(prices[:, 1:], pn, pmon).mean()),
            "pretrain_seconds": model.pretrain_seconds,
        }
    if model.backend is not None:
        out["llm"] = model.backend.counts()
    return out
