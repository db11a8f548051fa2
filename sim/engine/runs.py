"""Running scenarios and turning model records into the output contract (MODEL.md section 5).

``run_scenario`` is the Python API; ``write_run`` writes a run folder atomically:
timeseries.parquet, decisions.parquet, scenario.toml (fully resolved) and manifest.json.
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
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Any, Iterable

import numpy as np
import pandas as pd

from sim.engine.fileio import atomic_write_bytes
from sim.model.calendar import month_dates
from sim.model.ids import (
    AGGREGATES,
    BUYER_METRICS,
    BUYERS,
    MARKET_METRICS,
    ORIGINS,
    TIER_METRICS,
    TIERS,
    TIMESERIES_COLUMNS,
    VENDOR_METRICS,
    VENDORS,
)
from sim.model.market_model import GREY, MarketModel
from sim.model.scenario import Scenario, load_scenario
from sim.model.seeds import derive_seeds

TRACE_TERMS = ("performance", "price", "switching", "risk", "policy")
DECISION_COLUMNS = ("run", "seed", "date", "buyer", "tier", "origin", *TRACE_TERMS, "share_unconstrained",
                    "share")


@dataclass
class RunResult:
    """What a run (one scenario, one or more seeds) produced."""
    scenario: Scenario
    seeds: list[int]
    timeseries: pd.DataFrame
    decisions: pd.DataFrame | None = None
    wall_time_s: float = 0.0
    events_applied: dict[int, list[tuple[str, str]]] = field(default_factory=dict)
    # with parameter uncertainty: which accepted parameter set each replicate used, and the sets
    parameter_set_of_run: list[int] | None = None
    parameter_sets: list[dict[str, float]] | None = None
    parameter_sets_file: str | None = None

    def annual(self, metric: str = "unit_share", entities: Iterable[str] = ("Nvidia", "Huawei", "Domestic")):
        return annual_shares(self.timeseries, metric, entities)


def _vendor_block(m: MarketModel) -> np.ndarray:
    """(n_months, 11 entities, 10 metrics): vendors then Domestic, Foreign, Total."""
    n = m.n_months
    g = m.pidx[GREY]
    P, V = len(m.product_ids), len(VENDORS)
    mv = np.zeros((P, V))
    mv[np.arange(P), m.vendor_of] = 1.0
    mv[g] = 0.0  # grey cards are in no vendor's legal figures
    agg = np.zeros((V, 3))
    agg[:, 0] = m.origin_of_vendor == 1
    agg[:, 1] = m.origin_of_vendor == 0
    agg[:, 2] = 1.0
    full = np.concatenate([np.eye(V), agg], axis=1)  # (V, V+3)

    def by_entity(x):  # (n, P) -> (n, V+3)
        return (x @ mv) @ full

    units = by_entity(m.rec_units)
    compute = by_entity(m.rec_units * m.bf16[None, :])
    revenue = by_entity(m.rec_revenue)
    levy = by_entity(m.rec_levy)
    installed = by_entity(m.rec_installed)
    grey = np.zeros_like(units)
    grey_n = m.rec_units[:, g]
    grey[:, VENDORS.index("Nvidia")] = grey_n
    grey[:, V + 1] = grey_n  # Foreign
    grey[:, V + 2] = grey_n  # Total

    def share(x):
        tot = x[:, -1:]
        return np.divide(x, tot, out=np.zeros_like(x), where=tot > 0)

    out = np.stack([units, share(units), compute, share(compute), revenue, share(revenue), levy, grey,
                    installed, share(installed)], axis=2)
    assert out.shape == (n, V + 3, len(VENDOR_METRICS))
    return out


def timeseries_frame(m: MarketModel, run: int) -> pd.DataFrame:
    """The long output table of one finished model run."""
    blocks = [
        (_vendor_block(m), list(VENDORS) + list(AGGREGATES), VENDOR_METRICS),
        (m.rec_buyer, list(BUYERS), BUYER_METRICS),
        (m.rec_tier, list(TIERS), TIER_METRICS),
        (m.rec_market[:, None, :], ["Total"], MARKET_METRICS),
    ]
    n = m.n_months
    vals, ents, mets = [], [], []
    for arr, names, metrics in blocks:
        vals.append(arr.reshape(n, -1))
        ents.extend(np.repeat(names, len(metrics)).tolist())
        mets.extend(list(metrics) * len(names))
    values = np.concatenate(vals, axis=1)
    k = values.shape[1]
    df = pd.DataFrame({
        "run": np.full(n * k, run, dtype=np.int64),
        "seed": np.full(n * k, m.seed_value, dtype=np.int64),
        "date": np.repeat(month_dates(m.months), k),
        "entity": pd.array(np.tile(np.array(ents, dtype=object), n), dtype="str"),
        "metric": pd.array(np.tile(np.array(mets, dtype=object), n), dtype="str"),
        "value": values.ravel().astype(np.float64),
    })
    return df[list(TIMESERIES_COLUMNS)]


def decisions_frame(m: MarketModel, run: int) -> pd.DataFrame:
    """Decision trace: per month, buyer, tier and origin nest, the probability-weighted utility terms
    behind the choice and the resulting split (before and after policy floors)."""
    tr = m.rec_trace
    if tr is None:
        raise ValueError("the model was run without trace=True")
    n, B, T, O, _ = tr.shape
    idx = np.indices((n, B, T, O)).reshape(4, -1)
    flat = tr.reshape(-1, tr.shape[-1])
    data = {
        "run": np.full(idx.shape[1], run, dtype=np.int64),
        "seed": np.full(idx.shape[1], m.seed_value, dtype=np.int64),
        "date": month_dates(m.months)[idx[0]],
        "buyer": pd.array(np.array(BUYERS, dtype=object)[idx[1]], dtype="str"),
        "tier": pd.array(np.array(TIERS, dtype=object)[idx[2]], dtype="str"),
        "origin": pd.array(np.array(ORIGINS, dtype=object)[idx[3]], dtype="str"),
    }
    for j, name in enumerate(TRACE_TERMS + ("share_unconstrained", "share")):
        data[name] = flat[:, j].astype(np.float64)
    return pd.DataFrame(data)


def run_model(scenario: Scenario, seed: int, run: int = 0, trace: bool = False):
    m = MarketModel(scenario, seed=seed, trace=trace, mesa_collect=False)
    m.run()
    ts = timeseries_frame(m, run)
    dec = decisions_frame(m, run) if trace else None
    return ts, dec, [(m.months[t], e) for t, e in m.events_applied]


def run_scenario(scenario: Scenario | str | Path = "history", seeds: int | list[int] | None = None,
                 trace: bool = False, parameters: dict[str, Any] | None = None,
                 parameter_sets: bool | list[dict[str, float]] = False) -> RunResult:
    """Run a scenario for several seeds.

    seeds: a number of replicates (seeds derived from the scenario's master seed), an explicit list of
    seeds, or None for the scenario's own ``replicates``. ``parameters``: dotted overrides.
    Replicate i always gets seed ``derive_seed(master, i)`` and run id i.
    ``parameter_sets``: combine seed noise with parameter uncertainty. True uses the scenario's
    declared accepted parameter sets (``scenario.parameter_sets``), or pass a list of dicts;
    replicate i then also uses set ``i mod K`` (its values replace the scenario's; ``parameters``
    still win). Off by default: every replicate uses the scenario's own values.
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
    t0 = time.perf_counter()
    frames, decs, events = [], [], {}
    for i, s in enumerate(seed_list):
        sc_i = sc
        if sets:
            k = set_of_run[i]
            if k not in variants:
                variants[k] = sc.with_changes(parameters={**sets[k], **(parameters or {})})
            sc_i = variants[k]
        ts, dec, ev = run_model(sc_i, s, i, trace)
        frames.append(ts)
        if dec is not None:
            decs.append(dec)
        events[i] = ev
    ts = pd.concat(frames, ignore_index=True)
    dec = pd.concat(decs, ignore_index=True) if decs else None
    return RunResult(sc, seed_list, ts, dec, time.perf_counter() - t0, events, set_of_run, sets, sets_file)


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
        "runs": list(range(len(result.seeds))),
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


def empty_decisions() -> pd.DataFrame:
    cols: dict[str, Any] = {c: pd.Series([], dtype="float64") for c in DECISION_COLUMNS}
    for c in ("run", "seed"):
        cols[c] = pd.Series([], dtype="int64")
    cols["date"] = pd.Series([], dtype="datetime64[us]")
    for c in ("buyer", "tier", "origin"):
        cols[c] = pd.Series([], dtype="str")
    return pd.DataFrame(cols)


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
