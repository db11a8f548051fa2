"""ChipShift app entry point (placeholder page until the full app lands): history share chart."""

import altair as alt
import streamlit as st

from sim import run_scenario

st.set_page_config(page_title="ChipShift", layout="wide")
st.title("ChipShift: China's AI-accelerator market under sanctions")


@st.cache_data(max_entries=4)
def _run(name: str, seeds: int):
    return run_scenario(name, seeds=seeds).timeseries


ts = _run("history", 5)
d = ts[(ts["metric"] == "unit_share") & ts["entity"].isin(["Nvidia", "Huawei", "Domestic"])]
d = d.groupby(["date", "entity"], as_index=False)["value"].mean()
chart = alt.Chart(d).mark_line().encode(
    x=alt.X("date:T", title="Month"),
    y=alt.Y("value:Q", title="Unit share of legal shipments", axis=alt.Axis(format="%")),
    color=alt.Color("entity:N", title="Vendor"),
)
st.altair_chart(chart, width="stretch")
