"""LLM-style traders in the order-book market: monoculture, conservation, determinism.

The claim under test (issue #6; Fish, Gonczarowski & Shorrer 2024 for the proxy): LLM
traders that share one base model share its bias and error, so their orders are
correlated and do not cancel; the market then moves more than with diverse models.
Measured on one-hour ``market_calm`` sessions with 100 LLM traders (orders of 10
contracts per threshold, at most 100), seeds 1-3, monoculture 1.0 vs 0.0:

- mean pairwise correlation of per-minute LLM net order flow: 0.32 / 0.62 / 0.67
  against 0.12 / 0.06 / 0.16;
- SD of the LLM traders' aggregate per-minute net flow: 532 / 1,392 / 2,099 against
  508 / 340 / 670 contracts;
- max drawdown within 15 minutes: 0.64% / 9.8% / 10.9% against 0.47% / 0.22% / 0.76%
  (two of three monoculture sessions drive the makers out: a crash).
"""

from __future__ import annotations

import numpy as np
import pytest

from marketsim.agents.traders import LLM, LLMTrader
from marketsim.errors import UsageError
from marketsim.records import BUY, NS_PER_SECOND, SELL
from marketsim.scenarios import build_spec, get_scenario
from marketsim.scenarios._orderbook_market import (
    OPEN_NS,
    agents_frame,
    book_frame,
    simulate,
    window_drawdown,
)

HOUR = [
    "session_seconds=3600",
    "warmup_seconds=60",
    "chunk_seconds=600",
    "llm_traders=100",
    "llm_order_size=10",
    "llm_order_max=100",
]


def _run(share, seed, name="market_calm", sets=HOUR):
    spec = build_spec(get_scenario(name).Spec, {}, [*sets, f"llm_monoculture={share}"])
    return spec, simulate(spec, seed=seed)


def _flow_stats(spec, model):
    """Mean pairwise correlation of the LLM traders' per-minute net flow, SD of their
    aggregate per-minute net flow, and the max drawdown of the one-second mid."""
    f = model.fills_all()
    llm = np.flatnonzero(model.kind == LLM)
    n_min = spec.session_seconds // 60
    minute = np.clip((f["t_ns"] - OPEN_NS) // (60 * NS_PER_SECOND), 0, n_min)
    flow = np.zeros((model.kind.shape[0], n_min + 1))
    np.add.at(flow, (f["buyer"], minute), f["qty"])
    np.subtract.at(flow, (f["seller"], minute), f["qty"])
    x = flow[llm, :n_min]
    x = x[x.std(axis=1) > 0]
    c = np.corrcoef(x)
    pair = c[np.triu_indices_from(c, 1)].mean()
    mid = book_frame(model)["mid_tick"].to_numpy()
    return pair, x.sum(axis=0).std(), window_drawdown(mid)["max_drawdown"]


def test_monoculture_correlates_llm_flow_and_deepens_drawdowns():
    mono, div = [], []
    for seed in (1, 2, 3):
        mono.append(_flow_stats(*_run(1.0, seed)))
        div.append(_flow_stats(*_run(0.0, seed)))
    mono, div = np.array(mono), np.array(div)
    # correlated errors: every seed, gap measured 0.20-0.61
    assert (mono[:, 0] > div[:, 0] + 0.1).all()
    assert div[:, 0].max() < 0.3
    # errors that do not cancel: aggregate flow swings more (pooled: 4,023 vs 1,518)
    assert mono[:, 1].sum() > 1.5 * div[:, 1].sum()
    # the market moves more: deeper drawdowns in every seed, far deeper on average
    # (measured mean 7.1% vs 0.48%); diverse models never reach 2%
    assert (mono[:, 2] > div[:, 2]).all()
    assert mono[:, 2].mean() > 3 * div[:, 2].mean()
    assert div[:, 2].max() < 0.02


@pytest.mark.parametrize("name", ["market_calm", "flash_crash_2010"])
def test_llm_traders_trade_and_conserve_cash_and_contracts(name):
    sets = [
        "session_seconds=900",
        "warmup_seconds=60",
        "chunk_seconds=120",
        "llm_traders=60",
        "programme_start_s=300",
    ][: 5 if name == "flash_crash_2010" else 4]
    spec, model = _run(0.5, 4, name, sets)
    llm = np.flatnonzero(model.kind == LLM)
    assert llm.size == 60
    # half the traders on model 0, the other 30 on models 1..30
    ids = model.params[llm, 6].astype(int)
    assert (ids[:30] == 0).all() and sorted(ids[30:]) == list(range(1, 31))
    assert model.llm_model.shape == (31, 2)
    assert isinstance(model.traders[llm[0]], LLMTrader)
    assert model.traders[llm[0]].kind == "llm"
    assert model.acct[llm, 2].sum() + model.acct[llm, 3].sum() > 0  # they traded
    assert model.acct[:, 0].sum() == 0 and model.acct[:, 1].sum() == 0
    f = model.fills_all()
    net = np.zeros(model.kind.shape[0], dtype=np.int64)
    np.add.at(net, f["buyer"], f["qty"])
    np.subtract.at(net, f["seller"], f["qty"])
    np.testing.assert_array_equal(net, model.acct[:, 0])
    # LLM traders only send market orders: they are the aggressor in each of their fills
    buy_llm = np.isin(f["buyer"], llm) & (f["aggressor_side"] == SELL)
    sell_llm = np.isin(f["seller"], llm) & (f["aggressor_side"] == BUY)
    assert not buy_llm.any() and not sell_llm.any()
    agents = agents_frame(model)
    row = agents.filter(agents["kind"] == "llm")
    assert row["n_agents"][0] == 60 and row["inventory"][0] == model.acct[llm, 0].sum()


def test_same_seed_same_trades_with_llm_traders(tmp_path):
    mod = get_scenario("market_calm")
    spec = build_spec(
        mod.Spec,
        {},
        ["session_seconds=900", "warmup_seconds=60", "llm_traders=80", "llm_monoculture=0.7"],
    )
    a = mod.run(spec, sessions=None, seed=5, out=tmp_path / "a", progress=False)
    b = mod.run(spec, sessions=None, seed=5, out=tmp_path / "b", progress=False)
    for f in ("trades.parquet", "book.parquet", "agents.parquet"):
        assert (tmp_path / "a" / f).read_bytes() == (tmp_path / "b" / f).read_bytes(), f
    assert a["volume"] == b["volume"] and a["cash_sum_ticks"] == 0


@pytest.mark.parametrize("bad", ["llm_monoculture=1.5", "llm_traders=-1", "llm_threshold=0"])
def test_bad_llm_fields_are_usage_errors(bad):
    with pytest.raises(UsageError, match=bad.split("=")[0]):
        build_spec(get_scenario("market_calm").Spec, {}, [bad])
