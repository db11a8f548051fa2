"""Compare: any two of the current settings, runs from the session's history, saved settings and shipped
scenarios (A and B)."""

from __future__ import annotations

import streamlit as st

from sim import charts
from sim.engine import ensemble as E
from sim.model.ids import VENDORS
from sim.model.scenario import ScenarioError, list_scenarios
from sim.ui import common, controls, diff, history, state
from sim.ui.settings import BASIS_LABELS, Settings, apply, with_pair

SAVED = "saved:"
CURRENT = "current"


def _options() -> list[str]:
    runs = [f"{history.PREFIX}{x['id']}" for x in history.entries()]
    return [CURRENT] + runs + [f"{SAVED}{k}" for k in st.session_state["saved"]] + list_scenarios()


def _label(o: str) -> str:
    if o == CURRENT:
        return "Current settings"
    if o.startswith(SAVED):
        return f"Saved: {o[len(SAVED):]}"
    if o.startswith(history.PREFIX):
        x = history.get(o)
        return f"Run {o[len(history.PREFIX):]}: {x['label']}" if x else f"Run {o[len(history.PREFIX):]} (gone)"
    return f"Scenario: {o}"


def _settings_of(choice: str, cur: Settings) -> Settings:
    if choice == CURRENT:
        return cur
    if choice.startswith(SAVED):
        return st.session_state["saved"][choice[len(SAVED):]]
    if choice.startswith(history.PREFIX):
        return history.get(choice)["settings"]
    return Settings(scenario=choice, seeds=cur.seeds, bands=cur.bands)


def _pick(label: str, field: str, key: str, default: str, opts: list[str], help: str) -> str:
    v = state.view()
    if key not in st.session_state:
        st.session_state[key] = getattr(v, field) if getattr(v, field) in opts else default
    choice = st.selectbox(label, opts, key=key, format_func=_label, help=help)
    if choice != getattr(v, field):
        state.set_view(**{field: choice})
    return choice


def _render() -> None:
    base, _ = common.page_start("compare")
    controls.sidebar(base)
    st.title("Compare")
    s = state.settings()
    opts = _options()
    help_ = ("The current settings, a run from this session's history (Explore keeps the last "
             f"{history.MAX_RUNS}), settings saved on Explore, or a shipped scenario (run with as many runs as "
             "the current settings).")
    c1, c2 = st.columns(2, vertical_alignment="bottom")
    with c1:
        ca = _pick("A", "compare_a", "v:compare_a", CURRENT, opts, help_)
    with c2:
        cb = _pick("B", "compare", "v:compare", "no-controls" if "no-controls" in opts else opts[-1], opts, help_)
    basis = common.basis_picker("v:basis_cmp")   # on a row of its own: its three options stay whole
    sa, sb = _settings_of(ca, s), _settings_of(cb, s)
    st.caption(f"A: {common.settings_summary(state.base_scenario(sa.scenario), sa)}  ·  "
               f"B: {common.settings_summary(state.base_scenario(sb.scenario), sb)}")
    bar = st.progress(0.0, text="Running A…")
    try:
        ea = state.ensemble(sa, "A")
        bar.progress(0.5, text="Running B…")
        eb = state.ensemble(sb, "B")
        sa_sc = apply(state.base_scenario(sa.scenario), sa)
        sb_sc = apply(state.base_scenario(sb.scenario), sb)
    except (ScenarioError, state.OverBudget) as e:
        bar.empty()
        st.error("\n".join(e.lines()))
        return
    bar.empty()

    st.dataframe(diff.headline_table([(E.headline(ea, b), E.headline(eb, b)) for b in with_pair(basis)]),
                 hide_index=True, width="content", key="cmp_headline")
    st.caption("Each share on the chosen basis, with the share of cards and of compute beside it: a two-die card "
               "or a cheap inference card moves one and not the other.")
    left, right = st.columns(2)
    with left:
        common.show_chart(common.main_chart(ea, sa_sc, basis, False, title=f"A: {_label(ca)}"[:70], height=320,
                                           nums=common.numbers(state.base_scenario(sa.scenario))), key="cmp_a")
    with right:
        common.show_chart(common.main_chart(eb, sb_sc, basis, False, title=f"B: {_label(cb)}"[:70], height=320,
                                           nums=common.numbers(state.base_scenario(sb.scenario))), key="cmp_b")
    d, paired = diff.paired_difference(ea, eb, basis, list(VENDORS))
    st.markdown(f"**B − A: {BASIS_LABELS[basis]} share by vendor** (same random draws in A and B; shaded: the middle "
                "90% of the paired differences)")
    common.show_altair(charts.difference_chart(d, basis), key="cmp_diff")
    if not paired:
        st.caption("A and B used different random draws or parameter sets (Bands in the sidebar), so only the "
                   "difference of the means is shown.")
    st.subheader("What differs")
    table = diff.scenario_diff(sa_sc, sb_sc)
    if table.empty:
        st.write("A and B are the same scenario.")
    else:
        st.dataframe(table, hide_index=True, width="stretch", key="cmp_table")


render = common.syncing_url(_render)
