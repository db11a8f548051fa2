"""The agents: chip vendors, buyers (cloud providers and other buyer classes) and the two regulators.

Each agent owns its slice of the model's arrays (its products, its row of the installed base) and makes
its own decisions each month; the market maths they use lives in ``sim.market`` as pure functions.
All randomness comes from the model's seeded generator ``model.rng``.
"""

from __future__ import annotations

import math

import mesa
import numpy as np

from . import market
from .policy import apply_event


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
            self.fired.append(m.months[m.t])
            m.events_applied.append((m.t, "us-reactive-ceiling"))
            m.announce(restricting=True, eased=False)


class ChinaRegulator(Regulator):
    actor = "China"

    def react(self) -> None:
        """Reactive rule: each January, if domestic deliveries covered at least the trigger share of
        the compute delivered over the last 12 months, raise the mandate on state-linked demand."""
        m = self.model
        if not m.p["china.reactive.enabled"] or m.t < 12 or m.month_of_year[m.t] != 1:
            return
        cov = m.domestic_coverage_last_year()
        if cov >= m.p["china.reactive.coverage_trigger"]:
            cur = m.policy.mandate_floor()
            m.policy.mandate.append((min(1.0, cur + m.p["china.reactive.mandate_step"]), 1.0))
            self.fired.append(m.months[m.t])
            m.events_applied.append((m.t, "china-reactive-mandate"))


class ChipVendor(mesa.Agent):
    """A chip vendor: its products' capacity and price for China each month, ecosystem maturity."""

    def __init__(self, model, name: str, vidx: int):
        super().__init__(model)
        self.name = name
        self.vidx = vidx
        self.products = np.flatnonzero(model.vendor_of == vidx)
        self.domestic = bool(model.origin_of_vendor[vidx])

    def offer(self) -> None:
        m = self.model
        prods = self.products
        cap = m.base_capacity[m.t, prods].copy()
        self._set_prices(prods, cap)
        m.capacity[prods] = cap

    def _set_prices(self, prods, cap) -> None:
        m = self.model
        last = m.last_orders[prods]
        with np.errstate(divide="ignore", invalid="ignore"):
            excess = np.where(cap > 0, last / np.where(cap > 0, cap, 1.0) - 1.0, 0.0)
        m.price[prods] = m.base_price[prods] * (1.0 + m.p["vendors.markup_max"] * np.clip(excess, 0.0, 1.0))


class ForeignVendor(ChipVendor):
    """Nvidia or AMD: halts a product China blocks, launches a compliant SKU when left without one."""

    def __init__(self, model, name, vidx):
        super().__init__(model, name, vidx)
        self.months_without = 0
        self.halted: set[int] = set()

    def offer(self) -> None:
        m = self.model
        prods = self.products
        cap = m.base_capacity[m.t, prods].copy()
        for i, p in enumerate(prods):
            if p in m.policy.volume_cap:
                cap[i] = min(cap[i], m.policy.volume_cap[p])
            if p in m.policy.quota_pool:
                cap[i] = min(cap[i], m.policy.quota_pool[p])
            blocked = m.policy.block[:, p].max() >= m.p["vendors.halt_on_block"] and p not in m.policy.quota_pool
            if blocked and m.rec_units[:m.t, p].sum() > 0:
                self.halted.add(p)  # production for China stops while China blocks the product
            elif not blocked:
                self.halted.discard(p)
            if p in self.halted:
                cap[i] = 0.0
        self._compliant_sku(prods)
        self._set_prices(prods, cap)
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
    bank, capped by HBM stacks; wafers are shared among launched products by last month's orders."""

    def __init__(self, model, name, vidx):
        super().__init__(model, name, vidx)
        self.cum_wafers = np.zeros(len(self.products))
        self.bank = float(model.p["huawei.die_bank"])
        self.hbm = math.inf
        self.hbm_cut_seen = False

    def offer(self) -> None:
        m = self.model
        prods = self.products
        live = m.launched[prods]
        wafers = m.wafer_path[m.t] * (1.0 - m.policy.smic_tools)
        # wafers follow last month's orders; the newest launched product gets at least half (roadmap)
        demand = np.where(live, m.last_orders[prods] * m.dies[prods] / m.good_per_wafer_hint[prods], 0.0)
        share = demand / demand.sum() if demand.sum() > 0 else live / max(live.sum(), 1)
        if live.any():
            newest = np.zeros(len(prods))
            newest[np.argmax(np.where(live, m.launched_at[prods], -10**9))] = 1.0
            share = np.maximum(share, 0.5 * newest)
            share = share / share.sum()
        w = wafers * share
        yld = market.yield_curve(m.yield0[prods], m.p["huawei.yield_max"], self.cum_wafers,
                                 m.p["huawei.yield_learning_wafers"])
        yld = np.clip(yld * np.exp(m.rng.normal(0.0, m.p["huawei.yield_noise"], len(prods))), 0.0, 1.0)
        # die bank: TSMC dies for the products that use it (flows freely until the TSMC cut-off)
        uses_bank = m.uses_die_bank[prods] & live
        draw = np.zeros(len(prods))
        if uses_bank.any():
            want = m.p["huawei.die_bank_draw"]
            if not m.policy.tsmc_cut:
                self.bank = max(self.bank, want)
            got = min(want, self.bank)
            draw[uses_bank] = got / uses_bank.sum()
        # HBM: unlimited until foreign HBM is cut, then the stock plus domestic HBM from 2026
        if m.policy.hbm_cut and not self.hbm_cut_seen:
            self.hbm, self.hbm_cut_seen = float(m.p["huawei.hbm_stock"]), True
        if self.hbm_cut_seen and m.year[m.t] >= 2026:
            self.hbm += m.p["huawei.domestic_hbm_2026"]
        cards, hbm_used = market.ascend_capacity(w, m.gross_dies[prods], yld, m.dies[prods], draw,
                                                 m.hbm_stacks[prods], self.hbm)
        cards = np.where(live, cards, 0.0)
        # dies actually used from the bank scale with the HBM-limited output
        full = market.ascend_capacity(w, m.gross_dies[prods], yld, m.dies[prods], draw, m.hbm_stacks[prods],
                                      math.inf)[0]
        used_frac = np.divide(cards, full, out=np.zeros_like(cards), where=full > 0)
        self.bank -= float((draw * used_frac).sum())
        if self.hbm_cut_seen:
            self.hbm = max(self.hbm - hbm_used, 0.0)
        self.cum_wafers += w
        m.huawei_made[m.t] = cards.sum()
        m.capacity[prods] = cards
        self._set_prices(prods, cards)


class Buyer(mesa.Agent):
    """A cloud provider or buyer class: belief about foreign supply, hoarding plan, stockpile use and
    software efficiency. Its demand split (Choose) is evaluated with all buyers' in one vectorised call
    of ``market.nested_logit`` on its own row of utilities."""

    def __init__(self, model, name: str, bidx: int):
        super().__init__(model)
        self.name = name
        self.bidx = bidx
        self.belief = 0.0
        self.efficiency = 1.0

    def anticipate(self) -> None:
        m = self.model
        p = m.p
        self.belief = float(market.update_belief(np.float64(self.belief), m.announced_cut, m.announced_ease,
                                                 p["anticipation.jump"], p["anticipation.decay"],
                                                 p["anticipation.easing"]))
        m.belief[self.bidx] = self.belief
        # hoarding: pull purchases of at-risk products forward (the extra goes to the stockpile)
        s = p["hoarding.strength"] * self.belief
        m.hoard_mult[self.bidx] = s * m.at_risk + s * p["hoarding.general"] * m.foreign_p
        # open part of the stockpile for use
        b = self.bidx
        opened = m.stock[b] * p["stockpile.open_rate"]
        m.opened[b] = opened

    def adapt(self) -> None:
        """Short of compute: raise software efficiency along a bounded curve."""
        m = self.model
        self.efficiency = float(market.update_efficiency(np.float64(self.efficiency), m.service[self.bidx],
                                                         m.p["efficiency.max"], m.p["efficiency.rate"]))
        m.efficiency[self.bidx] = self.efficiency
