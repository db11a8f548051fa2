"""Long tables from ``Records``: built only when a file or a download is written.

``timeseries`` is the output contract (MODEL.md section 5): one row per (run, seed, date, entity,
metric) with a float ``value``; ``decisions`` is the decision trace; ``deliveries`` the cards, compute
and value each buyer received from each vendor.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa

from sim.model.calendar import month_dates
from sim.model.ids import (AGGREGATES, BUYER_METRICS, BUYERS, MARKET_METRICS, ORIGINS, TIER_METRICS, TIERS,
                           TIMESERIES_COLUMNS, VENDOR_METRICS, VENDORS)
from sim.model.records import DELIVERY_FIELDS, TRACE_VALUES, Records

DECISION_COLUMNS = ("run", "seed", "date", "buyer", "tier", "origin", *TRACE_VALUES)
DELIVERY_COLUMNS = ("run", "seed", "date", "buyer", "vendor", *DELIVERY_FIELDS)


def series_blocks(rec: Records) -> list[tuple[np.ndarray, list[str], tuple[str, ...]]]:
    """The contract's blocks in their row order: (array (R, n, entities, metrics), entities, metrics)."""
    return [
        (rec.vendor_block(), list(VENDORS) + list(AGGREGATES), VENDOR_METRICS),
        (rec.buyer, list(BUYERS), BUYER_METRICS),
        (rec.tier, list(TIERS), TIER_METRICS),
        (rec.market[:, :, None, :], ["Total"], MARKET_METRICS),
    ]


def series_matrix(rec: Records) -> tuple[np.ndarray, list[tuple[str, str]]]:
    """(R, n, K) every series of the contract, and the K (entity, metric) keys in row order."""
    vals, keys = [], []
    R, n = rec.n_runs, rec.n_months
    for arr, names, metrics in series_blocks(rec):
        vals.append(arr.reshape(R, n, -1))
        keys += [(e, m) for e in names for m in metrics]
    return np.concatenate(vals, axis=2), keys


def _strings(names: list[str], reps: int) -> pa.Array:
    """``names`` repeated ``reps`` times as an Arrow string column (a C++ gather, no Python objects)."""
    uniq = list(dict.fromkeys(names))
    pos = {x: i for i, x in enumerate(uniq)}
    idx = np.tile(np.array([pos[x] for x in names], dtype=np.int32), reps)
    return pa.array(uniq, type=pa.large_string()).take(pa.array(idx))


_PANDAS_META: dict = {}


def _pandas_metadata() -> dict:
    """The schema metadata pandas writes for the contract's frame (so files read back with the same dtypes
    whichever way they were written)."""
    if not _PANDAS_META:
        one = pd.DataFrame({"run": np.zeros(1, np.int64), "seed": np.zeros(1, np.int64),
                            "date": np.zeros(1, "datetime64[us]"), "entity": pd.array(["x"], dtype="str"),
                            "metric": pd.array(["x"], dtype="str"), "value": np.zeros(1)})
        _PANDAS_META.update(pa.Table.from_pandas(one, preserve_index=False).schema.metadata)
    return _PANDAS_META


def timeseries_table(rec: Records, runs: np.ndarray | None = None) -> pa.Table:
    """The long output table as Arrow, built straight from the arrays: equal to
    ``pa.Table.from_pandas(timeseries(rec, runs), preserve_index=False)``, about ten times faster."""
    values, keys = series_matrix(rec)
    R, n, k = values.shape
    run_ids = rec.run_ids if runs is None else np.asarray(runs, dtype=np.int64)
    t = pa.table({
        "run": np.repeat(np.asarray(run_ids, dtype=np.int64), n * k),
        "seed": np.repeat(np.asarray(rec.seeds, dtype=np.int64), n * k),
        "date": np.tile(np.repeat(month_dates(rec.months).astype("datetime64[us]"), k), R),
        "entity": _strings([e for e, _ in keys], R * n),
        "metric": _strings([m for _, m in keys], R * n),
        "value": values.reshape(-1).astype(np.float64),
    })
    return t.replace_schema_metadata(_pandas_metadata())


def timeseries(rec: Records, runs: np.ndarray | None = None, metrics: set[str] | None = None) -> pd.DataFrame:
    """The long output table, run by run, month by month, in the contract's entity/metric order.

    runs: the run id of each record (default ``rec.run_ids``); metrics: keep only these metrics.
    """
    values, keys = series_matrix(rec)
    if metrics is not None:
        cols = [i for i, (_, m) in enumerate(keys) if m in metrics]
        values, keys = values[:, :, cols], [keys[i] for i in cols]
    R, n, k = values.shape
    run_ids = rec.run_ids if runs is None else np.asarray(runs, dtype=np.int64)
    df = pd.DataFrame({
        "run": np.repeat(run_ids, n * k),
        "seed": np.repeat(rec.seeds, n * k),
        "date": np.tile(np.repeat(month_dates(rec.months), k), R),
        "entity": _repeated_strings([e for e, _ in keys], R * n),
        "metric": _repeated_strings([m for _, m in keys], R * n),
        "value": values.reshape(-1).astype(np.float64),
    })
    return df[list(TIMESERIES_COLUMNS)]


def timeseries_like(template: pa.Table, run: int, seed: int, values: np.ndarray) -> pa.Table:
    """Another run's long table in Arrow, built on ``template`` (one run's ``timeseries`` as an Arrow table,
    from the same records: same months and series): its date, entity and metric columns and schema are
    reused, and run, seed and value replaced; ``values`` is that run's (months, series) block of
    ``series_matrix``. Equal to converting the run's own ``timeseries``, at a fraction of the cost."""
    n = template.num_rows
    cols = {"run": pa.array(np.full(n, run, dtype=np.int64)), "seed": pa.array(np.full(n, seed, dtype=np.int64)),
            "value": pa.array(np.ascontiguousarray(values, dtype=np.float64).reshape(-1))}
    if len(cols["value"]) != n:
        raise ValueError(f"{len(cols['value'])} values for a table of {n} rows")
    return pa.Table.from_arrays([cols.get(name, template.column(name)) for name in template.column_names],
                                schema=template.schema)


def _repeated_strings(names: list[str], times: int) -> pd.api.extensions.ExtensionArray:
    """``names`` repeated ``times`` times as a pandas "str" array, built in Arrow from the few distinct names
    (the same array as ``pd.array(np.tile(names, times), dtype="str")``, without a Python string per row)."""
    uniq = list(dict.fromkeys(names))
    codes = np.array([uniq.index(x) for x in names], dtype=np.int32)
    arr = pa.DictionaryArray.from_arrays(pa.array(np.tile(codes, times)), pa.array(uniq, pa.large_string()))
    return pd.array(arr.cast(pa.large_string()), dtype="str")


def decisions(rec: Records, runs: np.ndarray | None = None) -> pd.DataFrame:
    """Decision trace: per run, month, buyer, tier and origin nest, the probability-weighted utility
    terms behind the choice and the resulting split (before and after policy floors)."""
    if rec.trace is None:
        return empty_decisions()
    tr = rec.trace
    R, n, B, T, O, _ = tr.shape
    idx = np.indices((R, n, B, T, O)).reshape(5, -1)
    flat = tr.reshape(-1, tr.shape[-1])
    run_ids = rec.run_ids if runs is None else np.asarray(runs, dtype=np.int64)
    data: dict[str, Any] = {
        "run": run_ids[idx[0]],
        "seed": rec.seeds[idx[0]],
        "date": month_dates(rec.months)[idx[1]],
        "buyer": pd.array(np.array(BUYERS, dtype=object)[idx[2]], dtype="str"),
        "tier": pd.array(np.array(TIERS, dtype=object)[idx[3]], dtype="str"),
        "origin": pd.array(np.array(ORIGINS, dtype=object)[idx[4]], dtype="str"),
    }
    for j, name in enumerate(TRACE_VALUES):
        data[name] = flat[:, j].astype(np.float64)
    return pd.DataFrame(data)[list(DECISION_COLUMNS)]


def deliveries(rec: Records, runs: np.ndarray | None = None) -> pd.DataFrame:
    """Cards, compute (A100-equivalents, dense BF16) and gross value (US$) delivered to each buyer by
    each vendor, per month (legal deliveries, hoarded cards included; smuggled cards excluded)."""
    if rec.deliveries is None:
        return empty_deliveries()
    d = rec.deliveries
    R, n, B, V, _ = d.shape
    idx = np.indices((R, n, B, V)).reshape(4, -1)
    flat = d.reshape(-1, d.shape[-1])
    run_ids = rec.run_ids if runs is None else np.asarray(runs, dtype=np.int64)
    data: dict[str, Any] = {
        "run": run_ids[idx[0]],
        "seed": rec.seeds[idx[0]],
        "date": month_dates(rec.months)[idx[1]],
        "buyer": pd.array(np.array(BUYERS, dtype=object)[idx[2]], dtype="str"),
        "vendor": pd.array(np.array(VENDORS, dtype=object)[idx[3]], dtype="str"),
    }
    for j, name in enumerate(DELIVERY_FIELDS):
        data[name] = flat[:, j].astype(np.float64)
    return pd.DataFrame(data)[list(DELIVERY_COLUMNS)]


def _empty(columns, strings) -> pd.DataFrame:
    cols: dict[str, Any] = {c: pd.Series([], dtype="float64") for c in columns}
    for c in ("run", "seed"):
        cols[c] = pd.Series([], dtype="int64")
    cols["date"] = pd.Series([], dtype="datetime64[us]")
    for c in strings:
        cols[c] = pd.Series([], dtype="str")
    return pd.DataFrame(cols)[list(columns)]


def empty_decisions() -> pd.DataFrame:
    return _empty(DECISION_COLUMNS, ("buyer", "tier", "origin"))


def empty_deliveries() -> pd.DataFrame:
    return _empty(DELIVERY_COLUMNS, ("buyer", "vendor"))
