"""End-to-end timing of the analyses, as a user runs them (each command in a fresh interpreter).

    python benchmarks/analysis.py sobol        [--out DIR] [--workers 2]
    python benchmarks/analysis.py attribution  [--out DIR] [--seeds 10] [--workers 2]
    python benchmarks/analysis.py all

sobol: `sim grid sobol-uncertain-parameters` (6 parameters, N = 256, 2 seeds: 4096 full-horizon history
runs) then `sim sensitivity` on two outcomes; the goal is <= 5 minutes for both.
attribution: `sim attribute history --base no-controls --outcome share:Nvidia:2027 --seeds 10
--groups history` (the history scenario's event groups against no-controls); the goal is <= 2 minutes.
Prints one line per step with wall time and the load average before and after. Figures go to
docs/PERFORMANCE.md (section "Analysis").
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def step(label: str, args: list[str]) -> float:
    load0 = os.getloadavg()[0]
    t0 = time.perf_counter()
    r = subprocess.run([sys.executable, "-m", "sim", *args], cwd=ROOT, capture_output=True, text=True)
    dt = time.perf_counter() - t0
    if r.returncode != 0:
        sys.exit(f"{label} failed ({r.returncode}):\n{r.stderr[-2000:]}")
    print(f"{label:44s} {dt:8.1f} s   load {load0:.1f} -> {os.getloadavg()[0]:.1f}", flush=True)
    return dt


def sobol(out: Path, workers: int) -> None:
    shutil.rmtree(out, ignore_errors=True)
    t = step("grid sobol-uncertain-parameters (4096 runs)",
             ["grid", "sobol-uncertain-parameters", "--out", str(out), "--workers", str(workers), "--no-progress"])
    t += step("sensitivity (2 outcomes)", ["sensitivity", str(out), "--outcome", "share:Huawei:2027",
                                           "--outcome", "crossover:Huawei:Nvidia"])
    print(f"{'Sobol analysis end to end':44s} {t:8.1f} s   (goal <= 300 s)", flush=True)


def attribution(out: Path, seeds: int, workers: int) -> None:
    shutil.rmtree(out, ignore_errors=True)
    step(f"attribute history vs no-controls ({seeds} seeds)",
         ["attribute", "history", "--base", "no-controls", "--outcome", "share:Nvidia:2027", "--seeds", str(seeds),
          "--groups", "history", "--out", str(out), "--workers", str(workers), "--no-progress"])
    print("(goal <= 120 s)", flush=True)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("what", choices=["sobol", "attribution", "all"])
    ap.add_argument("--out", default=None, help="results folder (default: a temporary folder, removed)")
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--seeds", type=int, default=10)
    a = ap.parse_args()
    print(f"{os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f} at the start")
    tmp = None if a.out else tempfile.mkdtemp(prefix="bench-analysis-")
    base = Path(a.out or tmp)
    try:
        if a.what in ("sobol", "all"):
            sobol(base / "sobol", a.workers)
        if a.what in ("attribution", "all"):
            attribution(base / "attribution", a.seeds, a.workers)
    finally:
        if tmp:
            shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
