"""Model: the ODD description and the parameter table with sources."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import streamlit as st

from sim.model.params import table
from sim.ui import common, state
from sim.ui.controls import GROUPS

ODD = Path(__file__).resolve().parents[2] / "docs" / "ODD.md"


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
        df = pd.DataFrame(table())
        c1, c2, c3 = st.columns([1.3, 2, 1], vertical_alignment="bottom")
        with c1:
            groups = st.multiselect("Actor", list(GROUPS), default=[], key="w:model_groups",
                                    format_func=GROUPS.get, placeholder="All actors")
        with c2:
            q = st.text_input("Search name, help or source", key="w:model_search", placeholder="e.g. huawei, IDC")
        with c3:
            cal = st.toggle("Calibrated only", key="w:model_cal")
        if groups:
            df = df[df["group"].isin(groups)]
        if q:
            m = (df["name"].str.contains(q, case=False, regex=False) | df["help"].str.contains(q, case=False, regex=False)
                 | df["source"].str.contains(q, case=False, regex=False))
            df = df[m]
        if cal:
            df = df[df["calibrated"]]
        st.caption(f"{len(df)} of {len(table())} parameters. Bounds are enforced on every input; the range is the "
                   "plausible span used for uncertainty.")
        st.dataframe(df, hide_index=True, width="stretch", key="model_table",
                     column_config={"source": st.column_config.TextColumn(width="large"),
                                    "help": st.column_config.TextColumn(width="medium")})
