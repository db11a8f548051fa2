"""Seed ensembles for the app: run a scenario for several seeds and keep the results compact.

An :class:`Ensemble` holds the output contract as dense arrays (runs x months x series), which pickle
fast (the app caches them) and summarise fast (quantile bands, annual shares). ``timeseries()`` and
``decisions()`` give back the long tables of the output contract for downloads and reuse.
No streamlit import here.
"""

from __future__ import annotations

import atexit
import contextlib
import multiprocessing as mp
import os
import sys
import threading
import types
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass

import numpy as np
import pandas as pd

from sim.engine.runs import DECISION_COLUMNS, TRACE_TERMS, annual_shares, run_model
from sim.model.ids import BUYERS, ORIGINS, TIERS, TIMESERIES_COLUMNS, VENDORS
from sim.model.scenario import Scenario
from sim.model.seeds import derive_seeds

DEC_VALUES = (*TRACE_TERMS, "share_unconstrained", "share")
SHARE_BASIS = {"unit_share": "units", "value_share": "revenue_usd", "compute_share": "compute"}


@dataclass(frozen=True)
class Ensemble:
    """Results of one scenario for several seeds, as arrays.

    values: (runs, months, series) for the series ``keys`` (entity, metric);
    dec: (runs, months, buyers, tiers, origins, len(DEC_VALUES)) decision trace;
    events: per run, the (month, event id) pairs the model applied.
    """
    months: np.ndarray  # datetime64[us], first of month
    keys: tuple[tuple[str, str], ...]
    seeds: tuple[int, ...]
    values: np.ndarray
    dec: np.ndarray
    events: tuple[tuple[tuple[str, str], ...], ...]

    @property
    def n_runs(self) -> int:
        return len(self.seeds)

    def series(self, entity: str, metric: str) -> np.ndarray:
        """(runs, months) array of one series."""
        return self.values[:, :, self._index()[(entity, metric)]]

    def _index(self) -> dict[tuple[str, str], int]:
        return {k: i for i, k in enumerate(self.keys)}

    def block(self, entities, metric: str) -> np.ndarray:
        """(runs, months, len(entities)) array."""
        idx = self._index()
        return self.values[:, :, [idx[(e, metric)] for e in entities]]

    def timeseries(self, metrics=None) -> pd.DataFrame:
        """The long output table (run, seed, date, entity, metric, value), optionally for some metrics."""
        keys = [(i, k) for i, k in enumerate(self.keys) if metrics is None or k[1] in metrics]
        cols = [i for i, _ in keys]
        r, n, k = self.n_runs, len(self.months), len(cols)
        ents = np.array([e for _, (e, _m) in keys], dtype=object)
        mets = np.array([m for _, (_e, m) in keys], dtype=object)
        df = pd.DataFrame({
            "run": np.repeat(np.arange(r, dtype=np.int64), n * k),
            "seed": np.repeat(np.array(self.seeds, dtype=np.int64), n * k),
            "date": np.tile(np.repeat(self.months, k), r),
            "entity": pd.array(np.tile(ents, r * n), dtype="str"),
            "metric": pd.array(np.tile(mets, r * n), dtype="str"),
            "value": self.values[:, :, cols].reshape(-1),
        })
        return df[list(TIMESERIES_COLUMNS)]

    def decisions(self) -> pd.DataFrame:
        """The long decision trace of the output contract."""
        r, n, b, t, o, _ = self.dec.shape
        idx = np.indices((r, n, b, t, o)).reshape(5, -1)
        flat = self.dec.reshape(-1, len(DEC_VALUES))
        data = {
            "run": idx[0].astype(np.int64),
            "seed": np.array(self.seeds, dtype=np.int64)[idx[0]],
            "date": self.months[idx[1]],
            "buyer": pd.array(np.array(BUYERS, dtype=object)[idx[2]], dtype="str"),
            "tier": pd.array(np.array(TIERS, dtype=object)[idx[3]], dtype="str"),
            "origin": pd.array(np.array(ORIGINS, dtype=object)[idx[4]], dtype="str"),
        }
        for j, name in enumerate(DEC_VALUES):
            data[name] = flat[:, j]
        return pd.DataFrame(data)[list(DECISION_COLUMNS)]


# ---------------------------------------------------------------- running


def _compact(ts: pd.DataFrame, dec: pd.DataFrame, n: int):
    """One run's long tables -> (months, keys, values (n, K), dec (n, B, T, O, V))."""
    k = len(ts) // n
    dates = ts["date"].to_numpy()
    ent = ts["entity"].to_numpy(dtype=object)
    met = ts["metric"].to_numpy(dtype=object)
    first_e, first_m = ent[:k], met[:k]
    ordered = (len(ts) == n * k and (dates.reshape(n, k) == dates[::k][:, None]).all()
               and (ent.reshape(n, k) == first_e).all() and (met.reshape(n, k) == first_m).all())
    if ordered:
        months = dates[::k]
        keys = tuple(zip(first_e.tolist(), first_m.tolist()))
        values = ts["value"].to_numpy().reshape(n, k).copy()
    else:  # fall back to a pivot if the runner ever changes its row order
        wide = ts.pivot_table(index="date", columns=["entity", "metric"], values="value", aggfunc="first")
        months = wide.index.to_numpy()
        keys = tuple((str(e), str(m)) for e, m in wide.columns)
        values = wide.to_numpy().copy()
    b, t, o = len(BUYERS), len(TIERS), len(ORIGINS)
    m = b * t * o
    expect = np.indices((b, t, o)).reshape(3, -1)
    ddates = dec["date"].to_numpy()
    in_order = (len(dec) == n * m and (ddates.reshape(n, m) == ddates[::m][:, None]).all()
                and all((dec[c].to_numpy(dtype=object).reshape(n, m) == np.array(names, dtype=object)[expect[j]]).all()
                        for j, (c, names) in enumerate((("buyer", BUYERS), ("tier", TIERS), ("origin", ORIGINS)))))
    d = dec if in_order else dec.sort_values(["date", "buyer", "tier", "origin"], key=_order_key, kind="stable")
    dvals = d[list(DEC_VALUES)].to_numpy().reshape(n, b, t, o, len(DEC_VALUES)).copy()
    return months, keys, values, dvals


def _order_key(col: pd.Series):
    order = {"buyer": BUYERS, "tier": TIERS, "origin": ORIGINS}.get(col.name)
    if order is None:
        return col
    return col.map({v: i for i, v in enumerate(order)})


def run_chunk(scenario: Scenario, seeds: tuple[int, ...], first_run: int):
    """Run some seeds of one scenario (in this process or a worker); returns compact arrays."""
    out = []
    for i, s in enumerate(seeds):
        ts, dec, ev = run_model(scenario, int(s), first_run + i, trace=True)
        n = ts["date"].nunique()
        out.append((*_compact(ts, dec, n), tuple(ev)))
    return out


def _warm() -> bool:
    return True


@contextlib.contextmanager
def _bare_main():
    """Worker processes started inside this block do not re-run the parent's ``__main__`` (under
    ``streamlit run`` or AppTest that is the page script; the workers only need importable modules)."""
    real = sys.modules.get("__main__")
    sys.modules["__main__"] = types.ModuleType("__main__")
    try:
        yield
    finally:
        if real is not None:
            sys.modules["__main__"] = real


_POOL: ProcessPoolExecutor | None = None
_POOL_LOCK = threading.Lock()


def pool_workers() -> int:
    """Worker processes for ensembles: CHIPSHIFT_APP_WORKERS, else 2 on a multi-core machine (0 = serial)."""
    env = os.environ.get("CHIPSHIFT_APP_WORKERS")
    if env is not None and env.strip() != "":
        return max(0, int(env))
    return min(2, os.cpu_count() or 1) if (os.cpu_count() or 1) > 1 else 0


def get_pool() -> ProcessPoolExecutor | None:
    """A process pool shared by all sessions of the server (forkserver: safe from a threaded server)."""
    global _POOL
    w = pool_workers()
    if w < 1:
        return None
    with _POOL_LOCK:
        if _POOL is None:
            ctx = mp.get_context("forkserver")
            # Preload only the model in the fork server (not the caller's __main__, e.g. a web server).
            ctx.set_forkserver_preload(["sim.engine.ensemble"])
            _POOL = ProcessPoolExecutor(max_workers=w, mp_context=ctx)
            with _bare_main():  # all workers start here
                for f in [_POOL.submit(_warm) for _ in range(w)]:
                    f.result()
            atexit.register(shutdown_pool)
        return _POOL


def shutdown_pool() -> None:
    global _POOL
    with _POOL_LOCK:
        if _POOL is not None:
            _POOL.shutdown(wait=True, cancel_futures=True)
            _POOL = None


def run_ensemble(scenario: Scenario, n_seeds: int, pool: ProcessPoolExecutor | None = None) -> Ensemble:
    """Run ``n_seeds`` replicates (seeds derived from the scenario's master seed, as the CLI does)."""
    seeds = tuple(int(s) for s in derive_seeds(scenario.header.seed, int(n_seeds)))
    if pool is None or len(seeds) < 2:
        parts = run_chunk(scenario, seeds, 0)
    else:
        k = pool._max_workers  # noqa: SLF001 - our own pool, created above
        bounds = np.linspace(0, len(seeds), min(k, len(seeds)) + 1).round().astype(int)
        futs = [pool.submit(run_chunk, scenario, seeds[a:b], int(a)) for a, b in zip(bounds[:-1], bounds[1:])]
        parts = [p for f in futs for p in f.result()]
    months, keys = parts[0][0], parts[0][1]
    values = np.stack([p[2] for p in parts])
    dec = np.stack([p[3] for p in parts])
    events = tuple(p[4] for p in parts)
    return Ensemble(months.astype("datetime64[us]"), keys, seeds, values, dec, events)


# ---------------------------------------------------------------- summaries


def share_bands(ens: Ensemble, metric: str = "unit_share", entities=VENDORS, lo: float = 0.05,
                hi: float = 0.95) -> pd.DataFrame:
    """Tidy frame date, entity, mean, lo, hi of a monthly share across seeds."""
    x = ens.block(list(entities), metric)  # (R, n, E)
    q = np.quantile(x, [lo, hi], axis=0)
    n, e = x.shape[1], x.shape[2]
    return pd.DataFrame({
        "date": np.repeat(ens.months, e),
        "entity": pd.array(np.tile(np.array(list(entities), dtype=object), n), dtype="str"),
        "mean": x.mean(axis=0).reshape(-1),
        "lo": q[0].reshape(-1),
        "hi": q[1].reshape(-1),
    })


def series_bands(ens: Ensemble, entities, metric: str, lo: float = 0.05, hi: float = 0.95) -> pd.DataFrame:
    return share_bands(ens, metric, entities, lo, hi)


def annual(ens: Ensemble, metric: str = "unit_share", entities=("Nvidia", "Huawei", "Domestic")) -> pd.DataFrame:
    """Annual shares (ratios of annual sums, mean over runs) via sim.engine.runs.annual_shares."""
    base = SHARE_BASIS[metric]
    return annual_shares(ens.timeseries(metrics={base}), metric, entities)


def passing_month(ens: Ensemble, metric: str = "unit_share", leader: str = "Nvidia",
                  challenger: str = "Huawei") -> pd.Timestamp | None:
    """First month in which the challenger's share (ratio of sums over seeds) exceeds the leader's and
    stays ahead for the next two months; None if never."""
    base = SHARE_BASIS[metric]
    a = ens.series(leader, base).sum(axis=0)
    b = ens.series(challenger, base).sum(axis=0)
    ahead = b > a
    for t in range(len(ahead)):
        if ahead[t] and ahead[t:t + 3].all():
            return pd.Timestamp(ens.months[t])
    return None


def headline(ens: Ensemble, metric: str = "unit_share") -> dict:
    """The numbers shown above the main chart."""
    ann = annual(ens, metric, ("Nvidia", "Huawei", "Domestic"))
    gap = ens.series("Total", "compute_gap")
    years = pd.DatetimeIndex(ens.months).year.to_numpy()
    out: dict = {"metric": metric}
    for y in (2025, 2027):
        for e in ("Nvidia", "Huawei", "Domestic"):
            out[f"{e}_{y}"] = float(ann.loc[y, e]) if y in ann.index else None
        sel = years == y
        out[f"gap_{y}"] = float(gap[:, sel].mean()) if sel.any() else None
    out["passing"] = passing_month(ens, metric)
    return out


def events_applied(ens: Ensemble, run: int = 0) -> list[tuple[str, str]]:
    return list(ens.events[run]) if ens.events else []


def term_differences(ens: Ensemble, buyer: str, tier: str) -> pd.DataFrame:
    """Per month, domestic minus foreign of each utility term (mean over runs), plus the domestic share."""
    b, t = BUYERS.index(buyer), TIERS.index(tier)
    d = ens.dec[:, :, b, t]  # (R, n, O, V)
    dom, fr = d[:, :, ORIGINS.index("domestic")], d[:, :, ORIGINS.index("foreign")]
    diff = (dom - fr).mean(axis=0)  # (n, V)
    rows = {"date": ens.months}
    for j, name in enumerate(TRACE_TERMS):
        rows[name] = diff[:, j]
    rows["domestic_share"] = dom[:, :, DEC_VALUES.index("share")].mean(axis=0)
    rows["domestic_share_unconstrained"] = dom[:, :, DEC_VALUES.index("share_unconstrained")].mean(axis=0)
    return pd.DataFrame(rows)


def origin_mix(ens: Ensemble, buyer: str) -> pd.DataFrame:
    """Per month and tier, the domestic share of the buyer's choice (mean over runs)."""
    b = BUYERS.index(buyer)
    s = ens.dec[:, :, b, :, ORIGINS.index("domestic"), DEC_VALUES.index("share")].mean(axis=0)  # (n, T)
    n, t = s.shape
    return pd.DataFrame({
        "date": np.repeat(ens.months, t),
        "tier": pd.array(np.tile(np.array(TIERS, dtype=object), n), dtype="str"),
        "domestic_share": s.reshape(-1),
    })


def annual_by_run(ens: Ensemble, metric: str = "unit_share", entity: str = "Nvidia") -> pd.DataFrame:
    """Annual share of one entity per run (ratio of annual sums, as ``annual``): index year, one column per
    run; NaN where the market is empty that year."""
    base = SHARE_BASIS[metric]
    years = pd.DatetimeIndex(ens.months).year
    num = pd.DataFrame(ens.series(entity, base).T).groupby(years).sum()
    den = pd.DataFrame(ens.series("Total", base).T).groupby(years).sum()
    return num / den.where(den > 0)


def choice_terms(ens: Ensemble) -> pd.DataFrame:
    """Per month, each utility term as domestic minus foreign and the domestic share of the choice (before
    and after policy floors), averaged over runs, buyers and workload tiers (unweighted): the market-wide
    counterpart of ``term_differences``."""
    d = ens.dec  # (R, n, B, T, O, V)
    dom, fr = d[:, :, :, :, ORIGINS.index("domestic")], d[:, :, :, :, ORIGINS.index("foreign")]
    diff = (dom - fr).mean(axis=(0, 2, 3))  # (n, V)
    rows = {"date": ens.months}
    for j, name in enumerate(TRACE_TERMS):
        rows[name] = diff[:, j]
    rows["domestic_share"] = dom[..., DEC_VALUES.index("share")].mean(axis=(0, 2, 3))
    rows["domestic_share_unconstrained"] = dom[..., DEC_VALUES.index("share_unconstrained")].mean(axis=(0, 2, 3))
    return pd.DataFrame(rows)
