"""The pricer audited by the golden ``audit`` case: the reference grim-trigger pricer."""

from marketsim.agents.reference_pricers import GrimTriggerPricer as Factory  # noqa: F401
