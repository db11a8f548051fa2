"""Continuity and direction checks of a scenario (MODEL.md section 9.7).

*Continuity:* every event's effective month is swept over +-``months`` in one-month steps (its
announcement moves with it), and every named parameter over +-``span`` of its value in ``step`` steps.
An annual vendor share that jumps by more than ``threshold`` between two neighbouring points of one
sweep is a knife-edge, unless docs/ODD.md names it as a real discontinuity.

*Directions,* all else equal: removing a tightening rule on foreign supply never lowers Nvidia's annual
share in the years it covers (from its effective year to the end of the horizon), and removing a rule on
the inputs of China's own chip makers (TSMC dies, HBM, fab tools) never raises it; a lower domestic price never raises
Nvidia's share; more domestic capacity never lowers the domestic share.

Every point is the mean over the same seeds (common random numbers), and all points of a check run as
batches through the engine's execution layer, so a whole sweep costs a few thousand batched runs.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from sim.engine.batch import Job
from sim.engine.executors import make_executor, run_jobs
from sim.model.calendar import month_index, month_str
from sim.model.ids import AGGREGATES, VENDOR_METRICS, VENDORS
from sim.model.market_model import MarketModel
from sim.model.params import PARAMS
from sim.model.records import Records
from sim.model.scenario import Scenario
from sim.model.seeds import derive_seeds

SHARE_ENTITIES = (*VENDORS, "Domestic")
BASIS = {"units": "unit_share", "value": "value_share", "compute": "compute_share"}
_SUM = {"unit_share": "units", "value_share": "revenue_usd", "compute_share": "compute"}


@dataclass(frozen=True)
class Point:
    axis: str          # "event:<id>" or "parameter:<name>"
    offset: float      # months (events) or relative change (parameters)
    scenario: Scenario


def annual_shares(rec: Records, years: Sequence[int], basis: str = "units") -> np.ndarray:
    """(R, len(years), len(SHARE_ENTITIES)) annual shares: per run the ratio of annual sums."""
    block = rec.vendor_block()                                          # (R, n, V + 3, metrics)
    x = block[..., VENDOR_METRICS.index(_SUM[BASIS[basis]])]            # (R, n, V + 3)
    cols = [VENDORS.index(v) for v in VENDORS] + [len(VENDORS) + AGGREGATES.index("Domestic")]
    tot_col = len(VENDORS) + AGGREGATES.index("Total")
    yrs = np.array([int(m[:4]) for m in rec.months])
    out = np.full((rec.n_runs, len(years), len(cols)), np.nan)
    for k, y in enumerate(years):
        sel = yrs == y
        if not sel.any():
            continue
        num = x[:, sel][:, :, cols].sum(axis=1)
        tot = x[:, sel, tot_col].sum(axis=1)[:, None]
        out[:, k] = np.divide(num, tot, out=np.full_like(num, np.nan), where=tot > 0)
    return out


def _evaluate(points: list[Point], seeds: Sequence[int], years: Sequence[int], basis: str, workers: int,
              progress: Callable[[int, int], None] | None) -> np.ndarray:
    """(points, years, entities): mean over seeds of the annual shares of every point."""
    k = len(seeds)
    jobs = [Job(p.scenario, int(s), i * k + j) for i, p in enumerate(points) for j, s in enumerate(seeds)]
    out = np.full((len(points), len(years), len(SHARE_ENTITIES)), np.nan)
    groups: dict[tuple[str, str], list[Job]] = {}
    for job in jobs:
        groups.setdefault((job.scenario.header.start, job.scenario.header.end), []).append(job)
    ex = make_executor("local", workers)
    done = 0
    try:
        for group in groups.values():
            rec = run_jobs(group, ex, details=(), progress=(lambda d, t, b=done: progress(b + d, len(jobs)))
                           if progress else None)
            done += len(group)
            sh = annual_shares(rec, years, basis)
            point = rec.run_ids // k
            for i in np.unique(point):
                out[i] = np.nanmean(sh[point == i], axis=0)
    finally:
        ex.close()
    return out


# ---------------------------------------------------------------- the sweeps


def event_points(sc: Scenario, months: int = 6, events: Sequence[str] | None = None) -> list[Point]:
    first, last = month_index(sc.header.start), month_index(sc.header.end)
    pts = []
    for ev in sc.events:
        if events is not None and ev.id not in events:
            continue
        if not first <= month_index(ev.effective) <= last:
            continue
        for d in range(-months, months + 1):
            if not first <= month_index(ev.effective) + d <= last:
                continue
            moved = ev.shifted(d)
            change = {"effective": moved.effective, "announced": moved.announced}
            pts.append(Point(f"event:{ev.id}", d, sc.with_changes(events={ev.id: change}) if d else sc))
    return pts


def parameter_points(sc: Scenario, names: Sequence[str], span: float = 0.10, step: float = 0.02) -> list[Point]:
    pts = []
    n = int(round(span / step))
    for name in names:
        spec = PARAMS[name]
        v = sc.parameters.get(name, spec.default) if hasattr(sc, "parameters") else spec.default
        if not isinstance(v, (int, float)) or isinstance(v, bool) or v == 0:
            continue
        for i in range(-n, n + 1):
            f = i * step
            x = float(v) * (1 + f)
            if not spec.lo <= x <= spec.hi:
                continue
            pts.append(Point(f"parameter:{name}", round(f, 6),
                             sc.with_changes(parameters={name: x}) if i else sc))
    return pts


def sweep(sc: Scenario, points: list[Point], seeds: int = 5, year: int = 2027, basis: str = "units",
          workers: int = 1, progress=None) -> pd.DataFrame:
    """Tidy frame: axis, offset, and the mean annual share of each entity in ``year``."""
    sv = derive_seeds(sc.header.seed, seeds)
    vals = _evaluate(points, sv, [year], basis, workers, progress)[:, 0, :]
    df = pd.DataFrame(vals, columns=list(SHARE_ENTITIES))
    df.insert(0, "offset", [p.offset for p in points])
    df.insert(0, "axis", [p.axis for p in points])
    return df


def jumps(df: pd.DataFrame, threshold: float = 0.10) -> pd.DataFrame:
    """Neighbouring points of one sweep whose share of some entity differs by more than ``threshold``."""
    rows = []
    for axis, g in df.groupby("axis", sort=False):
        g = g.sort_values("offset")
        for ent in SHARE_ENTITIES:
            v = g[ent].to_numpy()
            off = g["offset"].to_numpy()
            for i in range(1, len(v)):
                d = v[i] - v[i - 1]
                if np.isfinite(d) and abs(d) > threshold:
                    rows.append({"axis": axis, "entity": ent, "from": off[i - 1], "to": off[i],
                                 "share_before": v[i - 1], "share_after": v[i], "jump": d})
    return pd.DataFrame(rows, columns=["axis", "entity", "from", "to", "share_before", "share_after", "jump"])


# ---------------------------------------------------------------- directions


def event_directions(sc: Scenario, seed: int = 0) -> dict[str, int]:
    """How the model reads each event when it is announced: +1 tightens, -1 eases, 0 neither."""
    m = MarketModel(sc, seed=seed, mesa_collect=False)
    m.run_model()
    return {k: int(v[0]) for k, v in m.event_direction.items()}


def removal_directions(sc: Scenario, seeds: int = 5, basis: str = "units", tolerance: float = 0.005,
                       workers: int = 1, progress=None) -> pd.DataFrame:
    """For each tightening rule: Nvidia's annual share with and without it, in every year it covers.
    ``wrong`` marks a year where removing a rule on foreign supply lowers Nvidia's share by more than
    ``tolerance``, or removing a rule on China's own chip makers' inputs raises it (``acts_on``)."""
    direction = event_directions(sc)
    tight = [e for e in sc.events if direction.get(e.id) == 1]
    years = list(range(int(sc.header.start[:4]), int(sc.header.end[:4]) + 1))
    pts = [Point("base", 0, sc)] + [Point(f"event:{e.id}", 0, sc.with_changes(remove=[e.id])) for e in tight]
    sv = derive_seeds(sc.header.seed, seeds)
    vals = _evaluate(pts, sv, years, basis, workers, progress)
    nv = SHARE_ENTITIES.index("Nvidia")
    rows = []
    for i, e in enumerate(tight, start=1):
        for k, y in enumerate(years):
            if y < int(e.effective[:4]):
                continue
            with_, without = vals[0, k, nv], vals[i, k, nv]
            sign = -1.0 if e.acts_on == "domestic" else 1.0   # the direction removal should move Nvidia
            rows.append({"event": e.id, "acts_on": e.acts_on, "year": y, "nvidia_with": with_,
                         "nvidia_without": without, "change": without - with_,
                         "wrong": bool(sign * (without - with_) < -tolerance)})
    return pd.DataFrame(rows, columns=["event", "acts_on", "year", "nvidia_with", "nvidia_without", "change",
                                       "wrong"])


# (parameter, factor, entity, expected sign of the entity's share change): MODEL.md 9.7's "a lower domestic
# price never raises Nvidia's share; more domestic capacity never lowers the domestic share"
DIRECTION_CHECKS: tuple[tuple[str, float, str, int], ...] = (
    ("products.ascend_910b.price_usd", 0.8, "Nvidia", -1),   # a cheaper Ascend
    ("domestic.price_markup", 0.8, "Nvidia", -1),            # cheaper domestic chips of every vendor
    ("huawei.wafers_2025", 1.2, "Domestic", +1),              # more Ascend wafers
    ("huawei.wafers_2026", 1.2, "Domestic", +1),              # more Ascend wafers from 2026 on
    ("huawei.hbm_stock", 1.2, "Domestic", +1),                # more HBM for Ascend
    ("huawei.domestic_hbm_growth", 1.2, "Domestic", +1),      # faster-growing domestic HBM
    ("domestic.capacity_scale", 1.2, "Domestic", +1),         # more output of the other domestic vendors
    ("smic.advanced_wpm_2026", 1.2, "Domestic", +1),          # more SMIC advanced-node wafers
)


def parameter_directions(sc: Scenario, checks: Sequence[tuple[str, float, str, int]], seeds: int = 5,
                         years: Sequence[int] = (2025, 2027, 2030), basis: str = "units", tolerance: float = 0.005,
                         workers: int = 1) -> pd.DataFrame:
    """Each check (parameter, factor, entity, expected sign of the share's change): the parameter scaled
    by ``factor`` must move ``entity``'s share in that direction (or leave it within ``tolerance``)."""
    pts = [Point("base", 0, sc)]
    for name, factor, _, _ in checks:
        v = sc.parameters.get(name, PARAMS[name].default)
        pts.append(Point(f"parameter:{name}", factor, sc.with_changes(parameters={name: float(v) * factor})))
    sv = derive_seeds(sc.header.seed, seeds)
    vals = _evaluate(pts, sv, list(years), basis, workers, None)
    rows = []
    for i, (name, factor, ent, sign) in enumerate(checks, start=1):
        e = SHARE_ENTITIES.index(ent)
        for k, y in enumerate(years):
            d = vals[i, k, e] - vals[0, k, e]
            rows.append({"parameter": name, "factor": factor, "entity": ent, "year": y, "change": d,
                         "expected": "up" if sign > 0 else "down", "wrong": bool(sign * d < -tolerance)})
    return pd.DataFrame(rows, columns=["parameter", "factor", "entity", "year", "change", "expected", "wrong"])


def month_label(sc: Scenario, event_id: str, offset: int) -> str:
    ev = next(e for e in sc.events if e.id == event_id)
    return month_str(month_index(ev.effective) + int(offset))
