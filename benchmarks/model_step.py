"""The engine's speed goals, measured in one process against an "empty" Mesa model with the same agents
and phases whose agents do nothing (the framework's floor, the unit that makes figures from different
machines comparable).

    python benchmarks/model_step.py [--repeat 15] [--batch 1000]

Measures (median wall time; history scenario, 108 months):
  * one run alone (decision trace off and on; and with Mesa's DataCollector, the mesa.batch_run path)
  * a 20-seed ensemble as the app runs it (one batch, decision trace on)
  * ``--batch`` runs stepped together in one batch (per run), with the batch's peak memory

The goals (issue "One fast engine") were set on a machine where the empty model takes 0.66 ms; each
goal is also shown scaled to this machine by the ratio of the empty model's times. Record the figures
in docs/PERFORMANCE.md.
"""

from __future__ import annotations

import argparse
import os
import statistics
import time

import mesa

from sim.engine.batch import Job, run_batch
from sim.engine.ensemble import run_ensemble
from sim.model.ids import BUYERS, VENDORS
from sim.model.market_model import MarketModel
from sim.model.scenario import load_scenario


class _Idle(mesa.Agent):
    def regulate(self):
        pass

    def offer(self):
        pass

    def adapt(self):
        pass


class EmptyModel(mesa.Model):
    """Same agents (8 vendors, 7 buyers, 2 regulators), same months and phase calls; no work."""

    def __init__(self, n_months: int = 108, seed: int = 1):
        super().__init__(seed=seed)
        for _ in range(len(VENDORS) + len(BUYERS) + 2):
            _Idle(self)
        self.n_months = n_months
        self.t = 0
        self.running = True
        self.all = self.agents_by_type[_Idle]

    def step(self):
        self.all.do("regulate")  # regulate
        self.all.do("offer")  # offer
        self.all.do("adapt")  # anticipate
        for _ in range(4):  # choose, clear, update, record
            pass
        self.t += 1
        self.running = self.t < self.n_months

    def run(self):
        while self.running:
            self.step()


CPU = {}


def _time(fn, repeat: int) -> float:
    """Median wall time of ``fn``; the median CPU time of this process is kept in ``CPU`` (steadier than
    wall time on a shared machine)."""
    fn()  # warm-up
    xs, cs = [], []
    for _ in range(repeat):
        c, t = time.process_time(), time.perf_counter()
        fn()
        xs.append(time.perf_counter() - t)
        cs.append(time.process_time() - c)
    CPU[len(CPU)] = statistics.median(cs)
    return statistics.median(xs)


REFERENCE_EMPTY_MS = 0.66   # the empty model on the machine the goals were set on (docs/PERFORMANCE.md)
GOALS_MS = {"one run alone": 20.0, "20-seed ensemble": 150.0, "per run in a batch": 5.0}


def main() -> None:
    import sys

    sys.path.insert(0, str(__import__("pathlib").Path(__file__).parent))
    from _measure import timed

    ap = argparse.ArgumentParser()
    ap.add_argument("--repeat", type=int, default=15)
    ap.add_argument("--batch", type=int, default=1000)
    a = ap.parse_args()
    sc = load_scenario("history")
    n = len(sc.months)
    empty = _time(lambda: EmptyModel(n).run(), a.repeat * 4)
    off = _time(lambda: MarketModel(sc, seed=1, mesa_collect=False).run(), a.repeat)
    on = _time(lambda: MarketModel(sc, seed=1, trace=True, mesa_collect=False).run(), a.repeat)
    mesa_dc = _time(lambda: MarketModel(sc, seed=1).run(), a.repeat)
    ens20 = _time(lambda: run_ensemble(sc, 20), max(3, a.repeat // 3))
    jobs = [Job(sc, i, i) for i in range(a.batch)]
    run_batch(jobs[:2], details=())
    big, big_cpu = [], []
    for _ in range(3):
        c0 = time.process_time()
        _, dt, mem = timed(run_batch, jobs, details=())
        big_cpu.append(time.process_time() - c0)
        big.append((dt, mem.parent_mb))
    big_dt = statistics.median(x for x, _ in big)
    CPU[len(CPU)] = statistics.median(big_cpu) / a.batch
    peak = max(m for _, m in big)
    scale = empty * 1e3 / REFERENCE_EMPTY_MS
    per = big_dt / a.batch
    print(f"history, {n} months; medians; empty model here {empty * 1e3:.2f} ms "
          f"(x{scale:.2f} the reference machine)")
    rows = [
        ("empty Mesa model (same agents and steps)", empty, None),
        ("one run alone, trace off", off, "one run alone"),
        ("one run alone, trace on", on, None),
        ("one run alone, Mesa DataCollector (batch_run path)", mesa_dc, None),
        ("20-seed ensemble (one batch, trace on)", ens20, "20-seed ensemble"),
        (f"{a.batch} runs in one batch, per run", per, "per run in a batch"),
    ]
    cpu = [CPU[k] for k in sorted(CPU)]   # empty, off, on, mesa_dc, ens20, per run in the batch
    print(f"load average {os.getloadavg()[0]:.2f}; wall time (and CPU time of this process)")
    for (label, t, goal), c in zip(rows, cpu):
        line = (f"  {label:52s} {t * 1e3:9.2f} ms  {t / empty:7.1f}x empty   CPU {c * 1e3:8.2f} ms "
                f"{c / cpu[0]:6.1f}x")
        if goal:
            g = GOALS_MS[goal]
            line += (f"   goal {g:g} ms = {g / REFERENCE_EMPTY_MS:.0f}x empty "
                     f"({g * scale:.0f} ms here): {'met' if t * 1e3 <= g * scale else 'MISSED'}")
        print(line)
    print(f"  {a.batch}-run batch: {big_dt:.2f} s, peak memory of the process {peak:.0f} MB")


if __name__ == "__main__":
    main()
