"""The `grid` and `summarize` commands (added to ``python -m sim`` by ``sim.cli``).

    grid GRID --out DIR [--workers N] [--executor local|dask] [--scheduler ADDRESS] [--resume]
         [--reuse DIR ...] [--chunk-size N] [--no-progress]
    grid --check GRID...
    summarize DIR [--year Y] [--outcome NAME ...] [--format table|csv]

Heavy imports happen inside the commands, so `python -m sim --help` stays fast.
"""

from __future__ import annotations

import sys
from pathlib import Path


def _err(lines, code: int = 2) -> int:
    for line in [lines] if isinstance(lines, str) else lines:
        print(f"error: {line}", file=sys.stderr)
    return code


def _resume_hint(out: str) -> str:
    """': resume with ...' only for a folder that a session has started (it has a manifest)."""
    from sim.engine import store

    try:
        ok = store.read_manifest(Path(out)) is not None
    except (store.StoreError, OSError):
        ok = False
    return f": resume with --out {out} --resume" if ok else ""


def cmd_grid(a) -> int:
    from sim.engine.executors import make_executor
    from sim.experiments.grid import load_grid
    from sim.experiments.gridrun import GridError, run_grid
    from sim.model.scenario import ScenarioError

    if a.check:
        bad = 0
        for f in a.grid:
            try:
                g = load_grid(f)
                print(f"{f}: ok ({g.name}: {g.design}, {len(g.axes)} axes, {g.n_points} points x "
                      f"{g.replicates} replicates = {g.n_runs} runs)")
            except ScenarioError as e:
                bad += 1
                for line in e.lines():
                    print(line, file=sys.stderr)
        return 1 if bad else 0
    if len(a.grid) != 1:
        return _err("give one grid file (or results folder) to run")
    if not a.out:
        return _err("--out DIR is required (a new folder, or the folder to --resume)")
    if a.workers is not None and a.workers < 1:
        return _err("--workers must be at least 1")
    if a.chunk_size is not None and a.chunk_size < 1:
        return _err("--chunk-size must be at least 1")
    if a.scheduler and a.executor != "dask":
        return _err("--scheduler needs --executor dask")
    ex = make_executor(a.executor, a.workers, a.scheduler)
    command = " ".join(["python -m sim"] + sys.argv[1:])
    try:
        rep = run_grid(a.grid[0], a.out, executor=ex, resume=a.resume, reuse=a.reuse or [],
                       chunk_size=a.chunk_size, progress=not a.no_progress, command=command)
    except ScenarioError as e:
        return _err(e.lines())
    except GridError as e:
        return _err(str(e))
    except KeyboardInterrupt as e:
        what = f"terminated by signal {e.signum}" if hasattr(e, "signum") else "interrupted"
        hint = _resume_hint(a.out)
        return _err(f"{what}; " + (f"finished runs are kept{hint}" if hint else "the grid had not started"),
                    getattr(e, "code", 130))
    except Exception as e:  # a broken pool, a lost cluster: what is committed stays valid
        return _err([f"the grid stopped: {type(e).__name__}: {e}"]
                    + ([f"finished runs are kept{_resume_hint(a.out)}"] if _resume_hint(a.out) else []), 1)
    for m in rep.set_aside:
        print(f"{rep.out}: set aside {m['shard']} -> {m['moved_to']}: {m['reason']}", file=sys.stderr)
    if rep.set_aside:
        print(f"{rep.out}: set aside {len(rep.set_aside)} damaged or doubled shard(s) in {rep.out}/damaged/; "
              "their runs were run again", file=sys.stderr)
    rate = rep.done_this_session / rep.seconds if rep.seconds > 0 else 0.0
    print(f"{rep.out}: {rep.already + rep.done_this_session}/{rep.n_runs} runs done "
          f"({rep.computed} computed, {rep.copied} reused, {rep.already} already there, {len(rep.failed)} failed) "
          f"in {rep.seconds:.1f} s ({rate:.1f} runs/s, {rep.executor}, {rep.workers} worker(s))")
    if rep.failed:
        first = min(rep.failed)
        print(f"run {first} failed:\n{rep.failed[first]}", file=sys.stderr)
        return _err(f"{len(rep.failed)} run(s) failed (see {rep.out}/failures.json); --resume retries them", 1)
    print(f"next: python -m sim summarize {rep.out}")
    return 0


def cmd_summarize(a) -> int:
    import pandas as pd

    from sim.engine.store import StoreError
    from sim.experiments.gridrun import GridError
    from sim.experiments.summarize import OutcomeError, summarize

    if a.max_rows < 0:
        return _err("--max-rows must be 0 (print every row) or more")
    try:
        table, path = summarize(Path(a.dir), outcomes=a.outcome or None, year=a.year, quantiles=(0.05, 0.5, 0.95))
    except (OutcomeError, GridError, StoreError) as e:
        return _err(str(e))
    except OSError as e:  # not a results folder (our message), or the summary cannot be written
        return _err(f"{a.dir}: cannot write the summary ({e.strerror})" if e.errno else str(e))
    if a.format == "csv":
        table.to_csv(sys.stdout, index=False)
    else:
        with pd.option_context("display.width", 250, "display.max_columns", 50):
            print(table.to_string(index=False, float_format=lambda x: f"{x:.4g}", max_rows=a.max_rows or None))
        print(f"-> {path} (and .parquet)")
    return 0


def add(sub) -> None:
    g = sub.add_parser("grid", help="run a scenario grid (parameter and event axes x seeds) into a results folder",
                       description="Run a grid file (scenarios/grids/*.toml) into --out. Results stream to "
                       "Parquet shards; a killed grid finishes with --resume; identical runs are not recomputed.")
    g.add_argument("grid", nargs="+", help="a grid name under scenarios/grids/, a .toml path, or a results folder "
                   "(re-runs its frozen grid and base scenario)")
    g.add_argument("--out", help="results folder: new/empty, or the folder to --resume")
    g.add_argument("--workers", type=int, default=None, help="worker processes (default: all CPUs; 1 = in this "
                   "process)")
    g.add_argument("--executor", choices=["local", "dask"], default="local")
    g.add_argument("--scheduler", default=None, help="Dask scheduler address tcp://host:8786 (default with "
                   "--executor dask: a local cluster of --workers processes)")
    g.add_argument("--resume", action="store_true", help="complete an interrupted folder: no run lost, none "
                   "repeated")
    g.add_argument("--reuse", action="append", metavar="DIR", help="earlier results folder whose identical runs "
                   "(same resolved scenario, seed and model code) are copied, not recomputed; repeatable")
    g.add_argument("--chunk-size", type=int, default=None, help="runs stepped together per task (default: sized to the machine, at most 256)")
    g.add_argument("--no-progress", action="store_true", help="no progress bar")
    g.add_argument("--check", action="store_true", help="only validate the grid file(s); one line per problem")
    g.set_defaults(func=cmd_grid)

    s = sub.add_parser("summarize", help="per-design-point statistics of outcomes of a grid results folder",
                       description="Per-run outcomes (streamed from the shards), then mean and 5/50/95% per "
                       "design point; writes DIR/summary.csv, DIR/summary.parquet and DIR/outcomes.parquet.")
    s.add_argument("dir", help="a grid results folder")
    s.add_argument("--year", type=int, default=None, help="year of the share outcomes (default: the last full "
                   "year of the horizon)")
    s.add_argument("--outcome", action="append", metavar="NAME",
                   help="outcome(s), e.g. share:Huawei, share:Domestic:2027, value_share:Nvidia, "
                   "crossover:Huawei:Nvidia, mean:Total:compute_gap:2030 (default: Nvidia, Huawei and Domestic "
                   "unit share and the year Huawei passes Nvidia)")
    s.add_argument("--format", choices=["table", "csv"], default="table")
    s.add_argument("--max-rows", type=int, default=60, help="rows printed, 0 = all (the files hold all)")
    s.set_defaults(func=cmd_summarize)

