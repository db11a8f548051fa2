"""The results folder of a grid: Parquet shards committed atomically, the experiments table, the manifest.

    DIR/grid.toml              the grid file, verbatim
    DIR/scenario.toml          the resolved base scenario (after any horizon change in the grid)
    DIR/experiments.parquet    one row per run: run, point, replicate, seed_index, seed, spec_hash, axes
    DIR/manifest.json          versions, git commit, hashes, seeds, one entry per session (start, resume)
    DIR/timeseries/part-*.parquet   the output contract (run, seed, date, entity, metric, value); every
                               shard holds whole runs, and a run is in exactly one shard
    DIR/failures.json          runs that raised in the last session (retried by --resume)

Only the parent process writes here; a shard appears by an atomic rename, so a folder killed at any moment
holds only complete runs and ``completed_runs`` is the truth about what is done.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from sim.engine.fileio import atomic_write_bytes

SHARDS = "timeseries"
EXPERIMENTS = "experiments.parquet"
MANIFEST = "manifest.json"
GRID_COPY = "grid.toml"
BASE_COPY = "scenario.toml"
FAILURES = "failures.json"


def shard_files(out: Path) -> list[Path]:
    d = Path(out) / SHARDS
    if not d.is_dir():
        return []
    return sorted(p for p in d.glob("*.parquet") if not p.name.startswith((".", "_")))


def completed_runs(out: Path) -> dict[int, Path]:
    """Run id -> shard holding it. Raises if a run is in two shards (never happens through this module)."""
    done: dict[int, Path] = {}
    for f in shard_files(out):
        runs = pq.read_table(f, columns=["run"]).column("run").unique().to_pylist()
        for r in runs:
            if r in done:
                raise RuntimeError(f"run {r} is in two shards: {done[r].name} and {f.name}")
            done[int(r)] = f
    return done


def clean_partials(out: Path) -> int:
    """Remove temporary files a killed writer left behind; returns how many."""
    n = 0
    for d in (Path(out), Path(out) / SHARDS):
        if d.is_dir():
            for p in d.glob(".tmp-*"):
                p.unlink(missing_ok=True)
                n += 1
    return n


def _atomic_bytes(data: bytes, path: Path) -> None:
    atomic_write_bytes(path, data, fsync=True)


def write_json(obj: Any, path: Path) -> None:
    _atomic_bytes((json.dumps(obj, indent=2, default=str) + "\n").encode(), Path(path))


def write_table(df: pd.DataFrame, path: Path) -> None:
    import io

    buf = io.BytesIO()
    df.to_parquet(buf, index=False, engine="pyarrow", compression="zstd")
    _atomic_bytes(buf.getvalue(), Path(path))


class ShardWriter:
    """Commits shards under DIR/timeseries as part-<session>-<seq>.parquet (atomic rename)."""

    def __init__(self, out: Path, session: int):
        self.dir = Path(out) / SHARDS
        self.dir.mkdir(parents=True, exist_ok=True)
        self.session = session
        self.seq = 0

    def _next(self) -> Path:
        while True:
            self.seq += 1
            p = self.dir / f"part-{self.session:04d}-{self.seq:06d}.parquet"
            if not p.exists():
                return p

    def commit_bytes(self, payload: bytes) -> Path:
        p = self._next()
        _atomic_bytes(payload, p)
        return p

    def commit_table(self, table: pa.Table) -> Path:
        sink = pa.BufferOutputStream()
        pq.write_table(table, sink, compression="zstd")
        return self.commit_bytes(sink.getvalue().to_pybytes())


def copy_runs(sources: dict[Path, dict[int, list[int]]]) -> pa.Table | None:
    """Rows of already computed runs, relabelled: {shard: {source run: [new run ids]}} -> one table."""
    parts = []
    for shard, mapping in sources.items():
        t = pq.read_table(shard, filters=[("run", "in", list(mapping))])
        for src, dsts in mapping.items():
            rows = t.filter(pc.equal(t.column("run"), src))
            for d in dsts:
                idx = rows.schema.get_field_index("run")
                parts.append(rows.set_column(idx, rows.schema.field(idx), pa.array([d] * rows.num_rows, pa.int64())))
    return pa.concat_tables(parts) if parts else None


def read_manifest(out: Path) -> dict | None:
    p = Path(out) / MANIFEST
    if not p.exists():
        return None
    return json.loads(p.read_text(encoding="utf-8"))


def read_experiments(out: Path) -> pd.DataFrame:
    return pd.read_parquet(Path(out) / EXPERIMENTS)


def read_runs(out: Path, runs: list[int] | None = None, metrics: list[str] | None = None,
              entities: list[str] | None = None) -> pd.DataFrame:
    """Timeseries rows of selected runs / metrics / entities (filters pushed into the Parquet scan)."""
    import pyarrow.dataset as ds

    files = [str(f) for f in shard_files(out)]
    if not files:
        return pd.DataFrame(columns=["run", "seed", "date", "entity", "metric", "value"])
    flt = None
    for col, vals in (("run", runs), ("metric", metrics), ("entity", entities)):
        if vals is not None:
            e = ds.field(col).isin(list(vals))
            flt = e if flt is None else flt & e
    return ds.dataset(files, format="parquet").to_table(filter=flt).to_pandas()


def find_results(root: Path, limit: int = 200) -> list[Path]:
    """Grid results folders under ``root`` (newest first), for pickers."""
    root = Path(root)
    if not root.is_dir():
        return []
    found = [p.parent for p in root.glob("*/" + MANIFEST) if (p.parent / EXPERIMENTS).exists()]
    found += [p.parent for p in root.glob("*/*/" + MANIFEST) if (p.parent / EXPERIMENTS).exists()]
    return sorted(set(found), key=lambda p: p.stat().st_mtime, reverse=True)[:limit]


def signature(out: Path) -> tuple[int, float]:
    """Changes whenever a shard is committed: (number of shards, newest modification time)."""
    files = shard_files(out)
    return len(files), max((f.stat().st_mtime for f in files), default=0.0)
