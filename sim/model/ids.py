"""Identifiers shared by outputs, scenarios, the app and checks (MODEL.md section 2).

These names are a contract: output files, scenario files, shared URLs and grid axes use them
verbatim. They are unique across kinds.
"""

from __future__ import annotations

VENDORS: tuple[str, ...] = (
    "Nvidia",
    "AMD",
    "Huawei",
    "Cambricon",
    "T-Head",
    "Kunlunxin",
    "Hygon",
    "OtherDomestic",
)
FOREIGN_VENDORS: tuple[str, ...] = ("Nvidia", "AMD")
DOMESTIC_VENDORS: tuple[str, ...] = tuple(v for v in VENDORS if v not in FOREIGN_VENDORS)
AGGREGATES: tuple[str, ...] = ("Domestic", "Foreign", "Total")
BUYERS: tuple[str, ...] = (
    "ByteDance",
    "Alibaba",
    "Tencent",
    "Baidu",
    "OtherInternet",
    "StateCompute",
    "Enterprise",
)
TIERS: tuple[str, ...] = ("frontier_training", "training", "inference", "low_priority")
TRAINING_TIERS: tuple[str, ...] = ("frontier_training", "training")
REGULATORS: tuple[str, ...] = ("US", "China")
ORIGINS: tuple[str, ...] = ("foreign", "domestic")

VENDOR_METRICS: tuple[str, ...] = (
    "units",
    "unit_share",
    "compute",
    "compute_share",
    "revenue_usd",
    "value_share",
    "levy_usd",
    "grey_units",
    "installed_units",
    "installed_share",
)
BUYER_METRICS: tuple[str, ...] = (
    "demand_compute",
    "installed_compute",
    "unmet_compute",
    "stockpile_units",
    "domestic_fraction",
    "service_level",
    "stockpile_compute",
    "offshore_compute",
    "offshore_usd",
    "efficiency",
)
TIER_METRICS: tuple[str, ...] = ("domestic_fraction", "compute")
MARKET_METRICS: tuple[str, ...] = ("compute_gap", "price_index", "smic_ai_wafers", "smic_wafers_used",
                                   "hbm_stacks_used")

TIMESERIES_COLUMNS: tuple[str, ...] = ("run", "seed", "date", "entity", "metric", "value")

_all = VENDORS + AGGREGATES + BUYERS + TIERS + REGULATORS
assert len(set(_all)) == len(_all), "identifiers must be unique across kinds"
