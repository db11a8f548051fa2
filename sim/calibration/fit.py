"""The fit: quasi-random (Sobol) search, Nelder-Mead refinement on common random numbers, then
acceptance of parameter sets around the optimum (approximate Bayesian computation by rejection).

Every candidate is scored on the mean of its statistics over the same seeds (common random numbers),
so differences between candidates are not seed noise. Runs stop at the last fitted month (2025-12):
the model's months up to then do not depend on the horizon.

Stages (``fit``):
1. Sobol sample (scrambled, ``scipy.stats.qmc``) of the fitted parameters over their prior ranges (the search box is the prior box).
2. Nelder-Mead (``scipy.optimize``) in the unit cube from the best distinct Sobol points (one
   optimiser per start, run side by side in the worker processes).
3. Acceptance: a Latin-hypercube sample of the fitted parameters in a box around the optimum, jointly with the
   "nuisance" parameters (not fitted, held at their sourced priors) drawn from their prior ranges;
   a set is accepted when its loss is within ``delta`` of the best loss (``delta`` = the 90% quantile
   of chi-square with as many degrees of freedom as fitted parameters) or, when fewer than
   ``k_target`` draws qualify, when it is among the ``k_target`` closest draws (rejection ABC with a
   quantile tolerance; ``FitResult.relaxed`` says so). The accepted sets carry the remaining
   parameter uncertainty into the history run's bands.
"""

from __future__ import annotations

import math
import os
import time
from dataclasses import dataclass, field
from typing import Any, Callable

import numpy as np
from scipy import optimize, stats
from scipy.stats import qmc

from sim.calibration.targets import DETAILS, Target, loss, measure_all
from sim.engine.batch import Job, batch_size, run_batch
from sim.engine.executors import make_executor
from sim.model.params import CALIBRATED, PARAMS
from sim.model.scenario import Scenario
from sim.model.seeds import derive_seeds

FIT_END = "2025-12"

# Not fitted, held at their sourced priors; drawn from their prior ranges in the acceptance stage so
# their uncertainty reaches the bands (each has a stated range in sim/model/params.py).
NUISANCE: tuple[str, ...] = (
    "demand.base_2022",
    "demand.growth_after_2025",
    "choice.price_weight",
    "anticipation.decay",
    "huawei.wafers_2024",
    "huawei.wafers_2025",
    "huawei.wafers_2026",
    "huawei.die_bank",
    "domestic.price_markup",
    "grey.per_year",
    "maturity.learning_rate",   # not identified by 2022-2025 (docs/ODD.md, Validation)
    # forward-looking assumptions (MODEL.md 9.7: the 2026-2030 bands carry them, not only seed noise)
    "huawei.domestic_hbm_2026",
    "huawei.domestic_hbm_growth",
    "smic.ai_share",
    "smic.advanced_wpm_2027",
    "smic.growth_after_2027",
    "smic.cards_per_wafer_other",
    "prices.decline_annual",
    "demand.backlog_decay",
    "grey.shortage_elasticity",
    "offshore.cost_multiple",
)


def prior_box(names: tuple[str, ...]) -> tuple[np.ndarray, np.ndarray]:
    return (np.array([PARAMS[n].prior[0] for n in names], float),
            np.array([PARAMS[n].prior[1] for n in names], float))


def to_params(names, x) -> dict[str, Any]:
    out = {}
    for n, v in zip(names, x):
        p = PARAMS[n]
        v = float(np.clip(v, p.lo, p.hi))
        out[n] = int(round(v)) if p.kind == "int" else v
    return out


# ---------------------------------------------------------------- evaluating candidates
#
# Every model run goes through the engine's execution layer: candidates x seeds become jobs, jobs are
# stepped together in batches (``sim.engine.batch``), batches run on an executor (this process, local
# processes or Dask). Workers get the scenario and the targets once (``shared``).


def _variant(scenario: Scenario, params: dict[str, Any], remove: list[str] | None = None) -> Scenario:
    return scenario.with_changes(parameters=params, remove=remove) if (params or remove) else scenario


def _run_candidates(shared, item):
    """Worker: ``item`` = [(key, params, seed), ...] -> (keys, stats (n, targets), paths or None)."""
    scenario, targets, with_paths = shared
    from sim.calibration.paths import paths_of

    variants: dict[str, Scenario] = {}
    jobs = []
    for i, (_, params, seed) in enumerate(item):
        k = repr(sorted(params.items()))
        if k not in variants:
            variants[k] = _variant(scenario, params)
        jobs.append(Job(variants[k], int(seed), i))
    rec = run_batch(jobs, details=DETAILS)
    st = measure_all(rec, targets)
    paths = [paths_of(rec, i) for i in range(rec.n_runs)] if with_paths else None
    return [key for key, _, _ in item], st, paths


def simulate(scenario: Scenario, params: dict[str, Any], seeds, targets: list[Target],
             remove: list[str] | None = None) -> np.ndarray:
    """Statistics of ``targets`` for each seed (rows) of ``scenario`` with ``params`` applied (one batch,
    in this process)."""
    sc = _variant(scenario, params, remove)
    rec = run_batch([Job(sc, int(s), i) for i, s in enumerate(seeds)], details=DETAILS)
    return measure_all(rec, targets)


def nelder_mead(scenario: Scenario, targets: list[Target], names, lo, hi, x0, maxfev: int, seeds):
    """Nelder-Mead in the unit cube of the prior box from ``x0``, every evaluation on the mean of the
    same ``seeds`` (one batch). Returns [(params, means, loss)] for every distinct point evaluated."""
    d = len(names)
    cache: dict[tuple, float] = {}
    rows = []

    def f(x):
        x = np.clip(x, 0.0, 1.0)
        key = tuple(np.round(x, 6))
        if key not in cache:
            c = to_params(names, lo + x * (hi - lo))
            m = np.nanmean(simulate(scenario, c, seeds, targets), axis=0)
            cache[key] = loss(m, targets)
            rows.append((c, m, cache[key]))
        return cache[key]

    x0 = np.clip(np.asarray(x0, float), 0, 1)
    simplex = np.vstack([x0] + [np.clip(x0 + 0.08 * np.eye(d)[k] * (1 if x0[k] < 0.9 else -1), 0, 1)
                                for k in range(d)])
    optimize.minimize(f, x0, method="Nelder-Mead", bounds=[(0.0, 1.0)] * d,
                      options={"maxfev": maxfev, "initial_simplex": simplex, "xatol": 2e-3, "fatol": 1e-3})
    return rows


def _nm_task(shared, task):
    scenario, targets, _ = shared
    key, names, lo, hi, x0, maxfev, seeds = task
    return key, nelder_mead(scenario, targets, names, lo, hi, x0, maxfev, seeds)


class Evaluator:
    """Scores candidates (seed-averaged statistics on common random numbers) through an executor:
    local worker processes when ``workers > 1`` (or any executor passed in), else this process."""

    def __init__(self, scenario: Scenario, targets: list[Target], seeds: list[int], workers: int = 1,
                 progress: Callable[[int], None] | None = None, executor=None):
        self.scenario = scenario
        self.targets = targets
        self.seeds = list(seeds)
        self.workers = max(1, int(workers))
        self.progress = progress
        self.runs = 0
        self.executor = executor or make_executor("local", self.workers)
        self._shared = {flag: (scenario, targets, flag) for flag in (False, True)}  # one pool each

    def close(self) -> None:
        self.executor.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def _items(self, runs: list[tuple[Any, dict[str, Any], int]]):
        """Split runs into batches: enough for every worker, at most MAX_BATCH runs each."""
        n = len(runs)
        size = batch_size(n, self.workers, len(self.scenario.months))
        return [runs[i:i + size] for i in range(0, n, size)]

    def _map(self, runs, with_paths: bool):
        for keys, st, paths in self.executor.map(_run_candidates, self._shared[with_paths], self._items(runs)):
            self.runs += len(keys)
            yield keys, st, paths

    def stats(self, candidates: list[dict[str, Any]]) -> np.ndarray:
        """(n_candidates, n_seeds, n_targets) statistics."""
        n, S = len(candidates), len(self.seeds)
        out = np.full((n, S, len(self.targets)), np.nan)
        runs = [((i, j), c, s) for i, c in enumerate(candidates) for j, s in enumerate(self.seeds)]
        done = np.zeros(n, dtype=int)
        for keys, st, _ in self._map(runs, False):
            for (i, j), row in zip(keys, st):
                out[i, j] = row
                done[i] += 1
                if done[i] == S and self.progress:
                    self.progress(1)
        return out

    def nelder_mead(self, tasks: list[tuple]) -> list[tuple[Any, list]]:
        """One Nelder-Mead per task, side by side on the executor (each on all the common seeds)."""
        return list(self.executor.map(_nm_task, self._shared[False], tasks))

    def ensemble(self, jobs: list[tuple[dict[str, Any], int]]):
        """Runs (params, seed) with statistics and paths: (stats (n_runs, n_targets), [paths])."""
        runs = [(i, prm, seed) for i, (prm, seed) in enumerate(jobs)]
        stats_: list[Any] = [None] * len(jobs)
        paths: list[Any] = [None] * len(jobs)
        for keys, st, pa in self._map(runs, True):
            for k, row, pth in zip(keys, st, pa):
                stats_[k], paths[k] = row, pth
                if self.progress:
                    self.progress(1)
        return np.array(stats_), paths

    def means(self, candidates: list[dict[str, Any]]) -> np.ndarray:
        return np.nanmean(self.stats(candidates), axis=1) if candidates else np.zeros((0, len(self.targets)))


# ---------------------------------------------------------------- the fit

@dataclass
class FitResult:
    names: tuple[str, ...]
    lo: np.ndarray
    hi: np.ndarray
    best: dict[str, Any]
    best_loss: float
    start_loss: float
    history: list[dict[str, Any]] = field(default_factory=list)  # every candidate: stage, params, loss
    accepted: list[dict[str, Any]] = field(default_factory=list)  # accepted parameter sets
    accepted_loss: list[float] = field(default_factory=list)
    delta: float = 0.0
    relaxed: bool = False
    runs: int = 0
    wall_s: float = 0.0
    best_means: np.ndarray | None = None
    fixed: dict[str, Any] = field(default_factory=dict)
    tolerance: float = math.nan  # the acceptance tolerance actually used (loss of the last accepted draw)
    n_drawn: int = 0  # draws in the acceptance stage


def plan(budget: int) -> tuple[int, int, int]:
    """Split a budget (candidate evaluations) into Sobol, Nelder-Mead and acceptance draws."""
    budget = max(int(budget), 12)
    n_sobol = 2 ** int(math.floor(math.log2(max(4, 0.45 * budget))))
    n_nm = max(4, int(0.25 * budget))
    n_acc = max(4, budget - n_sobol - n_nm)
    return n_sobol, n_nm, n_acc


def fit(scenario: Scenario, targets: list[Target], names: tuple[str, ...] = CALIBRATED, budget: int = 1200,
        n_seeds: int = 8, workers: int = 2, fixed: dict[str, Any] | None = None, remove: list[str] | None = None,
        start: dict[str, Any] | None = None, nuisance: tuple[str, ...] = NUISANCE, rng_seed: int = 1,
        n_starts: int = 4, k_max: int = 40, k_target: int = 40, box_frac: float = 0.15,
        progress: bool = True, desc: str = "calibrate") -> FitResult:
    """Fit ``names`` to ``targets``. ``fixed``: parameters held at given values (ablations);
    ``remove``: event ids removed (ablations); ``start``: a starting point that Nelder-Mead also
    tries (e.g. the current values); ``budget``: candidate evaluations, each averaged over ``n_seeds``
    seeds (the scenario's first replicates: common random numbers)."""
    from tqdm import tqdm

    t0 = time.perf_counter()
    fixed = dict(fixed or {})
    names = tuple(n for n in names if n not in fixed)
    nuisance = tuple(n for n in nuisance if n not in fixed and n not in names)
    sc = scenario.with_changes(header={"end": FIT_END}, parameters=fixed, remove=remove)
    seeds = derive_seeds(scenario.header.seed, n_seeds)
    lo, hi = prior_box(names)   # every fitted parameter ends inside its prior (MODEL.md 9.7)
    d = len(names)
    n_sobol, n_nm, n_acc = plan(budget)
    bar = tqdm(total=n_sobol + n_nm + n_acc, desc=desc, unit="set", disable=not progress, mininterval=1.0)
    hist: list[dict[str, Any]] = []
    with Evaluator(sc, targets, seeds, workers, progress=bar.update) as ev:
        def score(cands: list[dict[str, Any]], stage: str) -> list[float]:
            mu = ev.means(cands)
            ls = [loss(m, targets) for m in mu]
            for c, lv, m in zip(cands, ls, mu):
                hist.append({"stage": stage, "loss": lv, **c, **{f"stat:{t.id}": x for t, x in zip(targets, m)}})
            return ls

        # 0. the starting point (current values): the improvement is measured from here
        start_p = {n: float(np.clip((start or {}).get(n, sc.parameters.get(n, PARAMS[n].default)), lo[i], hi[i]))
                   for i, n in enumerate(names)}
        start_loss = score([start_p], "start")[0]
        # 1. Sobol over the prior box
        u = qmc.Sobol(d, scramble=True, rng=rng_seed).random(n_sobol)
        cands = [to_params(names, lo + ui * (hi - lo)) for ui in u]
        ls = score(cands, "sobol")
        # 2. Nelder-Mead from the best distinct points (and the start if it is competitive)
        order = np.argsort(ls)
        starts: list[np.ndarray] = []
        pool_u = [((np.array([start_p[n] for n in names]) - lo) / (hi - lo), start_loss)] + \
                 [(u[i], ls[i]) for i in order]
        pool_u.sort(key=lambda x: x[1])
        for ui, _ in pool_u:
            ui = np.clip(ui, 0, 1)
            if all(np.abs(ui - s).max() > 0.15 for s in starts):
                starts.append(ui)
            if len(starts) >= n_starts:
                break
        per = max(d + 2, n_nm // max(len(starts), 1))
        # one Nelder-Mead per start, run side by side in the workers (each on all the common seeds)
        tasks = [(k, names, lo, hi, s, per, seeds) for k, s in enumerate(starts)]
        for _, rows in sorted(ev.nelder_mead(tasks), key=lambda kr: kr[0]):
            for c, m, lv in rows:
                hist.append({"stage": "nelder-mead", "loss": lv, **c,
                             **{f"stat:{t.id}": x for t, x in zip(targets, m)}})
            ev.runs += len(rows) * len(seeds)
            bar.update(len(rows))
        # best so far
        fit_rows = [h for h in hist if h["stage"] != "start"] or hist
        b = min(fit_rows, key=lambda h: h["loss"])
        best = {n: b[n] for n in names}
        best_loss = b["loss"]
        # 3. acceptance around the optimum, nuisance parameters from their priors
        xb = np.array([best[n] for n in names])
        half = box_frac * (hi - lo)
        alo, ahi = np.maximum(xb - half, lo), np.minimum(xb + half, hi)
        nlo, nhi = prior_box(nuisance)
        dim = d + len(nuisance)
        ua = qmc.LatinHypercube(d=dim, rng=rng_seed + 1).random(n_acc)
        acc_c = []
        for ui in ua:
            c = to_params(names, alo + ui[:d] * (ahi - alo))
            c.update(to_params(nuisance, nlo + ui[d:] * (nhi - nlo)))
            acc_c.append(c)
        acc_l = score(acc_c, "accept")
        runs = ev.runs
    bar.close()
    all_best = min(best_loss, min(acc_l) if acc_l else math.inf)
    delta = float(stats.chi2.ppf(0.90, df=max(d, 1)))
    ok = [i for i, lv in enumerate(acc_l) if lv <= all_best + delta]
    # rejection ABC: the tolerance is the larger of best + delta and the loss of the k_target-th
    # closest draw (a quantile tolerance), so there are always enough sets to carry into the bands
    relaxed = len(ok) < k_target
    if relaxed:
        ok = sorted(sorted(range(len(acc_l)), key=lambda i: acc_l[i])[:k_target])
    tolerance = max(acc_l[i] for i in ok) if ok else math.nan
    ok = ok[:k_max]  # draw order is random (Latin hypercube), so the first k_max are a fair subset
    best_means = np.array([b[f"stat:{t.id}"] for t in targets])
    return FitResult(names, lo, hi, best, best_loss, start_loss, hist, [acc_c[i] for i in ok],
                     [acc_l[i] for i in ok], delta, relaxed, runs, time.perf_counter() - t0, best_means, fixed,
                     tolerance, len(acc_l))


def default_workers() -> int:
    return max(1, min(2, os.cpu_count() or 1))
