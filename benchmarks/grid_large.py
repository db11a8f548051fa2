"""A large grid through `sim grid` (run_grid, what the command runs) on this machine: wall time, runs/s and
memory sampled over the whole run, to check that memory stays flat as the grid grows.

    python benchmarks/grid_large.py [--runs 100000] [--workers 2] [--keep DIR]

Grid: hoarding.strength at 100 values x (runs / 100) replicates, the full history horizon (108 months);
every run's whole time series is written to the checksummed Parquet shards, as `sim grid` does.
Prints the time, the rate, the projected time of 100,000 runs at that rate, the size on disk and the
memory of the process tree at each tenth of the grid. Figures go to docs/PERFORMANCE.md ("## Grids").
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import textwrap
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _measure import _descendants, _rss_kb  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=100_000)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--keep", help="results folder to keep (default: a temporary folder, removed)")
    a = ap.parse_args()
    from sim.engine.executors import make_executor
    from sim.experiments.gridrun import run_grid

    points = 100
    reps = max(1, a.runs // points)
    tmp = Path(tempfile.mkdtemp(prefix="grid-large-"))
    g = tmp / "grid.toml"
    vals = [round(0.08 * i, 3) for i in range(points)]
    g.write_text(textwrap.dedent(f"""
        [grid]
        name = "large"
        scenario = "history"
        replicates = {reps}
        seed = 7

        [[axes]]
        parameter = "hoarding.strength"
        values = {vals}
        """))
    out = Path(a.keep) if a.keep else tmp / "out"
    samples: list[tuple[float, float]] = []
    stop = threading.Event()
    t0 = time.perf_counter()

    def sample() -> None:
        me = os.getpid()
        while not stop.is_set():
            kb = _rss_kb(me) + sum(_rss_kb(p) for p in _descendants(me))
            samples.append((time.perf_counter() - t0, kb / 1024))
            stop.wait(1.0)

    th = threading.Thread(target=sample, daemon=True)
    th.start()
    try:
        rep = run_grid(g, out, executor=make_executor("local", a.workers), progress=False)
    finally:
        stop.set()
        th.join()
    dt = time.perf_counter() - t0
    n = points * reps
    assert rep.complete, rep.failed
    disk = sum(p.stat().st_size for p in out.rglob("*") if p.is_file())
    print(f"{n} runs, {a.workers} workers: {dt:.1f} s, {n / dt:.1f} runs/s; 100,000 runs at this rate: "
          f"{100_000 / (n / dt) / 60:.1f} min; on disk {disk / 2**20:.0f} MB "
          f"({disk / n / 1024:.1f} KB per run)")
    print("memory of the process tree (MB) at each tenth of the wall time:")
    for k in range(1, 11):
        upto = [m for t, m in samples if t <= dt * k / 10]
        print(f"  {10 * k:3d}%  {max(upto) if upto else 0:7.0f}")
    if not a.keep:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
