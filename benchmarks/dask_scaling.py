"""Scaling of the Dask executor: the same grid on a LocalCluster of 1 and of 2 single-threaded workers.

    python benchmarks/dask_scaling.py [--points 4] [--seeds 20] [--end 2030-12]

Efficiency = runs/s with 2 workers / (2 x runs/s with 1 worker). The cluster is started before the clock
starts; each measurement is run_grid (what `sim grid --executor dask --scheduler ...` runs) into a fresh
folder. Also checks that both give the same results, run for run. Figures go to docs/PERFORMANCE.md.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import textwrap
import time
from pathlib import Path


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--points", type=int, default=4)
    ap.add_argument("--seeds", type=int, default=20)
    ap.add_argument("--end", default="2030-12")
    ap.add_argument("--max-workers", type=int, default=2)
    ap.add_argument("--repeat", type=int, default=1, help="runs per worker count; the fastest is reported")
    a = ap.parse_args()
    import pandas as pd
    from distributed import Client, LocalCluster

    from sim.engine import store
    from sim.engine.executors import make_executor
    from sim.experiments.gridrun import run_grid

    tmp = Path(tempfile.mkdtemp(prefix="dask-bench-"))
    g = tmp / "g.toml"
    vals = [round(0.5 * i, 3) for i in range(a.points)]
    g.write_text(textwrap.dedent(f"""
        [grid]
        name = "dask-bench"
        scenario = "history"
        end = "{a.end}"
        replicates = {a.seeds}
        seed = 1

        [[axes]]
        parameter = "hoarding.strength"
        values = {vals}
        """))
    n = a.points * a.seeds
    rates = {}
    print(f"CPUs: {os.cpu_count()}; {n} runs to {a.end}; load average before: {os.getloadavg()[0]:.2f}")
    try:
        for w in range(1, a.max_workers + 1):
            times = []
            with LocalCluster(n_workers=w, threads_per_worker=1, processes=True, dashboard_address=":0") as c, \
                    Client(c) as client:
                client.run(lambda: __import__("sim.engine.worker"))  # warm the workers' imports
                for k in range(a.repeat):
                    shutil.rmtree(tmp / f"out{w}", ignore_errors=True)
                    t0 = time.perf_counter()
                    rep = run_grid(g, tmp / f"out{w}", executor=make_executor("dask", client=client),
                                   progress=False)
                    times.append(time.perf_counter() - t0)
                    assert rep.complete
            dt = min(times)
            rates[w] = n / dt
            print(f"{w} worker(s): {dt:6.2f} s  {n / dt:6.1f} runs/s", flush=True)
        for w in range(2, a.max_workers + 1):
            print(f"scaling efficiency 1 -> {w} workers: {rates[w] / (w * rates[1]):.0%}")
        a1 = store.read_runs(tmp / "out1").sort_values(["run", "date", "entity", "metric"]).reset_index(drop=True)
        a2 = store.read_runs(tmp / f"out{a.max_workers}").sort_values(["run", "date", "entity", "metric"])
        pd.testing.assert_frame_equal(a1, a2.reset_index(drop=True))
        print("results identical run for run: yes")
        print(f"load average after: {os.getloadavg()[0]:.2f}")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
