"""Which decision holds up across futures: regret and satisficing of a lever's levels.

A grid marks its axes ``role = "lever"`` (a decision: a buyer's strategy, a regulator's rule) or
``role = "uncertainty"`` (EMA's X and L). A policy is one combination of lever levels; a future is one
combination of the other axes. With the outcome per run averaged over seeds (common seeds, so policies
meet the same draws) and ``y[p, f]`` the mean of policy p in future f:

    regret[p, f] = max_q y[q, f] - y[p, f]          (maximize; min_q y[q, f] subtracted the other way)
    max_regret   = max over futures       -> the minimax-regret policy has the smallest
    pNN_regret   = the NN-th percentile over futures (less driven by a single extreme future)
    satisficing  = share of futures where y[p, f] meets the threshold (>= when maximizing, <= otherwise)

Uncertainty: the seeds are resampled (whole replicates, keeping the common draws) ``boot`` times;
``max_regret_conf`` is the half-width of the 95% bootstrap interval and ``p_minimax`` the share of
resamples in which the policy has the smallest maximum regret.

Outputs: ``robustness.csv`` (one row per policy, ranked) and ``robustness_regret.csv`` (policy, future,
outcome, regret), with ``robustness.json``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from sim.engine.fileio import write_csv
from sim.analysis.results import AnalysisError, check_outcome, open_results, outcome_per_run, write_json
from sim.model.seeds import derive_seed

FILE, REGRET_FILE = "robustness.csv", "robustness_regret.csv"


@dataclass
class Robustness:
    table: pd.DataFrame           # one row per policy, best first
    regret: pd.DataFrame          # policy, future, outcome, regret
    levers: list[str]
    futures: int
    threshold: float
    maximize: bool
    notes: list[str] = field(default_factory=list)


def regret_matrix(y: np.ndarray, maximize: bool = True) -> np.ndarray:
    """Regret of every policy (rows) in every future (columns) of an outcome matrix."""
    return y.max(axis=0, keepdims=True) - y if maximize else y - y.min(axis=0, keepdims=True)


def rank_policies(y: np.ndarray, maximize: bool = True, percentile: float = 90.0,
                  threshold: float | None = None) -> pd.DataFrame:
    """Per policy (row of ``y``): mean outcome, max and percentile regret, satisficing; ranked by max regret
    (ties by the percentile regret, then the mean outcome)."""
    r = regret_matrix(y, maximize)
    t = pd.DataFrame({"mean": y.mean(axis=1), "max_regret": r.max(axis=1),
                      f"p{percentile:g}_regret": np.percentile(r, percentile, axis=1)})
    if threshold is not None:
        ok = y >= threshold if maximize else y <= threshold
        t["satisficing"] = ok.mean(axis=1)
    order = np.lexsort((-t["mean"].to_numpy() if maximize else t["mean"].to_numpy(),
                        t[f"p{percentile:g}_regret"].to_numpy(), t["max_regret"].to_numpy()))
    t["rank"] = 0
    t.loc[t.index[order], "rank"] = np.arange(1, len(t) + 1)
    return t


def labels(ex: pd.DataFrame, cols: list[str]) -> pd.Series:
    """'axis=value, axis=value' per row (numbers to 4 significant digits)."""
    def fmt(v) -> str:
        return f"{v:.4g}" if isinstance(v, float) else str(v)

    return pd.Series([", ".join(f"{c}={fmt(r[c])}" for c in cols) for _, r in ex[cols].iterrows()], index=ex.index)


def robustness(folder: str | Path, outcome: str, levers: list[str] | None = None, maximize: bool = True,
               threshold: float | None = None, percentile: float = 90.0, boot: int = 500, write: bool = True,
               command: str = "") -> Robustness:
    if not 0 < percentile <= 100:
        raise AnalysisError(f"--percentile must be in (0, 100], got {percentile}")
    if boot < 0:
        raise AnalysisError(f"--bootstrap must be 0 (no intervals) or more, got {boot}")
    res = open_results(folder, require_complete=True)
    names = [a.name for a in res.grid.axes]
    if levers:
        for lv in levers:
            res.axis(lv)
    else:
        levers = [a.name for a in res.grid.levers]
    if not levers:
        raise AnalysisError(f"{res.folder}: no lever axis; mark the policy axes role = \"lever\" in the grid file or "
                            f"name one with --lever AXIS (axes: {', '.join(names)})")
    unc = [n for n in names if n not in levers]
    name = check_outcome(res, outcome)
    per_run, censored = outcome_per_run(res, name)
    ex = res.experiments.drop_duplicates("point").set_index("point")
    key = labels(ex, levers)
    fut = labels(ex, unc) if unc else pd.Series("(one future)", index=ex.index)
    d = per_run.assign(policy=per_run["point"].map(key), future=per_run["point"].map(fut))
    cube = d.pivot_table(index=["policy", "future"], columns="replicate", values="value", aggfunc="mean")
    policies = list(dict.fromkeys(key.loc[sorted(ex.index)]))
    futures = sorted(d["future"].unique())
    full = pd.MultiIndex.from_product([policies, futures], names=["policy", "future"])
    cube = cube.reindex(full)
    missing = cube.isna().all(axis=1)
    if missing.any():
        p, f = missing[missing].index[0]
        raise AnalysisError(f"{res.folder}: robustness needs every lever level in every future, but policy ({p}) has no "
                            f"run in future ({f}); use design = \"factorial\", or \"lhs\" with the levers marked "
                            "role = \"lever\" (they are then crossed with the sample)")
    reps = cube.to_numpy().reshape(len(policies), len(futures), -1)     # (policies, futures, replicates)
    y = np.nanmean(reps, axis=2)
    if threshold is None:
        threshold = float(np.median(y))
        thr_note = f"threshold {threshold:.4g} (the median outcome; set one with --threshold)"
    else:
        thr_note = f"threshold {threshold:.4g}"
    t = rank_policies(y, maximize, percentile, threshold)
    # bootstrap over whole replicates (the common seeds stay common)
    rng = np.random.default_rng(derive_seed(res.grid.seed, 2**31 - 3))
    R = reps.shape[2]
    best = np.zeros(len(policies))
    boots = np.zeros((boot, len(policies)))
    for b in range(boot):
        pick = rng.integers(0, R, R)
        yb = np.nanmean(reps[:, :, pick], axis=2)
        mr = regret_matrix(yb, maximize).max(axis=1)
        boots[b] = mr
        best[np.flatnonzero(mr == mr.min())] += 1 / np.count_nonzero(mr == mr.min())
    lo, hi = np.percentile(boots, [2.5, 97.5], axis=0) if boot else (t["max_regret"], t["max_regret"])
    t.insert(0, "policy", policies)
    lev_vals = ex.loc[[key[key == p].index[0] for p in policies], levers].reset_index(drop=True)
    t = pd.concat([t[["policy"]], lev_vals, t.drop(columns="policy")], axis=1)
    t.insert(t.columns.get_loc("max_regret") + 1, "max_regret_conf", (np.asarray(hi) - np.asarray(lo)) / 2)
    t["p_minimax"] = best / boot if boot else np.nan
    t = t.sort_values("rank", kind="stable").reset_index(drop=True)
    reg = regret_matrix(y, maximize)
    long = pd.DataFrame([(p, f, y[i, j], reg[i, j]) for i, p in enumerate(policies) for j, f in enumerate(futures)],
                        columns=["policy", "future", "outcome", "regret"])
    notes = [f"{len(policies)} policies x {len(futures)} futures x {R} seeds; {'maximize' if maximize else 'minimize'} "
             f"{name}; {thr_note}"]
    if censored:
        notes.append(f"{censored} runs never cross; counted as crossing after the horizon")
    out = Robustness(t, long, levers, len(futures), threshold, maximize, notes)
    if write:
        write_csv(t, res.folder / FILE, index=False, float_format="%.10g")
        write_csv(long, res.folder / REGRET_FILE, index=False, float_format="%.10g")
        write_json({"analysis": "robustness", "command": command, "outcome": name, "levers": levers,
                    "uncertainties": unc, "maximize": maximize, "threshold": threshold, "percentile": percentile,
                    "bootstrap": boot, "bootstrap_seed": int(derive_seed(res.grid.seed, 2**31 - 3)), "notes": notes,
                    "input": res.inputs()}, res.folder / "robustness.json")
    return out
