"""Annual and monthly paths of one run, for the report's charts and the validation patterns.

Annual figures are ratios of annual sums (never means of monthly shares); grey-market cards are in
no share.
"""

from __future__ import annotations

import numpy as np

from sim.model.records import Records
from sim.model.ids import BUYER_METRICS, TIERS, VENDORS


def paths_of(rec: Records, run: int) -> dict[str, np.ndarray]:
    """Arrays keyed ``metric|entity`` of run ``run`` (an index into ``rec``): annual (one value per year in
    ``years``) and monthly (``m:`` prefix, one per month)."""
    months = np.array(rec.months)
    units, revenue = rec.legal("units")[run], rec.legal("revenue_usd")[run]
    tier = rec.tier[run]
    tier_domestic, tier_compute = tier[..., 0] * tier[..., 1], tier[..., 1]
    years = np.array([int(m[:4]) for m in months])
    ys = np.unique(years)
    out: dict[str, np.ndarray] = {"years": ys.astype(float)}

    def ann(x: np.ndarray) -> np.ndarray:  # (n, ...) -> (years, ...)
        return np.stack([x[years == y].sum(axis=0) for y in ys])

    U, R = ann(units), ann(revenue)
    nv = rec.vendor_of == VENDORS.index("Nvidia")
    hw = rec.vendor_of == VENDORS.index("Huawei")
    dom = rec.domestic
    for name, a in (("unit_share", U), ("value_share", R)):
        tot = a.sum(axis=1)
        with np.errstate(invalid="ignore", divide="ignore"):
            for ent, mask in (("Nvidia", nv), ("Huawei", hw), ("Domestic", dom)):
                out[f"{name}|{ent}"] = np.where(tot > 0, a[:, mask].sum(axis=1) / tot, np.nan)
    out["units|Total"] = U.sum(axis=1)
    out["units|Nvidia"] = U[:, nv].sum(axis=1)
    out["units|Domestic"] = U[:, dom].sum(axis=1)
    out["revenue_usd|Total"] = R.sum(axis=1)
    td, tc = ann(tier_domestic), ann(tier_compute)
    with np.errstate(invalid="ignore", divide="ignore"):
        for k, t in enumerate(TIERS):
            out[f"domestic_fraction|{t}"] = np.where(tc[:, k] > 0, td[:, k] / tc[:, k], np.nan)
    # monthly: cards pulled forward (hoarding class) and the unopened stockpile
    out["m:hoard_units|Foreign"] = rec.hoard[run][:, ~dom].sum(axis=1)
    out["m:stockpile_units|Total"] = rec.buyer[run, :, :, BUYER_METRICS.index("stockpile_units")].sum(axis=1)
    mu = units
    mt = mu.sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        out["m:unit_share|Nvidia"] = np.where(mt > 0, mu[:, nv].sum(axis=1) / mt, np.nan)
    return out
