"""Sweeps: grid syntax, validation before work, resume after SIGKILL, external scheduler,
retries and exit codes.

Specs are tiny (beta = 4e-5, conv_window = 20,000: a session takes ~25 ms) so each part
takes a fraction of a second; cluster start-up dominates the time of these tests.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import polars as pl
import pytest

from marketsim.cli import main
from marketsim.errors import UsageError
from marketsim.experiments.sweep import (
    parse_axis_values,
    parse_grid_items,
    plan_sweep,
    run_sweep,
    scan_sweep,
)

ROOT = Path(__file__).resolve().parents[1]
FAST = ["--set", "beta=4e-5", "--set", "conv_window=20000"]
GRID = ["--grid", "alpha=0.1,0.2", "--grid", "delta=0.9:0.95:2"]
SWEEP = ["sweep", "calvano2020", *GRID, *FAST, "--seeds", "12", "--chunk", "2", "--seed", "5"]


def _table(out) -> pl.DataFrame:
    return scan_sweep(out).collect().sort("alpha", "delta", "session")


# ----------------------------------------------------------------------------- grid


def test_grid_syntax_lists_linear_and_log_ranges():
    assert parse_axis_values("alpha", "0.05:0.25:5") == [0.05, 0.1, 0.15, 0.2, 0.25]
    assert parse_axis_values("beta", "log:1e-6:1e-4:3") == [1e-6, 1e-5, 1e-4]
    assert parse_axis_values("m", "5:15:3") == [5, 10, 15]
    assert all(isinstance(v, int) for v in parse_axis_values("m", "5:15:3"))
    assert parse_axis_values("beta", "1e-6,4e-6,1e-5") == [1e-6, 4e-6, 1e-5]
    assert parse_axis_values("alpha", "0.1") == [0.1]
    assert parse_axis_values("alpha", [0.1, 0.1, 0.2]) == [0.1, 0.2]  # repeats dropped
    assert parse_grid_items(["alpha=0.1,0.2", "k=1:2:2"]) == {"alpha": [0.1, 0.2], "k": [1, 2]}


@pytest.mark.parametrize(
    "item, words",
    [
        ("alpha=0.1:0.2:0", ["alpha", "empty range"]),
        ("alpha=", ["alpha", "no values"]),
        ("beta=log:0:1e-5:3", ["beta", "> 0"]),
        ("alpha=0.1:x:3", ["alpha", "'x'"]),
        ("alpha", ["expected KEY=VALUES"]),
    ],
)
def test_bad_axis_is_a_one_line_error_naming_the_key(item, words):
    with pytest.raises(UsageError) as exc:
        parse_grid_items([item])
    assert all(w in str(exc.value) for w in words)
    assert "\n" not in str(exc.value)


@pytest.mark.parametrize(
    "grid, words",
    [
        (["--grid", "gamma=0.1,0.2"], ["--grid gamma", "unknown parameter"]),
        (["--grid", "alpha=0.1:0.3:0"], ["--grid alpha", "empty range"]),
        (["--grid", "alpha=0.5,1.5"], ["alpha=1.5", "alpha: Input should be less than or equal"]),
        (["--grid", "m=15", "--grid", "m=10"], ["--grid m", "given twice"]),
    ],
)
def test_bad_grid_fails_before_any_work(tmp_path, capsys, grid, words):
    out = tmp_path / "never"
    code = main(["sweep", "calvano2020", *grid, "--seeds", "4", "--out", str(out), "--quiet"])
    err = capsys.readouterr().err
    assert code == 2
    assert err.startswith("error: ") and err.count("\n") == 1
    assert all(w in err for w in words), err
    assert not out.exists()  # no manifest, no cluster, no parts


def test_part_keys_follow_the_spec_and_the_seed_block():
    grid = {"alpha": [0.1, 0.2]}
    a = plan_sweep("calvano2020", grid, seeds=100, sets=["beta=4e-5"], chunk=30)
    b = plan_sweep("calvano2020", grid, seeds=100, sets=["beta=4e-5"], chunk=30)
    changed = plan_sweep("calvano2020", grid, seeds=100, sets=["beta=5e-5"], chunk=30)
    reseeded = plan_sweep("calvano2020", grid, seeds=100, seed=1, sets=["beta=4e-5"], chunk=30)
    keys = [t.key for t in a.tasks]
    assert keys == [t.key for t in b.tasks]  # same command, same parts: resumable
    assert len(set(keys)) == len(keys) == 2 * 4
    assert not set(keys) & {t.key for t in changed.tasks}  # a changed spec never mixes
    assert not set(keys) & {t.key for t in reseeded.tasks}
    # 100 seeds in chunks of at most 30: four equal blocks covering 0..99 once
    blocks = [(t.start, t.count) for t in a.tasks if t.point == 0]
    assert blocks == [(0, 25), (25, 25), (50, 25), (75, 25)]


@pytest.fixture(scope="module")
def threads_cluster():
    """An in-process dask cluster (one worker thread): starts in a second."""
    from distributed import LocalCluster

    with LocalCluster(
        n_workers=1, threads_per_worker=1, processes=False, dashboard_address=None
    ) as cluster:
        yield cluster.scheduler_address


def test_toml_file_names_the_scenario_and_the_grid(tmp_path, threads_cluster, capsys):
    cfg = tmp_path / "sweep.toml"
    cfg.write_text(
        'scenario = "calvano2020"\nbeta = 4e-5\nconv_window = 20000\n'
        '[grid]\nalpha = "0.1:0.2:2"\nm = [10, 15]\n[sweep]\nseeds = 3\n'
    )
    out = tmp_path / "toml"
    assert (
        main(
            [
                "sweep",
                "--config",
                str(cfg),
                "--grid",
                "m=10,12",
                "--scheduler",
                threads_cluster,
                "--out",
                str(out),
                "--quiet",
            ]
        )
        == 0
    )
    table = scan_sweep(out).collect()
    assert table.group_by("alpha", "m").len().sort("alpha", "m").rows() == [
        (0.1, 10, 3),
        (0.1, 12, 3),
        (0.2, 10, 3),
        (0.2, 12, 3),
    ]  # --grid overrides the file
    manifest = json.loads((out / "sweep.json").read_text())
    assert all(
        p["spec"]["beta"] == 4e-5 and p["spec"]["conv_window"] == 20000 for p in manifest["points"]
    )
    bad = tmp_path / "bad.toml"
    bad.write_text('scenario = "calvano2020"\n[grid]\nalpha = [0.5, 2.0]\n[sweep]\nseeds = 3\n')
    capsys.readouterr()
    assert main(["sweep", "--config", str(bad), "--out", str(tmp_path / "b"), "--quiet"]) == 2
    assert "alpha=2.0" in capsys.readouterr().err


# ----------------------------------------------------------------------- clusters


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    # zombies still count; only live members matter
    out = subprocess.run(
        ["ps", "-o", "stat=", "-g", str(pgid)], capture_output=True, text=True
    ).stdout.split()
    return any(not s.startswith("Z") for s in out)


@pytest.fixture(scope="module")
def scheduler():
    """A dask scheduler and two single-threaded workers, each its own process on 127.0.0.1."""
    port = _free_port()
    address = f"tcp://127.0.0.1:{port}"
    env = {**os.environ, "NUMBA_NUM_THREADS": "1", "PYTHONPATH": str(ROOT)}
    dask = [sys.executable, "-m", "distributed.cli.dask_scheduler"]
    procs = [
        subprocess.Popen(
            [*dask, "--host", "127.0.0.1", "--port", str(port), "--dashboard-address", ":0"],
            cwd=ROOT,
            env=env,
            start_new_session=True,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
    ]
    for _ in range(2):
        procs.append(
            subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "distributed.cli.dask_worker",
                    address,
                    "--nthreads",
                    "1",
                    "--host",
                    "127.0.0.1",
                    "--no-dashboard",
                    "--no-nanny",
                ],
                cwd=ROOT,
                env=env,
                start_new_session=True,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
        )
    from distributed import Client

    try:
        with Client(address, timeout="30s") as client:
            client.wait_for_workers(2, timeout=60)
            n_workers = len(client.scheduler_info()["workers"])
        yield address, n_workers
    finally:
        for p in procs:
            os.killpg(p.pid, signal.SIGKILL)
            p.wait()


@pytest.fixture(scope="module")
def reference(scheduler, tmp_path_factory):
    """An uninterrupted sweep through ``--scheduler`` (the external 2-worker cluster)."""
    address, _ = scheduler
    out = tmp_path_factory.mktemp("reference")
    code = main([*SWEEP, "--scheduler", address, "--out", str(out), "--quiet"])
    return code, out


def test_sweep_on_an_external_two_worker_cluster(scheduler, reference):
    address, n_workers = scheduler
    code, out = reference
    assert n_workers == 2
    assert code == 0
    table = _table(out)
    assert table.height == 4 * 12
    assert table.select("alpha", "delta", "session").is_unique().all()
    assert sorted(table["session"].unique()) == list(range(12))
    manifest = json.loads((out / "sweep.json").read_text())
    assert manifest["status"]["complete"] and manifest["status"]["done"] == 4 * 6
    assert (
        len(manifest["points"]) == 4 and len(set(p["spec_hash"] for p in manifest["points"])) == 4
    )
    # a point's sessions, cut into blocks of 2 on two workers, equal one direct run
    from marketsim.scenarios.calvano2020 import Spec, simulate

    direct = simulate(
        Spec(alpha=0.2, delta=0.9, beta=4e-5, conv_window=20000), sessions=12, seed=5, threads=1
    )[0]
    swept = table.filter((pl.col("alpha") == 0.2) & (pl.col("delta") == 0.9)).drop("alpha", "delta")
    assert swept.equals(direct)


def test_sigkill_then_rerun_equals_an_uninterrupted_run(tmp_path, scheduler, reference, capsys):
    ref_code, ref_out = reference
    assert ref_code == 0
    out = tmp_path / "killed"
    cmd = [
        sys.executable,
        "-m",
        "marketsim",
        *SWEEP,
        "--workers",
        "2",
        "--out",
        str(out),
        "--quiet",
    ]
    proc = subprocess.Popen(
        cmd, cwd=ROOT, start_new_session=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    parts = out / "parts"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and proc.poll() is None:
        if parts.is_dir() and len(list(parts.glob("*.parquet"))) >= 3:
            break
        time.sleep(0.02)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    written = len(list(parts.glob("*.parquet")))
    assert 3 <= written < 4 * 6, f"kill came at {written} parts: test proves nothing"
    deadline = time.monotonic() + 10
    while _group_alive(proc.pid) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not _group_alive(proc.pid), "sweep workers outlived the killed process group"

    # resume with the same sweep, here on the running external cluster (start-up is slow)
    capsys.readouterr()
    assert main([*SWEEP, "--scheduler", scheduler[0], "--out", str(out), "--quiet"]) == 0
    assert f"skipped {written} already on disk" in capsys.readouterr().out
    manifest = json.loads((out / "sweep.json").read_text())
    on_disk = sorted(p.name for p in parts.iterdir())
    assert on_disk == sorted(Path(p).name for p in manifest["parts"])  # each part once
    assert _table(out).equals(_table(ref_out))


def test_failed_task_is_retried_once_and_reported(tmp_path, monkeypatch, threads_cluster, capsys):
    """In-process workers, so a patched simulate fails where the test says."""
    import marketsim.scenarios.calvano2020 as calvano

    real = calvano.simulate
    calls: dict[float, int] = {}

    def flaky(spec, *, sessions, seed, start=0, threads=None, progress=False):
        calls[spec.alpha] = calls.get(spec.alpha, 0) + 1
        if spec.alpha == 0.3 or (spec.alpha == 0.2 and calls[0.2] == 1):
            raise RuntimeError(f"boom at alpha={spec.alpha}")
        return real(spec, sessions=sessions, seed=seed, start=start, threads=threads)

    monkeypatch.setattr(calvano, "simulate", flaky)
    plan = plan_sweep(
        "calvano2020", {"alpha": [0.1, 0.2, 0.3]}, seeds=2, sets=["beta=4e-5", "conv_window=20000"]
    )
    messages: list[str] = []
    status = run_sweep(plan, tmp_path, scheduler=threads_cluster, quiet=True, log=messages.append)
    assert status["failed"] == ["alpha=0.3, sessions 0..1"]
    assert not status["complete"] and status["done"] == 2
    retried = [m for m in messages if m.startswith("warning:")]
    assert len(retried) == 2 and "alpha=0.2" in retried[0] + retried[1]
    assert any(m.startswith("error: task (alpha=0.3") and "boom" in m for m in messages)
    with pytest.raises(UsageError, match="1 of 3 sweep parts are missing"):
        scan_sweep(tmp_path)
    assert sorted(scan_sweep(tmp_path, allow_missing=True).collect()["alpha"].unique()) == [
        0.1,
        0.2,
    ]
    # the same sweep from the command line: finished parts skipped, exit code 1
    capsys.readouterr()
    code = main(
        [
            "sweep",
            "calvano2020",
            "--grid",
            "alpha=0.1,0.2,0.3",
            "--seeds",
            "2",
            "--set",
            "beta=4e-5",
            "--set",
            "conv_window=20000",
            "--scheduler",
            threads_cluster,
            "--out",
            str(tmp_path),
            "--quiet",
        ]
    )
    captured = capsys.readouterr()
    assert code == 1
    assert "skipped 2 already on disk" in captured.out
    assert "error: task (alpha=0.3, sessions 0..1) failed again" in captured.err
