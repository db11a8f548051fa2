"""Charts of the analyses (Altair, tidy frames in, no streamlit): tornado, PRIM trade-off and box, waterfall,
regret. ``sim.charts.to_image`` exports any of them as PNG or SVG."""

from __future__ import annotations

import altair as alt
import pandas as pd

from sim.analysis.sensitivity import NOISE

BAR, ACCENT, NOISE_COLOR = "#4477AA", "#EE6677", "#999999"


def tornado(table: pd.DataFrame, outcome: str, width: int | str = "container") -> alt.Chart:
    """Sensitivity indices per parameter, largest on top, with confidence intervals and the seed-noise level.
    Sobol: total (ST) and first-order (S1) indices; Morris: mu* (with sigma as a tick)."""
    t = table[table["outcome"] == outcome]
    idx = set(t["index"])
    sobol = "ST" in idx
    main, second = ("ST", "S1") if sobol else ("mu_star", "sigma")
    noise_key = "variance_share" if sobol else "ee_noise"
    p = t[t["parameter"] != NOISE]
    order = p[p["index"] == main].sort_values("value", ascending=False)["parameter"].tolist()
    d = p[p["index"].isin([main, second])].copy()
    d["lo"] = d["value"] - d["conf"].fillna(0)
    d["hi"] = d["value"] + d["conf"].fillna(0)
    names = {"ST": "total (ST)", "S1": "first order (S1)", "mu_star": "mu*", "sigma": "sigma"}
    d["index"] = d["index"].map(names)
    y = alt.Y("parameter:N", sort=order, title=None)
    x_title = "Sobol index (share of output variance)" if sobol else f"Morris mu* ({outcome} per full range)"
    bars = alt.Chart(d[d["index"] == names[main]]).mark_bar(color=BAR).encode(
        x=alt.X("value:Q", title=x_title), y=y,
        tooltip=["parameter", "index", alt.Tooltip("value:Q", format=".3g"), alt.Tooltip("conf:Q", format=".3g")])
    err = alt.Chart(d).mark_rule(color="#222222").encode(x="lo:Q", x2="hi:Q", y=y,
                                                           yOffset=alt.YOffset("index:N") if sobol else alt.value(0))
    layers = [bars]
    if sobol:
        bars = alt.Chart(d).mark_bar().encode(
            x=alt.X("value:Q", title=x_title), y=y, yOffset="index:N",
            color=alt.Color("index:N", title="Index", scale=alt.Scale(range=[BAR, ACCENT]),
                            legend=alt.Legend(orient="bottom")),
            tooltip=["parameter", "index", alt.Tooltip("value:Q", format=".3g"), alt.Tooltip("conf:Q", format=".3g")])
        layers = [bars, err]
    else:
        ticks = alt.Chart(d[d["index"] == "sigma"]).mark_tick(color=ACCENT, thickness=3).encode(
            x="value:Q", y=y, tooltip=["parameter", alt.Tooltip("value:Q", format=".3g", title="sigma")])
        layers = [bars, err, ticks]
    nz = t[(t["parameter"] == NOISE) & (t["index"] == noise_key)]["value"]
    if len(nz) and pd.notna(nz.iloc[0]):
        rule = alt.Chart(pd.DataFrame({"noise": [float(nz.iloc[0])]})).mark_rule(
            color=NOISE_COLOR, strokeDash=[4, 4]).encode(x="noise:Q", tooltip=[alt.Tooltip("noise:Q", format=".3g",
                                                                                        title="seed-noise level")])
        layers.append(rule)
    title = f"What drives {outcome}" + (" (Sobol)" if sobol else " (Morris; red tick: sigma)")
    return alt.layer(*layers).properties(title=title, width=width, height=max(160, 34 * len(order)))


def tradeoff(trade: pd.DataFrame, width: int | str = "container") -> alt.Chart:
    """PRIM's peeling trajectory: density against coverage; the chosen box circled."""
    base = alt.Chart(trade).encode(
        x=alt.X("coverage:Q", title="Coverage (share of cases of interest inside)", scale=alt.Scale(domain=[0, 1])),
        y=alt.Y("density:Q", title="Density (share inside that are of interest)", scale=alt.Scale(zero=False)),
        tooltip=["box", "step", alt.Tooltip("coverage:Q", format=".0%"), alt.Tooltip("density:Q", format=".0%"),
                 alt.Tooltip("mass:Q", format=".0%"), "res_dim"])
    pts = base.mark_circle(size=60).encode(color=alt.Color("res_dim:O", title="Restricted dimensions",
                                                           scale=alt.Scale(scheme="viridis")), shape="box:N")
    chosen = base.transform_filter("datum.selected").mark_point(size=260, color="#222222", strokeWidth=2)
    return alt.layer(pts, chosen).properties(title="PRIM peeling trade-off (circled: the box reported)",
                                             width=width, height=320)


def prim_box(extents: pd.DataFrame, boxes: pd.DataFrame, width: int | str = "container") -> alt.Chart:
    """The PRIM box: per restricted input, the part of its range the box keeps (0 = the smallest value in the
    runs, 1 = the largest), labelled with the limits; grey behind it, the whole range. ``extents`` from
    ``discovery.box_extents``, ``boxes`` (for the coverage and density in the title) from ``discover``."""
    d = extents.copy()
    if d.empty:
        d = pd.DataFrame({"box": ["prim-1"], "parameter": ["(no restriction)"], "low": [""], "high": [""],
                          "low_share": [0.0], "high_share": [1.0], "range_low": [""], "range_high": [""]})
    d["row"] = d["box"] + "  " + d["parameter"]
    d["limits"] = [lo if str(lo).startswith("{") else f"{lo} to {hi}" for lo, hi in zip(d["low"], d["high"])]
    d["whole"] = [f"{a} to {b}" if not str(a).startswith("{") else a for a, b in zip(d["range_low"], d["range_high"])]
    d["zero"], d["one"] = 0.0, 1.0
    y = alt.Y("row:N", sort=d["row"].tolist(), title=None, axis=alt.Axis(labelLimit=360))
    tip = ["box", "parameter", alt.Tooltip("limits:N", title="box keeps"), alt.Tooltip("whole:N", title="runs span")]
    whole = alt.Chart(d).mark_bar(color="#DDDDDD", height=14).encode(
        x=alt.X("zero:Q", title="Share of the input's range in the runs", scale=alt.Scale(domain=[0, 1])),
        x2="one:Q", y=y, tooltip=tip)
    kept = alt.Chart(d).mark_bar(color=BAR, height=14).encode(x="low_share:Q", x2="high_share:Q", y=y, tooltip=tip)
    text = alt.Chart(d).mark_text(align="left", dx=4, color="#222222").encode(x="high_share:Q", y=y, text="limits:N")
    head = boxes.drop_duplicates("box")
    title = "PRIM box" + ("es" if len(head) > 1 else "") + ": " + "; ".join(
        f"{r.box} coverage {r.coverage:.0%}, density {r.density:.0%}" for r in head.itertuples())
    return alt.layer(whole, kept, text).properties(title=title, width=width, height=max(80, 30 * len(d)))


def waterfall(table: pd.DataFrame, outcome: str, base_name: str, target_name: str, base_value: float,
              width: int | str = "container") -> alt.Chart:
    """From the base scenario's outcome, each group's contribution, to the scenario's outcome."""
    g = table[table["group"] != "total"].reset_index(drop=True)
    rows, level = [], base_value
    rows.append({"step": base_name, "start": 0.0, "end": base_value, "kind": "scenario", "value": base_value,
                 "conf": 0.0})
    for r in g.itertuples():
        rows.append({"step": r.group, "start": level, "end": level + r.contribution,
                     "kind": "raises" if r.contribution >= 0 else "lowers", "value": r.contribution,
                     "conf": r.conf})
        level += r.contribution
    rows.append({"step": target_name, "start": 0.0, "end": level, "kind": "scenario", "value": level, "conf": 0.0})
    d = pd.DataFrame(rows)
    d["order"] = range(len(d))
    d["mid"] = d["end"]
    d["lo"], d["hi"] = d["end"] - d["conf"], d["end"] + d["conf"]
    x = alt.X("step:N", sort=d["step"].tolist(), title=None, axis=alt.Axis(labelAngle=-30, labelLimit=220))
    bars = alt.Chart(d).mark_bar().encode(
        x=x, y=alt.Y("start:Q", title=outcome), y2="end:Q",
        color=alt.Color("kind:N", title=None, scale=alt.Scale(domain=["scenario", "raises", "lowers"],
                                                              range=["#777777", "#228833", ACCENT]),
                        legend=alt.Legend(orient="bottom")),
        tooltip=["step", alt.Tooltip("value:Q", format=".4g"), alt.Tooltip("conf:Q", format=".3g", title="± (95%)")])
    err = alt.Chart(d[d["conf"] > 0]).mark_rule(color="#222222").encode(x=x, y="lo:Q", y2="hi:Q")
    return alt.layer(bars, err).properties(title=f"From {base_name} to {target_name}: {outcome}", width=width,
                                           height=360)


def regret_bars(table: pd.DataFrame, percentile_col: str, width: int | str = "container") -> alt.Chart:
    """Maximum and percentile regret per policy (best first), with the bootstrap interval."""
    t = table.copy()
    t["lo"] = t["max_regret"] - t["max_regret_conf"]
    t["hi"] = t["max_regret"] + t["max_regret_conf"]
    order = t["policy"].tolist()
    y = alt.Y("policy:N", sort=order, title=None, axis=alt.Axis(labelLimit=320))
    bars = alt.Chart(t).mark_bar(color=BAR).encode(
        x=alt.X("max_regret:Q", title="Regret (worst future; red tick: percentile)"), y=y,
        tooltip=["policy", alt.Tooltip("max_regret:Q", format=".3g"), alt.Tooltip(f"{percentile_col}:Q", format=".3g"),
                 alt.Tooltip("p_minimax:Q", format=".0%", title="share of resamples best")])
    err = alt.Chart(t).mark_rule(color="#222222").encode(x="lo:Q", x2="hi:Q", y=y)
    tick = alt.Chart(t).mark_tick(color=ACCENT, thickness=3).encode(x=f"{percentile_col}:Q", y=y)
    return alt.layer(bars, err, tick).properties(title="Regret per policy (minimax first)", width=width,
                                                 height=max(140, 30 * len(t)))


def regret_heatmap(regret: pd.DataFrame, width: int | str = "container") -> alt.Chart:
    """Regret of every policy in every future."""
    return alt.Chart(regret).mark_rect().encode(
        x=alt.X("future:N", title="Future", axis=alt.Axis(labels=regret["future"].nunique() <= 30, labelLimit=200)),
        y=alt.Y("policy:N", title=None, axis=alt.Axis(labelLimit=320)),
        color=alt.Color("regret:Q", title="Regret", scale=alt.Scale(scheme="orangered")),
        tooltip=["policy", "future", alt.Tooltip("outcome:Q", format=".4g"), alt.Tooltip("regret:Q", format=".3g")],
    ).properties(title="Regret by future", width=width, height=max(120, 28 * regret["policy"].nunique()))
