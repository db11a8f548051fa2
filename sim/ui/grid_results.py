"""Grid results page: open a grid results folder, see an outcome over two axes, share paths per design
point and the spread of an outcome over seeds. Data access lives in ``sim.experiments``; this module
only lays out widgets and charts.
"""

from __future__ import annotations

from pathlib import Path

import altair as alt
import pandas as pd
import pyarrow as pa
import streamlit as st

from sim.engine import store
from sim.experiments.summarize import (
    DEFAULT_OUTCOMES,
    OutcomeError,
    annual_share_paths,
    default_year,
    run_outcomes,
)
from sim.model.scenario import ScenarioError
from sim.ui.folders import clean, outputs_root, result_folders

ENTITIES = ("Nvidia", "Huawei", "Domestic")
MAX_PANELS = 12
ID_COLS = ("run", "point", "replicate", "seed_index", "seed", "spec_hash")


@st.cache_data(max_entries=8, show_spinner="Reading outcomes from the shards...")
def _outcomes(folder: str, sig: tuple, outcomes: tuple[str, ...], year: int) -> pd.DataFrame:
    return run_outcomes(Path(folder), outcomes, year)


@st.cache_data(max_entries=8, show_spinner="Reading share paths...")
def _paths(folder: str, sig: tuple, points: tuple[int, ...]) -> pd.DataFrame:
    return annual_share_paths(Path(folder), ENTITIES, "units", list(points))


@st.cache_data(max_entries=8)
def _experiments(folder: str, sig: tuple) -> pd.DataFrame:
    return store.read_experiments(Path(folder))


@st.cache_data(max_entries=8)
def _done(folder: str, sig: tuple) -> int:
    return len(store.completed_runs(Path(folder)))


def _label(row: pd.Series, axes: list[str]) -> str:
    return ", ".join(f"{a}={row[a]:.3g}" if isinstance(row[a], float) else f"{a}={row[a]}" for a in axes)


def render(root: str | Path | None = None) -> None:
    """The page, on the grid results folders under ``root`` (default: ``CHIPSHIFT_OUTPUTS`` or outputs/).
    A folder is picked from the list of those found there; nothing else on the server can be opened, and
    a damaged folder is reported in one line without a traceback or a server path."""
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


def _render(root: Path) -> None:
    st.header("Grid results")
    st.caption("A folder written by `python -m sim grid GRID --out outputs/NAME`. Outcomes are computed per run "
               "from the Parquet shards; shares are ratios of annual sums.")
    found = result_folders(root)
    if not found:
        st.info("No grid results folder under outputs/ yet (a folder holding manifest.json and experiments.parquet). "
                "Make one with `python -m sim grid mandate-x-power-subsidy --out outputs/mandate`.")
        return
    name = st.selectbox("Results folder (under outputs/)", list(found), key="grid_dir",
                        help="Grid results folders found under the app's outputs folder, newest first.")
    out = found[name]
    sig = store.signature(out)
    man = store.read_manifest(out) or {}
    ex = _experiments(str(out), sig)
    axes = [c for c in ex.columns if c not in ID_COLS]
    done = _done(str(out), sig) if sig[0] else 0
    st.write(f"**{man.get('grid', name)}** — {man.get('design', '?')} design, {ex['point'].nunique()} points x "
             f"{man.get('replicates', '?')} replicates; {done}/{len(ex)} runs finished; master seed "
             f"{man.get('master_seed')} ({man.get('seed_mode')} seeds).")
    if not done:
        st.warning("No finished runs yet.")
        return

    c1, c2 = st.columns([3, 1])
    year = int(c2.number_input("Year", min_value=1990, max_value=2100, value=default_year(out), key="grid_year"))
    outcome = c1.selectbox("Outcome", [o if o.startswith("crossover") else f"{o}:{year}" for o in DEFAULT_OUTCOMES],
                           key="grid_outcome")
    try:
        per_run = _outcomes(str(out), sig, (outcome,), year)
    except OutcomeError as e:
        st.error(str(e))
        return
    d = per_run.merge(ex, on="run")
    pts = ex.drop_duplicates("point").set_index("point")[axes]
    pts["label"] = [_label(r, axes) for _, r in pts.iterrows()]
    d["label"] = d["point"].map(pts["label"])
    is_share = not outcome.startswith("crossover")
    fmt = ".1%" if is_share else ".0f"

    st.subheader("Outcome over two axes")
    # charts get plain column names (x, y, value): axis names hold dots and outcomes colons
    if len(axes) >= 2:
        a1, a2 = st.columns(2)
        x = a1.selectbox("x axis", axes, index=0, key="grid_x")
        y = a2.selectbox("y axis", [a for a in axes if a != x], index=0, key="grid_y")
        h = d.groupby([x, y], as_index=False)[outcome].mean().rename(columns={x: "x", y: "y", outcome: "value"})
        others = [a for a in axes if a not in (x, y)]
        if others:
            st.caption(f"Mean over runs and over the other axes ({', '.join(others)}).")
        base = alt.Chart(h).encode(x=alt.X("x:O", title=x), y=alt.Y("y:O", title=y, sort="descending"))
        heat = base.mark_rect().encode(color=alt.Color("value:Q", title=outcome, scale=alt.Scale(scheme="viridis")),
                                       tooltip=[alt.Tooltip("x", title=x), alt.Tooltip("y", title=y),
                                                alt.Tooltip("value:Q", format=fmt, title=outcome)])
        text = base.mark_text(fontSize=11).encode(text=alt.Text("value:Q", format=fmt))
        st.altair_chart(heat + text, width="stretch")
    else:
        x = axes[0]
        h = d.groupby(x, as_index=False)[outcome].mean().rename(columns={x: "x", outcome: "value"})
        xt = "Q" if h["x"].dtype.kind in "fi" else "O"
        st.altair_chart(alt.Chart(h).mark_line(point=True).encode(x=alt.X(f"x:{xt}", title=x),
                                                                  y=alt.Y("value:Q", title=outcome)),
                        width="stretch")

    st.subheader("Annual unit-share paths per design point")
    all_points = list(pts.index)
    chosen = st.multiselect("Design points", all_points, default=all_points[:min(6, len(all_points))],
                            format_func=lambda p: f"{p}: {pts.loc[p, 'label']}", key="grid_points",
                            max_selections=MAX_PANELS)
    if chosen:
        paths = _paths(str(out), sig, tuple(sorted(chosen)))
        paths["label"] = paths["point"].map(lambda p: f"{p}: {pts.loc[p, 'label']}")
        band = alt.Chart().mark_area(opacity=0.2).encode(x=alt.X("year:O", title="Year"), y=alt.Y("p5:Q", title="Unit share"),
                                                         y2="p95:Q", color="entity:N")
        line = alt.Chart().mark_line(point=True).encode(x="year:O", y=alt.Y("mean:Q", axis=alt.Axis(format="%"),
                                                                            title="Unit share"),
                                                        color=alt.Color("entity:N", title="Vendor"))
        chart = alt.layer(band, line, data=paths).properties(width=220, height=150).facet(
            facet=alt.Facet("label:N", title=None), columns=3)
        st.altair_chart(chart)
        st.caption("Lines: mean over seeds; bands: 5-95% over seeds.")

    st.subheader(f"Distribution of {outcome} per design point")
    dist = d.dropna(subset=[outcome]).rename(columns={outcome: "value"})[["point", "label", "value"]]
    box = alt.Chart(dist).mark_boxplot(extent="min-max").encode(
        x=alt.X("point:O", title="Design point"), y=alt.Y("value:Q", title=outcome))
    st.altair_chart(box, width="stretch")
    with st.expander("Per-run outcomes"):
        st.dataframe(d[["run", "point", "seed", *axes, outcome]], hide_index=True)
