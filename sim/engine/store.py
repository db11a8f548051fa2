"""The results folder of a grid: Parquet shards committed atomically, the experiments table, the manifest.

    DIR/grid.toml              the grid file, verbatim
    DIR/scenario.toml          the resolved base scenario (after any horizon change in the grid)
    DIR/experiments.parquet    one row per run: run, point, replicate, seed_index, seed, spec_hash, axes
    DIR/manifest.json          versions, git commit, hashes, seeds, one entry per session (start, resume),
                               and "shards": every shard's SHA-256, size and number of runs
    DIR/timeseries/part-*.parquet   the output contract (run, seed, date, entity, metric, value); every
                               shard holds whole runs, and a run is in exactly one shard
    DIR/failures.json          runs that raised in the last session (retried by --resume)
    DIR/.lock                  held (flock) by the one process writing the folder
    DIR/damaged/               shards that failed their checksum or doubled runs, set aside by --resume

Only the parent process writes here, and only while it holds the folder's lock (``FolderLock``): a second
writer is refused. A shard is first recorded in the manifest (its SHA-256, size and runs; the manifest is
replaced atomically) and then appears by an atomic rename, so every shard a reader can see is recorded
(its name also carries the SHA-256: ``part-<session>-<seq>-<sha256>.parquet``). Readers list the shards,
then read the manifest, verify every shard against it and refuse a damaged one, one the manifest does not
record, or a run stored twice with a ``StoreError`` (never summing doubled or damaged data); ``--resume``
sets such shards aside and re-runs their runs. A folder killed at any moment holds only complete runs and
``completed_runs`` is the truth about what is done.

Folders written before the manifest recorded shards (no "shards" in it) are still read: their shards are
verified against the SHA-256 in their names, and the next ``--resume`` records them in the manifest.
"""

from __future__ import annotations

import errno
import fcntl
import hashlib
import json
import os
import re
import socket
import time
from collections import defaultdict
from dataclasses import dataclass, field
from functools import lru_cache
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
LOCK = ".lock"
DAMAGED = "damaged"
_SHARD_NAME = re.compile(r"^part-(\d+)-(\d+)(?:-([0-9a-f]{64}))?\.parquet$")


class StoreError(Exception):
    """A results folder that cannot be used as it is: busy, damaged or doubled shards. The message names
    the folder and the shard and says what to do; it never quotes file contents."""


class FolderBusy(StoreError):
    """Another process holds the folder's lock."""


# ---------------------------------------------------------------- the folder lock


class FolderLock:
    """An exclusive, non-blocking lock on a results folder: ``flock`` on ``DIR/.lock``.

    The kernel releases it when the holder exits, however it exits (SIGKILL included), so a lock is
    never stale. The file is never deleted (deleting a lock file lets two processes lock two different
    files); it records the holder (pid, host, start) for the refusal message. Not inherited by worker
    processes (the descriptor is close-on-exec and workers are started by forkserver or spawn)."""

    def __init__(self, folder: Path, command: str | None = None):
        self.folder = Path(folder)
        self.path = self.folder / LOCK
        self.command = command
        self._fd: int | None = None

    def acquire(self) -> FolderLock:
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as e:
            os.close(fd)
            if e.errno in (errno.EWOULDBLOCK, errno.EAGAIN, errno.EACCES):
                raise FolderBusy(busy_message(self.folder)) from None
            raise
        info = {"pid": os.getpid(), "host": socket.gethostname(),
                "since_utc": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), "command": self.command}
        os.ftruncate(fd, 0)
        os.pwrite(fd, (json.dumps(info) + "\n").encode(), 0)
        self._fd = fd
        return self

    def release(self) -> None:
        if self._fd is not None:
            try:
                fcntl.flock(self._fd, fcntl.LOCK_UN)
            finally:
                os.close(self._fd)
                self._fd = None

    def __enter__(self) -> FolderLock:
        return self.acquire()

    def __exit__(self, *exc) -> None:
        self.release()


def lock_holder(folder: Path) -> dict | None:
    """Who holds the folder's lock now (pid, host, since, command), or None if nobody does. Never
    creates the lock file."""
    p = Path(folder) / LOCK
    try:
        fd = os.open(p, os.O_RDONLY | os.O_CLOEXEC)
    except OSError:
        return None
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except OSError:
            try:
                return json.loads(os.pread(fd, 4096, 0).decode() or "{}")
            except (ValueError, UnicodeDecodeError):
                return {}
        fcntl.flock(fd, fcntl.LOCK_UN)
        return None
    finally:
        os.close(fd)


def busy_message(folder: Path) -> str:
    h = lock_holder(folder) or {}
    who = f"pid {h['pid']} on {h.get('host', '?')}, since {h.get('since_utc', '?')}" if h.get("pid") else "another process"
    return (f"{folder}: another grid process is writing this folder ({who}); wait for it to finish, "
            "or use another --out")


# ---------------------------------------------------------------- shards and their checksums


def shard_files(out: Path) -> list[Path]:
    d = Path(out) / SHARDS
    if not d.is_dir():
        return []
    return sorted(p for p in d.glob("*.parquet") if not p.name.startswith((".", "_")))


def shard_checksum(p: Path) -> str | None:
    """The SHA-256 a shard's name records (None for shards written before checksums were recorded)."""
    m = _SHARD_NAME.match(Path(p).name)
    return m.group(3) if m else None


_HEX64 = re.compile(r"^[0-9a-f]{64}$")


@lru_cache(maxsize=4096)
def _check_shard(path: str, _size: int, _mtime: int, _ino: int, want: str | None, want_bytes: int | None,
                 where: str) -> tuple[tuple[int, ...] | None, str | None]:
    """(run ids, None) for a sound shard, (None, reason) for a damaged one. Cached per file version and
    expected checksum."""
    try:
        with open(path, "rb") as fh:
            data = fh.read()
    except OSError as e:
        return None, f"cannot be read ({e.strerror})"
    if want_bytes is not None and len(data) != want_bytes:
        return None, (f"is {len(data)} bytes but {where} records {want_bytes} "
                      f"({'cut short' if len(data) < want_bytes else 'grown or overwritten'})")
    if want is not None and hashlib.sha256(data).hexdigest() != want:
        return None, f"its SHA-256 does not match the one recorded in {where} (damaged: bytes changed)"
    try:
        runs = pq.read_table(pa.BufferReader(data), columns=["run"]).column("run").unique().to_pylist()
    except (pa.ArrowException, OSError, ValueError):
        return None, "is not a readable Parquet file (truncated or corrupted)"
    return tuple(int(r) for r in runs), None


def check_shard(p: Path, want: str | None = None, want_bytes: int | None = None,
                where: str = "its name") -> tuple[tuple[int, ...] | None, str | None]:
    """Verify one shard against an expected SHA-256 and size (default: the checksum in its name)."""
    if want is None and where == "its name":
        want = shard_checksum(p)
    try:
        st = p.stat()
    except OSError as e:
        return None, f"cannot be read ({e.strerror})"
    return _check_shard(str(p), st.st_size, st.st_mtime_ns, st.st_ino, want, want_bytes, where)


def recorded_shards(man: dict | None, out: Path) -> dict[str, dict] | None:
    """The manifest's record of the shards ({name: {sha256, bytes, runs, session}}), or None for a folder
    written before the manifest recorded them. StoreError if the record is not a table."""
    if man is None or "shards" not in man:
        return None
    rec = man["shards"]
    if not isinstance(rec, dict):
        raise StoreError(f"{Path(out) / MANIFEST}: shards: not a table of shard checksums (damaged manifest); "
                         "restore the folder's manifest.json from a copy, or run its grid into a new folder")
    return rec


def _entry_problem(e: Any) -> str | None:
    if not isinstance(e, dict) or not isinstance(e.get("sha256"), str) or not _HEX64.match(e["sha256"]):
        return f"has no valid SHA-256 in {MANIFEST} (its entry is damaged)"
    b = e.get("bytes")
    if not isinstance(b, int) or isinstance(b, bool) or b < 0:
        return f"has no valid size in {MANIFEST} (its entry is damaged)"
    return None


@dataclass
class ShardScan:
    """What the shards of a folder hold: every run's shard, and the shards that cannot be used."""
    done: dict[int, Path] = field(default_factory=dict)
    bad: list[tuple[Path, str]] = field(default_factory=list)   # (shard, reason): damaged, unrecorded, doubled
    legacy: bool = False      # the manifest records no shards (a folder written before it did)

    def error(self, out: Path) -> StoreError:
        shard, reason = self.bad[0]
        more = f" (and {len(self.bad) - 1} more shard(s))" if len(self.bad) > 1 else ""
        return StoreError(f"{out}: shard {SHARDS}/{shard.name} {reason}{more}; it is not read. Run "
                          f"`python -m sim grid {out} --out {out}` (a resume) to set it aside in {DAMAGED}/ and "
                          "re-run its runs")


def scan_shards(out: Path, man: dict | None = None) -> ShardScan:
    """Verify every shard against the manifest's record (checksum, size, readability) and find runs stored
    twice. A shard the manifest does not record, or that repeats a run of an earlier shard (in name order),
    is reported as bad, so unrecorded or doubled data is never read. ``man``: the manifest as the caller
    holds it (the writer, under the lock); by default it is read after listing the shards (a writer records
    a shard before it commits it, so every listed shard of a live folder is in the manifest read after)."""
    out = Path(out)
    files = shard_files(out)
    if man is None:
        man = read_manifest(out)
    rec = recorded_shards(man, out)
    scan = ShardScan(legacy=rec is None)
    for f in files:
        if rec is None:
            runs, reason = check_shard(f)
        elif f.name not in rec:
            runs, reason = None, (f"is not recorded in {MANIFEST} (not written by this folder's grid: copied in, "
                                  "or left by another program)")
        else:
            reason = _entry_problem(rec[f.name])
            runs = None
            if reason is None:
                runs, reason = check_shard(f, rec[f.name]["sha256"], rec[f.name]["bytes"], MANIFEST)
        if runs is None:
            scan.bad.append((f, reason))
            continue
        dup = [r for r in runs if r in scan.done]
        if dup:
            scan.bad.append((f, f"holds run {dup[0]}, which is also in {scan.done[dup[0]].name} (stored twice)"))
            continue
        for r in runs:
            scan.done[r] = f
    return scan


def reconcile(man: dict, out: Path, scan: ShardScan) -> None:
    """Make the manifest's record of shards match the sound shards after a scan (and the set-aside of the
    bad ones): entries of shards that are gone (set aside, or recorded by a writer killed before it renamed
    the shard) are dropped, and the shards of a folder written before the manifest recorded them are
    recorded now. Only for the writer that holds the folder's lock; the caller writes the manifest."""
    rec = recorded_shards(man, out) or {}
    runs_of: dict[Path, int] = defaultdict(int)
    for f in scan.done.values():
        runs_of[f] += 1
    new = {}
    for f, n in sorted(runs_of.items()):
        e = rec.get(f.name)
        if e is None or _entry_problem(e) is not None:
            data = f.read_bytes()
            e = {"sha256": hashlib.sha256(data).hexdigest(), "bytes": len(data), "runs": n}
        new[f.name] = e
    man["shards"] = new


def completed_runs(out: Path) -> dict[int, Path]:
    """Run id -> shard holding it. Raises StoreError if a shard is damaged or a run is in two shards."""
    scan = scan_shards(out)
    if scan.bad:
        raise scan.error(Path(out))
    return scan.done


def verified_shards(out: Path) -> list[Path]:
    """The shards of a folder, after checking them all (StoreError if any is damaged or doubles a run)."""
    return sorted(set(completed_runs(out).values()))


def set_aside(out: Path, bad: list[tuple[Path, str]]) -> list[dict]:
    """Move unusable shards into DIR/damaged/ (never deleted: they are evidence) and log why."""
    d = Path(out) / DAMAGED
    d.mkdir(exist_ok=True)
    moved = []
    for f, reason in bad:
        dest = d / f.name
        i = 1
        while dest.exists():
            dest = d / f"{f.stem}.{i}{f.suffix}"
            i += 1
        os.replace(f, dest)
        moved.append({"shard": f.name, "moved_to": f"{DAMAGED}/{dest.name}", "reason": reason,
                      "when_utc": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())})
    log = d / "reasons.json"
    old: Any = []
    if log.exists():
        try:
            old = json.loads(log.read_text(encoding="utf-8"))
        except (ValueError, UnicodeDecodeError, OSError):
            old = None
        if not isinstance(old, list):   # a damaged log is kept beside the new one, never overwritten
            os.replace(log, log.with_name(f"reasons.unreadable-{time.strftime('%Y%m%dT%H%M%S')}.json"))
            old = []
    write_json(old + moved, log)
    return moved


def clean_partials(out: Path) -> int:
    """Remove temporary files a killed writer left behind; returns how many."""
    n = 0
    for d in (Path(out), Path(out) / SHARDS, Path(out) / DAMAGED):
        if d.is_dir():
            for p in d.glob(".tmp-*"):
                p.unlink(missing_ok=True)
                n += 1
    return n


def _atomic_bytes(data: bytes, path: Path) -> None:
    atomic_write_bytes(path, data, fsync=True)


def write_json(obj: Any, path: Path) -> None:
    _atomic_bytes((json.dumps(obj, indent=2, default=str) + "\n").encode(), Path(path))


def manifest_text(man: dict) -> str:
    """The manifest as JSON, indented, with long lists of numbers (every run's seed) on one line each: the
    writer replaces it once per shard, so its size must stay small beside a shard's."""
    long = {k: v for k, v in man.items()
            if isinstance(v, list) and len(v) > 16 and all(isinstance(x, (int, float)) for x in v)}
    text = json.dumps({k: (f"@@{k}@@" if k in long else v) for k, v in man.items()}, indent=2, default=str)
    for k, v in long.items():
        text = text.replace(json.dumps(f"@@{k}@@"), json.dumps(v, separators=(",", ":")), 1)
    return text + "\n"


def write_manifest(man: dict, out: Path) -> None:
    """Replace DIR/manifest.json atomically (written to a temporary file, synced, renamed)."""
    _atomic_bytes(manifest_text(man).encode(), Path(out) / MANIFEST)


def write_table(df: pd.DataFrame, path: Path) -> None:
    import io

    buf = io.BytesIO()
    df.to_parquet(buf, index=False, engine="pyarrow", compression="zstd")
    _atomic_bytes(buf.getvalue(), Path(path))


class ShardWriter:
    """Commits shards under DIR/timeseries as part-<session>-<seq>-<sha256>.parquet. Each shard is first
    recorded in the manifest (SHA-256, size, runs; the manifest replaced atomically), then written to a
    temporary file and renamed into place: every shard a reader can see is in the manifest, and a writer
    killed between the two leaves only an entry without a file (dropped by the next --resume). Only the
    holder of the folder's lock writes: ``lock`` must be held."""

    def __init__(self, out: Path, session: int, manifest: dict, lock: FolderLock):
        if lock.folder.resolve() != Path(out).resolve() or lock._fd is None:
            raise StoreError(f"{out}: shards are written only under the folder's lock")
        self.out = Path(out)
        self.dir = self.out / SHARDS
        self.dir.mkdir(parents=True, exist_ok=True)
        self.session = session
        self.man = manifest
        self.man.setdefault("shards", {})
        self.seq = 0

    def _next(self, digest: str) -> Path:
        while True:
            self.seq += 1
            stem = f"part-{self.session:04d}-{self.seq:06d}"
            if not any(self.dir.glob(stem + "*.parquet")) and not any(n.startswith(stem) for n in self.man["shards"]):
                return self.dir / f"{stem}-{digest}.parquet"

    def commit_bytes(self, payload: bytes, runs: int | None = None) -> Path:
        """Record one shard in the manifest, then write it (atomic rename)."""
        digest = hashlib.sha256(payload).hexdigest()
        p = self._next(digest)
        self.man["shards"][p.name] = {"sha256": digest, "bytes": len(payload), "runs": runs,
                                      "session": self.session}
        write_manifest(self.man, self.out)
        _atomic_bytes(payload, p)
        return p

    def commit_table(self, table: pa.Table) -> Path:
        sink = pa.BufferOutputStream()
        pq.write_table(table, sink, compression="zstd")
        runs = len(pc.unique(table.column("run")))
        return self.commit_bytes(sink.getvalue().to_pybytes(), runs)


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
    """The folder's manifest, None if there is none; StoreError if it is not a JSON object."""
    p = Path(out) / MANIFEST
    if not p.exists():
        return None
    try:
        man = json.loads(p.read_text(encoding="utf-8"))
    except (ValueError, UnicodeDecodeError, OSError):
        raise StoreError(f"{p}: not a readable manifest (damaged JSON)") from None
    if not isinstance(man, dict):
        raise StoreError(f"{p}: not a ChipShift manifest")
    return man


def read_experiments(out: Path) -> pd.DataFrame:
    p = Path(out) / EXPERIMENTS
    try:
        return pd.read_parquet(p)
    except FileNotFoundError:
        raise
    except (pa.ArrowException, OSError, ValueError):
        raise StoreError(f"{p}: not a readable Parquet file (damaged)") from None


def read_runs(out: Path, runs: list[int] | None = None, metrics: list[str] | None = None,
              entities: list[str] | None = None) -> pd.DataFrame:
    """Timeseries rows of selected runs / metrics / entities (filters pushed into the Parquet scan)."""
    import pyarrow.dataset as ds

    files = [str(f) for f in verified_shards(out)]
    if not files:
        return pd.DataFrame(columns=["run", "seed", "date", "entity", "metric", "value"])
    flt = None
    for col, vals in (("run", runs), ("metric", metrics), ("entity", entities)):
        if vals is not None:
            e = ds.field(col).isin(list(vals))
            flt = e if flt is None else flt & e
    try:
        return ds.dataset(files, format="parquet").to_table(filter=flt).to_pandas()
    except (pa.ArrowException, OSError) as e:
        raise StoreError(f"{out}: a shard could not be read ({type(e).__name__}); resume the folder to check "
                         "and repair its shards") from None


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
