"""The one place where an analysis runs the model: scenarios x seeds -> an outcome per run.

Every model run an analysis needs (attribution's coalitions, any future method that simulates) goes
through ``evaluate``. All scenario x seed runs go to the engine's one execution layer
(``sim.engine.executors.run_jobs``) as batches stepped together, in this process or across worker
processes; the outcome is computed by the same functions as ``python -m sim summarize``
(``sim.experiments.summarize``).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence

import numpy as np
import pandas as pd

from sim.engine import tables
from sim.engine.batch import Job
from sim.engine.executors import make_executor, run_jobs
from sim.experiments.summarize import OutcomeError, outcome_columns, parse_outcome
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


def annual_from_records(rec, pairs: set[tuple[str, str]]) -> pd.DataFrame:
    """``summarize.annual_frame`` straight from the records' arrays (no long table): per run, year, entity
    and metric, the sum and count of the monthly values."""
    values, keys = tables.series_matrix(rec)
    cols = [i for i, k in enumerate(keys) if k in pairs]
    years = np.array([int(m[:4]) for m in rec.months])
    uy = np.unique(years)
    R = rec.n_runs
    parts = []
    for y in uy:
        block = values[:, years == y][:, :, cols]                # (R, months of y, series)
        sums, counts = np.nansum(block, axis=1), (~np.isnan(block)).sum(axis=1)   # as pandas' sum and count
        parts.append(pd.DataFrame({
            "run": np.repeat(rec.run_ids, len(cols)), "year": np.int64(y),
            "entity": np.tile([keys[i][0] for i in cols], R), "metric": np.tile([keys[i][1] for i in cols], R),
            "sum": sums.reshape(-1), "count": counts.reshape(-1)}))
    return pd.concat(parts, ignore_index=True)


def _outcomes(rec, outcome: str, sc: Scenario) -> np.ndarray:
    """The outcome of every run of ``rec`` (in its order; NaN where undefined, e.g. no crossover)."""
    o = parse_outcome(outcome, last_full_year(sc))
    col = outcome_columns(annual_from_records(rec, o.pairs()), [o]).set_index("run")[o.name]
    return col.reindex(rec.run_ids).to_numpy(dtype=float)


def run_one(scenario: Scenario, seeds: Sequence[int], outcome: str) -> np.ndarray:
    """One scenario for the given seeds: the outcome per seed."""
    return evaluate([scenario], seeds, outcome, workers=1)[0]


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
    n, k = len(scenarios), len(seeds)
    out = np.full((n, k), np.nan)
    workers = max(1, workers or os.cpu_count() or 1)
    if n * k < MIN_PARALLEL * 8:
        workers = 1
    jobs = [Job(sc, int(s), i * k + j) for i, sc in enumerate(scenarios) for j, s in enumerate(seeds)]
    by_horizon: dict[tuple[str, str], list[Job]] = {}
    for job in jobs:
        by_horizon.setdefault((job.scenario.header.start, job.scenario.header.end), []).append(job)
    ex = make_executor("local", workers)
    done_runs = 0
    try:
        for group in by_horizon.values():
            def step(d: int, _t: int, base=done_runs) -> None:
                if progress:
                    progress((base + d) // k, n)
            rec = run_jobs(group, ex, details=(), progress=step)
            done_runs += len(group)
            out.flat[rec.run_ids] = _outcomes(rec, outcome, group[0].scenario)   # run id = scenario x k + seed
    finally:
        ex.close()
    return out
