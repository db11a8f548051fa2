"""Seed ensembles: a scenario run for several seeds as one batch, with the summaries the app shows.

An :class:`Ensemble` wraps the ``Records`` of the runs with the output contract's series as one dense
array (runs x months x series), which summarises fast (quantile bands, annual shares) and pickles fast
(the app caches ensembles). ``timeseries()``, ``decisions()`` and ``deliveries()`` build the long
tables of the output contract, for downloads only. No streamlit import here.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from sim.engine import tables
from sim.engine.batch import run_batch
from sim.engine.executors import run_jobs
from sim.engine.runs import replicate_jobs
from sim.model.calendar import month_dates
from sim.model.ids import BUYERS, DOMESTIC_VENDORS, ORIGINS, TIERS, VENDORS
from sim.model.records import DELIVERY_FIELDS, TRACE_TERMS, TRACE_VALUES, Records
from sim.model.scenario import Scenario
from sim.model.seeds import derive_seeds

DEC_VALUES = TRACE_VALUES
SHARE_BASIS = {"unit_share": "units", "value_share": "revenue_usd", "compute_share": "compute"}


@dataclass(frozen=True)
class Ensemble:
    """Results of one scenario for several seeds, as arrays.

    values: (runs, months, series) for the series ``keys`` (entity, metric);
    dec: (runs, months, buyers, tiers, origins, len(DEC_VALUES)) decision trace;
    events: per run, the (month, event id) pairs the model applied;
    records: the runs' full records (per-product and per-buyer-and-vendor detail);
    n_sets: the number K of accepted parameter sets the runs cycled through (run r used set r mod K), 0
    when every run used the scenario's own values (seed noise only).
    """
    months: np.ndarray  # datetime64[us], first of month
    keys: tuple[tuple[str, str], ...]
    seeds: tuple[int, ...]
    values: np.ndarray
    dec: np.ndarray
    events: tuple[tuple[tuple[str, str], ...], ...]
    records: Records | None = field(default=None, compare=False, repr=False)
    n_sets: int = 0

    @classmethod
    def from_records(cls, rec: Records, n_sets: int = 0) -> Ensemble:
        values, keys = tables.series_matrix(rec)
        dec = rec.trace if rec.trace is not None else np.zeros((rec.n_runs, rec.n_months, len(BUYERS), len(TIERS),
                                                                len(ORIGINS), len(DEC_VALUES)))
        return cls(month_dates(rec.months), tuple(keys), tuple(int(s) for s in rec.seeds), values, dec,
                   tuple(tuple(e) for e in rec.events), rec, int(n_sets))

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
        return tables.timeseries(self.records, metrics=set(metrics) if metrics is not None else None)

    def decisions(self) -> pd.DataFrame:
        """The long decision trace of the output contract."""
        return tables.decisions(self.records)

    def deliveries(self) -> pd.DataFrame:
        """Cards, compute and value delivered per buyer and vendor."""
        return tables.deliveries(self.records)


# ---------------------------------------------------------------- running


def run_ensemble(scenario: Scenario, n_seeds: int, on_month: Callable[[int, int], bool | None] | None = None,
                 first_seed: int = 0, executor=None, parameter_sets: list[dict] | None = None,
                 keep: Iterable[str] = ()) -> Ensemble:
    """Run replicates ``first_seed .. first_seed + n_seeds - 1`` of the scenario (seeds derived from its
    master seed, as the CLI does), with the decision trace.

    ``parameter_sets`` (e.g. ``scenario.load_parameter_sets()``): replicate r also uses accepted set
    ``r mod K``, whose values replace the scenario's except for the parameters named in ``keep`` (a
    user's own changes), as ``run_scenario(..., parameter_sets=True)`` does. Replicates are numbered
    globally, so the first runs of a larger ensemble equal a smaller one.

    Without an executor the runs are one batch in this process (the app's way: no worker processes), and
    on_month(done, total) is called after every month (for a progress bar); returning False cancels the
    run (``sim.engine.batch.Cancelled``). With an executor (``sim.engine.executors``) the runs are
    batched across its workers; the result is identical."""
    seeds = derive_seeds(scenario.header.seed, first_seed + int(n_seeds))[first_seed:]
    sets = list(parameter_sets or [])
    jobs, _ = replicate_jobs(scenario, seeds, first_seed, sets or None, keep)
    if executor is not None:
        return Ensemble.from_records(run_jobs(jobs, executor, trace=True), len(sets))
    return Ensemble.from_records(run_batch(jobs, trace=True, on_month=on_month), len(sets))


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
    """Annual shares: per run the ratio of annual sums (never a mean of monthly shares), then the mean
    over runs. A frame indexed by year, one column per entity."""
    base = SHARE_BASIS[metric]
    years = pd.DatetimeIndex(ens.months).year.to_numpy()
    ys = np.unique(years)
    onehot = (years[:, None] == ys[None, :]).astype(float)  # (months, years)
    x = ens.block(list(entities) + ["Total"], base)  # (R, n, E+1)
    per_year = np.einsum("rne,ny->rye", x, onehot)
    tot = per_year[..., -1:]
    with np.errstate(invalid="ignore", divide="ignore"):
        share = np.where(tot > 0, per_year[..., :-1] / np.where(tot > 0, tot, 1.0), np.nan)
    ok = np.isfinite(share)
    n_ok = ok.sum(axis=0)
    mean = np.where(n_ok > 0, np.where(ok, share, 0.0).sum(axis=0) / np.maximum(n_ok, 1), np.nan)
    return pd.DataFrame(mean, index=pd.Index(ys, name="year"), columns=list(entities))


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


def first_applied(ens: Ensemble, run: int = 0) -> dict[str, str]:
    """Event id -> the month it first took effect in run ``run`` (empty when the runs carry no record)."""
    when: dict[str, str] = {}
    for month, eid in events_applied(ens, run):
        when.setdefault(eid, month)
    return when


def events_taken(ens: Ensemble, events, run: int = 0) -> list:
    """The rules ``events`` as they took effect in run ``run``: China's responses to US controls
    (``responds_to_us``) only if they did, at the month they did (later than their date when they waited for
    a US rule); every other rule as written. All rules when the runs carry no record of their events."""
    if not ens.events:
        return list(events)
    when = first_applied(ens, run)
    out = []
    for e in events:
        if not getattr(e, "responds_to_us", False):
            out.append(e)
        elif e.id in when:
            out.append(e if when[e.id] <= e.effective else e.model_copy(update={"effective": when[e.id]}))
    return out


def block_coverage(ens: Ensemble, run: int = 0) -> dict[str, tuple[str, ...]]:
    """Each China block in force at the end of a run: the launched products it covered (class and names)."""
    cov = ens.records.coverage if ens.records is not None else []
    return dict(cov[run]) if cov else {}


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


def domestic_delivered(ens: Ensemble, buyer: str, field: str = "units") -> np.ndarray:
    """(runs, months): the domestic vendors' share of the legal cards (``units``) or compute (``compute``,
    A100-equivalents) delivered to ``buyer`` (0 in a month without deliveries). Needs the runs' deliveries
    per buyer and vendor (recorded by ``run_ensemble``)."""
    d = ens.records.deliveries if ens.records is not None else None
    if d is None:
        raise ValueError("these runs did not record deliveries per buyer and vendor")
    x = d[:, :, BUYERS.index(buyer), :, DELIVERY_FIELDS.index(field)]
    dom = x[:, :, [VENDORS.index(v) for v in DOMESTIC_VENDORS]].sum(axis=2)
    tot = x.sum(axis=2)
    share = np.divide(dom, tot, out=np.zeros_like(tot), where=tot > 0)
    return np.clip(share, 0.0, 1.0)   # a sum of the parts can pass the total by a rounding error


def annual_by_run(ens: Ensemble, metric: str = "unit_share", entity: str = "Nvidia") -> pd.DataFrame:
    """Annual share of one entity per run (ratio of annual sums, as ``annual``): index year, one column per
    run; NaN where the market is empty that year."""
    base = SHARE_BASIS[metric]
    years = pd.DatetimeIndex(ens.months).year
    num = pd.DataFrame(ens.series(entity, base).T).groupby(years).sum()
    den = pd.DataFrame(ens.series("Total", base).T).groupby(years).sum()
    return num / den.where(den > 0)


def annual_total_spread(ens: Ensemble, year: int, field: str = "units", lo: float = 0.05,
                        hi: float = 0.95) -> tuple[float, float] | None:
    """The lo and hi quantiles over the runs of the market's annual total (cards, compute or value) in
    ``year``; None when the runs do not reach it."""
    sel = pd.DatetimeIndex(ens.months).year == year
    if not sel.any():
        return None
    q = np.quantile(ens.series("Total", field)[:, sel].sum(axis=1), [lo, hi])
    return float(q[0]), float(q[1])


def annual_spread(ens: Ensemble, year: int, metric: str = "unit_share", entities=("Nvidia", "Domestic"),
                  lo: float = 0.05, hi: float = 0.95) -> dict[str, tuple[float, float]]:
    """Per entity, the lo and hi quantiles over the runs of its annual share in ``year`` (ratio of annual
    sums, as ``annual``); empty when the runs do not reach that year."""
    out = {}
    for e in entities:
        x = annual_by_run(ens, metric, e)
        if year not in x.index:
            return {}
        v = x.loc[year].to_numpy(dtype=float)
        v = v[np.isfinite(v)]
        if len(v):
            q = np.quantile(v, [lo, hi])
            out[e] = (float(q[0]), float(q[1]))
    return out


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
