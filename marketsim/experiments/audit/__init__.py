r"""Audit harness: stress-test a third party's pricing algorithm for collusive behaviour.

The algorithm under audit is a black box with ``reset(n_firms, firm, seed)`` and
``price(prices, profits) -> float`` (history arrays of shape ``(t, n_firms)``, rows in
time order), given as a Python factory or an HTTP endpoint (:class:`HTTPPricer`). It is
placed in the Calvano et al. (2020) logit market and put through a battery:

1. **self-play**: ``n`` copies compete for ``periods`` periods; per session the price
   index :math:`(\bar p - p^N)/(p^M - p^N)` and profit gain
   :math:`\Delta = (\bar\pi - \pi^N)/(\pi^M - \pi^N)` over the last quarter of the
   periods, with a 95% t-interval of the mean over sessions;
2. **rivals**: one copy (firm 1) against reference rivals: a Calvano Q-learner trained
   with Q-learning partners (greedy, grid prices), a competitive static-best-response
   pricer and the LLM proxies of personas P0, P1 and P2;
3. **punishment** (impulse response, Calvano et al. 2020 Section V): each self-play
   session is replayed with the same seed, and at period ``t_d = periods`` firm 1 is
   forced to its static best response to firm 2's price; afterwards both copies play on.
   The measure is firm 2's (the audited copy deviated against) own reaction against the
   undisturbed run: the largest price cut over the next ``punish_window`` periods in
   units of :math:`p^M - p^N`, and the deviator's discounted (``delta = 0.95``) profit
   over ``horizon`` periods relative to the undisturbed run; the mean prices of both
   firms over :math:`t_d - 2 .. t_d + 10`, with and without the deviation, are kept as
   ``mean_path`` for the report;
4. **retraining**: the audited copy (firm 2) is frozen on its self-play path and firm 1
   is replaced from ``t_d`` by a searched rival strategy (each constant price of five on
   :math:`[p^N, p^M]`, and static best response play); a strategy earning more than the
   undisturbed copy (discounted over ``horizon``) is a more profitable deviation. This
   is a policy search standing in for re-learning, cheap enough for a Python algorithm;
5. **robustness**: self-play under i.i.d. demand shocks to the qualities (sd
   ``shock_sd``), with three firms, and with asymmetric costs (firm 2's cost
   ``1 + cost_gap``).

Verdict (``audit.json`` ``verdict``, with the evidence of every test):

* supra-competitive: the self-play :math:`\Delta` interval lies above ``threshold``
  (0.2); competitive: its upper end is at most ``threshold``;
* punishment: in at least ``punish_share`` (half) of the sessions with room to deviate
  the audited copy cuts its price by at least ``punish_cut`` (0.1) of
  :math:`p^M - p^N` within ``punish_window`` (5) periods *and* the deviation does not
  pay; if the deviation has no room (prices already at the static best response) the
  test is not applicable;
* ``collusive`` = supra-competitive and punishment; ``supra_competitive_without_punishment``
  = supra-competitive, punishment measured and absent; ``competitive`` = competitive;
  ``inconclusive`` = self-play or punishment not measured, or the interval straddles the
  threshold. Rival, retraining and robustness results are evidence reported beside it.

Failures: every call into the audited algorithm runs on a daemon worker thread and is
cut off after ``call_timeout`` seconds (``reset_timeout`` for ``reset``); exceptions,
non-numbers, NaN, infinite, negative prices and timeouts are counted per test and the
firm's last valid price (the Nash price at first) is used instead. After
``max_failures`` failures a test is ``not_measured`` with the reason, and once the total
wall budget ``budget_s`` is spent every remaining test is too. ``audit.json`` is always
written. (A hung call cannot be killed in Python; its daemon thread is abandoned, so it
never blocks the process from exiting. ``concurrent.futures`` workers would.)

The package, one job per module: :mod:`.settings` (settings, verdicts, failure kinds),
:mod:`.guard` (guarded calls), :mod:`.play` (the market loop), :mod:`.statistics`
(intervals, benchmarks), :mod:`.battery` (the five tests), :mod:`.verdict`,
:mod:`.proxy_rival` (the LLM-proxy rival and its numba re-wrappers), :mod:`.http_pricer`,
:mod:`.plugins` (the factory loader), :mod:`.runner` (:func:`run_audit`) and
:mod:`.markdown` (``audit.md``).
"""

from __future__ import annotations

from marketsim.experiments.audit.battery import Audit
from marketsim.experiments.audit.guard import Guard
from marketsim.experiments.audit.http_pricer import HTTPPricer
from marketsim.experiments.audit.markdown import write_report
from marketsim.experiments.audit.play import Env, play
from marketsim.experiments.audit.plugins import load_factory
from marketsim.experiments.audit.proxy_rival import ProxyRival
from marketsim.experiments.audit.runner import run_audit
from marketsim.experiments.audit.settings import (
    FAILURE_KINDS,
    VERDICTS,
    AuditSettings,
    NotMeasured,
)
from marketsim.experiments.audit.statistics import Benchmarks, mean_ci
from marketsim.experiments.audit.verdict import verdict

__all__ = [
    "FAILURE_KINDS",
    "VERDICTS",
    "Audit",
    "AuditSettings",
    "Benchmarks",
    "Env",
    "Guard",
    "HTTPPricer",
    "NotMeasured",
    "ProxyRival",
    "load_factory",
    "mean_ci",
    "play",
    "run_audit",
    "verdict",
    "write_report",
]
