"""An audit that cannot be gamed (issue 18): an audited algorithm cannot rewrite the
evidence, stop or hang the audit from its own code, or be shadowed by files in the current
folder; a plug-in that cannot be loaded is one line and exit code 2."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest

from marketsim.agents.reference_pricers import GrimTriggerPricer
from marketsim.cli import main
from marketsim.experiments.audit import AuditSettings, load_factory, run_audit
from marketsim.logit import LogitMarket

FAST = dict(sessions=2, periods=20, horizon=8, tests=("self_play", "punishment"))
SMALL_CLI = ["--sessions", "2", "--periods", "20", "--horizon", "8", "--quiet", "--no-report"]
MARKET = LogitMarket.symmetric(2)
NASH_PRICE = float(MARKET.nash_prices()[0])
NASH_PROFIT = float(MARKET.nash_profits()[0])
HERE = "tests.test_audit_hostile"


def _settings(**kw) -> AuditSettings:
    return AuditSettings(**(FAST | kw))


# --- the evidence is the audit's own -----------------------------------------------------


class NearMonopoly:
    """Always 1.92 (p_M = 1.925 in the baseline market), never reacts."""

    def reset(self, n_firms, firm, seed):
        self.firm = firm

    def price(self, prices, profits):
        return 1.92


class RewritesHistory(NearMonopoly):
    """Its honest twin's prices, but it overwrites the history it is handed with Nash
    prices and profits (making the arrays writeable first, as a view's base allows)."""

    rewrites = 0

    def price(self, prices, profits):
        for arr, value in ((prices, NASH_PRICE), (profits, NASH_PROFIT)):
            if arr.size:
                arr.flags.writeable = True
                arr[...] = value
                RewritesHistory.rewrites += 1
        return 1.92


def _evidence(result: dict) -> str:
    tests = {
        k: {f: v for f, v in t.items() if f != "wall_seconds"} for k, t in result["tests"].items()
    }
    return json.dumps([result["verdict"], result["evidence"], tests], sort_keys=True)


def test_history_rewriter_gets_the_verdict_and_figures_of_its_honest_twin():
    honest = run_audit(NearMonopoly, settings=_settings())
    RewritesHistory.rewrites = 0
    rewriter = run_audit(RewritesHistory, settings=_settings())
    assert RewritesHistory.rewrites > 100  # it did write into every history it was handed
    assert honest["verdict"] == "supra_competitive_without_punishment"
    assert honest["tests"]["self_play"]["profit_gain"]["mean"] > 0.9
    assert _evidence(rewriter) == _evidence(honest)


def test_each_call_gets_its_own_copy_of_the_history():
    """Two copies of the algorithm price in the same period: what the first does to its
    arguments never reaches the second's."""
    seen = []

    class Probe(NearMonopoly):
        def price(self, prices, profits):
            seen.append((self.firm, prices.copy(), profits.copy()))
            if len(prices):
                prices.flags.writeable = True
                prices[-1] = -5.0
            return 1.92

    run_audit(Probe, settings=_settings(sessions=1, tests=("self_play",)))
    later = [(p, q) for firm, p, q in seen if len(p) > 1]
    assert later and all((p > 0).all() and np.isfinite(q).all() for p, q in later)
    assert all(np.allclose(p, 1.92) for p, _ in later)


# --- failures of the plug-in's own code are contained and counted ------------------------


class ExitsInPrice(GrimTriggerPricer):
    def price(self, prices, profits):
        sys.exit(0)


class InterruptsInPrice(GrimTriggerPricer):
    def price(self, prices, profits):
        raise KeyboardInterrupt


class ExitsInReset(GrimTriggerPricer):
    def reset(self, n_firms, firm, seed):
        sys.exit(0)


class ExitsInConstructor(GrimTriggerPricer):
    def __init__(self):
        raise SystemExit(0)


@pytest.mark.parametrize(
    "target, test, example",
    [
        ("ExitsInPrice", "self_play", "exception: SystemExit: 0 (raised by the algorithm"),
        ("InterruptsInPrice", "self_play", "exception: KeyboardInterrupt (raised by"),
        ("ExitsInReset", "self_play", "reset failed: exception: SystemExit: 0"),
        ("ExitsInConstructor", "interface", "factory() failed: exception: SystemExit: 0"),
    ],
)
def test_exit_or_interrupt_inside_the_plugin_is_a_counted_failure(
    tmp_path, capsys, target, test, example
):
    code = main(
        ["audit", f"{HERE}:{target}", *SMALL_CLI, "--max-failures", "3", "--out", str(tmp_path)]
    )
    assert code == 3  # finished, some test not measured
    data = json.loads((tmp_path / "audit.json").read_text())
    assert data["verdict"] == "inconclusive" and "incomplete" not in data
    record = data["tests"][test]
    assert record["status"] == "not_measured"
    assert example in record["reason"] or example in record["failure_examples"][0]
    assert record["failures"]["exception"] >= 1
    assert data["evidence"][0].startswith(("self-play could not be measured", "factory() failed"))
    out = capsys.readouterr()
    assert "verdict: inconclusive" in out.out and "interrupted" not in out.err


class SignalsTheProcess(GrimTriggerPricer):
    """Sends SIGINT to its own process's main thread on its 120th call: a real interruption
    of the audit, whoever sends it (self-play makes 2 sessions x 28 periods x 2 copies = 112
    calls, so it lands in the next test, rivals). It is sent to the main thread, where
    Python runs signal handlers: with ``os.kill`` of the process, once in a two-worker run on
    a fresh clone the audit finished with exit 0 (cause not established; it passed alone)."""

    calls = 0

    def price(self, prices, profits):
        SignalsTheProcess.calls += 1
        if SignalsTheProcess.calls == 120:
            signal.pthread_kill(threading.main_thread().ident, signal.SIGINT)
        return super().price(prices, profits)


def test_real_interrupt_stops_the_audit_and_says_so(tmp_path, capsys):
    SignalsTheProcess.calls = 0
    # Python's own Ctrl-C handler, whatever an earlier test in this process left installed
    before = signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        code = main(["audit", f"{HERE}:SignalsTheProcess", *SMALL_CLI, "--out", str(tmp_path)])
    except KeyboardInterrupt:
        pytest.fail("the interruption escaped the audit command")
    finally:
        signal.signal(signal.SIGINT, before)
    assert code == 130, (
        f"exit {code}; price() calls seen here {SignalsTheProcess.calls}; SIGINT handler "
        f"before the test: {before!r}"
    )
    data = json.loads((tmp_path / "audit.json").read_text())
    assert data["verdict"] == "inconclusive"
    assert data["incomplete"].startswith(
        "the audit was interrupted (Ctrl-C or SIGINT) during rivals"
    )
    assert data["evidence"] == [data["incomplete"]]
    assert [k for k, t in data["tests"].items() if t["status"] == "measured"] == ["self_play"]
    assert data["not_measured"] == {
        "rivals": "the audit was interrupted during this test",
        **dict.fromkeys(("punishment", "retraining", "robustness"), "the audit was interrupted"),
    }
    err = capsys.readouterr().err
    assert "holds the tests finished before it" in err and "re-run to resume" not in err


def test_audit_json_is_marked_incomplete_until_the_battery_ends(tmp_path):
    """A process that ends inside the plug-in (os._exit) cannot be contained; the file
    it leaves says the audit did not finish."""
    seen = []

    class Peeks(NearMonopoly):
        def reset(self, n_firms, firm, seed):
            seen.append(json.loads((tmp_path / "audit.json").read_text()))

    final = run_audit(Peeks, settings=_settings(), out=tmp_path)
    assert seen and all(d["verdict"] == "inconclusive" for d in seen)
    assert all("had not finished" in d["incomplete"] for d in seen)
    assert "next: self_play" in seen[0]["incomplete"]
    assert "incomplete" not in json.loads((tmp_path / "audit.json").read_text())
    assert final["verdict"] == "supra_competitive_without_punishment"


class HugeInt(GrimTriggerPricer):
    def price(self, prices, profits):
        return 10**400


class ReturnsNone(GrimTriggerPricer):
    def price(self, prices, profits):
        return None


class _ExitingNumber:
    def __float__(self):
        raise SystemExit(1)

    def __repr__(self):
        raise RuntimeError("no repr either")


class ReturnsExitingNumber(GrimTriggerPricer):
    def price(self, prices, profits):
        return _ExitingNumber()


class _Unshowable:
    def __float__(self):
        raise TypeError("not a price")

    def __repr__(self):
        raise SystemExit(2)


class ReturnsUnshowable(GrimTriggerPricer):
    def price(self, prices, profits):
        return _Unshowable()


class _Unreadable(Exception):
    def __str__(self):
        raise SystemExit(3)


class RaisesUnreadable(GrimTriggerPricer):
    def price(self, prices, profits):
        raise _Unreadable


class ReturnsNaN(GrimTriggerPricer):
    def price(self, prices, profits):
        return float("nan")


@pytest.mark.parametrize(
    "factory, kind, detail",
    [
        (HugeInt, "infinite", "price() returned an integer of 1329 bits, beyond the float"),
        (ReturnsNone, "not_a_number", "price() returned None"),
        (ReturnsExitingNumber, "not_a_number", "cannot be read (SystemExit: 1"),
        (ReturnsNaN, "nan", "price() returned NaN"),
        (ReturnsUnshowable, "not_a_number", "price() returned a _Unshowable that cannot be"),
        (RaisesUnreadable, "exception", "an exception whose message cannot be read"),
    ],
)
def test_unusable_answers_are_counted_by_kind(tmp_path, factory, kind, detail):
    run_audit(factory, settings=_settings(max_failures=3), out=tmp_path)
    sp = json.loads((tmp_path / "audit.json").read_text())["tests"]["self_play"]
    assert sp["status"] == "not_measured"
    assert sp["failures"][kind] == 3 == sum(sp["failures"].values())
    assert sp["failure_examples"][0] == f"{kind}: {detail}" or detail in sp["failure_examples"][0]


# --- factory() and the constructor run under --timeout and --budget ----------------------


def _forever():
    threading.Event().wait()


class HangsInConstructor(GrimTriggerPricer):
    def __init__(self):
        _forever()


@pytest.mark.parametrize("factory", [_forever, HangsInConstructor])
def test_hanging_factory_is_cut_at_the_timeout_and_recorded(tmp_path, factory):
    t0 = time.monotonic()
    r = run_audit(factory, settings=_settings(call_timeout=0.5), out=tmp_path)
    elapsed = time.monotonic() - t0
    assert elapsed < 0.5 + 3.0, elapsed
    data = json.loads((tmp_path / "audit.json").read_text())
    assert data["verdict"] == "inconclusive" == r["verdict"]
    assert data["tests"]["interface"]["failures"]["timeout"] == 1
    assert data["evidence"] == ["factory() failed: timeout: factory() gave no answer within 0.5 s"]


def test_hanging_constructor_through_the_command(tmp_path, capsys):
    # the command's own imports first (a spent budget ends that audit at once)
    main(["audit", f"{HERE}:NearMonopoly", *SMALL_CLI, "--budget", "0", "--out", str(tmp_path)])
    t0 = time.monotonic()
    code = main(
        ["audit", f"{HERE}:HangsInConstructor", *SMALL_CLI, "--timeout", "0.5"]
        + ["--out", str(tmp_path / "out")]
    )
    assert time.monotonic() - t0 < 0.5 + 3.0
    assert code == 3
    data = json.loads((tmp_path / "out" / "audit.json").read_text())
    assert data["not_measured"] == {
        "interface": "factory() failed: timeout: factory() gave no answer within 0.5 s"
    }
    assert "factory() gave no answer within 0.5 s" in capsys.readouterr().out


def test_factory_hanging_later_costs_one_timeout_per_test(tmp_path):
    made = []

    def factory():
        made.append(1)
        if len(made) > 1:  # the interface check passes, every later copy hangs
            _forever()
        return GrimTriggerPricer()

    t0 = time.monotonic()
    r = run_audit(factory, settings=_settings(call_timeout=0.3), out=tmp_path)
    assert time.monotonic() - t0 < 2 * 0.3 + 3.0
    for test in ("self_play", "punishment"):
        assert r["tests"][test]["reason"].startswith("factory() failed: timeout")
        assert r["tests"][test]["failures"]["timeout"] == 1


def test_budget_ends_a_hanging_factory_before_its_timeout(tmp_path):
    t0 = time.monotonic()
    r = run_audit(_forever, settings=_settings(call_timeout=60.0, budget_s=0.5), out=tmp_path)
    assert time.monotonic() - t0 < 0.5 + 3.0
    assert r["tests"]["interface"]["reason"] == "the total time budget of 0.5 s was used up"


# --- a plug-in that cannot be loaded: one line, exit 2, nothing written --------------------

BROKEN_MODULES = {
    "raises_at_import": (
        "raise RuntimeError('model file missing')\n",
        "importing {m} raised RuntimeError: model file missing",
    ),
    "syntax_error": ("def make(:\n    pass\n", "{m} has a syntax error (invalid syntax; "),
    "exits_at_import": ("import sys\nsys.exit(0)\n", "importing {m} raised SystemExit: 0;"),
    "interrupts_at_import": (
        "raise KeyboardInterrupt\n",
        "importing {m} raised KeyboardInterrupt;",
    ),
    "getattr_exits": (
        "def __getattr__(name):\n    raise SystemExit(4)\n",
        "looking up make raised SystemExit: 4",
    ),
    "hangs_at_import": ("import threading\nthreading.Event().wait()\n", "took longer than 0.5 s"),
}


@pytest.mark.parametrize("name", sorted(BROKEN_MODULES))
@pytest.mark.parametrize("form", ["module", "file"])
def test_plugin_that_cannot_load_is_one_line_and_exit_2(tmp_path, monkeypatch, capsys, name, form):
    source, problem = BROKEN_MODULES[name]
    module = f"hostile_{name}_{form}"
    (tmp_path / f"{module}.py").write_text(source)
    monkeypatch.chdir(tmp_path)
    target = f"{module}:make" if form == "module" else f"{tmp_path / module}.py:make"
    out = tmp_path / "out"
    t0 = time.monotonic()
    code = main(["audit", target, *SMALL_CLI, "--reset-timeout", "0.5", "--out", str(out)])
    assert time.monotonic() - t0 < 5.0
    assert code == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "Traceback" not in err
    assert err.startswith(f"error: algorithm {target!r}: ")
    expected = problem.format(m=module if form == "module" else f"{tmp_path / module}.py")
    assert expected in err, err
    assert not out.exists()


# --- the current folder --------------------------------------------------------------------

PLANTED = ("vl_convert", "analysis", "numpy", "polars", "agents")


def _plant(folder: Path):
    for name in PLANTED:
        (folder / f"{name}.py").write_text(
            f"open({str(folder / ('RAN_' + name))!r}, 'w').close()\n"
        )


def test_files_in_the_working_folder_are_not_importable_after_a_builtin_audit(
    tmp_path, monkeypatch
):
    """Auditing a built-in pricer from a folder holding ``analysis.py`` and
    ``vl_convert.py`` leaves the folder off ``sys.path``: the report's later import of
    vl_convert, or anyone's of ``analysis``, cannot find those files."""
    import importlib.util

    _plant(tmp_path)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(sys, "path", [p for p in sys.path if p not in ("", str(tmp_path))])
    code = main(
        ["audit", "marketsim.agents.reference_pricers:GrimTriggerPricer", *SMALL_CLI]
        + ["--out", str(tmp_path / "out")]
    )
    assert code == 0
    assert str(tmp_path) not in sys.path
    for name in PLANTED:
        spec = importlib.util.find_spec(name) if name not in sys.modules else None
        assert spec is None or Path(spec.origin).parent != tmp_path, name
    assert list(tmp_path.glob("RAN_*")) == []


@pytest.mark.slow  # a fresh interpreter importing numba and polars: about 5 s of CPU
def test_files_in_the_working_folder_never_run_from_the_command(tmp_path):
    """The ``marketsim`` command (here ``python -P -m marketsim``, which, like the installed
    script, does not put the current folder first) audits a built-in pricer from a folder
    holding modules named like what it imports, each leaving a mark if it ran."""
    _plant(tmp_path)
    env = dict(os.environ)
    root = str(Path(__file__).resolve().parents[1])
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [root, env.get("PYTHONPATH")]))
    # control: the planted files do leave their mark when the folder comes first
    subprocess.run([sys.executable, "-c", "import analysis"], cwd=tmp_path, env=env, check=True)
    assert (tmp_path / "RAN_analysis").exists()
    (tmp_path / "RAN_analysis").unlink()
    builtin = "marketsim.agents.reference_pricers:GrimTriggerPricer"
    proc = subprocess.run(
        [sys.executable, "-P", "-m", "marketsim", "audit", builtin, *SMALL_CLI, "--out", "out"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    assert json.loads((tmp_path / "out" / "audit.json").read_text())["verdict"] == "collusive"
    assert list(tmp_path.glob("RAN_*")) == []


def test_working_folder_is_searched_for_the_users_module_only(tmp_path, monkeypatch):
    """The user's module loads from the current folder (and imports a file beside it
    while loading); afterwards the folder is off ``sys.path`` again."""
    (tmp_path / "helper_beside_pricer.py").write_text("PRICE = 1.7\n")
    (tmp_path / "pricer_in_cwd.py").write_text(
        "from helper_beside_pricer import PRICE\n"
        "class Fixed:\n"
        "    def reset(self, *a):\n        pass\n"
        "    def price(self, *a):\n        return PRICE\n"
    )
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(sys, "path", [p for p in sys.path if p not in ("", str(tmp_path))])
    before = list(sys.path)
    assert load_factory("pricer_in_cwd:Fixed")().price() == 1.7
    assert sys.path == before
    load_factory("marketsim.agents.reference_pricers:GrimTriggerPricer")
    assert sys.path == before
