"""The calibration report: tables (targets, parameters, correlations, ablations) and Altair charts of
the model's share paths with the observed points and their ranges laid over them."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from sim.calibration.targets import Target, observed_points
from sim.model.params import PARAMS

Q_LO, Q_HI = 0.05, 0.95


def target_table(targets: list[Target], point: np.ndarray, band: np.ndarray) -> pd.DataFrame:
    """One row per target: observed, range, model mean (point estimate over seeds), 5-95% band over
    seeds x accepted parameter sets, inside or not (the mean against the range)."""
    rows = []
    for j, t in enumerate(targets):
        mean = float(np.nanmean(point[:, j]))
        lo, hi = (float(np.nanquantile(band[:, j], Q_LO)), float(np.nanquantile(band[:, j], Q_HI))) \
            if np.isfinite(band[:, j]).any() else (np.nan, np.nan)
        rows.append({"id": t.id, "label": t.label, "fitted": t.fitted, "origin": t.origin, "units": t.units,
                     "observed": t.observed, "low": t.low, "high": t.high, "rule": t.rule,
                     "model_mean": mean, "seed_sd": float(np.nanstd(point[:, j])),
                     "band_mean": float(np.nanmean(band[:, j])), "band_05": lo, "band_95": hi,
                     "z": float(t.z(mean)), "inside": t.inside(mean), "source": t.source})
    return pd.DataFrame(rows)


ACCEPTANCE = (
    # (label, target id, low, high)
    ("Nvidia unit share 2025 in 48-62%", "nvidia_unit_share_2025", 0.48, 0.62),
    ("Domestic unit share 2025 in 36-46%", "domestic_unit_share_2025", 0.36, 0.46),
    ("Total 2025 shipments 3.4-4.6 M cards", "total_units_2025", 3.4e6, 4.6e6),
    ("Nvidia value share 2024 in 60-70%", "nvidia_value_share_2024", 0.60, 0.70),
    ("Nvidia unit share 2022 >= 80%", "nvidia_unit_share_2022", 0.80, 1.0),
    ("Nvidia unit share Jan-Sep 2023 >= 80%", "nvidia_unit_share_2023_jan_sep", 0.80, 1.0),
    ("Domestic value share 2023 in 10-20%", "domestic_value_share_2023", 0.10, 0.20),
)


def acceptance_table(tt: pd.DataFrame) -> pd.DataFrame:
    rows = []
    for label, tid, lo, hi in ACCEPTANCE:
        r = tt[tt["id"] == tid]
        v = float(r["model_mean"].iloc[0]) if len(r) else np.nan
        rows.append({"criterion": label, "target": tid, "model_mean": v,
                     "result": "pass" if lo - 1e-12 <= v <= hi + 1e-12 else "MISS"})
    return pd.DataFrame(rows)


def parameter_table(names, start: dict, best: dict, sets: list[dict], lo, hi) -> pd.DataFrame:
    rows = []
    for i, n in enumerate(names):
        p = PARAMS[n]
        vals = [s[n] for s in sets if n in s]
        rows.append({"parameter": n, "units": p.units, "start": start.get(n, p.default), "fitted": best[n],
                     "prior_low": p.prior[0], "prior_high": p.prior[1], "search_low": lo[i], "search_high": hi[i],
                     "bounds": f"[{p.lo:g}, {p.hi:g}]",
                     "outside_prior": not (p.prior[0] <= best[n] <= p.prior[1]),
                     "accepted_min": min(vals) if vals else np.nan, "accepted_max": max(vals) if vals else np.nan,
                     "source": p.source})
    return pd.DataFrame(rows)


def correlations(sets: list[dict]) -> pd.DataFrame:
    """Pearson correlations among the accepted parameter sets (constant columns dropped)."""
    df = pd.DataFrame(sets)
    df = df.loc[:, df.std(ddof=0) > 0] if len(df) > 1 else df.iloc[:, :0]
    return df.corr() if df.shape[1] else pd.DataFrame()


def paths_frame(paths: list[dict[str, np.ndarray]], label: str, set_of_run: list[int] | None = None) -> pd.DataFrame:
    """Long frame (run, set, ensemble, year|month, metric, entity, value) of annual and monthly paths."""
    rows = []
    for r, p in enumerate(paths):
        years = p["years"].astype(int)
        for k, v in p.items():
            if k == "years":
                continue
            metric, entity = k.split("|")
            if metric.startswith("m:"):
                continue
            for y, x in zip(years, v):
                rows.append((r, set_of_run[r] if set_of_run else -1, label, int(y), metric, entity, float(x)))
    return pd.DataFrame(rows, columns=["run", "set", "ensemble", "year", "metric", "entity", "value"])


def monthly_frame(paths: list[dict[str, np.ndarray]], months: list[str], label: str) -> pd.DataFrame:
    rows = []
    for r, p in enumerate(paths):
        for k, v in p.items():
            if not k.startswith("m:"):
                continue
            metric, entity = k[2:].split("|")
            for m, x in zip(months, v):
                rows.append((r, label, m, metric, entity, float(x)))
    df = pd.DataFrame(rows, columns=["run", "ensemble", "month", "metric", "entity", "value"])
    df["date"] = pd.to_datetime(df["month"] + "-01").astype("datetime64[us]")
    return df


def bands(df: pd.DataFrame) -> pd.DataFrame:
    g = df.groupby(["ensemble", "year", "metric", "entity"], observed=True)["value"]
    out = pd.DataFrame({"mean": g.mean(), "lo": g.quantile(Q_LO), "hi": g.quantile(Q_HI)}).reset_index()
    out["date"] = pd.to_datetime(out["year"].astype(str) + "-07-01").astype("datetime64[us]")
    return out


def share_chart(b: pd.DataFrame, obs: pd.DataFrame, metric: str, title: str):
    """Model share paths (mean and 5-95% band over seeds x accepted sets) with the observed points and
    their ranges."""
    import altair as alt

    d = b[(b["metric"] == metric) & (b["ensemble"] == "uncertainty") & b["entity"].isin(["Nvidia", "Domestic"])]
    o = obs[(obs["metric"] == metric) & obs["entity"].isin(["Nvidia", "Domestic"])].copy()
    o["date"] = pd.to_datetime(o["start"] + "-01") + (pd.to_datetime(o["end"] + "-01") - pd.to_datetime(
        o["start"] + "-01")) / 2
    o["date"] = o["date"].astype("datetime64[us]")
    o["kind"] = np.where(o["fitted"], "observed (fitted)", "forecast range (not fitted)")
    x = alt.X("date:T", title="year")
    col = alt.Color("entity:N", title="entity", scale=alt.Scale(domain=["Nvidia", "Domestic"],
                                                                 range=["#76b900", "#c8102e"]))
    band = alt.Chart(d).mark_area(opacity=0.25).encode(x=x, y=alt.Y("lo:Q", title=title, axis=alt.Axis(format="%")),
                                                       y2="hi:Q", color=col)
    line = alt.Chart(d).mark_line(point=True).encode(
        x=x, y=alt.Y("mean:Q", title=title), color=col,
        tooltip=["entity", "year", alt.Tooltip("mean:Q", format=".1%"), alt.Tooltip("lo:Q", format=".1%"),
                 alt.Tooltip("hi:Q", format=".1%")])
    rule = alt.Chart(o).mark_rule(strokeWidth=2).encode(x="date:T", y="low:Q", y2="high:Q", color=col)
    pts = alt.Chart(o).mark_point(filled=True, size=80).encode(
        x="date:T", y="observed:Q", color=col, shape=alt.Shape("kind:N", title="point"),
        tooltip=["label", alt.Tooltip("observed:Q", format=".1%"), alt.Tooltip("low:Q", format=".1%"),
                 alt.Tooltip("high:Q", format=".1%"), "source"])
    return alt.layer(band, line, rule, pts).properties(
        width=620, height=320, title=f"{title}: model (line, 5-95% band over seeds x accepted parameter sets) "
                                     "vs observed (points, ranges)")


def units_chart(b: pd.DataFrame, obs: pd.DataFrame):
    import altair as alt

    d = b[(b["metric"] == "units") & (b["ensemble"] == "uncertainty")].copy()
    for c in ("mean", "lo", "hi"):
        d[c] = d[c] / 1e6
    o = obs[(obs["metric"] == "units") & (obs["start"].str.endswith("-01")) & (obs["end"].str.endswith("-12"))].copy()
    for c in ("observed", "low", "high"):
        o[c] = o[c] / 1e6
    o["date"] = pd.to_datetime(o["year"].astype(str) + "-07-01").astype("datetime64[us]")
    col = alt.Color("entity:N", title="entity")
    band = alt.Chart(d).mark_area(opacity=0.2).encode(x="date:T", y=alt.Y("lo:Q", title="million cards per year"),
                                                      y2="hi:Q", color=col)
    line = alt.Chart(d).mark_line(point=True).encode(x="date:T", y="mean:Q", color=col)
    rule = alt.Chart(o).mark_rule(strokeWidth=2).encode(x="date:T", y="low:Q", y2="high:Q", color=col)
    pts = alt.Chart(o).mark_point(filled=True, size=80, shape="diamond").encode(
        x="date:T", y="observed:Q", color=col, tooltip=["label", "observed", "low", "high", "source"])
    return alt.layer(band, line, rule, pts).properties(width=620, height=300,
                                                       title="Cards shipped per year (legal, hoarded included)")


def tier_chart(b: pd.DataFrame):
    import altair as alt

    d = b[(b["metric"] == "domestic_fraction") & (b["ensemble"] == "uncertainty")]
    return alt.Chart(d).mark_line(point=True).encode(
        x=alt.X("date:T", title="year"), y=alt.Y("mean:Q", title="domestic share of compute bought",
                                                  axis=alt.Axis(format="%")),
        color=alt.Color("entity:N", title="tier", sort=["low_priority", "inference", "training",
                                                         "frontier_training"]),
    ).properties(width=620, height=280, title="Substitution by workload tier (mean over runs)")


def hoard_chart(m: pd.DataFrame, events: list[tuple[str, str, str]]):
    import altair as alt

    d = m[(m["metric"] == "hoard_units") & (m["ensemble"] == "uncertainty") & (m["month"] <= "2026-06")]
    d = d.groupby("date", as_index=False)["value"].mean()
    d["value"] = d["value"] / 1e3
    ev = pd.DataFrame(events, columns=["id", "announced", "effective"])
    ev["date"] = pd.to_datetime(ev["announced"] + "-01").astype("datetime64[us]")
    ev = ev[(ev["announced"] <= "2026-06") & (ev["announced"] >= m["month"].min())]
    bars = alt.Chart(d).mark_bar().encode(x=alt.X("date:T", title="month"),
                                           y=alt.Y("value:Q", title="thousand foreign cards pulled forward"))
    rules = alt.Chart(ev).mark_rule(strokeDash=[4, 4], color="gray").encode(x="date:T", tooltip=["id", "announced",
                                                                                                  "effective"])
    return alt.layer(bars, rules).properties(width=620, height=260,
                                             title="Hoarding: foreign cards bought ahead of need (dashed: rule announced)")


def save_chart(chart, out: Path, name: str) -> list[str]:
    import altair as alt

    alt.data_transformers.disable_max_rows()
    files = []
    for ext in ("html", "png"):
        f = out / f"{name}.{ext}"
        try:
            chart.save(str(f))
            files.append(f.name)
        except Exception as e:  # PNG export needs vl-convert; the HTML is always written
            if ext == "html":
                raise
            (out / f"{name}.png.error.txt").write_text(str(e), encoding="utf-8")
    return files


def fmt(v: Any, units: str = "") -> str:
    if v is None or (isinstance(v, float) and not np.isfinite(v)):
        return "-"
    if isinstance(v, (bool, np.bool_)):
        return "yes" if v else "**no**"
    if units.startswith("share"):
        return f"{v:.1%}"
    if units == "US$":
        return f"${v / 1e9:.1f} bn"
    if units == "cards":
        return f"{v / 1e3:,.0f} k"
    if isinstance(v, (int, np.integer)):
        return str(v)
    return f"{v:.3g}"


def md_table(df: pd.DataFrame) -> str:
    cols = [str(c) for c in df.columns]
    df = df.set_axis(cols, axis=1)
    lines = ["| " + " | ".join(cols) + " |", "|" + "|".join("---" for _ in cols) + "|"]
    for _, r in df.iterrows():
        lines.append("| " + " | ".join(str(r[c]) for c in cols) + " |")
    return "\n".join(lines)


def observed(path=None) -> pd.DataFrame:
    return observed_points(path)
