r"""Collusion measures under a known demand model (Calvano, Calzolari, Denicolò & Pastorello
2020, AER).

Profit gain :math:`\Delta = (\bar\pi - \pi^N)/(\pi^M - \pi^N)` and normalised price index
:math:`(\bar p - p^N)/(p^M - p^N)` against the one-shot Nash (0) and joint monopoly (1)
benchmarks of a :class:`~marketsim.logit.LogitMarket`; the formulas live in
:mod:`marketsim.logit`. This module gives them the detectors' signature and summarises a price
path (``demand_model_measures``) for :func:`~marketsim.analysis.collusion.detect_collusion`.
"""

from __future__ import annotations

import numpy as np

from marketsim import logit
from marketsim.errors import UsageError


def collusion_benchmarks(market) -> dict:
    """Nash and joint-monopoly prices and profits of a :class:`LogitMarket` (per firm)."""
    return {
        "nash_price": market.nash_prices().tolist(),
        "monopoly_price": market.monopoly_prices().tolist(),
        "nash_profit": market.nash_profits().tolist(),
        "monopoly_profit": market.monopoly_profits().tolist(),
    }


def profit_gain(profits, market) -> np.ndarray:
    r"""Profit gain :math:`\Delta = (\pi - \pi^N)/(\pi^M - \pi^N)` per firm (last axis).

    The formula is :func:`marketsim.logit.profit_gain`.

    Parameters
    ----------
    profits : ndarray(float64, shape (..., n))
    market : LogitMarket
    """
    return market.profit_gain(profits)


def price_index(prices, market) -> np.ndarray:
    r"""Normalised price :math:`(p - p^N)/(p^M - p^N)` per firm (last axis).

    The formula is :func:`marketsim.logit.price_index`.
    """
    return market.price_index(prices)


def demand_model_measures(wide: np.ndarray, market) -> dict:
    """Average profit gain and price index of a price path under a known market.

    Parameters
    ----------
    wide : ndarray(float64, shape (T, n))
        Prices, one column per firm (in the market's firm order).
    """
    if wide.shape[1] != market.n:
        raise UsageError(f"the data have {wide.shape[1]} firms but the market has {market.n}")
    prof = market.profits(wide).mean(axis=0)
    pn, pm = market.nash_profits(), market.monopoly_profits()
    delta = float(logit.profit_gain(prof.mean(), pn.mean(), pm.mean()))
    pi_ = float(price_index(wide, market).mean())
    return {
        "profit_gain": delta,
        "profit_gain_by_firm": profit_gain(prof, market).tolist(),
        "price_index": pi_,
        "flagged": bool(delta > 0.5),
        "verdict": (
            f"profit gain Delta = {delta:.2f}, price index {pi_:.2f} (0 = Nash, 1 = joint monopoly)"
        ),
        **collusion_benchmarks(market),
    }
