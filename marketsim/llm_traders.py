r"""Behavioural proxies of LLM-style traders for the order book (numba kernels).

Each trader reads a shared news / narrative signal :math:`x_t` and the recent return
:math:`r_t` (in units of its standard deviation), adds its base model's bias :math:`b`
and current error :math:`e_t` (shared by every trader on that model, so a monoculture
correlates their intents), and forms the view

.. math::  v_t = w_x x_t + w_r r_t + b + \tau e_t;

it sends a market order of side :math:`\mathrm{sign}(v_t)` and size
:math:`\min(q_{max}, \lceil |v_t| / \theta \rceil q_u)` when :math:`|v_t| > \theta`.
The pricing counterpart (Fish, Gonczarowski & Shorrer 2024) is :mod:`marketsim.llm_proxy`,
which re-exports these names.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit

from marketsim.records import BUY, SELL

#: columns of the trader parameter table ``trader_params[K, N_TRADER_PARAMS]``
NEWS_WEIGHT = 0  #: weight on the shared news / narrative signal
TREND_WEIGHT = 1  #: weight on the recent return (>0 momentum, <0 contrarian)
THRESHOLD = 2  #: |signal| needed to send an order
QTY_UNIT = 3  #: contracts per threshold of signal
QTY_MAX = 4  #: cap on one order's quantity
T_TEMPERATURE = 5  #: scale of the base model's error
N_TRADER_PARAMS = 6

NO_ORDER = -1  #: side code when the trader stays out


@njit(cache=True, inline="always")
def trader_signal(news, trend, bias, error, news_weight, trend_weight, temperature):
    """An LLM-style trader's view: ``w_news news + w_trend trend + bias + temp error``.

    ``news`` is the shared news / narrative signal, ``trend`` the recent return in
    units of its standard deviation, ``bias`` and ``error`` the trader's base model's
    bias and current error (shared by every trader on that model).
    """
    return news_weight * news + trend_weight * trend + bias + temperature * error


@njit(cache=True, inline="always")
def trader_order(signal, threshold, qty_unit, qty_max):
    """``(side, qty)`` of the market order a signal calls for.

    Buys (sells) ``min(qty_max, ceil(|signal| / threshold) * qty_unit)`` contracts when
    ``signal > threshold`` (``< -threshold``); otherwise ``(NO_ORDER, 0)``.
    """
    if signal > threshold or signal < -threshold:
        units = math.ceil(abs(signal) / threshold) * qty_unit
        return (BUY if signal > 0.0 else SELL), np.int64(min(units, qty_max))
    return NO_ORDER, np.int64(0)
