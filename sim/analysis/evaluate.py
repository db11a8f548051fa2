"""The one place where an analysis runs the model: scenarios x seeds -> an outcome per run.

Every model run an analysis needs (attribution's coalitions, any future method that simulates) goes
through ``evaluate``, so a faster engine (e.g. many runs stepped together as one batch) is switched in
here and nowhere else. Today each scenario is run with ``sim.engine.runs.run_scenario`` for the explicit
list of seeds, scenarios spread over worker processes, and the outcome is computed by the same functions
as ``python -m sim summarize`` (``sim.experiments.summarize``).
"""

from __future__ import annotations

import multiprocessing as mp
import os
from collections.abc import Callable, Sequence
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait

import numpy as np

from sim.engine.runs import run_scenario
from sim.experiments.summarize import OutcomeError, annual_frame, outcome_columns, parse_outcome
from sim.model.scenario import Scenario

MIN_PARALLEL = 4   # fewer scenarios than this run in this process (starting workers costs about a second)


def last_full_year(sc: Scenario) -> int:
    """The default year of share outcomes: the last full calendar year of the horizon (as ``summarize``)."""
    start, end = sc.header.start, sc.header.end
    y, m = int(end[:4]), int(end[5:7])
    return y if m == 12 or y == int(start[:4]) else y - 1


def outcome_name(outcome: str, sc: Scenario) -> str:
    """The outcome's full name for this scenario's horizon; raises OutcomeError if not understood."""
    o = parse_outcome(outcome, last_full_year(sc))
    if o.year is not None and not int(sc.header.start[:4]) <= o.year <= int(sc.header.end[:4]):
        raise OutcomeError(f"outcome {o.name}: year {o.year} is outside the horizon {sc.header.start} to "
                           f"{sc.header.end}")
    return o.name


def run_one(scenario: Scenario, seeds: Sequence[int], outcome: str) -> np.ndarray:
    """One scenario for the given seeds: the outcome per seed (NaN where undefined, e.g. no crossover)."""
    o = parse_outcome(outcome, last_full_year(scenario))
    ts = run_scenario(scenario, seeds=[int(s) for s in seeds]).timeseries
    col = outcome_columns(annual_frame(ts, o.pairs()), [o])
    vals = np.full(len(seeds), np.nan)
    vals[col["run"].to_numpy()] = col[o.name].to_numpy(dtype=float)
    return vals


def evaluate(scenarios: Sequence[Scenario], seeds: Sequence[int], outcome: str, workers: int | None = None,
             progress: Callable[[int, int], None] | None = None) -> np.ndarray:
    """The outcome of every scenario for every seed: shape (len(scenarios), len(seeds)).

    Seeds are used as given (common random numbers: the same seeds for every scenario). ``workers``:
    processes (default: all CPUs; 1 = this process). ``progress(done, total)`` is called as scenarios
    finish. The result does not depend on ``workers``.
    """
    if not scenarios:
        return np.zeros((0, len(seeds)))
    for sc in scenarios[:1]:
        outcome_name(outcome, sc)
    n = len(scenarios)
    out = np.full((n, len(seeds)), np.nan)
    workers = max(1, workers or os.cpu_count() or 1)
    if workers == 1 or n < MIN_PARALLEL:
        for i, sc in enumerate(scenarios):
            out[i] = run_one(sc, seeds, outcome)
            if progress:
                progress(i + 1, n)
        return out
    from sim.engine.executors import no_main_reimport, start_method

    ctx = mp.get_context(start_method())
    if ctx.get_start_method() == "forkserver":
        ctx.set_forkserver_preload(["sim.analysis.evaluate"])
    done = 0
    with ProcessPoolExecutor(max_workers=min(workers, n), mp_context=ctx) as pool:
        live = {}

        def submit(i: int) -> None:
            with no_main_reimport():  # a submit may start a worker process
                live[pool.submit(run_one, scenarios[i], list(seeds), outcome)] = i

        window = 4 * workers
        todo = iter(range(n))
        for i in todo:
            submit(i)
            if len(live) >= window:
                break
        while live:
            fin, _ = wait(live, return_when=FIRST_COMPLETED)
            for f in fin:
                out[live.pop(f)] = f.result()
                done += 1
                if progress:
                    progress(done, n)
            for i in todo:
                submit(i)
                if len(live) >= window:
                    break
    return out
