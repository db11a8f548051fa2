"""Time one `history` run (108 months) with the decision trace off and on, against an "empty" Mesa
model with the same agents and the same seven phases whose agents do nothing (the framework's floor).

    python benchmarks/model_step.py [--repeat 30]

Prints the median wall time of each and the ratios. Record the figures in docs/PERFORMANCE.md.
"""

from __future__ import annotations

import argparse
import statistics
import time

import mesa

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


def _time(fn, repeat: int) -> float:
    fn()  # warm-up
    xs = []
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        xs.append(time.perf_counter() - t)
    return statistics.median(xs)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--repeat", type=int, default=30)
    a = ap.parse_args()
    sc = load_scenario("history")
    n = len(sc.months)
    empty = _time(lambda: EmptyModel(n).run(), a.repeat)
    off = _time(lambda: MarketModel(sc, seed=1, mesa_collect=False).run(), a.repeat)
    on = _time(lambda: MarketModel(sc, seed=1, trace=True, mesa_collect=False).run(), a.repeat)
    mesa_dc = _time(lambda: MarketModel(sc, seed=1).run(), a.repeat)
    print(f"history, {n} months, median of {a.repeat} runs")
    print(f"  empty Mesa model (same agents and steps): {empty * 1e3:8.2f} ms")
    print(f"  MarketModel, trace off:                   {off * 1e3:8.2f} ms   ({off / empty:5.1f}x empty)")
    print(f"  MarketModel, trace on:                    {on * 1e3:8.2f} ms   ({on / empty:5.1f}x empty, "
          f"trace +{(on / off - 1) * 100:.0f}%)")
    print(f"  MarketModel, trace off + Mesa DataCollector: {mesa_dc * 1e3:5.2f} ms")


if __name__ == "__main__":
    main()
