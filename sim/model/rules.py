"""Rules in force and how scenario events change them (the regulators' state).

Events are data (kind + fields, validated in sim/model/scenario.py); ``apply_event`` is the one place where a
kind changes the state. Regulator agents call it for the events due in a month.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np


@dataclass
class PolicyState:
    n_buyers: int
    n_products: int
    tpp_max: float = math.inf
    interconnect_max: float = math.inf  # products at or above this interconnect AND tpp are over the ceiling
    banned: set = field(default_factory=set)
    allowed: set = field(default_factory=set)
    licence: dict = field(default_factory=dict)  # product index -> monthly approval probability
    levy: dict = field(default_factory=dict)  # product index -> rate
    volume_cap: dict = field(default_factory=dict)  # product index -> cards/month
    tsmc_cut: bool = False
    hbm_cut: bool = False
    smic_tools: float = 0.0
    grey_enforcement: float = 0.0
    block: np.ndarray = None  # (B, P) China block strength
    quota_pool: dict = field(default_factory=dict)  # product index -> remaining cards
    quota_buyers: dict = field(default_factory=dict)  # product index -> set of buyer indices
    guidance: np.ndarray = None  # (B,) soft domestic floor for commercial demand
    mandate: list = field(default_factory=list)  # (domestic_min, coverage) for state-linked demand
    subsidy: list = field(default_factory=list)  # (rate, coverage)
    pressure: dict = field(default_factory=dict)  # vendor name -> strength
    version: int = 0  # bumped whenever a rule changes (lets the market cache derived arrays)

    def __post_init__(self):
        if self.block is None:
            self.block = np.zeros((self.n_buyers, self.n_products))
        if self.guidance is None:
            self.guidance = np.zeros(self.n_buyers)

    # -- derived quantities used by the market each month
    def us_legal(self, tpp: np.ndarray, interconnect: np.ndarray, foreign: np.ndarray) -> np.ndarray:
        over = (tpp >= self.tpp_max) & (interconnect >= self.interconnect_max)
        legal = ~over
        for p in self.banned:
            legal[p] = False
        for p in self.allowed:
            legal[p] = True
        return legal | ~foreign

    def mandate_floor(self) -> float:
        """Domestic floor on state-linked demand: the strongest rule, weighted by its coverage."""
        return max((m * c for m, c in self.mandate), default=0.0)

    def subsidy_rate(self) -> float:
        return max((r * c for r, c in self.subsidy), default=0.0)


def _licence_change(ev, state, pidx) -> float:
    """New approval minus the approval in force (lowest over the event's products); no state: vs 1."""
    if state is None or pidx is None:
        return ev.approval - 1.0
    return ev.approval - min(state.licence.get(pidx[p], 1.0) for p in ev.products)


def is_restricting(ev, state: PolicyState | None = None, pidx: dict | None = None) -> bool:
    """Does the event make foreign supply harder than the rules in force? (raises buyers' belief when
    announced). A licence is restricting only if it lowers the approval in force."""
    k = ev.kind
    if k == "export_ceiling":
        return bool(ev.ban) or ev.tpp_max is not None or ev.interconnect_max is not None
    if k == "licence":
        return _licence_change(ev, state, pidx) < 0
    return k in ("volume_cap", "supply_restriction") or (k == "levy" and ev.rate > 0)


def is_easing(ev, state: PolicyState | None = None, pidx: dict | None = None) -> bool:
    """An export ceiling that allows products, or a licence that raises the approval in force
    (without state: a licence approving more often than not)."""
    if ev.kind == "export_ceiling":
        return bool(ev.allow)
    if ev.kind == "licence":
        return _licence_change(ev, state, pidx) > 0 if state is not None else ev.approval > 0.5
    return False


def apply_event(state: PolicyState, ev, pidx: dict[str, int], bidx: dict[str, int]) -> None:
    """Change the rules in force according to one event (on its effective month)."""
    state.version += 1
    k = ev.kind
    P = [pidx[p] for p in getattr(ev, "products", [])]
    if k == "export_ceiling":
        if ev.tpp_max is not None:
            state.tpp_max = ev.tpp_max
        if ev.interconnect_max is not None:
            state.interconnect_max = ev.interconnect_max
        for p in ev.ban:
            state.banned.add(pidx[p])
            state.allowed.discard(pidx[p])
        for p in ev.allow:
            state.allowed.add(pidx[p])
            state.banned.discard(pidx[p])
    elif k == "licence":
        for p in P:
            state.licence[p] = ev.approval
    elif k == "levy":
        for p in P:
            state.levy[p] = ev.rate
    elif k == "volume_cap":
        for p in P:
            state.volume_cap[p] = ev.units_per_month
    elif k == "supply_restriction":
        if ev.target == "tsmc_dies":
            state.tsmc_cut = ev.level > 0
        elif ev.target == "foreign_hbm":
            state.hbm_cut = ev.level > 0
        else:
            state.smic_tools = ev.level
    elif k == "grey_enforcement":
        state.grey_enforcement = ev.level
    elif k == "import_block":
        rows = [bidx[b] for b in ev.buyers] if ev.buyers else list(range(state.n_buyers))
        for p in P:
            state.block[rows, p] = ev.strength
    elif k == "import_quota":
        for p in P:
            state.quota_pool[p] = ev.units
            state.quota_buyers[p] = {bidx[b] for b in ev.buyers}
    elif k == "purchase_guidance":
        rows = [bidx[b] for b in ev.buyers] if ev.buyers else list(range(state.n_buyers))
        state.guidance[rows] = ev.domestic_min
    elif k == "procurement_mandate":
        state.mandate.append((ev.domestic_min, ev.coverage))
    elif k == "power_subsidy":
        state.subsidy.append((ev.rate, ev.coverage))
    elif k == "vendor_pressure":
        state.pressure[ev.vendor] = ev.strength
    else:  # pragma: no cover - the scenario schema admits only the kinds above
        raise ValueError(f"unhandled event kind {k!r}")


def products_cut_by(state: PolicyState, ev, pidx, bidx, tpp, interconnect, foreign) -> np.ndarray:
    """Products legal now that ``ev`` would make illegal or licence-bound (for hoarding ahead of it)."""
    before = state.us_legal(tpp, interconnect, foreign)
    trial = PolicyState(state.n_buyers, state.n_products, state.tpp_max, state.interconnect_max,
                        set(state.banned), set(state.allowed), dict(state.licence))
    apply_event(trial, ev, pidx, bidx)
    after = trial.us_legal(tpp, interconnect, foreign)
    lic = np.zeros_like(before)
    for p, a in trial.licence.items():
        if a < 1.0 and state.licence.get(p, 1.0) >= 1.0:
            lic[p] = True
    return before & (~after | lic)

