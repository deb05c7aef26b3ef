"""Policies as spec data: parsing, validation errors, and the pricing-game transformations."""

import numpy as np
import pytest

from marketsim.cli import main
from marketsim.errors import UsageError
from marketsim.logit import LogitMarket
from marketsim.scenarios._spec import build_spec
from marketsim.scenarios.calvano2020 import Spec
from marketsim.scenarios.policies import (
    LULD,
    MWCB,
    check_market,
    parse_policies,
    policy_label,
    pricing_setup,
    steered_shares,
)


def test_a_name_fills_the_defaults_and_none_is_the_empty_list():
    assert parse_policies("luld") == [LULD()]
    assert parse_policies("none") == []
    assert parse_policies(["none", {"name": "mwcb", "halt_s": 600}]) == [MWCB(halt_s=600)]
    both = parse_policies("luld:tier=2+mwcb")
    assert [p.name for p in both] == ["luld", "mwcb"] and both[0].tier == 2
    assert policy_label(both) == "luld:tier=2+mwcb"


def test_spec_accepts_a_name_on_the_command_line_and_tables_from_toml(tmp_path):
    spec = build_spec(Spec, {}, ["policy=steering"])
    assert [p.name for p in spec.policy] == ["steering"] and spec.policy[0].weight == 0.5
    toml = tmp_path / "p.toml"
    toml.write_text('[[policy]]\nname = "price_cap"\ncap = 1.6\n\n[[policy]]\nname = "memory"\n')
    from marketsim.scenarios._spec import load_toml

    spec = build_spec(Spec, load_toml(toml), None)
    assert [(p.name, getattr(p, "cap", None)) for p in spec.policy] == [
        ("price_cap", 1.6),
        ("memory", None),
    ]
    assert Spec().policy == []


@pytest.mark.parametrize(
    "text, names",
    [
        ("luld:band_pct=-0.05", "luld.band_pct"),
        ("mwcb:halt_s=99999", "mwcb.halt_s"),
        ("halt:halt_s=30000", "halt.halt_s"),
        ("mwcb:levels=[0.13,0.07]", "levels"),
        ("price_cap:cap=-1", "price_cap.cap"),
        ("steering:weight=1.5", "steering.weight"),
        ("luld:band=0.05", "luld.band"),
        ("fba:interval_ms=0", "fba.interval_ms"),
    ],
)
def test_nonsense_parameters_give_one_line_naming_them(text, names):
    with pytest.raises(UsageError) as err:
        parse_policies(text)
    msg = str(err.value)
    assert "\n" not in msg and names in msg


def test_halt_longer_than_a_short_session_is_refused():
    with pytest.raises(ValueError, match=r"mwcb.halt_s = 900 s is longer than the 600 s"):
        check_market(parse_policies("mwcb"), "book", session_s=600)
    check_market(parse_policies("mwcb"), "book", session_s=23_400)


def test_cli_rejects_a_book_rule_in_the_pricing_market(capsys, tmp_path):
    code = main(
        [
            "run",
            "calvano2020",
            "--sessions",
            "1",
            "--set",
            "policy=luld",
            "--out",
            str(tmp_path),
            "--quiet",
        ]
    )
    err = capsys.readouterr().err.strip()
    assert code == 2 and err.count("\n") == 0 and "'luld' applies to book markets" in err
    code = main(
        [
            "run",
            "calvano2020",
            "--sessions",
            "1",
            "--set",
            "policy=luld:tier=3",
            "--out",
            str(tmp_path),
            "--quiet",
        ]
    )
    assert code == 2 and "tier" in capsys.readouterr().err


def test_steering_moves_buyers_to_the_cheapest_and_keeps_total_demand():
    rng = np.random.default_rng(0)
    market = LogitMarket.symmetric(3)
    prices = rng.uniform(1.3, 2.1, size=(500, 3))
    prices[:50, 1] = prices[:50, 0]  # ties for lowest in some rows
    q = market.shares(prices)
    w = 0.4
    s = steered_shares(q, prices, w)
    np.testing.assert_allclose(s.sum(-1), q.sum(-1), rtol=1e-12)
    low = prices == prices.min(-1, keepdims=True)
    assert np.all(s[low] >= q[low]) and np.all(s[~low] <= q[~low])
    np.testing.assert_allclose(s[~low], (1 - w) * q[~low])
    equal = np.full((4, 3), 1.7)
    np.testing.assert_array_equal(
        steered_shares(market.shares(equal), equal, w), market.shares(equal)
    )


def test_price_cap_at_nash_clips_the_grid_and_makes_nash_the_best_collusive_outcome():
    market = LogitMarket.symmetric(2)
    grid = market.price_grid(15, 0.1)
    profit = market.profit_table(grid)
    g, p, k = pricing_setup(parse_policies("price_cap"), market, grid, profit, 1)
    pn = market.nash_prices()[0]
    assert k == 1 and g.shape == (2, 15)
    assert g.max() == pytest.approx(pn) and np.sum(g[0] == g[0].max()) == 13
    # the highest joint profit left on the capped grid is the Nash profit
    assert p.sum(1).max() == pytest.approx(2 * market.nash_profits()[0], rel=1e-12)
    g2, p2, _ = pricing_setup(parse_policies("price_cap:mode=remove"), market, grid, profit, 1)
    assert g2.shape == (2, 2) and p2.shape == (4, 2)
    _, _, k0 = pricing_setup(parse_policies("memory"), market, grid, profit, 1)
    assert k0 == 0
