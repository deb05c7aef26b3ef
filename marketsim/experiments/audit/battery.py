"""The battery of five tests (self-play, reference rivals, punishment, retraining,
robustness) run on one algorithm; see :mod:`marketsim.experiments.audit` for what each test
measures and how."""

from __future__ import annotations

import time

import numpy as np

from marketsim.experiments.audit.guard import Guard
from marketsim.experiments.audit.play import Env, _new_copies, play
from marketsim.experiments.audit.proxy_rival import ProxyRival
from marketsim.experiments.audit.settings import AuditSettings, NotMeasured
from marketsim.experiments.audit.statistics import Benchmarks, _window, mean_ci
from marketsim.logit import LogitMarket


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
        self.interrupted: str | None = None  # the test a real interruption stopped
        self.results: dict = {}  # test -> its record, filled by run()
        self.current = "the interface check"  # what the audit is doing, for an interruption

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
    def run(self, checkpoint=None) -> dict:
        """Every test of the battery, in order; ``checkpoint(results, next_test)`` after
        each. A real interruption (Ctrl-C, SIGINT) stops the battery: its test and the
        later ones are not measured and :attr:`interrupted` names the test."""
        results = self.results
        for k, name in enumerate(self.s.tests):
            if self.interrupted:
                results[name] = {"status": "not_measured", "reason": "the audit was interrupted"}
                continue
            self.current = name
            try:
                results[name] = self._guarded(name, getattr(self, name))
            except KeyboardInterrupt:
                self.interrupted = name
                results[name] = {
                    "status": "not_measured",
                    "reason": "the audit was interrupted during this test",
                }
                continue
            if checkpoint is not None:
                following = self.s.tests[k + 1] if k + 1 < len(self.s.tests) else None
                checkpoint(results, following)
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
