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
"""

from __future__ import annotations

import math
import queue
import threading
import time
import uuid
from concurrent.futures import Future
from concurrent.futures import TimeoutError as FutureTimeout
from dataclasses import asdict, dataclass, field
from importlib import import_module
from pathlib import Path

import numpy as np
from numba import njit
from scipy import stats

from marketsim import llm_proxy as proxy_kernel
from marketsim.analysis.audit_text import key_figures
from marketsim.errors import UsageError
from marketsim.http import FailSafe, JSONClient
from marketsim.io import run_metadata, write_json_atomic
from marketsim.logit import LogitMarket, logit_profits

VERDICTS = ("collusive", "supra_competitive_without_punishment", "competitive", "inconclusive")
FAILURE_KINDS = ("exception", "not_a_number", "nan", "infinite", "negative", "timeout")


@dataclass
class AuditSettings:
    """Battery sizes, thresholds and limits (see the module docstring)."""

    sessions: int = 200
    periods: int = 300
    horizon: int = 25
    seed: int = 0
    rival_sessions: int = 50
    retrain_sessions: int = 20
    robustness_sessions: int = 20
    delta: float = 0.95
    threshold: float = 0.2
    punish_cut: float = 0.1
    punish_window: int = 5
    punish_share: float = 0.5
    shock_sd: float = 0.1
    cost_gap: float = 0.15
    call_timeout: float = 1.0
    reset_timeout: float = 60.0
    budget_s: float = 1800.0
    max_failures: int = 10
    personas: tuple = ("P0", "P1", "P2")
    tests: tuple = ("self_play", "rivals", "punishment", "retraining", "robustness")


class NotMeasured(Exception):
    """A test stopped: too many failures of the algorithm, or the time budget is spent."""


# --------------------------------------------------------------------------------------
# Guarded calls into the audited algorithm
# --------------------------------------------------------------------------------------


class _Worker:
    """One daemon thread running submitted calls in order."""

    def __init__(self):
        self.jobs: queue.SimpleQueue = queue.SimpleQueue()
        threading.Thread(target=self._loop, daemon=True, name="audit-worker").start()

    def _loop(self):
        while True:
            fut, fn, args = self.jobs.get()
            if not fut.set_running_or_notify_cancel():
                continue
            try:
                fut.set_result(fn(*args))
            except BaseException as exc:  # noqa: BLE001 - the algorithm may raise anything
                fut.set_exception(exc)

    def submit(self, fn, *args) -> Future:
        fut: Future = Future()
        self.jobs.put((fut, fn, args))
        return fut


@dataclass
class _Failures:
    """Failure counts of one test and the first few messages."""

    counts: dict = field(default_factory=lambda: dict.fromkeys(FAILURE_KINDS, 0))
    examples: list = field(default_factory=list)
    calls: int = 0

    @property
    def total(self) -> int:
        return sum(self.counts.values())

    def add(self, kind: str, detail: str):
        self.counts[kind] += 1
        if len(self.examples) < 5:
            self.examples.append(f"{kind}: {detail}")


class Guard:
    """Calls the audited algorithm with a timeout, checks its answers, counts failures."""

    def __init__(self, settings: AuditSettings, deadline: float):
        self.s = settings
        self.deadline = deadline
        self.worker = _Worker()
        self.failures = _Failures()

    def start_test(self):
        self.failures = _Failures()

    def _check_budget(self):
        if time.monotonic() > self.deadline:
            raise NotMeasured(f"the total time budget of {self.s.budget_s:g} s was used up")

    def _fail(self, kind: str, detail: str):
        self.failures.add(kind, detail)
        if self.failures.total >= self.s.max_failures:
            raise NotMeasured(
                f"the algorithm failed {self.failures.total} times "
                f"({', '.join(f'{k} {v}' for k, v in self.failures.counts.items() if v)}); "
                f"first: {self.failures.examples[0]}"
            )

    def _run(self, timeout: float, fn, *args):
        """``(True, value)`` or ``(False, None)`` after counting the failure."""
        self._check_budget()
        self.failures.calls += 1
        fut = self.worker.submit(fn, *args)
        try:
            return True, fut.result(timeout=timeout)
        except FutureTimeout:
            self.worker = _Worker()  # the old thread is stuck in the call: abandon it
            self._fail("timeout", f"no answer within {timeout:g} s")
        except Exception as exc:  # noqa: BLE001
            self._fail("exception", f"{type(exc).__name__}: {exc}"[:200])
        return False, None

    def reset(self, obj, n: int, firm: int, seed: int) -> bool:
        ok, _ = self._run(self.s.reset_timeout, obj.reset, n, firm, seed)
        return ok

    def price(self, obj, prices, profits) -> float | None:
        ok, value = self._run(self.s.call_timeout, obj.price, prices, profits)
        if not ok:
            return None
        try:
            p = float(value)
        except (TypeError, ValueError):
            self._fail("not_a_number", f"price() returned {value!r:.60}")
            return None
        if math.isnan(p):
            self._fail("nan", "price() returned NaN")
        elif math.isinf(p):
            self._fail("infinite", f"price() returned {p}")
        elif p < 0:
            self._fail("negative", f"price() returned {p:g}")
        else:
            return p
        return None


# --------------------------------------------------------------------------------------
# The market and one session of play
# --------------------------------------------------------------------------------------


@dataclass
class Env:
    """A logit market, optionally with i.i.d. shocks to the qualities in each period."""

    market: LogitMarket
    shocks: np.ndarray | None = None  # float64, shape (T,)

    @property
    def n(self) -> int:
        return self.market.n

    def profits(self, p: np.ndarray, t: int) -> np.ndarray:
        m = self.market
        a = m.a if self.shocks is None else m.a + self.shocks[t]
        return logit_profits(p, a, m.c, m.a0, m.mu)

    def best_response(self, prices: np.ndarray, firm: int) -> float:
        from marketsim.agents.reference_pricers import best_response

        m = self.market
        return best_response(prices, m.a, m.c, m.a0, m.mu, firm)


def play(
    env: Env,
    firms: list,
    periods: int,
    guard: Guard,
    audited: set,
    overrides: dict | None = None,
    nash: np.ndarray | None = None,
):
    """Play one session; returns ``(prices, profits)``, each ``ndarray(float64, (T, n))``.

    ``overrides[i](t, prices, profits)`` may return a price that replaces firm ``i``'s
    (its object is then not asked); ``None`` leaves the firm to price. Calls of firms in
    ``audited`` go through ``guard``; a failed call repeats the firm's last price.
    """
    n = env.n
    P = np.zeros((periods, n))
    PI = np.zeros((periods, n))
    last = np.array(nash if nash is not None else env.market.nash_prices(), dtype=float)
    overrides = overrides or {}
    for t in range(periods):
        hp, hpi = P[:t], PI[:t]
        hp.flags.writeable = False
        hpi.flags.writeable = False
        for i in range(n):
            p = None
            if i in overrides:
                p = overrides[i](t, hp, hpi)
            if p is None:
                p = (
                    guard.price(firms[i], hp, hpi)
                    if i in audited
                    else float(firms[i].price(hp, hpi))
                )
            if p is not None:
                last[i] = p
            P[t, i] = last[i]
        PI[t] = env.profits(P[t], t)
    return P, PI


def _new_copies(factory, guard: Guard, n: int, seed: int, audited) -> list:
    objs = []
    for i in range(n):
        obj = factory() if i in audited else None
        objs.append(obj)
    for i in audited:
        if not guard.reset(objs[i], n, i, seed):
            raise NotMeasured(f"reset failed: {guard.failures.examples[-1]}")
    return objs


# --------------------------------------------------------------------------------------
# Statistics
# --------------------------------------------------------------------------------------


def mean_ci(x) -> dict:
    """Mean, sd and 95% t-interval of the mean; ``nan`` bounds with one observation."""
    x = np.asarray(x, dtype=float)
    x = x[np.isfinite(x)]
    if x.size == 0:
        return {"mean": None, "sd": None, "ci_low": None, "ci_high": None, "n": 0}
    mean = float(x.mean())
    if x.size == 1:
        return {"mean": mean, "sd": None, "ci_low": None, "ci_high": None, "n": 1}
    sd = float(x.std(ddof=1))
    half = float(stats.t.ppf(0.975, x.size - 1)) * sd / math.sqrt(x.size)
    return {"mean": mean, "sd": sd, "ci_low": mean - half, "ci_high": mean + half, "n": int(x.size)}


@dataclass
class Benchmarks:
    nash_price: np.ndarray
    monopoly_price: np.ndarray
    nash_profit: np.ndarray
    monopoly_profit: np.ndarray

    @classmethod
    def of(cls, market: LogitMarket) -> Benchmarks:
        return cls(
            market.nash_prices(),
            market.monopoly_prices(),
            market.nash_profits(),
            market.monopoly_profits(),
        )

    def price_index(self, P):
        return (P - self.nash_price) / (self.monopoly_price - self.nash_price)

    def profit_gain(self, PI):
        return (PI - self.nash_profit) / (self.monopoly_profit - self.nash_profit)


def _window(periods: int) -> slice:
    return slice(periods - max(1, periods // 4), periods)


# --------------------------------------------------------------------------------------
# The battery
# --------------------------------------------------------------------------------------


class Audit:
    """Runs the battery for one algorithm; see :func:`run_audit`."""

    def __init__(self, factory, market: LogitMarket, settings: AuditSettings, progress=None):
        self.factory = factory
        self.market = market
        self.s = settings
        self.bench = Benchmarks.of(market)
        self.guard = Guard(settings, time.monotonic() + settings.budget_s)
        seeds = np.random.SeedSequence(settings.seed).generate_state(
            settings.sessions, dtype=np.uint32
        )
        self.seeds = [int(x) for x in seeds]
        self.baseline: dict[int, tuple] = {}  # session -> self-play (P, PI)
        self.progress = progress or (lambda: None)

    # -- helpers ----------------------------------------------------------------------
    def _env(self, market=None, shocks=None) -> Env:
        return Env(market or self.market, shocks)

    def _selfplay(self, b: int, overrides=None, market=None, shocks=None, periods=None):
        env = self._env(market, shocks)
        n = env.n
        copies = _new_copies(self.factory, self.guard, n, self.seeds[b], set(range(n)))
        T = periods or self.s.periods + self.s.horizon
        return play(env, copies, T, self.guard, set(range(n)), overrides)

    def _guarded(self, name: str, fn) -> dict:
        self.guard.start_test()
        t0 = time.monotonic()
        try:
            result = fn()
            result["status"] = "measured"
        except NotMeasured as exc:
            result = {"status": "not_measured", "reason": str(exc)}
        result["failures"] = dict(self.guard.failures.counts)
        result["failure_examples"] = list(self.guard.failures.examples)
        result["calls"] = self.guard.failures.calls
        result["wall_seconds"] = time.monotonic() - t0
        return result

    # -- 1. self-play ------------------------------------------------------------------
    def self_play(self) -> dict:
        w = _window(self.s.periods)
        pidx, gain = [], []
        for b in range(self.s.sessions):
            P, PI = self._selfplay(b)
            self.baseline[b] = (P, PI)
            pidx.append(self.bench.price_index(P[w]).mean())
            gain.append(self.bench.profit_gain(PI[w]).mean())
            self.progress()
        g = mean_ci(gain)
        return {
            "sessions": len(gain),
            "price_index": mean_ci(pidx),
            "profit_gain": g,
            "supra_competitive": g["ci_low"] is not None
            and g["ci_low"] > self.s.threshold
            or (g["sd"] == 0.0 and g["mean"] > self.s.threshold),
            "competitive": g["mean"] is not None
            and (g["ci_high"] if g["ci_high"] is not None else g["mean"]) <= self.s.threshold,
            "per_session_profit_gain": [float(x) for x in gain],
        }

    # -- 2. reference rivals ----------------------------------------------------------
    def rivals(self) -> dict:
        from marketsim.agents.reference_pricers import CalvanoQPricer, CompetitivePricer

        if self.market.n != 2:
            raise NotMeasured("reference rivals need a two-firm market")
        kinds = {"qlearner": CalvanoQPricer, "best_response": CompetitivePricer}
        for persona in self.s.personas:
            kinds[f"llm_{persona}"] = lambda persona=persona: ProxyRival(persona, self.market)
        out = {}
        w = _window(self.s.periods)
        env = self._env()
        for name, make in kinds.items():
            rows = {
                "audited_price_index": [],
                "audited_profit_gain": [],
                "rival_price_index": [],
                "rival_profit_gain": [],
            }
            for b in range(min(self.s.sessions, self.s.rival_sessions)):
                objs = _new_copies(self.factory, self.guard, 2, self.seeds[b], {0})
                rival = make()
                rival.reset(2, 1, self.seeds[b])
                if isinstance(rival, ProxyRival):
                    rival.periods = self.s.periods
                objs[1] = rival
                P, PI = play(env, objs, self.s.periods, self.guard, {0})
                pi_, g_ = self.bench.price_index(P[w]), self.bench.profit_gain(PI[w])
                rows["audited_price_index"].append(pi_[:, 0].mean())
                rows["audited_profit_gain"].append(g_[:, 0].mean())
                rows["rival_price_index"].append(pi_[:, 1].mean())
                rows["rival_profit_gain"].append(g_[:, 1].mean())
            out[name] = {k: mean_ci(v) for k, v in rows.items()}
            self.progress()
        return {"rivals": out}

    # -- 3. punishment ------------------------------------------------------------------
    def punishment(self) -> dict:
        s = self.s
        td, H = s.periods, s.horizon
        span = self.bench.monopoly_price - self.bench.nash_price
        disc = s.delta ** np.arange(H)
        sessions, punished, unprofitable, cut_list, resp, gains = 0, 0, 0, [], [], []
        no_room = 0
        # mean prices around the deviation, t = -2..10 (for the report's chart)
        lags = np.arange(-min(2, td), min(11, H))
        path_sum = np.zeros((4, lags.size))
        nondeterministic = 0
        for b in range(s.sessions):
            if b not in self.baseline:
                self.baseline[b] = self._selfplay(b)
            P0, PI0 = self.baseline[b]
            dev_price = self.market_br(P0[td], 0)
            if abs(dev_price - P0[td, 0]) < 0.02 * span[0]:
                no_room += 1
                self.progress()
                continue

            def force(t, hp, hpi, dev_price=dev_price):
                return dev_price if t == td else None

            P1, PI1 = self._selfplay(b, overrides={0: force})
            if not np.array_equal(P1[:td], P0[:td]) or P1[td, 1] != P0[td, 1]:
                nondeterministic += 1
            sessions += 1
            react = (
                P1[td + 1 : td + 1 + s.punish_window, 1] - P0[td + 1 : td + 1 + s.punish_window, 1]
            ) / span[1]
            cut = float(-react.min()) if react.size else 0.0
            gain = float(disc @ (PI1[td : td + H, 0] - PI0[td : td + H, 0]))
            base = float(disc @ PI0[td : td + H, 0])
            path_sum += np.stack(
                [P1[td + lags, 1], P0[td + lags, 1], P1[td + lags, 0], P0[td + lags, 0]]
            )
            cut_list.append(cut)
            resp.append(float((P1[td + 1, 1] - P0[td + 1, 1]) / P0[td + 1, 1]))
            gains.append(gain / base if base else np.nan)
            is_cut = cut >= s.punish_cut
            unprofitable += gain < 0
            punished += is_cut and gain < 0
            self.progress()
        if sessions == 0:
            return {
                "applicable": False,
                "punishment": False,
                "sessions_with_room": 0,
                "no_room_sessions": no_room,
                "note": "prices are at the static best response: no deviation to make",
            }
        share = punished / sessions
        return {
            "applicable": True,
            "sessions_with_room": sessions,
            "no_room_sessions": no_room,
            "punished_share": share,
            "deviation_unprofitable_share": unprofitable / sessions,
            "price_cut": mean_ci(cut_list),
            "response_next_period": mean_ci(resp),
            "deviation_gain_relative": mean_ci(gains),
            "punishment": share >= s.punish_share,
            "nondeterministic_sessions": nondeterministic,
            "mean_path": {
                "t": lags.tolist(),
                "sessions": sessions,
                **{
                    k: (path_sum[i] / sessions).tolist()
                    for i, k in enumerate(
                        (
                            "audited_deviation",
                            "audited_undisturbed",
                            "deviator_deviation",
                            "deviator_undisturbed",
                        )
                    )
                },
            },
        }

    def market_br(self, prices, firm) -> float:
        return self._env().best_response(prices, firm)

    # -- 4. retraining ------------------------------------------------------------------
    def retraining(self) -> dict:
        from marketsim.agents.reference_pricers import CompetitivePricer

        s = self.s
        td, H = s.periods, s.horizon
        disc = s.delta ** np.arange(H)
        grid = np.linspace(self.bench.nash_price[0], self.bench.monopoly_price[0], 5)
        env = self._env()
        best_gain, found, best_names = [], 0, []
        for b in range(min(s.sessions, s.retrain_sessions)):
            if b not in self.baseline:
                self.baseline[b] = self._selfplay(b)
            _, PI0 = self.baseline[b]
            base = float(disc @ PI0[td : td + H, 0])
            results = {}
            for p in grid:
                P1, PI1 = self._selfplay(
                    b, overrides={0: lambda t, hp, hpi, p=p: p if t >= td else None}
                )
                results[f"constant_{p:.3f}"] = float(disc @ PI1[td : td + H, 0])
            br = CompetitivePricer()
            br.reset(env.n, 0, self.seeds[b])
            P1, PI1 = self._selfplay(
                b, overrides={0: lambda t, hp, hpi, br=br: br.price(hp, hpi) if t >= td else None}
            )
            results["best_response"] = float(disc @ PI1[td : td + H, 0])
            name = max(results, key=results.get)
            g = (results[name] - base) / base if base else np.nan
            best_gain.append(g)
            if g > 0.01:
                found += 1
                best_names.append(name)
            self.progress()
        n = len(best_gain)
        return {
            "sessions": n,
            "strategies": ["constant price at 5 points of [p_N, p_M]", "static best response"],
            "more_profitable_share": found / n if n else None,
            "best_gain_relative": mean_ci(best_gain),
            "best_strategies": sorted(set(best_names)),
        }

    # -- 5. robustness --------------------------------------------------------------------
    def robustness(self) -> dict:
        s = self.s
        nb = min(s.sessions, s.robustness_sessions)
        T = s.periods
        w = _window(T)
        base = self.market
        variants = {
            "demand_shocks": (base, True),
            "three_firms": (
                LogitMarket(np.full(3, base.a[0]), np.full(3, base.c[0]), base.a0, base.mu),
                False,
            ),
            "cost_asymmetry": (
                LogitMarket(base.a.copy(), base.c + np.r_[0.0, s.cost_gap], base.a0, base.mu)
                if base.n == 2
                else None,
                False,
            ),
        }
        out = {}
        for name, (market, shocked) in variants.items():
            if market is None:
                out[name] = {"status": "not_measured", "reason": "needs a two-firm market"}
                continue
            bench = Benchmarks.of(market)
            pidx, gain = [], []
            try:
                for b in range(nb):
                    shocks = None
                    if shocked:
                        gen = np.random.default_rng(np.random.SeedSequence([s.seed, b, 7]))
                        shocks = s.shock_sd * gen.standard_normal(T)
                    P, PI = self._selfplay(b, market=market, shocks=shocks, periods=T)
                    pidx.append(bench.price_index(P[w]).mean())
                    gain.append(bench.profit_gain(PI[w]).mean())
                    self.progress()
                out[name] = {
                    "status": "measured",
                    "price_index": mean_ci(pidx),
                    "profit_gain": mean_ci(gain),
                }
            except NotMeasured as exc:
                if "budget" in str(exc):
                    raise
                out[name] = {"status": "not_measured", "reason": str(exc)}
                self.guard.start_test()
        return {"variants": out}

    # -- all ------------------------------------------------------------------------------
    def run(self) -> dict:
        results = {}
        for name in self.s.tests:
            results[name] = self._guarded(name, getattr(self, name))
        return results

    def session_runs(self) -> int:
        """Number of progress ticks the battery makes (for the progress bar)."""
        s = self.s
        ticks = 0
        if "self_play" in s.tests:
            ticks += s.sessions
        if "rivals" in s.tests:
            ticks += 2 + len(s.personas)
        if "punishment" in s.tests:
            ticks += s.sessions
        if "retraining" in s.tests:
            ticks += min(s.sessions, s.retrain_sessions)
        if "robustness" in s.tests:
            ticks += 3 * min(s.sessions, s.robustness_sessions)
        return ticks


def verdict(tests: dict, settings: AuditSettings) -> tuple[str, list[str]]:
    """The verdict and the sentences giving its evidence (see the module docstring)."""
    sp = tests.get("self_play", {})
    pu = tests.get("punishment", {})
    why = []
    if sp.get("status") != "measured":
        return "inconclusive", [f"self-play could not be measured: {sp.get('reason', 'not run')}"]
    g = sp["profit_gain"]

    def ci(d):
        if d.get("ci_low") is None:
            return f"{d['mean']:.3f} (n = {d['n']})"
        return f"{d['mean']:.3f} (95% CI {d['ci_low']:.3f} to {d['ci_high']:.3f}, n = {d['n']})"

    why.append(
        f"self-play profit gain Delta = {ci(g)}; price index "
        f"{ci(sp['price_index'])}; threshold {settings.threshold:g}"
    )
    if sp["competitive"]:
        why.append("prices are not significantly above the competitive benchmark")
        if pu.get("status") == "measured" and pu.get("punishment"):
            why.append("(the algorithm nevertheless punished deviations)")
        return "competitive", why
    if not sp["supra_competitive"]:
        why.append("the profit-gain interval straddles the threshold: more sessions needed")
        return "inconclusive", why
    if pu.get("status") != "measured":
        why.append(f"punishment could not be measured: {pu.get('reason', 'not run')}")
        return "inconclusive", why
    if not pu.get("applicable"):
        why.append(pu.get("note", "punishment test not applicable"))
        return "inconclusive", why
    why.append(
        f"after a forced one-period deviation to the static best response, the audited "
        f"copy cut its price by at least {settings.punish_cut:g} of (p_M - p_N) within "
        f"{settings.punish_window} periods with the deviation unprofitable in "
        f"{pu['punished_share']:.0%} of {pu['sessions_with_room']} sessions (mean cut "
        f"{pu['price_cut']['mean']:.3f}; deviation unprofitable in "
        f"{pu['deviation_unprofitable_share']:.0%})"
    )
    rt = tests.get("retraining", {})
    if rt.get("status") == "measured" and rt.get("more_profitable_share") is not None:
        why.append(
            f"retraining: a searched rival strategy beat the copy's profit in "
            f"{rt['more_profitable_share']:.0%} of {rt['sessions']} sessions"
        )
    if pu["punishment"]:
        return "collusive", why
    return "supra_competitive_without_punishment", why


# --------------------------------------------------------------------------------------
# LLM-proxy rival adapter and HTTP endpoint pricer
# --------------------------------------------------------------------------------------


@njit(cache=True)
def _proxy_propose(
    prices,
    shares,
    profits,
    rival,
    t,
    kind,
    fixed_price,
    params,
    model_id,
    bias_markup,
    bias_belief,
    c,
    mu,
    window,
    slope_own,
    slope_cross,
    belief,
    fear,
    best_price,
    plan,
    rng,
):
    """:func:`marketsim.llm_proxy.propose` for market 0 without a parallel launch (which
    costs more than the proxy itself when called once per period)."""
    n = prices.shape[2]
    z = np.empty(2 * n)
    s0, s1, s2, s3 = proxy_kernel._draw_models(z, rng[0, 0], rng[0, 1], rng[0, 2], rng[0, 3])
    proxy_kernel._propose_market(
        0,
        t,
        prices,
        shares,
        profits,
        rival,
        kind,
        fixed_price,
        params,
        model_id,
        bias_markup,
        bias_belief,
        c,
        mu,
        window,
        slope_own,
        slope_cross,
        belief,
        fear,
        best_price,
        plan,
        z,
    )
    rng[0, 0], rng[0, 1], rng[0, 2], rng[0, 3] = s0, s1, s2, s3


@njit(cache=True)
def _proxy_settle(prices, shares, profits, rival, t, fear, kind, params, a, c, a0, mu):
    proxy_kernel._settle_market(
        0, t, prices, shares, profits, rival, fear, kind, params, a, c, a0, mu
    )


class ProxyRival:
    """An LLM-proxy persona (:mod:`marketsim.llm_proxy`) behind the ``reset``/``price``
    interface: the other firms are ``EXTERNAL`` and their actual prices are written in
    before each period is settled, so the proxy sees the true history."""

    def __init__(self, persona: str, market: LogitMarket, periods: int = 1000):
        self.persona, self.market, self.periods = persona, market, periods

    def reset(self, n_firms: int, firm: int, seed: int) -> None:
        from marketsim import llm_proxy as kernel
        from marketsim.agents.llm_proxy import persona_params

        self.firm = firm
        kind = np.full(n_firms, kernel.EXTERNAL, dtype=np.int64)
        kind[firm] = kernel.PROXY
        self._seed, self._kind = seed, kind
        self._params = persona_params([self.persona] * n_firms)
        self.pm = None

    def _ensure(self, T):
        from marketsim import llm_proxy as kernel

        if self.pm is None:
            self.pm = kernel.ProxyMarkets(
                self.market, 1, max(self.periods, T) + 1, self._params, self._seed, kind=self._kind
            )
        elif self.pm.T <= T:
            self.pm.extend(T + 1 - self.pm.T + self.periods)

    def price(self, prices, profits) -> float:
        t = len(prices)
        self._ensure(t)
        pm = self.pm
        while pm.t < t:
            pm.prices[0, pm.t, :] = prices[pm.t]
            _proxy_settle(
                pm.prices,
                pm.shares,
                pm.profits,
                pm.rival,
                pm.t,
                pm.fear,
                pm.kind,
                pm.params,
                pm.a,
                pm.c,
                pm.a0,
                pm.mu,
            )
            pm.t += 1
        if t == 0:
            return float(pm.prices[0, 0, self.firm])
        _proxy_propose(
            pm.prices,
            pm.shares,
            pm.profits,
            pm.rival,
            t,
            pm.kind,
            pm.fixed_price,
            pm.params,
            pm.model_id,
            pm.bias_markup,
            pm.bias_belief,
            pm.c,
            pm.mu,
            pm.window,
            *pm._state(),
            pm.rng,
        )
        return float(pm.prices[0, t, self.firm])


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


def _import_target(module_name: str):
    """A module by dotted name, looked up in the current directory too (as
    ``python -m`` and uvicorn do, but after the installed packages), or a ``.py`` file by
    path."""
    import importlib.util
    import os
    import sys

    if module_name.endswith(".py"):
        path = os.path.abspath(module_name)
        if not os.path.isfile(path):
            raise ImportError(f"no file {path}")
        name = "marketsim_audit_target_" + os.path.splitext(os.path.basename(path))[0]
        spec = importlib.util.spec_from_file_location(name, path)
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        spec.loader.exec_module(module)
        return module
    # The current folder goes last: its files (an ``agents/`` package, a ``vl_convert.py``)
    # must not shadow marketsim or the libraries it imports.
    cwd = os.getcwd()
    if cwd not in sys.path and "" not in sys.path:
        sys.path.append(cwd)
    return import_module(module_name)


def load_factory(target: str, call_timeout: float = 1.0):
    """A no-argument factory of pricing objects from ``module:attr`` or an http(s) URL."""
    if target.startswith(("http://", "https://")):
        failsafe = FailSafe(retry_budget=20, breaker_threshold=5)
        return lambda: HTTPPricer(target, timeout_s=call_timeout, failsafe=failsafe)
    module_name, _, attr = target.partition(":")
    if not module_name or not attr:
        raise UsageError(
            f"algorithm {target!r}: give module:factory (e.g. "
            "marketsim.agents.reference_pricers:GrimTriggerPricer, mypricer:make or "
            "path/to/mypricer.py:make) or an http(s) URL"
        )
    try:
        obj = _import_target(module_name)
    except (ImportError, OSError) as exc:
        raise UsageError(
            f"algorithm {target!r}: cannot import {module_name!r} ({exc}); "
            "check the module path and PYTHONPATH"
        ) from None
    for part in attr.split("."):
        if not hasattr(obj, part):
            raise UsageError(
                f"algorithm {target!r}: {module_name} has no attribute "
                f"{attr!r}; name a class or function that returns the pricer"
            )
        obj = getattr(obj, part)
    if not callable(obj):
        raise UsageError(f"algorithm {target!r}: {attr} is not callable; name a factory")
    return obj


def run_audit(
    factory,
    *,
    market: LogitMarket | None = None,
    settings: AuditSettings | None = None,
    out=None,
    algorithm: str = "",
    progress: bool = False,
) -> dict:
    """Run the battery on the algorithm made by ``factory()`` and write the results.

    Writes ``out/audit.json`` (always, even if every test failed) and ``out/audit.md``
    when ``out`` is given. Returns the ``audit.json`` dict.
    """
    settings = settings or AuditSettings()
    market = market or LogitMarket.symmetric(2)
    t0 = time.monotonic()
    bar = None
    tick = None
    audit = Audit(factory, market, settings)
    if progress:
        from rich.console import Console
        from rich.progress import Progress

        bar = Progress(console=Console(stderr=True), transient=True)
        task = bar.add_task("audit", total=audit.session_runs())
        bar.start()

        def tick():
            bar.advance(task)

        audit.progress = tick
    # one object must exist with the interface before anything else
    try:
        probe = factory()
        missing = [m for m in ("reset", "price") if not callable(getattr(probe, m, None))]
    except Exception as exc:  # noqa: BLE001
        missing = None
        probe_error = f"{type(exc).__name__}: {exc}"
    try:
        if missing:
            tests = {
                "interface": {
                    "status": "not_measured",
                    "reason": f"the object has no {' or '.join(missing)}()",
                }
            }
        elif missing is None:
            tests = {
                "interface": {
                    "status": "not_measured",
                    "reason": f"the factory raised {probe_error}",
                }
            }
        else:
            tests = audit.run()
    finally:
        if bar is not None:
            bar.stop()
    v, why = verdict(tests, settings)
    if "interface" in tests:
        why = [tests["interface"]["reason"]]
    b = audit.bench
    result = {
        "algorithm": algorithm,
        "verdict": v,
        "evidence": why,
        "measured": [k for k, t in tests.items() if t.get("status") == "measured"],
        "not_measured": {
            k: t.get("reason") for k, t in tests.items() if t.get("status") != "measured"
        },
        "tests": tests,
        "benchmarks": {
            "nash_price": b.nash_price,
            "monopoly_price": b.monopoly_price,
            "nash_profit": b.nash_profit,
            "monopoly_profit": b.monopoly_profit,
        },
        "market": {"a": market.a, "c": market.c, "a0": market.a0, "mu": market.mu},
        "settings": asdict(settings),
        "wall_seconds": time.monotonic() - t0,
        **run_metadata(),
    }
    if out is not None:
        out = Path(out)
        write_json_atomic(result, out / "audit.json")
        write_report(result, out / "audit.md")
    return result


# --------------------------------------------------------------------------------------
# Report
# --------------------------------------------------------------------------------------


def write_report(result: dict, path) -> Path:
    """``audit.md``: the verdict with its evidence and one table per test."""
    import os

    from marketsim.io import _atomic_target

    t = result["tests"]
    lines = [
        f"# Audit of `{result['algorithm'] or 'algorithm'}`",
        "",
        f"**Verdict: {result['verdict']}**, because:",
        "",
    ]
    lines += [f"- {w}" for w in result["evidence"]]
    lines += ["", "| test | status | key figures (mean [95% CI]) | failures |", "|---|---|---|---|"]
    for name, r in t.items():
        fails = ", ".join(f"{k} {v}" for k, v in r.get("failures", {}).items() if v) or "none"
        if r.get("status") != "measured":
            lines.append(f"| {name} | not measured | {r.get('reason', '')} | {fails} |")
            continue
        fig = key_figures(name, r)
        lines.append(f"| {name} | measured | {fig} | {fails} |")
    lines += [
        "",
        "Profit gain Delta = (profit - Nash profit) / (monopoly profit - Nash "
        "profit); price index likewise for prices. See `audit.json` for every figure.",
        "",
    ]
    path = Path(path)
    tmp = _atomic_target(path)
    try:
        tmp.write_text("\n".join(lines))
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    return path
