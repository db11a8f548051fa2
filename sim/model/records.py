"""What a run records: the model's one declared output, as named dense arrays with a leading run axis.

``MarketModel.record()`` fills a ``Records`` object month by month; everything that reads results (the
run folders, grids, calibration, the app, Mesa's DataCollector) reads a ``Records``, never the model's
internals. Long tables (the ``timeseries.parquet`` contract) are built from it only when a file or a
download is written (``sim.engine.tables``).

Blocks (R runs, n months):

- ``product``  (R, n, P, 5): per product ``units`` (legal deliveries, hoarded cards included; the grey
  product's column holds smuggled cards), ``revenue_usd`` (gross), ``levy_usd``, ``installed_units``,
  ``compute`` (units on the declared dense-BF16 basis);
- ``hoard``    (R, n, P): cards delivered in the hoarding order class (pulled forward);
- ``buyer``    (R, n, B, 9): BUYER_METRICS; ``tier`` (R, n, T, 2): TIER_METRICS; ``market`` (R, n, 2):
  MARKET_METRICS;
- ``made``     (R, n): Ascend cards made;
- optional ``deliveries`` (R, n, B, V, 3): legal cards, compute and gross value delivered per buyer and
  vendor; ``buyer_product`` (R, n, B, P): cards per buyer and product (grey included); ``trace``
  (R, n, B, T, 2, 7): the decision trace (TRACE_VALUES per buyer, tier and origin nest);
- ``events`` per run, the (month, event id) applied, and ``coverage`` per run, the launched products each
  China block in force at the end covered (its class and its names).
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields

import numpy as np

from sim.model.ids import (AGGREGATES, BUYER_METRICS, FOREIGN_VENDORS, MARKET_METRICS, TIER_METRICS, VENDOR_METRICS,
                          VENDORS)

PRODUCT_FIELDS = ("units", "revenue_usd", "levy_usd", "installed_units", "compute")
DELIVERY_FIELDS = ("units", "compute", "revenue_usd")
TRACE_TERMS = ("performance", "price", "switching", "risk", "policy")
TRACE_VALUES = (*TRACE_TERMS, "share_unconstrained", "share")
DETAILS = ("deliveries", "buyer_product", "trace")


@dataclass
class Records:
    months: list[str]
    seeds: np.ndarray  # (R,) int64
    product_ids: list[str]
    vendor_of: np.ndarray  # (P,) vendor index
    domestic: np.ndarray  # (P,) bool
    grey: int  # index of the grey-market product (smuggled cards: in no legal figure)
    product: np.ndarray
    hoard: np.ndarray
    buyer: np.ndarray
    tier: np.ndarray
    market: np.ndarray
    made: np.ndarray
    deliveries: np.ndarray | None = None
    buyer_product: np.ndarray | None = None
    trace: np.ndarray | None = None
    events: list[list[tuple[str, str]]] = field(default_factory=list)  # per run: (month, event id) applied
    # per run: (event id, product ids) for each China block in force at the end, the launched products its
    # class and names covered (MODEL.md 9.6: a class rule also covers parts launched after it)
    coverage: list[list[tuple[str, tuple[str, ...]]]] = field(default_factory=list)
    run_ids: np.ndarray | None = None  # (R,) the callers' run numbers (default 0..R-1)

    def __post_init__(self):
        if self.run_ids is None:
            self.run_ids = np.arange(len(self.seeds), dtype=np.int64)

    @classmethod
    def empty(cls, months: list[str], seeds, product_ids: list[str], vendor_of, domestic, grey: int, n_buyers: int,
              n_tiers: int, details: frozenset = frozenset()) -> Records:
        R, n, P, B, T, V = len(seeds), len(months), len(product_ids), n_buyers, n_tiers, len(VENDORS)
        unknown = set(details) - set(DETAILS)
        if unknown:
            raise ValueError(f"unknown record details {sorted(unknown)}; known: {DETAILS}")
        return cls(list(months), np.asarray(seeds, dtype=np.int64), list(product_ids), np.asarray(vendor_of),
                   np.asarray(domestic, dtype=bool), int(grey),
                   product=np.zeros((R, n, P, len(PRODUCT_FIELDS))), hoard=np.zeros((R, n, P)),
                   buyer=np.zeros((R, n, B, len(BUYER_METRICS))), tier=np.zeros((R, n, T, len(TIER_METRICS))),
                   market=np.zeros((R, n, len(MARKET_METRICS))), made=np.zeros((R, n)),
                   deliveries=np.zeros((R, n, B, V, len(DELIVERY_FIELDS))) if "deliveries" in details else None,
                   buyer_product=np.zeros((R, n, B, P)) if "buyer_product" in details else None,
                   trace=np.zeros((R, n, B, T, 2, len(TRACE_VALUES))) if "trace" in details else None,
                   events=[[] for _ in range(R)], coverage=[[] for _ in range(R)])

    @property
    def n_runs(self) -> int:
        return len(self.seeds)

    @property
    def n_months(self) -> int:
        return len(self.months)

    def field(self, name: str) -> np.ndarray:
        """(R, n, P) one product field, e.g. ``units``."""
        return self.product[..., PRODUCT_FIELDS.index(name)]

    def legal(self, name: str) -> np.ndarray:
        """(R, n, P) a product field with the grey-market column zeroed (legal figures only)."""
        x = self.field(name).copy()
        x[..., self.grey] = 0.0
        return x

    def vendor_matrix(self) -> np.ndarray:
        """(P, V + 3) product -> vendors and the aggregates Domestic, Foreign, Total (grey in none)."""
        P, V = len(self.product_ids), len(VENDORS)
        mv = np.zeros((P, V))
        mv[np.arange(P), self.vendor_of] = 1.0
        mv[self.grey] = 0.0
        origin = np.array([0 if v in FOREIGN_VENDORS else 1 for v in VENDORS])
        agg = np.stack([origin == 1, origin == 0, np.ones(V, dtype=bool)], axis=1).astype(float)
        return mv @ np.concatenate([np.eye(V), agg], axis=1)

    def vendor_block(self) -> np.ndarray:
        """(R, n, V + 3, len(VENDOR_METRICS)): the vendor and aggregate metrics of the output contract."""
        m = self.vendor_matrix()
        units, compute, revenue, levy, installed = (self.field(f) @ m for f in
                                                    ("units", "compute", "revenue_usd", "levy_usd", "installed_units"))
        grey = np.zeros_like(units)
        g = self.field("units")[..., self.grey]
        V = len(VENDORS)
        grey[..., VENDORS.index("Nvidia")] = g
        grey[..., V + AGGREGATES.index("Foreign")] = g
        grey[..., V + AGGREGATES.index("Total")] = g

        def share(x):
            tot = x[..., -1:]
            return np.divide(x, tot, out=np.zeros_like(x), where=tot > 0)

        out = np.stack([units, share(units), compute, share(compute), revenue, share(revenue), levy, grey,
                        installed, share(installed)], axis=-1)
        assert out.shape[-1] == len(VENDOR_METRICS)
        return out

    def select(self, runs) -> Records:
        """The records of some runs (an index array or slice), as a new Records."""
        idx = np.arange(self.n_runs)[runs]
        kw = {}
        for f in fields(self):
            v = getattr(self, f.name)
            if f.name in ("months", "product_ids", "vendor_of", "domestic", "grey"):
                kw[f.name] = v
            elif f.name in ("events", "coverage"):
                kw[f.name] = [v[i] for i in idx] if v else []
            elif v is None:
                kw[f.name] = None
            else:
                kw[f.name] = v[idx]
        return Records(**kw)

    @classmethod
    def concat(cls, parts: list[Records]) -> Records:
        """Runs of several Records (same months and products) in one."""
        first = parts[0]
        for p in parts[1:]:
            if p.months != first.months or p.product_ids != first.product_ids:
                raise ValueError("records of different horizons or catalogues cannot be joined")
        kw = {}
        for f in fields(cls):
            vals = [getattr(p, f.name) for p in parts]
            if f.name in ("months", "product_ids", "vendor_of", "domestic", "grey"):
                kw[f.name] = vals[0]
            elif f.name in ("events", "coverage"):
                kw[f.name] = [e for v in vals for e in v]
            elif any(v is None for v in vals):
                kw[f.name] = None
            else:
                kw[f.name] = np.concatenate(vals, axis=0)
        return cls(**kw)

    def nbytes(self) -> int:
        return sum(getattr(self, f.name).nbytes for f in fields(self)
                   if isinstance(getattr(self, f.name), np.ndarray))
