"""The work a grid worker does: run a chunk of run specs as one batch and return one Parquet payload.

Importable and free of lambdas or closures, so it runs under spawn/forkserver process pools and on Dask
workers alike. Workers never write into the results folder: the parent commits each payload (atomic
rename), so a killed or orphaned worker can never leave half a run behind.
"""

from __future__ import annotations

import io
import os
import time
import traceback
from dataclasses import dataclass, field

import numpy as np
import pyarrow.parquet as pq

from sim.engine import tables
from sim.engine.batch import Job, run_batch
from sim.engine.fingerprint import model_fingerprint
from sim.model.records import Records
from sim.model.scenario import Scenario


@dataclass
class Task:
    """A chunk of work. ``items``: (runs, seed, changes): one computation, written under every run id in
    ``runs`` (identical run specs within a grid are computed once)."""
    items: list[tuple[list[int], int, dict]]


@dataclass
class ChunkResult:
    runs: list[int]                       # run ids in the payload
    payload: bytes | None                 # Parquet bytes of the runs' timeseries, None if all failed
    errors: dict[int, str] = field(default_factory=dict)
    computed: int = 0                     # model runs actually executed
    seconds: float = 0.0
    fingerprint: str = ""
    pid: int = 0


def _jobs(base: Scenario, task: Task) -> tuple[list[Job], dict[int, str]]:
    jobs, errors = [], {}
    for run_ids, seed, changes in task.items:
        try:
            sc = base.with_changes(**changes) if (changes.get("parameters") or changes.get("events")) else base
        except Exception:  # an invalid design point is reported, not fatal
            msg = traceback.format_exc(limit=4)
            errors.update({r: msg for r in run_ids})
            continue
        jobs.append(Job(sc, int(seed), run_ids[0]))
    return jobs, errors


def _records(jobs: list[Job], errors: dict[int, str], task: Task) -> list[Records]:
    """The batch's records; if the batch fails, each run alone, so one failing run does not sink the
    others (it is reported and ``--resume`` retries it)."""
    try:
        return [run_batch(jobs, details=())] if jobs else []
    except Exception:
        pass
    out = []
    dup = {ids[0]: ids for ids, _, _ in task.items}
    for j in jobs:
        try:
            out.append(run_batch([j], details=()))
        except Exception:
            msg = traceback.format_exc(limit=6)
            errors.update({r: msg for r in dup[j.run]})
    return out


def run_chunk(base: Scenario, task: Task) -> ChunkResult:
    """Run the chunk as one batch; each run becomes one row group of the payload (and again under the
    run ids of identical specs)."""
    t0 = time.perf_counter()
    jobs, errors = _jobs(base, task)
    parts = _records(jobs, errors, task)
    dup = {ids[0]: ids for ids, _, _ in task.items}
    runs: list[int] = []
    sink = io.BytesIO()
    writer = None
    computed = 0
    try:
        for rec in parts:
            computed += rec.n_runs
            # each run once per run id it is stored under (identical specs are computed once)
            idx = [i for i in range(rec.n_runs) for _ in dup[int(rec.run_ids[i])]]
            ids = [r for i in range(rec.n_runs) for r in dup[int(rec.run_ids[i])]]
            table = tables.timeseries_table(rec.select(np.array(idx)), runs=np.array(ids, dtype=np.int64))
            per = table.num_rows // max(1, len(ids))
            for j, r in enumerate(ids):
                part = table.slice(j * per, per)
                if writer is None:
                    writer = pq.ParquetWriter(sink, part.schema, compression="zstd")
                writer.write_table(part, row_group_size=per)
                runs.append(r)
    finally:
        if writer is not None:
            writer.close()
    payload = sink.getvalue() if writer is not None else None
    return ChunkResult(runs, payload, errors, computed, time.perf_counter() - t0, model_fingerprint(), os.getpid())
