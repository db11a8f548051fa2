"""The `calibrate` command (added to ``python -m sim`` by ``sim.cli``).

    calibrate [--targets FILE] [--out DIR] [--budget N] [--seeds N] [--workers N] [--scenario NAME]
              [--params NAME ...] [--no-ablations] [--ablation-budget N] [--dry-run] [--update-baseline]
              [--no-progress]

Heavy imports happen inside the command, so `python -m sim --help` stays fast.
"""

from __future__ import annotations

import sys


def _err(msg: str, code: int = 2) -> int:
    print(f"error: {msg}", file=sys.stderr)
    return code


def cmd_calibrate(a) -> int:
    from sim.calibration.pipeline import BASELINE, calibrate, write_baseline
    from sim.model.params import CALIBRATED, PARAMS
    from sim.model.scenario import ScenarioError

    if a.baseline_only:
        try:
            data = write_baseline(a.scenario, BASELINE)
        except ScenarioError as e:
            return _err("; ".join(e.lines()))
        print(f"baseline written: {BASELINE} ({len(data['targets'])} targets, loss {data['loss']:.2f})")
        return 0
    names = tuple(a.params) if a.params else CALIBRATED
    bad = [n for n in names if n not in PARAMS or PARAMS[n].kind == "bool"]
    if bad:
        return _err(f"--params: unknown or non-numeric parameter(s) {bad}")
    from sim.engine.runs import OutputDirError

    if a.budget < 12:
        return _err("--budget must be at least 12")
    if a.seeds < 1 or a.workers < 1:
        return _err("--seeds and --workers must be at least 1")
    try:
        s = calibrate(a.scenario, a.targets, a.out, budget=a.budget, n_seeds=a.seeds, workers=a.workers,
                      names=names, ablations=not a.no_ablations, ablation_budget=a.ablation_budget,
                      write=not a.dry_run, update_baseline=a.update_baseline, progress=not a.no_progress,
                      overwrite=a.overwrite)
    except (ScenarioError, ValueError, OSError, OutputDirError) as e:
        return _err(str(e))
    print(f"calibrated {a.scenario}: loss {s['start_loss']:.1f} -> {s['best_loss']:.1f}; "
          f"{s['accepted']} accepted parameter sets; {s['wall_s'] / 60:.1f} min")
    for k, v in s["best"].items():
        print(f"  {k} = {v:.4g}")
    print("acceptance checks (mean over the point-estimate seeds):")
    for r in s["acceptance"]:
        print(f"  {r['result']:5s} {r['criterion']}: {r['model_mean']:.4g}")
    for r in s["targets"]:
        if not r["fitted"]:
            print(f"  out of sample: {r['label']}: {r['model_mean']:.1%} (band {r['band_05']:.1%}-{r['band_95']:.1%}) "
                  f"vs analysts {r['low']:.0%}-{r['high']:.0%}: {'inside' if r['inside'] else 'OUTSIDE'}")
    print(f"report: {s['out']}/report.md" + (f"; baseline: {s['baseline']}" if "baseline" in s else ""))
    return 0


def add(sub) -> None:
    c = sub.add_parser("calibrate", help="fit the history scenario's calibrated parameters to the targets")
    c.add_argument("--targets", default=None, help="calibration targets CSV (default data/calibration_targets.csv)")
    c.add_argument("--out", default=None, help="report folder (default outputs/calibration-<time>)")
    c.add_argument("--overwrite", action="store_true", help="replace --out if it is an earlier calibration report")
    c.add_argument("--budget", type=int, default=1600,
                   help="candidate parameter sets evaluated in the main fit (default 1600)")
    c.add_argument("--seeds", type=int, default=8, help="common seeds averaged per candidate (default 8)")
    c.add_argument("--workers", type=int, default=2, help="worker processes (default 2)")
    c.add_argument("--scenario", default="history", help="scenario to fit and rewrite (default history)")
    c.add_argument("--params", nargs="+", default=None,
                   help="parameters to fit (default: those flagged calibrate in sim/model/params.py)")
    c.add_argument("--no-ablations", action="store_true", help="skip the ablation refits")
    c.add_argument("--ablation-budget", type=int, default=None, help="budget of each ablation refit "
                   "(default budget/5)")
    c.add_argument("--dry-run", action="store_true", help="do not rewrite the scenario file or parameter sets")
    c.add_argument("--update-baseline", action="store_true",
                   help="also rewrite tests/baselines/history.json from the calibrated scenario")
    c.add_argument("--baseline-only", action="store_true",
                   help="only rewrite the regression baseline from the scenario as it is (no fit)")
    c.add_argument("--no-progress", action="store_true", help="no progress bars")
    c.set_defaults(func=cmd_calibrate)

