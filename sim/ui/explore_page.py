"""Explore: pick a scenario, move parameters and rules, and watch the shares redraw."""

from __future__ import annotations

import streamlit as st

from sim.ui import common, controls, history, state

CHART_HEIGHT = 360


def _save_snapshot() -> None:
    name = (st.session_state.get("w:save_name") or "").strip() or f"Saved {len(st.session_state['saved']) + 1}"
    st.session_state["saved"][name] = state.settings()
    st.session_state["saved_msg"] = name


def _render() -> None:
    base, _ = common.page_start("explore")
    controls.sidebar(base)
    present = common.page_title("Explore")   # the switch's new state, in this very run
    top = st.container()
    what = st.container()
    c1, c2, c3 = st.columns([3, 1.2, 2], vertical_alignment="bottom")
    with c1:
        basis = common.basis_picker()
    with c2:
        show_obs = common.observed_toggle()
    nums = common.numbers(base)
    # The chart and the rule list side by side: ticking a rule never scrolls the chart away. In
    # presentation mode (and on a phone, where columns stack) the list comes under the chart.
    if present:
        chart_box, rules_box = st.container(), st.expander("Rules on the chart: switch off or move")
    else:
        chart_box, rules_box = st.columns([2.6, 1], gap="medium")
    with rules_box:
        if not present:
            st.markdown("**Rules on the chart**", help="Numbers match the marks on the chart. Untick a rule to "
                        "switch it off; move one in time under the list.")
        controls.event_controls(base, nums, height=None if present else CHART_HEIGHT + 170)
    s = state.settings()
    with c3:
        st.caption(common.settings_summary(base, s))
    ens = common.run_current()
    if ens is None:
        return
    sc = state.current_scenario()
    label = common.history_label(base, s)
    history.record(s, label, ens, common.MAIN_ENTITIES)
    prev = history.previous(s)
    with top:
        common.headline_metrics(ens, basis)
    with what:
        story = common.what_changed(base, s, ens, basis, prev)
    with chart_box:
        chart = common.main_chart(ens, sc, basis, show_obs, title=f"Share by vendor: {state.scenario_label(s.scenario)}",
                                  height=560 if present else CHART_HEIGHT,
                                  prev=prev["lines"][basis] if prev is not None else None, nums=nums)
        common.show_chart(chart, key="explore_chart")
        common.band_caption(ens, show_obs, basis)
    common.attribution_box(base, s, ens, basis, story)
    common.downloads(ens, base, s, chart)
    common.run_history_box(s)
    with st.expander("Save these settings for Compare"):
        st.text_input("Name", key="w:save_name", placeholder="e.g. cheaper Ascend")
        st.button("Save", on_click=_save_snapshot, key="w:save")
        if st.session_state.get("saved_msg"):
            st.success(f"Saved as “{st.session_state['saved_msg']}”. Open Compare to set it against other settings.")


render = common.syncing_url(_render)
