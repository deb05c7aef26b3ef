"""Sweep throughput: a 5 x 5 alpha x beta grid of the Calvano baseline, 100 sessions per
point, on a LocalCluster of 1 and then 2 single-threaded worker processes.

Figures: wall seconds (cluster start and numba warm-up included, and apart), sessions
per second, and the speed-up from 1 to 2 workers.
"""

from __future__ import annotations

import os
import tempfile

GRID = {"alpha": "0.05:0.25:5", "beta": "log:2e-6:2e-5:5"}
SEEDS = 100


def _children_cpu() -> float:
    t = os.times()
    return t.children_user + t.children_system


def run() -> dict:
    from marketsim.experiments.sweep import parse_axis_values, plan_sweep, run_sweep, scan_sweep

    grid = {k: parse_axis_values(k, v) for k, v in GRID.items()}
    plan = plan_sweep("calvano2020", grid, seeds=SEEDS, seed=0)
    sessions = len(plan.points) * SEEDS
    figures: dict = {
        "grid": GRID,
        "seeds_per_point": SEEDS,
        "sessions": sessions,
        "tasks": len(plan.tasks),
        "cpus": os.cpu_count(),
    }
    tables = []
    for workers in (1, 2):
        load_before = os.getloadavg()[0]
        cpu_before = _children_cpu()
        with tempfile.TemporaryDirectory(prefix="bench_sweep_") as out:
            status = run_sweep(plan, out, workers=workers, quiet=True)
            assert status["complete"], status
            tables.append(scan_sweep(out).collect().sort("alpha", "beta", "session"))
        wall, start = status["wall_seconds"], status["startup_seconds"]
        figures[f"wall_seconds_{workers}w"] = round(wall, 2)
        figures[f"startup_seconds_{workers}w"] = round(start, 2)
        figures[f"sessions_per_second_{workers}w"] = round(sessions / wall, 2)
        # CPU the worker processes got (reaped when the cluster closes) over the cores they
        # could have used: well below 1 means other jobs took the cores, not sweep overhead
        cpu = _children_cpu() - cpu_before
        figures[f"worker_cpu_seconds_{workers}w"] = round(cpu, 1)
        figures[f"cpu_share_{workers}w"] = round(cpu / (wall * workers), 3)
        # other jobs on the machine: 1-minute load average before and after (2 cores)
        figures[f"load_avg_{workers}w"] = [round(load_before, 2), round(os.getloadavg()[0], 2)]
    figures["speedup_2w"] = round(figures["wall_seconds_1w"] / figures["wall_seconds_2w"], 3)
    figures["same_table_1w_2w"] = bool(tables[0].equals(tables[1]))
    figures["profit_gain_mean"] = round(float(tables[0]["profit_gain"].mean()), 4)
    return figures
