"""Explore: pick a scenario, move parameters and rules, and watch the shares redraw."""

from __future__ import annotations

import streamlit as st

from sim.ui import common, controls, state


def _save_snapshot() -> None:
    name = (st.session_state.get("w:save_name") or "").strip() or f"Saved {len(st.session_state['saved']) + 1}"
    st.session_state["saved"][name] = state.settings()
    st.session_state["saved_msg"] = name


def _render() -> None:
    base, _ = common.page_start("explore")
    controls.sidebar(base)
    st.title("Explore")
    top = st.container()
    c1, c2, c3 = st.columns([3, 1.2, 2], vertical_alignment="bottom")
    with c1:
        basis = common.basis_picker()
    with c2:
        show_obs = common.observed_toggle()
    results = st.container()  # chart, rule list and downloads: filled once the rules below are read
    s0 = state.settings()
    if "w:timeline" not in st.session_state:
        st.session_state["w:timeline"] = bool(st.session_state.get("_timeline") or s0.off or s0.moved)
    if st.toggle("Rule timeline: switch rules off or move them", key="w:timeline"):
        with st.container(border=True):
            st.caption("Each dated rule of the scenario. Untick to switch it off; pick a month to move it "
                       "(its announcement moves by the same number of months).")
            controls.event_controls(base)
    st.session_state["_timeline"] = st.session_state["w:timeline"]
    s = state.settings()
    with c3:
        st.caption(common.settings_summary(base, s))
    ens = common.run_current()
    if ens is None:
        return
    sc = state.current_scenario()
    with top:
        common.headline_metrics(ens, basis)
    with results:
        chart = common.main_chart(ens, sc, basis, show_obs,
                                  title=f"Share by vendor: {state.scenario_label(s.scenario)}")
        common.show_chart(chart, key="explore_chart")
        common.rules_caption(sc)
        common.downloads(ens, base, s, chart)
    with st.expander("Save these settings for Compare"):
        st.text_input("Name", key="w:save_name", placeholder="e.g. cheaper Ascend")
        st.button("Save", on_click=_save_snapshot, key="w:save")
        if st.session_state.get("saved_msg"):
            st.success(f"Saved as “{st.session_state['saved_msg']}”. Open Compare to set it against other settings.")


render = common.syncing_url(_render)
