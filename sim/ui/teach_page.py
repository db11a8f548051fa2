"""Teach: lesson presets, a month-by-month step-through with narrative, and predict-then-reveal checkpoints."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from sim.ui import common, controls, state
from sim.ui import teach_content as T


def _apply_lesson() -> None:
    lid = st.session_state["v:lesson"] or T.LESSONS[0].id
    ls = T.lesson(lid)
    cur = state.settings()
    base = state.base_scenario(ls.scenario)
    state.set_settings(ls.settings(base, cur.seeds, cur.bands))
    state.set_view(lesson=lid, month="")
    state.clear_widgets()
    st.session_state.pop("v:month", None)


def _step(direction: int, months: list[str], marks: list[str]) -> None:
    cur = st.session_state.get("v:month") or months[0]
    st.session_state["v:month"] = T.step(months, marks, cur, direction)


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
            state.set_settings(ls.settings(state.base_scenario(ls.scenario), s.seeds, s.bands))
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
        if T.lesson(lid).settings(state.base_scenario(T.lesson(lid).scenario), s.seeds, s.bands) != s:
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
    st.caption("Write down your guesses before you look at the model: each answer is revealed once you have "
               "made a guess.")
    cols = st.columns(len(T.CHECKPOINTS))
    tag = lid or "free"
    for col, cp in zip(cols, T.CHECKPOINTS):
        with col, st.container(border=True, key=f"cp-{cp.id}"):
            _checkpoint(cp, tag, ens)

    st.subheader("2 · Step through, month by month")
    stops = T.step_stops(months, marks)
    # the buttons on a row of their own (full labels at any width), the month slider under them, then the chart
    with st.container(horizontal=True, vertical_alignment="center", key="teach-steps"):
        st.button("Previous rule", on_click=_step, args=(-1, months, marks), key="w:prev",
                  icon=":material/chevron_left:", help="Back to the previous rule's month (in even steps of at most "
                                                       "a year where rules are far apart).")
        st.button("Next rule", on_click=_step, args=(1, months, marks), key="w:next", icon=":material/chevron_right:",
                  icon_position="right", help="On to the next rule's month; after the last rule, even steps of at "
                                              f"most {T.STEP_EVERY} months to the end.")
        cur = st.session_state.get("v:month") or months[0]
        n_rules = sum(1 for m in marks if m <= cur)
        st.caption(f"Stop {stops.index(cur) + 1 if cur in stops else '–'} of {len(stops)} · "
                   f"{n_rules} of {len(marks)} rule months passed")
    month = st.select_slider("Month", months, key="v:month")
    if month != v.month:
        state.set_view(month=month)
    now = pd.Timestamp(month + "-01")
    basis = v.basis
    chart = common.main_chart(ens, sc, basis, v.observed, title=f"Up to {month}", height=340, now=now, upto=now)
    left, right = st.columns([3, 2], gap="medium")
    with left:
        common.show_chart(chart, key="teach_chart")
        st.caption(common.month_shares(ens, month))
    with right:
        story = T.narrative(sc, ens, month)
        for para in story.paragraphs:
            st.markdown(para)
        if story.notes:
            st.caption("**Sources**\n\n" + "\n".join(f"{n}. {text}" for n, text in story.notes))
    st.caption(common.settings_summary(base, s))


def _checkpoint(cp: T.Checkpoint, tag: str, ens) -> None:
    """One checkpoint: the question, a guess (empty until the student makes one) and the reveal."""
    st.markdown(f"**{cp.question}**")
    gk, rk = f"g:{tag}:{cp.id}", f"r:{tag}:{cp.id}"
    if cp.kind == "share":
        pct = st.number_input("Your guess (%)", min_value=0, max_value=100, value=None, step=5, key=gk,
                              placeholder="e.g. 40")
        guess = None if pct is None else pct / 100
    else:
        guess = st.selectbox("Your guess", [str(y) for y in range(2022, 2031)] + [T.NOT_BY], index=None, key=gk,
                             placeholder="Pick a year")
    if st.button("Reveal", key=f"b:{tag}:{cp.id}", disabled=guess is None,
                 help="Make a guess first." if guess is None else "Show the model's answer."):
        st.session_state[rk] = True
    if guess is None:
        st.caption("Make a guess to reveal the model's answer.")
        return
    if st.session_state.get(rk):
        model = T.answer(cp, ens)
        st.metric("The model", f"{model:.0%}" if cp.kind == "share" else model)
        st.write(T.verdict(cp, guess, model))
        st.caption(cp.observed)
