"""Outcomes of grid runs and their statistics per design point, streamed from the Parquet shards.

Each shard holds whole runs, so the shards are read one at a time (only the needed columns and rows,
filters pushed into the Parquet reader) and reduced to annual sums per run; memory is bounded by
runs x years x outcomes, never by the raw time series.

Outcome names:
    share:ENTITY[:YEAR]            annual unit share: annual units of ENTITY / annual units of Total
    value_share:ENTITY[:YEAR]      the same with revenue_usd;  compute_share:ENTITY[:YEAR] with compute
    crossover:A:B                  first year in which A's annual units exceed B's (NaN if never)
    mean:ENTITY:METRIC[:YEAR]      mean of the monthly METRIC of ENTITY over YEAR (or the whole horizon)
    sum:ENTITY:METRIC[:YEAR]       sum of the monthly METRIC over YEAR (or the whole horizon)
YEAR defaults to the last full calendar year of the grid's horizon. Shares are ratios of annual sums,
never means of monthly shares (MODEL.md section 5).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from sim.engine.fileio import write_csv
from sim.engine import store
from sim.model.ids import (
    AGGREGATES,
    BUYER_METRICS,
    BUYERS,
    MARKET_METRICS,
    TIER_METRICS,
    TIERS,
    VENDOR_METRICS,
    VENDORS,
)
from sim.model.scenario import load_scenario

# shares of cards beside shares of compute: a two-die card or a cheap inference card moves one and not the other
DEFAULT_OUTCOMES = ("share:Nvidia", "compute_share:Nvidia", "share:Huawei", "compute_share:Huawei", "share:Domestic",
                    "compute_share:Domestic", "crossover:Huawei:Nvidia")
SHARE_BASE = {"share": "units", "value_share": "revenue_usd", "compute_share": "compute"}
ENTITIES = set(VENDORS) | set(AGGREGATES) | set(BUYERS) | set(TIERS)
METRICS = set(VENDOR_METRICS) | set(BUYER_METRICS) | set(TIER_METRICS) | set(MARKET_METRICS)
SUMMARY = "summary.csv"
OUTCOMES_FILE = "outcomes.parquet"


class OutcomeError(ValueError):
    pass


@dataclass(frozen=True)
class Outcome:
    name: str
    kind: str                   # share | crossover | mean | sum
    entity: str
    metric: str                 # base metric summed (share, crossover) or averaged
    other: str | None = None    # share: "Total"; crossover: B
    year: int | None = None

    def pairs(self) -> set[tuple[str, str]]:
        if self.kind in ("share", "crossover"):
            return {(self.entity, self.metric), (self.other, self.metric)}
        return {(self.entity, self.metric)}


def parse_outcome(name: str, default_year: int) -> Outcome:
    parts = name.split(":")
    head = parts[0]

    def year(s: str) -> int:
        if not s.isdigit() or not 1990 <= int(s) <= 2100:
            raise OutcomeError(f"outcome {name!r}: {s!r} is not a year")
        return int(s)

    def ent(s: str) -> str:
        if s not in ENTITIES:
            raise OutcomeError(f"outcome {name!r}: unknown entity {s!r}; one of {sorted(ENTITIES)}")
        return s

    if head in SHARE_BASE and len(parts) in (2, 3):
        y = year(parts[2]) if len(parts) == 3 else default_year
        return Outcome(f"{head}:{parts[1]}:{y}", "share", ent(parts[1]), SHARE_BASE[head], "Total", y)
    if head == "crossover" and len(parts) == 3:
        return Outcome(name, "crossover", ent(parts[1]), "units", ent(parts[2]))
    if head in ("mean", "sum") and len(parts) in (3, 4):
        if parts[2] not in METRICS:
            raise OutcomeError(f"outcome {name!r}: unknown metric {parts[2]!r}; one of {sorted(METRICS)}")
        y = year(parts[3]) if len(parts) == 4 else None
        return Outcome(name, head, ent(parts[1]), parts[2], None, y)
    raise OutcomeError(f"outcome {name!r} not understood; use share:ENTITY[:YEAR], value_share:..., "
                       "compute_share:..., crossover:A:B, mean:ENTITY:METRIC[:YEAR] or sum:ENTITY:METRIC[:YEAR]")


def horizon(out: Path) -> tuple[str, str]:
    sc = load_scenario(Path(out) / store.BASE_COPY)
    return sc.header.start, sc.header.end


def default_year(out: Path) -> int:
    start, end = horizon(out)
    y, m = int(end[:4]), int(end[5:7])
    return y if m == 12 or y == int(start[:4]) else y - 1


def annual_table(out: Path, pairs: set[tuple[str, str]], shards: list[Path] | None = None) -> pd.DataFrame:
    """Per run, year, entity and metric: sum and count of the monthly values (streamed shard by shard)."""
    ents = sorted({e for e, _ in pairs})
    mets = sorted({m for _, m in pairs})
    parts = []
    for f in store.verified_shards(out) if shards is None else shards:  # checksums checked, no run counted twice
        try:
            # entity and metric read as dictionaries: the row filter then compares a few dozen strings, not
            # millions (about 4x faster than a filter pushed into the reader on plain strings)
            t = pq.read_table(f, columns=["run", "date", "entity", "metric", "value"],
                              read_dictionary=["entity", "metric"])
            t = t.filter(pc.and_(_among(t["metric"], mets), _among(t["entity"], ents)))
        except (pa.ArrowException, OSError):
            raise store.StoreError(f"{out}: shard {store.SHARDS}/{f.name} could not be read; resume the folder "
                                   "to check and repair its shards") from None
        if t.num_rows == 0:
            continue
        d = t.to_pandas()
        d["entity"] = d["entity"].astype(str)
        d["metric"] = d["metric"].astype(str)
        d["year"] = d["date"].dt.year.astype("int64")
        g = d.groupby(["run", "year", "entity", "metric"], observed=True)["value"].agg(["sum", "count"])
        parts.append(g.reset_index())
    if not parts:
        raise FileNotFoundError(f"{out}: no finished runs in {out}/{store.SHARDS}")
    a = pd.concat(parts, ignore_index=True)
    keep = pd.Series([(e, m) in pairs for e, m in zip(a["entity"], a["metric"])], index=a.index)
    return a[keep].reset_index(drop=True)


def _among(col: pa.ChunkedArray, values: list[str]) -> pa.ChunkedArray:
    """Which rows of a dictionary-encoded string column hold one of ``values`` (tested on each chunk's
    dictionary, then spread over its rows by the indices)."""
    vs = pa.array(values, pa.string())
    return pa.chunked_array([pc.take(pc.is_in(c.dictionary, value_set=vs), c.indices) for c in col.chunks],
                            pa.bool_())


def annual_frame(ts: pd.DataFrame, pairs: set[tuple[str, str]]) -> pd.DataFrame:
    """``annual_table`` of an in-memory time series (the output contract of ``run_scenario``)."""
    ents = {e for e, _ in pairs}
    mets = {m for _, m in pairs}
    d = ts[ts["metric"].isin(mets) & ts["entity"].isin(ents)]
    d = d.assign(year=d["date"].dt.year.astype("int64"))
    a = d.groupby(["run", "year", "entity", "metric"], observed=True)["value"].agg(["sum", "count"]).reset_index()
    keep = pd.Series([(e, m) in pairs for e, m in zip(a["entity"], a["metric"])], index=a.index)
    return a[keep].reset_index(drop=True)


def run_outcomes(out: Path, outcomes: list[str] | tuple[str, ...] | None = None,
                 year: int | None = None, shards: list[Path] | None = None) -> pd.DataFrame:
    """One row per finished run: run plus one column per outcome. ``shards``: the folder's shards if the
    caller has just verified them (``store.verified_shards``), else they are verified here."""
    out = Path(out)
    dy = year if year is not None else default_year(out)
    outs = [parse_outcome(o, dy) for o in (outcomes or DEFAULT_OUTCOMES)]
    pairs = set().union(*(o.pairs() for o in outs))
    return outcome_columns(annual_table(out, pairs, shards), outs)


def outcome_columns(a: pd.DataFrame, outs: list[Outcome]) -> pd.DataFrame:
    """Outcomes per run from an annual table (``annual_table`` / ``annual_frame``): run plus one column each."""
    s = a.pivot_table(index=["run", "year"], columns=["entity", "metric"], values="sum", aggfunc="sum")
    c = a.pivot_table(index=["run", "year"], columns=["entity", "metric"], values="count", aggfunc="sum")
    runs = np.sort(a["run"].unique())
    res = pd.DataFrame({"run": runs.astype("int64")})
    for o in outs:
        if o.kind == "share":
            num = s[(o.entity, o.metric)].xs(o.year, level="year") if o.year in s.index.get_level_values(1) else None
            if num is None:
                raise OutcomeError(f"outcome {o.name}: year {o.year} is outside the grid's horizon")
            den = s[(o.other, o.metric)].xs(o.year, level="year")
            v = (num / den.where(den > 0)).reindex(runs)
        elif o.kind == "crossover":
            wins = (s[(o.entity, o.metric)] > s[(o.other, o.metric)]).unstack("year").reindex(runs)
            years = wins.columns.to_numpy()
            arr = wins.fillna(False).to_numpy(dtype=bool)
            first = np.where(arr.any(axis=1), years[arr.argmax(axis=1)], np.nan)
            v = pd.Series(first.astype(float), index=runs)
        else:
            key = (o.entity, o.metric)
            ss, cc = s[key], c[key]
            if o.year is not None:
                if o.year not in ss.index.get_level_values(1):
                    raise OutcomeError(f"outcome {o.name}: year {o.year} is outside the grid's horizon")
                ss, cc = ss.xs(o.year, level="year"), cc.xs(o.year, level="year")
            else:
                ss, cc = ss.groupby(level="run").sum(), cc.groupby(level="run").sum()
            v = (ss if o.kind == "sum" else ss / cc).reindex(runs)
        res[o.name] = v.to_numpy(dtype=float)
    return res


def point_stats(out: Path, per_run: pd.DataFrame, quantiles=(0.05, 0.5, 0.95)) -> pd.DataFrame:
    """Per design point and outcome: runs, mean and quantiles (and for crossovers the share of runs where
    it happens; the statistics are over those runs)."""
    ex = store.read_experiments(out)
    axes = [c for c in ex.columns if c not in ("run", "point", "replicate", "seed_index", "seed", "spec_hash")]
    pts = ex.drop_duplicates("point")[["point", *axes]]
    m = per_run.merge(ex[["run", "point"]], on="run", how="left")
    rows = []
    for name in [c for c in per_run.columns if c != "run"]:
        g = m.groupby("point")[name]
        st = pd.DataFrame({"outcome": name, "runs": g.size(), "defined": g.count() / g.size(), "mean": g.mean()})
        for q in quantiles:
            st[f"p{round(q * 100):g}"] = g.quantile(q)
        rows.append(st.reset_index())
    t = pd.concat(rows, ignore_index=True)
    t = pts.merge(t, on="point", how="right")
    return t.sort_values(["outcome", "point"], kind="stable").reset_index(drop=True)


def summarize(out: Path, outcomes=None, year: int | None = None, quantiles=(0.05, 0.5, 0.95),
              write: bool = True) -> tuple[pd.DataFrame, Path]:
    out = Path(out)
    if not (out / store.EXPERIMENTS).exists():
        raise FileNotFoundError(f"{out}: not a grid results folder (no {store.EXPERIMENTS})")
    per_run = run_outcomes(out, outcomes, year)
    table = point_stats(out, per_run, quantiles)
    path = out / SUMMARY
    if write:
        store.write_table(per_run, out / OUTCOMES_FILE)
        store.write_table(table, out / "summary.parquet")
        write_csv(table, path, index=False)
    return table, path


def annual_share_paths(out: Path, entities=("Nvidia", "Huawei", "Domestic"), metric: str = "units",
                       points: list[int] | None = None) -> pd.DataFrame:
    """Annual shares (ratio of annual sums) per design point, year and entity: mean and 5/95% over runs."""
    out = Path(out)
    pairs = {(e, metric) for e in entities} | {("Total", metric)}
    a = annual_table(out, pairs)
    s = a.pivot_table(index=["run", "year"], columns="entity", values="sum", aggfunc="sum")
    sh = s[list(entities)].div(s["Total"].where(s["Total"] > 0), axis=0).reset_index()
    ex = store.read_experiments(out)[["run", "point"]]
    sh = sh.merge(ex, on="run")
    if points is not None:
        sh = sh[sh["point"].isin(points)]
    long = sh.melt(id_vars=["run", "point", "year"], value_vars=list(entities), var_name="entity",
                   value_name="share")
    g = long.groupby(["point", "year", "entity"])["share"]
    return pd.DataFrame({"mean": g.mean(), "p5": g.quantile(0.05), "p95": g.quantile(0.95)}).reset_index()


def progress(out: Path) -> tuple[int, int]:
    """(runs finished, runs in the grid)."""
    ex = store.read_experiments(out)
    return len(store.completed_runs(out)), len(ex)


__all__ = ["DEFAULT_OUTCOMES", "Outcome", "OutcomeError", "annual_frame", "annual_share_paths", "annual_table",
           "outcome_columns", "parse_outcome", "point_stats", "progress", "run_outcomes", "summarize"]
