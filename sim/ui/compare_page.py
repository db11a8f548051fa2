"""Compare: the current settings (A) against a shipped scenario or saved settings (B)."""

from __future__ import annotations

import streamlit as st

from sim import charts
from sim.engine import ensemble as E
from sim.model.ids import VENDORS
from sim.model.scenario import ScenarioError, list_scenarios
from sim.ui import common, controls, diff, state
from sim.ui.settings import BASIS_LABELS, Settings, apply

SAVED = "saved:"


def _options() -> list[str]:
    return [f"{SAVED}{k}" for k in st.session_state["saved"]] + list_scenarios()


def _label(o: str) -> str:
    return f"Saved: {o[len(SAVED):]}" if o.startswith(SAVED) else f"Scenario: {o}"


def _b_settings(choice: str, a: Settings) -> Settings:
    if choice.startswith(SAVED):
        return st.session_state["saved"][choice[len(SAVED):]]
    return Settings(scenario=choice, seeds=a.seeds)


def _render() -> None:
    base, _ = common.page_start("compare")
    controls.sidebar(base)
    st.title("Compare")
    s = state.settings()
    opts = _options()
    v = state.view()
    if "v:compare" not in st.session_state:
        st.session_state["v:compare"] = v.compare if v.compare in opts else ("no-controls" if "no-controls" in opts
                                                                             else opts[0])
    c1, c2, c3 = st.columns([2, 2, 2], vertical_alignment="bottom")
    with c1:
        st.markdown(f"**A: current settings**  \n{common.settings_summary(base, s)}")
    with c2:
        choice = st.selectbox("B", opts, key="v:compare", format_func=_label,
                              help="A shipped scenario (same number of seeds as A) or settings saved on Explore.")
    with c3:
        basis = common.basis_picker("v:basis_cmp")
    if choice != v.compare:
        state.set_view(compare=choice)
    sb = _b_settings(choice, s)
    bar = st.progress(0.0, text="Running A…")
    try:
        ea = state.ensemble(s, "A")
        bar.progress(0.5, text="Running B…")
        eb = state.ensemble(sb, "B")
        sa_sc = state.current_scenario()
        sb_sc = apply(state.base_scenario(sb.scenario), sb)
    except (ScenarioError, state.OverBudget) as e:
        bar.empty()
        st.error("\n".join(e.lines()))
        return
    bar.empty()

    st.dataframe(diff.headline_table(E.headline(ea, basis), E.headline(eb, basis)), hide_index=True,
                 width="content", key="cmp_headline")
    left, right = st.columns(2)
    with left:
        common.show_chart(common.main_chart(ea, sa_sc, basis, False, title="A: current settings", height=360),
                          key="cmp_a")
    with right:
        common.show_chart(common.main_chart(eb, sb_sc, basis, False, title=f"B: {_label(choice)}", height=360),
                          key="cmp_b")
    d, paired = diff.paired_difference(ea, eb, basis, list(VENDORS))
    st.markdown(f"**B − A: {BASIS_LABELS[basis]} share by vendor** (same seeds in A and B; shaded: 5-95% of the "
                "paired differences)")
    st.altair_chart(charts.difference_chart(d, basis),
                    width="stretch", key="cmp_diff")
    if not paired:
        st.caption("A and B used different seeds, so only the difference of the means is shown.")
    st.subheader("What differs")
    table = diff.scenario_diff(sa_sc, sb_sc)
    if table.empty:
        st.write("A and B are the same scenario.")
    else:
        st.dataframe(table, hide_index=True, width="stretch", key="cmp_table")


render = common.syncing_url(_render)
