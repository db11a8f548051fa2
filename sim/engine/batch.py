"""Batches: many runs stepped together in one model, the unit of work of every executor.

A ``Job`` is one run (a resolved scenario, a seed and the caller's run number). ``run_batch`` steps a
batch of jobs that share a horizon in one ``MarketModel`` and returns their ``Records``; ``batches``
splits any list of jobs into such batches, sized to the machine. ``sim run``, grids, calibration, the
analysis commands and the app all run models through here.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass

import numpy as np

from sim.model.market_model import MarketModel
from sim.model.records import Records
from sim.model.scenario import Scenario

# Memory per run of a 108-month batch is about 0.3 MB without the optional record blocks and 0.8 MB
# with the decision trace (docs/PERFORMANCE.md); 256 runs keep a batch near 100-200 MB.
MAX_BATCH = int(os.environ.get("CHIPSHIFT_MAX_BATCH", "256"))


class Cancelled(Exception):
    """Raised by ``run_batch`` when its ``on_month`` callback asks it to stop."""


@dataclass(frozen=True)
class Job:
    scenario: Scenario
    seed: int
    run: int = 0


def run_batch(jobs: Sequence[Job], trace: bool = False, details: Sequence[str] = ("deliveries",),
              on_month: Callable[[int, int], bool | None] | None = None) -> Records:
    """Step ``jobs`` together and return their records (run ``i`` of the records is ``jobs[i]``).

    on_month(done, total): called after every month; returning False stops the batch (``Cancelled``).
    """
    jobs = list(jobs)
    m = MarketModel(runs=[(j.scenario, j.seed) for j in jobs], trace=trace, mesa_collect=False, details=details)
    while m.running:
        m.step()
        if on_month is not None and on_month(m.t, m.n_months) is False:
            raise Cancelled
    rec = m.finish()
    rec.run_ids = np.array([j.run for j in jobs], dtype=np.int64)
    return rec


def horizon(job: Job) -> tuple[str, str]:
    return job.scenario.header.start, job.scenario.header.end


def batch_size(n_jobs: int, workers: int = 1, months: int = 108, limit: int | None = None) -> int:
    """Runs per batch: enough batches to keep every worker busy (a few each, so a slow one does not
    hold up the end), no more runs than fit the memory budget of a batch."""
    cap = max(1, int((limit or MAX_BATCH) * 108 / max(months, 1)))
    per_worker = -(-n_jobs // max(1, workers * 4)) if workers > 1 else n_jobs
    return max(1, min(cap, per_worker))


def batches(jobs: Sequence[Job], workers: int = 1, limit: int | None = None) -> Iterator[list[Job]]:
    """Split jobs into batches of one horizon each, in job order within a horizon."""
    groups: dict[tuple[str, str], list[Job]] = {}
    for j in jobs:
        groups.setdefault(horizon(j), []).append(j)
    for group in groups.values():
        size = batch_size(len(group), workers, len(group[0].scenario.months), limit)
        for i in range(0, len(group), size):
            yield group[i:i + size]
