"""The agents: chip vendors, buyers (cloud providers and other buyer classes) and the two regulators.

Each agent owns its slice of the model's arrays (its products' columns, its buyer row) across every run
of a batch (the leading run axis) and makes its own decisions each month; the market maths they use
lives in ``sim.model.market`` as pure functions. All randomness comes from each run's own generator,
drawn when the model is built (``MarketModel._build_random``).
"""

from __future__ import annotations

import mesa
import numpy as np

from sim.model import market
from sim.model.calendar import month_index
from sim.model.ids import VENDORS
from sim.model.records import TRACE_TERMS, TRACE_VALUES

# the layout market.trace_store writes
assert TRACE_VALUES == (*TRACE_TERMS, "share_unconstrained", "share") and len(TRACE_TERMS) == 5


class Regulator(mesa.Agent):
    """US (BIS/Commerce) or China (MIIT/NDRC/CAC/SAMR/customs, local governments).

    State: the rules in force (shared ``model.rules``, one row per run). Applies its scenario events on
    their effective month (in the runs that have them) and, when the scenario switches it on, its
    reactive rule.
    """

    actor = ""

    def __init__(self, model):
        super().__init__(model)
        self.fired = np.zeros(model.n_runs, dtype=np.int64)  # times the reactive rule fired, per run

    def regulate(self) -> None:
        m = self.model
        for s, runs in m.due_events(self.actor):
            m.apply_event(s, runs)
        self.react()

    def react(self) -> None:  # pragma: no cover - overridden
        pass

    def _fire(self, runs: np.ndarray, what: str) -> None:
        m = self.model
        self.fired[runs] += 1
        m.rules.version += 1
        for r in runs:
            m.events_applied[r].append((m.t, what))


class USRegulator(Regulator):
    actor = "US"

    def react(self) -> None:
        """Reactive rule: when the best shipping domestic training performance crosses the trigger,
        lower the TPP ceiling by a factor (fires again only after performance rises another 50%)."""
        m = self.model
        on = m.p["us.reactive.enabled"]
        if not on.any():
            return
        best = m.best_domestic_train()
        trigger = m.p["us.reactive.trigger_perf"] * (1.5 ** self.fired)
        runs = np.flatnonzero(on & (best >= trigger))
        if not len(runs):
            return
        rules = m.rules
        top = np.where(~m.domestic[None, :], m.tpp, -np.inf).max(axis=1)[runs] + 1
        cur = np.where(np.isfinite(rules.tpp_max[runs]), rules.tpp_max[runs], top)
        rules.tpp_max[runs] = cur * m.p["us.reactive.ceiling_factor"][runs]
        rules.interconnect_max[runs] = 0.0
        rules.us_tightened[runs] = True
        self._fire(runs, "us-reactive-ceiling")
        m.announce(runs, restricting=True, eased=False)


class ChinaRegulator(Regulator):
    actor = "China"

    def react(self) -> None:
        """Reactive rule: each January, if domestic deliveries covered at least the trigger share of
        the compute delivered over the last 12 months, raise the domestic floor: the mandate on
        state-linked demand first, then (once that is 100%) the purchase guidance for all buyers."""
        m = self.model
        on = m.p["china.reactive.enabled"]
        if not on.any() or m.t < 12 or m.month_of_year[m.t] != 1:
            return
        cov = m.domestic_coverage_last_year()
        runs = np.flatnonzero(on & (cov >= m.p["china.reactive.coverage_trigger"]))
        if not len(runs):
            return
        rules = m.rules
        step = m.p["china.reactive.mandate_step"][runs]
        cur = rules.mandate_floor[runs]
        raise_mandate = cur < 1.0
        rules.mandate_floor[runs] = np.where(raise_mandate, np.maximum(cur, np.minimum(1.0, cur + step)), cur)
        rules.guidance[runs] = np.where(raise_mandate[:, None], rules.guidance[runs],
                                        np.minimum(1.0, rules.guidance[runs] + step[:, None]))
        self._fire(runs, "china-reactive-mandate")


class ChipVendor(mesa.Agent):
    """A chip vendor: what each of its products can sell in China this month (capacity), and its
    ecosystem maturity (``model.maturity[:, vidx]``). Generic domestic vendors follow an exogenous
    capacity ramp; prices respond to last month's orders (``MarketModel.set_prices``)."""

    def __init__(self, model, name: str, vidx: int):
        super().__init__(model)
        self.name = name
        self.vidx = vidx
        self.products = np.flatnonzero(model.vendor_of == vidx)
        self.domestic = bool(model.origin_of_vendor[vidx])

    def offer(self) -> None:
        m = self.model
        cap = m.base_capacity[:, m.t, self.products]
        if self.domestic:  # after the TSMC cut-off, the share of SMIC wafers Huawei leaves (MODEL.md 9.2)
            cap = cap * m.smic_now[:, None]
        m.capacity[:, self.products] = cap

    @property
    def maturity(self) -> np.ndarray:
        return self.model.maturity[:, self.vidx]


class ForeignVendor(ChipVendor):
    """Nvidia or AMD: stops China production of a product China blocks (resumes if the block lifts),
    respects US volume caps and Chinese quotas, and answers a new US export ceiling with a China-specific
    part just under it, ``vendors.compliant_sku_lag`` months after the ceiling takes effect (MODEL.md 9.3).

    The hand-listed China parts of the catalogue (A800, H800, H20, RTX Pro 6000D; MI308) are the vendor's
    answers to the rules before them, so the vendor answers only ceilings that take effect after its last
    China-specific catalogue part was launched, and only if, when the lag is over, none of its China-specific
    parts is allowed by the rules then in force (a part that still complies answers the rule)."""

    def __init__(self, model, name, vidx):
        super().__init__(model, name, vidx)
        R = model.n_runs
        self.halted = np.zeros((R, len(self.products)), dtype=bool)
        self._block_key = None
        self.slots = model.compliant_slots.get(name, [])
        # AMD's parts for China, its China part and its world-market parts, draw on one supply (catalogue
        # ``china_supply``)
        self._china = model.china_supply[self.products] & (name == "AMD")
        self._mid_2024 = month_index("2024-07")
        mine = self.products[model.china_specific[self.products] & ~model.virtual[self.products]]
        # month (from the start) of the last China-specific catalogue part; ceilings after it get an answer
        self.last_china_part = int(model.launched_at[0, mine].max()) if len(mine) else -10**6
        self.seen_tpp = np.full(R, np.inf)   # the ceiling in force last month
        self.seen_link = np.full(R, np.inf)
        self.rule_t = np.full(R, -1)         # month a ceiling still to be answered took effect (-1: none)
        self._waiting = False                # some run has such a ceiling
        self._rules_seen = None              # rules' version of the last check for a new ceiling

    def offer(self) -> None:
        m = self.model
        prods = self.products
        rules = m.rules
        cap = m.base_capacity[:, m.t, prods]   # (a copy: prods is an index array)
        if self._china.any():
            cap = self._china_supply(cap)
        cap = np.minimum(cap, rules.volume_cap[:, prods])
        quota = rules.quota_set[:, prods]
        cap = np.where(quota, np.minimum(cap, rules.quota_pool[:, prods]), cap)
        if self._block_key != rules.version:
            self._block_key = rules.version
            self._blocked = rules.block[:, :, prods].max(axis=1) >= m.p["vendors.halt_on_block"][:, None]
        blocked = self._blocked & ~quota
        # production for China stops while China blocks a product it was selling
        self.halted = blocked & (self.halted | (m.cum_units[:, prods] > 0))
        cap[self.halted] = 0.0
        self._compliant_sku()
        m.capacity[:, prods] = cap

    def _china_supply(self, cap: np.ndarray) -> np.ndarray:
        """AMD's parts for China (the MI308 and the world-market parts) share what AMD can make for China
        (``supply.amd_china_usd_2024`` a year at mid-2024, growing at ``supply.amd_growth``): each of those
        launched and legal this month may sell its equal share of that value, at its price, in cards."""
        m = self.model
        p = m.p
        years = (m._start_index + m.t - self._mid_2024) / 12.0
        money = p["supply.amd_china_usd_2024"] / 12.0 * (1.0 + p["supply.amd_growth"]) ** years   # (R,)
        k = self.products[self._china]
        open_ = m.launched[:, k] & m.us_legal[:, k]
        n = np.maximum(open_.sum(axis=1), 1)
        cards = (money / n)[:, None] / np.maximum(m.base_price[:, k], 1.0)
        out = cap.copy()
        out[:, self._china] = np.where(open_, np.minimum(cap[:, self._china], cards), cap[:, self._china])
        return out

    def _compliant_sku(self) -> None:
        m = self.model
        if not self.slots:
            return
        t, rules = m.t, m.rules
        tpp, link = rules.tpp_max, rules.interconnect_max
        if rules.version != self._rules_seen:   # the ceilings change only with the rules' version
            self._rules_seen = rules.version
            new = (tpp < self.seen_tpp) | (link < self.seen_link)   # a tighter ceiling took effect this month
            self.seen_tpp, self.seen_link = tpp.copy(), link.copy()
            if t > self.last_china_part:
                self.rule_t = np.where(new, t, self.rule_t)
                self._waiting = bool((self.rule_t >= 0).any())
        if not self._waiting:   # no ceiling waits for an answer
            return
        due = (self.rule_t >= 0) & (t - self.rule_t >= m.p["vendors.compliant_sku_lag"])
        if not due.any():
            return
        self.rule_t = np.where(due, -1, self.rule_t)
        self._waiting = bool((self.rule_t >= 0).any())
        mine = self.products[m.china_specific[self.products]]
        refused = rules.licence_set[:, mine] & (rules.licence[:, mine] <= 0.0)
        allowed = (m.launched[:, mine] & m._legal_base[:, mine] & ~refused).any(axis=1)
        worth_it = np.isfinite(tpp) & (tpp >= 0.1 * m.tpp[:, m.pidx["a100"]])
        go = np.flatnonzero(due & ~allowed & worth_it)
        if not len(go):
            return
        free = m.launched_at[np.ix_(go, self.slots)] > t                     # slots not launched yet
        pick = np.where(free.any(axis=1), np.argmax(free, axis=1), len(self.slots) - 1)
        for k, slot in enumerate(self.slots):
            runs = go[pick == k]
            if len(runs):
                m.launch_compliant(self.name, slot, runs)


class Huawei(ChipVendor):
    """Huawei Ascend: capacity built from SMIC wafers x good dies plus the TSMC die bank, capped by HBM
    stacks. Yield is learnt per process node, so a new product on a node starts at the yield the node has
    reached. Wafers follow last month's orders, and the newest launched product gets at least half of
    them (walking the roadmap), reached over ``huawei.transition_months`` after its launch."""

    def __init__(self, model, name, vidx):
        super().__init__(model, name, vidx)
        R = model.n_runs
        p = self.products
        node = model.node_of[p]
        self.node = np.unique(node, return_inverse=True)[1]   # node of each product, 0..N-1
        self.cum_wafers = np.zeros((R, self.node.max() + 1))   # wafers run per node
        # a node's first yield: that of its first product in the catalogue
        self.node_y0 = np.array([model.yield0[p][np.flatnonzero(self.node == k)[0]] for k in range(self.node.max() + 1)])
        self.bank = model.p["huawei.die_bank"].astype(float).copy()
        self.hbm = np.full(R, np.inf)
        self.hbm_cut_seen = np.zeros(R, dtype=bool)
        self.gross, self.dies, self.stacks = model.gross_dies[p], model.dies[p], model.hbm_stacks[p]
        self.y0, self.uses_bank = model.yield0[p], model.uses_die_bank[p]
        self.good_hint = model.good_per_wafer_hint[p]
        model.huawei_made = np.zeros(R)

    def offer(self) -> None:
        m = self.model
        prm = m.p
        prods = self.products
        rules = m.rules
        live = m.launched[:, prods]  # (R, k)
        wafers = m.wafer_path[:, m.t] * (1.0 - rules.smic_tools)
        # the wafers follow last month's orders (launched products only), the newest launched product getting at
        # least half of them, reached over huawei.transition_months after its launch
        w = market.ascend_wafers_runs(wafers, m.last_orders[:, prods], self.dies, self.good_hint, live,
                                      m.launched_at[:, prods], m.t, prm["huawei.transition_months"])
        yld = market.yield_curve(self.node_y0[self.node], prm["huawei.yield_max"][:, None],
                                 self.cum_wafers[:, self.node], prm["huawei.yield_learning_wafers"][:, None])
        yld = np.clip(yld * np.exp(prm["huawei.yield_noise"][:, None] * m.z_yield[:, m.t]), 0.0, 1.0)
        # die bank: TSMC dies for the products that use it (flows freely until the TSMC cut-off)
        use = self.uses_bank[None, :] & live
        n_use = use.sum(axis=1)
        want = prm["huawei.die_bank_draw"]
        self.bank = np.where(~rules.tsmc_cut & (n_use > 0), np.maximum(self.bank, want), self.bank)
        per = np.minimum(want, self.bank) / np.maximum(n_use, 1)
        draw = np.where(use, per[:, None], 0.0)
        # HBM: unlimited until foreign HBM is cut, then the stock plus domestic HBM from 2026, growing at
        # huawei.domestic_hbm_growth a year from January 2026
        first_cut = rules.hbm_cut & ~self.hbm_cut_seen
        self.hbm = np.where(first_cut, prm["huawei.hbm_stock"], self.hbm)
        self.hbm_cut_seen |= first_cut
        if m.year[m.t] >= 2026:
            years = m.year[m.t] - 2026 + (m.month_of_year[m.t] - 1) / 12.0
            flow = prm["huawei.domestic_hbm_2026"] * (1.0 + prm["huawei.domestic_hbm_growth"]) ** years
            self.hbm = np.where(self.hbm_cut_seen, self.hbm + flow, self.hbm)
        # cards from wafers x good dies + bank dies, capped by HBM (market.ascend_capacity), launched products
        # only; the bank and the HBM stock (this month's arrays, from np.where above) give up what was used, in
        # place; wafers run are counted per node
        cards, m.huawei_made, m.hbm_used = market.ascend_output_runs(
            w, self.gross, yld, self.dies, draw, self.stacks, self.hbm, live, self.hbm_cut_seen, self.bank,
            self.cum_wafers, self.node)
        # the wafers Huawei turns into cards: when HBM caps its output it does not take the wafers it cannot
        # use from SMIC's pool, which the other domestic vendors then share (MarketModel.smic_factor)
        per_card = np.where((self.dies >= 1.0) | np.isnan(self.dies), self.dies, 1.0)
        uncapped = ((w * self.gross) * yld + draw) / per_card
        used = np.minimum(np.divide(cards, uncapped, out=np.zeros_like(cards), where=uncapped > 0), 1.0)
        m.huawei_wafers = (w * used).sum(axis=1)
        # nor does it learn yield from them: the kernel counted every wafer split to a node; the unused are taken
        # back (0 where HBM does not bind, so those months are unchanged)
        np.add.at(self.cum_wafers.T, self.node, -(w * (1.0 - used)).T)
        m.capacity[:, prods] = cards


class Buyer(mesa.Agent):
    """A cloud provider or buyer class. Its state is its row of the model's buyer arrays (in every run):
    belief that foreign supply will be cut, hoarding plan, unopened stockpile, installed base, software
    efficiency.

    The buyers' rules are the same for every buyer and depend only on the buyer's own row, so they are
    written as class-level verbs (``Buyer.anticipate``, ``Buyer.choose``, ``Buyer.update``) that apply
    the rule to every buyer of every run in one vectorised call; an instance gives each buyer its
    identity and a readable view of its state.
    """

    def __init__(self, model, name: str, bidx: int):
        super().__init__(model)
        self.name = name
        self.bidx = bidx

    # -- a buyer's view of its own state (one value per run)
    @property
    def belief(self) -> np.ndarray:
        return self.model.belief[:, self.bidx]

    @property
    def efficiency(self) -> np.ndarray:
        return self.model.efficiency[:, self.bidx]

    @property
    def stockpile_units(self) -> np.ndarray:
        return self.model.stock[:, self.bidx].sum(axis=1)

    @property
    def installed_units(self) -> np.ndarray:
        return self.model.installed[:, self.bidx].sum(axis=1)

    # -- the buyers' rules, for all buyers at once
    @staticmethod
    def anticipate(m) -> None:
        """Belief update, hoarding plan of at-risk products (and a general pull-forward of foreign
        products), and the share of the stockpile opened this month."""
        p = m.p
        m.belief = market.update_belief(m.belief, m.announced_cut[:, None], m.announced_ease[:, None],
                                        p["anticipation.jump"][:, None], p["anticipation.decay"][:, None],
                                        p["anticipation.easing"][:, None])
        s = p["hoarding.strength"][:, None] * m.belief  # (R, B)
        risk = m.at_risk
        w = p["anticipation.class_weight"]
        if w.any():  # the class a further US rule would catch: legal foreign parts near the ceiling
            near = ((m.tpp >= p["anticipation.near_ceiling"][:, None] * m.rules.tpp_max[:, None])
                    & m.us_legal & ~m.domestic[None, :] & m.launched).astype(float)
            risk = np.maximum(risk, w[:, None] * near)
        m.hoard_mult = s[:, :, None] * (risk + p["hoarding.general"][:, None] * m.foreign_p[None, :])[:, None, :]
        m.opened = m.stock * p["stockpile.open_rate"][:, None, None]

    @staticmethod
    def choose(m) -> None:
        """Nested logit over the products each buyer may buy, per tier; policy floors bound the domestic
        nest; the compute wanted this month, less what the opened stockpile covers (frontier first)."""
        p = m.p
        m.price_buyer = m.price * m._price_factor
        price_term = -m._beta[:, None] * np.log(m.price_buyer + m._energy)  # (R, P)
        # switching cost per unit of tier scale (CUDA dependence, vendor maturity, the buyer's experience of
        # domestic cards: its installed domestic fraction), the risk of foreign cards, and bp = price + risk +
        # policy + taste (the tier-independent part of the utility), each (R, B, P)
        # and the products each buyer may buy (launched, legal, offered, not blocked for it; grey when closed)
        sw_bp, risk, bp, avail = market.utility_parts_runs(
            m.installed, m.bf16, m._dom_idx, m.cuda, m.maturity, m.vendor_of, p["choice.experience_weight"], m._dom_f,
            m._risk_w, m.belief, m.foreign_p, p["choice.taste_sd"], m.z_taste[:, m.t], price_term, m._policy_bp,
            m.launched & m.us_legal & (m.capacity > 0), m._unblocked, m._hi_launched, m.grey_index)
        m.avail = avail
        # utility (perf + switching) + bp, switching = switching scale x sw_bp (R, B, T, P), <= 0, built per row
        p_o, within = m._buf_p_o, m._buf_within
        market.choice_runs(m._perf_term, m._switch_t, sw_bp, bp, avail, m.vendor_of, m.origin_of_vendor, len(VENDORS),
                           p["choice.nest_vendor"], p["choice.nest_product"], p_o, within)
        demand = m.demand_path[:, m.t] * (m.price_index ** (-p["demand.price_elasticity"]))[:, None, None]
        m.demand_now = demand
        m.demand_b = demand.sum(axis=2)   # (R, B)
        m.opened_aec = (m.opened * m.train[:, None, :]).sum(axis=2)   # compute of the cards opened this month
        m.need, m.cover = market.need_runs(demand, m.efficiency, m.backlog, m.opened_aec)
        m.probs, p_ob, m.locked_share = Buyer._bound(m, p_o, within)
        m.within = within
        if m.records.trace is not None:
            Buyer._trace(m, within, price_term, sw_bp, risk, p_o, p_ob)

    @staticmethod
    def _bound(m, p_o, within):
        """China's domestic floors on the choice. A floor binds the buyer's legal purchase: grey cards are
        outside it when ``grey.floor_exempt``. Per tier (each tier's domestic share >= floor), or, when
        ``china.floor_per_buyer``, over the buyer's whole month (``market.floor_per_buyer``: foreign compute
        moves to domestic cards from the lowest tiers first). Returns the product probabilities (R, B, T, P),
        the origin shares after the floor (R, B, T, 2; grey counted foreign) and the locked domestic share.
        Compiled (``market.bound_runs``); ``Buyer._bound_numpy`` is the same rule in numpy."""
        p = m.p
        return market.bound_runs(p_o, within, m.floor, p["grey.floor_exempt"], p["china.floor_per_buyer"], m.need,
                                 m.domestic, m.grey_index, m._buf_probs)

    @staticmethod
    def _bound_numpy(m, p_o, within):
        """China's domestic floors on the choice. A floor binds the buyer's legal purchase: grey cards are
        outside it when ``grey.floor_exempt``. Per tier (each tier's domestic share >= floor), or, when
        ``china.floor_per_buyer``, over the buyer's whole month (``market.floor_per_buyer``: foreign compute
        moves to domestic cards from the lowest tiers first). Returns the product probabilities (R, B, T, P),
        the origin shares after the floor (R, B, T, 2; grey counted foreign) and the locked domestic share."""
        p = m.p
        floor = m.floor[:, :, None]
        ex = p["grey.floor_exempt"][:, None, None]
        gi = m.grey_index
        wg = np.where(ex, within[..., gi], 0.0)   # grey share of the foreign nest, when exempt
        f_all, d_all = p_o[..., 0], p_o[..., 1]
        g = f_all * wg
        legal_f = f_all - g
        pt = market.bound_origin_shares(np.stack([legal_f, d_all], axis=-1), floor, 1.0)
        f_s, d_s = pt[..., 0], pt[..., 1]
        lock = np.minimum(d_s, np.where(ex, floor * (legal_f + d_all), floor))
        per_buyer = p["china.floor_per_buyer"]
        if per_buyer.any():
            need = m.need
            order = np.arange(need.shape[-1])[::-1]   # low priority, inference, training, frontier training
            fb, db, lb = market.floor_per_buyer(legal_f * need, d_all * need, m.floor, order)
            has = need > 0
            safe = np.where(has, need, 1.0)
            on = per_buyer[:, None, None] & has
            f_s = np.where(on, fb / safe, f_s)
            d_s = np.where(on, db / safe, d_s)
            lock = np.where(on, lb / safe, lock)
        scale_f = np.divide(f_s, 1.0 - wg, out=np.zeros_like(f_s), where=wg < 1.0)
        probs = within * np.where(m.domestic, d_s[..., None], scale_f[..., None])
        probs[..., gi] = np.where(ex, g, within[..., gi] * f_s)
        p_ob = np.stack([f_s + g, d_s], axis=-1)
        return probs, p_ob, lock

    @staticmethod
    def _trace(m, within, price_term, sw_bp, risk, p_o, p_ob) -> None:
        """The decision trace of the month: per buyer, tier and origin nest, each utility term (performance,
        price, switching = switching scale x sw_bp, risk, policy) weighted by the choice within the nest, and
        the origin shares before and after the floors."""
        x = market.trace_terms_runs(within, m._perf_term, price_term, m._switch_t, sw_bp, risk, m._policy_bp)
        # TRACE_VALUES: the terms summed per nest (5, R, B, T, 2), share_unconstrained (p_o), share (p_ob)
        market.trace_store(m.records.trace[:, m.t], x @ m._origin_matrix, p_o, p_ob)

    @staticmethod
    def update(m) -> None:
        """Installed effective compute and wanted compute (ageing with the card life) give the service
        level; buyers short of compute raise software efficiency; unmet compute becomes backlog."""
        p = m.p
        life = p["ageing.lifetime_months"][:, None]
        decay = 1.0 - 1.0 / life
        m.inst_aec = m.inst_aec * decay + m.served.sum(axis=2) + m.opened_aec
        m.target_aec = m.target_aec * decay + m.demand_b
        m.off_aec = m.off_aec * decay + m.offshore_now   # compute served abroad serves the buyer too
        m.service = np.minimum(1.0, (m.inst_aec + m.off_aec) * m.efficiency / np.maximum(m.target_aec, 1e-9))
        m.efficiency = market.update_efficiency(m.efficiency, m.service, p["efficiency.max"][:, None],
                                                p["efficiency.rate"][:, None])
        m.backlog = m.unmet * (1.0 - p["demand.backlog_decay"])[:, None, None]  # unmet already holds old backlog

