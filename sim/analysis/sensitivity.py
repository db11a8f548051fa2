"""Global sensitivity indices from a finished Sobol or Morris grid (SALib).

Seeds are averaged within each design point first (the indices describe the inputs, not the seed noise),
then SALib analyses the point means in design order against the design's unit-cube sample (regenerated
from the grid file and its master seed). Beside the indices the table reports the seed noise:

    se_mean         mean over points of the between-seed standard error of a point's mean
    variance_share  mean squared standard error / variance of the point means: a Sobol index below it
                    cannot be told from seed noise
    ee_noise        (Morris) the noise on one elementary effect, sqrt(2) se_mean / delta, next to mu*

Output: ``sensitivity.csv`` with columns ``outcome, parameter, index, value, conf``; the noise rows have
parameter ``(seed noise)``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from sim.analysis.results import (
    AnalysisError,
    GridResults,
    check_outcome,
    open_results,
    outcomes_per_run,
    point_means,
    seed_noise,
    write_json,
)
from sim.experiments.grid import unit_sample
from sim.model.seeds import derive_seed

COLUMNS = ["outcome", "parameter", "index", "value", "conf"]
NOISE = "(seed noise)"
METHODS = {"sobol": ("S1", "ST"), "morris": ("mu_star", "sigma", "mu")}
FILE = "sensitivity.csv"


@dataclass
class Sensitivity:
    table: pd.DataFrame           # COLUMNS
    method: str                   # sobol | morris
    notes: list[str]
    path: Path | None = None


def analysis_seed(res: GridResults) -> int:
    """SALib's bootstrap seed, derived from the grid's master seed (so every run of the analysis agrees)."""
    return derive_seed(res.grid.seed, 2**31 - 2) % 2**32


def indices(method: str, names: list[str], u: np.ndarray, y: np.ndarray, num_levels: int = 4,
            seed: int = 1, conf_level: float = 0.95, resamples: int = 1000) -> pd.DataFrame:
    """SALib indices of ``y`` (one value per sample row of ``u``): rows parameter, index, value, conf."""
    problem = {"num_vars": len(names), "names": list(names), "bounds": [[0.0, 1.0]] * len(names)}
    rows = []
    if method == "sobol":
        from SALib.analyze import sobol

        r = sobol.analyze(problem, y, calc_second_order=False, num_resamples=resamples, conf_level=conf_level,
                          seed=seed)
        for j, n in enumerate(names):
            rows.append((n, "S1", r["S1"][j], r["S1_conf"][j]))
            rows.append((n, "ST", r["ST"][j], r["ST_conf"][j]))
    elif method == "morris":
        from SALib.analyze import morris

        r = morris.analyze(problem, u, y, num_resamples=resamples, conf_level=conf_level, num_levels=num_levels,
                           seed=seed)
        for j, n in enumerate(names):
            rows.append((n, "mu_star", r["mu_star"][j], r["mu_star_conf"][j]))
            rows.append((n, "sigma", r["sigma"][j], float("nan")))
            rows.append((n, "mu", r["mu"][j], float("nan")))
    else:
        raise AnalysisError(f"unknown method {method!r}")
    return pd.DataFrame(rows, columns=["parameter", "index", "value", "conf"])


def sensitivity(folder: str | Path, outcomes: list[str], write: bool = True, command: str = "",
                conf_level: float = 0.95, resamples: int = 1000) -> Sensitivity:
    res = open_results(folder)
    method = res.grid.design
    if method not in METHODS:
        raise AnalysisError(f"{res.folder}: sensitivity needs a grid with design = \"sobol\" or \"morris\"; this "
                            f"grid's design is {method!r} (scenario discovery and robustness work on any design)")
    if not res.complete:
        raise AnalysisError(f"{res.folder}: {res.done} of {len(res.experiments)} runs finished; {method} indices need "
                            f"every design point (python -m sim grid {res.folder} --out {res.folder} --resume)")
    if not outcomes:
        raise AnalysisError("give at least one --outcome")
    names = [check_outcome(res, o) for o in outcomes]
    u = unit_sample(res.grid)
    if u is None or len(u) != res.grid.n_points:  # pragma: no cover - the design is regenerated from the file
        raise AnalysisError(f"{res.folder}: the design could not be regenerated from its grid file")
    params = [a.name for a in res.grid.axes]
    seed = analysis_seed(res)
    parts, notes = [], []
    per_outcome = outcomes_per_run(res, names)
    names = list(per_outcome)
    for name in names:
        per_run, censored = per_outcome[name]
        pts = point_means(per_run).sort_values("point")
        y = pts["mean"].to_numpy(dtype=float)
        if censored:
            notes.append(f"{name}: {censored} of {len(per_run)} runs never cross; counted as crossing in "
                         f"{int(per_run['value'].max())}")
        if np.ptp(y) == 0:
            notes.append(f"{name}: the outcome is the same at every design point; every index is 0")
            t = pd.DataFrame([(p, i, 0.0, 0.0) for p in params for i in METHODS[method]],
                             columns=["parameter", "index", "value", "conf"])
        else:
            t = indices(method, params, u, y, res.grid.num_levels, seed, conf_level, resamples)
        noise = seed_noise(pts)
        extra = [(NOISE, "se_mean", noise["se_mean"], float("nan")),
                 (NOISE, "variance_share", noise["variance_share"], float("nan"))]
        if method == "morris":
            p = res.grid.num_levels
            delta = p / (2 * (p - 1))
            ee = math.sqrt(2) * noise["se_mean"] / delta
            extra.append((NOISE, "ee_noise", ee, float("nan")))
        t = pd.concat([t, pd.DataFrame(extra, columns=t.columns)], ignore_index=True)
        t.insert(0, "outcome", name)
        parts.append(t)
        notes.append(noise_sentence(name, method, t))
    table = pd.concat(parts, ignore_index=True)[COLUMNS]
    out = Sensitivity(table, method, notes)
    if write:
        out.path = res.folder / FILE
        table.to_csv(out.path, index=False, float_format="%.10g")
        write_json({"analysis": "sensitivity", "command": command, "method": method, "outcomes": names,
                    "salib_seed": seed, "conf_level": conf_level, "resamples": resamples,
                    "num_levels": res.grid.num_levels if method == "morris" else None,
                    "seeds_per_point": res.grid.replicates, "notes": notes, "input": res.inputs()},
                   res.folder / "sensitivity.json")
    return out


def noise_sentence(outcome: str, method: str, t: pd.DataFrame) -> str:
    """One line comparing the seed noise with the indices."""
    val = t.set_index(["parameter", "index"])["value"]
    se = val[(NOISE, "se_mean")]
    if not val[(NOISE, "variance_share")] == val[(NOISE, "variance_share")]:  # NaN: no spread between points
        return f"{outcome}: seed noise: mean standard error {se:.3g} per point; the point means do not vary"
    if method == "sobol":
        share = val[(NOISE, "variance_share")]
        below = sorted(p for (p, i), v in val.items() if i == "ST" and p != NOISE and v < share)
        s = (f"{outcome}: seed noise: mean standard error {se:.3g} per point, {share:.1%} of the variance between "
             "points")
        return s + (f"; ST below that level for {', '.join(below)}" if below else "")
    ee = val[(NOISE, "ee_noise")]
    top = max((v for (p, i), v in val.items() if i == "mu_star" and p != NOISE), default=0.0)
    below = sorted(p for (p, i), v in val.items() if i == "mu_star" and p != NOISE and v < ee)
    s = (f"{outcome}: seed noise: mean standard error {se:.3g} per point; noise on one elementary effect "
         f"{ee:.3g} ({ee / top:.1%} of the largest mu*)" if top > 0 else f"{outcome}: seed noise {se:.3g}")
    return s + (f"; mu* below the noise for {', '.join(below)}" if below else "")
