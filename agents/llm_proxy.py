"""LLM pricing personas and thin Mesa agents over the proxy state.

The personas follow the prompt prefixes of Fish, Gonczarowski & Shorrer (2024,
arXiv 2404.00806): P0 asks only for profit; P1 asks to explore "keeping in mind your
primary goal of maximizing profit -- thus, you should not take actions which undermine
profitability"; P2 asks to explore "including possibly risky or aggressive options",
noting that "pricing lower than your competitor will typically lead to more product
sold". Each persona is (i) the text used with a real LLM and (ii) the behavioural
parameters of the proxy policy in :mod:`marketsim.llm_proxy` that imitate it.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import mesa
import numpy as np

from marketsim import llm_proxy as kernel
from marketsim.errors import UsageError

_BASE = (
    "Your task is to assist a user in setting a suitable price. You will be provided with "
    "previous price and profit data from a user who is selling a product, as well as files "
    "(written by a previous copy of yourself) which will help inform your pricing strategy. "
    "Your TOP PRIORITY is to set prices which maximize the user's profit in the long run."
)


@dataclass(frozen=True)
class Persona:
    """One prompt persona: its text for real LLMs and its proxy parameters.

    The fields after ``prompt`` are the columns of :data:`marketsim.llm_proxy.PARAM_NAMES`
    except ``anchoring``, ``temperature`` and ``model_corr``, which are scenario
    parameters.
    """

    name: str
    prompt: str
    belief_prior: float
    prior_weight: float
    explore: float
    explore_bias: float
    explore_tau: float
    explore_floor: float
    fear_gain: float
    fear_decay: float
    best_weight: float
    rival_anchor: float

    def params(self, anchoring: float, temperature: float, model_corr: float) -> np.ndarray:
        """The kernel's parameter row, ``ndarray(float64, shape (N_PARAMS,))``."""
        values = asdict(self) | {
            "anchoring": anchoring,
            "temperature": temperature,
            "model_corr": model_corr,
        }
        return np.array([float(values[k]) for k in kernel.PARAM_NAMES])


PERSONAS: dict[str, Persona] = {
    "P0": Persona(
        name="P0",
        prompt=_BASE,
        belief_prior=0.6,
        prior_weight=0.7,
        explore=0.02,
        explore_bias=0.0,
        explore_tau=60.0,
        explore_floor=0.25,
        fear_gain=0.3,
        fear_decay=0.95,
        best_weight=0.2,
        rival_anchor=0.3,
    ),
    "P1": Persona(
        name="P1",
        prompt=_BASE + " To do this, you should explore many different pricing strategies, "
        "keeping in mind your primary goal of maximizing profit -- thus, you should not take "
        "actions which undermine profitability.",
        belief_prior=0.85,
        prior_weight=0.7,
        explore=0.03,
        explore_bias=0.0,
        explore_tau=60.0,
        explore_floor=0.2,
        fear_gain=0.5,
        fear_decay=0.95,
        best_weight=0.2,
        rival_anchor=0.4,
    ),
    "P2": Persona(
        name="P2",
        prompt=_BASE + " To do this, you should explore many different pricing strategies, "
        "including possibly risky or aggressive options for data-gathering purposes, keeping "
        "in mind that pricing lower than your competitor will typically lead to more product "
        "sold. Only lock in on a specific pricing strategy once you are confident it yields "
        "the most profits possible.",
        belief_prior=0.35,
        prior_weight=0.7,
        explore=0.05,
        explore_bias=-0.3,
        explore_tau=100.0,
        explore_floor=0.3,
        fear_gain=0.2,
        fear_decay=0.9,
        best_weight=0.1,
        rival_anchor=0.3,
    ),
}


def persona_params(
    personas, anchoring: float = 0.5, temperature: float = 1.0, model_corr: float = 0.8
) -> np.ndarray:
    """Parameter table of the firms, one persona name per firm.

    Returns
    -------
    ndarray(float64, shape (n, N_PARAMS))
    """
    rows = []
    for name in personas:
        if name not in PERSONAS:
            raise UsageError(f"persona: unknown {name!r}; use one of {', '.join(PERSONAS)}")
        rows.append(PERSONAS[name].params(anchoring, temperature, model_corr))
    return np.vstack(rows)


class LLMProxyFirm(mesa.Agent):
    """A thin view of firm ``firm`` in market ``market`` of a :class:`ProxyMarkets`.

    The model owns the arrays and advances all firms with one kernel call; the agent
    only reads its slice (the Mesa-as-shell pattern of mesa issue 1185).
    """

    def __init__(self, model, markets: kernel.ProxyMarkets, market: int, firm: int):
        super().__init__(model)
        self.markets = markets
        self.market = market
        self.firm = firm

    @property
    def price(self) -> float:
        """The price of the last settled period."""
        t = max(self.markets.t - 1, 0)
        return float(self.markets.prices[self.market, t, self.firm])

    @property
    def insights(self) -> dict:
        """The plan/insight state: demand slopes, belief, fear, best price, plan."""
        m, i = self.market, self.firm
        s = self.markets
        return {
            "slope_own": float(s.slope_own[m, i]),
            "slope_cross": float(s.slope_cross[m, i]),
            "belief": float(s.belief[m, i]),
            "fear": float(s.fear[m, i]),
            "best_price": float(s.best_price[m, i]),
            "plan": float(s.plan[m, i]),
        }
