"""What differs between two resolved scenarios, and the paired difference of two ensembles
(no streamlit import)."""

from __future__ import annotations

import numpy as np
import pandas as pd

from sim.engine import ensemble as E
from sim.model.params import PARAMS
from sim.model.scenario import Scenario
from sim.ui.settings import BASIS_WORDS


def scenario_diff(a: Scenario, b: Scenario) -> pd.DataFrame:
    """Rows kind, item, field, A, B for every header field, parameter value and event field that differs."""
    rows = []
    da, db = a.to_dict(), b.to_dict()
    for k in ("start", "end", "seed"):
        if da["scenario"].get(k) != db["scenario"].get(k):
            rows.append(("scenario", k, "", str(da["scenario"].get(k)), str(db["scenario"].get(k))))
    pa, pb = da["parameters"], db["parameters"]
    for k in sorted(set(pa) | set(pb)):
        va = pa.get(k, PARAMS[k].default if k in PARAMS else None)
        vb = pb.get(k, PARAMS[k].default if k in PARAMS else None)
        if va != vb:
            units = PARAMS[k].units if k in PARAMS else ""
            rows.append(("parameter", k, units, _fmt(va), _fmt(vb)))
    ea = {e["id"]: e for e in da["events"]}
    eb = {e["id"]: e for e in db["events"]}
    for eid in sorted(set(ea) | set(eb), key=lambda i: ((ea.get(i) or eb.get(i))["effective"], i)):
        if eid not in eb:
            rows.append(("rule", eid, "", f"{ea[eid]['effective']}: {ea[eid].get('label', '')}", "(not in B)"))
        elif eid not in ea:
            rows.append(("rule", eid, "", "(not in A)", f"{eb[eid]['effective']}: {eb[eid].get('label', '')}"))
        else:
            for f in sorted(set(ea[eid]) | set(eb[eid])):
                if f in ("label", "source"):
                    continue
                if ea[eid].get(f) != eb[eid].get(f):
                    rows.append(("rule", eid, f, _fmt(ea[eid].get(f)), _fmt(eb[eid].get(f))))
    return pd.DataFrame(rows, columns=["kind", "item", "field", "A", "B"]).astype("str")


def _fmt(v) -> str:
    if v is None:
        return "(not set)"
    if isinstance(v, float):
        return f"{v:g}"
    return str(v)


def paired_difference(a: E.Ensemble, b: E.Ensemble, metric: str, entities) -> tuple[pd.DataFrame, bool]:
    """B − A of a monthly share per entity: mean and 5-95% band of the per-seed differences when both
    ensembles used the same seeds and parameter sets (paired), else the difference of means (band collapsed)."""
    xa, xb = a.block(list(entities), metric), b.block(list(entities), metric)
    paired = a.seeds == b.seeds and a.n_sets == b.n_sets and np.array_equal(a.months, b.months)
    if paired:
        d = xb - xa
        mean, q = d.mean(axis=0), np.quantile(d, [0.05, 0.95], axis=0)
        lo, hi = q[0], q[1]
    else:
        n = min(xa.shape[1], xb.shape[1])
        mean = xb[:, :n].mean(axis=0) - xa[:, :n].mean(axis=0)
        lo = hi = mean
    n, e = mean.shape
    months = a.months[:n]
    return pd.DataFrame({
        "date": np.repeat(months, e),
        "entity": pd.array(np.tile(np.array(list(entities), dtype=object), n), dtype="str"),
        "mean": mean.reshape(-1), "lo": lo.reshape(-1), "hi": hi.reshape(-1),
    }), paired


def headline_table(pairs: list[tuple[dict, dict]]) -> pd.DataFrame:
    """Side-by-side headline numbers (``sim.engine.ensemble.headline`` of A and of B), one pair per share
    basis: each share and the passing month on every basis given, one under another, then the compute gap."""
    rows = []
    for key, label in (("Nvidia_2025", "Nvidia share 2025"), ("Huawei_2025", "Huawei share 2025"),
                       ("Domestic_2025", "Domestic share 2025"), ("Nvidia_2027", "Nvidia share 2027"),
                       ("Huawei_2027", "Huawei share 2027"), ("Domestic_2027", "Domestic share 2027")):
        for ha, hb in pairs:
            a, b = ha.get(key), hb.get(key)
            rows.append((label, BASIS_WORDS[ha["metric"]], _pct(a), _pct(b),
                         _pts(b - a) if a is not None and b is not None else "–"))
    ha, hb = pairs[0]
    a, b = ha.get("gap_2027"), hb.get("gap_2027")
    rows.append(("Compute gap 2027", "", _pct(a), _pct(b), _pts(b - a) if a is not None and b is not None else "–"))
    for ha, hb in pairs:
        rows.append(("Huawei passes Nvidia", BASIS_WORDS[ha["metric"]], month_text(ha.get("passing")),
                     month_text(hb.get("passing")), ""))
    return pd.DataFrame(rows, columns=["", "of", "A", "B", "B − A"])


def month_text(t) -> str:
    """A passing month as YYYY-MM, or "not by 2030"."""
    return t.strftime("%Y-%m") if t is not None else "not by 2030"


def _pct(x) -> str:
    return "–" if x is None else f"{100 * x:.1f}%"


def _pts(x) -> str:
    return f"{100 * x:+.1f} pts"
