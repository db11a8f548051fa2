"""Model: the ODD description and the parameter table with sources, beside the values a scenario runs."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import streamlit as st

from sim import labels
from sim.model.params import PARAMS, table
from sim.model.scenario import Scenario, ScenarioError, list_scenarios
from sim.ui import common, state
from sim.ui.controls import GROUPS
from sim.ui.settings import band_sets

ODD = Path(__file__).resolve().parents[2] / "docs" / "ODD.md"
CURRENT = "current"
SHOW = {"all": "All", "changed": "Differ from the default", "outside": "Outside the prior"}


def outside_prior(name: str, value) -> bool:
    """Whether a value lies outside its parameter's plausible range (the prior); switches never do."""
    p = PARAMS[name]
    if p.kind == "bool":
        return False
    lo, hi = p.prior
    return not lo <= float(value) <= hi


def scenario_table(sc: Scenario) -> pd.DataFrame:
    """The parameter table with the value ``sc`` runs beside the default and the prior, and flags for values
    that differ from the default and values outside the prior."""
    df = pd.DataFrame(table()).rename(columns={"value": "default", "range": "prior"})
    run = [sc.parameters.get(n, PARAMS[n].default) for n in df["name"]]
    df.insert(1, "runs", run)
    df.insert(1, "label", [labels.label(n) for n in df["name"]])
    df["outside prior"] = [outside_prior(n, v) for n, v in zip(df["name"], run)]
    df["changed"] = [v != PARAMS[n].default for n, v in zip(df["name"], run)]
    cols = ["name", "label", "runs", "default", "prior", "units", "outside prior", "changed", "calibrated", "bounds",
            "group", "help", "source"]
    return df[cols]


def flag_summary(df: pd.DataFrame) -> str:
    """One line: how many values differ from the default and how many lie outside their prior."""
    n_out, n_chg = int(df["outside prior"].sum()), int(df["changed"].sum())
    n_cal = int((df["changed"] & df["calibrated"]).sum())
    out = f"**{n_out} value{'' if n_out == 1 else 's'} outside {'its' if n_out == 1 else 'their'} prior**"
    chg = f"{n_chg} differ{'s' if n_chg == 1 else ''} from the default"
    if n_cal:
        chg += f" ({n_cal} of them fitted by calibration)"
    return f"{out} · {chg}"


def _scenario_label(choice: str, s) -> str:
    if choice == CURRENT:
        extra = f", {s.n_changes} change{'' if s.n_changes == 1 else 's'}" if s.n_changes else ""
        return f"Current settings ({state.scenario_label(s.scenario)}{extra})"
    return f"Scenario: {choice}"


def _chosen_scenario(choice: str) -> Scenario:
    return state.current_scenario() if choice == CURRENT else state.base_scenario(choice)


def render() -> None:
    common.page_start("model")
    state.sync_url()
    st.title("Model")
    odd, params = st.tabs(["Description (ODD)", "Parameters and sources"])
    with odd:
        if ODD.exists():
            st.markdown(ODD.read_text(encoding="utf-8"))
        else:
            st.info("The model description (docs/ODD.md) is not in this copy of the project. In short: buyers "
                    "(cloud providers, state compute, enterprises) split the compute they want each month "
                    "between foreign and domestic chips with a nested logit; vendors offer what capacity and the "
                    "rules allow; the US and China regulators apply dated rules from the scenario.")
    with params:
        _parameters()


def _parameters() -> None:
    s = state.settings()
    c0, c00 = st.columns([2, 2.2], vertical_alignment="bottom")
    with c0:
        choice = st.selectbox("Values run by", [CURRENT] + list_scenarios(), key="w:model_scenario",
                              format_func=lambda c: _scenario_label(c, s),
                              help="The current settings (the scenario and your changes on the other pages) or "
                                   "a shipped scenario as it is in scenarios/.")
    with c00:
        show = st.segmented_control("Show", list(SHOW), key="w:model_show", format_func=SHOW.get, default="all") \
            or "all"
    try:
        chosen = _chosen_scenario(choice)
        full = scenario_table(chosen)
        sets = band_sets(chosen, s)
    except ScenarioError as e:
        st.error("These settings do not make a valid scenario:\n\n" + "\n".join(f"- `{x}`" for x in e.lines()))
        return
    st.markdown(flag_summary(full))
    out = full[full["outside prior"]]
    if len(out):
        items = [f"{r.label} `{r.name}` = {r.runs:g} (prior {r.prior}{'' if r.changed else ', the default'})"
                 for r in out.itertuples()]
        st.warning("Outside the plausible range (the prior used for uncertainty): " + "; ".join(items)
                   + ". A fitted value outside its prior means the data pulled it there: read results that "
                     "depend on it with care.", icon=":material/warning:")
    df = full
    c1, c2, c3 = st.columns([1.3, 2, 1], vertical_alignment="bottom")
    with c1:
        groups = st.multiselect("Actor", list(GROUPS), default=[], key="w:model_groups",
                                format_func=GROUPS.get, placeholder="All actors")
    with c2:
        q = st.text_input("Search name, help or source", key="w:model_search", placeholder="e.g. huawei, IDC")
    with c3:
        cal = st.toggle("Calibrated only", key="w:model_cal")
    if show == "changed":
        df = df[df["changed"]]
    elif show == "outside":
        df = df[df["outside prior"]]
    if groups:
        df = df[df["group"].isin(groups)]
    if q:
        m = (df["name"].str.contains(q, case=False, regex=False) | df["help"].str.contains(q, case=False, regex=False)
             | df["source"].str.contains(q, case=False, regex=False)
             | df["label"].str.contains(q, case=False, regex=False))
        df = df[m]
    if cal:
        df = df[df["calibrated"]]
    st.caption(f"{len(df)} of {len(full)} parameters. *runs*: the value the chosen scenario runs; *default*: the "
               "sourced default; *prior*: the plausible range used for uncertainty bands and sampling; *bounds*: "
               "hard limits enforced on every input. *calibrated*: fitted by `python -m sim calibrate`."
               + (f" With *Bands: runs and parameter uncertainty* (in Explore's sidebar), the {len(sets[0])} "
                  f"parameters of the {len(sets)} accepted parameter sets take one set's value in each run instead "
                  "of *runs* (except those you changed)." if sets else ""))
    st.dataframe(df, hide_index=True, width="stretch", key="model_table",
                 column_config={"runs": st.column_config.Column("runs", help="The value the chosen scenario runs"),
                                "outside prior": st.column_config.CheckboxColumn(
                                    "outside prior", help="The value run lies outside the prior"),
                                "changed": st.column_config.CheckboxColumn(
                                    "changed", help="The value run differs from the default"),
                                "source": st.column_config.TextColumn(width="large"),
                                "help": st.column_config.TextColumn(width="medium")})
