"""Teach: lesson presets, a month-by-month step-through with narrative, and predict-then-reveal checkpoints."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from sim.ui import common, controls, state
from sim.ui import teach_content as T


def _apply_lesson() -> None:
    lid = st.session_state["v:lesson"] or T.LESSONS[0].id
    ls = T.lesson(lid)
    seeds = state.settings().seeds
    base = state.base_scenario(ls.scenario)
    state.set_settings(ls.settings(base, seeds))
    state.set_view(lesson=lid, month="")
    state.clear_widgets()
    st.session_state.pop("v:month", None)


def _step(direction: int, months: list[str], marks: list[str]) -> None:
    cur = st.session_state.get("v:month") or months[0]
    if direction > 0:
        nxt = [m for m in marks if m > cur]
        st.session_state["v:month"] = nxt[0] if nxt else months[-1]
    else:
        prv = [m for m in marks if m < cur]
        st.session_state["v:month"] = prv[-1] if prv else months[0]


def render() -> None:
    try:
        with state.drawing():   # other sessions' background seeds wait while this page draws
            _render()
    finally:
        # The URL changes only once the results are drawn: a copied link never runs ahead of the page.
        state.sync_url()
    state.finish_pending()


def _lesson_from_link() -> None:
    """A link that names a lesson but no settings of its own (e.g. ``/teach?lesson=rules-2022``) opens with
    the lesson's preset."""
    ss = st.session_state
    if ss.get("_lesson_link_checked"):
        return
    ss["_lesson_link_checked"] = True
    v, s = state.view(), state.settings()
    if v.lesson in T.LESSON_IDS and not s.n_changes:
        ls = T.lesson(v.lesson)
        if s.scenario in (ls.scenario, "history"):
            state.set_settings(ls.settings(state.base_scenario(ls.scenario), s.seeds))
            state.clear_widgets()


def _render() -> None:
    base, _ = common.page_start("teach")
    _lesson_from_link()
    base = state.base_scenario(state.settings().scenario)
    v = state.view()
    st.title("Teach")
    if "v:lesson" not in st.session_state:
        st.session_state["v:lesson"] = v.lesson if v.lesson in T.LESSON_IDS else None
    lid = st.segmented_control("Lesson", T.LESSON_IDS, key="v:lesson", on_change=_apply_lesson,
                               format_func=lambda i: T.lesson(i).title,
                               help="A preset sets the scenario and switches rules off; the Explore page shows "
                                    "the same settings.")
    controls.sidebar(base, params=False)
    s = state.settings()
    if lid:
        st.markdown(f"#### {T.lesson(lid).question}")
        if T.lesson(lid).settings(state.base_scenario(T.lesson(lid).scenario), s.seeds) != s:
            st.caption("The settings no longer match this lesson's preset (pick the lesson again to restore it).")
    else:
        st.caption("Pick a lesson to start, or step through the current settings.")
    ens = common.run_current()
    if ens is None:
        return
    sc = state.current_scenario()
    months = sc.months
    marks = T.rule_months(sc)
    if "v:month" not in st.session_state:
        st.session_state["v:month"] = v.month if v.month in months else (marks[0] if marks else months[0])

    st.subheader("1 · Predict")
    st.caption("Write down your guesses before you look at the model.")
    cols = st.columns(len(T.CHECKPOINTS))
    tag = lid or "free"
    for col, cp in zip(cols, T.CHECKPOINTS):
        with col, st.container(border=True):
            st.markdown(f"**{cp.question}**")
            gk, rk = f"g:{tag}:{cp.id}", f"r:{tag}:{cp.id}"
            if cp.kind == "share":
                guess = st.slider("Your guess", 0, 100, 50, 5, format="%d%%", key=gk) / 100
            else:
                guess = st.selectbox("Your guess", [str(y) for y in range(2022, 2031)] + [T.NOT_BY], key=gk)
            if st.button("Reveal", key=f"b:{tag}:{cp.id}"):
                st.session_state[rk] = True
            if st.session_state.get(rk):
                model = T.answer(cp, ens)
                if cp.kind == "share":
                    st.metric("Model", f"{model:.0%}", delta=f"{100 * (model - guess):+.0f} pts vs your guess",
                              delta_color="off")
                else:
                    st.metric("Model", model)
                st.write(T.verdict(cp, guess, model))
                st.caption(cp.observed)

    st.subheader("2 · Step through, month by month")
    c1, c2, c3 = st.columns([1, 6, 1], vertical_alignment="bottom")
    with c1:
        st.button("◀ Previous rule", on_click=_step, args=(-1, months, marks), key="w:prev")
    with c2:
        month = st.select_slider("Month", months, key="v:month")
    with c3:
        st.button("Next rule ▶", on_click=_step, args=(1, months, marks), key="w:next")
    if month != v.month:
        state.set_view(month=month)
    now = pd.Timestamp(month + "-01")
    basis = v.basis
    chart = common.main_chart(ens, sc, basis, v.observed, title=f"Up to {month}", height=340, now=now, upto=now)
    left, right = st.columns([3, 2])
    with left:
        common.show_chart(chart, key="teach_chart")
    with right:
        for para in T.narrative(sc, ens, month):
            st.markdown(para)
    st.caption(common.settings_summary(base, s))
