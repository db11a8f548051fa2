"""Running scenarios: the Python API and the run folder (MODEL.md section 5).

``run_scenario`` runs a scenario for several seeds as one batch (``sim.engine.batch``) and returns a
``RunResult`` holding the ``Records``; its long tables are built when asked for. ``write_run`` writes
a run folder atomically: timeseries.parquet, decisions.parquet, deliveries.parquet, scenario.toml
(fully resolved) and manifest.json.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import platform
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterable
from dataclasses import dataclass
from functools import cached_property
from importlib import metadata
from pathlib import Path
from typing import Any

import pandas as pd

from sim.engine import tables
from sim.engine.batch import Job
from sim.engine.executors import run_jobs
from sim.engine.fileio import atomic_write_bytes
from sim.engine.tables import DECISION_COLUMNS, empty_decisions  # noqa: F401 (part of this module's API)
from sim.model.records import TRACE_TERMS, Records  # noqa: F401
from sim.model.scenario import Scenario, load_scenario
from sim.model.seeds import derive_seeds


@dataclass
class RunResult:
    """What a run (one scenario, one or more seeds) produced: the records, and long tables on demand."""
    scenario: Scenario
    seeds: list[int]
    records: Records
    wall_time_s: float = 0.0
    # with parameter uncertainty: which accepted parameter set each replicate used, and the sets
    parameter_set_of_run: list[int] | None = None
    parameter_sets: list[dict[str, float]] | None = None
    parameter_sets_file: str | None = None

    @cached_property
    def timeseries(self) -> pd.DataFrame:
        """The long output table (run, seed, date, entity, metric, value)."""
        return tables.timeseries(self.records)

    @cached_property
    def decisions(self) -> pd.DataFrame | None:
        """The decision trace, or None when the runs were made without it."""
        return tables.decisions(self.records) if self.records.trace is not None else None

    @cached_property
    def deliveries(self) -> pd.DataFrame:
        """Cards, compute and value delivered per buyer and vendor."""
        return tables.deliveries(self.records)

    @property
    def events_applied(self) -> dict[int, list[tuple[str, str]]]:
        return {int(r): list(ev) for r, ev in zip(self.records.run_ids, self.records.events)}

    def annual(self, metric: str = "unit_share", entities: Iterable[str] = ("Nvidia", "Huawei", "Domestic")):
        return annual_shares(self.timeseries, metric, entities)


def run_scenario(scenario: Scenario | str | Path = "history", seeds: int | list[int] | None = None,
                 trace: bool = False, parameters: dict[str, Any] | None = None,
                 parameter_sets: bool | list[dict[str, float]] = False, executor=None,
                 details: Iterable[str] = ("deliveries",), keep: Iterable[str] = ()) -> RunResult:
    """Run a scenario for several seeds.

    seeds: a number of replicates (seeds derived from the scenario's master seed), an explicit list of
    seeds, or None for the scenario's own ``replicates``. ``parameters``: dotted overrides.
    Replicate i always gets seed ``derive_seed(master, i)`` and run id i.
    ``parameter_sets``: combine seed noise with parameter uncertainty. True uses the scenario's
    declared accepted parameter sets (``scenario.parameter_sets``), or pass a list of dicts;
    replicate i then also uses set ``i mod K`` (its values replace the scenario's; ``parameters``
    and the scenario's values of the parameters named in ``keep`` still win). Off by default: every
    replicate uses the scenario's own values.
    ``executor``: where the batches run (``sim.engine.executors``; default this process).
    """
    sc = scenario if isinstance(scenario, Scenario) else load_scenario(scenario)
    if parameters:
        sc = sc.with_changes(parameters=parameters)
    if seeds is None:
        seeds = sc.header.replicates
    seed_list = derive_seeds(sc.header.seed, seeds) if isinstance(seeds, int) else [int(s) for s in seeds]
    sets: list[dict[str, float]] | None = None
    sets_file = None
    if parameter_sets is True:
        sets = sc.load_parameter_sets()
        f = sc.parameter_sets_file()
        sets_file = str(f) if f is not None else None
        if not sets:
            raise ValueError(f"scenario {sc.name!r} declares no parameter sets (scenario.parameter_sets)")
    elif parameter_sets:
        sets = [dict(x) for x in parameter_sets]
    jobs, set_of_run = replicate_jobs(sc, seed_list, sets=sets, keep={*keep, *(parameters or ())})
    t0 = time.perf_counter()
    rec = run_jobs(jobs, executor, trace=trace, details=tuple(details))
    return RunResult(sc, seed_list, rec, time.perf_counter() - t0, set_of_run, sets, sets_file)


def replicate_jobs(sc: Scenario, seeds: list[int], first_run: int = 0, sets: list[dict[str, float]] | None = None,
                   keep: Iterable[str] = ()) -> tuple[list[Job], list[int] | None]:
    """The jobs of replicates ``first_run .. first_run + len(seeds) - 1`` (run ``first_run + i`` gets
    ``seeds[i]``) and, with accepted parameter sets, the set each one uses: replicate r uses set ``r mod K``,
    whose values replace the scenario's except for the parameters named in ``keep``. Each set's scenario
    is built once."""
    keep = set(keep)
    set_of_run = [(first_run + i) % len(sets) for i in range(len(seeds))] if sets else None
    variants: dict[int, Scenario] = {}
    jobs = []
    for i, s in enumerate(seeds):
        sc_i = sc
        if sets:
            k = set_of_run[i]
            if k not in variants:
                variants[k] = sc.with_changes(parameters={n: v for n, v in sets[k].items() if n not in keep})
            sc_i = variants[k]
        jobs.append(Job(sc_i, int(s), first_run + i))
    return jobs, set_of_run


def annual_shares(ts: pd.DataFrame, metric: str = "unit_share",
                  entities: Iterable[str] = ("Nvidia", "Huawei", "Domestic")) -> pd.DataFrame:
    """Annual shares as ratios of annual sums (never means of monthly shares), mean over runs.

    metric: unit_share, value_share or compute_share. Returns a frame indexed by year, one column per
    entity.
    """
    base = {"unit_share": "units", "value_share": "revenue_usd", "compute_share": "compute"}[metric]
    d = ts[ts["metric"] == base]
    d = d.assign(year=d["date"].dt.year)
    s = d.groupby(["run", "year", "entity"], observed=True)["value"].sum().unstack("entity")
    out = s[list(entities)].div(s["Total"].where(s["Total"] > 0), axis=0)
    return out.groupby("year").mean()


# ---------------------------------------------------------------- writing a run folder


def git_commit() -> str:
    try:
        root = Path(__file__).resolve().parents[2]
        r = subprocess.run(["git", "rev-parse", "HEAD"], cwd=root, capture_output=True, text=True, timeout=5)
        if r.returncode == 0:
            dirty = subprocess.run(["git", "status", "--porcelain", "--", "sim", "scenarios"], cwd=root,
                                   capture_output=True, text=True, timeout=5).stdout.strip()
            return r.stdout.strip() + ("+dirty" if dirty else "")
    except (OSError, subprocess.SubprocessError):
        pass
    return "unknown"


def versions() -> dict[str, str]:
    out = {"python": platform.python_version()}
    for pkg in ("chipshift", "mesa", "numpy", "pandas", "pyarrow", "pydantic", "tomlkit"):
        try:
            out[pkg] = metadata.version(pkg)
        except metadata.PackageNotFoundError:
            out[pkg] = "not installed"
    return out


def manifest(result: RunResult, source_file: str | None = None, extra: dict | None = None) -> dict[str, Any]:
    sc = result.scenario
    src_hash = None
    if source_file and Path(source_file).exists():
        src_hash = hashlib.sha256(Path(source_file).read_bytes()).hexdigest()
    return {
        "tool": "chipshift",
        "scenario": sc.name,
        "scenario_lineage": list(sc.lineage),
        "scenario_file": source_file,
        "scenario_file_sha256": src_hash,
        "resolved_scenario_sha256": sc.digest(),
        "master_seed": sc.header.seed,
        "seeds": result.seeds,
        "runs": [int(r) for r in result.records.run_ids],
        "trace": result.decisions is not None,
        "wall_time_s": round(result.wall_time_s, 4),
        "git_commit": git_commit(),
        "versions": versions(),
        "platform": platform.platform(),
        "created_utc": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "events_applied": {str(k): v for k, v in result.events_applied.items()},
        "block_coverage": {str(int(r)): {e: list(p) for e, p in cov}
                           for r, cov in zip(result.records.run_ids, result.records.coverage)},
        **({"parameter_sets": {"file": result.parameter_sets_file, "count": len(result.parameter_sets),
                               "set_of_run": result.parameter_set_of_run, "sets": result.parameter_sets}}
           if result.parameter_sets else {}),
        **(extra or {}),
    }


class OutputDirError(Exception):
    pass


# The largest `sim run` (and other in-memory runs of the command line): every run's records and long
# tables are held in memory (about 4.6 MB per run of 108 months), so a run of many seeds is refused before
# it starts; `sim grid` streams any number of runs to disk.
MAX_SEEDS = 1000
MAX_RUN_MONTHS = 108_000   # seeds x months of one in-memory run (1000 seeds of the 2022-2030 horizon)
RUN_KINDS = ("run", "grid", "attribution")   # the folders --overwrite may replace (by their manifest)
_STALE_S = 3600            # a staging folder without a live writer's lock is left alone for this long


def check_run_size(n_seeds: int, n_months: int) -> str | None:
    """Why an in-memory run of this size is refused, or None."""
    if n_seeds < 1:
        return "--seeds must be at least 1"
    if n_seeds > MAX_SEEDS:
        return (f"{n_seeds:,} seeds is more than {MAX_SEEDS:,} for one run held in memory (use `python -m sim "
                "grid` with replicates: it streams runs to disk)")
    if n_seeds * n_months > MAX_RUN_MONTHS:
        return (f"{n_seeds:,} seeds of {n_months} months ({n_seeds * n_months:,} run-months) is more than one "
                f"run holds in memory ({MAX_RUN_MONTHS:,}); use fewer seeds, or `python -m sim grid` with "
                "replicates (it streams runs to disk)")
    return None


def folder_kind(out: Path) -> str | None:
    """What a ChipShift folder is, by its manifest: 'run', 'grid', 'attribution', 'continuity',
    'calibration', or None (not ours)."""
    try:
        man = json.loads((Path(out) / "manifest.json").read_text(encoding="utf-8"))
    except (OSError, ValueError, UnicodeDecodeError):
        return None
    if not isinstance(man, dict):
        return None
    if man.get("analysis") == "attribution":
        return "attribution"
    if man.get("tool") != "chipshift":
        return None
    kind = man.get("kind")
    return kind if kind in ("grid", "continuity", "calibration") else "run"


def check_out_dir(out: Path, overwrite: bool, replaces: tuple[str, ...] = RUN_KINDS) -> None:
    """Refuse an --out that is a file, a non-empty folder without --overwrite, or (with --overwrite) a
    folder that its manifest does not show to be a results folder of a kind in ``replaces``, or the
    working folder or one of its parents."""
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise OutputDirError(f"{out}: exists and is not a folder")
    if not out.exists():
        return
    try:
        here = Path.cwd().resolve()
        inside = here == out.resolve() or out.resolve() in here.parents
    except OSError:
        inside = False
    if inside:
        raise OutputDirError(f"{out}: is the working folder or contains it; results are written as a new folder "
                             "that replaces --out, so give a folder below it (e.g. --out results)")
    try:
        empty = not any(out.iterdir())
    except OSError as e:
        raise OutputDirError(f"{out}: cannot read this folder ({e.strerror or e})") from None
    if empty:
        return
    if not overwrite:
        raise OutputDirError(f"{out}: folder is not empty (use --overwrite to replace its contents)")
    kind = folder_kind(out)
    if kind not in replaces:
        what = f"{'an' if kind[0] in 'aeiou' else 'a'} {kind} folder" if kind else "not a ChipShift results folder (no ChipShift manifest.json)"
        kinds = replaces[0] if len(replaces) == 1 else f"{', '.join(replaces[:-1])} or {replaces[-1]}"
        raise OutputDirError(f"{out}: is {what}; --overwrite replaces only {'an' if kinds[0] in 'aeiou' else 'a'} "
                             f"{kinds} folder. Nothing was "
                             "changed; give a new or empty --out")


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:
        return True
    return True


# what a staging folder may hold: the files of a run or attribution folder (a folder holding anything else
# is not ours, and is never removed)
_STAGED_FILES = {"timeseries.parquet", "decisions.parquet", "deliveries.parquet", "scenario.toml", "manifest.json",
                 "attribution.csv", "coalitions.csv", "base.toml", "groups.toml", "attribution.svg", ".writer"}


def _only_ours(p: Path) -> bool:
    try:
        return all(c.name in _STAGED_FILES or c.name.startswith(".tmp-") for c in p.iterdir())
    except OSError:
        return False


def clean_stale_partials(parent: Path) -> list[Path]:
    """Remove the hidden staging folders (``.NAME.partial-*``, ``.NAME.old-PID``) that killed writers left
    in ``parent``; returns what was removed. A staging folder is stale when no live process holds its
    ``.writer`` lock (or, without one, when it is older than an hour); a replaced folder ``.old-PID`` when
    its process has ended and its manifest shows a ChipShift results folder. A live writer's folder is
    never touched, nor a folder holding files a run does not write."""
    import fcntl
    import re

    removed = []
    try:
        entries = list(Path(parent).iterdir())
    except OSError:
        return removed
    for p in entries:
        if not p.name.startswith(".") or not p.is_dir() or p.is_symlink():
            continue
        stale = False
        if re.fullmatch(r"\..+\.partial-[A-Za-z0-9_]+", p.name):
            try:
                fd = os.open(p / ".writer", os.O_RDONLY | os.O_CLOEXEC)
            except FileNotFoundError:
                try:
                    stale = time.time() - p.stat().st_mtime > _STALE_S
                except OSError:
                    stale = False
            except OSError:
                stale = False
            else:
                try:
                    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                    stale = True   # nobody holds it: its writer has ended
                except OSError:
                    stale = False
                finally:
                    os.close(fd)
            stale = stale and _only_ours(p)
        else:
            m = re.fullmatch(r"\..+\.old-(\d+)", p.name)
            stale = m is not None and int(m.group(1)) != os.getpid() and not _pid_alive(int(m.group(1))) \
                and folder_kind(p) is not None
        if stale:
            shutil.rmtree(p, ignore_errors=True)
            removed.append(p)
    return removed


@dataclass
class Staging:
    """A run folder reserved before its runs start: the hidden folder its files are written into (held by
    this process's ``.writer`` lock), and the parent folders made for it."""
    out: Path
    overwrite: bool
    stage: Path
    created: list[Path]
    fd: int | None
    replaces: tuple[str, ...] = RUN_KINDS

    def discard(self) -> None:
        """Nothing is written after all: remove the staging folder and the parents made for it."""
        shutil.rmtree(self.stage, ignore_errors=True)
        self._unlock()
        for d in reversed(self.created):
            try:
                d.rmdir()
            except OSError:
                break

    def commit(self) -> Path:
        """The staging folder becomes ``out`` in one rename (replacing a results folder with --overwrite,
        checked again now: the folder may have changed while the runs ran)."""
        out, stage = self.out, self.stage
        try:
            check_out_dir(out, self.overwrite, self.replaces)
            (stage / ".writer").unlink()   # the lock stays held (open descriptor) until the rename
            if out.exists():
                old = out.with_name(f".{out.name}.old-{os.getpid()}")
                os.replace(out, old)
                os.replace(stage, out)
                shutil.rmtree(old, ignore_errors=True)
            else:
                os.replace(stage, out)
        except BaseException:
            self.discard()
            raise
        finally:
            self._unlock()
        return out

    def _unlock(self) -> None:
        if self.fd is not None:
            os.close(self.fd)
            self.fd = None


def reserve_out_dir(out: Path, overwrite: bool = False, replaces: tuple[str, ...] = RUN_KINDS) -> Staging:
    """Check ``out`` (``check_out_dir``) and make its hidden staging folder now, so that an --out that
    cannot be written is refused before any run starts (OutputDirError; nothing is left behind). Stale
    staging folders of killed runs beside ``out`` are removed on the way."""
    import fcntl

    check_out_dir(Path(out), overwrite, replaces)
    out = Path(os.path.abspath(out))   # '.', 'x/..': the folder's real name and parent
    created: list[Path] = []
    try:
        missing = [p for p in [out.parent, *out.parent.parents] if not p.exists()]
        for d in reversed(missing):
            d.mkdir()
            created.append(d)
        clean_stale_partials(out.parent)
        stage = Path(tempfile.mkdtemp(dir=out.parent, prefix=f".{out.name}.partial-"))
    except OSError as e:
        for d in reversed(created):
            try:
                d.rmdir()
            except OSError:
                break
        raise OutputDirError(f"{out}: cannot write the results folder here ({e.strerror or e}); nothing was "
                             "run") from None
    os.chmod(stage, 0o755)
    fd = os.open(stage / ".writer", os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
    fcntl.flock(fd, fcntl.LOCK_EX)
    return Staging(out, overwrite, stage, created, fd, replaces)


def write_parquet(df: pd.DataFrame, path: Path) -> None:
    """Atomic Parquet write (temp file in the same folder, then rename)."""
    buf = io.BytesIO()
    df.to_parquet(buf, index=False, engine="pyarrow", compression="zstd")
    atomic_write_bytes(path, buf.getvalue())


def write_run(result: RunResult, out: Path | Staging, overwrite: bool = False, source_file: str | None = None,
              extra_manifest: dict | None = None) -> Path:
    """Write the run folder. Files are first written to a hidden sibling folder (reserved earlier by
    ``reserve_out_dir``, or now), which then replaces ``out`` in one rename: a failure never leaves a
    half-written folder, and --overwrite replaces only a results folder (``check_out_dir``)."""
    staging = out if isinstance(out, Staging) else reserve_out_dir(Path(out), overwrite)
    stage = staging.stage
    try:
        write_parquet(result.timeseries, stage / "timeseries.parquet")
        dec = result.decisions if result.decisions is not None else empty_decisions()
        write_parquet(dec, stage / "decisions.parquet")
        write_parquet(result.deliveries, stage / "deliveries.parquet")
        (stage / "scenario.toml").write_text(result.scenario.to_toml(), encoding="utf-8")
        man = manifest(result, source_file, extra_manifest)
        (stage / "manifest.json").write_text(json.dumps(man, indent=2, default=str) + "\n", encoding="utf-8")
    except BaseException:
        staging.discard()
        raise
    return staging.commit()


def folder_slug(name: str, limit: int = 60) -> str:
    """A name as a safe folder-name part: letters, digits, '.', '_' and '-' only, never hidden or '..'."""
    import re

    s = re.sub(r"[^A-Za-z0-9._-]+", "-", str(name)).strip(".-_")[:limit].strip(".-_")
    return s or "scenario"


def default_out_dir(scenario_name: str, root: Path | None = None) -> Path:
    if root is None:
        from sim.model.scenario import SCENARIO_DIR

        root = SCENARIO_DIR.parent / "outputs"
    stamp = time.strftime("%Y%m%d-%H%M%S")
    base = root / f"{folder_slug(scenario_name)}-{stamp}"
    out, i = base, 1
    while out.exists():
        out = base.with_name(f"{base.name}-{i}")
        i += 1
    return out
