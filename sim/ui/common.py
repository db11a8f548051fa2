"""Pieces shared by several pages: page set-up, headline numbers, main chart, downloads."""

from __future__ import annotations

import io

import altair as alt
import pandas as pd
import streamlit as st

from sim import charts
from sim.calibration import observed
from sim.engine import ensemble as E
from sim.model.ids import VENDORS
from sim.model.scenario import Scenario, ScenarioError
from sim.ui import state
from sim.ui.settings import (
    BASES,
    BASIS_LABELS,
    Settings,
    custom_scenario,
    scenario_file_name,
)


def syncing_url(draw):
    """A page's render(): draw it, then write the settings into the URL. The URL changes only once the
    results are drawn, so a copied link never runs ahead of the page."""
    def render() -> None:
        try:
            draw()
        finally:
            state.sync_url()

    render.__doc__ = draw.__doc__
    return render

MAIN_ENTITIES = list(VENDORS) + ["Domestic"]


def page_start(page: str) -> tuple[Scenario, Settings] | None:
    """Read the URL on the first run, show URL problems; returns the base scenario and the settings.

    Widgets are re-seeded from the settings whenever the page changes: Streamlit gives a widget on a new
    page its default value even when a widget with the same key existed on the previous page."""
    state.init()
    if st.session_state.get("_page") != page:
        state.clear_widgets(state.WIDGET_PREFIXES)
        st.session_state["_page"] = page
    state.warm()
    state.show_url_problems()
    s = state.settings()
    try:
        base = state.base_scenario(s.scenario)
    except ScenarioError as e:
        st.error("\n".join(e.lines()))
        state.set_settings(Settings())
        base = state.base_scenario("history")
    return base, state.settings()


def run_current(what: str = "") -> E.Ensemble | None:
    s = state.settings()
    try:
        return state.ensemble(s, what)
    except ScenarioError as e:
        st.error("These settings do not make a valid scenario:\n\n" + "\n".join(f"- `{x}`" for x in e.lines()))
        return None


def pct(x: float | None) -> str:
    return "–" if x is None or pd.isna(x) else f"{100 * x:.0f}%"


def headline_metrics(ens: E.Ensemble, basis: str, key: str = "hl") -> dict:
    h = E.headline(ens, basis)
    cols = st.columns(6)
    unit = BASIS_LABELS[basis].split(" ")[0]
    cols[0].metric(f"Nvidia 2025 ({unit})", pct(h["Nvidia_2025"]), help="Annual share: ratio of annual sums, "
                   "mean over seeds.")
    cols[1].metric(f"Huawei 2025 ({unit})", pct(h["Huawei_2025"]))
    cols[2].metric(f"Nvidia 2027 ({unit})", pct(h["Nvidia_2027"]))
    cols[3].metric(f"Huawei 2027 ({unit})", pct(h["Huawei_2027"]))
    cols[4].metric("Huawei passes Nvidia", h["passing"].strftime("%Y-%m") if h["passing"] is not None
                   else "not by 2030", help="First month Huawei's share (summed over seeds) is above Nvidia's and "
                                            "stays above for three months.")
    cols[5].metric("Compute gap 2027", pct(h["gap_2027"]), help="Share of the compute buyers want that is not "
                   "installed (1 − installed / wanted), mean over 2027 and seeds.")
    return h


def main_chart(ens: E.Ensemble, sc: Scenario, basis: str, show_observed: bool, title: str = "",
               height: int = 460, now=None, upto=None, legend: str = "right") -> dict:
    """The main share chart as a Vega-Lite dict (sim.charts.share_spec: fast to redraw)."""
    bands = E.share_bands(ens, basis, MAIN_ENTITIES)
    if upto is not None:
        bands = bands[bands["date"] <= upto]
    months = sc.months
    ev = charts.events_frame(sc.events, months[0], months[-1])
    obs = observed.points(basis, MAIN_ENTITIES) if show_observed else None
    if obs is not None and upto is not None:
        obs = obs[obs["date_end"] <= upto]  # nothing from the future while stepping through
    dom = [pd.Timestamp(months[0] + "-01").isoformat(), pd.Timestamp(months[-1] + "-01").isoformat()]
    return charts.share_spec(bands, basis, ev, obs, title=title, height=height, now=now,
                             x_domain=dom if upto is not None else None, legend=legend)


def show_chart(spec: dict, key: str) -> None:
    st.vega_lite_chart(spec=spec, width="stretch", key=key)


def rules_caption(sc: Scenario) -> None:
    months = sc.months
    ev = charts.events_frame(sc.events, months[0], months[-1])
    lines = charts.events_legend(ev)
    if lines:
        with st.expander(f"Numbered rule marks on the chart ({len(lines)})"):
            st.markdown("\n".join(f"- {x}" for x in lines))


def basis_picker(key: str = "v:basis") -> str:
    v = state.view()
    if key not in st.session_state:
        st.session_state[key] = v.basis
    b = st.segmented_control("Share of", BASES, key=key, format_func=lambda x: BASIS_LABELS[x],
                             help="Units: cards delivered. Value: sales in US$. Compute: A100-equivalents "
                                  "(dense BF16).") or v.basis
    if b != v.basis:
        state.set_view(basis=b)
    return b


def observed_toggle(key: str = "v:observed") -> bool:
    v = state.view()
    if key not in st.session_state:
        st.session_state[key] = v.observed
    o = st.toggle("Observed data", key=key, help="Points with ranges from data/calibration_targets.csv "
                  "(annual figures drawn across their year; triangles are analysts' forecasts).")
    if o != v.observed:
        state.set_view(observed=o)
    return o


def downloads(ens: E.Ensemble, base: Scenario, s: Settings, chart: dict | alt.TopLevelMixin, key: str = "dl") -> None:
    """Results (CSV, Parquet), the settings as a scenario TOML, and the chart (PNG, SVG). Files are made
    only when a button is pressed."""
    stem = scenario_file_name(s, base).removesuffix(".toml")

    def csv() -> bytes:
        return ens.timeseries().to_csv(index=False).encode("utf-8")

    def parquet() -> bytes:
        buf = io.BytesIO()
        ens.timeseries().to_parquet(buf, index=False)
        return buf.getvalue()

    def toml() -> str:
        sc = custom_scenario(base, s).with_changes(header={"replicates": s.seeds})
        return sc.to_toml()

    def png() -> bytes:
        return charts.to_image(chart, "png")

    def svg() -> bytes:
        return charts.to_image(chart, "svg")

    c = st.columns(5)
    c[0].download_button("Results CSV", csv, f"{stem}-timeseries.csv", "text/csv", key=f"{key}:csv",
                         on_click="ignore", icon=":material/download:")
    c[1].download_button("Results Parquet", parquet, f"{stem}-timeseries.parquet", "application/octet-stream",
                         key=f"{key}:parquet", on_click="ignore", icon=":material/download:")
    c[2].download_button("Scenario TOML", toml, f"{stem}.toml", "application/toml", key=f"{key}:toml",
                         on_click="ignore", icon=":material/download:",
                         help="The current settings as a scenario file: `python -m sim run FILE` reproduces the run.")
    c[3].download_button("Chart PNG", png, f"{stem}-chart.png", "image/png", key=f"{key}:png", on_click="ignore",
                         icon=":material/image:")
    c[4].download_button("Chart SVG", svg, f"{stem}-chart.svg", "image/svg+xml", key=f"{key}:svg",
                         on_click="ignore", icon=":material/image:")


def settings_summary(base: Scenario, s: Settings) -> str:
    parts = [f"**{state.scenario_label(s.scenario)}**", f"{s.seeds} seeds"]
    if s.params:
        parts.append(f"{len(s.params)} parameter(s) changed")
    if s.off:
        parts.append(f"{len(s.off)} rule(s) off")
    if s.moved:
        parts.append(f"{len(s.moved)} rule(s) moved")
    return " · ".join(parts)
