"""``python -m sim calibrate``: fit, write the scenario file and parameter sets, evaluate the calibrated
history (seed noise x accepted parameter sets), refit with each mechanism switched off, write the
report."""

from __future__ import annotations

import json
import math
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from sim.calibration import report as rp
from sim.calibration.fit import FIT_END, Evaluator, FitResult, fit, plan, prior_box
from sim.calibration.targets import (
    DEFAULT_TARGETS,
    Target,
    load_targets,
    loss,
    out_of_sample,
)
from sim.model.params import CALIBRATED, PARAMS
from sim.model.scenario import Scenario, find_scenario, load_scenario
from sim.model.seeds import derive_seeds

REPO = Path(__file__).resolve().parent.parent.parent
BASELINE = REPO / "tests" / "baselines" / "history.json"
BASELINE_SEEDS = 8
NEEDED_MARGIN = 0.5  # an ablation "is needed for" a target only if it moves |z| out by more than this


@dataclass(frozen=True)
class Ablation:
    id: str
    label: str
    fixed: dict[str, Any]
    remove_actor: str | None = None
    how: str = ""


ABLATIONS = (
    Ablation("no_hoarding", "hoarding off", {"hoarding.strength": 0.0}, how="hoarding.strength = 0"),
    Ablation("no_china_rules", "China's blocks and mandates off", {}, remove_actor="China",
             how="every China event removed (blocks, guidance, mandates, quota, pressure, subsidy, customs)"),
    Ablation("no_captive", "captive chips off",
             {"capacity.T-Head.cards_2025": 0.0, "capacity.Kunlunxin.cards_2025": 0.0},
             how="T-Head and Kunlunxin capacity set to zero (the captive supply path removed, not just the "
                 "owners' preference)"),
    Ablation("no_maturity_growth", "maturity growth off", {"maturity.learning_rate": 0.0},
             how="maturity.learning_rate = 0 (ecosystem maturity stays at its 2022 level)"),
)


def _removed(sc: Scenario, actor: str | None) -> list[str] | None:
    return [e.id for e in sc.events if e.actor == actor] if actor else None


def run_ablations(sc: Scenario, targets: list[Target], names, budget: int, n_seeds: int, workers: int,
                  progress: bool) -> list[tuple[Ablation, FitResult]]:
    out = []
    for ab in ABLATIONS:
        r = fit(sc, targets, names, budget=budget, n_seeds=n_seeds, workers=workers, fixed=ab.fixed,
                remove=_removed(sc, ab.remove_actor), progress=progress, desc=f"ablation {ab.id}", n_starts=2)
        out.append((ab, r))
    return out


def ablation_table(targets: list[Target], full: np.ndarray, full_loss: float,
                   abl: list[tuple[Ablation, FitResult]]) -> pd.DataFrame:
    rows = []
    for j, t in enumerate(targets):
        row = {"target": t.id, "full model": f"{t.z(full[j]):+.1f}" + ("" if t.inside(full[j]) else " x")}
        needed = []
        for ab, r in abl:
            x = r.best_means[j]
            row[ab.label] = f"{t.z(x):+.1f}" + ("" if t.inside(x) else " x")
            if t.inside(full[j]) and not t.inside(x) and abs(t.z(x)) - abs(t.z(full[j])) > NEEDED_MARGIN:
                needed.append(ab.id)
        row["needed_for_this_target"] = ", ".join(needed) or "-"
        rows.append(row)
    rows.append({"target": "LOSS (sum of z^2)", "full model": f"{full_loss:.1f}",
                 **{ab.label: f"{r.best_loss:.1f}" for ab, r in abl}, "needed_for_this_target": ""})
    rows.append({"target": "targets inside", "full model": str(sum(t.inside(x) for t, x in zip(targets, full))),
                 **{ab.label: str(sum(t.inside(x) for t, x in zip(targets, r.best_means))) for ab, r in abl},
                 "needed_for_this_target": ""})
    return pd.DataFrame(rows)


def evaluate(sc_cal: Scenario, targets: list[Target], sets: list[dict[str, Any]], n_point: int, n_unc: int,
             workers: int, progress: bool):
    """The calibrated history over its whole horizon: ``n_point`` replicates at the point estimate, and
    ``n_unc`` replicates where replicate i uses accepted set i mod K (as ``run_scenario(...,
    parameter_sets=True)`` does). Returns (stats_point, paths_point, stats_unc, paths_unc, set_of_run)."""
    from tqdm import tqdm

    seeds_p = derive_seeds(sc_cal.header.seed, n_point)
    seeds_u = derive_seeds(sc_cal.header.seed, n_unc)
    K = len(sets)
    set_of_run = [i % K for i in range(n_unc)]
    jobs = [({}, s) for s in seeds_p] + [(sets[set_of_run[i]], s) for i, s in enumerate(seeds_u)]
    bar = tqdm(total=len(jobs), desc="evaluate", unit="run", disable=not progress, mininterval=1.0)
    with Evaluator(sc_cal, targets, [], workers, progress=bar.update) as ev:
        st, pa = ev.ensemble(jobs)
    bar.close()
    return st[:n_point], pa[:n_point], st[n_point:], pa[n_point:], set_of_run


def calibrate(scenario: str | Path = "history", targets_file: str | Path | None = None,
              out: str | Path | None = None, budget: int = 1600, n_seeds: int = 8, workers: int = 2,
              names: tuple[str, ...] = CALIBRATED, ablations: bool = True, ablation_budget: int | None = None,
              ablation_seeds: int = 6, write: bool = True, update_baseline: bool = False,
              progress: bool = True, n_unc: int | None = None, overwrite: bool = False) -> dict[str, Any]:
    t_all = time.perf_counter()
    path = find_scenario(scenario)
    sc = load_scenario(path)
    tfile = Path(targets_file) if targets_file else DEFAULT_TARGETS
    targets = load_targets(tfile)
    oos = out_of_sample(tfile)
    from sim.engine.runs import reserve_out_dir

    out = Path(out) if out else REPO / "outputs" / f"calibration-{time.strftime('%Y%m%d-%H%M%S')}"
    # checked and reserved before the fit (OutputDirError): never into a folder of other work (--overwrite
    # replaces only a calibration report), never found
    # unwritable hours later; the report appears whole, in one rename, when every file is written
    staging = reserve_out_dir(out, overwrite=overwrite, replaces=("calibration",))
    try:
        return _calibrate(sc, path, targets, tfile, oos, out, staging, t_all, budget, n_seeds, workers, names,
                          ablations, ablation_budget, ablation_seeds, write, update_baseline, progress, n_unc)
    finally:
        if staging.stage.exists():   # not committed: nothing is left behind
            staging.discard()


def _calibrate(sc, path, targets, tfile, oos, out, staging, t_all, budget, n_seeds, workers, names, ablations,
               ablation_budget, ablation_seeds, write, update_baseline, progress, n_unc) -> dict[str, Any]:
    start = {n: sc.parameters.get(n, PARAMS[n].default) for n in names}

    # 1. fit
    res = fit(sc, targets, names, budget=budget, n_seeds=n_seeds, workers=workers, progress=progress, start=start)
    t_fit = res.wall_s
    sets = res.accepted
    date = time.strftime("%Y-%m-%d")
    n_s, n_nm, n_acc = plan(budget)
    method = (f"Sobol sample of {n_s} sets over the prior ranges, Nelder-Mead (about {n_nm} evaluations from the best "
              f"distinct points), acceptance sample of {n_acc} sets; every candidate scored on the mean of {n_seeds} "
              f"common seeds; {len(res.history)} candidates in all (budget {budget})")
    # 2. write the scenario file and its parameter sets
    sets_name = f"{path.stem}.parameter_sets.csv"
    if write:
        from sim.calibration.scenario_file import write_parameter_sets, write_parameters

        write_parameter_sets(path.parent / sets_name, sets)
        lo_p, hi_p = prior_box(tuple(names))
        notes = {n: f"prior [{PARAMS[n].prior[0]:g}, {PARAMS[n].prior[1]:g}], start {start[n]:g}" for n in res.best}
        n_nuis = len([c for c in (sets[0] if sets else {}) if c not in res.best])
        comments = [
            f"Fitted {date} by `python -m sim calibrate --budget {budget}` (sim/calibration, docs/ODD.md, Validation).",
            "Method: Sobol sample over the prior ranges, Nelder-Mead from the best points, each candidate scored",
            f"on the mean of {n_seeds} common seeds; loss (sum of squared z over {len(targets)} targets) "
            f"{res.start_loss:.1f} at the previous values -> {res.best_loss:.1f}.",
            f"{len(sets)} accepted parameter sets (fitted parameters near the optimum, {n_nuis} unfitted priors drawn",
            f"from their ranges) are in {sets_name}; run_scenario(..., parameter_sets=True) uses them for bands.",
            "Parameters not listed stay at their sourced defaults (sim/model/params.py).",
        ]
        write_parameters(path, res.best, comments, notes, parameter_sets=sets_name)
        sc_cal = load_scenario(path)
    else:
        sc_cal = sc.with_changes(parameters=res.best)

    # 3. evaluate the calibrated history: point estimate and seed x parameter uncertainty
    all_t = targets + oos
    n_point = max(20, sc.header.replicates)
    n_u = n_unc or max(40, 2 * len(sets))
    t0 = time.perf_counter()
    st_p, pa_p, st_u, pa_u, set_of_run = evaluate(sc_cal, all_t, sets, n_point, n_u, workers, progress)
    t_eval = time.perf_counter() - t0
    tt = rp.target_table(all_t, st_p, st_u)

    # 4. ablations (refits with a smaller budget)
    abl = []
    t0 = time.perf_counter()
    if ablations:
        abl = run_ablations(sc_cal, targets, names, ablation_budget or max(48, budget // 5), ablation_seeds,
                            workers, progress)
    t_abl = time.perf_counter() - t0

    # 5. report
    wall = time.perf_counter() - t_all
    summary = write_report(staging.stage, sc_cal, targets, oos, res, tt, st_p, pa_p, pa_u, set_of_run, sets, abl, start,
                           dict(budget=budget, n_seeds=n_seeds, workers=workers, wall_s=wall, fit_s=t_fit,
                                eval_s=t_eval, ablation_s=t_abl, date=date, method=method,
                                targets_file=str(tfile), scenario_file=str(path), written=write,
                                n_point=n_point, n_unc=n_u, out=str(out)))
    (staging.stage / "manifest.json").write_text(json.dumps(
        {"tool": "chipshift", "kind": "calibration", "scenario_file": str(path), "targets_file": str(tfile),
         "budget": budget, "n_seeds": n_seeds, "date": summary["date"], "written": write}, indent=2) + "\n",
        encoding="utf-8")
    staging.commit()
    if update_baseline:
        write_baseline(path if write else sc_cal, BASELINE)
        summary["baseline"] = str(BASELINE)
    return summary


def write_report(out: Path, sc_cal, targets, oos, res: FitResult, tt, st_p, pa_p, pa_u, set_of_run, sets, abl,
                 start, info) -> dict[str, Any]:
    obs = rp.observed()
    at = rp.acceptance_table(tt)
    pt = rp.parameter_table(res.names, start, res.best, sets, res.lo, res.hi)
    cor = rp.correlations(sets)
    ab = ablation_table(targets, res.best_means, res.best_loss, abl) if abl else pd.DataFrame()
    pf = pd.concat([rp.paths_frame(pa_p, "point"), rp.paths_frame(pa_u, "uncertainty", set_of_run)],
                   ignore_index=True)
    mf = rp.monthly_frame(pa_u, sc_cal.months, "uncertainty")
    b = rp.bands(pf)
    tt.to_csv(out / "targets.csv", index=False)
    at.to_csv(out / "acceptance.csv", index=False)
    pt.to_csv(out / "parameters.csv", index=False)
    cor.to_csv(out / "correlations.csv")
    pd.DataFrame(sets).to_csv(out / "parameter_sets.csv", index=False)
    pd.DataFrame(res.history).to_csv(out / "fit_history.csv", index=False)
    b.to_csv(out / "paths_bands.csv", index=False)
    obs.to_csv(out / "observed_points.csv", index=False)
    if not ab.empty:
        ab.to_csv(out / "ablations.csv", index=False)
    charts = []
    charts += rp.save_chart(rp.share_chart(b, obs, "unit_share", "Unit share"), out, "unit_shares")
    charts += rp.save_chart(rp.share_chart(b, obs, "value_share", "Value share"), out, "value_shares")
    charts += rp.save_chart(rp.units_chart(b, obs), out, "units")
    charts += rp.save_chart(rp.tier_chart(b), out, "tiers")
    ev = [(e.id, e.announced, e.effective) for e in sc_cal.events if e.actor == "US"]
    charts += rp.save_chart(rp.hoard_chart(mf, ev), out, "hoarding")

    def row_fmt(r):
        u = r["units"]
        return {"target": r["label"], "observed": rp.fmt(r["observed"], u),
                "tolerance": f"{rp.fmt(r['low'], u)} - {rp.fmt(r['high'], u)}", "model mean": rp.fmt(r["model_mean"], u),
                "5-95% band": f"{rp.fmt(r['band_05'], u)} - {rp.fmt(r['band_95'], u)}",
                "inside": "yes" if r["inside"] else "**MISS**", "z": f"{r['z']:+.2f}"}

    fitted_rows = pd.DataFrame([row_fmt(r) for _, r in tt[tt["fitted"]].iterrows()])
    oos_rows = pd.DataFrame([row_fmt(r) for _, r in tt[~tt["fitted"]].iterrows()])
    ptf = pt.assign(**{c: pt[c].map(lambda v: f"{v:.4g}") for c in ("start", "fitted", "prior_low", "prior_high",
                                                                      "search_low", "search_high", "accepted_min",
                                                                      "accepted_max")})
    ptf = ptf.drop(columns=["source", "units"])
    atf = at.assign(model_mean=[rp.fmt(v, "share" if v < 1.5 else "cards") for v in at["model_mean"]])
    tierb = b[(b["metric"] == "domestic_fraction") & (b["ensemble"] == "uncertainty") & b["year"].isin(
        [2023, 2024, 2025, 2027])].pivot_table(index="entity", columns="year", values="mean")
    lines = [
        f"# Calibration of the history scenario ({info['date']})", "",
        f"Scenario file: `{info['scenario_file']}`; targets: `{info['targets_file']}` plus the facts.md series "
        "(sim/calibration/targets.py).",
        f"Method: {info['method']}; acceptance of parameter sets within delta = {res.delta:.2f} of the best loss "
        f"(chi-square 90%, {len(res.names)} dof)"
        + (f"; fewer than {len(sets)} draws qualified, so the {len(sets)} closest of {res.n_drawn} draws were accepted "
           f"(rejection-ABC quantile tolerance: loss <= {res.tolerance:.1f})" if res.relaxed else "") + ".",
        f"Loss (sum of squared z): {res.start_loss:.1f} at the starting values -> {res.best_loss:.1f} fitted "
        f"({len(targets)} targets, {sum(bool(x) for x in tt[tt['fitted']]['inside'])} inside with "
        f"{info['n_point']} seeds at the point estimate).",
        f"Model runs: {res.runs} for the fit, {info['n_point'] + info['n_unc']} for the evaluation; wall time "
        f"{info['wall_s'] / 60:.1f} min on {info['workers']} worker process(es) (fit {info['fit_s']:.0f} s, "
        f"evaluation {info['eval_s']:.0f} s, ablations {info['ablation_s']:.0f} s).", "",
        "## Acceptance checks (mean over the point-estimate seeds)", "", rp.md_table(atf), "",
        "## Every target", "",
        f"Model mean: {info['n_point']} seeds at the fitted values. Band: 5-95% over {info['n_unc']} runs where run i "
        "uses seed i and accepted parameter set i mod K (seed noise and parameter uncertainty together). "
        "z = (mean - centre of range) / half-width of range; inside means |z| <= 1.", "",
        rp.md_table(fitted_rows), "",
        "## Out of sample (not fitted)", "", rp.md_table(oos_rows) if len(oos_rows) else "(none)", "",
        "## Fitted parameters", "", rp.md_table(ptf), "",
        "## Correlations among the accepted parameter sets", "",
        rp.md_table(cor.round(2).reset_index().rename(columns={"index": "parameter"})) if not cor.empty else "(fewer than two sets)",
        "",
        "## Substitution by tier (domestic share of compute bought, mean)", "",
        rp.md_table(tierb.round(3).reset_index()) if not tierb.empty else "", "",
    ]
    if not ab.empty:
        lines += ["## Ablations (refit with the mechanism switched off)", "",
                  "Cells: z of the refitted model's mean (x = outside the range). 'needed for' lists the "
                  "ablations under which a target inside in the full fit falls outside and its |z| grows by more "
                  f"than {NEEDED_MARGIN} (smaller moves near the edge are seed noise: the ablations use "
                  "fewer seeds).", ""]
        lines += [f"- **{a.label}**: {a.how}; refit of the remaining parameters, budget "
                  f"{len(r.history)} candidates, loss {r.best_loss:.1f}" for a, r in abl]
        lines += ["", rp.md_table(ab), ""]
    lines += ["## Charts", ""] + [f"- [{c}]({c})" for c in charts if c.endswith(".html")] + [""]
    (out / "report.md").write_text("\n".join(lines), encoding="utf-8")
    summary = {
        "date": info["date"], "best": res.best, "start_loss": res.start_loss, "best_loss": res.best_loss,
        "accepted": len(sets), "relaxed": res.relaxed, "delta": res.delta, "runs_fit": res.runs,
        "wall_s": info["wall_s"], "fit_s": info["fit_s"], "eval_s": info["eval_s"], "ablation_s": info["ablation_s"],
        "budget": info["budget"], "n_seeds": info["n_seeds"], "workers": info["workers"],
        "acceptance": at.to_dict(orient="records"),
        "targets": tt.drop(columns=["source"]).to_dict(orient="records"),
        "ablations": [{"id": a.id, "loss": r.best_loss, "best": r.best} for a, r in abl],
        "out": info.get("out", str(out)),
    }
    (out / "summary.json").write_text(json.dumps(summary, indent=2, default=float) + "\n", encoding="utf-8")
    return summary


# ---------------------------------------------------------------- regression baseline

def baseline_stats(scenario: Scenario | str | Path, targets: list[Target] | None = None,
                   n_seeds: int = BASELINE_SEEDS) -> tuple[list[Target], np.ndarray]:
    """Seed-averaged statistics of the (calibrated) scenario as stored, to the last fitted month."""
    from sim.calibration.fit import simulate

    sc = scenario if isinstance(scenario, Scenario) else load_scenario(scenario)
    targets = targets or load_targets()
    sc = sc.with_changes(header={"end": FIT_END})
    st = simulate(sc, {}, derive_seeds(sc.header.seed, n_seeds), targets)
    return targets, np.nanmean(st, axis=0)


def write_baseline(scenario, path: Path = BASELINE) -> dict[str, Any]:
    """Pin the calibrated history: per target, the mean over the first seeds and a tolerance of a
    quarter of the target's half-width (a model change that moves a target by more fails CI)."""
    targets, mu = baseline_stats(scenario)
    data = {
        "about": "Calibrated history, mean over the first {} replicates to {}; regenerate deliberately with "
                 "`python -m sim calibrate --update-baseline` or `python -m sim.calibration.baseline`.".format(
                     BASELINE_SEEDS, FIT_END),
        "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "n_seeds": BASELINE_SEEDS,
        "loss": loss(mu, targets),
        "targets": {t.id: {"value": float(x), "tolerance": 0.25 * t.half_width, "inside": t.inside(x),
                           "low": t.low, "high": t.high} for t, x in zip(targets, mu) if math.isfinite(x)},
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    from sim.engine.fileio import atomic_write_text

    atomic_write_text(path, json.dumps(data, indent=2) + "\n")
    return data
