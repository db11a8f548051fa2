"""MarketModel: China's AI-accelerator market as a Mesa 3.3 model. One step = one calendar month.

``step()`` is the schedule of MODEL.md section 3 and docs/ODD.md section 3: regulate, offer, anticipate,
choose, clear, update, record. Numbers live in arrays owned by the model with a leading axis of runs
(runs x buyers x tiers x products): one ``step()`` advances every run of a batch, each with its own
seed, parameters and events, and run *i* of a batch gives the numbers it gives alone. Agents own their
slices and decisions; the market maths is in ``sim.model.market``; what the model records is a
``Records`` (``sim.model.records``).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import mesa
import numpy as np
from mesa.agent import AgentSet

from sim.model import market
from sim.model.agents import Buyer, ChinaRegulator, ChipVendor, ForeignVendor, Huawei, USRegulator
from sim.model.calendar import month_index
from sim.model.ids import BUYERS, FOREIGN_VENDORS, TIERS, TRAINING_TIERS, VENDORS
from sim.model.params import PARAMS, load_catalogue
from sim.model.records import Records
from sim.model.rules import ProductTraits, RuleState, Scheduled, products_cut_by
from sim.model.scenario import Scenario, load_scenario
from sim.model.seeds import derive_seed

# utility taken off a card that does not fit a tier (tiers.min_train_perf): e^-20 ~ 2e-9, an exclusion that
# still leaves an order of choice among unfitting cards when nothing fitting may be bought
UNFIT_UTILITY = 20.0

BIG = 1e9  # capacity that never binds (cards/month)
GREY = "nvidia_grey"
COMPLIANT = "nvidia_compliant"
# columns for the China-specific parts a foreign vendor launches under a new US ceiling (MODEL.md 9.3): two
# generations per vendor; a third ceiling re-specifies the second (see ForeignVendor._compliant_sku)
COMPLIANT_SLOTS = {"Nvidia": (COMPLIANT, "nvidia_compliant_2"), "AMD": ("amd_compliant", "amd_compliant_2")}
SLOT_VENDOR = {x: v for v, xs in COMPLIANT_SLOTS.items() for x in xs}


class MarketModel(mesa.Model):
    """Agent-based model of cloud providers, chip vendors and regulators.

    Args:
        scenario: a Scenario, or a scenario name / path (default ``history``).
        seed: the run's seed (an int). Default: replicate 0 of the scenario's master seed.
        trace: keep the decision trace (utility terms behind each buyer's split).
        mesa_collect: feed ``self.datacollector`` every month (for ``mesa.batch_run`` and Mesa tools);
            ChipShift's own engine reads ``self.records`` and switches this off.
        runs: a batch instead of one run: ``[(scenario, seed), ...]``. Every run keeps its own random
            generator (``numpy.random.default_rng(seed)``), parameters and events; all runs share the
            horizon. ``scenario``, ``seed`` and ``overrides`` are then ignored.
        details: optional record blocks (``deliveries``, ``buyer_product``; ``trace`` via ``trace``).
        **overrides: dotted parameter overrides, e.g. ``**{"hoarding.strength": 0.5}``; this is what
            ``mesa.batch_run`` passes.
    """

    def __init__(self, scenario: Scenario | str | Path = "history", seed: int | None = None, trace: bool = False,
                 mesa_collect: bool = True, runs: Sequence[tuple[Scenario, int]] | None = None,
                 details: Sequence[str] = ("deliveries",), **overrides: Any):
        if runs is None:
            if not isinstance(scenario, Scenario):
                scenario = load_scenario(scenario)
            if overrides:
                scenario = scenario.with_changes(parameters=overrides)
            if seed is None:
                seed = derive_seed(scenario.header.seed, 0)
            runs = [(scenario, int(seed))]
        if not runs:
            raise ValueError("a batch needs at least one run")
        scenarios = [sc for sc, _ in runs]
        seeds = [int(s) for _, s in runs]
        months = scenarios[0].months
        for sc in scenarios[1:]:
            if sc.header.start != scenarios[0].header.start or sc.header.end != scenarios[0].header.end:
                raise ValueError("runs of one batch must share the horizon (start and end months)")
        super().__init__(seed=seeds[0])
        self.scenarios = scenarios
        self.scenario = scenarios[0]
        self.seeds = np.array(seeds, dtype=np.int64)
        self.seed_value = seeds[0]
        self.n_runs = len(seeds)
        self.trace_on = trace
        self.mesa_collect = mesa_collect
        self.details = frozenset(details) | ({"trace"} if trace else set())
        self.months = months
        self.n_months = len(months)
        self.t = 0
        self._build_parameters()
        self._build_products()
        self._build_time()
        self._build_state()
        self._build_events()
        self._build_random()
        self._build_agents()
        self.records = Records.empty(months, self.seeds, self.product_ids, self.vendor_of, self.domestic,
                                     self.pidx[GREY], len(BUYERS), len(TIERS), self.details)
        self.datacollector = mesa.DataCollector(model_reporters={
            "month": "month", "Nvidia_unit_share": "nvidia_unit_share", "Huawei_unit_share": "huawei_unit_share",
            "Domestic_unit_share": "domestic_unit_share", "Total_units": "total_units",
        })
        self.month = self.months[0]
        self.running = True

    @classmethod
    def batch(cls, scenarios: Sequence[Scenario], seeds: Sequence[int], trace: bool = False,
              details: Sequence[str] = ("deliveries",)) -> MarketModel:
        """A model stepping ``len(seeds)`` runs together (scenario i with seed i)."""
        return cls(runs=list(zip(scenarios, seeds)), trace=trace, mesa_collect=False, details=details)

    # ------------------------------------------------------------------ construction
    def _build_parameters(self) -> None:
        """``self.p[name]``: the parameter's value in every run, an (R,) array."""
        uniq: dict[int, int] = {}
        which = np.empty(self.n_runs, dtype=np.int64)
        distinct: list[Scenario] = []
        first: list[int] = []
        for r, sc in enumerate(self.scenarios):
            k = uniq.setdefault(id(sc), len(distinct))
            if k == len(distinct):
                distinct.append(sc)
                first.append(r)
            which[r] = k
        self._which = which   # run -> its distinct scenario; _rep: the first run of each
        self._rep = np.array(first, dtype=np.int64)
        self.p: dict[str, np.ndarray] = {}
        for n, prm in PARAMS.items():
            vals = np.array([sc.parameters.get(n, prm.default) for sc in distinct],
                            dtype=bool if prm.kind == "bool" else float)
            self.p[n] = vals[which]

    def _build_products(self) -> None:
        cat = load_catalogue()
        p = self.p
        R = self.n_runs
        ids = list(cat) + [GREY] + list(SLOT_VENDOR)
        self.product_ids = ids
        self.pidx = {x: i for i, x in enumerate(ids)}
        self.grey_index = self.pidx[GREY]
        self.bidx = {x: i for i, x in enumerate(BUYERS)}
        n = len(ids)
        vix = {v: i for i, v in enumerate(VENDORS)}
        self.origin_of_vendor = np.array([0 if v in FOREIGN_VENDORS else 1 for v in VENDORS])
        start = month_index(self.scenario.header.start)

        def f(pid, key, default=0.0):  # (R,) per-run value of a product field
            if pid == GREY:
                return np.full(R, default)
            if pid in SLOT_VENDOR:  # placeholder until launched (see launch_compliant)
                pid = "a100"
            k = f"products.{pid}.{key}"
            return p[k] if k in p else np.full(R, float(cat[pid].get(key, default)))

        def col(key, default=0.0):  # (R, P)
            return np.stack([f(x, key, default) for x in ids], axis=1)

        h100 = "h100"
        self.vendor_of = np.array([vix[cat[x]["vendor"] if x in cat else SLOT_VENDOR.get(x, "Nvidia")] for x in ids])
        self.domestic = self.origin_of_vendor[self.vendor_of].astype(bool)
        self.foreign_p = (~self.domestic).astype(float)
        self.virtual = np.array([x == GREY or x in SLOT_VENDOR for x in ids])
        # parts made for China under US rules (catalogue ``china_specific``); the compliant parts are
        self.china_specific = np.array([bool(cat[x].get("china_specific", False)) if x in cat else x in SLOT_VENDOR
                                        for x in ids])
        self.train, self.infer, self.bf16 = col("train"), col("infer"), col("bf16")
        self.tpp, self.interconnect, self.power = col("tpp"), col("interconnect_gbs"), col("power_w")
        price = col("price_usd")
        # a domestic product without a sourced price path sells at its unit cost times the markup; one with a
        # path follows the prices paid (its catalogue price is the path's first point)
        self.has_path = np.array([bool(cat.get(x, {}).get("price_path")) for x in ids])
        price = np.where(self.domestic & ~self.has_path, price * p["domestic.price_markup"][:, None], price)
        # grey market: H100-class cards at a premium
        g = self.pidx[GREY]
        for arr, key in ((self.train, "train"), (self.infer, "infer"), (self.bf16, "bf16"), (self.tpp, "tpp"),
                         (self.interconnect, "interconnect_gbs"), (self.power, "power_w")):
            arr[:, g] = f(h100, key)
        price[:, g] = f(h100, "price_usd") * (1.0 + p["grey.premium"])
        self.list_price = price  # (R, P) catalogue price (domestic without a path: x markup); a path scales it by month
        self.base_price = price.copy()
        self.price = price.copy()
        # price paths (catalogue ``price_path``): (month from the start, factor on the catalogue price) points
        self._path_points: dict[int, tuple[np.ndarray, np.ndarray]] = {}
        for i, x in enumerate(ids):
            pts = cat.get(x, {}).get("price_path")
            if pts:
                self._path_points[i] = (np.array([month_index(m) - start for m, _ in pts], dtype=float),
                                        np.array([float(u) for _, u in pts]) / float(cat[x]["price_usd"]))
        self.slot_launch_price = np.zeros((R, n))  # price of a compliant part at its launch
        self.dies = np.array([float(cat.get(x, {}).get("dies", 1.0)) for x in ids])
        self.hbm_stacks = np.array([float(cat.get(x, {}).get("hbm_stacks", 0.0)) for x in ids])
        self.gross_dies = np.array([float(cat.get(x, {}).get("gross_dies_per_wafer", 0.0)) for x in ids])
        self.yield0 = np.array([float(cat.get(x, {}).get("yield0", 0.0)) for x in ids])
        self.uses_die_bank = np.array([bool(cat.get(x, {}).get("die_bank", False)) for x in ids])
        self.china_supply = np.array([bool(cat.get(x, {}).get("china_supply", False)) for x in ids])
        nodes = [cat.get(x, {}).get("node", x) for x in ids]   # a product without a node has its own
        names = list(dict.fromkeys(nodes))
        self.node_of = np.array([names.index(x) for x in nodes])
        self.good_per_wafer_hint = np.maximum(self.gross_dies * np.maximum(self.yield0, 0.05), 1.0)
        self.cat_capacity = np.array([float(cat.get(x, {}).get("capacity_per_month", BIG)) for x in ids])
        launched_at = np.array([month_index(cat[x]["launch"]) - start if x in cat else 10**6 for x in ids])
        launched_at[g] = -10**6
        self.launched_at = np.tile(launched_at, (R, 1))
        self.owner = np.zeros((len(BUYERS), n), dtype=bool)
        for x in cat:
            if "owner" in cat[x]:
                self.owner[self.bidx[cat[x]["owner"]], self.pidx[x]] = True
        self._mv = np.zeros((n, len(VENDORS)))  # product -> vendor membership
        self._mv[np.arange(n), self.vendor_of] = 1.0
        self._own_rep = np.repeat(self.owner, len(TIERS) + 1, axis=0)  # owner per (buyer, order class) row
        self.is_training_tier = np.array([t in TRAINING_TIERS for t in TIERS])
        self.compliant_slots = {v: [self.pidx[x] for x in xs] for v, xs in COMPLIANT_SLOTS.items()}
        self.highend = (~self.domestic) & (self.bf16 >= 3.0) & ~self.virtual  # (R, P)
        self._legal_foreign = (~self.domestic) & np.array([x != GREY for x in ids])  # (P,) floors bind these
        self._dom_idx = np.flatnonzero(self.domestic)
        # price paid per card over the price charged: the captive transfer price on the owner's own cards
        self._transfer = np.where(self.owner[None], self.p["captive.transfer_price"][:, None, None], 1.0)  # (R, B, P)
        self._origin_matrix = np.stack([~self.domestic, self.domestic], axis=1).astype(float)  # (P, 2) product -> nest

    def _build_time(self) -> None:
        p = self.p
        R, n, P = self.n_runs, self.n_months, len(self.product_ids)
        idx = np.array([month_index(m) for m in self.months])
        self.year = idx // 12
        self.month_of_year = idx % 12 + 1
        yrs = (idx - month_index("2025-07")) / 12.0
        self.base_capacity = np.zeros((R, n, P))
        for i, pid in enumerate(self.product_ids):
            v = VENDORS[self.vendor_of[i]]
            if pid == GREY:
                self.base_capacity[:, :, i] = (p["grey.per_year"] / 12.0)[:, None]
            elif not self.domestic[i]:
                self.base_capacity[:, :, i] = self.cat_capacity[i]
            elif v != "Huawei":
                c = market.ramp(p[f"capacity.{v}.cards_2025"][:, None], p[f"capacity.{v}.growth"][:, None],
                                yrs[None, :]) / 12.0
                self.base_capacity[:, :, i] = c * p["domestic.capacity_scale"][:, None]
        # SMIC wafers for Ascend: linear between yearly averages (placed mid-year), growth after 2026
        anchors_t = np.array([month_index(f"{y}-07") for y in (2023, 2024, 2025, 2026)])
        after = idx > anchors_t[-1]
        paths = np.zeros((len(self._rep), n))   # once per distinct scenario (runs of one have its parameters)
        for k, r in enumerate(self._rep):
            anchors_v = np.array([0.0, p["huawei.wafers_2024"][r], p["huawei.wafers_2025"][r],
                                  p["huawei.wafers_2026"][r]])
            w = np.interp(idx, anchors_t, anchors_v)
            w[after] = anchors_v[-1] * (1 + p["huawei.wafer_growth"][r]) ** ((idx[after] - anchors_t[-1]) / 12)
            paths[k] = w
        self.wafer_path = paths[self._which]
        self._smic_paths(idx)
        tier_share = np.stack([p[f"demand.tier_share.{t}"] for t in TIERS], axis=1)  # (R, T)
        ts = tier_share.sum(axis=1, keepdims=True)
        tier_share = np.where(ts > 0, tier_share / np.where(ts > 0, ts, 1.0), 0.25)
        share = np.stack([p[f"buyers.{b}.demand_share"] for b in BUYERS], axis=1)  # (R, B)
        ss = share.sum(axis=1, keepdims=True)
        share = np.where(ss > 0, share / np.where(ss > 0, ss, 1.0), 1 / len(BUYERS))
        yrs22 = (idx - month_index("2022-01")) / 12.0
        # three growth regimes: before the generative-AI step (from 2022-01, extrapolated back before it),
        # from the step to mid-2025, then the later rate
        onset = p["demand.genai_onset"][:, None] / 12.0        # (R, 1) years after 2022-01
        pre = np.minimum(yrs22[None, :], onset)
        early = np.clip(yrs22[None, :] - onset, 0.0, np.maximum(3.5 - onset, 0.0))
        late = yrs22[None, :] - pre - early
        growth = ((1.0 + p["demand.growth_2022"][:, None]) ** pre
                  * (1.0 + p["demand.growth_annual"][:, None]) ** early
                  * (1.0 + p["demand.growth_after_2025"][:, None]) ** late)  # (R, n)
        self.demand_path = (p["demand.base_2022"][:, None, None, None] * growth[:, :, None, None]
                            * share[:, None, :, None] * tier_share[:, None, None, :])  # (R, n, B, T)
        self._dem_sum = self.demand_path.sum(axis=3)   # (R, n, B) compute wanted per buyer and month
        self._dem_cum = np.concatenate([np.zeros((R, 1, len(BUYERS))), np.cumsum(self._dem_sum, axis=1)],
                                       axis=1)  # (R, n+1, B)
        self.state_linked = np.stack([p[f"buyers.{b}.state_linked"] for b in BUYERS], axis=1)
        self.cuda = np.stack([p[f"buyers.{b}.cuda_dependence"] for b in BUYERS], axis=1)
        self.tier_switch = np.stack([p[f"choice.tier_switching.{t}"] for t in TIERS], axis=1)  # (R, T)
        self._min_train = np.stack([p[f"tiers.min_train_perf.{t}"] if t in TRAINING_TIERS else np.zeros(self.n_runs)
                                    for t in TIERS], axis=1)  # (R, T)
        self._min_link = np.stack([p[f"tiers.min_interconnect.{t}"] if t in TRAINING_TIERS else np.zeros(self.n_runs)
                                   for t in TIERS], axis=1)  # (R, T)
        kwh_month = 730.0 * p["energy.utilisation"] / 1000.0
        usd_kwh = p["energy.price_rmb_kwh"] / p["fx.rmb_per_usd"]
        penalty = np.where(self.domestic[None, :], p["energy.domestic_penalty"][:, None], 1.0)
        self.energy_life = self.power * (kwh_month * usd_kwh * p["ageing.lifetime_months"])[:, None] * penalty
        self._build_price_paths(idx - month_index(self.scenario.header.start))
        self.base_price = self.list_price * self.price_factor[:, 0]
        self.price = self.base_price.copy()
        self.ref_cost = self.base_price[:, self.pidx["a100"]].copy()  # (R,)
        self._beta = p["choice.price_weight"]
        self._switch_t = -p["choice.switching_scale"][:, None] * self.tier_switch  # (R, T)
        self._risk_w = -p["choice.risk_weight"]
        self._dom_f = self.domestic.astype(float)
        self._origin_p = self.domestic.astype(np.int64)
        self._policy_key = None
        self._performance_changed()

    def _smic_paths(self, idx: np.ndarray) -> None:
        """SMIC's advanced-node wafers for AI chips (linear between mid-year points, then a growth rate),
        Huawei's wafers served first; what is left, in cards, and the non-Huawei domestic vendors' planned
        output (their ramps) that it must cover once TSMC is cut off."""
        p = self.p
        t_pts = np.array([month_index(f"{y}-07") for y in (2025, 2026, 2027)])  # flat before mid-2025
        wpm = np.stack([p[f"smic.advanced_wpm_{y}"] for y in (2025, 2026, 2027)], axis=1)  # (R, 3)
        pool = np.stack([np.interp(idx, t_pts, wpm[r]) for r in self._rep])[self._which]   # per distinct scenario
        late = idx > t_pts[-1]
        pool[:, late] = wpm[:, -1:] * (1.0 + p["smic.growth_after_2027"][:, None]) ** ((idx[late] - t_pts[-1]) / 12)
        self.smic_ai_wafers = pool * p["smic.ai_share"][:, None]  # (R, n)
        others = self.domestic & (self.vendor_of != VENDORS.index("Huawei"))
        self._smic_others = np.flatnonzero(others)
        self._smic_planned = self.base_capacity[:, :, others].sum(axis=2)  # (R, n) cards/month

    def smic_factor(self) -> np.ndarray:
        """(R,) share of their planned output the non-Huawei domestic vendors can make this month: 1 before
        the TSMC cut-off or with the pool off; after it, the cards that SMIC's AI wafers left after the wafers
        Huawei turned into cards this month (``Huawei.offer``, which runs first) can make, over the cards
        planned."""
        t, rules, p = self.t, self.rules, self.p
        tools = 1.0 - rules.smic_tools
        left = np.maximum(self.smic_ai_wafers[:, t] * tools - self.huawei_wafers, 0.0)   # after Huawei's use
        cpw = p["smic.cards_per_wafer_other"]
        planned = self._smic_planned[:, t]
        f = np.minimum(1.0, left * cpw / np.maximum(planned, 1e-9))
        on = p["supply.smic_pool"] & rules.tsmc_cut
        self.smic_others_wafers = np.where(on, np.minimum(left, planned / cpw), 0.0)   # pool use, recorded
        return np.where(on, f, 1.0)

    def _build_price_paths(self, tm: np.ndarray) -> None:
        """``price_factor`` (R, months, P): the catalogue price times this factor is a product's price that
        month. Flat at the first sourced point before it, log-linear between points, falling by
        ``prices.decline_annual`` a year after the last (MODEL.md 9.3); 1 for a product without a path."""
        R, P = self.n_runs, len(self.product_ids)
        self.price_factor = np.ones((R, len(tm), P))
        d = self.p["prices.decline_annual"]  # (R,)
        for i, (mt, f) in self._path_points.items():
            inside = np.exp(np.interp(tm, mt, np.log(f)))  # flat outside the points
            after = np.maximum(tm - mt[-1], 0.0) / 12.0
            self.price_factor[:, :, i] = inside[None, :] * (1.0 - d[:, None]) ** after[None, :]

    def move_prices(self) -> None:
        """This month's catalogue prices: products with a price path follow it; a launched compliant part
        falls from its launch price at the same annual rate."""
        t = self.t
        if self.has_path.any():
            self.base_price[:, self.has_path] = (self.list_price[:, self.has_path]
                                                 * self.price_factor[:, t, self.has_path])
        slots = np.flatnonzero(self.virtual & self.china_specific)
        on = self.launched_at[:, slots] <= t
        if on.any():
            age = np.maximum(t - self.launched_at[:, slots], 0) / 12.0
            d = self.p["prices.decline_annual"][:, None]
            self.base_price[:, slots] = np.where(on, self.slot_launch_price[:, slots] * (1.0 - d) ** age,
                                                 self.base_price[:, slots])

    def _performance_changed(self) -> None:
        """Arrays derived from product performance (recomputed when a compliant SKU launches)."""
        R, T, P, B = self.n_runs, len(TIERS), len(self.product_ids), len(BUYERS)
        self.perf = np.where(self.is_training_tier[None, :, None], self.train[:, None, :], self.infer[:, None, :])
        self._perf_term = self._beta[:, None, None] * np.log(np.maximum(self.perf, 1e-9))  # (R, T, P)
        # a card below a training tier's least useful performance is left out of that tier's choice: a
        # utility so low that it is chosen only when no fitting card may be bought (tiers.min_train_perf)
        unfit = (self.train[:, None, :] < self._min_train[:, :, None]) | (self.interconnect[:, None, :]
                                                                         < self._min_link[:, :, None])
        self._fit = None
        if unfit.any():
            self._perf_term = np.where(unfit, self._perf_term - UNFIT_UTILITY, self._perf_term)
            self._fit = (~unfit).astype(float)  # (R, T, P): unserved compute spills only to cards that fit
        self._fit_all = np.ones((R, T, P)) if self._fit is None else self._fit   # x 1 is exact
        self._inv_perf = 1.0 / np.maximum(self.perf, 1e-9)
        perf_all = np.concatenate([self.perf, self.bf16[:, None, :]], axis=1)  # (R, T+1, P)
        self._pf = np.ascontiguousarray(np.broadcast_to(np.maximum(perf_all, 1e-9)[:, None], (R, B, T + 1, P))
                                        .reshape(R, B * (T + 1), P))

    def _build_state(self) -> None:
        R, B, T, P = self.n_runs, len(BUYERS), len(TIERS), len(self.product_ids)
        self.rules = RuleState(R, B, P, self.pidx, self.bidx)
        self.rules.traits = ProductTraits(list(self.product_ids), np.array([VENDORS[v] for v in self.vendor_of]),
                                          self.domestic.copy(), self.china_specific, self.tpp, self.interconnect,
                                          np.array([x == GREY for x in self.product_ids]))
        # smuggling: the baseline enforcement (grey.enforcement) on top of each side's event level
        self._grey_base = 1.0 - self.p["grey.enforcement"]
        self.shortage = np.zeros(R)  # share of wanted compute left unmet last month (market)
        self.grey_factor = np.ones(R)  # smuggled volume x its reference (grey.responsive)
        self.offshore_share = np.stack([self.p[f"buyers.{b}.offshore_share"] for b in BUYERS], axis=1) \
            * self.p["offshore.enabled"][:, None]  # (R, B)
        self.offshore_now = np.zeros((R, B))  # compute served abroad this month (A100-equivalents)
        self.offshore_usd = np.zeros((R, B))
        self.off_aec = np.zeros((R, B))  # effective compute served abroad, ageing like installed compute
        self.capacity = np.zeros((R, P))
        self.huawei_wafers = np.zeros(R)        # SMIC wafers Huawei turned into cards this month
        self.smic_others_wafers = np.zeros(R)   # SMIC wafers the other domestic vendors' output needs
        self.hbm_used = np.zeros(R)             # HBM stacks drawn from the pool this month
        self.last_orders = np.zeros((R, P))
        self.cum_units = np.zeros((R, P))
        self.installed = np.zeros((R, B, P))
        self.stock = np.zeros((R, B, P))
        self.opened = np.zeros((R, B, P))
        self.belief = np.zeros((R, B))
        self.hoard_mult = np.zeros((R, B, P))
        self.efficiency = np.ones((R, B))
        self.service = np.ones((R, B))
        self.backlog = np.zeros((R, B, T))
        self.inst_aec = np.zeros((R, B))
        self.target_aec = np.zeros((R, B))
        self.maturity = np.stack([self.p[f"maturity.{v}"] for v in VENDORS], axis=1)  # (R, V)
        self.at_risk = np.zeros((R, P))
        self.pending: list[tuple[int, np.ndarray]] = []  # (effective month, products at risk (R, P))
        self._start_index = month_index(self.scenario.header.start)
        self.capex_left = np.zeros((R, B))  # capex budget left in the current window (demand.capex_window_months)
        self.event_direction: dict[str, np.ndarray] = {}  # event id -> (R,) +1 tightens, -1 eases, 0 (read at announcement)
        self.us_legal = np.ones((R, P), dtype=bool)
        self._legal_key = None
        self.launched = np.zeros((R, P), dtype=bool)
        self.price_index = np.ones(R)
        self.ref_cost_per_aec = np.full(R, np.nan)
        self.announced_cut = np.zeros(R, dtype=bool)
        self.announced_ease = np.zeros(R, dtype=bool)
        self.dom_delivered = np.zeros((R, self.n_months))
        # the month's large arrays, reused from month to month (each is rewritten in full every month before
        # it is read): the choice within the origin nests, the product probabilities, the orders (tiers and
        # buying ahead), the deliveries and the compute delivered
        self._buf_p_o = np.zeros((R, B, T, 2))
        self._buf_within = np.zeros((R, B, T, P))
        self._buf_probs = np.zeros((R, B, T, P))
        self._buf_allo = np.zeros((R, B, T + 1, P))
        self._buf_delivered = np.zeros((R, B, T + 1, P))
        self._buf_dcomp = np.zeros((R, B, T, P))
        self._no_first = np.zeros((0, B, T + 1))   # no smuggled cards filled first (settle_runs)
        self.all_delivered = np.zeros((R, self.n_months))
        self.events_applied: list[list[tuple[int, str]]] = [[] for _ in range(R)]
        # the first months of the scenario start from an installed base (two years of 2022 demand)
        self.target_aec[:] = self.demand_path[:, 0].sum(axis=2) * self.p["ageing.lifetime_months"][:, None] * 0.4
        self.inst_aec[:] = self.target_aec

    def _build_events(self) -> None:
        """Every run's events, grouped: an event that is the same in several runs (same content, same
        months) is applied once to all of them. ``events_due[t]``: what regulators apply in month t, in
        the order of the scenario (US first, then by effective month and id); ``announce_at[t]``: the
        announcements buyers hear in month t."""
        start = month_index(self.scenario.header.start)
        groups: dict[tuple, list[int]] = {}
        objs: dict[tuple, Any] = {}
        keys: dict[int, tuple] = {}   # an event object's content, dumped once (runs share scenario objects)
        for r, sc in enumerate(self.scenarios):
            for ev in sc.events:
                key = keys.get(id(ev))
                if key is None:
                    key = keys[id(ev)] = (ev.model_dump_json(),)
                groups.setdefault(key, []).append(r)
                objs[key] = ev
        self.events_due: dict[int, list[Scheduled]] = {}
        self._responses_waiting: list[tuple[Scheduled, np.ndarray]] = []   # China's responses awaiting a US rule
        self.announce_at: dict[int, list[Scheduled]] = {}
        for key, rs in groups.items():
            ev = objs[key]
            te = max(month_index(ev.effective) - start, 0)
            ta = month_index(ev.announced) - start
            s = Scheduled(ev, te, max(ta, 0), ta >= 0, np.array(rs, dtype=np.int64))
            self.events_due.setdefault(te, []).append(s)
            if ta >= 0 or te > 0:  # news from before the start is not news at the start
                self.announce_at.setdefault(s.t_announce, []).append(s)
        for lst in self.events_due.values():
            lst.sort(key=lambda s: s.order)

    def _build_random(self) -> None:
        """Each run's draws for the whole horizon, from its own generator in a fixed order: taste shocks
        (months x buyers x vendors), licence draws (months x products), yield noise (months x Ascend
        products). A run's numbers therefore never depend on the other runs of its batch."""
        R, n, B, V, P = self.n_runs, self.n_months, len(BUYERS), len(VENDORS), len(self.product_ids)
        k = int((self.vendor_of == VENDORS.index("Huawei")).sum())
        self.z_taste = np.empty((R, n, B, V))
        self.u_licence = np.empty((R, n, P))
        self.z_yield = np.empty((R, n, k))
        for r, s in enumerate(self.seeds):
            g = self.rng if self.n_runs == 1 else np.random.default_rng(int(s))
            self.z_taste[r] = g.standard_normal((n, B, V))
            self.u_licence[r] = g.random((n, P))
            self.z_yield[r] = g.standard_normal((n, k))

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
        self._huawei = next(a for a in self.vendors if isinstance(a, Huawei))
        self._other_vendors = [a for a in self.vendors if a is not self._huawei]
        # the other domestic vendors' cards that carry HBM stacks share China's HBM pool after Huawei
        hua = VENDORS.index("Huawei")
        self._hbm_others = np.flatnonzero(self.domestic & (self.vendor_of != hua) & (self.hbm_stacks > 0))

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
        rules = self.rules
        self.announced_cut[:] = False
        self.announced_ease[:] = False
        foreign = ~self.domestic
        for s in self.announce_at.get(t, ()):
            r = s.runs
            restr = s.event.restricts(rules)[r]
            self.announced_cut[r] |= restr & s.news
            if s.t > t and s.event.actor == "US" and restr.any():
                cut = np.zeros((self.n_runs, len(self.product_ids)), dtype=bool)
                rr = r[restr]
                cut[rr] = products_cut_by(rules, s.event, self.tpp, self.interconnect, foreign)[rr]
                self.pending.append((s.t, cut))
            eases = s.event.eases(rules)[r]
            self.announced_ease[r] |= eases & s.news
            d = self.event_direction.setdefault(s.event.id, np.zeros(self.n_runs, dtype=np.int8))
            d[r] = np.where(restr, 1, np.where(eases, -1, 0))
        rules.renew_quotas()
        self.regulators.do("regulate")
        if self.pending:
            self.pending = [(te, c) for te, c in self.pending if te > t]
            self.at_risk = np.zeros_like(self.at_risk)
            for _, c in self.pending:
                self.at_risk = np.maximum(self.at_risk, c.astype(float))
        elif self.at_risk.any():
            self.at_risk = np.zeros_like(self.at_risk)
        self.launched = self.launched_at <= t
        self._hi_launched = self.highend & self.launched
        key = (rules.version, self._compliant_version)
        if key != self._legal_key:
            self._legal_base = rules.us_legal(self.tpp, self.interconnect, foreign)
            self._lic = rules.licence_set & (rules.licence < 1.0) & foreign[None, :]   # under a licence regime
            self._lic_any = bool(self._lic.any())
            self._legal_key = key
        legal = self._legal_base
        if self._lic_any:
            legal = legal & ~(self._lic & (self.u_licence[:, t] >= rules.licence))
        legal = legal.copy()
        legal[:, self.pidx[GREY]] = True
        self.us_legal = legal

    _compliant_version = 0

    def apply_event(self, s: Scheduled, runs: np.ndarray | None = None) -> None:
        """A regulator's event takes effect in its runs (or in ``runs``, some of them). A US rule that tightens
        marks its runs as ones where China's responses to US controls take effect."""
        runs = s.runs if runs is None else runs
        ev = s.event
        if ev.actor == "US":
            self.rules.us_tightened[runs] |= ev.restricts(self.rules)[runs]
        ev.apply(self.rules, runs)
        self.rules.version += 1
        for r in runs:
            self.events_applied[r].append((self.t, ev.id))

    def china_reacts(self) -> np.ndarray:
        """(R,) bool: do China's measures that respond to US controls take effect in each run now (a US rule
        that tightens has taken effect, or ``china.reacts_to_us`` is off)?"""
        return self.rules.us_tightened | ~self.p["china.reacts_to_us"]

    def due_events(self, actor: str) -> list[tuple[Scheduled, np.ndarray]]:
        """The actor's events to apply this month with their runs, in the scenario's order. A China measure
        that responds to US controls waits, in a run where no US rule has tightened yet, until one has (it is
        then applied in that month, in order with the month's own events)."""
        due = [(s, s.runs) for s in self.events_due.get(self.t, ()) if s.event.actor == actor]
        if actor != "China" or not (self._responses_waiting or any(s.event.responds_to_us for s, _ in due)):
            return due
        due = sorted(self._responses_waiting + due, key=lambda x: x[0].order)
        ok_all = self.china_reacts()
        ready, self._responses_waiting = [], []
        for s, runs in due:
            if s.event.responds_to_us:
                ok = ok_all[runs]
                if not ok.all():
                    self._responses_waiting.append((s, runs[~ok]))
                    runs = runs[ok]
            if len(runs):
                ready.append((s, runs))
        return ready

    def announce(self, runs: np.ndarray, restricting: bool, eased: bool) -> None:
        self.announced_cut[runs] |= restricting
        self.announced_ease[runs] |= eased

    # 2. Offer
    def offer(self) -> None:
        self.move_prices()
        # Huawei first: SMIC serves it first, and the wafers it turns into cards set what the others share
        self._huawei.offer()
        self.smic_now = self.smic_factor()   # (R,) once a month, for every non-Huawei domestic vendor
        for v in self._other_vendors:
            v.offer()
        self.share_hbm()
        self.offer_grey()
        self.set_prices()

    def share_hbm(self) -> None:
        """China's HBM pool after foreign HBM is cut (MODEL.md 9.2; ``supply.hbm_shared``, off by default): Huawei
        draws first (its offer), then the other domestic vendors' cards that carry HBM stacks share what is left,
        pro rata to the stacks their planned output needs; the pool falls by what they use. Before the cut HBM
        does not bind."""
        k = self._hbm_others
        hua = self._huawei
        on = self.p["supply.hbm_shared"]
        if not len(k) or not (hua.hbm_cut_seen & on).any():
            return
        left = hua.hbm                                            # (R,) stacks left after Huawei's draw
        need = (self.capacity[:, k] * self.hbm_stacks[k]).sum(axis=1)
        cut = hua.hbm_cut_seen & on
        f = np.where(cut & (need > left), np.divide(left, need, out=np.zeros_like(need), where=need > 0), 1.0)
        self.capacity[:, k] *= f[:, None]
        used = np.where(cut, need * f, 0.0)
        hua.hbm = np.where(cut, np.maximum(left - used, 0.0), left)
        self.hbm_used = self.hbm_used + used

    def offer_grey(self) -> None:
        """Smugglers' capacity this month: ``grey.per_year`` / 12, scaled (``grey.responsive``) by last month's
        shortage and grey price (``market.grey_response``), and by enforcement on both sides:
        (1 - baseline) x (1 - US level) x (1 - China level)."""
        p = self.p
        g = self.pidx[GREY]
        enf = self.rules.grey_enforcement
        cap = self.base_capacity[:, self.t, g] * (self._grey_base * (1.0 - enf[:, 0]) * (1.0 - enf[:, 1]))
        resp = p["grey.responsive"]
        if resp.any():
            ratio = self.price[:, g] / self.base_price[:, g]   # last month's price over the reference grey price
            f = market.grey_response(self.shortage, p["grey.shortage_ref"], p["grey.shortage_elasticity"], ratio,
                                     p["grey.premium_elasticity"], p["grey.max_multiple"])
            self.grey_factor = np.where(resp, f, 1.0)
            cap = np.where(resp, cap * f, cap)
        self.capacity[:, g] = cap

    def set_prices(self) -> None:
        """Vendors raise prices when last month's orders exceeded capacity (bounded markup)."""
        cap = self.capacity
        with np.errstate(over="ignore"):   # orders over a vanishing capacity (e.g. 1e-300 cards): inf, capped at 2
            ratio = np.divide(self.last_orders, cap, out=np.ones_like(cap), where=cap > 0)
        excess = np.clip(np.minimum(ratio, 2.0) - 1.0, 0.0, 1.0)
        self.price = self.base_price * (1.0 + self.p["vendors.markup_max"][:, None] * excess)

    # 3. Anticipate
    def anticipate(self) -> None:
        """Buyers update their belief that foreign supply will be cut, plan hoarding of products at
        risk (and a general pull-forward of foreign purchases), and open part of their stockpile."""
        Buyer.anticipate(self)

    # 4. Choose
    def _policy_terms(self) -> None:
        """Arrays that change only when a rule changes (cached on the rules' version)."""
        p = self.p
        rules = self.rules
        quota_open = rules.quota_set & (rules.quota_pool > 0)
        key = (rules.version, quota_open.tobytes())
        if key == self._policy_key:
            return
        self._policy_key = key
        self.levy_rate = rules.levy
        self._price_factor = 1.0 + p["levy.passthrough"][:, None] * rules.levy
        self._energy = self.energy_life * np.where(self.domestic[None, :], 1.0 - rules.subsidy_rate[:, None], 1.0)
        guid = rules.guidance
        self.floor = self.state_linked * np.maximum(rules.mandate_floor[:, None], guid) + (1.0 - self.state_linked) * guid
        pressure = rules.pressure[:, self.vendor_of]  # (R, P)
        block = np.where(quota_open[:, None, :] & rules.quota_buyers, 0.0, rules.block)
        self.block_eff = block
        self._unblocked = block < 1.0
        self._policy_bp = p["choice.policy_weight"][:, None, None] * (
            self.floor[:, :, None] * self.domestic[None, None, :] - pressure[:, None, :]
            - p["choice.block_weight"][:, None, None] * block) + p["captive.owner_preference"][:, None, None] * self.owner

    def choose(self) -> None:
        """Each buyer splits the compute it wants, per tier, over the products it may buy (nested
        logit origin -> vendor -> product), then policy floors bound the domestic nest."""
        self._policy_terms()
        Buyer.choose(self)

    # 5. Clear
    def clear(self) -> None:
        """Orders (plus hoarding, within budget) are allocated under capacity (``market.clear_runs``)."""
        T, B, R = len(TIERS), len(BUYERS), self.n_runs
        P = len(self.product_ids)
        # the tiers' card orders (need x probs) x inv_perf (R, B, T, P) and buying ahead: a buyer fills a
        # stockpile target (months of this month's orders of each product at risk), ordering the gap to what it
        # already holds unopened, so a lasting belief does not keep adding (the months are of the buyer's gross
        # orders, (demand / efficiency) x probs in cards: what it would order with no stockpile to open). A
        # domestic floor binds the buyer's whole purchase, buying ahead included (MODEL.md 9.5): it may stock
        # legal foreign cards only in the share (1 - floor) its floor leaves foreign.
        keep = np.where(self._legal_foreign, 1.0 - self.floor[:, :, None], 1.0)
        allo, base_spend, hoard_spend = market.orders_runs(
            self.need, self.probs, self._inv_perf, self.demand_now / self.efficiency[:, :, None], self.hoard_mult,
            self.stock, keep, self.price_buyer, self._buf_allo)
        funds = self._capex_funds()
        self.reserve_now = self._capex_reserve()   # later months' base budget is kept back (offshore too)
        # the orders within the money free this month (funds less the reserve), buying ahead from what the
        # orders leave; the compute the floors lock in the domestic nest
        self.last_orders, locked = market.budget_orders_runs(allo, base_spend, hoard_spend, funds, self.reserve_now,
                                                             self.need, self.locked_share)
        k_allo, cap, locked, grey_first = self._clear_grey_first(allo, locked)   # allo is changed in place
        delivered = self._buf_delivered
        # unserved compute of a tier spills in proportion to the buyer's choice, to cards that fit the tier only
        # (self._fit; x 1 where every card fits); the buying-ahead class does not spill
        market.clear_month_into(delivered.reshape(R, -1, P), k_allo.reshape(R, -1, P), cap, self._own_rep,
                                self.within, self._fit_all, self._origin_p, self._pf, locked.reshape(R, -1))
        self.delivered = delivered
        # the smuggled cards filled first join the deliveries; cards per buyer and product: installed (the
        # tiers) + stockpiled (the last class); the budget left after paying; the compute served and unmet
        d_inst, per_buyer, self.capex_left, served, self.unmet = market.settle_runs(
            delivered, grey_first if grey_first is not None else self._no_first, self.pidx[GREY], self.perf,
            self.price_buyer, funds, self.need, self._buf_dcomp)
        self.d_inst, self.per_buyer, self.d_compute, self.served = d_inst, per_buyer, self._buf_dcomp, served
        self.offshore()
        tot_need = self.need.sum(axis=(1, 2))
        self.shortage = np.divide(self.unmet.sum(axis=(1, 2)), tot_need, out=np.zeros_like(tot_need),
                                  where=tot_need > 0)
        rules = self.rules
        if rules.quota_set.any():
            left = rules.quota_pool - delivered.sum(axis=(1, 2))
            # a pool rationed down to rounding error (under one card) is used up
            rules.quota_pool = np.where(rules.quota_set, np.where(left >= 1.0, left, 0.0), rules.quota_pool)

    def _clear_grey_first(self, allo: np.ndarray, locked: np.ndarray):
        """Where grey purchases are outside the floors (``grey.floor_exempt``), smuggled orders are filled
        first, pro rata under the grey capacity. What they miss is ordered again as a legal purchase under the
        buyer's floor: the floor's share from domestic cards (locked there), the rest from legal foreign cards
        in proportion to the buyer's choice (``market.floor_per_buyer`` when ``china.floor_per_buyer``, lowest
        tiers first), so a missed smuggled card never lets a legal foreign one escape the floor. Returns the
        orders, capacity and locked compute for ``market.clear_runs`` (``allo`` and ``locked`` changed in
        place) and the grey cards delivered (R, B, T+1), or None when no run has the exemption."""
        ex = self.p["grey.floor_exempt"]
        if not ex.any():
            return allo, self.capacity, locked, None
        cap, first = market.grey_first_runs(allo, locked, self.capacity, ex, self.p["china.floor_per_buyer"],
                                            self.perf, self.floor, self.within, self.domestic, self._inv_perf,
                                            self.pidx[GREY])
        return allo, cap, locked, first

    def offshore(self) -> None:
        """Offshore outlet (``offshore.enabled``): a buyer serves ``buyers.<b>.offshore_share`` of its unmet
        training compute abroad (rented or built there), paying ``offshore.cost_multiple`` x the A100 list price
        per A100-equivalent from the budget it has left this month, less what is kept back for the window's
        later months (``_capex_reserve``). The compute leaves the unmet (so it is not
        deferred) and is reported apart (``offshore_compute``, ``offshore_usd``); it is never a delivery."""
        share = self.offshore_share
        if not share.any():
            return
        want = share[:, :, None] * self.unmet * self.is_training_tier  # (R, B, T)
        w = want.sum(axis=2)
        cost = self.p["offshore.cost_multiple"] * self.ref_cost  # (R,) US$ per A100-equivalent
        afford = np.maximum(self.capex_left - self.reserve_now, 0.0) / cost[:, None]   # as buying ahead
        scale = np.where(w > afford, np.divide(afford, w, out=np.zeros_like(w), where=w > 1e-9), 1.0)
        got = want * scale[:, :, None]
        self.unmet = self.unmet - got
        self.offshore_now = got.sum(axis=2)
        self.offshore_usd = self.offshore_now * cost[:, None]
        self.capex_left = np.maximum(self.capex_left - self.offshore_usd, 0.0)

    def _capex_reserve(self) -> np.ndarray:
        """(R, B) money kept back for the compute wanted in the window's later months, at reference prices
        (one times, not ``budget_headroom`` times, their spend): this month's orders and buying ahead are
        paid from the rest (this month's share, the window's headroom and any carry), so a buyer cannot
        spend the whole year's budget in its first months and then stop buying."""
        window = self.p["demand.capex_window_months"].astype(np.int64)
        if (window == 1).all():
            return np.zeros((self.n_runs, len(BUYERS)))
        t = self.t
        cal = (self._start_index + t) % 12
        end = np.minimum(t + window - cal % window, self.n_months)   # (R,) first month after the window
        rows = np.arange(self.n_runs)
        ahead = self._dem_cum[rows, end] - self._dem_cum[:, t + 1]   # (R, B) wanted compute, later months
        scale = self.demand_b / np.maximum(self._dem_sum[:, t], 1e-300)
        return self.ref_cost[:, None] * scale * ahead

    def _capex_funds(self) -> np.ndarray:
        """(R, B) money a buyer may spend this month. Each capex window (``demand.capex_window_months``
        calendar months) has a budget of ``demand.budget_headroom`` times the spend on the compute wanted
        over the window at reference prices (the demand path, at this month's price response); any part
        of it may be spent in any month of the window. What is left at the end of a window is carried
        into the next, up to ``demand.capex_carry_months`` months of budget."""
        p = self.p
        rate = p["demand.budget_headroom"] * self.ref_cost  # (R,) money per A100-equivalent wanted
        window = p["demand.capex_window_months"].astype(np.int64)
        cal = (self._start_index + self.t) % 12
        new = (cal % window == 0) | (self.t == 0)
        if not new.any():
            return self.capex_left
        monthly = rate[:, None] * self.demand_b  # (R, B) this month's budget
        if (window == 1).all():
            plan = monthly
        else:
            scale = self.demand_b / np.maximum(self._dem_sum[:, self.t], 1e-300)
            left_in_window = np.where(self.t == 0, window - cal % window, window)
            plan = np.empty_like(monthly)
            for r in np.flatnonzero(new):
                ahead = self.demand_path[r, self.t:self.t + left_in_window[r]].sum(axis=(0, 2))  # (B,)
                plan[r] = rate[r] * scale[r] * ahead
        carry = np.minimum(self.capex_left, p["demand.capex_carry_months"][:, None] * monthly)
        self.capex_left = np.where(new[:, None], plan + carry, self.capex_left)
        return self.capex_left

    # 6. Update
    def update(self) -> None:
        p = self.p
        T = len(TIERS)
        g = self.pidx[GREY]
        # installed cards age (market.retire) and grow by the cards delivered to the tiers and opened from
        # the stockpile; the stockpile grows by the cards bought ahead less those opened; units and revenue
        # (at the captive transfer price) per product; smugglers' sales are no vendor's revenue
        units, revenue, legal_units = market.update_runs(
            self.installed, self.stock, self.d_inst, self.delivered, self.opened, p["ageing.lifetime_months"],
            self.per_buyer, self._transfer, self.price_buyer, g)
        self.units = units
        self.cum_units += units
        self.revenue = revenue
        self.levy_paid = revenue * self.levy_rate
        self.legal_units = legal_units
        # per-vendor sums in product order: a matrix product would take another summation order when a batch
        # holds one run (a vector product) than when it holds several, and a run must not depend on its batch
        installs_v = (legal_units[:, :, None] * self._mv[None, :, :]).sum(axis=1)
        self.maturity = market.update_maturity(self.maturity, installs_v, p["maturity.learning_rate"][:, None])
        Buyer.update(self)
        comp = legal_units * self.bf16
        tot_c = comp.sum(axis=1)
        cost_per_aec = np.divide(revenue.sum(axis=1), tot_c, out=np.full_like(tot_c, np.nan), where=tot_c > 0)
        has = tot_c > 0
        first = has & np.isnan(self.ref_cost_per_aec)
        self.ref_cost_per_aec = np.where(first, cost_per_aec, self.ref_cost_per_aec)
        self.price_index = np.where(has, cost_per_aec / np.where(has, self.ref_cost_per_aec, 1.0), self.price_index)
        self.dom_delivered[:, self.t] = comp[:, self.domestic].sum(axis=1)
        self.all_delivered[:, self.t] = tot_c

    # 7. Record
    def record(self) -> None:
        t = self.t
        T = len(TIERS)
        rec = self.records
        market.record_runs(rec.product[:, t], rec.hoard[:, t], rec.buyer[:, t], rec.tier[:, t], self.units,
                           self.revenue, self.levy_paid, self.installed, self.bf16, self.delivered, self.d_compute,
                           self._dom_idx, self.served, self.demand_now, self.inst_aec, self.unmet, self.stock,
                           self.service, self.train, self.offshore_now, self.offshore_usd, self.efficiency)
        rec.market[:, t, 0] = 1.0 - (self.inst_aec + self.off_aec).sum(axis=1) / np.maximum(self.target_aec.sum(axis=1),
                                                                                            1e-9)
        rec.market[:, t, 1] = self.price_index
        rec.market[:, t, 2] = self.smic_ai_wafers[:, t] * (1.0 - self.rules.smic_tools)
        rec.market[:, t, 3] = self.huawei_wafers + self.smic_others_wafers
        rec.market[:, t, 4] = self.hbm_used
        rec.made[:, t] = self.huawei_made
        if rec.deliveries is not None:
            g = self.pidx[GREY]
            pb = self.per_buyer.copy()
            pb[:, :, g] = 0.0
            mv = self._mv
            transfer = self._transfer
            rec.deliveries[:, t, :, :, 0] = pb @ mv
            rec.deliveries[:, t, :, :, 1] = (pb * self.bf16[:, None, :]) @ mv
            rec.deliveries[:, t, :, :, 2] = (pb * transfer * self.price_buyer[:, None, :]) @ mv
        if rec.buyer_product is not None:
            rec.buyer_product[:, t] = self.per_buyer
        self._last_t = t
        if self.mesa_collect:
            self.datacollector.collect(self)

    # ------------------------------------------------------------------ what Mesa's DataCollector reads (run 0)
    def _last_units(self) -> np.ndarray:
        """Legal cards delivered in the last recorded month of run 0, per product."""
        if self._last_t < 0:
            return np.zeros(len(self.product_ids))
        return self.records.legal("units")[0, self._last_t]

    def _share_now(self, which: np.ndarray) -> float:
        u = self._last_units()
        tot = u.sum()
        return float(u[which].sum() / tot) if tot > 0 else 0.0

    _last_t = -1

    @property
    def nvidia_unit_share(self) -> float:
        return self._share_now(self.vendor_of == VENDORS.index("Nvidia"))

    @property
    def huawei_unit_share(self) -> float:
        return self._share_now(self.vendor_of == VENDORS.index("Huawei"))

    @property
    def domestic_unit_share(self) -> float:
        return self._share_now(self.domestic)

    @property
    def total_units(self) -> float:
        return float(self._last_units().sum())

    # ------------------------------------------------------------------ helpers for agents
    def best_domestic_train(self) -> np.ndarray:
        """(R,) best training performance of a launched domestic product with capacity."""
        ok = self.domestic[None, :] & self.launched & (self.capacity > 0)
        return np.where(ok, self.train, 0.0).max(axis=1)

    def domestic_coverage_last_year(self) -> np.ndarray:
        a, b = max(self.t - 12, 0), self.t
        tot = self.all_delivered[:, a:b].sum(axis=1)
        return np.divide(self.dom_delivered[:, a:b].sum(axis=1), tot, out=np.zeros_like(tot), where=tot > 0)

    def launch_compliant(self, vendor: str, slot: int, runs: np.ndarray) -> None:
        """A foreign vendor launches a China-specific part just under the US ceiling in force (MODEL.md 9.3):
        its newest flagship (the best launched catalogue part not made for China) cut to fit. Under a rule
        with an interconnect threshold the vendor cuts the interconnect to 2/3 of it and keeps the compute
        (A800/H800: training x ``vendors.compliant_link_train``); otherwise it scales the flagship down to
        ``vendors.compliant_tpp_share`` of the TPP ceiling (H20, B30A). Price: the flagship's price this
        month times the share of compute kept. The part is China-specific, so China's class rules cover it."""
        p, t = self.p, self.t
        own = (self.vendor_of == VENDORS.index(vendor)) & ~self.virtual & ~self.china_specific
        cand = own[None, :] & (self.launched_at[runs] <= t)
        ok = cand.any(axis=1)
        runs = runs[ok]
        if not len(runs):
            return
        flag = np.argmax(np.where(cand[ok], self.bf16[runs], -np.inf), axis=1)  # (k,) flagship per run
        f = (runs, flag)
        T, ic_max = self.rules.tpp_max[runs], self.rules.interconnect_max[runs]
        link_cut = np.isfinite(ic_max) & (ic_max > 0) & (self.interconnect[f] >= ic_max)
        scale = np.where(link_cut, 1.0, np.minimum(1.0, p["vendors.compliant_tpp_share"][runs] * T / self.tpp[f]))
        self.tpp[runs, slot] = self.tpp[f] * scale
        self.bf16[runs, slot] = self.bf16[f] * scale
        self.infer[runs, slot] = self.infer[f] * scale
        self.train[runs, slot] = self.train[f] * scale * np.where(link_cut, p["vendors.compliant_link_train"][runs], 1.0)
        self.interconnect[runs, slot] = np.where(link_cut, np.minimum(self.interconnect[f], ic_max * 2.0 / 3.0),
                                                 self.interconnect[f])
        self.power[runs, slot] = self.power[f] * np.maximum(scale, 0.5)
        self.energy_life[runs, slot] = self.energy_life[f] * np.maximum(scale, 0.5)
        self.slot_launch_price[runs, slot] = self.base_price[f] * scale
        self.base_price[runs, slot] = self.price[runs, slot] = self.slot_launch_price[runs, slot]
        self._performance_changed()
        self._policy_key = None
        self._compliant_version += 1
        self.rules.refresh_blocks()   # the new part is tested against every block rule's class
        self.launched_at[runs, slot] = t
        self.base_capacity[runs, t:, slot] = BIG
        for r in runs:
            self.events_applied[r].append((t, f"{vendor.lower()}-compliant-sku"))

    def finish(self) -> Records:
        """The records, with the events each run applied."""
        self.records.events = [[(self.months[t], e) for t, e in evs] for evs in self.events_applied]
        self.records.coverage = self.block_coverage()
        return self.records

    def block_coverage(self) -> list[list[tuple[str, tuple[str, ...]]]]:
        """Per run, each China block in force: the launched products its class and names cover now."""
        rules, n = self.rules, self.n_months
        out: list[list[tuple[str, tuple[str, ...]]]] = [[] for _ in range(self.n_runs)]
        for strength, _, ev in rules.block_rules.values():
            cover = ev.covers(rules) & (self.launched_at < n)   # (R, P)
            for r in np.flatnonzero(strength > 0):
                out[r].append((ev.id, tuple(self.product_ids[i] for i in np.flatnonzero(cover[r]))))
        return out

    def run(self) -> MarketModel:
        while self.running:
            self.step()
        self.finish()
        return self
