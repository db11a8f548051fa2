"""Observed points for charts, from data/calibration_targets.csv (share and value rows).

Each row of the CSV that is a share or a market total becomes one observed point with its range:
``date`` (start of the period it covers), ``date_end``, ``metric`` (named as in the output contract:
unit_share, value_share, units, revenue_usd), ``entity`` (Nvidia, Huawei, Domestic, Total), ``value``,
``low``, ``high`` (the value itself when the file gives no range), ``role`` (target, initial, forecast,
conflicting) and ``source``. Annual figures (dated 31 December) cover the calendar year; half-year figures
cover January-June. No streamlit or altair import here.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

import pandas as pd

CSV = Path(__file__).resolve().parents[2] / "data" / "calibration_targets.csv"
COLUMNS = ("date", "date_end", "metric", "entity", "value", "low", "high", "role", "period", "label", "source")

# CSV metric name -> (output metric, role, period)
_METRICS = {
    "target_unit_share_china_ai_accel": ("unit_share", "target", "year"),
    "target_value_share_china_ai_chip": ("value_share", "target", "year"),
    "initial_share_china_ai_chip": ("unit_share", "initial", "halfyear"),
    "forecast_value_share_china_ai_chip": ("value_share", "forecast", "year"),
    # Analysts' domestic-share forecasts do not all state a basis; they are shown with value shares.
    "forecast_domestic_share_china_ai_chip": ("value_share", "forecast", "year"),
    "target_units_shipped_china": ("units", "target", "year"),
    "target_units_shipped_china_halfyear": ("units", "target", "halfyear"),
    "market_value_china_ai_chip_usd": ("revenue_usd", "target", "year"),
    "forecast_market_value_china_ai_chip_usd": ("revenue_usd", "forecast", "year"),
}
_ENTITIES = {"Nvidia": "Nvidia", "Huawei": "Huawei", "Domestic_all": "Domestic", "All_vendors": "Total"}


def _empty() -> pd.DataFrame:
    return pd.DataFrame({c: pd.Series([], dtype="datetime64[us]" if c.startswith("date") else
                                      ("float64" if c in ("value", "low", "high") else "str"))
                         for c in COLUMNS})


def parse(df: pd.DataFrame) -> pd.DataFrame:
    """Observed points from the raw CSV frame (columns date, metric, vendor, value, low, high, source)."""
    rows = []
    for r in df.itertuples(index=False):
        spec = _METRICS.get(str(r.metric))
        ent = _ENTITIES.get(str(r.vendor))
        if spec is None or ent is None or pd.isna(r.value):
            continue
        metric, role, period = spec
        end = pd.Timestamp(str(r.date))
        if period == "year":
            start = pd.Timestamp(year=end.year, month=1, day=1)
            stop = pd.Timestamp(year=end.year, month=12, day=1)
            label = f"{end.year}"
        else:
            start = pd.Timestamp(year=end.year, month=1 if end.month <= 6 else 7, day=1)
            stop = start + pd.DateOffset(months=5)
            label = f"H{1 if end.month <= 6 else 2} {end.year}"
        value = float(r.value)
        low = float(r.low) if not pd.isna(r.low) else value
        high = float(r.high) if not pd.isna(r.high) else value
        rows.append({"date": start, "date_end": stop, "metric": metric, "entity": ent, "value": value,
                     "low": min(low, value), "high": max(high, value), "role": role, "period": period,
                     "label": label, "source": str(r.source)})
    if not rows:
        return _empty()
    out = pd.DataFrame(rows, columns=list(COLUMNS))
    out["date"] = out["date"].astype("datetime64[us]")
    out["date_end"] = out["date_end"].astype("datetime64[us]")
    return out.sort_values(["metric", "entity", "date"], ignore_index=True)


@lru_cache(maxsize=4)
def _load(path: str, mtime: float) -> pd.DataFrame:
    raw = pd.read_csv(path, dtype={"metric": "str", "vendor": "str", "source": "str", "date": "str"})
    return parse(raw)


def load(path: Path | str = CSV) -> pd.DataFrame:
    """All observed points (empty frame if the file is missing)."""
    p = Path(path)
    if not p.exists():
        return _empty()
    return _load(str(p), p.stat().st_mtime).copy()


def points(metric: str, entities=None, roles=("target", "initial", "forecast"), path: Path | str = CSV) -> pd.DataFrame:
    """Observed points of one metric (e.g. ``unit_share``), optionally for some entities and roles."""
    d = load(path)
    d = d[(d["metric"] == metric) & d["role"].isin(list(roles))]
    if entities is not None:
        d = d[d["entity"].isin(list(entities))]
    return d.reset_index(drop=True)
