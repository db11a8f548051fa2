"""A grid results folder as the input of an analysis: the frozen grid, per-run and per-point outcomes, and
the noise between seeds.

Outcomes come from ``sim.experiments.summarize`` (the same definitions as ``python -m sim summarize``).
A crossover outcome (``crossover:A:B``) is undefined in runs where A never passes B; analyses need a
number, so such runs count as crossing one year after the horizon ends (right-censored), and the count
is reported.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from sim.engine import store
from sim.experiments.grid import Axis, Grid, find_grid, load_grid
from sim.experiments.summarize import OutcomeError, default_year, parse_outcome, run_outcomes
from sim.model.calendar import month_index
from sim.model.scenario import ScenarioError, load_scenario

ID_COLUMNS = ("run", "point", "replicate", "seed_index", "seed", "spec_hash")


class AnalysisError(ValueError):
    """A problem with an analysis request: one line, shown as ``error: ...`` by the command line."""


@dataclass(frozen=True)
class GridResults:
    folder: Path
    grid: Grid
    experiments: pd.DataFrame
    manifest: dict
    done: int                     # finished runs
    shards: tuple[Path, ...] = ()  # the shards holding them (verified when the folder was opened)

    @property
    def axes(self) -> list[Axis]:
        return list(self.grid.axes)

    @property
    def complete(self) -> bool:
        return self.done == len(self.experiments)

    def axis(self, name: str) -> Axis:
        for a in self.grid.axes:
            if a.name == name:
                return a
        raise AnalysisError(f"{self.folder}: no axis {name!r}; axes: {', '.join(a.name for a in self.grid.axes)}")

    def inputs(self) -> dict:
        """What identifies the input of an analysis (for its manifest)."""
        m = self.manifest
        return {"folder": str(self.folder), "grid": m.get("grid"), "design": self.grid.design,
                "grid_file_sha256": m.get("grid_file_sha256"), "model_fingerprint": m.get("model_fingerprint"),
                "master_seed": m.get("master_seed"), "seed_mode": m.get("seed_mode"),
                "points": self.grid.n_points, "replicates": self.grid.replicates, "runs_used": self.done}


def open_results(folder: str | Path, require_complete: bool = False) -> GridResults:
    """Open a grid results folder (its frozen grid file and base scenario); AnalysisError if it is not one."""
    out = Path(folder)
    if not out.is_dir():
        grid_file = find_grid(str(folder))
        if grid_file.is_file():   # a grid file or a shipped grid's name where its results folder belongs
            raise AnalysisError(f"{folder} is a grid file, not a results folder: run it first "
                                f"(python -m sim grid {folder} --out outputs/{grid_file.stem}), then analyse "
                                f"outputs/{grid_file.stem}")
        raise AnalysisError(f"{out}: no such folder (make one with python -m sim grid GRID --out {out})")
    if not (out / store.MANIFEST).is_file() or not (out / store.EXPERIMENTS).is_file():
        raise AnalysisError(f"{out}: not a grid results folder (no {store.MANIFEST} and {store.EXPERIMENTS})")
    try:
        grid = load_grid(out / store.GRID_COPY, base=load_scenario(out / store.BASE_COPY), check_points=False)
    except ScenarioError as e:
        raise AnalysisError(f"{out}: its grid file no longer loads ({e.lines()[0]})") from None
    ex = store.read_experiments(out)
    completed = store.completed_runs(out)
    done = len(completed)
    if done == 0:
        raise AnalysisError(f"{out}: no finished runs yet")
    res = GridResults(out, grid, ex, store.read_manifest(out) or {}, done, tuple(sorted(set(completed.values()))))
    if require_complete and not res.complete:
        raise AnalysisError(f"{out}: {done} of {len(ex)} runs finished; complete the grid first "
                            f"(python -m sim grid {out} --out {out} --resume)")
    return res


def check_outcome(res: GridResults, outcome: str) -> str:
    """The outcome's full name (year filled in); AnalysisError if it is not understood."""
    try:
        return parse_outcome(outcome, default_year(res.folder)).name
    except OutcomeError as e:
        raise AnalysisError(str(e)) from None


def censor_year(res: GridResults) -> int:
    """The value given to a crossover that never happens: one year after the horizon."""
    return int(res.grid.base.header.end[:4]) + 1


def outcomes_per_run(res: GridResults, outcomes: list[str]) -> dict[str, tuple[pd.DataFrame, int]]:
    """Per outcome: per finished run, run, point, replicate and ``value``; and how many crossovers were
    censored. The shards are read once for all the outcomes."""
    names = list(dict.fromkeys(check_outcome(res, o) for o in outcomes))
    try:
        per = run_outcomes(res.folder, names, shards=list(res.shards) or None)
    except OutcomeError as e:
        raise AnalysisError(str(e)) from None
    per = per.merge(res.experiments[["run", "point", "replicate"]], on="run", how="left")
    out = {}
    for name in names:
        d = per[["run", "point", "replicate", name]].rename(columns={name: "value"})
        censored = 0
        if name.startswith("crossover:"):
            censored = int(d["value"].isna().sum())
            d["value"] = d["value"].fillna(float(censor_year(res)))
        if d["value"].isna().any():
            bad = d.loc[d["value"].isna(), "run"].tolist()[:5]
            raise AnalysisError(f"outcome {name} is undefined in {int(d['value'].isna().sum())} run(s) (e.g. runs "
                                f"{bad}): no units sold in that year")
        out[name] = (d.reset_index(drop=True), censored)
    return out


def outcome_per_run(res: GridResults, outcome: str) -> tuple[pd.DataFrame, int]:
    """Per finished run: run, point, replicate and ``value``; and how many crossovers were censored."""
    return next(iter(outcomes_per_run(res, [outcome]).values()))


def point_means(per_run: pd.DataFrame) -> pd.DataFrame:
    """Per design point: runs, mean over seeds and the standard error of that mean (0 with one seed)."""
    g = per_run.groupby("point")["value"]
    t = pd.DataFrame({"runs": g.size(), "mean": g.mean(), "sd": g.std(ddof=1)}).reset_index()
    t["se"] = (t["sd"] / np.sqrt(t["runs"])).fillna(0.0)
    return t.drop(columns="sd")


def seed_noise(points: pd.DataFrame) -> dict[str, float]:
    """How large the seed noise is next to the spread of the point means.

    se_mean: mean over points of the between-seed standard error of the point's mean;
    variance_share: mean squared standard error / variance of the point means, i.e. the share of the
    spread between points that seed noise alone would produce (near 0: the design dominates; near 1:
    the indices measure noise).
    """
    var = float(points["mean"].var(ddof=1)) if len(points) > 1 else 0.0
    se2 = float((points["se"] ** 2).mean())
    return {"se_mean": float(points["se"].mean()), "variance_share": se2 / var if var > 0 else float("nan"),
            "points_sd": float(np.sqrt(var))}


def numeric_inputs(res: GridResults, runs: pd.Series | None = None) -> pd.DataFrame:
    """The axes per run as analysis inputs: numbers stay numbers, months become month numbers (months since
    year 0; ``month_label`` turns them back), text and true/false become categories."""
    ex = res.experiments if runs is None else res.experiments.set_index("run").loc[runs].reset_index()
    x = pd.DataFrame(index=ex.index)
    for a in res.grid.axes:
        col = ex[a.name]
        if a.kind == "month":
            x[a.name] = col.map(month_index).astype("float64")
        elif pd.api.types.is_bool_dtype(col) or not pd.api.types.is_numeric_dtype(col):
            x[a.name] = pd.Categorical(col.astype(str))
        else:
            x[a.name] = col.astype("float64")
    return x


def month_label(value: float) -> str:
    from sim.model.calendar import month_str

    return month_str(int(round(value)))


def write_json(obj: dict, path: Path) -> None:
    """A deterministic JSON file (sorted keys, no time stamps), so equal inputs give equal files."""
    store.write_json(json.loads(json.dumps(obj, sort_keys=True, default=str)), path)
