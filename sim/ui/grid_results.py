"""Grid results page: open a grid results folder under outputs/ (named in the link, ``grid=NAME``), see an
outcome over two axes, share paths per design point and the spread of an outcome over runs; with no
results yet, the shipped grid files with their sizes and time estimates, and a small grid run from the
page within the session's budget. Data access lives in ``sim.experiments``; this module lays out widgets
and charts.
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path

import altair as alt
import pandas as pd
import pyarrow as pa
import streamlit as st

from sim import charts, labels
from sim.engine import store
from sim.engine.executors import SerialExecutor
from sim.experiments.grid import Grid, list_grids, load_grid
from sim.experiments.summarize import (
    DEFAULT_OUTCOMES,
    OutcomeError,
    annual_share_paths,
    default_year,
    run_outcomes,
)
from sim.model.scenario import ScenarioError, load_scenario
from sim.ui import common, state
from sim.ui.folders import clean, outputs_root, result_folders

ENTITIES = ("Nvidia", "Huawei", "Domestic")
MAX_PANELS = 12
ID_COLS = ("run", "point", "replicate", "seed_index", "seed", "spec_hash")
# the share paths of cards and of compute, side by side per design point
PATH_METRICS = {"units": "cards", "compute": "compute"}
TWIN = {"share": "compute_share", "compute_share": "share"}   # an outcome's counterpart on the other basis
CLI_WORKERS = 2


# ---------------------------------------------------------------- cached reads (never write files)


@st.cache_data(max_entries=8, show_spinner="Reading outcomes from the shards...")
def _outcomes(folder: str, sig: tuple, outcomes: tuple[str, ...], year: int) -> pd.DataFrame:
    return run_outcomes(Path(folder), outcomes, year)


@st.cache_data(max_entries=8, show_spinner="Reading share paths...")
def _paths(folder: str, sig: tuple, points: tuple[int, ...], metric: str = "units") -> pd.DataFrame:
    return annual_share_paths(Path(folder), ENTITIES, metric, list(points))


@st.cache_data(max_entries=8)
def _experiments(folder: str, sig: tuple) -> pd.DataFrame:
    return store.read_experiments(Path(folder))


@st.cache_data(max_entries=8)
def _done(folder: str, sig: tuple) -> int:
    return len(store.completed_runs(Path(folder)))


@st.cache_data(max_entries=16, show_spinner=False)
def _axis_names(folder: str) -> dict[str, str]:
    """Plain names of a results folder's axes (from its frozen grid file and base scenario)."""
    out = Path(folder)
    try:
        g = load_grid(out / store.GRID_COPY, base=load_scenario(out / store.BASE_COPY), check_points=False)
    except (ScenarioError, OSError):
        return {}
    return {a.name: labels.grid_axis(a, g.base.events) for a in g.axes}


@st.cache_data(max_entries=16, show_spinner=False)
def _shipped(name: str, mtime: float) -> dict:
    g = load_grid(name, check_points=False)
    return {"name": g.name, "description": g.description, "design": g.design, "points": g.n_points,
            "replicates": g.replicates, "months": len(g.base.months), "plain_ref": "/" not in g.scenario_ref}


@st.cache_resource(show_spinner="Timing the model on this server...")
def _run_months_per_second() -> float:
    """How many run-months this server computes per second in one process (a batch of full runs)."""
    from sim.engine import ensemble as E

    sc = state.base_scenario("history")
    E.run_ensemble(sc, 2)  # compiled kernels loaded
    t0 = time.perf_counter()
    E.run_ensemble(sc, 10)
    # a grid run also writes its time series (about 10% more than the run itself)
    return 0.9 * 10 * len(sc.months) / max(time.perf_counter() - t0, 1e-3)


def _duration(seconds: float) -> str:
    if seconds < 90:
        return f"about {max(5, round(seconds / 5) * 5):.0f} s"
    if seconds < 5400:
        return f"about {round(seconds / 60):.0f} min"
    return f"about {seconds / 3600:.1f} h"


# ---------------------------------------------------------------- the page


def render(root: str | Path | None = None) -> None:
    """The page, on the grid results folders under ``root`` (default: ``CHIPSHIFT_OUTPUTS`` or outputs/).
    A folder is picked from the list of those found there (and named in the link by its path there); nothing
    else on the server can be opened, and a damaged folder is reported in one line without a traceback or a
    server path."""
    root = Path(root).resolve() if root is not None else outputs_root()
    try:
        _render(root)
    except (store.StoreError, OutcomeError) as e:   # a damaged or doubled shard: say which and how to repair
        st.error(clean(str(e), root))
    except ScenarioError as e:
        st.error(clean("; ".join(e.lines()), root))
    except (OSError, ValueError, KeyError, pa.ArrowException) as e:   # damaged in some other way
        st.error(clean(f"This results folder could not be read ({type(e).__name__}: {e}); it may be damaged or "
                       "still being written. Resume it with `python -m sim grid DIR --out DIR` to check and repair "
                       "it.", root))
    finally:
        if "settings" in st.session_state:
            state.sync_url()


def _render(root: Path) -> None:
    common.page_start("grid")
    st.title("Grid results")
    st.caption("Results of a parameter grid (`python -m sim grid GRID --out outputs/NAME`, docs/GRIDS.md): an "
               "outcome over two axes, share paths per design point and the spread over runs. Shares are ratios "
               "of annual sums.")
    found = result_folders(root)
    v = state.view()
    if not found:
        st.info("No grid results under outputs/ yet. The shipped grid files are listed below with their size; "
                "run a small one here, or a large one with the command line.")
        shipped_grids(root)
        return
    names = list(found)
    opened = st.session_state.pop("_grid_open", None)   # a grid just run on this page
    if opened in names:
        st.session_state["grid_dir"] = opened
    if st.session_state.get("grid_dir") not in names:
        st.session_state["grid_dir"] = v.grid if v.grid in names else names[0]
    name = st.selectbox("Results folder (under outputs/)", names, key="grid_dir",
                        help="Grid results folders found under the app's outputs folder, newest first. The folder "
                             "is kept in the link (grid=NAME).")
    if name != v.grid:
        state.set_view(grid=name)
    show_folder(found[name], name, root)
    with st.expander("Run another grid here"):
        shipped_grids(root)


def show_folder(out: Path, name: str, root: Path) -> None:
    sig = store.signature(out)
    man = store.read_manifest(out) or {}
    ex = _experiments(str(out), sig)
    axes = [c for c in ex.columns if c not in ID_COLS]
    plain = {a: _axis_names(str(out)).get(a, labels.label(a)) for a in axes}
    done = _done(str(out), sig) if sig[0] else 0
    reps = man.get("replicates", "?")
    st.markdown(f"**{man.get('grid', out.name)}**: {man.get('design', '?')} design, {ex['point'].nunique()} design "
                f"points × {reps} run{'' if reps == 1 else 's'} each; **{done} of {len(ex)} runs finished**.")
    st.caption("Axes (a design point is written as its values in this order): "
               + "; ".join(f"{k + 1}. {plain[a]} (`{a}`)" for k, a in enumerate(axes))
               + f". Master seed {man.get('master_seed')} "
               f"({man.get('seed_mode')} random draws across points).")
    if not done:
        st.warning("No finished runs yet.")
        return

    c1, c2 = st.columns([3, 1], vertical_alignment="bottom")
    year = int(c2.number_input("Year", min_value=1990, max_value=2100, value=default_year(out),
                               key=f"g:grid_year:{name}"))
    choices = [o if o.startswith("crossover") else f"{o}:{year}" for o in DEFAULT_OUTCOMES]
    outcome = c1.selectbox("Outcome", choices, key=f"g:grid_outcome:{name}", format_func=labels.outcome,
                           help="The name in `python -m sim summarize` is shown in the per-run table.")
    kind, _, rest = outcome.partition(":")
    twin = f"{TWIN[kind]}:{rest}" if kind in TWIN else None
    try:
        per_run = _outcomes(str(out), sig, (outcome, twin) if twin else (outcome,), year)
    except OutcomeError as e:
        st.error(clean(str(e), root))
        return
    title = labels.outcome(outcome)
    d = per_run.merge(ex, on="run")
    pts = ex.drop_duplicates("point").set_index("point")[axes]
    pts["label"] = [_point_label(r, axes) for _, r in pts.iterrows()]
    d["label"] = d["point"].map(pts["label"])
    is_share = not outcome.startswith("crossover")
    fmt = ".1%" if is_share else ".0f"

    st.subheader("Outcome over two axes")
    if len(axes) >= 2:
        a1, a2 = st.columns(2)
        x = a1.selectbox("x axis", axes, index=0, key=f"g:grid_x:{name}", format_func=plain.get)
        y = a2.selectbox("y axis", [a for a in axes if a != x], index=0, key=f"g:grid_y:{name}", format_func=plain.get)
        h = d.groupby([x, y], as_index=False)[outcome].mean().rename(columns={x: "x", y: "y", outcome: "value"})
        others = [a for a in axes if a not in (x, y)]
        st.caption(f"{title}: mean over the runs" + (f" and over the other axes ({', '.join(plain[a] for a in others)})"
                                                      if others else "") + ". Each cell is labelled with its value.")
        common.show_altair(charts.heatmap(h, plain[x], plain[y], title, fmt),
                           key="grid_heat")
    else:
        x = axes[0]
        h = d.groupby(x, as_index=False)[outcome].mean().rename(columns={x: "x", outcome: "value"})
        xt = "Q" if h["x"].dtype.kind in "fi" else "O"
        common.show_altair(alt.Chart(h).mark_line(point=True, strokeWidth=2).encode(
            x=alt.X(f"x:{xt}", title=plain[x]), y=alt.Y("value:Q", title=title,
                                                         axis=alt.Axis(format="%") if is_share else alt.Undefined)
        ).properties(width="container"), key="grid_line")

    if twin:
        st.caption(f"Over all runs: {labels.outcome(outcome)} {per_run[outcome].mean():.1%} on average; "
                   f"{labels.outcome(twin)} {per_run[twin].mean():.1%} (in the per-run table below).")

    st.subheader("Share of cards and of compute per design point, year by year")
    all_points = list(pts.index)
    chosen = st.multiselect("Design points", all_points, default=all_points[:min(6, len(all_points))],
                            format_func=lambda p: f"{p}: {pts.loc[p, 'label']}", key=f"g:grid_points:{name}",
                            max_selections=MAX_PANELS)
    if chosen:
        parts = []
        for metric, word in PATH_METRICS.items():
            p = _paths(str(out), sig, tuple(sorted(chosen)), metric)
            parts.append(p.assign(panel=p["point"].map(lambda x, w=word: f"Point {x}: {w}")))
        paths = pd.concat(parts, ignore_index=True).sort_values(["point", "panel"], kind="stable")
        common.show_altair(charts.grid_paths(paths, columns=2, y_title="Share"), key="grid_paths", width="content")
        st.caption("Left: share of cards; right: share of compute (A100-equivalents). Lines: mean over the runs of a "
                   "design point; bands: the middle 90% of them (5–95%). Points: "
                   + "; ".join(f"**Point {p}**: {pts.loc[p, 'label']}" for p in sorted(chosen)) + ".")

    st.subheader("Spread over the runs of each design point")
    dist = d.dropna(subset=[outcome]).rename(columns={outcome: "value"})[["point", "label", "value"]]
    box = alt.Chart(dist).mark_boxplot(extent="min-max", color=charts.RULE_INK).encode(
        x=alt.X("point:O", title="Design point", axis=alt.Axis(labelAngle=0, labelOverlap="greedy")),
        y=alt.Y("value:Q", title=title, axis=alt.Axis(format="%") if is_share else alt.Undefined),
        tooltip=[alt.Tooltip("label:N", title="Point")]).properties(width="container")
    common.show_altair(box, key="grid_box")
    with st.expander("Per-run outcomes"):
        st.dataframe(d[["run", "point", "seed", *axes, outcome] + ([twin] if twin else [])], hide_index=True)


def _point_label(row: pd.Series, axes: list[str]) -> str:
    """A design point by its axis values, in the order the page lists the axes."""
    return " · ".join(f"{row[a]:.3g}" if isinstance(row[a], float) else f"{row[a]}" for a in axes)


# ---------------------------------------------------------------- shipped grids and running one here


def shipped_grids(root: Path) -> None:
    """The shipped grid files with their run counts and time estimates, and a form to run one here (with
    fewer runs per design point) within the session's budget."""
    from sim.experiments.grid import GRID_DIR

    rate = _run_months_per_second()
    rows = []
    info = {}
    for g in list_grids():
        p = GRID_DIR / f"{g}.toml"
        try:
            info[g] = _shipped(g, p.stat().st_mtime)
        except ScenarioError:
            continue
        i = info[g]
        runs = i["points"] * i["replicates"]
        rows.append({"Grid file": g, "Question": i["description"], "Design": i["design"],
                     "Design points": i["points"], "Runs per point": i["replicates"], "Runs": runs,
                     "Time here": _duration(runs * i["months"] / rate),
                     f"Command line, {CLI_WORKERS} workers": _duration(runs * i["months"] / rate / CLI_WORKERS)})
    st.markdown("**Shipped grid files** (`scenarios/grids/`)")
    st.table(pd.DataFrame(rows).set_index("Grid file"))
    st.caption(f"Times are estimates from the model's speed on this server now ({rate:,.0f} run-months per second "
               f"in one process); the command line runs a grid on several workers: `python -m sim grid NAME --out "
               f"outputs/NAME --workers {CLI_WORKERS}`.")
    if not info:
        return
    st.markdown("**Run a small grid here**")
    c1, c2 = st.columns([2, 1], vertical_alignment="bottom")
    names = list(info)
    small = min(names, key=lambda g: info[g]["points"])
    if st.session_state.get("g:launch_grid") not in names:
        st.session_state["g:launch_grid"] = small
    g = c1.selectbox("Grid file", names, key="g:launch_grid",
                     format_func=lambda n: f"{n} ({info[n]['points']} design points)")
    i = info[g]
    reps = int(c2.number_input("Runs per design point", min_value=1, max_value=int(i["replicates"]), value=1,
                               key=f"g:launch_reps:{g}", disabled=not i["plain_ref"],
                               help=f"The file asks for {i['replicates']}; fewer runs per point give a quick first "
                                    "look (the bands over runs are then rough)."))
    runs = i["points"] * reps
    budget = state.MAX_ANALYSIS_RUN_MONTHS
    over = runs * i["months"] > budget
    folder = f"{g}-{reps}-per-point"
    st.caption(f"{runs:,} runs of {i['months']} months ({runs * i['months']:,} run-months; this server runs at most "
               f"{budget:,} for one request), {_duration(runs * i['months'] / rate)} here. Results go to "
               f"`outputs/{folder}`.")
    if over:
        st.warning("Too large to run here: use fewer runs per design point, or the command line "
                   f"(`python -m sim grid {g} --out outputs/{g}`).")
    if st.button("Run this grid here", key="g:launch", icon=":material/play_arrow:", disabled=over):
        _launch(g, reps, root, folder)


class _PageExecutor(SerialExecutor):
    """Runs a grid's batches in the page's process; ``after(n)`` is called after each batch of ``n`` runs
    (the progress bar, and the point where the grid gives way to other sessions: ``state.analysis_run``)."""
    name = "app"

    def __init__(self, after):
        super().__init__()
        self.after = after

    def map(self, func, shared, items):
        for it in items:
            res = func(shared, it)
            self.after(len(res.runs) + len(res.errors))
            yield res


def _grid_text(name: str, reps: int) -> str:
    import tomlkit

    from sim.experiments.grid import GRID_DIR

    doc = tomlkit.parse((GRID_DIR / f"{name}.toml").read_text(encoding="utf-8"))
    doc["grid"]["replicates"] = reps
    return tomlkit.dumps(doc)


def _launch(name: str, reps: int, root: Path, folder: str) -> None:
    """Run (or finish) ``name`` with ``reps`` runs per design point into ``root/folder``, with a progress bar;
    then open the folder."""
    from sim.experiments.gridrun import GridError, run_grid

    out = root / folder
    try:
        with tempfile.TemporaryDirectory() as tmp:
            path = Path(tmp) / f"{name}.toml"
            path.write_text(_grid_text(name, reps), encoding="utf-8")
            grid: Grid = load_grid(path)
            state.check_budget(grid.base, grid.n_runs, analysis=True)
            man = store.read_manifest(out) if out.is_dir() else None
            if man is not None and man.get("status") == "complete":
                _open(folder)
            total = grid.n_runs
            done = [0]
            t0 = time.perf_counter()
            bar = st.progress(0.0, text=f"Running {name}: 0 of {total} runs…")

            def progress(n: int, _total: int) -> None:
                bar.progress(min(1.0, n / total),
                             text=f"Running {name}: {n} of {total} runs ({time.perf_counter() - t0:.0f} s)…")

            def grid_run(step):
                def after(n: int) -> None:
                    done[0] += n
                    step(done[0], total)

                return run_grid(path, out, executor=_PageExecutor(after), resume=man is not None,
                                chunk_size=max(4, min(25, total // 20)), progress=False,
                                command=f"app: {name}, {reps} runs per point")

            # on this session's turn of the compute slots, giving way to other sessions between batches
            rep = state.analysis_run(grid_run, progress=progress)
            bar.empty()
    except (ScenarioError, state.OverBudget) as e:
        st.error("\n".join(e.lines()))
        return
    except GridError as e:
        st.error(clean(str(e), root))
        return
    if rep.failed:
        st.warning(f"{len(rep.failed)} runs failed; see failures.json in outputs/{folder}.")
        return
    _open(folder)


def _open(folder: str) -> None:
    """Show ``folder`` (a results folder's name under outputs/) on the next run of the page."""
    st.session_state["_grid_open"] = folder
    state.set_view(grid=folder)
    st.rerun()
