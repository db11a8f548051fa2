"""Rules: the scenario events (one self-contained class per kind) and the rules in force they change.

An event is data (``kind`` + fields, validated by pydantic when a scenario is loaded) with the
behaviour of its kind attached: ``apply`` changes the rules in force for some runs, ``restricts`` and
``eases`` say whether it makes foreign supply harder or easier than the rules in force (buyers react to
announcements), ``describe`` gives one plain sentence, and ``shifted`` moves it in time. Nothing else
in the project switches on an event's kind.

``RuleState`` holds the rules in force as arrays with a leading run axis, so runs that differ in their
events (a grid axis on a rule's timing or strength) step together in one model: an event is applied to
the runs whose scenario has it due this month (``runs``, an index array).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Annotated, Any, ClassVar, Literal, Union

import numpy as np
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    TypeAdapter,
    field_validator,
    model_validator,
)

from sim.model.calendar import month_index, month_str
from sim.model.ids import BUYERS, VENDORS
from sim.model.params import load_catalogue

Share = Annotated[float, Field(ge=0.0, le=1.0)]


def _month(v: Any) -> str:
    if not isinstance(v, str):
        raise ValueError(f"must be a quoted month string \"YYYY-MM\", got {v!r} ({type(v).__name__})")
    month_index(v)
    y = int(v[:4])
    if not 1990 <= y <= 2100:
        raise ValueError(f"year {y} is outside 1990-2100")
    return v


def _known_products(v: list[str]) -> list[str]:
    cat = load_catalogue()
    bad = [p for p in v if p not in cat]
    if bad:
        raise ValueError(f"unknown product id(s) {bad}; known: {sorted(cat)}")
    return v


def _known_buyers(v: list[str] | None) -> list[str] | None:
    if v is None:
        return v
    bad = [b for b in v if b not in BUYERS]
    if bad:
        raise ValueError(f"unknown buyer id(s) {bad}; known: {list(BUYERS)}")
    return v


# ---------------------------------------------------------------- the rules in force


@dataclass
class ProductTraits:
    """What a rule's product class is tested against (the model's arrays; ``tpp`` and ``interconnect`` are
    (R, P) and change when a compliant part launches)."""
    ids: list[str]
    vendor: np.ndarray          # (P,) vendor name of each product
    domestic: np.ndarray        # (P,) bool
    china_specific: np.ndarray  # (P,) bool
    tpp: np.ndarray             # (R, P)
    interconnect: np.ndarray    # (R, P)
    virtual: np.ndarray         # (P,) bool: the grey-market column (never in a class)


class RuleState:
    """The rules in force for R runs (run axis first). ``version`` changes whenever any rule changes, so
    the market can cache arrays derived from the rules."""

    def __init__(self, n_runs: int, n_buyers: int, n_products: int, pidx: dict[str, int],
                 bidx: dict[str, int]):
        R, B, P = n_runs, n_buyers, n_products
        self.n_runs, self.n_buyers, self.n_products = R, B, P
        self.pidx, self.bidx = pidx, bidx
        self.tpp_max = np.full(R, math.inf)  # products at or above this TPP ...
        self.interconnect_max = np.full(R, math.inf)  # ... and this interconnect are over the ceiling
        self.override = np.zeros((R, P), dtype=np.int8)  # -1 named ban, +1 named allowance
        self.licence = np.ones((R, P))  # monthly approval probability of products under a licence regime
        self.licence_set = np.zeros((R, P), dtype=bool)
        self.levy = np.zeros((R, P))
        self.volume_cap = np.full((R, P), math.inf)
        self.tsmc_cut = np.zeros(R, dtype=bool)
        self.hbm_cut = np.zeros(R, dtype=bool)
        self.smic_tools = np.zeros(R)
        self.grey_enforcement = np.zeros((R, 2))  # enforcement against smuggling: [US side, China side]
        self.block = np.zeros((R, B, P))  # China block strength per buyer and product
        self.quota_pool = np.zeros((R, P))  # remaining cards of an import quota
        self.quota_set = np.zeros((R, P), dtype=bool)
        self.quota_units = np.zeros((R, P))                  # cards per period of a renewing quota
        self.quota_renew = np.zeros((R, P), dtype=np.int64)  # its period in months (0: a one-off pool)
        self.quota_age = np.zeros((R, P), dtype=np.int64)    # months since the pool was last (re)filled
        self.quota_buyers = np.zeros((R, B, P), dtype=bool)
        self.guidance = np.zeros((R, B))  # soft domestic floor for commercial demand
        self.mandate_floor = np.zeros(R)  # domestic floor on state-linked demand (strongest x coverage)
        self.subsidy_rate = np.zeros(R)  # power subsidy for domestic chips (strongest x coverage)
        self.pressure = np.zeros((R, len(VENDORS)))
        self.us_tightened = np.zeros(R, dtype=bool)  # has a US rule that tightens taken effect (China reacts)?
        self.version = 0
        # China's blocks: one entry per block rule in force (event id -> strength per run (R,), buyers (B,),
        # the rule); the block on a product is the strictest entry covering it (order-independent)
        self.block_rules: dict[str, tuple[np.ndarray, np.ndarray, Any]] = {}
        self.traits: ProductTraits | None = None

    def copy(self) -> RuleState:
        """An independent copy (for trying an announced rule before it binds)."""
        s = RuleState.__new__(RuleState)
        s.__dict__.update({k: (v.copy() if isinstance(v, np.ndarray) else v) for k, v in self.__dict__.items()})
        s.block_rules = {k: (a.copy(), b.copy(), ev) for k, (a, b, ev) in self.block_rules.items()}
        return s

    def renew_quotas(self) -> None:
        """Start of a month: a renewing quota's pool is refilled when its period is over."""
        if not self.quota_renew.any():
            return
        self.quota_age += 1
        due = self.quota_set & (self.quota_renew > 0) & (self.quota_age >= self.quota_renew)
        if due.any():
            self.quota_pool = np.where(due, self.quota_units, self.quota_pool)
            self.quota_age = np.where(due, 0, self.quota_age)
            self.version += 1

    def refresh_blocks(self) -> None:
        """Recompute the block on every product from the block rules in force: the maximum over the rules
        that cover it (so two rules in one month give the same state in either order). Called when a rule
        changes and when a product's traits change (a part launched later is tested against every class)."""
        block = np.zeros_like(self.block)
        for strength, buyers, ev in self.block_rules.values():
            cover = ev.covers(self)  # (R, P)
            contrib = strength[:, None, None] * buyers[None, :, None] * cover[:, None, :]
            np.maximum(block, contrib, out=block)
        self.block = block
        self.version += 1

    def us_legal(self, tpp: np.ndarray, interconnect: np.ndarray, foreign: np.ndarray) -> np.ndarray:
        """(R, P): may the product be exported to China under the ceiling and named bans/allowances?"""
        over = (tpp >= self.tpp_max[:, None]) & (interconnect >= self.interconnect_max[:, None])
        legal = np.where(self.override != 0, self.override > 0, ~over)
        return legal | ~foreign


# ---------------------------------------------------------------- event kinds


class _Event(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    id: str = Field(pattern=r"^[a-z0-9][a-z0-9_\-]*$", max_length=64)
    announced: str
    effective: str
    actor: Literal["US", "China"]
    label: str = Field(min_length=1, max_length=200)
    source: str = Field(min_length=1)
    # a China measure taken in response to US export controls: it takes effect only in a run where a US rule
    # that tightens has taken effect (on its own date if one has by then, else in the first month one does),
    # unless the parameter ``china.reacts_to_us`` is off
    responds_to_us: bool = False

    words: ClassVar[str] = ""  # what a rule of this kind does, in one plain sentence
    # whose supply a tightening rule of this kind cuts: "foreign" (Nvidia's and AMD's sales to China) or
    # "domestic" (the inputs of China's own chip makers); removing a foreign-side tightening should not lower
    # Nvidia's share, removing a domestic-side one should not raise it (MODEL.md 9.7)
    acts_on: ClassVar[str] = "foreign"

    @field_validator("announced", "effective", mode="before")
    @classmethod
    def _m(cls, v):
        return _month(v)

    @model_validator(mode="after")
    def _order(self):
        if month_index(self.announced) > month_index(self.effective):
            raise ValueError(f"announced {self.announced} is after effective {self.effective}")
        if self.responds_to_us and self.actor != "China":
            raise ValueError("responds_to_us is for China's measures (actor \"China\") only")
        return self

    # -- behaviour
    def apply(self, s: RuleState, runs: np.ndarray) -> None:  # pragma: no cover - every kind overrides
        raise NotImplementedError

    def restricts(self, s: RuleState) -> np.ndarray:
        """(R,) bool: does the event make foreign supply harder than the rules in force?"""
        return np.zeros(s.n_runs, dtype=bool)

    def eases(self, s: RuleState) -> np.ndarray:
        """(R,) bool: does the event make foreign supply easier than the rules in force?"""
        return np.zeros(s.n_runs, dtype=bool)

    def describe(self) -> str:
        ann = f" Announced {self.announced}, binding from {self.effective}." if self.announced != self.effective \
            else f" Binding from {self.effective}."
        if self.responds_to_us:
            ann += " A response to US export controls: it binds only once a US rule has tightened."
        return f"{self.actor}: {self.label}. {self.words}{ann}"

    def shifted(self, months: int) -> _Event:
        """The same rule moved ``months`` later (earlier if negative), keeping its announcement lead."""
        return self.model_copy(update={"announced": month_str(month_index(self.announced) + months),
                                       "effective": month_str(month_index(self.effective) + months)})

    def _p(self, s: RuleState) -> list[int]:
        return [s.pidx[p] for p in getattr(self, "products", [])]

    def _rows(self, s: RuleState) -> list[int]:
        b = getattr(self, "buyers", None)
        return [s.bidx[x] for x in b] if b else list(range(s.n_buyers))


class _ProductsEvent(_Event):
    products: list[str] = Field(min_length=1)

    @field_validator("products")
    @classmethod
    def _p_known(cls, v):
        return _known_products(v)


def _always(s: RuleState) -> np.ndarray:
    return np.ones(s.n_runs, dtype=bool)


class ExportCeiling(_Event):
    """US: products above the ceiling (TPP and/or interconnect) or named in ``ban`` need a licence
    that is denied; products named in ``allow`` are legal whatever the ceiling."""
    kind: Literal["export_ceiling"]
    tpp_max: float | None = Field(default=None, gt=0)
    interconnect_max: float | None = Field(default=None, ge=0)
    ban: list[str] = []
    allow: list[str] = []
    words: ClassVar[str] = "The US sets which chips may be exported (a performance ceiling and named products)."

    @field_validator("ban", "allow")
    @classmethod
    def _known(cls, v):
        return _known_products(v)

    def apply(self, s, runs):
        if self.tpp_max is not None:
            s.tpp_max[runs] = self.tpp_max
        if self.interconnect_max is not None:
            s.interconnect_max[runs] = self.interconnect_max
        for p in self.ban:
            s.override[runs, s.pidx[p]] = -1
        for p in self.allow:
            s.override[runs, s.pidx[p]] = 1

    def restricts(self, s):
        return _always(s) & (bool(self.ban) or self.tpp_max is not None or self.interconnect_max is not None)

    def eases(self, s):
        return _always(s) & bool(self.allow)


class Licence(_ProductsEvent):
    """US: the products need a licence; each month a licence is granted with ``approval`` probability."""
    kind: Literal["licence"]
    approval: Share
    words: ClassVar[str] = "Named products need a US licence; each month only some licences are granted."

    def apply(self, s, runs):
        idx = np.ix_(runs, self._p(s))
        s.licence[idx] = self.approval
        s.licence_set[idx] = True

    def _change(self, s) -> np.ndarray:
        """New approval minus the approval in force (lowest over the event's products), per run."""
        return self.approval - s.licence[:, self._p(s)].min(axis=1)

    def restricts(self, s):
        return self._change(s) < 0

    def eases(self, s):
        return self._change(s) > 0


class Levy(_ProductsEvent):
    """US: a share of China revenue (or an import duty) paid to the US government."""
    kind: Literal["levy"]
    rate: Share
    words: ClassVar[str] = "A share of the revenue (or an import duty) goes to the US government, raising prices."

    def apply(self, s, runs):
        s.levy[np.ix_(runs, self._p(s))] = self.rate

    def _change(self, s) -> np.ndarray:
        """(R, k) new rate minus the rate in force on each of the event's products that may be exported
        now (0 on products the US bars, by its ceiling or by a licence regime that grants none: a duty that
        comes with an opening is part of that easing)."""
        idx = self._p(s)
        t = s.traits
        if t is None:
            legal = np.ones((s.n_runs, len(idx)), dtype=bool)
        else:
            legal = s.us_legal(t.tpp, t.interconnect, ~t.domestic)[:, idx]
        legal = legal & ~(s.licence_set[:, idx] & (s.licence[:, idx] <= 0.0))
        return np.where(legal, self.rate - s.levy[:, idx], 0.0)

    def restricts(self, s):
        return (self._change(s) > 0).any(axis=1)

    def eases(self, s):
        return (self._change(s) < 0).any(axis=1)


class VolumeCap(_ProductsEvent):
    """US: at most ``units_per_month`` cards of the products may be shipped to China."""
    kind: Literal["volume_cap"]
    units_per_month: float = Field(ge=0)
    words: ClassVar[str] = "A cap on how many cards may be shipped."

    def apply(self, s, runs):
        s.volume_cap[np.ix_(runs, self._p(s))] = self.units_per_month

    def restricts(self, s):
        return _always(s)


class SupplyRestriction(_Event):
    """US: cut a supply route of the domestic vendors (TSMC dies, foreign HBM, SMIC tools)."""
    kind: Literal["supply_restriction"]
    target: Literal["tsmc_dies", "foreign_hbm", "smic_tools"]
    level: Share = 1.0
    words: ClassVar[str] = "Limits on the inputs Chinese chip makers can get (fab tools, TSMC dies, HBM)."
    acts_on: ClassVar[str] = "domestic"

    def apply(self, s, runs):
        if self.target == "tsmc_dies":
            s.tsmc_cut[runs] = self.level > 0
        elif self.target == "foreign_hbm":
            s.hbm_cut[runs] = self.level > 0
        else:
            s.smic_tools[runs] = self.level

    def restricts(self, s):
        return _always(s)


class GreyEnforcement(_Event):
    """Either side: enforcement against smuggled cards. Each side (the event's actor) has its own level, the
    latest event of that side sets it; grey capacity is scaled by (1 - US level) x (1 - China level)."""
    kind: Literal["grey_enforcement"]
    level: Share
    words: ClassVar[str] = "Enforcement against smuggled cards shrinks the grey market."

    def apply(self, s, runs):
        s.grey_enforcement[runs, 0 if self.actor == "US" else 1] = self.level


class ImportBlock(_Event):
    """China: block or deter purchases of foreign products (strength 1 = not permitted).

    The rule names a class of products, named products, or both (a product is covered if it is named or
    matches every class field given): ``vendors``, ``origin``, ``china_specific`` (parts made for China
    under US rules, including compliant parts launched later) and a TPP band ``tpp_min`` <= TPP <
    ``tpp_max``. Coverage is re-tested whenever a product's traits change. Blocks combine by the
    strictest rule in force; a rule replaces an earlier one only where it names it in ``replaces``."""
    kind: Literal["import_block"]
    strength: Share
    products: list[str] = []
    vendors: list[str] | None = None
    origin: Literal["foreign", "domestic"] | None = None
    china_specific: bool | None = None
    tpp_min: float | None = Field(default=None, ge=0)
    tpp_max: float | None = Field(default=None, gt=0)
    buyers: list[str] | None = None
    replaces: list[str] = []
    words: ClassVar[str] = "China blocks or discourages purchases of foreign chips (named, or a class of chips)."

    @field_validator("buyers")
    @classmethod
    def _b(cls, v):
        return _known_buyers(v)

    @field_validator("products")
    @classmethod
    def _p_known(cls, v):
        return _known_products(v) if v else v

    @field_validator("vendors")
    @classmethod
    def _v_known(cls, v):
        bad = [x for x in v or [] if x not in VENDORS]
        if bad:
            raise ValueError(f"unknown vendor(s) {', '.join(map(repr, bad))} (known: {', '.join(VENDORS)})")
        return v

    @model_validator(mode="after")
    def _some_class(self):
        if not self.products and self._class_fields() == {}:
            raise ValueError("names no products and no class (give products, vendors, origin, china_specific, "
                             "tpp_min or tpp_max)")
        return self

    def _class_fields(self) -> dict:
        return {k: getattr(self, k) for k in ("vendors", "origin", "china_specific", "tpp_min", "tpp_max")
                if getattr(self, k) is not None}

    def covers(self, s: RuleState) -> np.ndarray:
        """(R, P) bool: the products this rule covers, for the products' current traits."""
        tr = s.traits
        R, P = s.n_runs, s.n_products
        named = np.zeros(P, dtype=bool)
        named[[s.pidx[p] for p in self.products]] = True
        cls = self._class_fields()
        if not cls:
            return np.broadcast_to(named, (R, P)).copy()
        if tr is None:
            raise RuntimeError("product traits are not set on the rule state")
        m = np.broadcast_to(~tr.virtual, (R, P)).copy()
        if self.vendors is not None:
            m &= np.isin(tr.vendor, self.vendors)[None, :]
        if self.origin is not None:
            m &= (tr.domestic == (self.origin == "domestic"))[None, :]
        if self.china_specific is not None:
            m &= (tr.china_specific == self.china_specific)[None, :]
        if self.tpp_min is not None:
            m &= tr.tpp >= self.tpp_min
        if self.tpp_max is not None:
            m &= tr.tpp < self.tpp_max
        return m | named[None, :]

    def _key(self) -> str:
        """The rule's identity in the state: its id and what it covers (runs of a batch may hold variants of
        one event, e.g. a grid axis on its products)."""
        return self.id + "|" + self.model_dump_json(include={"products", "vendors", "origin", "china_specific",
                                                              "tpp_min", "tpp_max", "buyers"})

    def apply(self, s, runs):
        for old in self.replaces:
            for k, (strength, _, _) in s.block_rules.items():
                if k.split("|", 1)[0] == old:
                    strength[runs] = 0.0
        buyers = np.zeros(s.n_buyers)
        buyers[self._rows(s)] = 1.0
        strength, _, _ = s.block_rules.setdefault(self._key(), (np.zeros(s.n_runs), buyers, self))
        strength[runs] = self.strength
        s.refresh_blocks()

    def describe(self) -> str:
        return super().describe() + (f" Covers: {self.coverage_words()}." if self._class_fields() else "")

    def coverage_words(self) -> str:
        parts = []
        if self.vendors:
            parts.append("/".join(self.vendors))
        if self.origin:
            parts.append(self.origin)
        if self.china_specific is not None:
            parts.append("China-specific" if self.china_specific else "not China-specific")
        if self.tpp_min is not None or self.tpp_max is not None:
            parts.append(f"TPP {self.tpp_min or 0:g}–{self.tpp_max if self.tpp_max is not None else '∞'}")
        what = " ".join(parts) + " chips"
        return what + (f" and {', '.join(self.products)}" if self.products else "")


class ImportQuota(_ProductsEvent):
    """China: named buyers may import up to ``units`` cards despite a block: once (``renew_months`` not
    given), or as a rate, ``units`` per period of ``renew_months`` months, unused cards lapsing at each
    renewal."""
    kind: Literal["import_quota"]
    buyers: list[str] = Field(min_length=1)
    units: float = Field(ge=0)
    renew_months: int | None = Field(default=None, ge=1, le=120)
    words: ClassVar[str] = "China lets named buyers import a limited number of otherwise blocked cards."

    @field_validator("buyers")
    @classmethod
    def _b(cls, v):
        return _known_buyers(v)

    def apply(self, s, runs):
        P = self._p(s)
        s.quota_pool[np.ix_(runs, P)] = self.units
        s.quota_set[np.ix_(runs, P)] = True
        s.quota_units[np.ix_(runs, P)] = self.units
        s.quota_renew[np.ix_(runs, P)] = self.renew_months or 0
        s.quota_age[np.ix_(runs, P)] = 0
        members = np.zeros(s.n_buyers, dtype=bool)
        members[self._rows(s)] = True
        for p in P:
            s.quota_buyers[runs, :, p] = members


class PurchaseGuidance(_Event):
    """China: commercial buyers told to buy at least ``domestic_min`` domestic (soft floor)."""
    kind: Literal["purchase_guidance"]
    domestic_min: Share
    buyers: list[str] | None = None
    words: ClassVar[str] = "Beijing tells commercial buyers to buy a minimum share of domestic chips."

    @field_validator("buyers")
    @classmethod
    def _b(cls, v):
        return _known_buyers(v)

    def apply(self, s, runs):
        s.guidance[np.ix_(runs, self._rows(s))] = self.domestic_min


class ProcurementMandate(_Event):
    """China: state-linked demand must be at least ``domestic_min`` domestic; ``coverage`` is the
    share of state-linked demand the rule reaches (e.g. one city's compute centres)."""
    kind: Literal["procurement_mandate"]
    domestic_min: Share
    coverage: Share = 1.0
    words: ClassVar[str] = "State-linked compute must use at least a set share of domestic chips."

    def apply(self, s, runs):
        s.mandate_floor[runs] = np.maximum(s.mandate_floor[runs], self.domestic_min * self.coverage)


class PowerSubsidy(_Event):
    """China: electricity subsidy (share of the bill) for data centres running domestic chips."""
    kind: Literal["power_subsidy"]
    rate: Share
    coverage: Share = 1.0
    words: ClassVar[str] = "Cheaper electricity for data centres running domestic chips."

    def apply(self, s, runs):
        s.subsidy_rate[runs] = np.maximum(s.subsidy_rate[runs], self.rate * self.coverage)


class VendorPressure(_Event):
    """China: regulatory pressure on a foreign vendor (antitrust, security summons): a utility penalty."""
    kind: Literal["vendor_pressure"]
    vendor: Literal["Nvidia", "AMD"]
    strength: Share
    words: ClassVar[str] = "Regulatory pressure on a foreign vendor (antitrust, security summons)."

    def apply(self, s, runs):
        s.pressure[runs, VENDORS.index(self.vendor)] = self.strength


EVENT_TYPES = (ExportCeiling, Licence, Levy, VolumeCap, SupplyRestriction, GreyEnforcement, ImportBlock,
               ImportQuota, PurchaseGuidance, ProcurementMandate, PowerSubsidy, VendorPressure)
Event = Annotated[Union[EVENT_TYPES], Field(discriminator="kind")]  # noqa: UP007
EVENT_ADAPTER = TypeAdapter(Event)
EVENT_KINDS = {t.model_fields["kind"].annotation.__args__[0]: t for t in EVENT_TYPES}


def kind_words(kind: str) -> str:
    """What a rule of this kind does, in one plain sentence."""
    t = EVENT_KINDS.get(kind)
    return t.words if t is not None else kind


# ---------------------------------------------------------------- announcements


def products_cut_by(s: RuleState, ev: _Event, tpp: np.ndarray, interconnect: np.ndarray,
                    foreign: np.ndarray) -> np.ndarray:
    """(R, P): products legal now that ``ev`` would make illegal or licence-bound (buyers hoard them
    between the announcement and the effective date)."""
    before = s.us_legal(tpp, interconnect, foreign)
    trial = s.copy()
    ev.apply(trial, np.arange(s.n_runs))
    after = trial.us_legal(tpp, interconnect, foreign)
    lic = (trial.licence < 1.0) & (s.licence >= 1.0)  # newly licence-bound (unset = approval 1)
    return before & (~after | lic)


@dataclass(frozen=True)
class Scheduled:
    """An event as it happens in some runs of a batch: applied in month ``t`` (a month index from the
    start; events dated before the start apply in month 0), announced in month ``t_announce`` (news only
    if ``news``), to the runs ``runs``."""
    event: Any
    t: int
    t_announce: int
    news: bool
    runs: np.ndarray

    @property
    def order(self) -> tuple:
        return (self.event.actor != "US", month_index(self.event.effective), self.event.id)
