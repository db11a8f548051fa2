"""The work a grid worker does: run a chunk of run specs and return one Parquet payload.

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

import pyarrow as pa
import pyarrow.parquet as pq

from sim.engine.runs import run_model
from sim.experiments.grid import model_fingerprint
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


def run_chunk(base: Scenario, task: Task) -> ChunkResult:
    """Run the chunk; each run becomes one row group of the payload as soon as it finishes (memory: one
    run's frame plus the compressed payload)."""
    t0 = time.perf_counter()
    runs, errors, computed = [], {}, 0
    sink = io.BytesIO()
    writer = None
    try:
        for run_ids, seed, changes in task.items:
            try:
                sc = base.with_changes(**changes) if (changes.get("parameters") or changes.get("events")) else base
                ts, _, _ = run_model(sc, int(seed), run_ids[0])
                computed += 1
            except Exception:  # a failing run is reported, not fatal: --resume retries it
                msg = traceback.format_exc(limit=6)
                for r in run_ids:
                    errors[r] = msg
                continue
            table = pa.Table.from_pandas(ts, preserve_index=False)
            if writer is None:
                writer = pq.ParquetWriter(sink, table.schema, compression="zstd")
            for r in run_ids:
                if r != run_ids[0]:  # an identical spec under another run id: same rows, relabelled
                    i = table.schema.get_field_index("run")
                    table = table.set_column(i, table.schema.field(i), pa.array([r] * table.num_rows, pa.int64()))
                writer.write_table(table, row_group_size=table.num_rows)
                runs.append(r)
    finally:
        if writer is not None:
            writer.close()
    payload = sink.getvalue() if writer is not None else None
    return ChunkResult(runs, payload, errors, computed, time.perf_counter() - t0, model_fingerprint(), os.getpid())
