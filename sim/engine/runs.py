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
                 details: Iterable[str] = ("deliveries",)) -> RunResult:
    """Run a scenario for several seeds.

    seeds: a number of replicates (seeds derived from the scenario's master seed), an explicit list of
    seeds, or None for the scenario's own ``replicates``. ``parameters``: dotted overrides.
    Replicate i always gets seed ``derive_seed(master, i)`` and run id i.
    ``parameter_sets``: combine seed noise with parameter uncertainty. True uses the scenario's
    declared accepted parameter sets (``scenario.parameter_sets``), or pass a list of dicts;
    replicate i then also uses set ``i mod K`` (its values replace the scenario's; ``parameters``
    still win). Off by default: every replicate uses the scenario's own values.
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
    set_of_run = [i % len(sets) for i in range(len(seed_list))] if sets else None
    variants: dict[int, Scenario] = {}
    jobs = []
    for i, s in enumerate(seed_list):
        sc_i = sc
        if sets:
            k = set_of_run[i]
            if k not in variants:
                variants[k] = sc.with_changes(parameters={**sets[k], **(parameters or {})})
            sc_i = variants[k]
        jobs.append(Job(sc_i, int(s), i))
    t0 = time.perf_counter()
    rec = run_jobs(jobs, executor, trace=trace, details=tuple(details))
    return RunResult(sc, seed_list, rec, time.perf_counter() - t0, set_of_run, sets, sets_file)


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
        **({"parameter_sets": {"file": result.parameter_sets_file, "count": len(result.parameter_sets),
                               "set_of_run": result.parameter_set_of_run, "sets": result.parameter_sets}}
           if result.parameter_sets else {}),
        **(extra or {}),
    }


class OutputDirError(Exception):
    pass


def check_out_dir(out: Path, overwrite: bool) -> None:
    if out.exists() and not out.is_dir():
        raise OutputDirError(f"{out}: exists and is not a folder")
    if out.exists() and any(out.iterdir()) and not overwrite:
        raise OutputDirError(f"{out}: folder is not empty (use --overwrite to replace its contents)")


def write_parquet(df: pd.DataFrame, path: Path) -> None:
    """Atomic Parquet write (temp file in the same folder, then rename)."""
    buf = io.BytesIO()
    df.to_parquet(buf, index=False, engine="pyarrow", compression="zstd")
    atomic_write_bytes(path, buf.getvalue())


def write_run(result: RunResult, out: Path, overwrite: bool = False, source_file: str | None = None,
              extra_manifest: dict | None = None) -> Path:
    """Write the run folder. Files are first written to a hidden sibling folder, which then replaces
    ``out`` in one rename: a failure never leaves a half-written folder."""
    out = Path(out)
    check_out_dir(out, overwrite)
    out.parent.mkdir(parents=True, exist_ok=True)
    stage = Path(tempfile.mkdtemp(dir=out.parent, prefix=f".{out.name}.partial-"))
    os.chmod(stage, 0o755)
    try:
        write_parquet(result.timeseries, stage / "timeseries.parquet")
        dec = result.decisions if result.decisions is not None else empty_decisions()
        write_parquet(dec, stage / "decisions.parquet")
        write_parquet(result.deliveries, stage / "deliveries.parquet")
        (stage / "scenario.toml").write_text(result.scenario.to_toml(), encoding="utf-8")
        man = manifest(result, source_file, extra_manifest)
        (stage / "manifest.json").write_text(json.dumps(man, indent=2, default=str) + "\n", encoding="utf-8")
        if out.exists():
            old = out.with_name(f".{out.name}.old-{os.getpid()}")
            os.replace(out, old)
            os.replace(stage, out)
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.replace(stage, out)
    finally:
        if stage.exists():
            shutil.rmtree(stage, ignore_errors=True)
    return out


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
