"""The same grid through mesa.batch_run and through `sim grid` (run_grid, the function the command runs),
in one benchmark session (each measurement in a fresh interpreter): throughput (runs/s) and peak memory, for two grid sizes (the second 10x the first).

    python benchmarks/grid_vs_batch_run.py [--points 4] [--seeds 5] [--factor 10] [--workers 2]

Grid: hoarding.strength at ``--points`` values x seeds, the full history horizon (2022-01..2030-12).
mesa.batch_run keeps 5 model-level reporters of the last step per run (what the model's DataCollector
collects); `sim grid` writes each run's whole time series (17k rows) to Parquet shards on disk.
Peak memory: "parent" is this process (kernel high-water mark), "tree" adds the worker processes.
Figures go to docs/PERFORMANCE.md ("## Grids").
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import textwrap
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _measure import timed  # noqa: E402


def grid_text(points: int, seeds: int, master: int) -> str:
    vals = [round(0.5 * i, 3) for i in range(points)]
    return textwrap.dedent(f"""
        [grid]
        name = "bench"
        scenario = "history"
        replicates = {seeds}
        seed = {master}

        [[axes]]
        parameter = "hoarding.strength"
        values = {vals}
        """)


def run_batch(points: int, seeds: int, master: int, processes: int):
    from mesa import batch_run

    from sim.model.market_model import MarketModel
    from sim.model.seeds import derive_seeds

    params = {"scenario": ["history"], "hoarding.strength": [round(0.5 * i, 3) for i in range(points)],
              "seed": derive_seeds(master, seeds)}
    return batch_run(MarketModel, params, number_processes=processes, iterations=1, data_collection_period=-1,
                     max_steps=200, display_progress=False)


def run_sim_grid(points: int, seeds: int, master: int, workers: int, tmp: Path):
    from sim.engine.executors import make_executor
    from sim.experiments.gridrun import run_grid

    g = tmp / f"grid-{points}x{seeds}.toml"
    g.write_text(grid_text(points, seeds, master))
    out = tmp / f"out-{points}x{seeds}-{workers}"
    rep = run_grid(g, out, executor=make_executor("local", workers), progress=False)
    assert rep.complete, rep.failed
    return rep


CASES = ("batch1", "batch2", "grid")


def case(name: str, points: int, seeds: int, master: int, workers: int) -> dict:
    """One measurement in this (fresh) process: wall time and peak memory of the process and its workers."""
    import sim.model.market_model  # noqa: F401  (import cost outside the timings)

    tmp = Path(tempfile.mkdtemp(prefix="grid-bench-"))
    try:
        if name == "batch1":
            _, dt, mem = timed(run_batch, points, seeds, master, 1)
        elif name == "batch2":
            _, dt, mem = timed(run_batch, points, seeds, master, workers)
        else:
            _, dt, mem = timed(run_sim_grid, points, seeds, master, workers, tmp)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return {"seconds": dt, "parent_mb": mem.parent_mb, "tree_mb": mem.tree_mb, "cpu_s": mem.cpu_s}


def per_run_cpu(n: int, master: int) -> dict:
    """CPU time per run in this process, no pools: mesa.batch_run's loop vs the grid worker's loop
    (model + the full time series as Parquet). CPU time is much less sensitive to other load than wall time."""
    import time

    from sim.engine.worker import Task, run_chunk
    from sim.model.scenario import load_scenario
    from sim.model.seeds import derive_seeds

    seeds = derive_seeds(master, n)
    base = load_scenario("history")
    run_chunk(base, Task([([0], seeds[0], {"parameters": {"hoarding.strength": 1.0}, "events": {}})]))  # warm-up
    t = time.process_time()
    run_batch(1, n, master, 1)
    batch = (time.process_time() - t) / n
    t = time.process_time()
    run_chunk(base, Task([([i], s, {"parameters": {"hoarding.strength": 0.0}, "events": {}})
                          for i, s in enumerate(seeds)]))
    grid = (time.process_time() - t) / n
    return {"batch_ms": 1000 * batch, "grid_ms": 1000 * grid}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--points", type=int, default=4)
    ap.add_argument("--seeds", type=int, default=5)
    ap.add_argument("--factor", type=int, default=10)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--master", type=int, default=20231017)
    ap.add_argument("--repeat", type=int, default=1, help="measure each case N times; report the fastest (a "
                    "shared machine's load only ever slows a run down)")
    ap.add_argument("--case", choices=CASES, help=argparse.SUPPRESS)  # one measurement (used by the driver)
    a = ap.parse_args()
    if a.case:
        print(json.dumps(case(a.case, a.points, a.seeds, a.master, a.workers)))
        return
    pr = per_run_cpu(20, a.master)
    print(f"CPU per run, serial in one process (20 runs): mesa.batch_run {pr['batch_ms']:.1f} ms, grid worker "
          f"{pr['grid_ms']:.1f} ms (model + 17k-row time series + Parquet)")
    labels = {"batch1": "mesa.batch_run, 1 process", "batch2": f"mesa.batch_run, {a.workers} processes",
              "grid": f"sim grid, {a.workers} workers"}
    rows = []
    print(f"CPUs: {os.cpu_count()}; python {sys.version.split()[0]}; load average before: {os.getloadavg()[0]:.2f}")
    for seeds in (a.seeds, a.seeds * a.factor):
        n = a.points * seeds
        for c in CASES:
            # every measurement in a fresh interpreter, so no case inherits another's heap
            tries = []
            for _ in range(a.repeat):
                r = subprocess.run([sys.executable, __file__, "--case", c, "--points", str(a.points), "--seeds",
                                    str(seeds), "--workers", str(a.workers), "--master", str(a.master)],
                                   capture_output=True, text=True, check=True)
                tries.append(json.loads(r.stdout.strip().splitlines()[-1]))
            m = min(tries, key=lambda t: t["seconds"])
            rows.append((n, labels[c], m["seconds"], n / m["seconds"], m["parent_mb"], m["tree_mb"],
                         1000 * m["cpu_s"] / n))
            print(f"{n:6d} runs  {labels[c]:32s} {m['seconds']:7.2f} s  {n / m['seconds']:7.1f} runs/s  "
                  f"{1000 * m['cpu_s'] / n:6.1f} CPU ms/run  peak {m['parent_mb']:6.0f} MB (process)  "
                  f"{m['tree_mb']:6.0f} MB (with workers)", flush=True)
    print(f"load average after: {os.getloadavg()[0]:.2f}")
    print()
    print("| runs | how | wall s | runs/s | CPU ms per run | peak MB (process) | peak MB (with workers) |")
    print("|---:|---|---:|---:|---:|---:|---:|")
    for n, label, dt, rate, p, t, cpu in rows:
        print(f"| {n} | {label} | {dt:.2f} | {rate:.1f} | {cpu:.0f} | {p:.0f} | {t:.0f} |")
    small = {r[1]: r for r in rows if r[0] == a.points * a.seeds}
    big = {r[1]: r for r in rows if r[0] != a.points * a.seeds}
    g = labels["grid"]
    for ref in (labels["batch1"], labels["batch2"]):
        print(f"runs/s of sim grid / {ref}: {big[g][3] / big[ref][3]:.2f}x (large grid), "
              f"{small[g][3] / small[ref][3]:.2f}x (small grid)")
    for k in big:
        print(f"peak memory, large / small grid ({a.factor}x runs), {k}: process {big[k][4] / small[k][4]:.2f}x, "
              f"with workers {big[k][5] / small[k][5]:.2f}x")


if __name__ == "__main__":
    main()
