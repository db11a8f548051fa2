"""End-to-end timing of the analyses, as a user runs them (each command in a fresh interpreter).

    python benchmarks/analysis.py sobol        [--out DIR] [--workers 2]
    python benchmarks/analysis.py attribution  [--out DIR] [--seeds 10] [--workers 2]
    python benchmarks/analysis.py examples     [--out DIR] [--workers 2]
    python benchmarks/analysis.py all          (the three above)

sobol: `sim grid sobol-uncertain-parameters` (6 parameters, N = 256, 2 seeds: 2048 points, 4096
full-horizon history runs, stepped in batches by the engine) then `sim sensitivity` on two outcomes; the
goal is <= 5 minutes for both.
attribution: `sim attribute history --base no-controls --outcome share:Nvidia:2027 --seeds 10 --groups
history`: no-controls removes the 11 US events of history, which the history grouping puts in 5 groups,
so exact Shapley values need 2^5 = 32 coalitions x 10 seeds = 320 runs; `evaluate` sends them all to the
engine at once (batches over the workers); the goal is <= 2 minutes.
examples: the rest of docs/ANALYSIS.md: `sim discover` on the Sobol folder (made by `sobol` if missing),
`sim grid tencent-robustness` (432 runs) and `sim robustness` on it.

Prints the date, the niceness the commands run at (that of this process: start it with `nice -n N` to
change it) and the load averages; then one line per step: wall time, CPU time of the command and its worker
processes (sampled from /proc every 20 ms), peak memory of them together, and the 1-minute load average
before and after. Figures go to docs/PERFORMANCE.md (section "Analysis"). With --out the results folders
are kept (docs/ANALYSIS.md quotes them).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from _measure import timed

ROOT = Path(__file__).resolve().parents[1]


def step(label: str, args: list[str]) -> float:
    load0 = os.getloadavg()[0]
    r, wall, mem = timed(subprocess.run, [sys.executable, "-m", "sim", *args], cwd=ROOT, capture_output=True,
                         text=True)
    if r.returncode != 0:
        sys.exit(f"{label} failed ({r.returncode}):\n{r.stderr[-2000:]}")
    print(f"{label:48s} {wall:7.1f} s wall {mem.cpu_s:7.1f} s CPU {mem.tree_mb:6.0f} MB   load {load0:.1f} -> "
          f"{os.getloadavg()[0]:.1f}", flush=True)
    return wall


def sobol(out: Path, workers: int) -> None:
    shutil.rmtree(out, ignore_errors=True)
    t = step("grid sobol-uncertain-parameters (4096 runs)",
             ["grid", "sobol-uncertain-parameters", "--out", str(out), "--workers", str(workers), "--no-progress"])
    t += step("sensitivity (2 outcomes)", ["sensitivity", str(out), "--outcome", "share:Nvidia:2026",
                                           "--outcome", "sum:Total:units:2030"])
    print(f"{'Sobol analysis end to end':48s} {t:7.1f} s   (goal <= 300 s)", flush=True)


def attribution(out: Path, seeds: int, workers: int) -> None:
    shutil.rmtree(out, ignore_errors=True)
    step(f"attribute history vs no-controls ({seeds} seeds)",
         ["attribute", "history", "--base", "no-controls", "--outcome", "share:Nvidia:2027", "--seeds", str(seeds),
          "--groups", "history", "--out", str(out), "--workers", str(workers), "--no-progress"])
    man = json.loads((out / "manifest.json").read_text(encoding="utf-8"))
    print(f"  ({len(man['groups'])} groups, {man['method']} Shapley values, "
          f"{2 ** len(man['groups']) * len(man['seeds'])} runs; goal <= 120 s)", flush=True)


def examples(base: Path, workers: int) -> None:
    if not (base / "sobol" / "manifest.json").exists():
        sobol(base / "sobol", workers)
    step("discover (share:Nvidia:2026 > 0.15)",
         ["discover", str(base / "sobol"), "--outcome", "share:Nvidia:2026", "--above", "0.15"])
    step("discover (share:Nvidia:2026 > 0.19, rare)",
         ["discover", str(base / "sobol"), "--outcome", "share:Nvidia:2026", "--above", "0.19", "--mass-min", "0.009"])
    out = base / "tencent"
    shutil.rmtree(out, ignore_errors=True)
    step("grid tencent-robustness (432 runs)",
         ["grid", "tencent-robustness", "--out", str(out), "--workers", str(workers), "--no-progress"])
    step("robustness (mean:Tencent:service_level:2028)",
         ["robustness", str(out), "--outcome", "mean:Tencent:service_level:2028", "--maximize"])


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("what", choices=["sobol", "attribution", "examples", "all"])
    ap.add_argument("--out", default=None, help="results folder (default: a temporary folder, removed)")
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--seeds", type=int, default=10)
    a = ap.parse_args()
    print(f"{dt.datetime.now():%Y-%m-%d %H:%M}, {os.cpu_count()} CPUs, niceness {os.nice(0)}, load average "
          + " / ".join(f"{x:.1f}" for x in os.getloadavg()) + " (1 / 5 / 15 min) at the start", flush=True)
    tmp = None if a.out else tempfile.mkdtemp(prefix="bench-analysis-")
    base = Path(a.out or tmp)
    try:
        if a.what in ("sobol", "all"):
            sobol(base / "sobol", a.workers)
        if a.what in ("attribution", "all"):
            attribution(base / "attribution", a.seeds, a.workers)
        if a.what in ("examples", "all"):
            examples(base, a.workers)
    finally:
        print(f"{dt.datetime.now():%Y-%m-%d %H:%M}, load average "
              + " / ".join(f"{x:.1f}" for x in os.getloadavg()) + " at the end", flush=True)
        if tmp:
            shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
