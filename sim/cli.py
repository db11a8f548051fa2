"""Command line: ``python -m sim`` or ``chipshift``.

    run SCENARIO [--seeds N] [--out DIR] [--overwrite] [--trace/--no-trace]
    validate FILE...
    list
    describe [--group G] [--format table|csv|markdown]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from sim.engine.runs import OutputDirError, default_out_dir, run_scenario, write_run
from sim.model.params import PARAMS, table
from sim.model.scenario import (
    ScenarioError,
    find_scenario,
    list_scenarios,
    load_scenario,
)


def _err(lines: list[str] | str, code: int = 2) -> int:
    for line in [lines] if isinstance(lines, str) else lines:
        print(f"error: {line}", file=sys.stderr)
    return code


def cmd_run(a) -> int:
    from sim.engine.runs import check_run_size, reserve_out_dir

    try:
        sc = load_scenario(a.scenario)
    except ScenarioError as e:
        return _err(e.lines())
    keep = [k for x in a.keep for k in x.split(",") if k]
    unknown = [k for k in keep if k not in PARAMS]
    if unknown:
        return _err(f"--keep: unknown parameter(s) {', '.join(unknown)} (see `python -m sim describe`)")
    if keep and not a.parameter_sets:
        return _err("--keep applies to --parameter-sets only")
    if a.parameter_sets and not sc.load_parameter_sets():
        return _err(f"{a.scenario}: the scenario declares no parameter sets (scenario.parameter_sets)")
    n = a.seeds if a.seeds is not None else sc.header.replicates
    too_big = check_run_size(n, len(sc.months))
    if too_big:
        return _err(too_big if a.seeds is not None else f"{a.scenario}: the scenario's replicates = {n}: {too_big}")
    out = Path(a.out) if a.out else default_out_dir(sc.name)
    try:  # checked and reserved before any run: an --out that cannot be written is refused now
        staging = reserve_out_dir(out, a.overwrite)
    except OutputDirError as e:
        return _err(str(e))
    try:
        res = run_scenario(sc, seeds=n, trace=a.trace, parameter_sets=a.parameter_sets, keep=keep)
    except BaseException:
        staging.discard()
        raise
    try:
        write_run(res, staging, source_file=str(find_scenario(a.scenario)),
                  extra_manifest={"command": " ".join(["python -m sim"] + sys.argv[1:])})
    except OutputDirError as e:
        return _err(f"{e}; the results were not written")
    except OSError as e:
        return _err(f"{out}: could not write results ({e.strerror or e})")
    summary = res.annual("unit_share").rename(columns=lambda c: f"{c} unit share")
    print(f"scenario {sc.name}: {len(res.seeds)} seed(s), {len(sc.months)} months, "
          f"{res.wall_time_s:.2f} s -> {out}")
    print("Annual unit shares (ratio of annual sums, mean over seeds):")
    print(summary.to_string(float_format=lambda x: f"{x:6.1%}"))
    return 0


def cmd_validate(a) -> int:
    bad = 0
    for f in a.files:
        try:
            sc = load_scenario(f)
            print(f"{f}: ok ({sc.name}, {len(sc.events)} events, {len(sc.parameters)} parameter overrides)")
        except ScenarioError as e:
            bad += 1
            for line in e.lines():
                print(line, file=sys.stderr)
    return 1 if bad else 0


def cmd_list(a) -> int:
    for name in list_scenarios():
        try:
            sc = load_scenario(name)
            print(f"{name:24s} {sc.header.description}")
        except ScenarioError as e:
            print(f"{name:24s} INVALID: {e.lines()[0]}")
    return 0


def cmd_describe(a) -> int:
    import pandas as pd

    df = pd.DataFrame(table())
    if a.group:
        df = df[df["group"] == a.group]
    if not a.products:
        df = df[~df["name"].str.startswith("products.")]
    cols = ["name", "value", "units", "bounds", "range", "calibrated", "source"]
    if a.format == "csv":
        df.to_csv(sys.stdout, index=False)
    elif a.format == "markdown":
        print(markdown_table(df[cols + ["help"]]))
    else:
        with pd.option_context("display.max_colwidth", 70, "display.width", 250):
            print(df[cols].to_string(index=False))
    return 0


def markdown_table(df) -> str:
    """A GitHub-flavoured Markdown table (no extra dependency)."""
    def cell(v) -> str:
        return str(v).replace("|", "\\|").replace("\n", " ")

    lines = ["| " + " | ".join(df.columns) + " |", "|" + "---|" * len(df.columns)]
    lines += ["| " + " | ".join(cell(v) for v in row) + " |" for row in df.itertuples(index=False)]
    return "\n".join(lines)


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m sim", description="ChipShift: China AI-accelerator market under "
                                "sanctions, an agent-based model.")
    sub = p.add_subparsers(dest="cmd", required=True)
    r = sub.add_parser("run", help="run a scenario for several seeds and write a results folder")
    r.add_argument("scenario", help="a name under scenarios/ (see `list`) or a path to a .toml file")
    r.add_argument("--seeds", type=int, default=None, help="number of seeds (default: the scenario's replicates)")
    r.add_argument("--out", default=None, help="new or empty folder (default: a new folder under outputs/)")
    r.add_argument("--overwrite", action="store_true", help="replace the contents of a non-empty --out")
    r.add_argument("--trace", action=argparse.BooleanOptionalAction, default=True,
                   help="write the decision trace (default on)")
    r.add_argument("--parameter-sets", action="store_true",
                   help="replicate i also uses the scenario's accepted parameter set i mod K (bands carry parameter "
                        "uncertainty, as in the app)")
    r.add_argument("--keep", action="append", default=[], metavar="NAME[,NAME]",
                   help="with --parameter-sets: parameters whose values in the scenario file the sets do not "
                        "replace (the changes made in the app)")
    r.set_defaults(func=cmd_run)
    v = sub.add_parser("validate", help="check scenario files; one line per problem")
    v.add_argument("files", nargs="+")
    v.set_defaults(func=cmd_validate)
    ls = sub.add_parser("list", help="list the shipped scenarios")
    ls.set_defaults(func=cmd_list)
    d = sub.add_parser("describe", help="the parameter table: name, value, units, bounds, source")
    d.add_argument("--group", choices=["US", "China", "vendors", "buyers", "market"])
    d.add_argument("--products", action="store_true", help="include per-product fields")
    d.add_argument("--format", choices=["table", "csv", "markdown"], default="table")
    d.set_defaults(func=cmd_describe)
    from sim.analysis import cli as analysis_cli
    from sim.calibration import cli as calibration_cli
    from sim.experiments import cli as experiments_cli

    for layer in (experiments_cli, calibration_cli, analysis_cli):  # each module declares its sub-commands
        layer.add(sub)
    return p


def _seeds_in_range(a) -> str | None:
    """Every command's --seeds: at least 1, at most MAX_SEEDS (checked before anything is loaded)."""
    from sim.engine.runs import MAX_SEEDS

    if getattr(a, "seeds", None) is None:
        return None
    if a.seeds < 1:
        return "--seeds must be at least 1"
    if a.seeds > MAX_SEEDS:
        return f"--seeds {a.seeds:,} is more than {MAX_SEEDS:,}"
    return None


# Upper limits of the other counts a command takes (each command checks their lower limits): a typo of a few
# extra digits must be refused at once, not start a million processes or a week of bootstrap.
COUNT_LIMITS = {
    "workers": 256,          # worker processes (grid, attribute, continuity, calibrate)
    "chunk_size": 100_000,   # runs stepped together per grid task (memory-bounded by the engine anyway)
    "resamples": 100_000,    # sensitivity bootstrap
    "bootstrap": 100_000,    # robustness bootstrap
    "permutations": 100_000,  # attribution's sampled orders
    "boxes": 50,             # discovery boxes
    "budget": 1_000_000,     # calibration candidates
    "ablation_budget": 1_000_000,
}


def _counts_in_range(a) -> str | None:
    for name, top in COUNT_LIMITS.items():
        v = getattr(a, name, None)
        if isinstance(v, int) and v > top:
            return f"--{name.replace('_', '-')} {v:,} is more than {top:,}"
    return None


class Terminated(KeyboardInterrupt):
    """SIGTERM or SIGHUP, raised in the main thread so that every command cleans up as on Ctrl-C (worker
    pools stopped, nothing half-written, a grid session marked interrupted)."""

    def __init__(self, signum: int):
        super().__init__(signum)
        self.signum = signum
        self.code = 128 + signum


def _raise_terminated(signum, frame):
    import signal

    for s in (signal.SIGTERM, signal.SIGHUP):  # once: the clean-up itself must not be interrupted again
        signal.signal(s, signal.SIG_IGN)
    raise Terminated(signum)


def main(argv: list[str] | None = None) -> int:
    import signal
    import threading

    parser = build_parser()
    a = parser.parse_args(argv)
    msg = _seeds_in_range(a) or _counts_in_range(a)
    if msg:
        return _err(msg)
    saved = {}
    if threading.current_thread() is threading.main_thread():
        for s in (signal.SIGTERM, signal.SIGHUP):
            saved[s] = signal.signal(s, _raise_terminated)
    try:
        return a.func(a)
    except ScenarioError as e:
        return _err(e.lines())
    except Terminated as e:
        return _err(f"terminated by signal {e.signum}", e.code)
    except KeyboardInterrupt:
        return _err("interrupted", 130)
    except BrokenPipeError:  # output piped into e.g. `head`
        import os

        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
    finally:
        for s, h in saved.items():
            signal.signal(s, h)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
