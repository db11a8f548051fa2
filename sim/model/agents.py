"""The agents: chip vendors, buyers (cloud providers and other buyer classes) and the two regulators.

Each agent owns its slice of the model's arrays (its products, its row of the installed base) and makes
its own decisions each month; the market maths they use lives in ``sim.market`` as pure functions.
All randomness comes from the model's seeded generator ``model.rng``.
"""

from __future__ import annotations

import math

import mesa
import numpy as np

from sim.model import market
from sim.model.rules import apply_event


class Regulator(mesa.Agent):
    """US (BIS/Commerce) or China (MIIT/NDRC/CAC/SAMR/customs, local governments).

    State: the rules in force (shared ``model.policy``). Applies its scenario events on their effective
    month and, when the scenario switches it on, its reactive rule.
    """

    actor = ""

    def __init__(self, model):
        super().__init__(model)
        self.fired: list[str] = []

    def regulate(self) -> None:
        m = self.model
        for ev in m.events_due.get((self.actor, m.t), ()):
            apply_event(m.policy, ev, m.pidx, m.bidx)
            m.events_applied.append((m.t, ev.id))
        self.react()

    def react(self) -> None:  # pragma: no cover - overridden
        pass


class USRegulator(Regulator):
    actor = "US"

    def react(self) -> None:
        """Reactive rule: when the best shipping domestic training performance crosses the trigger,
        lower the TPP ceiling by a factor (fires again only after performance rises another 50%)."""
        m = self.model
        if not m.p["us.reactive.enabled"]:
            return
        best = m.best_domestic_train()
        trigger = m.p["us.reactive.trigger_perf"] * (1.5 ** len(self.fired))
        if best >= trigger:
            cur = m.policy.tpp_max if math.isfinite(m.policy.tpp_max) else float(m.tpp[~m.domestic].max()) + 1
            m.policy.tpp_max = cur * m.p["us.reactive.ceiling_factor"]
            m.policy.interconnect_max = 0.0
            m.policy.version += 1
            self.fired.append(m.months[m.t])
            m.events_applied.append((m.t, "us-reactive-ceiling"))
            m.announce(restricting=True, eased=False)


class ChinaRegulator(Regulator):
    actor = "China"

    def react(self) -> None:
        """Reactive rule: each January, if domestic deliveries covered at least the trigger share of
        the compute delivered over the last 12 months, raise the domestic floor: the mandate on
        state-linked demand first, then (once that is 100%) the purchase guidance for all buyers."""
        m = self.model
        if not m.p["china.reactive.enabled"] or m.t < 12 or m.month_of_year[m.t] != 1:
            return
        cov = m.domestic_coverage_last_year()
        if cov >= m.p["china.reactive.coverage_trigger"]:
            step = m.p["china.reactive.mandate_step"]
            cur = m.policy.mandate_floor()
            if cur < 1.0:
                m.policy.mandate.append((min(1.0, cur + step), 1.0))
            else:
                m.policy.guidance = np.minimum(1.0, m.policy.guidance + step)
            m.policy.version += 1
            self.fired.append(m.months[m.t])
            m.events_applied.append((m.t, "china-reactive-mandate"))


class ChipVendor(mesa.Agent):
    """A chip vendor: what each of its products can sell in China this month (capacity), and its
    ecosystem maturity (``model.maturity[vidx]``). Generic domestic vendors follow an exogenous
    capacity ramp; prices respond to last month's orders (``MarketModel.set_prices``)."""

    def __init__(self, model, name: str, vidx: int):
        super().__init__(model)
        self.name = name
        self.vidx = vidx
        self.products = np.flatnonzero(model.vendor_of == vidx)
        self.domestic = bool(model.origin_of_vendor[vidx])

    def offer(self) -> None:
        m = self.model
        m.capacity[self.products] = m.base_capacity[m.t, self.products]


class ForeignVendor(ChipVendor):
    """Nvidia or AMD: stops China production of a product China blocks (resumes if the block lifts),
    respects US volume caps and Chinese quotas, and launches a compliant SKU when left without a legal
    data-centre product for ``vendors.compliant_sku_lag`` months."""

    def __init__(self, model, name, vidx):
        super().__init__(model, name, vidx)
        self.months_without = 0
        self.halted = np.zeros(len(self.products), dtype=bool)
        self._block_key = None

    def offer(self) -> None:
        m = self.model
        prods = self.products
        pol = m.policy
        cap = m.base_capacity[m.t, prods].copy()
        quota = np.zeros(len(prods), dtype=bool)
        if pol.volume_cap or pol.quota_pool:
            for i, p in enumerate(prods):
                if p in pol.volume_cap:
                    cap[i] = min(cap[i], pol.volume_cap[p])
                if p in pol.quota_pool:
                    cap[i] = min(cap[i], pol.quota_pool[p])
                    quota[i] = True
        if self._block_key != pol.version:
            self._block_key = pol.version
            self._blocked = pol.block[:, prods].max(axis=0) >= m.p["vendors.halt_on_block"]
        blocked = self._blocked & ~quota
        # production for China stops while China blocks a product it was selling
        self.halted = blocked & (self.halted | (m.cum_units[prods] > 0))
        cap[self.halted] = 0.0
        self._compliant_sku(prods)
        m.capacity[prods] = cap

    def _compliant_sku(self, prods) -> None:
        m = self.model
        slot = m.compliant_slot.get(self.name)
        if slot is None or m.launched_at[slot] <= m.t:
            return
        ok = m.launched[prods] & m.us_legal[prods] & (m.train[prods] >= 0.4) & ~m.virtual[prods]
        self.months_without = 0 if ok.any() else self.months_without + 1
        worth_it = math.isfinite(m.policy.tpp_max) and m.policy.tpp_max >= 0.1 * m.tpp[m.pidx["a100"]]
        if self.months_without >= m.p["vendors.compliant_sku_lag"] and worth_it:
            m.launch_compliant(self.name, slot)


class Huawei(ChipVendor):
    """Huawei Ascend: capacity built from SMIC wafers x good dies (yield learning) plus the TSMC die
    bank, capped by HBM stacks. Wafers follow last month's orders, and the newest launched product
    gets at least half of them (walking the roadmap)."""

    def __init__(self, model, name, vidx):
        super().__init__(model, name, vidx)
        self.cum_wafers = np.zeros(len(self.products))
        self.bank = float(model.p["huawei.die_bank"])
        self.hbm = math.inf
        self.hbm_cut_seen = False
        p = self.products
        self.gross, self.dies, self.stacks = model.gross_dies[p], model.dies[p], model.hbm_stacks[p]
        self.y0, self.uses_bank = model.yield0[p], model.uses_die_bank[p]

    def offer(self) -> None:
        m = self.model
        prm = m.p
        prods = self.products
        live = m.launched[prods]
        n = len(prods)
        wafers = m.wafer_path[m.t] * (1.0 - m.policy.smic_tools)
        demand = np.where(live, m.last_orders[prods] * self.dies / m.good_per_wafer_hint[prods], 0.0)
        tot = demand.sum()
        share = demand / tot if tot > 0 else live / max(live.sum(), 1)
        if live.any():
            newest = int(np.argmax(np.where(live, m.launched_at[prods], -10**9)))
            share[newest] = max(share[newest], 0.5)
            share = share / share.sum()
        w = wafers * share
        yld = market.yield_curve(self.y0, prm["huawei.yield_max"], self.cum_wafers, prm["huawei.yield_learning_wafers"])
        yld = np.clip(yld * np.exp(m.rng.normal(0.0, prm["huawei.yield_noise"], n)), 0.0, 1.0)
        # die bank: TSMC dies for the products that use it (flows freely until the TSMC cut-off)
        draw = np.zeros(n)
        use = self.uses_bank & live
        if use.any():
            want = prm["huawei.die_bank_draw"]
            if not m.policy.tsmc_cut:
                self.bank = max(self.bank, want)
            draw[use] = min(want, self.bank) / use.sum()
        # HBM: unlimited until foreign HBM is cut, then the stock plus domestic HBM from 2026
        if m.policy.hbm_cut and not self.hbm_cut_seen:
            self.hbm, self.hbm_cut_seen = float(prm["huawei.hbm_stock"]), True
        if self.hbm_cut_seen and m.year[m.t] >= 2026:
            self.hbm += prm["huawei.domestic_hbm_2026"]
        cards, hbm_used, uncapped = market.ascend_capacity(w, self.gross, yld, self.dies, draw, self.stacks, self.hbm)
        cards = np.where(live, cards, 0.0)
        used_frac = np.divide(cards, uncapped, out=np.zeros(n), where=uncapped > 0)
        self.bank -= float((draw * used_frac).sum())
        if self.hbm_cut_seen:
            self.hbm = max(self.hbm - hbm_used, 0.0)
        self.cum_wafers += w
        m.huawei_made[m.t] = cards.sum()
        m.capacity[prods] = cards


class Buyer(mesa.Agent):
    """A cloud provider or buyer class. Its state is its row of the model's buyer arrays: belief that
    foreign supply will be cut, hoarding plan, unopened stockpile, installed base, software efficiency.

    The buyers' rules are the same for every buyer and depend only on the buyer's own row, so the
    model applies them to all buyers in one vectorised call per phase (``MarketModel.anticipate``,
    ``choose``, ``update``); this class gives each buyer its identity and a readable view of its state.
    """

    def __init__(self, model, name: str, bidx: int):
        super().__init__(model)
        self.name = name
        self.bidx = bidx

    @property
    def belief(self) -> float:
        return float(self.model.belief[self.bidx])

    @property
    def efficiency(self) -> float:
        return float(self.model.efficiency[self.bidx])

    @property
    def stockpile_units(self) -> float:
        return float(self.model.stock[self.bidx].sum())

    @property
    def installed_units(self) -> float:
        return float(self.model.installed[self.bidx].sum())
