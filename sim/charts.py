"""Altair chart builders on tidy frames, shared by the app and reports (no streamlit import).

One colour mapping for vendors (Okabe-Ito, colour-blind safe) is used on every chart; aggregates use
colours from Paul Tol's muted palette and dashed lines. Every chart has axis titles with units and a
real-date time axis.
"""

from __future__ import annotations

import json
from functools import lru_cache

import altair as alt
import numpy as np
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
# year labels never overlap: on a narrow chart every other year is left out
DATE_AXIS = alt.Axis(format="%Y", tickCount="year", labelAngle=0, labelOverlap="greedy", labelSeparation=6)


def entity_scale(entities) -> alt.Scale:
    ents = [e for e in list(VENDORS) + list(AGGREGATES) if e in set(entities)]
    return alt.Scale(domain=ents, range=[ENTITY_COLORS[e] for e in ents])


def _scale(mapping: dict[str, str], present=None) -> alt.Scale:
    keys = [k for k in mapping if present is None or k in set(present)]
    return alt.Scale(domain=keys, range=[mapping[k] for k in keys])


# ---------------------------------------------------------------- legibility

# Chart text is at least 14 px and dark on a white background: every text colour below has a WCAG contrast
# ratio of at least 7:1 on BACKGROUND (AA asks for 4.5:1). The app draws charts with this configuration
# and not Streamlit's theme, so the same colours hold on a projector, in dark mode and in exports.
BACKGROUND = "#ffffff"
INK = "#1a1a1a"
INK_SOFT = "#333333"
RULE_INK = "#4d4d4d"
FONT_SIZES = {"normal": 14, "present": 20}
FONT = "Source Sans Pro, Helvetica, Arial, sans-serif"


def theme(size: str = "normal") -> dict:
    """Vega-Lite ``config`` for every chart: fonts of at least 14 px, dark text on white."""
    f = FONT_SIZES[size]
    lab = {"labelFontSize": f, "titleFontSize": f + 1, "labelColor": INK_SOFT, "titleColor": INK, "labelFont": FONT,
           "titleFont": FONT}
    return {
        "background": BACKGROUND,
        "font": FONT,
        "axis": {**lab, "domainColor": "#666666", "tickColor": "#666666", "gridColor": "#e0e0e0",
                 "titleFontWeight": "normal"},
        "legend": {**lab, "labelLimit": 0, "titleFontWeight": "bold", "symbolSize": 14 * f,
                   "symbolStrokeWidth": 3,
                   # legends under a chart sit side by side when it is wide, one under another when narrow
                   "layout": {"expr": "{bottom: {direction: width < 640 ? 'vertical' : 'horizontal', "
                                      "anchor: 'start', margin: 16}}"}},
        "header": {**lab},
        "title": {"fontSize": f + 4, "subtitleFontSize": f, "color": INK, "subtitleColor": INK_SOFT, "font": FONT,
                  "subtitleFont": FONT, "anchor": "start", "offset": 6},
        "text": {"fontSize": f, "color": INK, "font": FONT},
        "view": {"stroke": None},
    }


def themed(chart, size: str = "normal"):
    """An Altair chart with the app's legible configuration (see ``theme``)."""
    return chart.configure(**theme(size))


# ---------------------------------------------------------------- rule marks

# Observed points by role (data/calibration_targets.csv): the model is fitted to "target" points; "initial"
# points are the shares the run starts from (not fitted); forecasts are analysts' projections.
BAND_LABEL = "middle 90% of runs (5–95%)"
ROLE_NAMES = {"target": "observed", "initial": "observed, start of the run", "forecast": "analysts' forecast"}
# Plot widths (px) for which rule labels are laid out; the chart picks the layout of its own width.
LABEL_WIDTHS = (260, 340, 440, 560, 720, 900, 1150, 1500)
LABEL_ROWS_MAX = 5


def rule_numbers(events, start: str | None = None, end: str | None = None) -> dict[str, str]:
    """Rule id -> its mark number: 1..N in date order (then US before China) over the rules in force from a
    month in [start, end]."""
    order = {a: i for i, a in enumerate(ACTOR_DASH)}
    inside = [e for e in events if not ((start and e.effective < start) or (end and e.effective > end))]
    inside.sort(key=lambda e: (e.effective, order.get(e.actor, 9), e.id))
    return {e.id: str(i + 1) for i, e in enumerate(inside)}


def events_frame(events, start: str | None = None, end: str | None = None,
                 numbers: dict[str, str] | None = None) -> pd.DataFrame:
    """One row per rule of the scenario, in date order; columns date, month, id, actor, n (its number:
    ``numbers`` if given, e.g. those of the base scenario so that a moved rule keeps its number, else
    ``rule_numbers``), label, full. Events outside [start, end] are left out so they do not widen the
    time axis."""
    cols = {"date": "datetime64[us]", "month": "str", "id": "str", "actor": "str", "n": "str", "label": "str",
            "full": "str"}
    rows = []
    for e in events:
        if (start and e.effective < start) or (end and e.effective > end):
            continue
        rows.append({"month": e.effective, "id": e.id, "actor": e.actor, "label": e.label or e.id})
    if not rows:
        return pd.DataFrame({c: pd.Series([], dtype=t) for c, t in cols.items()})
    order = {a: i for i, a in enumerate(ACTOR_DASH)}
    rows.sort(key=lambda r: (r["month"], order.get(r["actor"], 9), r["id"]))
    d = pd.DataFrame(rows)
    nums = numbers if numbers is not None else rule_numbers(events, start, end)
    d["n"] = [nums.get(i, "·") for i in d["id"]]
    d["date"] = pd.to_datetime(d["month"] + "-01").astype("datetime64[us]")
    d["full"] = d["n"] + ". " + d["month"] + " " + d["actor"] + ": " + d["label"]
    return d[list(cols)].astype({c: t for c, t in cols.items() if c != "date"})


def events_legend(ev: pd.DataFrame) -> list[str]:
    """One line per numbered rule mark (its number, month, actor and name)."""
    return ev["full"].tolist() if len(ev) else []


def _label_px(text: str, font: int) -> float:
    return 0.62 * font * len(text) + 6


def pack_labels(x: list[float], widths: list[float], max_rows: int = LABEL_ROWS_MAX, gap: float = 3.0
                ) -> tuple[list[int], list[float]]:
    """Place labels (wanted centres ``x`` in px, in increasing order) in rows without overlap: each label goes
    in the first row where it needs the smallest sideways shift (at most about two label widths), else in
    the row where it moves least. Returns each label's row and its centre."""
    rights: list[float] = []
    rows, centres = [], []
    for xi, w in zip(x, widths):
        want = xi - w / 2
        best = None
        for r in range(min(len(rights) + 1, max_rows)):
            left = want if r == len(rights) else max(want, rights[r] + gap)
            shift = left - want
            if best is None or shift < best[1] - 1e-9:
                best = (r, shift, left)
            if shift <= 2 * w:
                best = (r, shift, left)
                break
        r, _, left = best
        if r == len(rights):
            rights.append(left + w)
        else:
            rights[r] = left + w
        rows.append(r)
        centres.append(left + w / 2)
    return rows, centres


def label_layout(ev: pd.DataFrame, x_domain: tuple[str, str], size: str = "normal") -> pd.DataFrame:
    """Rule labels laid out for each plot width in LABEL_WIDTHS: ``f`` is the rule's position as a fraction
    of the plot width, ``dx<k>`` and ``row<k>`` the label's offset (px) and row at width LABEL_WIDTHS[k]."""
    d0, d1 = (pd.Timestamp(x) for x in x_domain)
    span = (d1 - d0) / pd.Timedelta(days=1) or 1.0
    out = ev.sort_values("date", kind="stable").reset_index(drop=True)
    out["f"] = ((out["date"] - d0) / pd.Timedelta(days=1) / span).astype("float64")
    font = FONT_SIZES[size]
    widths = [_label_px(t, font) for t in out["n"]]
    for k, w in enumerate(LABEL_WIDTHS):
        xs = (out["f"] * w).tolist()
        rows, centres = pack_labels(xs, widths)
        out[f"row{k}"] = rows
        out[f"dx{k}"] = [c - xi for c, xi in zip(centres, xs)]
    return out


def _width_bucket() -> str:
    expr = "0"
    for k, w in enumerate(LABEL_WIDTHS[1:], start=1):
        expr = f"(width >= {w} ? {k} : {expr})"
    return expr


def event_marks(events, size: str = "normal", label: bool = True) -> list[alt.Chart]:
    """Rules at rule dates (dashed: US, dotted: China), each with its own number above the plot, staggered
    in rows so that no two numbers overlap at the chart's width, and a leader line down to its rule.
    ``events``: ``label_layout`` output (or alt.Data). Hovering a rule or its number names it."""
    tip = [alt.Tooltip("label:N", title="Rule"), alt.Tooltip("month:N", title="In force from"),
           alt.Tooltip("actor:N", title="By"), alt.Tooltip("n:N", title="Mark")]
    base = alt.Chart(events)
    rule = base.mark_rule(color=RULE_INK, strokeWidth=1.2, opacity=0.8).encode(
        x="date:T",
        strokeDash=alt.StrokeDash("actor:N", title="Rules by", scale=alt.Scale(
            domain=list(ACTOR_DASH), range=list(ACTOR_DASH.values())), legend=None),
        tooltip=tip).properties(name="rule_lines")
    if not label:
        return [rule]
    f = FONT_SIZES[size]
    rh = f + 5
    placed = base.transform_calculate(
        k=_width_bucket()).transform_calculate(
        fx="datum.f * width", lx="datum.f * width + datum['dx' + datum.k]",
        ly=f"-(datum['row' + datum.k] + 1) * {rh} - 4")
    leader = placed.mark_rule(color=RULE_INK, strokeWidth=1, opacity=0.8).encode(
        x=alt.X("lx:Q", scale=None), y=alt.Y("ly:Q", scale=None), x2="fx:Q", y2=alt.Y2(datum=0), tooltip=tip
    ).properties(name="rule_leaders")
    text = placed.mark_text(align="center", baseline="middle", fontSize=f, fontWeight="bold", color=INK,
                            dy=-f / 2 - 1).encode(
        x=alt.X("lx:Q", scale=None), y=alt.Y("ly:Q", scale=None), text="n:N", tooltip=tip
    ).properties(name="rule_numbers")
    hit = base.mark_rule(strokeWidth=9, opacity=0.01, color=RULE_INK).encode(x="date:T", tooltip=tip).properties(
        name="rule_hit")
    return [rule, leader, text, hit]


def observed_marks(obs, entities) -> list[alt.Chart]:
    """Observed points (sim.observed frame plus ``mid`` and ``kind`` columns, or alt.Data): the value across
    its period, and its low-high range."""
    color = alt.Color("entity:N", scale=entity_scale(entities), legend=None)
    tip = [alt.Tooltip("entity:N", title="Vendor"), alt.Tooltip("kind:N", title="Point"),
           alt.Tooltip("label:N", title="Period"), alt.Tooltip("value:Q", title="Value", format=".0%"),
           alt.Tooltip("low:Q", title="Low", format=".0%"), alt.Tooltip("high:Q", title="High", format=".0%"),
           alt.Tooltip("source:N", title="Source")]
    span = alt.Chart(obs).mark_rule(strokeWidth=3, opacity=0.9).encode(
        x="date:T", x2="date_end:T", y="value:Q", color=color, tooltip=tip)
    rng = alt.Chart(obs).mark_rule(strokeWidth=1.5).encode(x="mid:T", y="low:Q", y2="high:Q", color=color,
                                                           tooltip=tip)
    pt = alt.Chart(obs).mark_point(filled=True, size=90, stroke="white", strokeWidth=1).encode(
        x="mid:T", y="value:Q", color=color,
        shape=alt.Shape("kind:N", title="Observed data", scale=alt.Scale(
            domain=list(ROLE_NAMES.values()), range=["circle", "square", "triangle-up"]),
            legend=alt.Legend(orient="bottom", direction="vertical")),
        tooltip=tip)
    return [span, rng, pt]


def _with_mid(obs: pd.DataFrame) -> pd.DataFrame:
    return obs.assign(mid=obs["date"] + (obs["date_end"] - obs["date"]) / 2,
                      kind=obs["role"].map(ROLE_NAMES).fillna(obs["role"]))


# ---------------------------------------------------------------- hover read-out


def _pct(x: float) -> str:
    return f"{100 * x:.0f}%" if abs(x) >= 0.095 or x == 0 else f"{100 * x:.1f}%"


def hover_frame(bands: pd.DataFrame, entities, events: pd.DataFrame | None = None) -> pd.DataFrame:
    """One row per month for the crosshair: ``month`` and, per entity (columns e0, e1, ... in ``entities``
    order), its mean and 5-95% range as text, e.g. "55% (48–62%)"; ``rules``: rules taking effect that month."""
    ent = bands["entity"].to_numpy(dtype=object)
    keep = np.isin(ent, list(entities))
    dates = bands["date"].to_numpy()[keep]
    ent = ent[keep]
    text = [f"{_pct(m)} ({_pct(lo).rstrip('%')}–{_pct(hi)})" for m, lo, hi in
            zip(bands["mean"].to_numpy()[keep], bands["lo"].to_numpy()[keep], bands["hi"].to_numpy()[keep])]
    udates = np.unique(dates)
    col = {e: np.full(len(udates), "–", dtype=object) for e in entities}
    pos = np.searchsorted(udates, dates)
    for e, i, t in zip(ent, pos, text):
        col[e][i] = t
    out = pd.DataFrame({"date": udates.astype("datetime64[us]")})
    out["month"] = out["date"].dt.strftime("%Y-%m")
    out["head"] = out["month"] + ": mean (middle 90% of runs)"
    for i, e in enumerate(entities):
        out[f"e{i}"] = col[e]
    rules = {}
    if events is not None and len(events):
        for m, g in events.groupby("month"):
            rules[m] = "; ".join(f"{n}. {lab}" for n, lab in zip(g["n"], g["label"]))
    out["rules"] = [rules.get(m, "–") for m in out["month"]]   # text even when no rule is in range
    return out


def hover_marks(hover, bands, entities, color: alt.Color) -> list[alt.Chart]:
    """A crosshair at the month nearest the pointer, dots on every line there, and a tooltip listing every
    vendor's mean and 5-95% range."""
    sel = alt.selection_point(name="hover", fields=["date"], nearest=True, on="pointermove", clear="pointerout",
                              empty=False)
    tip = [alt.Tooltip("head:N", title="Month")]
    tip += [alt.Tooltip(f"e{i}:N", title=e) for i, e in enumerate(entities)]
    tip += [alt.Tooltip("rules:N", title="Rules in force from this month")]
    cross = alt.Chart(hover).mark_rule(color=INK, strokeWidth=1).encode(
        x="date:T", opacity=alt.condition(sel, alt.value(0.7), alt.value(0.0)), tooltip=tip).add_params(sel).properties(
        name="crosshair")
    # the dots on the lines at that month are drawn under the crosshair's pointer cells (the layer order),
    # so a pointer resting on a dot still gets the read-out
    dots = alt.Chart(bands).mark_point(filled=True, size=60, opacity=1).encode(
        x="date:T", y="mean:Q", color=color, tooltip=alt.value(None)).transform_filter(sel).properties(
        name="crosshair_dots")
    return [dots, cross]


# ---------------------------------------------------------------- the main share chart


def _x(title: str = "Month", domain=None) -> alt.X:
    return alt.X("date:T", title=title, axis=DATE_AXIS,
                 scale=alt.Scale(domain=list(domain), nice=False) if domain is not None else alt.Undefined)


def _share_layers(bands, entities, basis, events, observed, now, title, width, height, band_label, x_domain,
                  legend, prev=None, hover=None, size="normal") -> alt.LayerChart:
    f = FONT_SIZES[size]
    # vendor legend columns: beside the observed-data legend when wide, alone on its rows when narrow
    cols = alt.ExprRef(f"width >= 640 ? max(2, floor((width - {17 * f}) / {10 * f})) : max(1, floor(width / {10 * f}))"
                       ) if legend in ("bottom", "top") else alt.Undefined
    color = alt.Color("entity:N", title="Vendor", scale=entity_scale(entities),
                      legend=alt.Legend(orient=legend, symbolOpacity=1, symbolType="stroke", columns=cols))
    y = alt.Y("mean:Q", title=BASIS_TITLES.get(basis, basis), axis=alt.Axis(format="%"),
              scale=alt.Scale(domain=[0, 1]))
    band = alt.Chart(bands).mark_area(opacity=0.18, tooltip=None).encode(
        x=_x(domain=x_domain), y=alt.Y("lo:Q", title=BASIS_TITLES.get(basis, basis)), y2="hi:Q", color=color
    ).properties(name="bands")
    dash = alt.StrokeDash("entity:N", legend=None, scale=alt.Scale(
        domain=list(entities), range=[[5, 3] if e in AGGREGATES else [1, 0] for e in entities]))
    line = alt.Chart(bands).mark_line(strokeWidth=2.5 if size == "present" else 2, tooltip=None).encode(
        x=_x(domain=x_domain), y=y, color=color, strokeDash=dash).properties(name="lines")
    layers = [band]
    if prev is not None:
        layers.append(alt.Chart(prev).mark_line(strokeWidth=1.5, opacity=0.4, strokeDash=[2, 2], tooltip=None).encode(
            x=_x(domain=x_domain), y="mean:Q", color=alt.Color("entity:N", scale=entity_scale(entities), legend=None),
            detail="entity:N").properties(name="previous"))
    layers.append(line)
    if now is not None:
        layers.append(alt.Chart(now).mark_rule(color="#000000", strokeWidth=2).encode(x="date:T"))
    if hover is not None:
        layers += hover_marks(hover, bands, entities, alt.Color("entity:N", scale=entity_scale(entities),
                                                                legend=None))
    hit = []
    if events is not None:
        marks = event_marks(events, size)
        layers += marks[:-1]
        hit = marks[-1:]
    if observed is not None:
        layers += observed_marks(observed, entities)
    layers += hit
    # short lines: the subtitle does not wrap, and must fit a phone
    sub = ["Lines: mean of the runs.", f"Band: {band_label}."]
    if events is not None:
        sub.append("Rules: US dashed, China dotted.")
    if prev is not None:
        sub.append("Faint dotted lines: previous result.")
    return alt.layer(*layers).properties(
        title=alt.TitleParams(title or "Share by vendor", subtitle=sub, anchor="start"),
        width=width, height=height).resolve_scale(color="shared", strokeDash="independent")


def _entities(bands: pd.DataFrame) -> tuple[str, ...]:
    have = set(pd.unique(bands["entity"].to_numpy(dtype=object)))
    return tuple(e for e in list(VENDORS) + list(AGGREGATES) if e in have)


def share_chart(bands: pd.DataFrame, basis: str = "unit_share", events: pd.DataFrame | None = None,
                observed: pd.DataFrame | None = None, title: str = "", width="container", height: int = 380,
                band_label: str = BAND_LABEL, now: pd.Timestamp | None = None,
                x_domain=None, legend: str = "bottom", prev: pd.DataFrame | None = None,
                size: str = "normal") -> alt.LayerChart:
    """Share by vendor over time: mean lines, 5-95% bands across runs, numbered rule marks, observed points,
    a crosshair read-out and (optionally) the previous result as faint lines.

    bands: columns date, entity, mean, lo, hi (sim.engine.ensemble.share_bands); events: events_frame.
    """
    ents = _entities(bands)
    dom = _domain(bands, x_domain)
    has_ev = events is not None and len(events) > 0
    ch = _share_layers(
        bands, ents, basis, label_layout(events, dom, size) if has_ev else None,
        _with_mid(observed) if observed is not None and len(observed) else None,
        pd.DataFrame({"date": [now]}) if now is not None else None,
        title, width, height, band_label, dom, legend, prev=prev if prev is not None and len(prev) else None,
        hover=hover_frame(bands, ents, events if has_ev else None), size=size)
    return themed(ch, size)


def _domain(bands: pd.DataFrame, x_domain) -> tuple[str, str]:
    if x_domain is not None:
        return tuple(pd.Timestamp(x).isoformat() for x in x_domain)
    return (pd.Timestamp(bands["date"].min()).isoformat(), pd.Timestamp(bands["date"].max()).isoformat())


@lru_cache(maxsize=64)
def _share_template(entities: tuple, basis: str, has_events: bool, has_obs: bool, has_now: bool, has_prev: bool,
                    title: str, width, height: int, band_label: str, x_domain: tuple, legend: str,
                    size: str) -> str:
    ch = _share_layers(alt.Data(name="bands"), entities, basis, alt.Data(name="events") if has_events else None,
                       alt.Data(name="observed") if has_obs else None, alt.Data(name="now") if has_now else None,
                       title, width, height, band_label, list(x_domain), legend,
                       prev=alt.Data(name="prev") if has_prev else None, hover=alt.Data(name="hover"), size=size)
    return json.dumps(themed(ch, size).to_dict())


def _records(df: pd.DataFrame) -> bytes:
    """A chart dataset as Arrow IPC bytes (what Streamlit sends to the browser; dates as YYYY-MM-DD)."""
    import pyarrow as pa

    out = df.copy()
    for c in out.columns:
        if pd.api.types.is_datetime64_any_dtype(out[c]):
            out[c] = out[c].dt.strftime("%Y-%m-%d")
    table = pa.Table.from_pandas(out, preserve_index=False)
    sink = pa.BufferOutputStream()
    with pa.ipc.new_stream(sink, table.schema) as w:
        w.write_table(table)
    return sink.getvalue().to_pybytes()


_LABELS: dict = {}


def _label_records(events: pd.DataFrame, dom, size: str) -> bytes:
    """The rule labels' layout as chart data, kept per set of rules, time axis and size (they change only
    when a rule is switched off or moved)."""
    key = (tuple(events["full"].tolist()), tuple(events["month"].tolist()), tuple(dom), size)
    got = _LABELS.get(key)
    if got is None:
        if len(_LABELS) > 64:
            _LABELS.clear()
        got = _LABELS[key] = _records(label_layout(events, dom, size))
    return got


def _json_datasets(spec: dict) -> dict:
    """A spec whose datasets are Arrow bytes, with the datasets as JSON records (for image export)."""
    import pyarrow as pa

    ds = spec.get("datasets")
    if not ds or not any(isinstance(v, bytes) for v in ds.values()):
        return spec
    return {**spec, "datasets": {k: pa.ipc.open_stream(v).read_all().to_pylist() if isinstance(v, bytes) else v
                                 for k, v in ds.items()}}


def share_spec(bands: pd.DataFrame, basis: str = "unit_share", events: pd.DataFrame | None = None,
               observed: pd.DataFrame | None = None, title: str = "", width="container", height: int = 380,
               band_label: str = BAND_LABEL, now: pd.Timestamp | None = None,
               x_domain=None, legend: str = "bottom", prev: pd.DataFrame | None = None,
               size: str = "normal") -> dict:
    """The same chart as ``share_chart`` as a Vega-Lite dict, fast: the chart structure is built and
    validated once per layout and only the data change between redraws. Drawn as SVG (crisp on a
    projector, and its text can be checked)."""
    ents = _entities(bands)
    dom = _domain(bands, x_domain)
    has_ev = events is not None and len(events) > 0
    has_obs = observed is not None and len(observed) > 0
    has_prev = prev is not None and len(prev) > 0
    spec = json.loads(_share_template(ents, basis, has_ev, has_obs, now is not None, has_prev, title, width,
                                      height, band_label, dom, legend, size))
    data = {"bands": _records(bands), "hover": _records(hover_frame(bands, ents, events if has_ev else None))}
    if has_ev:
        data["events"] = _label_records(events, dom, size)
    if has_obs:
        data["observed"] = _records(_with_mid(observed))
    if has_prev:
        data["prev"] = _records(prev[["date", "entity", "mean"]])
    if now is not None:
        data["now"] = [{"date": pd.Timestamp(now).strftime("%Y-%m-%d")}]
    spec["datasets"] = {**spec.get("datasets", {}), **data}
    spec["usermeta"] = {"embedOptions": {"renderer": "svg"}}
    spec["autosize"] = {"type": "fit-x", "contains": "padding"}  # the height is the plot's, legends come on top
    return spec


def difference_chart(diff: pd.DataFrame, basis: str = "unit_share", title: str = "", width="container",
                     height: int = 300) -> alt.LayerChart:
    """B minus A per vendor over time (columns date, entity, mean, lo, hi), in share points."""
    color = alt.Color("entity:N", title="Vendor", scale=entity_scale(diff["entity"]),
                      legend=alt.Legend(symbolOpacity=1, symbolType="stroke", symbolStrokeWidth=3))
    ytitle = f"B − A, {BASIS_SHORT.get(basis, basis)} share (points)"
    band = alt.Chart(diff).mark_area(opacity=0.18, tooltip=None).encode(x=_x(), y=alt.Y("lo:Q", title=ytitle),
                                                                        y2="hi:Q", color=color)
    line = alt.Chart(diff).mark_line(strokeWidth=2).encode(
        x=_x(), y=alt.Y("mean:Q", title=ytitle, axis=alt.Axis(format="+%")), color=color,
        tooltip=[alt.Tooltip("date:T", title="Month", format="%Y-%m"), "entity:N",
                 alt.Tooltip("mean:Q", title="B − A", format="+.1%")])
    zero = alt.Chart(pd.DataFrame({"y": [0.0]})).mark_rule(color="#000000").encode(y="y:Q")
    props = {"title": alt.TitleParams(title, anchor="start", subtitle=["Same random draws in A and B;",
                                      "band: middle 90% of the paired differences."])} if title else {}
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
        layers.insert(0, alt.Chart(df).mark_area(opacity=0.18, tooltip=None).encode(
            x=_x(), y=alt.Y("lo:Q", title=y_title, scale=ysc), y2="hi:Q", color=color))
    props = {"title": alt.TitleParams(title, anchor="start")} if title else {}
    return alt.layer(*layers).properties(width=width, height=height, **props)


def mix_chart(mix: pd.DataFrame, title: str = "", width="container", height: int = 260) -> alt.Chart:
    """Domestic share of a buyer's choice by workload tier (columns date, tier, domestic_share)."""
    words = {t: t.replace("_", " ").replace("low priority", "low-priority") for t in TIER_COLORS}
    d = mix.rename(columns={"tier": "series", "domestic_share": "value"})
    d["series"] = d["series"].astype(str).map(lambda t: words.get(t, t))   # plain words in the legend
    return lines_chart(d, "Domestic share of the choice (compute)", "Workload tier",
                       {words[t]: c for t, c in TIER_COLORS.items()}, fmt="%",
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


# ---------------------------------------------------------------- grid results

# Viridis (colour-blind safe, light to dark in one hue path) in six steps; every cell label is drawn in black
# or white, whichever contrasts more with its cell (at least 4.5:1 on each of these colours).
HEAT_COLORS = ("#481f70", "#3b528b", "#287c8e", "#20a486", "#5ec962", "#c8e020")


def _luminance(hex_colour: str) -> float:
    rgb = [int(hex_colour.lstrip("#")[i:i + 2], 16) / 255 for i in (0, 2, 4)]
    lin = [c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4 for c in rgb]
    return 0.2126 * lin[0] + 0.7152 * lin[1] + 0.0722 * lin[2]


def contrast(a: str, b: str) -> float:
    """WCAG contrast ratio of two colours (hex)."""
    la, lb = sorted((_luminance(a), _luminance(b)), reverse=True)
    return (la + 0.05) / (lb + 0.05)


def ink_on(fill: str) -> str:
    """Black or white, whichever reads better on ``fill``."""
    return "#000000" if contrast("#000000", fill) >= contrast("#ffffff", fill) else "#ffffff"


def _fmt_value(v: float, fmt: str) -> str:
    if pd.isna(v):
        return "–"
    if fmt.endswith("%"):
        digits = int(fmt[1:-1]) if fmt[1:-1].isdigit() else 0
        return f"{100 * v:.{digits}f}%"
    return f"{v:{fmt}}" if fmt else f"{v:g}"


def _distinct_fmt(values, fmt: str, most: int = 3) -> str:
    """``fmt`` (".Nf" or ".N%") with as many more decimals, up to ``most``, as it takes to write the distinct
    ``values`` distinctly (legend steps of a narrow range would otherwise read "6.0% – 6.0%")."""
    if len(fmt) < 3 or fmt[0] != "." or fmt[-1] not in "f%" or not fmt[1:-1].isdigit():
        return fmt
    digits, kind = int(fmt[1:-1]), fmt[-1]
    want = len(set(values))
    for extra in range(most + 1):
        f = f".{digits + extra}{kind}"
        if len({_fmt_value(x, f) for x in values}) == want:
            return f
    return f


def heatmap(cells: pd.DataFrame, x_title: str, y_title: str, value_title: str, fmt: str = ".0%",
            width="container", height: int | None = None) -> alt.LayerChart:
    """An outcome over two axes (columns x, y, value), ``height`` px per row: cells coloured in six equal
    steps of the value, each cell labelled with its value in black or white, whichever reads better on the
    cell's colour."""
    d = cells.copy()
    v = d["value"].astype(float)
    lo, hi = float(v.min()), float(v.max())
    n = len(HEAT_COLORS)
    edges = [lo + (hi - lo) * k / n for k in range(n + 1)]
    if hi > lo:
        fmt = _distinct_fmt(edges, fmt)   # the cells' labels in the same precision as the legend
    if not (hi > lo) or len({_fmt_value(x, fmt) for x in edges}) < len(edges):
        # one value, or a range too narrow to write six distinct steps: one step (steps with the same name would
        # share one colour in the legend's scale while the labels' ink followed the step's own colour)
        idx = pd.Series(0, index=d.index)
        a, b = _fmt_value(lo, fmt), _fmt_value(hi, fmt)
        steps = [a if a == b else f"{a} – {b}"]
    else:
        idx = ((v - lo) / (hi - lo) * n).clip(0, n - 1).fillna(0).astype(int)
        steps = [f"{_fmt_value(edges[k], fmt)} – {_fmt_value(edges[k + 1], fmt)}" for k in range(n)]
    colours = list(HEAT_COLORS[:len(steps)]) if len(steps) > 1 else [HEAT_COLORS[2]]
    d["step"] = [steps[i] for i in idx]
    d["ink"] = [ink_on(colours[i]) for i in idx]
    d["text"] = [_fmt_value(x, fmt) for x in v]
    base = alt.Chart(d).encode(x=alt.X("x:O", title=x_title, axis=alt.Axis(labelAngle=0)),
                               y=alt.Y("y:O", title=y_title, sort="descending"))
    tip = [alt.Tooltip("x:O", title=x_title), alt.Tooltip("y:O", title=y_title),
           alt.Tooltip("text:N", title=value_title)]
    rect = base.mark_rect(stroke="#ffffff", strokeWidth=1).encode(
        color=alt.Color("step:N", title=value_title, scale=alt.Scale(domain=steps, range=colours),
                        legend=alt.Legend(orient="right", direction="vertical", titleLimit=220, labelLimit=0)),
        tooltip=tip).properties(name="heat_cells")
    text = base.mark_text(fontSize=FONT_SIZES["normal"], fontWeight="bold").encode(
        text="text:N", color=alt.Color("ink:N", scale=None), tooltip=tip).properties(name="heat_labels")
    # rows of a fixed height (a fixed total height would be shared with the legend in the app)
    props = {"width": width, "height": alt.Step(height or 52)}
    return alt.layer(rect, text).properties(**props).resolve_scale(color="independent")


def grid_paths(paths: pd.DataFrame, panel_title: str = "", columns: int = 3, width: int = 220,
               height: int = 150, y_title: str = "Share of cards") -> alt.FacetChart:
    """Annual share paths per design point (columns year, entity, mean, p5, p95, panel): the vendors' colours
    of every other chart, a legend under the panels, bands for 5-95% over the runs."""
    ents = [e for e in list(VENDORS) + list(AGGREGATES) if e in set(paths["entity"])]
    color = alt.Color("entity:N", title="Vendor", scale=entity_scale(ents),
                      legend=alt.Legend(orient="bottom", symbolType="stroke", symbolOpacity=1, direction="horizontal"))
    dash = alt.StrokeDash("entity:N", legend=None, scale=alt.Scale(
        domain=ents, range=[[5, 3] if e in AGGREGATES else [1, 0] for e in ents]))
    tip = [alt.Tooltip("panel:N", title="Design point"), alt.Tooltip("entity:N", title="Vendor"),
           alt.Tooltip("year:O", title="Year"), alt.Tooltip("mean:Q", title="Mean", format=".0%"),
           alt.Tooltip("p5:Q", title="5%", format=".0%"), alt.Tooltip("p95:Q", title="95%", format=".0%")]
    band = alt.Chart().mark_area(opacity=0.2).encode(
        x=alt.X("year:O", title="Year", axis=alt.Axis(labelAngle=0, labelOverlap="greedy")),
        y=alt.Y("p5:Q", title=y_title), y2="p95:Q", color=color)
    line = alt.Chart().mark_line(point=True, strokeWidth=2).encode(
        x="year:O", y=alt.Y("mean:Q", axis=alt.Axis(format="%"), title=y_title,
                            scale=alt.Scale(domain=[0, 1])),
        color=color, strokeDash=dash, tooltip=tip)
    return alt.layer(band, line, data=paths).properties(width=width, height=height).facet(
        facet=alt.Facet("panel:N", title=panel_title or None, header=alt.Header(labelLimit=width + 40),
                        sort=list(dict.fromkeys(paths["panel"]))),   # panels in the order of the rows
        columns=columns)


def to_image(chart, fmt: str = "png", width: int = 900) -> bytes:
    """The chart (Altair chart or Vega-Lite dict) as PNG or SVG bytes (vl-convert, offline)."""
    import vl_convert as vlc

    if isinstance(chart, dict):
        spec = _json_datasets(dict(chart))
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
