"""marketsim: numba kernels for logit Bertrand markets, Q-learning and limit order books."""

from marketsim.errors import UsageError

__all__ = ["UsageError"]
