"""Analysis page: what drives an outcome (sensitivity), where it happens (scenario discovery), which rule
moved it (attribution) and which decision holds up (robustness), on a grid results folder under outputs/.

Only folders found under the outputs folder can be opened (the folder is picked from a list, and a link
naming anything else is ignored); messages never show server paths. The page never writes into the
folder. Every choice is bound to the URL (``a_*`` query parameters), so a copied link reopens the same
view. The numbers come from ``sim.analysis``; this module lays out widgets and charts.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import streamlit as st

from sim import charts as shared_charts
from sim import labels
from sim.analysis import charts
from sim.analysis.results import AnalysisError
from sim.engine import store
from sim.experiments.summarize import OutcomeError
from sim.model.scenario import ScenarioError, list_scenarios
from sim.ui import state
from sim.ui.folders import clean, outputs_root, result_folders

VIEWS = ("Sensitivity", "Discovery", "Attribution", "Robustness")
GROUPINGS = {"history": "Named groups (scenarios/groups/history.toml)", "": "One group per event"}
MAX_ATTRIBUTION_SEEDS = 20


def outcome_choices(year: int) -> list[str]:
    """Outcomes offered: each share of cards with the share of compute next to it."""
    shares = [f"{kind}:{e}:{year}" for e in ("Huawei", "Nvidia", "Domestic") for kind in ("share", "compute_share")]
    return shares + ["crossover:Huawei:Nvidia", f"value_share:Huawei:{year}", f"mean:Tencent:service_level:{year}",
                     f"mean:Total:compute_gap:{year}"]


# ---------------------------------------------------------------- cached computations (never write files)


@st.cache_data(max_entries=16, show_spinner="Computing sensitivity indices...")
def _sensitivity(folder: str, sig: tuple, outcome: str):
    from sim.analysis.sensitivity import sensitivity

    return sensitivity(folder, [outcome], write=False)


@st.cache_data(max_entries=16, show_spinner="Running PRIM and CART...")
def _discovery(folder: str, sig: tuple, outcome: str, above: float | None, below: float | None, density: float,
               mass_min: float = 0.05):
    from sim.analysis.discovery import discover

    return discover(folder, outcome, above=above, below=below, density=density, mass_min=mass_min, write=False)


@st.cache_data(max_entries=16, show_spinner="Ranking the policies...")
def _robustness(folder: str, sig: tuple, outcome: str, levers: tuple[str, ...], maximize: bool,
                threshold: float | None, percentile: float):
    from sim.analysis.robustness import robustness

    return robustness(folder, outcome, levers=list(levers) or None, maximize=maximize, threshold=threshold,
                      percentile=percentile, write=False)


@st.cache_data(max_entries=16, show_spinner=False)
def _outcome_range(folder: str, sig: tuple, outcome: str) -> tuple[float, float, float]:
    from sim.analysis.results import open_results, outcome_per_run

    v = outcome_per_run(open_results(folder), outcome)[0]["value"]
    return float(v.min()), float(v.median()), float(v.max())


@st.cache_resource(max_entries=32)
def _attribution_store() -> dict:
    """Finished attributions by their inputs (server-wide: equal inputs give equal results)."""
    return {}


# ---------------------------------------------------------------- pieces


def downloads(table: pd.DataFrame, chart, stem: str, key: str) -> None:
    """The table as CSV and the chart as PNG and SVG (made only when a button is pressed)."""
    c = st.columns(3)
    c[0].download_button("Table CSV", lambda: table.to_csv(index=False).encode("utf-8"), f"{stem}.csv", "text/csv",
                         key=f"{key}:csv", on_click="ignore", icon=":material/download:")
    c[1].download_button("Chart PNG", lambda: shared_charts.to_image(chart, "png"), f"{stem}.png", "image/png",
                         key=f"{key}:png", on_click="ignore", icon=":material/image:")
    c[2].download_button("Chart SVG", lambda: shared_charts.to_image(chart, "svg"), f"{stem}.svg", "image/svg+xml",
                         key=f"{key}:svg", on_click="ignore", icon=":material/image:")


def pick_outcome(year: int, key: str) -> str:
    return st.selectbox("Outcome", outcome_choices(year), key=key, bind="query-params", accept_new_options=True,
                        format_func=labels.outcome,
                        help="As in `python -m sim summarize`: share:ENTITY[:YEAR], value_share:..., "
                             "compute_share:..., crossover:A:B, mean:ENTITY:METRIC[:YEAR], sum:...") or \
        outcome_choices(year)[0]


def pick_folder(found: dict[str, Path]) -> str | None:
    """The results folder, always named in the link. A bound widget leaves its default out of the URL, and
    here a default (the newest folder) would change as folders are added; so the widget has none, and the
    newest folder is chosen through the session state on a first visit without one in the link."""
    if "a_dir" not in st.session_state and "a_dir" not in st.query_params:
        st.session_state["a_dir"] = next(iter(found))
    return st.selectbox("Results folder (under outputs/)", list(found), index=None, placeholder="Pick a results folder",
                        key="a_dir", bind="query-params")


def show_sensitivity(folder: Path, sig: tuple, design: str, year: int) -> None:
    if design not in ("sobol", "morris"):
        st.info(f"Sensitivity indices need a grid with design = \"sobol\" or \"morris\"; this folder's design is "
                f"{design!r}. Scenario discovery and robustness work on any design.")
        return
    outcome = pick_outcome(year, "a_s_outcome")
    r = _sensitivity(str(folder), sig, outcome)
    chart = charts.tornado(r.table, r.table["outcome"].iloc[0])
    st.altair_chart(chart, width="stretch")
    for n in r.notes:
        st.caption(n)
    st.dataframe(r.table, hide_index=True)
    downloads(r.table, chart, f"sensitivity-{folder.name}", "a_dl_s")


def show_discovery(folder: Path, sig: tuple, year: int) -> None:
    from sim.analysis.discovery import describe

    c1, c2, c3, c4, c5 = st.columns([3, 1, 1, 1, 1])
    with c1:
        outcome = pick_outcome(year, "a_d_outcome")
    lo, med, hi = _outcome_range(str(folder), sig, outcome)
    direction = c2.segmented_control("Of interest", ["above", "below"], key="a_d_dir", bind="query-params",
                                     default="above") or "above"
    thr = c3.number_input("Threshold", value=round(med, 4), key="a_d_thr", bind="query-params", format="%.4g",
                          help=f"The outcome ranges from {lo:.4g} to {hi:.4g} (median {med:.4g}).")
    density = c4.number_input("Box density", min_value=0.5, max_value=1.0, value=0.8, step=0.05, key="a_d_density",
                              bind="query-params", help="The box reported is the one with the highest coverage "
                                                        "whose density reaches this.")
    mass = c5.number_input("Smallest box", min_value=0.001, max_value=0.5, value=0.05, step=0.01, key="a_d_mass",
                           bind="query-params", format="%.3g",
                           help="The smallest box PRIM may reach, as a share of the runs (--mass-min). Rare "
                                "runs of interest need a smaller one.")
    d = _discovery(str(folder), sig, outcome, thr if direction == "above" else None,
                   thr if direction == "below" else None, float(density), float(mass))
    for n in d.notes:
        st.caption(n.replace("(--mass-min)", "(Smallest box)").replace("try --mass-min", "try a smallest box of"))
    st.markdown("\n".join(f"- **{line.split(':', 1)[0]}**:{line.split(':', 1)[1]}" for line in describe(d)))
    box = charts.prim_box(d.extents, d.boxes)
    st.altair_chart(box, width="stretch")
    st.dataframe(d.boxes, hide_index=True)
    downloads(d.boxes, box, f"discovery-{folder.name}", "a_dl_d")
    chart = charts.tradeoff(d.tradeoff)
    st.altair_chart(chart, width="stretch")
    downloads(d.tradeoff, chart, f"discovery-tradeoff-{folder.name}", "a_dl_dt")
    with st.expander("CART check (leaves where most runs are of interest)"):
        st.dataframe(d.cart, hide_index=True)
        st.download_button("Table CSV", lambda: d.cart.to_csv(index=False).encode("utf-8"),
                           f"discovery-cart-{folder.name}.csv", "text/csv", key="a_dl_dc:csv", on_click="ignore",
                           icon=":material/download:")


def show_robustness(folder: Path, sig: tuple, axes: list[str], levers: list[str], year: int) -> None:
    c1, c2 = st.columns([3, 2])
    with c1:
        outcome = pick_outcome(year, "a_r_outcome")
    chosen = c2.multiselect("Levers", axes, default=levers, key="a_r_levers", bind="query-params",
                            help="Policy axes (default: the axes marked role = \"lever\"); the other axes are "
                                 "the futures.")
    c3, c4, c5 = st.columns(3)
    goal = c3.segmented_control("Goal", ["maximize", "minimize"], key="a_r_goal", bind="query-params",
                                default="maximize") or "maximize"
    lo, med, hi = _outcome_range(str(folder), sig, outcome)
    thr = c4.number_input("Satisficing threshold", value=round(med, 4), key="a_r_thr", bind="query-params",
                          format="%.4g", help=f"Outcome range {lo:.4g} to {hi:.4g}.")
    pct = c5.number_input("Percentile regret", min_value=50, max_value=100, value=90, step=5, key="a_r_pct",
                          bind="query-params")
    if not chosen:
        st.info("Pick at least one lever axis (or mark one role = \"lever\" in the grid file).")
        return
    r = _robustness(str(folder), sig, outcome, tuple(chosen), goal == "maximize", float(thr), float(pct))
    for n in r.notes:
        st.caption(n)
    pc = [c for c in r.table.columns if c.endswith("_regret") and c != "max_regret"][0]
    chart = charts.regret_bars(r.table, pc)
    st.altair_chart(chart, width="stretch")
    st.dataframe(r.table, hide_index=True)
    downloads(r.table, chart, f"robustness-{folder.name}", "a_dl_r")
    heat = charts.regret_heatmap(r.regret)
    st.altair_chart(heat, width="stretch")
    downloads(r.regret, heat, f"robustness-regret-{folder.name}", "a_dl_rh")


def show_attribution(grid_base: str) -> None:
    from sim.analysis import attribution as A
    from sim.analysis.evaluate import last_full_year, outcome_name
    from sim.model.scenario import load_scenario
    from sim.model.seeds import derive_seeds

    names = list_scenarios()
    c1, c2, c3 = st.columns(3)
    target_name = c1.selectbox("Scenario", names, index=names.index(grid_base) if grid_base in names else 0,
                               key="a_t_scenario", bind="query-params")
    base_name = c2.selectbox("Base", names, index=names.index("no-controls") if "no-controls" in names else 0,
                             key="a_t_base", bind="query-params")
    target = load_scenario(target_name)
    with c3:   # outcomes in the last full year of the scenarios compared (not of the open grid)
        outcome = pick_outcome(last_full_year(target), "a_t_outcome")
    c4, c5 = st.columns(2)
    seeds_n = int(c4.number_input("Runs per combination", min_value=2, max_value=MAX_ATTRIBUTION_SEEDS, value=10,
                                  key="a_t_seeds", bind="query-params"))
    grouping = c5.selectbox("Event groups", list(GROUPINGS), format_func=GROUPINGS.get, key="a_t_groups",
                            bind="query-params")
    base = load_scenario(base_name)
    name = outcome_name(outcome, target)
    changes = A.differences(target, base)
    if not changes:
        st.info(f"{target_name} and {base_name} do not differ: nothing to attribute.")
        return
    known = {e.id for e in target.events} | {e.id for e in base.events}
    named = A.restrict_groups(A.read_groups(grouping), known) if grouping else None
    groups = A.make_groups(changes, named, known)
    n = len(groups)
    runs = (2 ** n if n <= A.EXACT_MAX else None)
    st.caption(f"{len(changes)} differing event(s) in {n} group(s): "
               + (f"exact Shapley values, {runs} coalitions x {seeds_n} runs each = {runs * seeds_n} runs." if runs else
                  f"64 sampled orders x {seeds_n} runs each (standard error shown)."))
    key = (target_name, base_name, name, seeds_n, grouping)
    done = _attribution_store()
    if key not in done:
        if not st.button("Run attribution", key="a_t_run", icon=":material/play_arrow:"):
            return
        bar = st.progress(0.0, text="Running coalitions...")

        def progress(i: int, total: int) -> None:
            bar.progress(i / total, text=f"Coalitions: {i} of {total}")

        seeds = derive_seeds(target.header.seed, seeds_n)
        try:
            state.check_budget(target, seeds_n * (runs or 64 * (n + 1)), analysis=True)
        except state.OverBudget as e:
            bar.empty()
            st.error(str(e))
            return
        # in this process, as batches of runs stepped together (no worker processes under the app), on this
        # session's turn of the compute slots, giving way to other sessions between batches
        done[key] = state.analysis_run(lambda step: A.attribute(target, base, name, seeds, groups, workers=1,
                                                                progress=step), progress=progress)
        bar.empty()
    r = done[key]
    st.write(A.sentence(r, target_name, base_name))
    chart = charts.waterfall(r.table, r.outcome, base_name, target_name, r.base_value)
    st.altair_chart(chart, width="stretch")
    st.dataframe(r.table, hide_index=True)
    for note in r.notes:
        st.caption(note)
    downloads(r.table, chart, f"attribution-{target_name}-vs-{base_name}", "a_dl_t")


# ---------------------------------------------------------------- the page


def render() -> None:
    st.header("Analysis")
    st.caption("What drives an outcome, where it happens, which rule moved it, and which decision holds up. "
               "Opens a grid results folder under outputs/ (`python -m sim grid GRID --out outputs/NAME`); "
               "the same analyses run from the command line (`python -m sim sensitivity|discover|attribute|"
               "robustness`, docs/ANALYSIS.md).")
    root = outputs_root()
    found = result_folders(root)
    view = st.segmented_control("Analysis", VIEWS, key="a_view", bind="query-params", default=VIEWS[0]) or VIEWS[0]
    if not found and view != "Attribution":
        st.info("No grid results folder under outputs/ yet. Make one with "
                "`python -m sim grid sobol-uncertain-parameters --out outputs/sobol`.")
        return
    name = pick_folder(found) if found else None
    folder = found.get(name) if name else None
    try:
        if folder is None:
            if view != "Attribution":
                st.info("Pick a results folder.")
                return
            show_attribution("history")
            return
        from sim.analysis.results import open_results

        sig = store.signature(folder)
        res = open_results(folder)
        year = _year(res)
        m = res.manifest
        st.caption(f"**{m.get('grid', folder.name)}**: {res.grid.design} design, {res.grid.n_points} points x "
                   f"{res.grid.replicates} runs each; {res.done} of {len(res.experiments)} runs finished. Levers: "
                   f"{', '.join(a.name for a in res.grid.levers) or 'none'}.")
        if view == "Sensitivity":
            show_sensitivity(folder, sig, res.grid.design, year)
        elif view == "Discovery":
            show_discovery(folder, sig, year)
        elif view == "Robustness":
            show_robustness(folder, sig, [a.name for a in res.grid.axes], [a.name for a in res.grid.levers], year)
        else:
            show_attribution(Path(res.grid.scenario_ref).stem)
    except (AnalysisError, OutcomeError, store.StoreError) as e:   # damaged folders too: no traceback
        st.error(clean(str(e), root))
    except ScenarioError as e:
        st.error(clean("; ".join(e.lines()), root))


def _year(res) -> int:
    from sim.analysis.evaluate import last_full_year

    return last_full_year(res.grid.base)


__all__ = ["render"]
