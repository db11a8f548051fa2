"""Input controls generated from the parameter definitions and the scenario's events.

Widgets are seeded from the session's settings and write back into them, so the settings survive page
switches (Streamlit forgets the state of widgets that are not drawn) and drive the URL.
"""

from __future__ import annotations

import math
from dataclasses import replace

import streamlit as st

from sim import labels
from sim.model.params import PARAMS, Param
from sim.model.scenario import Scenario, ScenarioError, list_scenarios
from sim.ui import state
from sim.ui.explain import source_markdown
from sim.ui.settings import BANDS, SEEDS_MAX, SEEDS_MIN, UPLOAD_PREFIX, Settings, base_value

# Actor groups of the parameter table (the Model page filters by them).
GROUPS = {"US": "US", "China": "China", "vendors": "Vendors", "buyers": "Buyers", "market": "Market"}


def short_help(p: Param) -> str:
    """The help text of a control: meaning, units, model name, bounds and source."""
    lo, hi = p.prior
    parts = [p.help or p.name, f"Units: {p.units}." if p.units not in ("-", "") else "",
             f"Name in scenario files and links: `{p.name}`.",
             f"Bounds {p.lo:g} to {p.hi:g}; plausible range {lo:g} to {hi:g}.",
             "Fitted by calibration." if p.calibrate else "", f"Source: {source_markdown(p.source)}"]
    return "\n\n".join(x for x in parts if x)


def _step(p: Param) -> float:
    span = p.hi - p.lo
    step = float(10.0 ** math.floor(math.log10(span / 200))) if span > 0 else 1.0
    for _ in range(6):
        if abs(((p.default - p.lo) / step) - round((p.default - p.lo) / step)) < 1e-6:
            break
        step /= 10
    return step


def _fmt(step: float) -> str:
    d = max(0, -math.floor(math.log10(step) + 1e-9))
    return f"%.{d}f"


def use_slider(p: Param) -> bool:
    lo, hi = p.prior
    return (hi - lo) >= 0.2 * (p.hi - p.lo) and p.hi - p.lo <= 1000


def param_widget(p: Param, key: str) -> None:
    label = labels.label(p.name)
    h = short_help(p)
    if p.kind == "bool":
        st.toggle(label, key=key, help=h)
    elif p.kind == "int":
        st.slider(label, min_value=int(p.lo), max_value=int(p.hi), step=1, key=key, help=h)
    elif use_slider(p):
        step = _step(p)
        st.slider(label, min_value=float(p.lo), max_value=float(p.hi), step=step, key=key, help=h,
                  format=_fmt(step))
    else:
        step = _step(p)
        st.number_input(label, min_value=float(p.lo), max_value=float(p.hi), step=step, key=key, help=h,
                        format=_fmt(step))


def _coerce(p: Param, v):
    if p.kind == "bool":
        return bool(v)
    if p.kind == "int":
        return int(v)
    return float(v)


def _on_scenario_change() -> None:
    new = st.session_state["w:scenario"]
    s = state.settings()
    if new != s.scenario:
        state.set_settings(Settings(scenario=new, seeds=s.seeds, bands=s.bands))
        state.clear_widgets()


def _reset_changes() -> None:
    s = state.settings()
    state.set_settings(Settings(scenario=s.scenario, seeds=s.seeds, bands=s.bands))
    state.clear_widgets()


def scenario_picker() -> None:
    s = state.settings()
    opts = list_scenarios()
    ups = list(st.session_state.get("upload_names", {}))
    opts += [u for u in ups if u not in opts]
    if s.scenario not in opts:
        opts.append(s.scenario)
    if "w:scenario" not in st.session_state:
        st.session_state["w:scenario"] = s.scenario
    st.selectbox("Scenario", opts, key="w:scenario", format_func=state.scenario_label, on_change=_on_scenario_change,
                 help="The base scenario: a shipped scenario file (scenarios/*.toml) or one you uploaded.")


def upload_box() -> None:
    with st.expander("Upload a scenario file"):
        up = st.file_uploader("Scenario TOML (max 1 MB)", type=["toml"], key="w:upload", max_upload_size=1,
                              help="Checked exactly like `python -m sim run FILE`: it may extend a shipped scenario "
                                   "by name. Nothing in the file is executed.")
        ss = st.session_state
        if up is not None and ss.get("upload_done") != up.file_id:
            ss["upload_done"] = up.file_id
            ss.pop("upload_error", None)
            try:
                state.validate_upload(up.getvalue(), up.name)
            except ScenarioError as e:
                ss["upload_error"] = e.lines()
            else:
                key = state.store_upload(up.getvalue().decode("utf-8"))
                ss["upload_names"][key] = up.name
                cur = state.settings()
                state.set_settings(Settings(scenario=key, seeds=cur.seeds, bands=cur.bands))
                state.clear_widgets()
                st.rerun()
        if ss.get("upload_error"):
            st.error("The scenario file was not accepted:\n\n" + "\n".join(f"- `{x}`" for x in ss["upload_error"]))


def seeds_slider() -> None:
    s = state.settings()
    if "w:seeds" not in st.session_state:
        st.session_state["w:seeds"] = s.seeds
    st.slider("Runs in the ensemble", SEEDS_MIN, SEEDS_MAX, key="w:seeds",
              help="The model is run this many times with different random draws (seeds); lines show the mean "
                   "of the runs and bands the middle 90% of them (5–95%). More runs: smoother bands, slower "
                   "redraw. In links: `seeds=N`.")
    v = st.session_state["w:seeds"]
    if v != s.seeds:
        state.set_settings(replace(s, seeds=v))


def bands_control(base: Scenario) -> None:
    """What the bands carry: the runs' seed noise and the scenario's accepted parameter sets, or the seed
    noise only. Disabled (runs only) for a scenario that declares no parameter sets."""
    s = state.settings()
    n_sets = len(base.load_parameter_sets())
    key = "w:bands"
    if key not in st.session_state:
        st.session_state[key] = s.bands if n_sets else "seeds"
    st.radio("Bands", list(BANDS), key=key, format_func=BANDS.get, disabled=not n_sets,
             help=(f"**Runs and parameter uncertainty:** each run has its own random draws (seed) and one of the scenario's "
                   f"{n_sets or 'K'} accepted parameter sets (values from the calibration that fit the history "
                   "equally well, and the forward-looking assumptions drawn from their plausible ranges), so the "
                   "band shows how uncertain the projection is. **Runs only:** every run uses the scenario's own "
                   "values and the band shows the random draws alone (seed noise). Parameters you change in the "
                   "sidebar keep your value in every run. In links: `bands=seeds` for runs only."))
    if not n_sets:
        st.caption("This scenario declares no accepted parameter sets (`parameter_sets` in its file), so its "
                   "bands show the runs' random draws only.")
        return
    v = st.session_state[key]
    if v != s.bands:
        state.set_settings(replace(s, bands=v))


def _fmt_value(v) -> str:
    if isinstance(v, bool):
        return "on" if v else "off"
    return f"{v:,.0f}" if float(v).is_integer() and abs(v) >= 100 else f"{v:g}"


def parameter_controls(base: Scenario) -> None:
    """Controls for one group of parameters at a time (plain labels; the dotted name is in the help)."""
    s = state.settings()
    ss = st.session_state
    cur = s.param_dict
    if s.params:
        with st.container(border=True):
            st.markdown(f"**{len(s.params)} parameter(s) changed**")
            for k, v in s.params:
                st.caption(f"{labels.label(k)}: {_fmt_value(v)} (scenario: {_fmt_value(base_value(base, k))})",
                           help=f"`{k}`")
    if s.n_changes:
        st.button("Reset all changes", on_click=_reset_changes, key="w:reset", icon=":material/restart_alt:")
    groups = labels.by_group()
    names = list(groups)
    if ss.get("w:group") not in names:
        ss["w:group"] = ss.get("_group") if ss.get("_group") in names else names[0]
    group = st.selectbox("Parameters", names, key="w:group",
                         format_func=lambda g: f"{g} ({len(groups[g])})"
                         + (" · changed" if any(n in cur for n in groups[g]) else ""),
                         help="Parameters grouped by what they describe. Each control's ? gives its meaning, "
                              "units, name in scenario files and source.")
    ss["_group"] = group
    params = groups[group]
    subs = list(dict.fromkeys(k for k in (labels.sub_key(n) for n in params) if k))
    if subs:
        # buyers and chips: one item at a time keeps the sidebar short (and redraws fast)
        bkey = "w:block"
        if ss.get(bkey) not in subs:
            ss[bkey] = ss.get(f"_block:{group}") if ss.get(f"_block:{group}") in subs else subs[0]
        item = st.selectbox("Buyer" if group == "Individual buyers" else "Chip", subs, key=bkey,
                            format_func=lambda k: labels.sub_label(k)
                            + (" · changed" if any(labels.sub_key(n) == k and n in cur for n in params) else ""))
        ss[f"_block:{group}"] = item
        params = [n for n in params if labels.sub_key(n) == item]
    plist = [PARAMS[n] for n in params]
    for p in plist:
        key = f"p:{p.name}"
        if key not in ss:
            ss[key] = _coerce(p, cur.get(p.name, base_value(base, p.name)))
        param_widget(p, key)
    new = state.settings()
    for p in plist:
        key = f"p:{p.name}"
        if key in ss:
            new = new.with_param(p.name, _coerce(p, ss[key]), _coerce(p, base_value(base, p.name)))
    state.set_settings(new)


def sidebar(base: Scenario, params: bool = True) -> None:
    with st.sidebar:
        scenario_picker()
        desc = base.header.description
        if desc:
            st.caption(desc)
        upload_box()
        seeds_slider()
        bands_control(base)
        if params:
            st.divider()
            parameter_controls(base)


def _rule_line(e, n: str | None, moved_to: str | None) -> str:
    when = f"{moved_to} (moved from {e.effective})" if moved_to else e.effective
    num = f"**{n}**" if n else "·"
    return f"{num} · {when} · {e.actor} · {e.label or e.id}"


def event_controls(base: Scenario, nums: dict[str, str], height: int | None = None) -> None:
    """The numbered rules of the scenario beside the chart: untick one to switch it off; move one in time
    below the list. Numbers are those of the chart's rule marks."""
    s = state.settings()
    ss = st.session_state
    months = base.months
    off, moved = set(s.off), s.moved_dict
    new = s
    box = st.container(height=height, border=True) if height else st.container(border=True)
    with box:
        for e in sorted(base.events, key=lambda e: (nums.get(e.id) is None, int(nums.get(e.id, 0)), e.effective)):
            on_key = f"on:{e.id}"
            if on_key not in ss:
                ss[on_key] = e.id not in off
            n = nums.get(e.id)
            st.checkbox(_rule_line(e, n, moved.get(e.id)), key=on_key,
                        help=f"{e.words or e.kind} Announced {e.announced}, in force from {e.effective}"
                             f"{'' if n else ' (before the chart starts)'}.\n\n"
                             f"Source: {source_markdown(e.source) or 'not given'}"
                             f"\n\nId in scenario files and links: `{e.id}`")
            new = new.with_event(e.id, bool(ss[on_key]), moved.get(e.id, e.effective), e.effective)
    with st.expander("Move a rule in time"):
        ids = [e.id for e in sorted(base.events, key=lambda e: e.effective)]
        if ss.get("w:move_rule") not in ids:
            ss["w:move_rule"] = next(iter(moved), ids[0]) if ids else None
        lab = {e.id: f"{nums.get(e.id, '·')} · {e.label or e.id}" for e in base.events}
        eid = st.selectbox("Rule", ids, key="w:move_rule", format_func=lab.get)
        if eid:
            e = base.event(eid)
            mo_key = f"mo:{eid}"
            if mo_key not in ss:
                ss[mo_key] = moved.get(eid, e.effective)
            opts = months if e.effective in months else [e.effective] + months
            st.selectbox("In force from", opts, key=mo_key, disabled=eid in new.off,
                         help="Its announcement moves by the same number of months.")
            new = new.with_event(eid, eid not in new.off, ss[mo_key], e.effective)
    state.set_settings(new)


def is_upload(name: str) -> bool:
    return name.startswith(UPLOAD_PREFIX)
