"""Calibration targets: what is known about 2022-2025, how the model measures the same thing, how a
miss is scored.

Two sources of targets:

* the ``target_*`` and ``initial_*`` rows of ``data/calibration_targets.csv`` (read from the file, so
  an edited file changes the fit), and
* the discriminating series of MODEL.md section 8, taken from ``data/facts.md`` (defined in
  ``SERIES`` below with their sources): IDC's H1-2023 totals, the Aug-2023 A800 orders, the Q1-2025 H20
  rush (H20 sales in Nvidia's fiscal Q1 2026), Ascend 910B output in 2024, Tencent's and ByteDance's
  Hopper purchases in 2024, Nvidia's China-specific sales near zero in Q4 2025, and the market value
  2022-2025.

Like with like: unit shares are compared with unit shares (cards), value shares with value shares
(gross revenue), and every annual or quarterly figure is a ratio of sums over the period, never a mean
of monthly shares. Grey-market cards are in no legal share (as in IDC's shipment counts).

Scoring (``Target.z``): every target is turned into an interval [low, high]. The distance of the
model's seed-averaged statistic ``x`` from the interval's centre ``c`` is measured in half-widths
``w = (high - low) / 2``: ``z = (x - c) / w``, so ``|z| <= 1`` exactly when ``x`` is inside the range,
and the loss is the weighted sum of ``z**2``. How ranges are filled:

* two-sided range in the file: used as given (the range spans the disagreeing sources);
* blank range: ``value +/- 25%`` (a single [B] source; the tolerance is ours);
* "more than X" (only ``low`` given, or a source saying "over"/"at least"): ``[X, 1.3 X]`` -- an
  analyst's "more than 500k" is rounded down, and without a ceiling the row could not fix a level;
* "near zero": ``[0, stated ceiling]``.
"""

from __future__ import annotations

import csv
import math
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import pandas as pd

from sim.model.ids import BUYERS, VENDORS
from sim.model.records import Records

REPO = Path(__file__).resolve().parent.parent.parent
DEFAULT_TARGETS = REPO / "data" / "calibration_targets.csv"
BLANK_TOL = 0.25  # relative tolerance for a row with no range
MORE_THAN = 1.3  # "more than X" is read as [X, 1.3 X]

NVIDIA_HOPPER = ("h20", "h800", "h100", "h200", "nvidia_grey")
BIG4 = ("ByteDance", "Alibaba", "Tencent", "Baidu")


@dataclass(frozen=True)
class Target:
    """One scored fact.

    stat: how the model measures it -- ``kind`` (unit_share, value_share, units, product_units, made,
    value, value_ratio), ``entity`` (Nvidia, Domestic, Total, or product ids / buyers) and a period
    ``start``..``end`` (months, inclusive).
    """
    id: str
    label: str
    kind: str
    entity: str
    start: str
    end: str
    observed: float
    low: float
    high: float
    rule: str  # how the range was set
    source: str
    origin: str  # "calibration_targets.csv" or "facts.md"
    weight: float = 1.0
    products: tuple[str, ...] = ()
    buyers: tuple[str, ...] = ()
    ref_start: str = ""  # value_ratio: the denominator period
    ref_end: str = ""
    units: str = ""
    fitted: bool = True

    @property
    def centre(self) -> float:
        return 0.5 * (self.low + self.high)

    @property
    def half_width(self) -> float:
        return max(0.5 * (self.high - self.low), 1e-12)

    def z(self, x: float | np.ndarray) -> float | np.ndarray:
        return (np.asarray(x, dtype=float) - self.centre) / self.half_width

    def inside(self, x: float) -> bool:
        return bool(self.low - 1e-12 <= x <= self.high + 1e-12)


def _ym(date: str) -> tuple[str, str]:
    """'2025-12-31' -> the calendar year '2025-01'..'2025-12'; '2023-06-30' -> H1 2023."""
    y, m = date[:4], int(date[5:7])
    if m == 6:
        return f"{y}-01", f"{y}-06"
    return f"{y}-01", f"{y}-12"


def _range(value: float, low: float | None, high: float | None, more_than: bool = False):
    if more_than or (low is not None and high is None):
        lo = value if low is None else low
        return lo, lo * MORE_THAN, f"more than {lo:g}: [X, {MORE_THAN} X]"
    if low is None and high is None:
        return value * (1 - BLANK_TOL), value * (1 + BLANK_TOL), f"blank range: value +/- {BLANK_TOL:.0%}"
    if low is None:
        low = 0.0
    return float(low), float(high), "range from the file"


def _f(x: str) -> float | None:
    x = (x or "").strip()
    return float(x) if x else None


# (metric, vendor) in calibration_targets.csv -> (kind, entity)
CSV_MAP = {
    ("target_unit_share_china_ai_accel", "Nvidia"): ("unit_share", "Nvidia"),
    ("target_unit_share_china_ai_accel", "Domestic_all"): ("unit_share", "Domestic"),
    ("target_units_shipped_china", "All_vendors"): ("units", "Total"),
    ("target_units_shipped_china", "Nvidia"): ("units", "Nvidia"),
    ("target_value_share_china_ai_chip", "Nvidia"): ("value_share", "Nvidia"),
    ("target_value_share_china_ai_chip", "Domestic_all"): ("value_share", "Domestic"),
    ("target_units_shipped_china_halfyear", "All_vendors"): ("units", "Total"),
    ("target_units_shipped_china_halfyear", "Domestic_all"): ("units", "Domestic"),
    ("target_units_produced", "Huawei_Ascend910B"): ("made", "Huawei"),
}
UNITS = {"unit_share": "share of cards", "value_share": "share of US$", "units": "cards",
         "product_units": "cards", "product_value": "US$", "made": "cards", "value": "US$", "value_ratio": "x"}


def load_csv_targets(path: str | Path = DEFAULT_TARGETS) -> list[Target]:
    """The ``target_*`` and ``initial_*`` rows of a calibration-targets file, as Targets.

    ``initial_share_china_ai_chip`` (Nvidia ~90% before the Oct-2023 rule, 2022-H1 2023) becomes two
    targets: Nvidia's unit share in 2022 and in January-September 2023 (the months before the rule
    was announced), both scored against the row's range.
    """
    path = Path(path)
    out: list[Target] = []
    with path.open(newline="", encoding="utf-8") as fh:
        for row in csv.DictReader(fh):
            metric, vendor, date = row["metric"], row["vendor"], row["date"]
            if not (metric.startswith("target_") or metric.startswith("initial_")):
                continue
            value, low, high = float(row["value"]), _f(row["low"]), _f(row["high"])
            src = row["source"]
            if metric == "initial_share_china_ai_chip":
                lo, hi, rule = _range(value, low, high)
                for tid, start, end, lab in (
                        ("nvidia_unit_share_2022", "2022-01", "2022-12", "Nvidia unit share 2022"),
                        ("nvidia_unit_share_2023_jan_sep", "2023-01", "2023-09",
                         "Nvidia unit share Jan-Sep 2023 (before the Oct-2023 rule)")):
                    out.append(Target(tid, lab, "unit_share", "Nvidia", start, end, value, lo, hi, rule, src,
                                      path.name, units=UNITS["unit_share"]))
                continue
            key = (metric, vendor)
            if key not in CSV_MAP:
                raise ValueError(f"{path}: row {metric}/{vendor}: no model statistic is defined for it "
                                 f"(known: {sorted(CSV_MAP)})")
            kind, entity = CSV_MAP[key]
            start, end = _ym(date)
            more = "halfyear" in metric  # IDC: ">500k", ">50k"
            lo, hi, rule = _range(value, low, high, more_than=more)
            period = f"H1 {date[:4]}" if end.endswith("-06") else date[:4]
            tid = f"{entity.lower()}_{kind}_{date[:4]}" + ("_h1" if end.endswith("-06") else "")
            label = {"unit_share": f"{entity} unit share {period}", "value_share": f"{entity} value share {period}",
                     "units": f"{entity} cards shipped {period}",
                     "made": f"Ascend 910B cards made {period}"}[kind]
            out.append(Target(tid, label, kind, entity, start, end, value, lo, hi, rule, src, path.name,
                              units=UNITS[kind]))
    return out


def _series() -> list[Target]:
    """The discriminating series of MODEL.md section 8 (sources: data/facts.md)."""
    F = "facts.md"
    t = []
    lo, hi, rule = _range(100000, None, None, more_than=True)
    t.append(Target("a800_big4_aug_dec_2023", "A800 delivered to the big four, Aug-Dec 2023", "product_units",
                    "a800", "2023-08", "2023-12", 100000, lo, hi, rule + " (orders of ~100k for 2023 delivery)",
                    "FT via Nasdaq (facts.md a, 2023-08-09): $1 bn for about 100,000 A800 to be delivered in 2023 "
                    "by Baidu, ByteDance, Tencent, Alibaba", F, products=("a800",), buyers=BIG4, units="cards"))
    # The Q1-2025 H20 rush, measured as Nvidia reported it. Nvidia's own filing (its fiscal Q1 2026,
    # 27 Jan - 27 Apr 2025) gives H20 sales of $4.6 bn before the April licence rule, plus $2.5 bn it could
    # not ship: at the $10-12k paid (facts-v2.md 1) that is 0.38-0.46 M cards delivered. The secondary
    # reports of ">= 1 M H20 delivered" / "$16 bn" in the quarter (Nikkei, The Information; facts.md d,
    # facts-v2.md 7) are orders, not deliveries, and the filing contradicts them as deliveries
    # (docs/ODD.md, Validation).
    lo, hi, rule = _range(4.6e9, None, None)
    t.append(Target("h20_sales_feb_apr_2025", "H20 sales Feb-Apr 2025 (Nvidia's fiscal Q1 2026, before the "
                    "April licence rule)", "product_value", "h20", "2025-02", "2025-04", 4.6e9, lo, hi,
                    rule + " (one audited figure; the fiscal quarter is 27 Jan - 27 Apr)",
                    "Nvidia Q1 FY2026 results (28 May 2025): 'sales of H20 products were $4.6 billion for the first "
                    "quarter prior to the new export licensing requirements', $2.5 bn more could not be shipped "
                    "https://www.ai-360.online/nvidia-reports-44-1b-q1-revenue-despite-4-5b-china-export-impact ; "
                    "https://procurementpro.com/nvidia-reports-44-1-billion-in-q1-revenue/", F, products=("h20",),
                    units="US$"))
    lo, hi, rule = _range(230000, None, None)
    for b in ("Tencent", "ByteDance"):
        t.append(Target(f"hopper_{b.lower()}_2024", f"{b}: Hopper-class cards (incl. H20) bought in 2024",
                        "product_units", "hopper", "2024-01", "2024-12", 230000, lo, hi, rule,
                        "Omdia via FT (facts.md b): ~230,000 Nvidia Hopper (incl. H20) each for Tencent and ByteDance "
                        "in 2024", F, products=NVIDIA_HOPPER, buyers=(b,), units="cards"))
    t.append(Target("nvidia_unit_share_2025_q4", "Nvidia unit share Q4 2025 (China-specific sales near zero)",
                    "unit_share", "Nvidia", "2025-10", "2025-12", 0.0, 0.0, 0.10, "near zero: [0, 10%]",
                    "Huang 2025-10-06 via ibtimes (facts.md addendum): 'from 95% market share to 0%' of current "
                    "China-specific SKU sales", F, units=UNITS["unit_share"]))
    lo, hi, rule = _range(37e9, None, None)
    t.append(Target("market_value_2025", "Market value 2025 (gross sales, US$)", "value", "Total", "2025-01",
                    "2025-12", 37e9, lo, hi, rule,
                    "Bernstein Jul & Dec 2025 (calibration_targets.csv market_value_china_ai_chip_usd; facts.md b): "
                    "$37 bn supply in 2025", F, units="US$"))
    for y, v in ((2023, 9.4 / 6.7), (2024, 22.1 / 6.7)):
        lo, hi, rule = _range(v, None, None)
        t.append(Target(f"market_value_growth_{y}_vs_2022", f"Market value {y} / 2022", "value_ratio", "Total",
                        f"{y}-01", f"{y}-12", v, lo, hi, rule + " (IDC accelerated-server values as a growth index)",
                        "IDC China accelerated-server market $6.7 bn (2022), $9.4 bn (2023), $22.1 bn (2024) "
                        "(facts.md b); used only as growth ratios, since server value is not chip value", F,
                        ref_start="2022-01", ref_end="2022-12", units="x"))
    return t


SERIES_IDS = tuple(x.id for x in _series())


def load_targets(path: str | Path | None = None, series: bool = True) -> list[Target]:
    """All fitted targets: the file's target_/initial_ rows plus (by default) the facts.md series."""
    out = load_csv_targets(path or DEFAULT_TARGETS)
    if series:
        out += _series()
    ids = [t.id for t in out]
    dup = {x for x in ids if ids.count(x) > 1}
    if dup:
        raise ValueError(f"duplicate target ids {sorted(dup)}")
    return out


def out_of_sample(path: str | Path | None = None) -> list[Target]:
    """Forecast checks (never fitted): domestic share 2027 against the analysts' 55-82% range."""
    path = Path(path or DEFAULT_TARGETS)
    out = []
    with path.open(newline="", encoding="utf-8") as fh:
        for row in csv.DictReader(fh):
            if row["metric"] == "forecast_domestic_share_china_ai_chip" and row["date"].startswith("2027"):
                v, lo, hi = float(row["value"]), _f(row["low"]), _f(row["high"])
                for kind in ("unit_share", "value_share"):
                    out.append(Target(f"domestic_{kind}_2027", f"Domestic {kind.replace('_', ' ')} 2027 (forecast)",
                                      kind, "Domestic", "2027-01", "2027-12", v, lo, hi,
                                      "analysts' range (Bernstein 55% vs Morgan Stanley 82%)", row["source"],
                                      path.name, units=UNITS[kind], fitted=False))
    return out


def observed_points(path: str | Path | None = None, include_forecasts: bool = True) -> pd.DataFrame:
    """Tidy frame of the observed points for charts (one row per target).

    Columns: id, label, entity, metric (unit_share, value_share, units, ...), date (the period's first
    month, datetime64), start, end (month strings), year, observed, low, high, centre, rule, source,
    origin, fitted. Share rows can be laid over the model's annual share paths directly.
    """
    tg = load_targets(path) + (out_of_sample(path) if include_forecasts else [])
    rows = []
    for t in tg:
        rows.append({"id": t.id, "label": t.label, "entity": t.entity, "metric": t.kind,
                     "date": pd.Timestamp(t.start + "-01"), "start": t.start, "end": t.end,
                     "year": int(t.start[:4]), "observed": t.observed, "low": t.low, "high": t.high,
                     "centre": t.centre, "units": t.units, "rule": t.rule, "source": t.source,
                     "origin": t.origin, "fitted": t.fitted})
    df = pd.DataFrame(rows)
    df["date"] = df["date"].astype("datetime64[us]")
    return df


# ---------------------------------------------------------------- measuring runs

DETAILS = ("buyer_product",)  # the record blocks the targets need beyond the contract


def _period(months: list[str], start: str, end: str) -> np.ndarray:
    m = np.array(months)
    return (m >= start) & (m <= end)


def measure(rec: Records, t: Target) -> np.ndarray:
    """The value of target ``t`` in every run of ``rec`` ((R,); NaN when the runs do not cover the
    period). Card counts are legal deliveries (grey cards in no share, as in IDC's counts), except
    per-buyer purchases, which count every card a buyer received."""
    R = rec.n_runs
    if t.end > rec.months[-1] or t.start < rec.months[0]:
        return np.full(R, math.nan)
    sel = _period(rec.months, t.start, t.end)

    def mask(entity: str) -> np.ndarray:
        if entity == "Total":
            return np.ones(len(rec.product_ids), dtype=bool)
        if entity == "Domestic":
            return rec.domestic.copy()
        if entity == "Foreign":
            return ~rec.domestic
        return rec.vendor_of == VENDORS.index(entity)

    k = t.kind
    if k in ("unit_share", "value_share", "units", "value"):
        arr = rec.legal("units") if k in ("unit_share", "units") else rec.legal("revenue_usd")
        s = arr[:, sel].sum(axis=1)  # (R, P)
        num = s[:, mask(t.entity)].sum(axis=1)
        if k in ("units", "value"):
            return num
        tot = s.sum(axis=1)
        return np.divide(num, tot, out=np.full(R, math.nan), where=tot > 0)
    if k == "value_ratio":
        rev = rec.legal("revenue_usd")
        ref = _period(rec.months, t.ref_start, t.ref_end)
        a, b = rev[:, sel].sum(axis=(1, 2)), rev[:, ref].sum(axis=(1, 2))
        return np.divide(a, b, out=np.full(R, math.nan), where=b > 0)
    if k == "made":
        return rec.made[:, sel].sum(axis=1)
    if k == "product_units":
        if rec.buyer_product is None:
            raise ValueError("per-buyer product deliveries were not recorded (details=('buyer_product',))")
        pi = [rec.product_ids.index(p) for p in t.products]
        bi = [BUYERS.index(b) for b in t.buyers] if t.buyers else list(range(rec.buyer_product.shape[2]))
        return rec.buyer_product[:, sel][:, :, bi][:, :, :, pi].sum(axis=(1, 2, 3))
    if k == "product_value":   # vendor revenue from the named products (no buyer split)
        pi = [rec.product_ids.index(p) for p in t.products]
        return rec.legal("revenue_usd")[:, sel][:, :, pi].sum(axis=(1, 2))
    raise ValueError(f"unknown statistic kind {k!r}")


def measure_all(rec: Records, targets: list[Target]) -> np.ndarray:
    """(R, n_targets): every target in every run."""
    return np.stack([measure(rec, t) for t in targets], axis=1) if targets else np.zeros((rec.n_runs, 0))


def loss(means: np.ndarray, targets: list[Target]) -> float:
    """Weighted sum of squared z-scores of seed-averaged statistics (NaN counts as a large miss)."""
    z = np.array([t.z(x) for t, x in zip(targets, means)], dtype=float)
    w = np.array([t.weight for t in targets])
    z = np.where(np.isfinite(z), z, 10.0)
    return float((w * z * z).sum())


def with_weight(targets: list[Target], weights: dict[str, float]) -> list[Target]:
    return [replace(t, weight=weights.get(t.id, t.weight)) for t in targets]
