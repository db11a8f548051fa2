"""Input controls generated from the parameter definitions and the scenario's events.

Widgets are seeded from the session's settings and write back into them, so the settings survive page
switches (Streamlit forgets the state of widgets that are not drawn) and drive the URL.
"""

from __future__ import annotations

import math

import streamlit as st

from sim.model.params import PARAMS, Param
from sim.model.scenario import Scenario, ScenarioError, list_scenarios
from sim.ui import state
from sim.ui.settings import SEEDS_MAX, SEEDS_MIN, UPLOAD_PREFIX, Settings, base_value

GROUPS = {"US": "US", "China": "China", "vendors": "Vendors", "buyers": "Buyers", "market": "Market"}


def short_help(p: Param) -> str:
    lo, hi = p.prior
    parts = [p.help or p.name, f"Units: {p.units}." if p.units not in ("-", "") else "",
             f"Bounds {p.lo:g} to {p.hi:g}; plausible range {lo:g} to {hi:g}.",
             "Fitted by calibration." if p.calibrate else "", f"Source: {p.source}"]
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
    label = p.name + (f" ({p.units})" if p.units not in ("-", "") else "")
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


def _params_of_group(group: str, product: str | None) -> list[Param]:
    out = []
    for name, p in PARAMS.items():
        if p.group != group:
            continue
        if name.startswith("products."):
            if product is None or name.split(".")[1] != product:
                continue
        out.append(p)
    return out


def _prefix(name: str) -> str:
    parts = name.split(".")
    return ".".join(parts[:2]) if parts[0] in ("buyers", "capacity", "products") and len(parts) > 2 else parts[0]


def _on_scenario_change() -> None:
    new = st.session_state["w:scenario"]
    s = state.settings()
    if new != s.scenario:
        state.set_settings(Settings(scenario=new, seeds=s.seeds))
        state.clear_widgets()


def _reset_changes() -> None:
    s = state.settings()
    state.set_settings(Settings(scenario=s.scenario, seeds=s.seeds))
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
                state.set_settings(Settings(scenario=key, seeds=cur.seeds))
                state.clear_widgets()
                st.rerun()
        if ss.get("upload_error"):
            st.error("The scenario file was not accepted:\n\n" + "\n".join(f"- `{x}`" for x in ss["upload_error"]))


def seeds_slider() -> None:
    s = state.settings()
    if "w:seeds" not in st.session_state:
        st.session_state["w:seeds"] = s.seeds
    st.slider("Seeds in the ensemble", SEEDS_MIN, SEEDS_MAX, key="w:seeds",
              help="Replicates with different random draws; bands show the 5-95% range across them. "
                   "More seeds: smoother bands, slower redraw.")
    v = st.session_state["w:seeds"]
    if v != s.seeds:
        state.set_settings(Settings(s.scenario, s.params, s.off, s.moved, v))


def parameter_controls(base: Scenario) -> None:
    """Sliders and inputs for one actor's parameters at a time."""
    s = state.settings()
    ss = st.session_state
    if s.params:
        with st.container(border=True):
            st.markdown(f"**{len(s.params)} parameter(s) changed**")
            for k, v in s.params:
                st.caption(f"`{k}` = {v:g} (scenario: {base_value(base, k):g})" if not isinstance(v, bool)
                           else f"`{k}` = {v} (scenario: {base_value(base, k)})")
    if s.n_changes:
        st.button("Reset all changes", on_click=_reset_changes, key="w:reset", icon=":material/restart_alt:")
    if "w:group" not in ss:
        ss["w:group"] = ss.get("_group", "US")
    group = st.segmented_control("Parameters by actor", list(GROUPS), key="w:group",
                                 format_func=GROUPS.get) or "US"
    ss["_group"] = group
    product = None
    if group == "vendors":
        prods = sorted({n.split(".")[1] for n in PARAMS if n.startswith("products.")})
        product = st.selectbox("Product specifications", prods, key="w:product",
                               help="Performance, price and power of one product (sim/model/data/products.toml).")
    params = _params_of_group(group, product)
    cur = s.param_dict
    by_prefix: dict[str, list[Param]] = {}
    for p in params:
        by_prefix.setdefault(_prefix(p.name), []).append(p)
    blocks = list(by_prefix)
    if len(blocks) > 1:
        # One block of sliders at a time keeps the page light (fast redraws); changed blocks are marked.
        bkey = "w:block"  # one element for every group: no stale copy while the page reruns
        if bkey not in ss or ss[bkey] not in blocks:
            ss[bkey] = ss.get(f"_block:{group}") if ss.get(f"_block:{group}") in blocks else blocks[0]
        block = st.selectbox("Parameter block", blocks, key=bkey,
                             format_func=lambda b: f"{b} ({len(by_prefix[b])})"
                             + (" · changed" if any(p.name in cur for p in by_prefix[b]) else ""))
        ss[f"_block:{group}"] = block
    else:
        block = blocks[0]
    params = by_prefix[block]
    for p in params:
        key = f"p:{p.name}"
        if key not in ss:
            ss[key] = _coerce(p, cur.get(p.name, base_value(base, p.name)))
        param_widget(p, key)
    new = state.settings()
    for p in params:
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
        if params:
            st.divider()
            parameter_controls(base)


def event_controls(base: Scenario) -> None:
    """The rule timeline: switch each dated rule off or move it to another month."""
    s = state.settings()
    ss = st.session_state
    months = base.months
    off, moved = set(s.off), s.moved_dict
    new = s
    for e in base.events:
        on_key, mo_key = f"on:{e.id}", f"mo:{e.id}"
        if on_key not in ss:
            ss[on_key] = e.id not in off
        if mo_key not in ss:
            ss[mo_key] = moved.get(e.id, e.effective)
        opts = months if e.effective in months else [e.effective] + months
        c1, c2 = st.columns([4, 1.3], vertical_alignment="center")
        with c1:
            st.checkbox(f"**{e.effective}** · {e.actor} · {e.label or e.id}", key=on_key,
                        help=f"`{e.id}` ({e.kind}); announced {e.announced}, effective {e.effective}.\n\n"
                             f"Source: {e.source or 'not given'}")
        with c2:
            st.selectbox("Effective month", opts, key=mo_key, label_visibility="collapsed",
                         disabled=not ss[on_key], help="Move the rule (its announcement moves with it).")
        new = new.with_event(e.id, bool(ss[on_key]), ss[mo_key], e.effective)
    state.set_settings(new)


def is_upload(name: str) -> bool:
    return name.startswith(UPLOAD_PREFIX)
