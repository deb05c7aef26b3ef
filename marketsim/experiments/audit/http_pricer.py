"""A pricing algorithm behind an HTTP endpoint, audited like a Python object; its calls go
through the one HTTP client, :mod:`marketsim.http`."""

from __future__ import annotations

import uuid

import numpy as np

from marketsim.http import FailSafe, JSONClient


class HTTPPricer:
    """A pricing algorithm behind an HTTP endpoint.

    Each copy POSTs JSON to the endpoint: ``{"event": "reset", "copy": id, "n_firms",
    "firm", "seed"}`` once per session, then ``{"event": "price", "copy": id, "firm",
    "prices": [[...]], "profits": [[...]]}`` each period, and expects ``{"price": x}``
    (any JSON answer to ``reset``). Calls go through :class:`marketsim.http.JSONClient`,
    as the LLM backend's do: a deadline on the whole call, a reply-size cap, no redirect
    followed; transient failures (timeouts, refused connections, HTTP 5xx) are retried
    from one retry budget shared by all copies (``failsafe``), and after
    ``breaker_threshold`` consecutive failures a circuit breaker opens and every later
    call fails at once.
    """

    def __init__(
        self,
        url: str,
        timeout_s: float = 5.0,
        retry_budget: int = 20,
        breaker_threshold: int = 5,
        failsafe: FailSafe | None = None,
    ):
        self.url, self.timeout_s = url, float(timeout_s)
        self.failsafe = (
            failsafe if failsafe is not None else FailSafe(retry_budget, breaker_threshold)
        )
        self.client = JSONClient(url, timeout_s=timeout_s, failsafe=self.failsafe)
        self.copy = uuid.uuid4().hex[:12]

    def _post(self, body: dict):
        return self.client.post(body)

    def reset(self, n_firms: int, firm: int, seed: int) -> None:
        self._post(
            {"event": "reset", "copy": self.copy, "n_firms": n_firms, "firm": firm, "seed": seed}
        )
        self.firm = firm

    def price(self, prices, profits) -> float:
        reply = self._post(
            {
                "event": "price",
                "copy": self.copy,
                "firm": self.firm,
                "prices": np.asarray(prices).tolist(),
                "profits": np.asarray(profits).tolist(),
            }
        )
        if not isinstance(reply, dict) or "price" not in reply:
            raise ValueError(f"reply {str(reply)[:80]!r} has no 'price'")
        return reply["price"]
