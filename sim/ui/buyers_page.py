"""Buyers: procurement mix, stockpile runway, domestic fraction, unmet demand and why buyers switched."""

from __future__ import annotations

import numpy as np
import pandas as pd
import streamlit as st

from sim import charts
from sim.engine import ensemble as E
from sim.model.ids import BUYERS, TIERS
from sim.ui import common, controls, explain, state


def _pick(label: str, options, field: str, key: str, fmt=str):
    v = state.view()
    cur = getattr(v, field)
    if key not in st.session_state:
        st.session_state[key] = cur if cur in options else options[0]
    val = st.selectbox(label, options, key=key, format_func=fmt)
    if val != cur:
        state.set_view(**{field: val})
    return val


def runway_frame(ens: E.Ensemble, buyer: str) -> pd.DataFrame:
    """Months of demand the unopened stockpile covers: its compute (``stockpile_compute``, A100-equivalents)
    over the buyer's monthly compute demand."""
    stock = ens.series(buyer, "stockpile_compute")
    demand = ens.series(buyer, "demand_compute")
    return _band(ens, np.divide(stock, demand, out=np.zeros_like(stock), where=demand > 0), "Runway")


def efficiency_frame(ens: E.Ensemble, buyer: str) -> pd.DataFrame:
    """The buyer's software-efficiency multiplier (more work from the chips it has when short of compute)."""
    return _band(ens, ens.series(buyer, "efficiency"), "Efficiency")


CARDS_COMPUTE = ("cards", "compute")
SHARE_COLORS = {"cards": "#555555", "compute": charts.AGGREGATE_COLORS["Domestic"]}


def domestic_shares(ens: E.Ensemble, buyer: str) -> dict[str, np.ndarray]:
    """The domestic vendors' share of the legal cards and of the compute delivered to ``buyer``, (runs, months)
    each: both, so that a shift in one never hides behind the other."""
    return {"cards": E.domestic_delivered(ens, buyer, "units"), "compute": E.domestic_delivered(ens, buyer, "compute")}


def _band(ens: E.Ensemble, x: np.ndarray, name: str) -> pd.DataFrame:
    q = np.quantile(x, [0.05, 0.95], axis=0)
    return pd.DataFrame({"date": ens.months, "series": name, "value": x.mean(axis=0), "lo": q[0], "hi": q[1]})


def _render() -> None:
    base, _ = common.page_start("buyers")
    controls.sidebar(base)
    st.title("Buyers")
    c1, c2, c3 = st.columns([1, 1, 2], vertical_alignment="bottom")
    with c1:
        buyer = _pick("Buyer", list(BUYERS), "buyer", "v:buyer")
    with c2:
        tier = _pick("Workload tier (for the decision trace)", list(TIERS), "tier", "v:tier",
                     fmt=lambda t: t.replace("_", " "))
    s = state.settings()
    with c3:
        st.caption(common.settings_summary(base, s))
    ens = common.run_current()
    if ens is None:
        return

    st.subheader(f"{buyer}: procurement mix")
    left, right = st.columns(2)
    with left:
        mix = E.origin_mix(ens, buyer)
        st.markdown("**Domestic share of new compute chosen, by workload tier**")
        common.show_altair(charts.mix_chart(mix),
                        key="mix_chart")
        st.caption("Inference and low-priority work usually move first; frontier training last.")
    with right:
        st.markdown("**Domestic share of deliveries**, of cards and of compute (mean of the runs; band: middle 90% "
                    "of runs)")
        d = pd.concat([_band(ens, x, name) for name, x in domestic_shares(ens, buyer).items()], ignore_index=True)
        common.show_altair(charts.lines_chart(d, "Domestic share of deliveries", "Share of", SHARE_COLORS, fmt="%",
                                              y_domain=[0, 1]), width="stretch", key="domfrac_chart")

    left, right = st.columns(2)
    with left:
        rw = runway_frame(ens, buyer)
        st.markdown("**Stockpile runway** (unopened cards bought ahead)")
        common.show_altair(charts.lines_chart(rw, "Months of demand in the stockpile", "Series",
                        {"Runway": "#332288"}, fmt=".1f"),
                        key="runway_chart")
        st.caption("The unopened stockpile's compute ÷ the buyer's monthly compute demand. Tencent said in "
                   "Nov 2023 that its stockpile was large, and in May 2025 that it would last 'a few more "
                   "generations' of models.")
    with right:
        unmet = ens.series(buyer, "unmet_compute")
        dem = ens.series(buyer, "demand_compute")
        share = np.divide(unmet, dem, out=np.zeros_like(unmet), where=dem > 0)
        st.markdown("**Unmet demand** (compute wanted but not bought)")
        common.show_altair(charts.lines_chart(_band(ens, share, "Unmet"), "Unmet share of compute demand", "Series",
                        {"Unmet": "#CC6677"}, fmt="%"),
                        key="unmet_chart")

    st.markdown("**Using the chips more efficiently** (software-efficiency multiplier of the compute installed)")
    common.show_altair(charts.lines_chart(efficiency_frame(ens, buyer), "Efficiency multiplier", "Series",
                                          {"Efficiency": "#117733"}, fmt=".2f", height=200), key="efficiency_chart")
    st.caption("A buyer short of compute gets more work from the chips it has (efficiency.max, efficiency.rate): "
               "Tencent's response to the 2023 rules was to 'make usage of our AI chips more efficient' and "
               "move inference to lower-end chips (docs/ODD.md, 7.9).")

    st.subheader(f"Why {buyer} switched: {tier.replace('_', ' ')} work")
    terms = E.term_differences(ens, buyer, tier)
    st.info(explain.switch_story(terms, buyer, tier))
    long = terms.melt(id_vars=["date"], value_vars=list(explain.TERM_WORDS), var_name="term", value_name="value")
    st.markdown("**Utility terms, domestic minus foreign** (mean of the runs; above zero favours domestic chips)")
    common.show_altair(charts.terms_chart(long),
                    key="terms_chart")
    sh = terms[["date", "domestic_share", "domestic_share_unconstrained"]].melt(
        id_vars=["date"], var_name="series", value_name="value")
    st.markdown("**The resulting split** between domestic and foreign chips")
    sh["series"] = sh["series"].map({"domestic_share": "after floors and blocks",
                                     "domestic_share_unconstrained": "by choice alone"})
    common.show_altair(charts.lines_chart(sh, "Domestic share of the choice", "Split",
                                       {"after floors and blocks": charts.AGGREGATE_COLORS["Domestic"],
                                        "by choice alone": "#999999"}, fmt="%", y_domain=[0, 1],
                                       height=200), key="split_chart")
    with st.expander("All buyers: domestic share of deliveries, of cards and of compute"):
        shares = {b: domestic_shares(ens, b) for b in BUYERS}
        for col, name in zip(st.columns(2), CARDS_COMPUTE):
            rows = [pd.DataFrame({"date": ens.months, "series": b, "value": shares[b][name].mean(axis=0)})
                    for b in BUYERS]
            with col:
                common.show_altair(charts.lines_chart(pd.concat(rows, ignore_index=True),
                                                      f"Domestic share of {name} delivered", "Buyer",
                                                      charts.BUYER_COLORS, fmt="%", y_domain=[0, 1]),
                                   key=f"allbuyers_chart_{name}")


render = common.syncing_url(_render)
