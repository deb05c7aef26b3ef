"""Order-book traders: thin Mesa views over the struct-of-arrays state.

A :class:`Trader` holds only an index into its model's arrays (``kind``, ``params``,
``acct``, ``llm_model``); the event loop never sees it (Mesa is the shell, not the
loop). The model and its set-up are in :mod:`marketsim.scenarios._orderbook_market`.
"""

from __future__ import annotations

import mesa

from marketsim.agents._traders_layout import A_CASH, A_INV, KIND_NAMES, M_BIAS, M_ERROR, P_LLM_MODEL


class Trader(mesa.Agent):
    """A thin view of trader ``index`` of an order-book market model's arrays."""

    def __init__(self, model, index: int):
        super().__init__(model)
        self.index = int(index)

    @property
    def kind(self) -> str:
        return KIND_NAMES[int(self.model.kind[self.index])]

    @property
    def inventory(self) -> int:
        return int(self.model.acct[self.index, A_INV])

    @property
    def cash_ticks(self) -> int:
        return int(self.model.acct[self.index, A_CASH])


class LLMTrader(Trader):
    """A thin view of an LLM-style trader: its base model and that model's state."""

    @property
    def base_model(self) -> int:
        return int(self.model.params[self.index, P_LLM_MODEL])

    @property
    def model_bias(self) -> float:
        return float(self.model.llm_model[self.base_model, M_BIAS])

    @property
    def model_error(self) -> float:
        return float(self.model.llm_model[self.base_model, M_ERROR])
