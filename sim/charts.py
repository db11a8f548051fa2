"""Altair chart builders on tidy frames, shared by the app and reports (no streamlit import).

One colour mapping for vendors (Okabe-Ito, colour-blind safe) is used on every chart; aggregates use
colours from Paul Tol's muted palette and dashed lines. Every chart has axis titles with units and a
real-date time axis.
"""

from __future__ import annotations

import json
from functools import lru_cache

import altair as alt
import pandas as pd

from sim.model.ids import AGGREGATES, BUYERS, VENDORS

# Okabe & Ito (2008) palette; yellow is replaced by grey for legibility on white.
VENDOR_COLORS: dict[str, str] = {
    "Nvidia": "#009E73",
    "AMD": "#000000",
    "Huawei": "#D55E00",
    "Cambricon": "#E69F00",
    "T-Head": "#CC79A7",
    "Kunlunxin": "#56B4E9",
    "Hygon": "#0072B2",
    "OtherDomestic": "#999999",
}
AGGREGATE_COLORS: dict[str, str] = {"Domestic": "#882255", "Foreign": "#332288", "Total": "#222222"}
ENTITY_COLORS: dict[str, str] = {**VENDOR_COLORS, **AGGREGATE_COLORS}
# Paul Tol's bright palette for buyers, muted for utility terms (never on the same chart as vendors).
BUYER_COLORS: dict[str, str] = dict(zip(BUYERS, ("#4477AA", "#EE6677", "#228833", "#CCBB44", "#66CCEE",
                                                 "#AA3377", "#BBBBBB")))
TERM_COLORS: dict[str, str] = {"performance": "#332288", "price": "#117733", "switching": "#DDCC77",
                               "risk": "#CC6677", "policy": "#88CCEE"}
TIER_COLORS: dict[str, str] = {"frontier_training": "#332288", "training": "#44AA99", "inference": "#DDCC77",
                               "low_priority": "#CC6677"}
ACTOR_DASH = {"US": [6, 3], "China": [2, 2]}
BASIS_TITLES = {
    "unit_share": "Share of cards delivered (units)",
    "value_share": "Share of sales value (US$)",
    "compute_share": "Share of compute delivered (A100-equivalents)",
}
BASIS_SHORT = {"unit_share": "unit", "value_share": "value", "compute_share": "compute"}
DATE_AXIS = alt.Axis(format="%Y", tickCount="year", labelAngle=0)


def entity_scale(entities) -> alt.Scale:
    ents = [e for e in list(VENDORS) + list(AGGREGATES) if e in set(entities)]
    return alt.Scale(domain=ents, range=[ENTITY_COLORS[e] for e in ents])


def _scale(mapping: dict[str, str], present=None) -> alt.Scale:
    keys = [k for k in mapping if present is None or k in set(present)]
    return alt.Scale(domain=keys, range=[mapping[k] for k in keys])


def _x(title: str = "Month", domain=None) -> alt.X:
    return alt.X("date:T", title=title, axis=DATE_AXIS,
                 scale=alt.Scale(domain=list(domain)) if domain is not None else alt.Undefined)


def event_marks(events, label: bool = True) -> list[alt.Chart]:
    """Vertical rules at rule dates (a frame with columns date, actor, n, row, full, or alt.Data), each
    numbered at the top; the numbers are listed by ``events_legend``."""
    base = alt.Chart(events)
    rule = base.mark_rule(color="#555555", strokeWidth=1, opacity=0.7).encode(
        x="date:T",
        strokeDash=alt.StrokeDash("actor:N", title="Rules by", scale=alt.Scale(
            domain=list(ACTOR_DASH), range=list(ACTOR_DASH.values())), legend=alt.Legend(orient="bottom")),
        tooltip=[alt.Tooltip("date:T", title="Effective", format="%Y-%m"), alt.Tooltip("actor:N", title="By"),
                 alt.Tooltip("full:N", title="Rule")],
    )
    if not label:
        return [rule]
    text = base.mark_text(align="center", baseline="top", fontSize=10, fontWeight="bold",
                          color="#333333").encode(x="date:T", y=alt.Y("row:Q", scale=None), text="n:N",
                                                  tooltip=[alt.Tooltip("full:N", title="Rule")])
    return [rule, text]


def events_frame(events, start: str | None = None, end: str | None = None) -> pd.DataFrame:
    """Tidy rule marks from scenario events (objects with id, effective, actor, label): one row per month
    and actor, numbered by month (``n``) for the chart labels; events outside [start, end] are left out so
    they do not widen the time axis. ``row`` staggers the numbers of neighbouring months."""
    cols = {"date": "datetime64[us]", "actor": "str", "n": "str", "row": "float64", "full": "str", "month": "str"}
    rows = []
    for e in events:
        if (start and e.effective < start) or (end and e.effective > end):
            continue
        rows.append({"month": e.effective, "actor": e.actor, "label": e.label or e.id})
    if not rows:
        return pd.DataFrame({c: pd.Series([], dtype=t) for c, t in cols.items()})
    d = pd.DataFrame(rows)
    months = sorted(d["month"].unique())
    number = {m: i + 1 for i, m in enumerate(months)}
    out = []
    for (month, actor), g in d.groupby(["month", "actor"], sort=True):
        k = number[month]
        out.append({"date": pd.Timestamp(month + "-01"), "actor": actor, "n": str(k),
                    "row": 2.0 + 13.0 * ((k - 1) % 3), "full": f"{k}. {month} {actor}: " + " | ".join(g["label"]),
                    "month": month})
    r = pd.DataFrame(out)
    r["date"] = r["date"].astype("datetime64[us]")
    return r.astype({c: t for c, t in cols.items() if c != "date"})


def events_legend(ev: pd.DataFrame) -> list[str]:
    """One line per numbered rule mark, for a caption under the chart."""
    return list(dict.fromkeys(ev.sort_values(["date", "actor"])["full"])) if len(ev) else []


def observed_marks(obs, entities) -> list[alt.Chart]:
    """Observed points (sim.observed frame plus a ``mid`` date column, or alt.Data): the value across its
    period, and its low-high range."""
    color = alt.Color("entity:N", scale=entity_scale(entities), legend=None)
    tip = [alt.Tooltip("entity:N", title="Observed"), alt.Tooltip("label:N", title="Period"),
           alt.Tooltip("value:Q", format=".0%"), alt.Tooltip("low:Q", format=".0%"),
           alt.Tooltip("high:Q", format=".0%"), alt.Tooltip("role:N"), alt.Tooltip("source:N")]
    span = alt.Chart(obs).mark_rule(strokeWidth=3, opacity=0.9).encode(
        x="date:T", x2="date_end:T", y="value:Q", color=color, tooltip=tip)
    rng = alt.Chart(obs).mark_rule(strokeWidth=1.5).encode(x="mid:T", y="low:Q", y2="high:Q", color=color,
                                                           tooltip=tip)
    pt = alt.Chart(obs).mark_point(filled=True, size=70, stroke="white", strokeWidth=1).encode(
        x="mid:T", y="value:Q", color=color,
        shape=alt.Shape("role:N", title="Observed", scale=alt.Scale(
            domain=["target", "initial", "forecast"], range=["circle", "square", "triangle-up"]),
            legend=alt.Legend(orient="bottom")),
        tooltip=tip)
    return [span, rng, pt]


def _with_mid(obs: pd.DataFrame) -> pd.DataFrame:
    return obs.assign(mid=obs["date"] + (obs["date_end"] - obs["date"]) / 2)


def _share_layers(bands, entities, basis, events, observed, now, title, width, height, band_label, x_domain,
                  legend) -> alt.LayerChart:
    color = alt.Color("entity:N", title="Vendor", scale=entity_scale(entities),
                      legend=alt.Legend(orient=legend, symbolOpacity=1, symbolType="stroke", symbolStrokeWidth=3,
                                        columns=5 if legend in ("bottom", "top") else alt.Undefined))
    y = alt.Y("mean:Q", title=BASIS_TITLES.get(basis, basis), axis=alt.Axis(format="%"),
              scale=alt.Scale(domain=[0, 1]))
    band = alt.Chart(bands).mark_area(opacity=0.18).encode(
        x=_x(domain=x_domain), y=alt.Y("lo:Q", title=BASIS_TITLES.get(basis, basis)), y2="hi:Q", color=color)
    dash = alt.StrokeDash("entity:N", legend=None, scale=alt.Scale(
        domain=list(entities), range=[[5, 3] if e in AGGREGATES else [1, 0] for e in entities]))
    line = alt.Chart(bands).mark_line(strokeWidth=2).encode(
        x=_x(domain=x_domain), y=y, color=color, strokeDash=dash,
        tooltip=[alt.Tooltip("date:T", title="Month", format="%Y-%m"), alt.Tooltip("entity:N", title="Vendor"),
                 alt.Tooltip("mean:Q", title="Mean", format=".1%"),
                 alt.Tooltip("lo:Q", title="5%", format=".1%"), alt.Tooltip("hi:Q", title="95%", format=".1%")])
    layers = [band, line]
    if events is not None:
        layers += event_marks(events)
    if observed is not None:
        layers += observed_marks(observed, entities)
    if now is not None:
        layers.append(alt.Chart(now).mark_rule(color="#000000", strokeWidth=2).encode(x="date:T"))
    sub = f"Lines: mean of the seed ensemble; shaded: {band_label}. Dashed/dotted verticals: US/China rules."
    return alt.layer(*layers).properties(
        title=alt.TitleParams(title or "Share by vendor", subtitle=sub, anchor="start"),
        width=width, height=height).resolve_scale(color="shared", strokeDash="independent")


def share_chart(bands: pd.DataFrame, basis: str = "unit_share", events: pd.DataFrame | None = None,
                observed: pd.DataFrame | None = None, title: str = "", width="container", height: int = 380,
                band_label: str = "5-95% of seeds", now: pd.Timestamp | None = None,
                x_domain=None, legend: str = "right") -> alt.LayerChart:
    """Share by vendor over time: mean lines, 5-95% bands across seeds, rule marks and observed points.

    bands: columns date, entity, mean, lo, hi (sim.ui.ensemble.share_bands).
    """
    ents = tuple(e for e in list(VENDORS) + list(AGGREGATES) if e in set(bands["entity"]))
    return _share_layers(
        bands, ents, basis, events if events is not None and len(events) else None,
        _with_mid(observed) if observed is not None and len(observed) else None,
        pd.DataFrame({"date": [now]}) if now is not None else None,
        title, width, height, band_label, x_domain, legend)


@lru_cache(maxsize=64)
def _share_template(entities: tuple, basis: str, has_events: bool, has_obs: bool, has_now: bool, title: str,
                    width, height: int, band_label: str, x_domain: tuple | None, legend: str) -> str:
    ch = _share_layers(alt.Data(name="bands"), entities, basis, alt.Data(name="events") if has_events else None,
                       alt.Data(name="observed") if has_obs else None, alt.Data(name="now") if has_now else None,
                       title, width, height, band_label, list(x_domain) if x_domain else None, legend)
    return json.dumps(ch.to_dict())


def _records(df: pd.DataFrame) -> list[dict]:
    out = df.copy()
    for c in out.columns:
        if pd.api.types.is_datetime64_any_dtype(out[c]):
            out[c] = out[c].dt.strftime("%Y-%m-%d")
    return out.to_dict("records")


def share_spec(bands: pd.DataFrame, basis: str = "unit_share", events: pd.DataFrame | None = None,
               observed: pd.DataFrame | None = None, title: str = "", width="container", height: int = 380,
               band_label: str = "5-95% of seeds", now: pd.Timestamp | None = None,
               x_domain=None, legend: str = "right") -> dict:
    """The same chart as ``share_chart`` as a Vega-Lite dict, fast: the chart structure is built and
    validated once per layout and only the data change between redraws."""
    ents = tuple(e for e in list(VENDORS) + list(AGGREGATES) if e in set(bands["entity"]))
    has_ev = events is not None and len(events) > 0
    has_obs = observed is not None and len(observed) > 0
    spec = json.loads(_share_template(ents, basis, has_ev, has_obs, now is not None, title, width, height,
                                      band_label, tuple(x_domain) if x_domain else None, legend))
    data = {"bands": _records(bands)}
    if has_ev:
        data["events"] = _records(events[["date", "actor", "n", "row", "full"]])
    if has_obs:
        data["observed"] = _records(_with_mid(observed))
    if now is not None:
        data["now"] = [{"date": pd.Timestamp(now).strftime("%Y-%m-%d")}]
    spec["datasets"] = {**spec.get("datasets", {}), **data}
    return spec


def difference_chart(diff: pd.DataFrame, basis: str = "unit_share", title: str = "", width="container",
                     height: int = 300) -> alt.LayerChart:
    """B minus A per vendor over time (columns date, entity, mean, lo, hi), in share points."""
    color = alt.Color("entity:N", title="Vendor", scale=entity_scale(diff["entity"]),
                      legend=alt.Legend(symbolOpacity=1, symbolType="stroke", symbolStrokeWidth=3))
    ytitle = f"B − A, {BASIS_SHORT.get(basis, basis)} share (points)"
    band = alt.Chart(diff).mark_area(opacity=0.18).encode(x=_x(), y=alt.Y("lo:Q", title=ytitle), y2="hi:Q",
                                                          color=color)
    line = alt.Chart(diff).mark_line(strokeWidth=2).encode(
        x=_x(), y=alt.Y("mean:Q", title=ytitle, axis=alt.Axis(format="+%")), color=color,
        tooltip=[alt.Tooltip("date:T", title="Month", format="%Y-%m"), "entity:N",
                 alt.Tooltip("mean:Q", title="B − A", format="+.1%")])
    zero = alt.Chart(pd.DataFrame({"y": [0.0]})).mark_rule(color="#000000").encode(y="y:Q")
    props = {"title": alt.TitleParams(title, anchor="start", subtitle="Same seeds in A and B; shaded: 5-95% of "
                                      "the paired differences.")} if title else {}
    return alt.layer(band, line, zero).properties(width=width, height=height, **props)


def lines_chart(df: pd.DataFrame, y_title: str, series_title: str, colors: dict[str, str] | None = None,
                fmt: str = ",.0f", title: str = "", width="container", height: int = 260,
                y_domain=None) -> alt.Chart:
    """Generic time lines (columns date, series, value), optional band columns lo/hi."""
    single = df["series"].nunique() <= 1
    color = alt.Color("series:N", title=series_title,
                      scale=_scale(colors, df["series"].unique()) if colors else alt.Undefined,
                      legend=None if single else alt.Legend(symbolOpacity=1, symbolType="stroke"))
    axis = alt.Axis(format=fmt)
    ysc = alt.Scale(domain=y_domain) if y_domain else alt.Undefined
    line = alt.Chart(df).mark_line(strokeWidth=2).encode(
        x=_x(), y=alt.Y("value:Q", title=y_title, axis=axis, scale=ysc), color=color,
        tooltip=[alt.Tooltip("date:T", title="Month", format="%Y-%m"), alt.Tooltip("series:N", title=series_title),
                 alt.Tooltip("value:Q", title=y_title, format=fmt)])
    layers = [line]
    if {"lo", "hi"} <= set(df.columns):
        layers.insert(0, alt.Chart(df).mark_area(opacity=0.18).encode(
            x=_x(), y=alt.Y("lo:Q", title=y_title, scale=ysc), y2="hi:Q", color=color))
    props = {"title": alt.TitleParams(title, anchor="start")} if title else {}
    return alt.layer(*layers).properties(width=width, height=height, **props)


def mix_chart(mix: pd.DataFrame, title: str = "", width="container", height: int = 260) -> alt.Chart:
    """Domestic share of a buyer's choice by workload tier (columns date, tier, domestic_share)."""
    d = mix.rename(columns={"tier": "series", "domestic_share": "value"})
    return lines_chart(d, "Domestic share of the choice (compute)", "Workload tier", TIER_COLORS, fmt="%",
                       title=title, width=width, height=height, y_domain=[0, 1])


def terms_chart(terms: pd.DataFrame, title: str = "", width="container", height: int = 240) -> alt.Chart:
    """Utility terms, domestic minus foreign (columns date, term, value): positive favours domestic."""
    color = alt.Color("term:N", title="Utility term", scale=_scale(TERM_COLORS, terms["term"].unique()))
    bars = alt.Chart(terms).mark_bar().encode(
        x=_x(), y=alt.Y("sum(value):Q", title="Domestic minus foreign (utility)"), color=color,
        tooltip=[alt.Tooltip("date:T", title="Month", format="%Y-%m"), "term:N",
                 alt.Tooltip("value:Q", title="Domestic − foreign", format="+.2f")])
    zero = alt.Chart(pd.DataFrame({"y": [0.0]})).mark_rule(color="#000000").encode(y="y:Q")
    props = {"title": alt.TitleParams(title, anchor="start", subtitle="Above zero favours domestic chips; below "
                                      "favours foreign.")} if title else {}
    return alt.layer(bars, zero).properties(width=width, height=height, **props)


def to_image(chart, fmt: str = "png", width: int = 900) -> bytes:
    """The chart (Altair chart or Vega-Lite dict) as PNG or SVG bytes (vl-convert, offline)."""
    import vl_convert as vlc

    if isinstance(chart, dict):
        spec = dict(chart)
    else:
        with alt.data_transformers.disable_max_rows():
            spec = chart.to_dict()
    if spec.get("width") == "container":
        spec["width"] = width
    if fmt == "png":
        return vlc.vegalite_to_png(spec, scale=2)
    return vlc.vegalite_to_svg(spec).encode("utf-8")


def _has_container_width(chart) -> bool:
    return getattr(chart, "width", alt.Undefined) == "container"
