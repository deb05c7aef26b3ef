"""Every count and rate has an upper bound from what the machine can do, stated in the
error: exit 2 and one line, at once, before any work."""

from __future__ import annotations

import time

import pytest

from marketsim.cli import main
from marketsim.experiments._limits import max_workers, usable_cores
from marketsim.scenarios import get_scenario


@pytest.mark.parametrize(
    ("args", "needles"),
    [
        # loops forever in a kernel Ctrl-C cannot stop
        (["run", "market_calm", "--set", "noise_rate=Infinity"], ["noise_rate", "finite"]),
        (
            ["run", "market_calm", "--set", "noise_rate=1e6"],
            ["noise_rate", "less than or equal to 100"],
        ),
        # grew past 3 GB
        (
            ["run", "market_calm", "--set", "n_noise=1e9"],
            ["n_noise", "less than or equal to 100000"],
        ),
        # each bound alone holds, together they are ~1,000 default days of work
        (
            ["run", "flash_crash_2010", "--set", "n_noise=100000", "--set", "noise_rate=100"],
            ["wake-ups per session", "2e+09"],
        ),
        # planned for a minute
        (
            ["sweep", "calvano2020", "--grid", "alpha=0.01:1:200000", "--seeds", "2"],
            ["COUNT = 200000", "2,500"],
        ),
        (
            [
                "sweep",
                "calvano2020",
                "--grid",
                "alpha=0.01:1:100",
                "--grid",
                "delta=0.5:0.9:100",
                "--seeds",
                "2",
            ],
            ["100 x 100 = 10,000 points", "2,500"],
        ),
        (
            [
                "sweep",
                "calvano2020",
                "--grid",
                "alpha=0.1,0.2",
                "--seeds",
                "10000000",
                "--chunk",
                "1",
            ],
            ["100,000 tasks"],
        ),
        (
            [
                "sweep",
                "calvano2020",
                "--grid",
                "alpha=0.1,0.2",
                "--seeds",
                "2",
                "--workers",
                "1000",
            ],
            ["--workers 1000", f"at most {max_workers()}"],
        ),
        # one process per cell
        (
            [
                "compare",
                "calvano2020",
                "--policy",
                "none",
                "--policy",
                "price_cap:cap=1.6",
                "--workers",
                "1000",
            ],
            ["--workers 1000", f"{usable_cores()} usable core", f"at most {max_workers()}"],
        ),
        (
            [
                "compare",
                "calvano2020",
                "--policy",
                "none",
                "--policy",
                "price_cap:cap=1.6",
                "--seeds",
                "1000000",
            ],
            ["--seeds 1000000", "at most 100,000"],
        ),
    ],
)
def test_bounds_are_refused_at_once_with_the_limit(tmp_path, capsys, args, needles):
    import marketsim.experiments.compare  # noqa: F401  imports are not the work timed
    import marketsim.experiments.sweep  # noqa: F401

    get_scenario(args[1])
    t0 = time.perf_counter()
    assert main([*args, "--out", str(tmp_path / "o")]) == 2
    assert time.perf_counter() - t0 < 10
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "Traceback" not in err, err
    for n in needles:
        assert n in err, err
    assert not (tmp_path / "o").exists()


def test_a_session_whose_tables_outgrow_memory_is_refused(tmp_path, capsys, monkeypatch):
    monkeypatch.setattr("marketsim.scenarios._market_spec.memory_bytes", lambda: 8 * 2**30)
    # 100,000 noise traders over a full day: ~1.2e8 wake-ups, ~33 GiB of tables
    assert main(["run", "market_calm", "--set", "n_noise=100000", "--out", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert "GiB, more than 60% of this machine's 8.0 GiB" in err and err.count("\n") == 1
    # the same traders over ten minutes fit
    spec = get_scenario("market_calm").Spec(n_noise=100_000, session_seconds=600)
    assert spec.n_noise == 100_000


def test_the_bounds_themselves_validate():
    from marketsim.scenarios.market_calm import Spec

    spec = Spec(n_noise=100_000, noise_rate=0.05, fundamental_sigma=0.01, session_seconds=600)
    assert spec.wakeups_per_second() > 5000
