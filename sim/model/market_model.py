"""MarketModel: China's AI-accelerator market as a Mesa 3.3 model. One step = one calendar month.

``step()`` is the schedule of MODEL.md section 3 and docs/ODD.md section 3: regulate, offer, anticipate,
choose, clear, update, record. Numbers live in arrays owned by the model (buyers x tiers x products);
agents own their slices and decisions; the market maths is in ``sim.market``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import mesa
import numpy as np
from mesa.agent import AgentSet

from sim.model import market
from sim.model.agents import (
    Buyer,
    ChinaRegulator,
    ChipVendor,
    ForeignVendor,
    Huawei,
    USRegulator,
)
from sim.model.calendar import month_index
from sim.model.ids import BUYERS, FOREIGN_VENDORS, TIERS, TRAINING_TIERS, VENDORS
from sim.model.params import PARAMS, load_catalogue
from sim.model.rules import PolicyState, is_easing, is_restricting, products_cut_by
from sim.model.scenario import Scenario, load_scenario
from sim.model.seeds import derive_seed

BIG = 1e9  # capacity that never binds (cards/month)
GREY = "nvidia_grey"
COMPLIANT = "nvidia_compliant"


class MarketModel(mesa.Model):
    """Agent-based model of cloud providers, chip vendors and regulators.

    Args:
        scenario: a Scenario, or a scenario name / path (default ``history``).
        seed: the run's seed (an int). Default: replicate 0 of the scenario's master seed.
        trace: keep the decision trace (utility terms behind each buyer's split).
        mesa_collect: feed ``self.datacollector`` every month (for ``mesa.batch_run`` and Mesa tools);
            ChipShift's own runner records everything itself and switches this off.
        **overrides: dotted parameter overrides, e.g. ``**{"hoarding.strength": 0.5}``; this is what
            ``mesa.batch_run`` passes.
    """

    def __init__(self, scenario: Scenario | str | Path = "history", seed: int | None = None, trace: bool = False,
                 mesa_collect: bool = True, **overrides: Any):
        if not isinstance(scenario, Scenario):
            scenario = load_scenario(scenario)
        if overrides:
            scenario = scenario.with_changes(parameters=overrides)
        if seed is None:
            seed = derive_seed(scenario.header.seed, 0)
        super().__init__(seed=int(seed))
        self.seed_value = int(seed)
        self.scenario = scenario
        self.trace_on = trace
        self.mesa_collect = mesa_collect
        self.p = {n: scenario.parameters.get(n, prm.default) for n, prm in PARAMS.items()}
        self.months = scenario.months
        self.n_months = len(self.months)
        self.t = 0
        self._build_products()
        self._build_time()
        self._build_state()
        self._build_events()
        self._build_agents()
        self._build_records()
        self.datacollector = mesa.DataCollector(model_reporters={
            "month": "month", "Nvidia_unit_share": "nvidia_unit_share", "Huawei_unit_share": "huawei_unit_share",
            "Domestic_unit_share": "domestic_unit_share", "Total_units": "total_units",
        })
        self.month = self.months[0]
        self.nvidia_unit_share = self.huawei_unit_share = self.domestic_unit_share = self.total_units = 0.0
        self.running = True

    # ------------------------------------------------------------------ construction
    def _build_products(self) -> None:
        cat = load_catalogue()
        p = self.p
        ids = list(cat) + [GREY, COMPLIANT]
        self.product_ids = ids
        self.pidx = {x: i for i, x in enumerate(ids)}
        self.bidx = {x: i for i, x in enumerate(BUYERS)}
        n = len(ids)
        vix = {v: i for i, v in enumerate(VENDORS)}
        self.origin_of_vendor = np.array([0 if v in FOREIGN_VENDORS else 1 for v in VENDORS])
        start = month_index(self.scenario.header.start)

        def f(pid, key, default=0.0):
            if pid == GREY:
                return default
            if pid == COMPLIANT:  # placeholder until launched (see launch_compliant)
                pid = "a100"
            k = f"products.{pid}.{key}"
            return float(p[k]) if k in p else float(cat[pid].get(key, default))

        h100 = "h100"
        self.vendor_of = np.array([vix[cat[x]["vendor"]] if x in cat else vix["Nvidia"] for x in ids])
        self.domestic = self.origin_of_vendor[self.vendor_of].astype(bool)
        self.foreign_p = (~self.domestic).astype(float)
        self.virtual = np.array([x in (GREY, COMPLIANT) for x in ids])
        self.train = np.array([f(x, "train") for x in ids])
        self.infer = np.array([f(x, "infer") for x in ids])
        self.bf16 = np.array([f(x, "bf16") for x in ids])
        self.tpp = np.array([f(x, "tpp") for x in ids])
        self.interconnect = np.array([f(x, "interconnect_gbs") for x in ids])
        self.power = np.array([f(x, "power_w") for x in ids])
        price = np.array([f(x, "price_usd") for x in ids])
        price = np.where(self.domestic, price * p["domestic.price_markup"], price)
        # grey market: H100-class cards at a premium
        g = self.pidx[GREY]
        self.train[g], self.infer[g], self.bf16[g] = f(h100, "train"), f(h100, "infer"), f(h100, "bf16")
        self.tpp[g], self.interconnect[g], self.power[g] = f(h100, "tpp"), f(h100, "interconnect_gbs"), f(h100, "power_w")
        price[g] = f(h100, "price_usd") * (1.0 + p["grey.premium"])
        self.base_price = price
        self.price = price.copy()
        self.dies = np.array([f(x, "dies", 1.0) for x in ids])
        self.hbm_stacks = np.array([f(x, "hbm_stacks", 0.0) for x in ids])
        self.gross_dies = np.array([f(x, "gross_dies_per_wafer", 0.0) for x in ids])
        self.yield0 = np.array([f(x, "yield0", 0.0) for x in ids])
        self.uses_die_bank = np.array([bool(cat.get(x, {}).get("die_bank", False)) for x in ids])
        self.good_per_wafer_hint = np.maximum(self.gross_dies * np.maximum(self.yield0, 0.05), 1.0)
        self.cat_capacity = np.array([float(cat.get(x, {}).get("capacity_per_month", BIG)) for x in ids])
        self.launched_at = np.array([month_index(cat[x]["launch"]) - start if x in cat else 10**6 for x in ids])
        self.launched_at[g] = -10**6
        self.owner = np.zeros((len(BUYERS), n), dtype=bool)
        for x in cat:
            if "owner" in cat[x]:
                self.owner[self.bidx[cat[x]["owner"]], self.pidx[x]] = True
        self.perf = np.stack([self.train if t in TRAINING_TIERS else self.infer for t in TIERS])  # (T, P)
        self.compliant_slot = {"Nvidia": self.pidx[COMPLIANT]}
        self.highend = (~self.domestic) & (self.bf16 >= 3.0) & ~self.virtual

    def _build_time(self) -> None:
        p = self.p
        idx = np.array([month_index(m) for m in self.months])
        self.year = idx // 12
        self.month_of_year = idx % 12 + 1
        yrs = (idx - month_index("2025-07")) / 12.0
        self.base_capacity = np.zeros((self.n_months, len(self.product_ids)))
        for i, pid in enumerate(self.product_ids):
            v = VENDORS[self.vendor_of[i]]
            if pid == GREY:
                self.base_capacity[:, i] = p["grey.per_year"] / 12.0
            elif not self.domestic[i]:
                self.base_capacity[:, i] = self.cat_capacity[i]
            elif v != "Huawei":
                c = market.ramp(p[f"capacity.{v}.cards_2025"], p[f"capacity.{v}.growth"], yrs) / 12.0
                self.base_capacity[:, i] = c * p["domestic.capacity_scale"]
        # SMIC wafers for Ascend: linear between yearly averages (placed mid-year), growth after 2026
        anchors_t = np.array([month_index(f"{y}-07") for y in (2023, 2024, 2025, 2026)])
        anchors_v = np.array([0.0, p["huawei.wafers_2024"], p["huawei.wafers_2025"], p["huawei.wafers_2026"]])
        w = np.interp(idx, anchors_t, anchors_v)
        after = idx > anchors_t[-1]
        w[after] = p["huawei.wafers_2026"] * (1 + p["huawei.wafer_growth"]) ** ((idx[after] - anchors_t[-1]) / 12)
        self.wafer_path = w
        tier_share = np.array([p[f"demand.tier_share.{t}"] for t in TIERS])
        tier_share = tier_share / tier_share.sum() if tier_share.sum() > 0 else np.full(len(TIERS), 0.25)
        share = np.array([p[f"buyers.{b}.demand_share"] for b in BUYERS])
        share = share / share.sum() if share.sum() > 0 else np.full(len(BUYERS), 1 / len(BUYERS))
        yrs22 = (idx - month_index("2022-01")) / 12.0
        early = np.minimum(yrs22, 3.5)  # growth to mid-2025, then the later rate
        growth = (1.0 + p["demand.growth_annual"]) ** early * (1.0 + p["demand.growth_after_2025"]) ** (yrs22 - early)
        self.demand_path = p["demand.base_2022"] * growth[:, None, None] * share[None, :, None] * tier_share[None, None, :]
        self.state_linked = np.array([p[f"buyers.{b}.state_linked"] for b in BUYERS])
        self.cuda = np.array([p[f"buyers.{b}.cuda_dependence"] for b in BUYERS])
        self.tier_switch = np.array([p[f"choice.tier_switching.{t}"] for t in TIERS])
        kwh_month = 730.0 * p["energy.utilisation"] / 1000.0
        usd_kwh = p["energy.price_rmb_kwh"] / p["fx.rmb_per_usd"]
        penalty = np.where(self.domestic, p["energy.domestic_penalty"], 1.0)
        self.energy_life = self.power * kwh_month * usd_kwh * p["ageing.lifetime_months"] * penalty
        self.ref_cost = float(self.base_price[self.pidx["a100"]])
        self._beta = p["choice.price_weight"]
        self._perf_term = self._beta * np.log(np.maximum(self.perf, 1e-9))  # (T, P)
        self._switch_t = -p["choice.switching_scale"] * self.tier_switch
        self._risk_w = -p["choice.risk_weight"]
        self._dom_f = self.domestic.astype(float)
        self._origin_p = self.domestic.astype(int)
        self._policy_key = None
        self._clear_buffers()

    def _build_state(self) -> None:
        B, T, P = len(BUYERS), len(TIERS), len(self.product_ids)
        self.policy = PolicyState(B, P)
        self.policy.grey_enforcement = float(self.p["grey.enforcement"])  # baseline; events change it
        self.capacity = np.zeros(P)
        self.last_orders = np.zeros(P)
        self.cum_units = np.zeros(P)
        self.installed = np.zeros((B, P))
        self.stock = np.zeros((B, P))
        self.opened = np.zeros((B, P))
        self.belief = np.zeros(B)
        self.hoard_mult = np.zeros((B, P))
        self.efficiency = np.ones(B)
        self.service = np.ones(B)
        self.backlog = np.zeros((B, T))
        self.inst_aec = np.zeros(B)
        self.target_aec = np.zeros(B)
        self.maturity = np.array([self.p[f"maturity.{v}"] for v in VENDORS])
        self.at_risk = np.zeros(P)
        self.pending: list[tuple[int, np.ndarray]] = []
        self.us_legal = np.ones(P, dtype=bool)
        self._legal_key = None
        self._legal_base = self.us_legal
        self.launched = np.zeros(P, dtype=bool)
        self.price_index = 1.0
        self.ref_cost_per_aec = None
        self.announced_cut = self.announced_ease = False
        self.huawei_made = np.zeros(self.n_months)
        self.dom_delivered = np.zeros(self.n_months)
        self.all_delivered = np.zeros(self.n_months)
        self.events_applied: list[tuple[int, str]] = []
        # the first months of the scenario start from an installed base (two years of 2022 demand)
        self.target_aec[:] = self.demand_path[0].sum(axis=1) * self.p["ageing.lifetime_months"] * 0.4
        self.inst_aec[:] = self.target_aec

    def _build_events(self) -> None:
        self.events_due: dict[tuple[str, int], list] = {}
        self.announce_at: dict[int, list] = {}
        start = month_index(self.scenario.header.start)
        for ev in self.scenario.events:
            te = max(month_index(ev.effective) - start, 0)
            ta = month_index(ev.announced) - start
            self.events_due.setdefault((ev.actor, te), []).append(ev)
            if ta >= 0 or te > 0:  # news from before the start is not news at the start
                self.announce_at.setdefault(max(ta, 0), []).append((te, ev, ta >= 0))

    def _build_agents(self) -> None:
        for i, v in enumerate(VENDORS):
            cls = Huawei if v == "Huawei" else ForeignVendor if v in FOREIGN_VENDORS else ChipVendor
            cls(self, v, i)
        for i, b in enumerate(BUYERS):
            Buyer(self, b, i)
        USRegulator(self)
        ChinaRegulator(self)
        self.regulators = AgentSet([a for a in self.agents if isinstance(a, (USRegulator, ChinaRegulator))],
                                   random=self.random)
        self.vendors = AgentSet([a for a in self.agents if isinstance(a, ChipVendor)], random=self.random)
        self.buyers = self.agents_by_type[Buyer]

    def _build_records(self) -> None:
        n, B, T, P = self.n_months, len(BUYERS), len(TIERS), len(self.product_ids)
        self.rec_units = np.zeros((n, P))  # legal deliveries per product (hoard included)
        self.rec_revenue = np.zeros((n, P))
        self.rec_levy = np.zeros((n, P))
        self.rec_installed = np.zeros((n, P))
        self.rec_buyer = np.zeros((n, B, 6))
        self.rec_tier = np.zeros((n, T, 2))
        self.rec_market = np.zeros((n, 2))
        self.rec_trace = np.zeros((n, B, T, 2, 8)) if self.trace_on else None

    # ------------------------------------------------------------------ the schedule
    def step(self) -> None:
        """One month: the phases of MODEL.md section 3, in this order."""
        if self.t >= self.n_months:
            self.running = False
            return
        self.month = self.months[self.t]
        self.regulate()
        self.offer()
        self.anticipate()
        self.choose()
        self.clear()
        self.update()
        self.record()
        self.t += 1
        self.running = self.t < self.n_months

    # 1. Regulate
    def regulate(self) -> None:
        t = self.t
        self.announced_cut = self.announced_ease = False
        for te, ev, news in self.announce_at.get(t, ()):
            if is_restricting(ev, self.policy, self.pidx):
                self.announced_cut |= news
                if te > t and ev.actor == "US":
                    cut = products_cut_by(self.policy, ev, self.pidx, self.bidx, self.tpp, self.interconnect,
                                          ~self.domestic)
                    self.pending.append((te, cut))
            if is_easing(ev, self.policy, self.pidx):
                self.announced_ease |= news
        self.regulators.do("regulate")
        if self.pending:
            self.pending = [(te, c) for te, c in self.pending if te > t]
            self.at_risk = np.zeros(len(self.product_ids))
            for _, c in self.pending:
                self.at_risk = np.maximum(self.at_risk, c.astype(float))
        elif self.at_risk.any():
            self.at_risk = np.zeros(len(self.product_ids))
        self.launched = self.launched_at <= t
        self._hi_launched = self.highend & self.launched
        key = (self.policy.version, self.launched_at[self.pidx[COMPLIANT]])
        if key != self._legal_key:
            self._legal_base = self.policy.us_legal(self.tpp, self.interconnect, ~self.domestic)
            self._legal_key = key
        legal = self._legal_base.copy()
        for pi, a in self.policy.licence.items():
            if legal[pi] and not self.domestic[pi]:
                legal[pi] = bool(self.rng.random() < a) if a < 1.0 else True
        legal[self.pidx[GREY]] = True
        self.us_legal = legal

    def announce(self, restricting: bool, eased: bool) -> None:
        self.announced_cut |= restricting
        self.announced_ease |= eased

    # 2. Offer
    def offer(self) -> None:
        self.vendors.do("offer")
        self.capacity[self.pidx[GREY]] = self.base_capacity[self.t, self.pidx[GREY]] * (1.0 - self.policy.grey_enforcement)
        self.set_prices()

    def set_prices(self) -> None:
        """Vendors raise prices when last month's orders exceeded capacity (bounded markup)."""
        cap = self.capacity
        ratio = np.divide(self.last_orders, cap, out=np.ones_like(cap), where=cap > 0)
        excess = np.clip(np.minimum(ratio, 2.0) - 1.0, 0.0, 1.0)
        self.price = self.base_price * (1.0 + self.p["vendors.markup_max"] * excess)

    # 3. Anticipate
    def anticipate(self) -> None:
        """Buyers update their belief that foreign supply will be cut, plan hoarding of products at
        risk (and a general pull-forward of foreign purchases), and open part of their stockpile."""
        p = self.p
        self.belief = market.update_belief(self.belief, self.announced_cut, self.announced_ease,
                                           p["anticipation.jump"], p["anticipation.decay"], p["anticipation.easing"])
        s = p["hoarding.strength"] * self.belief
        self.hoard_mult = s[:, None] * (self.at_risk + p["hoarding.general"] * self.foreign_p)[None, :]
        self.opened = self.stock * p["stockpile.open_rate"]

    # 4. Choose
    def _policy_terms(self) -> None:
        """Arrays that change only when a rule changes (cached on the policy's version)."""
        p = self.p
        pol = self.policy
        quota_open = tuple(sorted((pi, pool > 0) for pi, pool in pol.quota_pool.items()))
        key = (pol.version, quota_open)
        if key == self._policy_key:
            return
        self._policy_key = key
        levy = np.zeros(len(self.product_ids))
        for pi, r in pol.levy.items():
            levy[pi] = r
        self.levy_rate = levy
        self._price_factor = 1.0 + p["levy.passthrough"] * levy
        self._energy = self.energy_life * np.where(self.domestic, 1.0 - pol.subsidy_rate(), 1.0)
        guid = pol.guidance
        self.floor = self.state_linked * np.maximum(pol.mandate_floor(), guid) + (1.0 - self.state_linked) * guid
        pressure = np.zeros(len(self.product_ids))
        for v, strength in pol.pressure.items():
            pressure[self.vendor_of == VENDORS.index(v)] = strength
        block = pol.block.copy()
        for pi, pool in pol.quota_pool.items():
            if pool > 0:
                block[list(pol.quota_buyers[pi]), pi] = 0.0
        self.block_eff = block
        self._unblocked = block < 1.0
        self._policy_bp = p["choice.policy_weight"] * (self.floor[:, None] * self.domestic[None, :] - pressure[None, :]
                                                       - p["choice.block_weight"] * block) \
            + p["captive.owner_preference"] * self.owner

    def choose(self) -> None:
        """Each buyer splits the compute it wants, per tier, over the products it may buy (nested
        logit origin -> vendor -> product), then policy floors bound the domestic nest."""
        p = self.p
        self._policy_terms()
        self.price_buyer = self.price * self._price_factor
        price_term = -self._beta * np.log(self.price_buyer + self._energy)  # (P,)
        domfrac = self._installed_domestic_fraction()
        sw_bp = self.cuda[:, None] * (1.0 - self.maturity[self.vendor_of])[None, :] * (
            1.0 - p["choice.experience_weight"] * domfrac[:, None] * self._dom_f[None, :])
        switching = self._switch_t[None, :, None] * sw_bp[:, None, :]  # (B, T, P), <= 0
        risk = self._risk_w * self.belief[:, None] * self.foreign_p[None, :]
        taste = self.rng.normal(0.0, p["choice.taste_sd"], (len(BUYERS), len(VENDORS)))[:, self.vendor_of]
        bp = price_term[None, :] + risk + self._policy_bp + taste
        util = (self._perf_term[None] + switching) + bp[:, None, :]
        avail = self._available()
        self.avail = avail
        _, p_o, within = market.nested_logit(util, avail[:, None, :], self.vendor_of, self.origin_of_vendor,
                                             len(VENDORS), p["choice.nest_vendor"], p["choice.nest_product"])
        floor = self.floor[:, None]
        p_ob = market.bound_origin_shares(p_o, floor, 1.0)
        self.locked_share = np.minimum(p_ob[..., 1], floor)  # (B, T)
        self.probs = within * p_ob[..., self._origin_p]
        self.within = within
        if self.trace_on:
            self._trace(within, price_term, switching, risk, p_o, p_ob)
        # compute wanted this month, less what opened stockpile covers (frontier work first)
        demand = self.demand_path[self.t] * self.price_index ** (-p["demand.price_elasticity"])
        self.demand_now = demand
        need = demand / self.efficiency[:, None] + self.backlog
        cover = market.cover_in_priority(need, self.opened @ self.train)
        self.need = need - cover
        self.cover = cover

    def _trace(self, within, price_term, switching, risk, p_o, p_ob) -> None:
        shape = within.shape
        om = np.stack([~self.domestic, self.domestic], axis=1).astype(float)  # (P, 2)
        terms = (np.broadcast_to(self._perf_term[None], shape), np.broadcast_to(price_term, shape), switching,
                 np.broadcast_to(risk[:, None, :], shape), np.broadcast_to(self._policy_bp[:, None, :], shape))
        tr = self.rec_trace[self.t]
        for k, term in enumerate(terms):
            tr[..., k] = (within * term) @ om
        tr[..., 5] = p_o
        tr[..., 6] = p_ob

    def _installed_domestic_fraction(self) -> np.ndarray:
        c = self.installed * self.bf16[None, :]
        tot = c.sum(axis=1)
        return np.divide(c[:, self.domestic].sum(axis=1), tot, out=np.zeros_like(tot), where=tot > 0)

    def _available(self) -> np.ndarray:
        """(B, P): launched, legal for the US this month, offered, and not blocked by China for the
        buyer (named quota holders may buy a blocked product while the quota lasts). The grey option
        is open to a buyer when some launched H100-class foreign card is closed to it."""
        ok = (self.launched & self.us_legal & (self.capacity > 0))[None, :] & self._unblocked
        g = self.pidx[GREY]
        if self.capacity[g] > 0:
            ok[:, g] = (self._hi_launched[None, :] & ~ok).any(axis=1)
        else:
            ok[:, g] = False
        return ok

    # 5. Clear
    def clear(self) -> None:
        """Orders (plus hoarding, within budget) are allocated under capacity (``market.clear_flat``)."""
        T = len(TIERS)
        B = len(BUYERS)
        orders = (self.need[..., None] * self.probs) * self._inv_perf  # cards (B, T, P)
        per_bp = orders.sum(axis=1)
        hoard = per_bp * self.hoard_mult
        price = self.price_buyer
        base_spend = per_bp @ price
        hoard_spend = hoard @ price
        budget = self._budget_k * self.demand_now.sum(axis=1)
        h_scale = np.clip((budget - base_spend) / np.maximum(hoard_spend, 1e-9), 0.0, 1.0)
        o_scale = np.minimum(1.0, budget / np.maximum(base_spend, 1e-9))
        allo = self._allo
        allo[:, :T] = orders * o_scale[:, None, None]
        allo[:, T] = hoard * h_scale[:, None]
        spill = self._spill_w
        spill[:, :T] = self.within
        locked = self._locked
        locked[:, :T] = self.need * self.locked_share
        P = len(self.product_ids)
        flat, _ = market.clear_flat(allo.reshape(-1, P), self.capacity, self._own_rep, spill.reshape(-1, P),
                                    self._om, self._pf, locked.reshape(-1))
        delivered = flat.reshape(B, T + 1, P)
        self.last_orders = allo.sum(axis=(0, 1))
        self.delivered = delivered
        served = (delivered[:, :T] * self.perf[None]).sum(axis=-1)
        self.served = served
        self.unmet = np.maximum(self.need - served, 0.0)
        for pi in list(self.policy.quota_pool):
            self.policy.quota_pool[pi] = max(self.policy.quota_pool[pi] - delivered[:, :, pi].sum(), 0.0)

    def _clear_buffers(self) -> None:
        B, T, P = len(BUYERS), len(TIERS), len(self.product_ids)
        self._inv_perf = 1.0 / np.maximum(self.perf, 1e-9)
        perf_all = np.concatenate([self.perf, self.bf16[None, :]], axis=0)
        self._pf = np.broadcast_to(np.maximum(perf_all, 1e-9)[None], (B, T + 1, P)).reshape(B * (T + 1), P).copy()
        self._own_rep = np.repeat(self.owner, T + 1, axis=0) if self.owner.any() else None
        self._om = np.stack([~self.domestic, self.domestic], axis=1).astype(float)
        self._allo = np.zeros((B, T + 1, P))
        self._spill_w = np.zeros((B, T + 1, P))  # the hoarding class does not spill
        self._locked = np.zeros((B, T + 1))
        self._budget_k = self.p["demand.budget_headroom"] * self.ref_cost

    # 6. Update
    def update(self) -> None:
        p = self.p
        T = len(TIERS)
        g = self.pidx[GREY]
        life = p["ageing.lifetime_months"]
        d_inst = self.delivered[:, :T].sum(axis=1)
        d_hoard = self.delivered[:, T]
        retired = market.retire(self.installed, life)
        self.installed += d_inst + self.opened - retired
        self.stock += d_hoard - self.opened
        units = self.delivered.sum(axis=(0, 1))
        per_buyer = self.delivered.sum(axis=1)  # (B, P)
        transfer = np.where(self.owner, p["captive.transfer_price"], 1.0)
        revenue = (per_buyer * transfer * self.price_buyer[None, :]).sum(axis=0)
        revenue[g] = 0.0  # smugglers' sales are no vendor's revenue
        self.units = units
        self.cum_units += units
        self.revenue = revenue
        self.levy_paid = revenue * self.levy_rate
        legal_units = units.copy()
        legal_units[g] = 0.0
        installs_v = np.bincount(self.vendor_of, weights=legal_units, minlength=len(VENDORS))
        self.maturity = market.update_maturity(self.maturity, installs_v, p["maturity.learning_rate"])
        opened_aec = (self.opened * self.train[None, :]).sum(axis=1)
        decay = 1.0 - 1.0 / life
        self.inst_aec = self.inst_aec * decay + self.served.sum(axis=1) + opened_aec
        self.target_aec = self.target_aec * decay + self.demand_now.sum(axis=1)
        self.service = np.minimum(1.0, self.inst_aec * self.efficiency / np.maximum(self.target_aec, 1e-9))
        self.efficiency = market.update_efficiency(self.efficiency, self.service, p["efficiency.max"],
                                                   p["efficiency.rate"])
        self.backlog = self.unmet * (1.0 - p["demand.backlog_decay"])  # unmet already holds old backlog
        comp = legal_units * self.bf16
        tot_c = comp.sum()
        cost_per_aec = revenue.sum() / tot_c if tot_c > 0 else None
        if cost_per_aec is not None:
            if self.ref_cost_per_aec is None:
                self.ref_cost_per_aec = cost_per_aec
            self.price_index = cost_per_aec / self.ref_cost_per_aec
        self.dom_delivered[self.t] = comp[self.domestic].sum()
        self.all_delivered[self.t] = tot_c

    # 7. Record
    def record(self) -> None:
        t = self.t
        T = len(TIERS)
        g = self.pidx[GREY]
        self.rec_units[t] = self.units
        self.rec_revenue[t] = self.revenue
        self.rec_levy[t] = self.levy_paid
        self.rec_installed[t] = self.installed.sum(axis=0)
        d = self.delivered[:, :T] * self.perf[None]  # compute delivered (B, T, P)
        dom_c = d[..., self.domestic].sum(axis=-1)
        tot_c = d.sum(axis=-1)
        bt = tot_c.sum(axis=1)
        self.rec_buyer[t, :, 0] = self.demand_now.sum(axis=1)
        self.rec_buyer[t, :, 1] = self.inst_aec
        self.rec_buyer[t, :, 2] = self.unmet.sum(axis=1)
        self.rec_buyer[t, :, 3] = self.stock.sum(axis=1)
        self.rec_buyer[t, :, 4] = np.divide(dom_c.sum(axis=1), bt, out=np.zeros_like(bt), where=bt > 0)
        self.rec_buyer[t, :, 5] = self.service
        tt = tot_c.sum(axis=0)
        self.rec_tier[t, :, 0] = np.divide(dom_c.sum(axis=0), tt, out=np.zeros_like(tt), where=tt > 0)
        self.rec_tier[t, :, 1] = tt
        self.rec_market[t, 0] = 1.0 - self.inst_aec.sum() / max(self.target_aec.sum(), 1e-9)
        self.rec_market[t, 1] = self.price_index
        legal = self.units.copy()
        legal[g] = 0.0
        tot = legal.sum()
        if tot > 0:
            v = np.bincount(self.vendor_of, weights=legal, minlength=len(VENDORS))
            self.nvidia_unit_share = v[0] / tot
            self.huawei_unit_share = v[VENDORS.index("Huawei")] / tot
            self.domestic_unit_share = legal[self.domestic].sum() / tot
        self.total_units = float(tot)
        if self.mesa_collect:
            self.datacollector.collect(self)

    # ------------------------------------------------------------------ helpers for agents
    def best_domestic_train(self) -> float:
        ok = self.domestic & self.launched & (self.capacity > 0)
        return float(self.train[ok].max()) if ok.any() else 0.0

    def domestic_coverage_last_year(self) -> float:
        a, b = max(self.t - 12, 0), self.t
        tot = self.all_delivered[a:b].sum()
        return float(self.dom_delivered[a:b].sum() / tot) if tot > 0 else 0.0

    def launch_compliant(self, vendor: str, slot: int) -> None:
        """A foreign vendor launches a SKU just under the export ceiling (performance scales with TPP)."""
        a100 = self.pidx["a100"]
        tpp = 0.95 * self.policy.tpp_max
        rel = tpp / self.tpp[a100]
        self.tpp[slot], self.bf16[slot] = tpp, rel
        self.train[slot], self.infer[slot] = 0.8 * rel, rel
        self.interconnect[slot] = min(self.policy.interconnect_max * 0.9, 400.0)
        self.power[slot] = self.power[a100]
        self.base_price[slot] = self.price[slot] = self.base_price[a100] * rel
        self.perf[:, slot] = [self.train[slot] if t in TRAINING_TIERS else self.infer[slot] for t in TIERS]
        self._perf_term = self._beta * np.log(np.maximum(self.perf, 1e-9))
        self._clear_buffers()
        self.launched_at[slot] = self.t
        self.base_capacity[self.t:, slot] = BIG
        self.events_applied.append((self.t, f"{vendor.lower()}-compliant-sku"))

    def run(self) -> MarketModel:
        while self.running:
            self.step()
        return self
