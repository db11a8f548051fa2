"""The analysis commands (added to ``python -m sim`` by ``sim.cli``).

    sensitivity GRID_DIR --outcome NAME [--outcome NAME ...]
    discover GRID_DIR --outcome NAME (--above X | --below X) [--density D] [--boxes K]
    attribute SCENARIO --base BASE --outcome NAME [--seeds N] [--out DIR] [--group NAME=id,id] [--groups FILE]
    robustness GRID_DIR --outcome NAME [--lever AXIS ...] [--maximize | --minimize] [--threshold X]
    continuity SCENARIO [--year Y] [--seeds N] [--months M] [--param NAME ...] [--threshold X] [--out DIR]

Problems with the request print one line ``error: ...`` and exit with code 2. Heavy imports happen inside
the commands, so ``python -m sim --help`` stays fast.
"""

from __future__ import annotations

import sys
from pathlib import Path


def _err(msg: str, code: int = 2) -> int:
    print(f"error: {msg}", file=sys.stderr)
    return code


def _command() -> str:
    return " ".join(["python -m sim"] + sys.argv[1:])


def _known_errors():
    from sim.analysis.results import AnalysisError
    from sim.engine.store import StoreError
    from sim.experiments.summarize import OutcomeError
    from sim.model.scenario import ScenarioError

    return AnalysisError, OutcomeError, ScenarioError, StoreError   # StoreError: a damaged or doubled shard


def _guard(fn):
    """Turn request errors into one line and exit code 2."""
    def run(a) -> int:
        from sim.model.scenario import ScenarioError

        try:
            return fn(a)
        except ScenarioError as e:
            return _err("; ".join(e.lines()))
        except _known_errors() as e:
            return _err(str(e))
        except OSError as e:
            return _err(f"{e.filename or ''}: {e.strerror or e}".lstrip(": "))
    run.__doc__ = fn.__doc__
    return run


def _save_chart(chart, path: Path) -> None:
    from sim.charts import to_image

    from sim.engine.fileio import atomic_write_bytes

    atomic_write_bytes(path, to_image(chart, "svg"))


@_guard
def cmd_sensitivity(a) -> int:
    from sim.analysis import charts
    from sim.analysis.sensitivity import sensitivity

    r = sensitivity(a.dir, a.outcome or [], command=_command(), conf_level=a.conf_level, resamples=a.resamples)
    t = r.table
    for o in t["outcome"].unique():
        print(f"{o} ({r.method}):")
        w = t[t["outcome"] == o].pivot_table(index="parameter", columns="index", values="value", sort=False)
        c = t[t["outcome"] == o].pivot_table(index="parameter", columns="index", values="conf", sort=False)
        main = "ST" if r.method == "sobol" else "mu_star"
        w = w.drop(index="(seed noise)", errors="ignore")
        w = w.reindex(w[main].sort_values(ascending=False).index)
        for p, row in w.iterrows():
            parts = [f"{i} {row[i]:.3g} ± {c.loc[p, i]:.2g}" if i in c and c.loc[p, i] == c.loc[p, i] else
                     f"{i} {row[i]:.3g}" for i in w.columns if row[i] == row[i]]
            print(f"  {p:32s} " + ", ".join(parts))
        if not a.no_chart:
            _save_chart(charts.tornado(t, o, width=700), Path(a.dir) / ("sensitivity.svg" if len(a.outcome) == 1 else
                                                                     f"sensitivity-{o.replace(':', '_')}.svg"))
    for n in r.notes:
        print(n)
    print(f"-> {r.path} (and sensitivity.json{'' if a.no_chart else ', the tornado chart as SVG'})")
    return 0


@_guard
def cmd_discover(a) -> int:
    from sim.analysis import charts
    from sim.analysis.discovery import describe, discover

    d = discover(a.dir, a.outcome, above=a.above, below=a.below, density=a.density, peel_alpha=a.peel_alpha,
                 mass_min=a.mass_min, boxes=a.boxes, command=_command())
    for n in d.notes:
        print(n)
    print("PRIM:")
    for line in describe(d):
        print("  " + line)
    cart = d.cart
    if len(cart):
        print("CART check (leaves where most runs are of interest):")
        for line in describe(type(d)(cart, d.tradeoff, cart, d.cases, d.of_interest)):
            print("  " + line)
    else:
        print("CART check: no leaf where most runs are of interest")
    if not a.no_chart:
        _save_chart(charts.tradeoff(d.tradeoff, width=600), Path(a.dir) / "discovery_tradeoff.svg")
        _save_chart(charts.prim_box(d.extents, d.boxes, width=500), Path(a.dir) / "discovery_box.svg")
    print(f"-> {Path(a.dir) / 'discovery.csv'} (and discovery_tradeoff.csv, discovery_cart.csv, discovery.json"
          f"{'' if a.no_chart else ', the trade-off and box charts as SVG'})")
    return 0


@_guard
def cmd_robustness(a) -> int:
    import pandas as pd

    from sim.analysis import charts
    from sim.analysis.robustness import robustness

    r = robustness(a.dir, a.outcome, levers=a.lever, maximize=not a.minimize, threshold=a.threshold,
                   percentile=a.percentile, boot=a.bootstrap, command=_command())
    for n in r.notes:
        print(n)
    show = r.table.drop(columns=r.levers)
    with pd.option_context("display.width", 250, "display.max_columns", 20, "display.max_colwidth", 60):
        print(show.to_string(index=False, float_format=lambda x: f"{x:.4g}"))
    if not a.no_chart:
        pc = [c for c in r.table.columns if c.endswith("_regret") and c != "max_regret"][0]
        _save_chart(charts.regret_bars(r.table, pc, width=600), Path(a.dir) / "robustness.svg")
    print(f"-> {Path(a.dir) / 'robustness.csv'} (and robustness_regret.csv, robustness.json)")
    return 0


@_guard
def cmd_attribute(a) -> int:
    from sim.analysis import attribution as A
    from sim.analysis.evaluate import outcome_name
    from sim.engine.runs import OutputDirError, default_out_dir, reserve_out_dir
    from sim.model.scenario import load_scenario

    if a.seeds < 1:
        return _err("--seeds must be at least 1")
    if a.permutations < 2:
        return _err("--permutations must be at least 2")
    target = load_scenario(a.scenario)
    base = load_scenario(a.base)
    name = outcome_name(a.outcome, target)
    known = {e.id for e in target.events} | {e.id for e in base.events}
    named: dict[str, list[str]] = {}
    for f in a.groups or []:   # a grouping file may name events neither scenario holds: those are left out
        for k, v in A.restrict_groups(A.read_groups(f), known).items():
            named[k] = v
    for g in a.group or []:    # ids given on the command line must exist (a typo is an error)
        k, v = A.parse_group_option(g)
        named[k] = v
    changes = A.differences(target, base)
    if not changes:
        return _err(f"{target.name} and {base.name} do not differ: nothing to attribute")
    groups = A.make_groups(changes, named, known)
    out = Path(a.out) if a.out else default_out_dir(f"attribution-{target.name}-vs-{base.name}")
    try:  # checked and reserved before any run: an --out that cannot be written is refused now
        staging = reserve_out_dir(out, a.overwrite, replaces=("attribution",))
    except OutputDirError as e:
        return _err(str(e))
    try:
        return _attribute(a, target, base, name, out, staging, changes, groups)
    finally:
        if staging.stage.exists():   # not committed: nothing is left behind
            staging.discard()


def _attribute(a, target, base, name, out, staging, changes, groups) -> int:
    from sim.analysis import attribution as A
    from sim.analysis import charts
    from sim.model.seeds import derive_seeds

    seeds = derive_seeds(target.header.seed, a.seeds)
    n = len(groups)
    runs = (2 ** n if n <= A.EXACT_MAX else None)
    print(f"{target.name} vs {base.name}: {len(changes)} change(s) in {n} group(s); "
          + (f"exact Shapley values, {runs} coalitions x {a.seeds} seeds = {runs * a.seeds} runs" if runs else
             f"{a.permutations} sampled orders x {a.seeds} seeds"), file=sys.stderr)
    bar = None
    if not a.no_progress:
        from tqdm import tqdm

        bar = tqdm(total=0, unit="scenario", file=sys.stderr, leave=False)

    def progress(done: int, total: int) -> None:
        if bar is not None:
            bar.total = total
            bar.n = done
            bar.refresh()

    try:
        r = A.attribute(target, base, name, seeds, groups, permutations=a.permutations, seed=a.order_seed,
                        workers=a.workers, progress=progress)
    finally:
        if bar is not None:
            bar.close()
    A.write(r, staging.stage, target, base, seeds, groups, command=_command(),
            extra={"permutations": a.permutations if r.method == "sampled" else None, "order_seed": a.order_seed})
    if not a.no_chart:
        _save_chart(charts.waterfall(r.table, r.outcome, base.name, target.name, r.base_value, width=700),
                    staging.stage / "attribution.svg")
    staging.commit()
    for row in r.table.itertuples():
        print(f"  {row.group:44s} {row.contribution:+.4f} ± {row.conf:.4f}")
    for note in r.notes:
        print(note)
    print(A.sentence(r, target.name, base.name))
    print(f"-> {out / 'attribution.csv'} (and coalitions.csv, manifest.json, both scenarios, groups.toml)")
    return 0


# policy-facing defaults of the continuity sweep's parameters (MODEL.md 9.7: calibrated or policy)


def _write_continuity(stage: Path, a, sc, df, jumps, dirs, pdirs) -> None:
    import json

    df.to_csv(stage / "sweep.csv", index=False)
    jumps.to_csv(stage / "jumps.csv", index=False)
    dirs.to_csv(stage / "removal_directions.csv", index=False)
    pdirs.to_csv(stage / "parameter_directions.csv", index=False)
    (stage / "scenario.toml").write_text(sc.to_toml(), encoding="utf-8")
    man = {"tool": "chipshift", "kind": "continuity", "analysis": "continuity", "command": _command(),
           "scenario": sc.name, "year": a.year, "basis": a.basis, "seeds": a.seeds, "months": a.months,
           "threshold": a.threshold}
    (stage / "manifest.json").write_text(json.dumps(man, indent=2) + "\n", encoding="utf-8")


@_guard
def cmd_continuity(a) -> int:
    from sim.analysis import continuity as C
    from sim.engine.runs import OutputDirError, default_out_dir, reserve_out_dir
    from sim.model.params import CALIBRATED, PARAMS
    from sim.model.scenario import load_scenario

    if a.seeds < 1 or a.months < 1:
        return _err("--seeds and --months must be at least 1")
    if not 0 < a.threshold < 1:
        return _err("--threshold is a share between 0 and 1, e.g. 0.10")
    sc = load_scenario(a.scenario)
    if a.months >= len(sc.months):
        return _err(f"--months {a.months:,} moves events by more than the scenario's {len(sc.months)} months; "
                    "give fewer")
    if not int(sc.header.start[:4]) <= a.year <= int(sc.header.end[:4]):
        return _err(f"--year {a.year} is outside the horizon {sc.header.start} to {sc.header.end}")
    names = a.param if a.param is not None else list(CALIBRATED)
    unknown = [n for n in names if n not in PARAMS]
    if unknown:
        return _err(f"--param: unknown parameter(s) {', '.join(unknown)}")
    out = Path(a.out) if a.out else default_out_dir(f"continuity-{sc.name}")
    try:  # checked and reserved before any run; the folder appears whole when every file is written
        staging = reserve_out_dir(out, a.overwrite, replaces=("continuity",))
    except OutputDirError as e:
        return _err(str(e))
    try:
        pts = C.event_points(sc, a.months) + C.parameter_points(sc, names)
        print(f"{sc.name}: {len(pts)} points x {a.seeds} seeds = {len(pts) * a.seeds} runs", file=sys.stderr)
        df = C.sweep(sc, pts, seeds=a.seeds, year=a.year, basis=a.basis, workers=a.workers)
        jumps = C.jumps(df, a.threshold)
        dirs = C.removal_directions(sc, seeds=a.seeds, basis=a.basis, workers=a.workers)
        checks = [c for c in C.DIRECTION_CHECKS if c[0] in PARAMS]
        pdirs = C.parameter_directions(sc, checks, seeds=a.seeds, basis=a.basis, workers=a.workers)
        _write_continuity(staging.stage, a, sc, df, jumps, dirs, pdirs)
        staging.commit()
    finally:
        if staging.stage.exists():   # not committed: nothing is left behind
            staging.discard()
    print(f"continuity ({a.basis} shares {a.year}, jumps > {a.threshold:.0%} between neighbouring points):")
    if jumps.empty:
        print("  none")
    for axis, g in jumps.groupby("axis", sort=False):
        worst = g.loc[g["jump"].abs().idxmax()]
        print(f"  {axis}: {len(g)} jump(s), largest {worst['entity']} {worst['share_before']:.0%} -> "
              f"{worst['share_after']:.0%} between offsets {worst['from']:g} and {worst['to']:g}")
    wrong = dirs[dirs["wrong"]]
    print("removing a tightening rule moves Nvidia's share the wrong way:" + (" never" if wrong.empty else ""))
    for r in wrong.itertuples():
        side = " (a rule on China's chip makers)" if getattr(r, "acts_on", "foreign") == "domestic" else ""
        print(f"  {r.event}{side} {r.year}: {r.nvidia_with:.1%} -> {r.nvidia_without:.1%}")
    pw = pdirs[pdirs["wrong"]]
    print("parameter directions:" + (" as expected" if pw.empty else ""))
    for r in pw.itertuples():
        print(f"  {r.parameter} x{r.factor:g}: {r.entity} {r.year} moved {r.change:+.1%} (expected {r.expected})")
    print(f"-> {out}/ (sweep.csv, jumps.csv, removal_directions.csv, parameter_directions.csv)")
    return 1 if a.check and (not jumps.empty or not wrong.empty or not pw.empty) else 0


def add(sub) -> None:
    s = sub.add_parser("sensitivity", help="Sobol or Morris sensitivity indices of a finished grid",
                       description="Sobol (S1, ST) or Morris (mu*, sigma) indices of outcomes over a grid made with "
                       "design = \"sobol\" or \"morris\" (SALib). Seeds are averaged per design point first; the seed "
                       "noise is reported beside the indices. Writes GRID_DIR/sensitivity.csv (outcome, parameter, "
                       "index, value, conf), sensitivity.json and a tornado chart (sensitivity.svg).")
    s.add_argument("dir", metavar="GRID_DIR", help="a grid results folder")
    s.add_argument("--outcome", action="append", metavar="NAME", required=True,
                   help="outcome(s), e.g. share:Huawei:2027, crossover:Huawei:Nvidia (as in summarize); repeatable")
    s.add_argument("--conf-level", type=float, default=0.95, help="confidence level of the intervals (0.95)")
    s.add_argument("--resamples", type=int, default=1000, help="bootstrap resamples for the intervals (1000)")
    s.add_argument("--no-chart", action="store_true", help="do not write the SVG chart")
    s.set_defaults(func=cmd_sensitivity)

    d = sub.add_parser("discover", help="scenario discovery: boxes of grid inputs where an outcome is of interest",
                       description="PRIM (EMA Workbench) finds boxes of the grid's inputs where the outcome is above "
                       "or below a threshold, with coverage, density and restricted dimensions along the peeling "
                       "trade-off; a CART tree checks it. Writes GRID_DIR/discovery.csv, discovery_tradeoff.csv, "
                       "discovery_cart.csv, discovery.json, discovery_tradeoff.svg and discovery_box.svg.")
    d.add_argument("dir", metavar="GRID_DIR", help="a grid results folder")
    d.add_argument("--outcome", required=True, metavar="NAME", help="e.g. share:Huawei:2027 or crossover:Huawei:Nvidia")
    g = d.add_mutually_exclusive_group(required=True)
    g.add_argument("--above", type=float, metavar="X", help="runs with the outcome above X are of interest")
    g.add_argument("--below", type=float, metavar="X", help="runs with the outcome below X are of interest")
    d.add_argument("--density", type=float, default=0.8, help="report the box with the highest coverage whose "
                   "density reaches this (default 0.8)")
    d.add_argument("--peel-alpha", type=float, default=0.05, help="share of cases peeled per step (0.05)")
    d.add_argument("--mass-min", type=float, default=0.05, help="smallest box, as a share of the runs (0.05)")
    d.add_argument("--boxes", type=int, default=1, help="boxes to find one after the other (1)")
    d.add_argument("--no-chart", action="store_true", help="do not write the SVG chart")
    d.set_defaults(func=cmd_discover)

    t = sub.add_parser("attribute", help="which events moved an outcome between two scenarios (Shapley values)",
                       description="Splits outcome(SCENARIO) - outcome(BASE) among the groups of events that "
                       "differ, by Shapley values on common seeds (the seeds `sim run SCENARIO --seeds N` uses). "
                       "Writes DIR/attribution.csv (group, events, contribution, conf, and a total row), "
                       "coalitions.csv, manifest.json, both scenarios, groups.toml and attribution.svg.")
    t.add_argument("scenario", help="the scenario (name or .toml path)")
    t.add_argument("--base", required=True, help="the scenario to start from, e.g. no-controls")
    t.add_argument("--outcome", required=True, metavar="NAME", help="e.g. share:Nvidia:2027")
    t.add_argument("--seeds", type=int, default=10, help="seeds per coalition (default 10)")
    t.add_argument("--out", default=None, help="new or empty folder (default: a new folder under outputs/)")
    t.add_argument("--overwrite", action="store_true", help="replace the contents of a non-empty --out")
    t.add_argument("--group", action="append", metavar="NAME=ID,ID", help="put events in one named group; repeatable")
    t.add_argument("--groups", action="append", metavar="FILE", help="a grouping file ([groups] name = [ids]); a "
                   "shipped one by name, e.g. history (scenarios/groups/history.toml)")
    t.add_argument("--permutations", type=int, default=64, help="sampled orders when there are more than 10 groups "
                   "(default 64)")
    t.add_argument("--order-seed", type=int, default=0, help="seed of the sampled orders (default 0)")
    t.add_argument("--workers", type=int, default=None, help="worker processes (default: all CPUs; 1 = this process)")
    t.add_argument("--no-progress", action="store_true", help="no progress bar")
    t.add_argument("--no-chart", action="store_true", help="do not write the SVG chart")
    t.set_defaults(func=cmd_attribute)

    c = sub.add_parser("continuity", help="knife-edge and direction checks: sweep event dates and parameters",
                       description="Sweeps every event's effective month over +-MONTHS (1-month steps) and each "
                       "named parameter over +-10%% (2%% steps); reports annual vendor shares that jump by more than "
                       "THRESHOLD between neighbouring points, tightening rules whose removal lowers Nvidia's "
                       "share, and parameters that move a share the wrong way (MODEL.md 9.7).")
    c.add_argument("scenario", help="the scenario (name or .toml path)")
    c.add_argument("--year", type=int, default=2027, help="the year whose annual shares are compared (default 2027)")
    c.add_argument("--basis", choices=("units", "value", "compute"), default="units")
    c.add_argument("--seeds", type=int, default=5, help="seeds per point, the same for every point (default 5)")
    c.add_argument("--months", type=int, default=6, help="event dates moved by up to this many months (default 6)")
    c.add_argument("--param", nargs="*", default=None, metavar="NAME",
                   help="parameters to sweep (default: the calibrated ones; none with an empty list)")
    c.add_argument("--threshold", type=float, default=0.10, help="largest allowed jump of a share (default 0.10)")
    c.add_argument("--workers", type=int, default=None, help="worker processes (default: all CPUs; 1 = this process)")
    c.add_argument("--out", default=None, help="new or empty folder (default: a new folder under outputs/)")
    c.add_argument("--overwrite", action="store_true", help="replace the contents of a non-empty --out")
    c.add_argument("--check", action="store_true", help="exit with code 1 when any check fails")
    c.set_defaults(func=cmd_continuity)

    r = sub.add_parser("robustness", help="regret and satisficing of a lever's levels across the uncertainties",
                       description="Ranks the levels of the lever axes (role = \"lever\" in the grid file, or --lever) "
                       "by regret (worst and percentile over futures) and satisficing (share of futures meeting "
                       "--threshold), with a bootstrap over seeds. Writes GRID_DIR/robustness.csv, "
                       "robustness_regret.csv, robustness.json and robustness.svg.")
    r.add_argument("dir", metavar="GRID_DIR", help="a grid results folder")
    r.add_argument("--outcome", required=True, metavar="NAME", help="e.g. share:Domestic:2028")
    r.add_argument("--lever", action="append", metavar="AXIS", help="lever axis (default: the axes marked "
                   "role = \"lever\"); repeatable")
    m = r.add_mutually_exclusive_group()
    m.add_argument("--maximize", action="store_true", help="more of the outcome is better (default)")
    m.add_argument("--minimize", action="store_true", help="less of the outcome is better")
    r.add_argument("--threshold", type=float, default=None, help="satisficing threshold (default: the median outcome)")
    r.add_argument("--percentile", type=float, default=90.0, help="percentile regret (default 90)")
    r.add_argument("--bootstrap", type=int, default=500, help="bootstrap resamples over seeds (default 500)")
    r.add_argument("--no-chart", action="store_true", help="do not write the SVG chart")
    r.set_defaults(func=cmd_robustness)
