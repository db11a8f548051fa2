"""Running a grid into a results folder, resumably.

``run_grid`` computes every run of a grid that the folder does not hold yet. Runs whose spec hash
(resolved scenario, seed, model version) is already computed -- in this folder or in a folder passed as
``reuse`` -- are copied instead of recomputed, and identical specs within the grid are computed once.
"""

from __future__ import annotations

import platform
import shutil
import sys
import time
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from sim.engine import store
from sim.engine.runs import git_commit, versions
from sim.engine.batch import batch_size
from sim.engine.worker import Task, run_chunk
from sim.experiments.grid import Grid, RunSpec, load_grid, model_fingerprint, run_specs
from sim.model.scenario import load_scenario


class GridError(Exception):
    """A problem with the results folder or the request (not with the grid file)."""


@dataclass
class GridReport:
    out: Path
    n_runs: int
    already: int = 0                      # runs present before this session
    computed: int = 0                     # model runs executed in this session
    copied: int = 0                       # runs written from identical specs (this folder, reuse, duplicates)
    done_this_session: int = 0            # runs committed in this session (computed + copied)
    failed: dict[int, str] = field(default_factory=dict)
    seconds: float = 0.0
    executor: str = ""
    workers: int = 0
    set_aside: list[dict] = field(default_factory=list)  # damaged or doubled shards moved to damaged/

    @property
    def complete(self) -> bool:
        return not self.failed and self.already + self.done_this_session == self.n_runs


def experiments_frame(grid: Grid, specs: list[RunSpec]) -> pd.DataFrame:
    rows = {
        "run": pd.array([s.run for s in specs], dtype="int64"),
        "point": pd.array([s.point for s in specs], dtype="int64"),
        "replicate": pd.array([s.replicate for s in specs], dtype="int64"),
        "seed_index": pd.array([s.seed_index for s in specs], dtype="int64"),
        "seed": pd.array([s.seed for s in specs], dtype="int64"),
        "spec_hash": pd.array([s.spec_hash for s in specs], dtype="str"),
    }
    for ax in grid.axes:
        vals = [grid.points[s.point][ax.name] for s in specs]
        if ax.kind in ("float", "int"):
            rows[ax.name] = pd.array(vals, dtype="float64" if ax.kind == "float" else "int64")
        elif ax.kind == "bool":
            rows[ax.name] = pd.array(vals, dtype="bool")
        elif all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in vals):
            rows[ax.name] = pd.array([float(v) for v in vals], dtype="float64")
        else:
            rows[ax.name] = pd.array([v if isinstance(v, str) else str(v) for v in vals], dtype="str")
    return pd.DataFrame(rows)


def _manifest(grid: Grid, specs: list[RunSpec], grid_file: str, fp: str) -> dict:
    return {
        "tool": "chipshift",
        "kind": "grid",
        "grid": grid.name,
        "description": grid.description,
        "grid_file": grid_file,
        "grid_file_sha256": grid.sha256(),
        "base_scenario": grid.scenario_ref,
        "base_scenario_lineage": list(grid.base.lineage),
        "base_scenario_sha256": grid.base.digest(),
        "model_fingerprint": fp,
        "design": grid.design,
        "samples": grid.samples,
        "replicates": grid.replicates,
        "axes": [{k: v for k, v in ax.__dict__.items() if v is not None} for ax in grid.axes],
        "n_points": grid.n_points,
        "n_runs": grid.n_runs,
        "master_seed": grid.seed,
        "seed_mode": grid.seeds,
        "seed_derivation": "sim.model.seeds.derive_seed(master_seed, seed_index)",
        "seeds": [s.seed for s in specs],
        "seed_indices": [s.seed_index for s in specs],
        "git_commit": git_commit(),
        "versions": versions(),
        "platform": platform.platform(),
        "created_utc": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "status": "running",
        "sessions": [],
        "shards": {},
    }


def _is_results_dir(p: Path) -> bool:
    return p.is_dir() and (p / store.MANIFEST).exists() and (p / store.GRID_COPY).exists()


def _setup_leftovers_only(out: Path) -> bool:
    """A folder killed while being set up (before its manifest): only set-up files, no shard."""
    if not out.is_dir() or (out / store.MANIFEST).exists():
        return False
    allowed = {store.GRID_COPY, store.BASE_COPY, store.EXPERIMENTS, store.SHARDS, store.LOCK}
    for p in out.iterdir():
        if p.name.startswith(".tmp-"):
            continue
        if p.name not in allowed or (p.name == store.SHARDS and any(p.iterdir())):
            return False
    return True


def load_frozen_grid(out: Path) -> Grid:
    """The grid of a results folder, with its frozen base scenario (not today's scenario files)."""
    base = load_scenario(out / store.BASE_COPY)
    return load_grid(out / store.GRID_COPY, base=base)


def _reuse_index(dirs: list[Path], fp: str) -> dict[str, tuple[Path, int]]:
    """spec hash -> (shard, run) over earlier results folders computed with the same model version."""
    idx: dict[str, tuple[Path, int]] = {}
    for d in dirs:
        if not d.is_dir():
            raise GridError(f"{d}: --reuse needs a grid results folder (no such folder)")
        man = store.read_manifest(d)
        if man is None or not (d / store.EXPERIMENTS).exists():
            raise GridError(f"{d}: not a grid results folder (no {store.MANIFEST} / {store.EXPERIMENTS})")
        if man.get("model_fingerprint") != fp:
            continue  # other model code: nothing there can be reused (the spec hashes differ anyway)
        done = store.scan_shards(d).done  # damaged or doubled shards are simply not reused
        ex = store.read_experiments(d)[["run", "spec_hash"]]
        for r, h in zip(ex["run"].tolist(), ex["spec_hash"].tolist()):
            if r in done and h not in idx:
                idx[h] = (done[r], r)
    return idx


def _chunks(items: list, size: int) -> Iterator[list]:
    for i in range(0, len(items), size):
        yield items[i:i + size]


def _entries(out: Path) -> list[Path]:
    """What a folder holds, apart from its lock file."""
    return [p for p in out.iterdir() if p.name != store.LOCK] if out.is_dir() else []


def _clear_leftovers(out: Path) -> None:
    """Remove the set-up files of a folder killed before it started (the lock file stays: it is held)."""
    for p in _entries(out):
        if p.is_dir() and not p.is_symlink():
            shutil.rmtree(p)
        else:
            p.unlink()


def _connect(ex) -> None:
    """Reach the executor's workers (a Dask scheduler) before anything is written: an unreachable
    scheduler must not leave a folder behind."""
    connect = getattr(ex, "connect", None)
    if connect is None:
        return
    try:
        connect()
    except Exception as e:  # OSError, TimeoutError, distributed's own errors
        where = getattr(ex, "scheduler", None) or "a local Dask cluster"
        raise GridError(f"cannot reach the Dask scheduler at {where} ({type(e).__name__}: {e}); nothing was "
                        "written") from None


def run_grid(grid_path: str | Path, out: str | Path, executor=None, resume: bool = False,
             reuse: list[str | Path] = (), chunk_size: int | None = None, progress: bool = True,
             command: str | None = None) -> GridReport:
    """Run (or resume) a grid into ``out``. ``executor``: from ``executors.make_executor`` (default: local
    process pool on every CPU). Returns a report; raises ScenarioError for a bad grid, GridError for a bad
    folder, or for a folder that another process is writing (the folder is locked for the whole session).
    Everything that can be refused is checked before the folder is created."""
    from sim.engine.executors import make_executor

    ex = executor or make_executor("local")
    lock: list[store.FolderLock] = []
    try:
        return _run_grid(Path(grid_path), Path(out), ex, resume, reuse, chunk_size, progress, command, lock)
    except store.StoreError as e:
        raise GridError(str(e)) from None
    finally:
        for lk in lock:
            lk.release()
        ex.close()


def _run_grid(grid_path: Path, out: Path, ex, resume: bool, reuse, chunk_size, progress, command,
              lock: list) -> GridReport:
    t0 = time.perf_counter()
    fp = model_fingerprint()
    if _is_results_dir(grid_path) and grid_path.resolve() != out.resolve():
        grid = load_frozen_grid(grid_path)  # re-run a results folder's grid with its frozen base scenario
        grid_file = str(grid_path / store.GRID_COPY)
    elif _is_results_dir(grid_path):
        resume = True
        grid = None
        grid_file = str(grid_path / store.GRID_COPY)
    else:
        grid = load_grid(grid_path)
        grid_file = str(grid_path)

    # 1. every refusal before anything is written
    if out.exists() and not out.is_dir():
        raise GridError(f"{out}: exists and is not a folder (give a folder for --out)")
    if out.is_dir() and store.lock_holder(out) is not None:
        raise GridError(store.busy_message(out))
    leftovers = _setup_leftovers_only(out)
    if not leftovers:
        if resume and (store.read_manifest(out) is None or not _is_results_dir(out)):
            raise GridError(f"{out}: nothing to resume (no {store.MANIFEST}); run without --resume to start")
        if not resume and _entries(out):
            raise GridError(f"{out}: folder exists and is not empty (use --resume to continue it, or a new --out)")
    elif grid is None:
        raise GridError(f"{out}: was never started (no {store.MANIFEST}); run the grid file into it")
    other = _reuse_index([Path(d) for d in reuse], fp) if reuse else {}
    _connect(ex)

    # 2. create (if new) and lock the folder; check again under the lock
    created = not out.exists()
    try:
        out.mkdir(parents=True, exist_ok=True)
        lock.append(store.FolderLock(out, command).acquire())
    except store.FolderBusy as e:
        raise GridError(str(e)) from None
    except OSError as e:
        if created and out.is_dir() and not _entries(out):
            shutil.rmtree(out, ignore_errors=True)
        raise GridError(f"{out}: cannot create or lock the results folder ({e.strerror or e}); nothing was "
                        "written") from None
    if _setup_leftovers_only(out):  # killed before it started: start again
        _clear_leftovers(out)
        resume = False
    if resume:
        man = store.read_manifest(out)
        if man is None or not _is_results_dir(out):
            raise GridError(f"{out}: nothing to resume (no {store.MANIFEST}); run without --resume to start")
        for key in ("grid_file_sha256", "model_fingerprint"):
            if not isinstance(man.get(key), str):
                raise GridError(f"{out / store.MANIFEST}: {key}: missing or not a string (damaged manifest); "
                                "run its grid into a new folder (with --reuse of this one)")
        if not isinstance(man.get("sessions", []), list):
            raise GridError(f"{out / store.MANIFEST}: sessions: not a list (damaged manifest)")
        frozen = load_frozen_grid(out)
        if grid is not None and grid.sha256() != man["grid_file_sha256"]:
            raise GridError(f"{out}: the grid file {grid_path} has changed since this folder was started "
                            f"(sha256 {grid.sha256()[:12]} vs {man['grid_file_sha256'][:12]}); use a new --out")
        if man["model_fingerprint"] != fp:
            raise GridError(f"{out}: the model code has changed since this folder was started (fingerprint "
                            f"{man['model_fingerprint'][:12]} -> {fp[:12]}); finishing it would mix model versions."
                            " Start a new folder (optionally with --reuse of this one)")
        grid = frozen
        specs = run_specs(grid, fp)
        ex_old = store.read_experiments(out)
        if "spec_hash" not in ex_old.columns or ex_old["spec_hash"].tolist() != [s.spec_hash for s in specs]:
            raise GridError(f"{out}: experiments.parquet does not match the grid; the folder was modified")
        for old in man.get("sessions", []):  # we hold the lock: a session still "running" was killed
            if isinstance(old, dict) and old.get("status") == "running":
                old.update(status="interrupted", note="the process ended without closing its session (killed)")
    else:
        if _entries(out):
            raise GridError(f"{out}: folder exists and is not empty (use --resume to continue it, or a new --out)")
        specs = run_specs(grid, fp)
        try:
            (out / store.SHARDS).mkdir(exist_ok=True)
            (out / store.GRID_COPY).write_text(grid.text, encoding="utf-8")
            (out / store.BASE_COPY).write_text(grid.base.to_toml(), encoding="utf-8")
            store.write_table(experiments_frame(grid, specs), out / store.EXPERIMENTS)
            man = _manifest(grid, specs, grid_file, fp)
            store.write_manifest(man, out)
        except OSError as e:
            _clear_leftovers(out)
            if created:
                shutil.rmtree(out, ignore_errors=True)
            raise GridError(f"{out}: cannot write the results folder ({e.strerror or e}); nothing was kept") from None

    store.clean_partials(out)  # only temporary files of a killed writer: the folder is ours (locked)
    scan = store.scan_shards(out, man)   # against the manifest's record (or, for an older folder, the names)
    set_aside = store.set_aside(out, scan.bad) if scan.bad else []
    store.reconcile(man, out, scan)       # the record now lists exactly the sound shards
    done = scan.done
    by_run = {s.run: s for s in specs}
    stray = set(done) - set(by_run)
    if stray:
        raise GridError(f"{out}: shards hold runs that are not in the grid: {sorted(stray)[:10]}")
    report = GridReport(out=out, n_runs=len(specs), already=len(done), executor=getattr(ex, "name", "?"),
                        set_aside=set_aside)

    # group pending runs by spec: copy what exists (here or in reuse folders), compute the rest once
    here = {by_run[r].spec_hash: (f, r) for r, f in done.items()}
    pending: dict[str, list[RunSpec]] = defaultdict(list)
    for s in specs:
        if s.run not in done:
            pending[s.spec_hash].append(s)
    copies: dict[Path, dict[int, list[int]]] = defaultdict(lambda: defaultdict(list))
    work: list[tuple[list[int], int, dict]] = []
    for h, group in pending.items():
        src = here.get(h) or other.get(h)
        if src is not None:
            copies[src[0]][src[1]].extend(s.run for s in group)
        else:
            work.append(([s.run for s in group], group[0].seed, group[0].changes))
    work.sort(key=lambda w: w[0][0])

    session = len(man.get("sessions", [])) + 1
    writer = store.ShardWriter(out, session, man, lock[0])
    sess = {"session": session, "started_utc": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            "command": command, "executor": report.executor, "status": "running", "already_done": len(done)}
    if set_aside:
        sess["set_aside"] = set_aside
    man.setdefault("sessions", []).append(sess)
    store.write_manifest(man, out)

    bar = None
    if progress:
        from tqdm import tqdm

        bar = tqdm(total=len(specs), initial=len(done), unit="run", desc=grid.name[:30], dynamic_ncols=True,
                   smoothing=0.05, file=sys.stderr)
    status = "interrupted"
    aborted = False
    try:
        # 1. copies, in batches of whole source shards
        batch: dict[Path, dict[int, list[int]]] = {}
        nb = 0
        for shard, mapping in list(copies.items()) + [(None, None)]:
            if shard is not None:
                batch[shard] = mapping
                nb += sum(len(v) for v in mapping.values())
            if nb and (shard is None or nb >= 64):
                table = store.copy_runs(batch)
                writer.commit_table(table)
                report.copied += nb
                report.done_this_session += nb
                if bar is not None:
                    bar.update(nb)
                batch, nb = {}, 0
        # 2. computations, in chunks
        workers = max(1, ex.size() if work and hasattr(ex, "size") else getattr(ex, "workers", 1) or 1)
        size = chunk_size or batch_size(len(work), workers, len(grid.base.months))  # runs per batch
        tasks = (Task(items=c) for c in _chunks(work, size))
        if work:
            for res in ex.map(run_chunk, grid.base, tasks):
                if res.fingerprint != fp:
                    raise GridError(f"a worker (pid {res.pid}) runs different model code (fingerprint "
                                    f"{res.fingerprint[:12]}, here {fp[:12]}); install the same version everywhere")
                if res.payload is not None:
                    writer.commit_bytes(res.payload, len(res.runs))
                report.computed += res.computed
                report.copied += len(res.runs) - res.computed
                report.done_this_session += len(res.runs)
                report.failed.update(res.errors)
                if bar is not None:
                    bar.update(len(res.runs) + len(res.errors))
                    if res.errors:
                        bar.set_postfix(failed=len(report.failed))
        report.workers = getattr(ex, "workers", 0)
        status = "complete" if report.complete else ("failed" if report.failed else "incomplete")
    except BaseException:  # Ctrl-C, SIGTERM, a lost cluster: stop the workers now, keep what is committed
        aborted = True
        raise
    finally:
        if bar is not None:
            bar.close()
        getattr(ex, "abort", ex.close)() if aborted else ex.close()
        report.seconds = time.perf_counter() - t0
        sess.update(status=status, finished_utc=time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
                    workers=report.workers or getattr(ex, "workers", 0), computed=report.computed,
                    copied=report.copied, failed=len(report.failed), seconds=round(report.seconds, 3))
        man["status"] = "complete" if status == "complete" else "incomplete"
        store.write_manifest(man, out)
        fpath = out / store.FAILURES
        if report.failed:
            store.write_json({str(k): v for k, v in sorted(report.failed.items())}, fpath)
        elif fpath.exists():
            fpath.unlink()
    return report
