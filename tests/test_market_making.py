"""The market_making scenario: exact benchmarks, market mechanics, tie rules,
reproducibility, the impulse-response control and bad input.

Hand-computed benchmarks use the module's closed form with private values on [0, 1]:
``Pi(b) = (1 - b) ((1 - pi) b - pi / 2)``, zero-profit ask ``pi / (2 (1 - pi))``,
joint-profit ask ``1/2 + pi / (4 (1 - pi))`` (see :mod:`marketsim.mm_learning`).
"""

from __future__ import annotations

import numpy as np
import polars as pl
import pytest
from numba import njit

from marketsim.analysis.market_making import difference, interval
from marketsim.errors import UsageError
from marketsim.mm_learning import (
    MarketMakingSessions,
    _client,
    _client_draw,
    _winner,
    benchmarks,
    expected_profit,
    profit_table,
    zero_profit_ask,
)
from marketsim.rng import next_double, stream_states
from marketsim.scenarios import build_spec
from marketsim.scenarios.market_making import Spec, simulate

FAST = {"beta": 5e-4, "conv_window": 2000, "max_periods": 200_000}


# --------------------------------------------------------------------------- benchmarks


@pytest.mark.parametrize(
    ("n", "tick", "pi", "competitive", "collusive", "zero_profit"),
    [
        # Pi(0.2) = 0.8 (0.14 - 0.15) < 0 <= Pi(0.3) = 0.7 (0.21 - 0.15) = 0.042;
        # Pi(0.6) = 0.4 * 0.27 = 0.108 > Pi(0.7) = 0.102, Pi(0.5) = 0.1
        (2, 0.1, 0.3, 0.3, 0.6, 3 / 14),
        # Pi(0.25) = 0.75 * 0.025 > 0; Pi(0.6) = 0.108 > Pi(0.65) = 0.35 * 0.305
        (2, 0.05, 0.3, 0.25, 0.6, 3 / 14),
        # Pi(0.1) = 0.9 * 0.04 = 0.036 > 0 > Pi(0) = -0.05; Pi(0.5) = 0.2 > Pi(0.6) = 0.196
        (4, 0.1, 0.1, 0.1, 0.5, 0.1 / 1.8),
        # Pi(0.5) = 0 exactly: the zero-profit ask is on the grid; Pi(0.75) = 0.03125
        (2, 0.25, 0.5, 0.5, 0.75, 0.5),
    ],
)
def test_benchmarks_hand_computed(n, tick, pi, competitive, collusive, zero_profit):
    b = benchmarks(n, tick, pi)
    assert b["competitive_ask"] == pytest.approx(competitive)
    assert b["collusive_ask"] == pytest.approx(collusive)
    assert b["zero_profit_ask"] == pytest.approx(zero_profit)
    assert zero_profit_ask(pi) == pytest.approx(pi / (2 * (1 - pi)))
    grid = np.arange(round(1 / tick) + 1) * tick
    np.testing.assert_allclose(b["profit"], (1 - grid) * ((1 - pi) * grid - pi / 2), atol=1e-15)


def test_nash_set_on_the_grid():
    """Sharing a higher ask can beat undercutting alone: pi = 0.3, tick 0.05, two makers,
    Pi(0.25) = 0.01875, Pi(0.3) = 0.042, Pi(0.35) = 0.65 * 0.095 = 0.061750: (0.25, 0.25)
    is the lowest equilibrium, (0.3, 0.3) is one too (0.021 >= 0.01875), (0.35, 0.35) is
    not (0.030875 < 0.042)."""
    b = benchmarks(2, 0.05, 0.3)
    np.testing.assert_allclose(b["profit"][5:8], [0.01875, 0.042, 0.06175], atol=1e-12)
    assert b["nash_actions"] == [5, 6]
    assert b["competitive_ask"] == pytest.approx(0.25)


def test_profit_table_shares_ties():
    grid = np.array([0.0, 0.5, 1.0])
    table = profit_table(grid, 2, 0.3)
    p = expected_profit(grid, 0.3)
    # row j = a_1 + 3 a_2: (0.5, 0.5) is row 4, (0.5, 1.0) row 7, (1.0, 0.5) row 5
    np.testing.assert_allclose(table[4], [p[1] / 2, p[1] / 2])
    np.testing.assert_allclose(table[7], [p[1], 0.0])
    np.testing.assert_allclose(table[5], [0.0, p[1]])


@njit(cache=True)
def _client_draws(ask, pi, rng, n):
    s0, s1, s2, s3 = rng[0], rng[1], rng[2], rng[3]
    buys = np.zeros(n, dtype=np.bool_)
    gains = np.zeros(n)
    for k in range(n):
        buy, v, s0, s1, s2, s3 = _client(ask, pi, 1.0, 0.0, True, s0, s1, s2, s3)
        buys[k] = buy
        if buy:
            gains[k] = ask - v
    return buys, gains


@pytest.mark.parametrize("ask", [0.0, 0.3, 0.6, 0.95])
def test_client_draws_match_expected_profit(ask):
    """The kernel's client (value, type, private value) gives, on average, the
    probability of a buy and the profit ``Pi(b)`` of the closed form (5 standard errors)."""
    pi, n = 0.3, 200_000
    buys, gains = _client_draws(ask, pi, stream_states(7, 0, 1)[0], n)
    p_buy = pi / 2 * (ask < 1) + (1 - pi) * (1 - ask)
    assert abs(buys.mean() - p_buy) < 5 * np.sqrt(p_buy * (1 - p_buy) / n)
    assert abs(gains.mean() - expected_profit(ask, pi)) < 5 * gains.std() / np.sqrt(n)


@njit(cache=True)
def _winner_draws(acts, best, age, tie, rng, draws):
    s0, s1, s2, s3 = rng[0], rng[1], rng[2], rng[3]
    out = np.empty(draws, dtype=np.int64)
    for k in range(draws):
        w, s0, s1, s2, s3 = _winner(acts, best, age, tie, s0, s1, s2, s3)
        out[k] = w
    return out


def _winners(acts, age, tie, draws=4000):
    acts = np.asarray(acts, dtype=np.int64)
    age = np.asarray(age, dtype=np.int64)
    out = _winner_draws(acts, int(acts.min()), age, tie, stream_states(3, 0, 1)[0], draws)
    return np.bincount(out + 1, minlength=acts.size + 1)  # slot 0 = shared


def test_tie_rules():
    # split: the unit is shared (no single winner)
    assert _winners([2, 2, 5], [0, 0, 0], 0, draws=10)[0] == 10
    # time priority: the oldest unchanged quote at the best ask trades
    counts = _winners([2, 2, 2, 5], [3, 7, 1, 9], 1)
    assert counts[2] == 4000
    # equal ages (both re-quoted this period): random arrival order, half each
    counts = _winners([2, 2, 5], [4, 4, 9], 1)
    assert counts[3] == 0 and abs(counts[1] - 2000) < 5 * np.sqrt(1000)
    # random: uniform over the makers at the best ask, whatever their ages
    counts = _winners([1, 4, 1, 1], [9, 0, 0, 0], 2, draws=6000)
    assert counts[2] == 0
    for i in (1, 3, 4):
        assert abs(counts[i] - 2000) < 5 * np.sqrt(6000 * (1 / 3) * (2 / 3))


# --------------------------------------------------------------------------- learning


def _arrays(lr: MarketMakingSessions) -> list[np.ndarray]:
    return [lr.Q, lr.strategy, lr.last_acts, lr.t, lr.status, lr.rng, lr.age, lr.last_trade]


@pytest.mark.parametrize(
    "extra",
    [{}, {"learner": "informed", "tie": "time", "trade_state": True, "n_makers": 3}],
)
def test_same_bytes_on_one_and_two_threads(extra):
    spec = Spec(**FAST, **extra)
    frames = []
    for threads in (1, 2):
        frame, impulse, model = simulate(spec, sessions=5, seed=11, threads=threads)
        frames.append((frame, impulse, [a.copy() for a in _arrays(model.learners)]))
    (f1, i1, a1), (f2, i2, a2) = frames
    assert f1.equals(f2, null_equal=True)
    assert i1.equals(i2)
    for x, y in zip(a1, a2, strict=True):
        assert x.tobytes() == y.tobytes()
    assert (f1["periods"] > 0).all()


def test_chunks_equal_one_call_and_sessions_keep_their_stream():
    kw = {"beta": 5e-4, "conv_window": 2000, "max_periods": 60_000, "tie": "random"}
    one = MarketMakingSessions(seed=4, sessions=3, **kw)
    one.advance(10**9)
    chunked = MarketMakingSessions(seed=4, sessions=3, **kw)
    while chunked.running:
        chunked.advance(777)
    for x, y in zip(_arrays(one), _arrays(chunked), strict=True):
        assert x.tobytes() == y.tobytes()
    # session 2 of a 3-session run is session 0 of a run that starts at 2
    alone = MarketMakingSessions(seed=4, sessions=1, start=2, **kw)
    alone.advance(10**9)
    assert alone.Q[0].tobytes() == one.Q[2].tobytes()


def test_state_major_tables_give_the_same_numbers(monkeypatch):
    """The Q-tables' memory order (state-major above STATE_MAJOR_BYTES) is invisible:
    learning and analysis give the same bytes either way."""
    from marketsim import mm_learning

    kw = {"n": 3, "tie": "time", "trade_state": True, "learner": "informed", **FAST}
    kw["max_periods"] = 30_000
    runs = []
    for limit in (0, 2**62):
        monkeypatch.setattr(mm_learning, "STATE_MAJOR_BYTES", limit)
        lr = MarketMakingSessions(seed=6, sessions=2, **kw)
        lr.advance(10**9)
        runs.append((lr, lr.analyse()))
    (major, res_major), (minor, res_minor) = runs
    assert not major.Q.flags.c_contiguous and major.Q.strides[2] == 3 * major.m * 8
    assert minor.Q.flags.c_contiguous
    for x, y in zip(_arrays(major), _arrays(minor), strict=True):
        assert x.tobytes() == y.tobytes()
    for key, value in res_major.items():
        assert value.tobytes() == res_minor[key].tobytes(), key


def _consecutive_buys(episode: int, episodes: int = 10):
    """Buy (1) or not (0) in the first two periods of each episode of 3 periods, with
    uniformly random asks (beta = 0: the makers always explore), over 2000 sessions."""
    lr = MarketMakingSessions(pi=0.5, sessions=2000, seed=9, beta=0.0, trade_state=True,
                              episode_periods=episode, conv_window=10**9)  # fmt: skip
    pairs = []
    for _ in range(episodes):
        lr.advance(1)
        first = lr.last_trade.copy()
        lr.advance(1)
        pairs.append((first, lr.last_trade.copy()))
        lr.advance(1)
        if episode == 3:  # the next period starts an episode: no trade of it yet
            assert (lr.last_trade == 2).all()
    first, second = (np.concatenate(x) for x in zip(*pairs, strict=True))
    assert set(np.unique(first)) == {0, 1}
    after_buy, after_none = second[first == 1], second[first == 0]
    diff = after_buy.mean() - after_none.mean()
    se = np.sqrt(after_buy.var() / after_buy.size + after_none.var() / after_none.size)
    return diff, se


def test_a_buy_is_news_about_the_value_only_within_an_episode():
    """With the value kept over an episode (Glosten-Milgrom's sequential trades), a buy
    makes the next client of the episode likelier to buy (informed clients buy again when
    the value is high), so a maker has reason to raise its ask after one; with a new value
    every period a buy says nothing about the next period."""
    kept, se_kept = _consecutive_buys(3)
    fresh, se_fresh = _consecutive_buys(1)
    assert kept > 0.05 and kept - 5 * se_kept > 0
    assert abs(fresh) < 4 * se_fresh


@njit(cache=True)
def _first_period_draws(rng, n, m, pi, lmax):
    """Replay a session's first period with beta = 0 (every maker explores): the makers'
    asks, then the client's reservation price and the value (:func:`_client_draw`)."""
    N = rng.shape[0]
    acts = np.empty((N, n), dtype=np.int64)
    res = np.empty(N)
    val = np.empty(N)
    for b in range(N):
        s0, s1, s2, s3 = rng[b, 0], rng[b, 1], rng[b, 2], rng[b, 3]
        for i in range(n):
            u, s0, s1, s2, s3 = next_double(s0, s1, s2, s3)  # below eps = 1: explore
            u, s0, s1, s2, s3 = next_double(s0, s1, s2, s3)
            acts[b, i] = int(u * m)
        res[b], val[b], s0, s1, s2, s3 = _client_draw(pi, lmax, 0.0, True, s0, s1, s2, s3)
    return acts, res, val


def _rule_targets(grid, acts, res, v, i, delta, max_q, S0):
    """What the market-knowledge rule says maker ``i``'s target is for every ask, worked
    out here from the market's rules: alone at the best ask it earns ask - value if the
    client's reservation price is above its ask; tied with k - 1 rivals a 1/k share; above
    a rival's ask nothing; plus delta times the value of the state the ask leads to (all
    asks, the trade of that counterfactual period)."""
    m, n = grid.size, acts.size
    rivals = np.delete(acts, i)
    rival = rivals.min() if n > 1 else m
    tied = 1 + int((rivals == rival).sum())
    out = np.empty(m)
    for a in range(m):
        best = min(a, rival)
        buy = res > grid[best]
        r = 0.0
        if buy and a < rival:
            r = grid[a] - v
        elif buy and a == rival:
            r = (grid[a] - v) / tied
        own = acts.copy()
        own[i] = a
        quotes = int(sum(own[j] * m**j for j in range(n))) if S0 == m**n else a
        out[a] = r + delta * max_q[i, quotes + S0 * int(buy)]
    return out


@pytest.mark.parametrize(("n", "state"), [(2, "quotes"), (3, "own")])
@pytest.mark.parametrize("learner", ["informed", "basic"])
def test_one_period_updates_are_the_rules(learner, n, state):
    """After one period (every maker exploring, the last trade in the state, delta > 0,
    known values for every next state), each maker's Q-values are the rule's, worked out
    from the session's replayed draws: the ``informed`` learner has moved every ask of the
    period's state toward the profit it would have earned against its rivals' actual asks
    and the same client, plus the discounted value of the state that ask would have led
    to; the ``basic`` learner only the ask it played. Nothing else changes."""
    sessions, alpha, delta, q0 = 2000, 0.5, 0.9, 123.0
    lr = MarketMakingSessions(n, 0.1, 0.3, learner=learner, state_mode=state,
                              trade_state=True, alpha=alpha, delta=delta, beta=0.0,
                              sessions=sessions, seed=12, conv_window=10**9)  # fmt: skip
    m, S = lr.m, lr.S
    S0 = S // 2
    lr.Q[:] = q0
    max_q = np.add.outer(0.5 * np.arange(n), np.sin(np.arange(S)))  # a value per state
    lr.max_q[:] = max_q[None]
    start = lr.last_acts.copy()
    acts, res, val = _first_period_draws(lr.rng.copy(), n, m, 0.3, 1.0)
    lr.advance(1)
    assert (lr.last_acts == acts).all()  # the replay is the kernel's period
    Q = np.asarray(lr.Q)
    updated = 0
    for b in range(sessions):
        for i in range(n):
            s = int(sum(start[b, j] * m**j for j in range(n))) if state == "quotes" else start[b, i]
            want = _rule_targets(lr.grid, acts[b], res[b], val[b], i, delta, max_q, S0)
            expected = np.full((S, m), q0)
            cols = np.arange(m) if learner == "informed" else [acts[b, i]]
            expected[s, cols] = q0 + alpha * (want[cols] - q0)
            np.testing.assert_allclose(Q[b, i], expected, rtol=0, atol=1e-12)
            updated += len(cols)
    assert updated == sessions * n * (m if learner == "informed" else 1)


def test_market_knowledge_learns_unconditional_expected_profits():
    """Every cell is updated every period whatever the client was, so the mean of its
    target over clients is the expected profit of the ask against the rival's (the closed
    form of :func:`profit_table`, 5 standard errors): two makers without a state, delta =
    0, alpha = 1 (a cell holds its last target), uniformly random asks. (Updating an ask
    only after some clients, e.g. a lower one only after a buy, would make it learn a mean
    conditional on the client: after a buy an informed client is likelier.)"""
    lr = MarketMakingSessions(2, 0.1, 0.3, learner="informed", state_mode="none",
                              alpha=1.0, delta=0.0, beta=0.0, sessions=20_000, seed=12,
                              conv_window=10**9)  # fmt: skip
    lr.advance(1)
    rows = []
    for i in (0, 1):
        q = lr.Q[:, i, 0, :]
        rival = np.repeat(lr.last_acts[:, 1 - i], lr.m)
        ask = np.tile(np.arange(lr.m), q.shape[0])
        rows.append(pl.DataFrame({"ask": ask, "rival": rival, "target": q.reshape(-1)}))
    stats = (
        pl.concat(rows)
        .group_by("ask", "rival")
        .agg(pl.col("target").mean().alias("mean"), pl.col("target").std().alias("sd"), pl.len())
    )
    assert stats.height == lr.m * lr.m  # every (ask, rival ask) pair
    table = profit_table(lr.grid, 2, 0.3)
    for ask, rival, mean, sd, n in stats.iter_rows():
        truth = table[ask + lr.m * rival, 0]
        assert abs(mean - truth) <= 5 * (sd or 0.0) / np.sqrt(n) + 1e-12, (ask, rival)


def test_impulse_control_without_rivals_in_the_state_shows_no_punishment():
    """With state = own last ask a maker cannot see the deviation, so its quotes after
    it are those of the path without it: no response, no punishment, in every session.
    With the rivals' quotes in the state, some sessions punish the undercut."""
    own, _, _ = simulate(Spec(**FAST, state="own"), sessions=20, seed=5, threads=2)
    assert (own["rival_response_ticks"] == 0).all()
    assert not own["punished"].any()
    quotes, impulse, _ = simulate(Spec(**FAST), sessions=20, seed=5, threads=2)
    assert quotes["punished"].sum() > 0
    # the deviation itself: maker 1 quotes below its rivals at t = 0
    t0 = impulse.filter(pl.col("t") == 0)
    dev = t0.filter(pl.col("maker") == 1)["ask"].to_numpy()
    rival = t0.filter(pl.col("maker") == 2)["ask"].to_numpy()
    assert ((dev < rival) | (dev == 0)).all()


def test_memory_policy_makes_makers_stateless():
    spec = build_spec(Spec, {}, ["policy=memory"])
    assert spec.state_mode() == "none"
    lr = MarketMakingSessions(state_mode="none", sessions=1)
    assert lr.S == 1


def test_learning_rate_defaults_to_the_learners():
    """``alpha`` unset: 0.15 for the basic learner (Calvano et al.), 0.01 for the informed
    one (version 4); a set ``alpha`` applies to either, and reaches the kernel's rule."""
    from marketsim.scenarios.market_making import MarketMakingModel

    assert Spec().learning_rate() == 0.15
    assert Spec(learner="informed").learning_rate() == 0.01
    assert build_spec(Spec, {}, ["learner=informed", "alpha=0.2"]).learning_rate() == 0.2
    model = MarketMakingModel(Spec(learner="informed", **FAST), sessions=1, seed=0)
    assert model.learners.alpha == 0.01


# --------------------------------------------------------------------------- bad input


@pytest.mark.parametrize(
    ("sets", "needle"),
    [
        (["tick=0.3"], "tick 0.3 does not divide"),
        (["pi=0.9"], "pi = 0.9"),
        (["tick=0.5"], "markup index is undefined"),
        (["policy=price_cap"], "does not apply to market_making"),
        (["learner=smart"], "learner"),
        (["n_makers=6", "tick=0.05"], "GiB per session"),
    ],
)
def test_bad_parameters_name_the_field(sets, needle):
    with pytest.raises(UsageError, match=needle):
        build_spec(Spec, {}, sets)


def test_cli_bad_tick_exits_2(capsys, tmp_path):
    from marketsim.cli import main

    code = main(["run", "market_making", "--set", "tick=0.3", "--out", str(tmp_path / "x")])
    err = capsys.readouterr().err
    assert code == 2
    assert "tick" in err and "Traceback" not in err
    assert len(err.strip().splitlines()) == 1


# --------------------------------------------------------------------------- findings
#
# The published findings the scenario is meant to reproduce, at two sizes: "suite"
# (30 sessions, exploration decaying 50 times faster than Calvano's beta = 4e-6, a few
# seconds each) and "validate" (100 sessions, beta = 2e-5; make validate). Each compares
# the means of the measure the paper states (the markup index where the issue asks for
# it; the markup in price units, or the price paid, where the paper's words are those)
# over independent sessions with a 95% Welch interval. A finding the model does not
# reproduce at default parameters is a strict xfail whose reason gives the measured
# figures (see docs/tutorials/market-making.md); it is not tuned to pass.

SIZES = {
    "suite": (30, {"beta": 2e-4, "conv_window": 5000, "max_periods": 150_000}),
    "validate": (100, {"beta": 2e-5, "conv_window": 20_000, "max_periods": 1_500_000}),
}


def _not_reproduced(why: str):
    return pytest.mark.xfail(strict=True, reason=f"not reproduced by the model: {why}")


#: the informed learner at the suite size: its learning rate (0.01, version 4) moves each
#: Q-value a hundredth of the way per update, so it needs the validate size's exploration
#: schedule to learn; 40 sessions of it keep the suite's cost (about 40 CPU-s for ticks
#: 0.05, 0.1 and 0.2, one thread) while giving the tick comparison an expected lower bound
#: near 0.05 (the validate size's difference 0.089 and its spread). Sessions 0-39 of the
#: validate size's 100, the same streams
INFORMED_SUITE = (40, SIZES["validate"][1])

_RUNS: dict = {}


def _sessions(size: str, **params) -> pl.DataFrame:
    key = (size, tuple(sorted(params.items())))
    if key not in _RUNS:
        n, learning = SIZES[size]
        if size == "suite" and params.get("learner") == "informed":
            n, learning = INFORMED_SUITE
        _RUNS[key] = simulate(Spec(**learning, **params), sessions=n, seed=0, threads=2)[0]
    return _RUNS[key]


#: finding -> (source and claim, column, case, control): the claim is that the mean of
#: ``column`` is higher in ``case`` than in ``control`` (a Welch interval above 0), or,
#: without a control, that its mean is above 0 (a Student interval above 0).
FINDINGS = {
    "markup_above_competitive": (
        "Colliard, Foucault & Lovo (2022): learning makers charge a markup over the "
        "competitive ask",
        "markup_index",
        {},
        None,
    ),
    "markup_falls_with_more_makers": (
        "CFL (2022): the markup falls as the number of market makers rises (2 vs 4)",
        "markup_index",
        {},
        {"n_makers": 4},
    ),
    "coarser_tick_higher_markup": (
        "Cartea, Chang & Penalva (2022, abstract: the algorithms 'tacitly collude to "
        "extract rents' and 'a large tick size obstructs competition, while a smaller tick "
        "size lowers trading costs for liquidity takers'): rents and trading costs are "
        "price differences, so the measure is `markup`, the mean best ask minus the "
        "zero-expected-profit ask (the same benchmark at both ticks), in price units. The "
        "markup index measures each grid from its own competitive ask, which is where a "
        "coarse tick raises the price (0.3 at tick 0.1, 0.4 at 0.2). Tick 0.2 against 0.1 "
        "(their tick sizes could not be read)",
        "markup",
        {"tick": 0.2},
        {},
    ),
    "coarser_tick_higher_markup_market_knowledge": (
        "Cartea, Chang & Penalva (2022), as above, with makers that learn every ask's "
        "profit (learner informed, whose default learning rate is 0.01): their learning "
        "algorithms converge to pure Nash equilibria of the stage game (abstract), which "
        "the basic Q-learners, above the collusive ask, do not approach",
        "markup",
        {"tick": 0.2, "learner": "informed"},
        {"learner": "informed"},
    ),
    "smaller_tick_lower_trading_cost_market_knowledge": (
        "Cartea, Chang & Penalva (2022, abstract), as above, with informed makers: the "
        "mean best ask is higher at tick 0.1 than at 0.05",
        "ask_mean",
        {"learner": "informed"},
        {"tick": 0.05, "learner": "informed"},
    ),
    "smaller_tick_slower_convergence_market_knowledge": (
        "Cartea, Chang & Penalva (2022, abstract), as above, with informed makers: a "
        "larger share of sessions meets the stability rule within the cap at tick 0.1 "
        "than at 0.05",
        "converged",
        {"learner": "informed"},
        {"tick": 0.05, "learner": "informed"},
    ),
    "smaller_tick_lower_trading_cost": (
        "Cartea, Chang & Penalva (2022, abstract): a smaller tick lowers trading costs "
        "for liquidity takers: the mean best ask a buyer pays (from E[v] = 0, price "
        "units) is higher at tick 0.1 than at 0.05",
        "ask_mean",
        {},
        {"tick": 0.05},
    ),
    "smaller_tick_slower_convergence": (
        "Cartea, Chang & Penalva (2022, abstract): a smaller tick slows the speed of "
        "convergence: a larger share of sessions meets the stability rule within the "
        "cap at tick 0.1 than at 0.05",
        "converged",
        {},
        {"tick": 0.05},
    ),
    "weaker_adverse_selection_higher_markup": (
        "Colliard, Foucault & Lovo (SSRN 4252858, abstract of 2022: 'AMMs charge a "
        "mark-up over the competitive price [...] markups tend to decrease with AMMs' "
        "exposure to adverse selection'; of 2023: 'this markup increases when adverse "
        "selection costs decrease'): a markup over a price is a price difference, so the "
        "measure is `markup`, the mean best ask minus the competitive (zero-expected-"
        "profit, Glosten-Milgrom) ask, in price units, not the normalised index; pi 0.1 "
        "against 0.3",
        "markup",
        {"pi": 0.1},
        {},
    ),
    "market_knowledge_closer_to_competitive": (
        "Guarino, Jehiel & Symons-Hicks (2025, abstract): basic market knowledge brings "
        "prices to competitive levels: a lower markup index than the basic learner's "
        "(the informed learner: every ask updated with its counterfactual profit)",
        "markup_index",
        {},
        {"learner": "informed"},
    ),
    "asks_rise_after_a_buy": (
        "CFL (2022): the makers learn about adverse selection: after a client buys, the "
        "learned asks rise on average. The value is kept over an episode of two periods "
        "(a buy is news about the next client only if the value persists; with one trade "
        "in the state, two periods are the longest episode whose history the state holds)",
        "ask_response_to_buy",
        {"trade_state": True, "episode_periods": 2},
        None,
    ),
}
#: (finding, size) -> the measured figures of a finding the model does not reproduce
NOT_REPRODUCED = {
    ("coarser_tick_higher_markup", "suite"): (
        "markup 0.481 [0.463, 0.499] at tick 0.2 against 0.459 [0.438, 0.481] at 0.1: "
        "0.021 [-0.006, 0.049] (on the markup index 0.230 [0.117, 0.342])"
    ),
    ("coarser_tick_higher_markup", "validate"): (
        "markup 0.484 [0.475, 0.493] at tick 0.2 against 0.535 [0.526, 0.545] at 0.1: "
        "-0.051 [-0.065, -0.038], the coarser tick's asks are lower (on the markup index "
        "-0.008 [-0.064, 0.047]). The basic makers settle at or above the joint-profit ask "
        "(0.6 at both ticks), so the floor the tick raises (0.3 -> 0.4) never binds; with "
        "alpha 0.05 the difference is -0.050 [-0.066, -0.034], with alpha 0.01 -0.002 "
        "[-0.022, 0.018] (asks 0.54 at both ticks); only with private values on [0, 2] "
        "is it positive, 0.122 [0.096, 0.149] (see the tutorial's 'The tick findings')"
    ),
    ("smaller_tick_lower_trading_cost", "validate"): (
        "mean best ask 0.750 [0.740, 0.759] at tick 0.1 against 0.762 [0.746, 0.779] at "
        "0.05 (no session at 0.05 met the stability rule within 1.5 million periods)"
    ),
}
# weaker_adverse_selection_higher_markup on the markup index (not the paper's measure):
# pi 0.1 gives 1.121 [1.063, 1.178] against 1.245 [1.175, 1.316] at pi 0.3 (suite), 1.357
# [1.326, 1.388] against 1.499 [1.467, 1.530] (validate): each pi has its own benchmarks.
# asks_rise_after_a_buy, measured with the value kept over two-period episodes: after a
# buy minus after none 0.098 [0.082, 0.115] (suite), 0.081 [0.066, 0.096] (validate). With
# a new value every period (no news in a buy) it was -0.016 [-0.032, 0.001] and 0.006
# [-0.003, 0.016].
# market_knowledge_closer_to_competitive (version 4, informed learning rate 0.01): informed
# 0.288 against basic 1.245, basic minus informed 0.957 [0.834, 1.081] (suite: the informed
# learner's 40 sessions on the validate schedule, INFORMED_SUITE; on the suite schedule it
# was 0.259 [0.141, 0.376]), 0.231 [0.172, 0.291] against 1.499 [1.467, 1.530]
# (validate). Version 3 (rate 0.15): 0.031 [-0.103, 0.166] (suite) and 0.115 [0.044,
# 0.187] (validate). Version 2's informed learner (only the asks
# above the best rival's updated, with 0) gave basic minus informed -0.123 [-0.243,
# -0.003] (suite) and 0.028 [-0.041, 0.098] (validate).
# The Cartea, Chang & Penalva findings with informed makers at the validate size (version
# 4): markup at tick 0.2 minus 0.1 0.089 [0.065, 0.113] (0.244 against 0.155); mean best ask
# at tick 0.1 minus 0.05 0.042 [0.020, 0.064]; converged 90% at tick 0.2, 8% at 0.1, 0% at
# 0.05. With version 3's rate 0.15 the first was 0.026 [-0.011, 0.064] and no session
# converged. At the suite size (INFORMED_SUITE, sessions 0-39 of those 100): markup 0.238
# against 0.172, 0.066 [0.027, 0.105]; mean best ask 0.386 against 0.334, 0.052 [0.016,
# 0.088]; converged 12.5% against 0%, 0.125 [0.018, 0.232] (this last comparison has little
# power at 40 sessions: 8% against 0% at the validate size). On the suite schedule (beta
# 2e-4, 150,000 periods, 30 sessions) the informed makers had not learned: 0.010 [-0.032,
# 0.052], 0.022 [-0.019, 0.064] and 0.033 [-0.035, 0.102], strict xfails until this size.


def _finding_params():
    for finding in FINDINGS:
        for size in SIZES:
            marks = [pytest.mark.validate] if size == "validate" else []
            if (finding, size) in NOT_REPRODUCED:
                marks.append(_not_reproduced(NOT_REPRODUCED[finding, size]))
            yield pytest.param(finding, size, marks=marks, id=f"{finding}-{size}")


@pytest.mark.parametrize(("finding", "size"), list(_finding_params()))
def test_published_finding(finding, size):
    """Each published finding at each size; see :data:`FINDINGS` for the claims."""
    _, column, case, control = FINDINGS[finding]
    x = _sessions(size, **case)[column]
    if control is None:
        ci = interval(x)
        assert ci["n"] == SIZES[size][0]  # a figure for every session (no NaN)
    else:
        ci = difference(x, _sessions(size, **control)[column])
    assert ci["ci_lo"] > 0.0


# --------------------------------------------------------------------------- sweep, compare

QUICK = ["beta=2e-4", "conv_window=5000", "max_periods=150000"]


def test_sweep_blocks_are_sessions_of_one_run():
    from marketsim.experiments.sweep import plan_sweep, run_task

    plan = plan_sweep(
        "market_making", {"tick": [0.1, 0.2], "n_makers": [2, 3]}, seeds=4, sets=QUICK, chunk=2
    )
    assert len(plan.tasks) == 8
    assert plan.points[1] == {"tick": 0.1, "n_makers": 3}
    spec = plan.specs[1]
    part = run_task("market_making", spec.model_dump(mode="json"), plan.points[1], 0, 2, 2)
    whole = simulate(spec, sessions=4, seed=0, threads=1)[0]
    assert part.drop(["tick", "n_makers"]).equals(whole.slice(2, 2), null_equal=True)
    assert part["n_makers"].to_list() == [3, 3]
    with pytest.raises(UsageError, match="unknown parameter"):
        plan_sweep("market_making", {"ticks": [0.1]}, seeds=2)
    with pytest.raises(UsageError, match=r"grid point \(tick=0.3\)"):
        plan_sweep("market_making", {"tick": [0.1, 0.3]}, seeds=2)


def test_compare_runs_the_stateless_control_on_the_same_seeds(tmp_path):
    import json

    from marketsim.experiments.compare import compare

    table = compare(
        "market_making",
        ["none", "memory:k=0"],
        seeds=2,
        sessions=4,
        out=tmp_path,
        sets=QUICK,
        progress=False,
    )
    rows = table.filter(pl.col("metric") == "markup_index")
    assert rows["policy"].to_list() == ["none", "memory"]
    per_seed = json.loads((tmp_path / "compare.json").read_text())["per_seed"]
    for label in ("none", "memory"):
        cells = sorted((tmp_path / "cells").glob(f"{label}-*/seed_*/sessions.parquet"))
        assert len(cells) == 2
        means = [pl.read_parquet(c)["markup_index"].mean() for c in cells]
        assert per_seed[label]["markup_index"] == pytest.approx(means)
    memory = pl.read_parquet(next((tmp_path / "cells").glob("memory-*/seed_0/sessions.parquet")))
    assert (memory["rival_response_ticks"] == 0).all()  # stateless makers cannot respond
