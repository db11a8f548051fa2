"""Domestic supply (MODEL.md 9.2): yield is learnt per process node, and every Ascend draws HBM stacks
from China's HBM pool, the 950 and 960 included."""

from __future__ import annotations

import numpy as np
import pytest

from sim.model.ids import VENDORS
from sim.model.market_model import MarketModel
from sim.model.scenario import load_scenario

PLENTY = {"huawei.hbm_stock": 5e7, "huawei.domestic_hbm_2026": 5e6}


@pytest.fixture(scope="module")
def history():
    return load_scenario("history")


def _huawei_compute(sc, params, months):
    """Compute Huawei can make (cards x BF16, summed over its products) in the given months, seed 2."""
    m = MarketModel(sc.with_changes(parameters=params, header={"end": max(months)}), seed=2, mesa_collect=False)
    hw = [i for i, v in enumerate(m.vendor_of) if VENDORS[v] == "Huawei"]
    names, out = list(m.months), {}
    while m.running:
        month = names[m.t]
        m.step()
        if month in months:
            out[month] = float((m.capacity[0, hw] * m.bf16[0, hw]).sum())
    return m, out


def test_the_960_starts_at_the_yield_its_node_has_learnt(history):
    """The 960 (Dec 2027) shares the 950's node: taking half of Huawei's wafers does not restart yield,
    so Huawei's compute does not collapse in its launch month (it fell 7x when yield was per product)."""
    m, c = _huawei_compute(history, PLENTY, ["2027-11", "2027-12", "2028-01"])
    i950, i960 = m.pidx["ascend_950"], m.pidx["ascend_960"]
    assert m.node_of[i950] == m.node_of[i960] != m.node_of[m.pidx["ascend_910b"]]
    assert c["2027-12"] > 0.7 * c["2027-11"] and c["2028-01"] > 0.7 * c["2027-11"], c


def test_the_950_needs_hbm_from_the_pool(history):
    months = ["2026-09"]
    m, scarce = _huawei_compute(history, {"huawei.hbm_stock": 0.0, "huawei.domestic_hbm_2026": 0.0}, months)
    assert m.hbm_stacks[m.pidx["ascend_950"]] > 0 and m.hbm_stacks[m.pidx["ascend_960"]] > 0
    _, plenty = _huawei_compute(history, PLENTY, months)
    assert plenty["2026-09"] > 0
    assert scarce["2026-09"] < 0.05 * plenty["2026-09"], (scarce, plenty)   # only die-bank 910Cs, if any


def test_a_transition_ramps_the_newest_product_over_months(history):
    """With huawei.transition_months = 12, the 910C (Jan 2025) is guaranteed only 1/12 of its half of the
    wafers in its launch month, so fewer 910C can be made then than when it takes the half at once."""
    def c910(params):
        m = MarketModel(history.with_changes(parameters={**PLENTY, **params}, header={"end": "2025-01"}), seed=2,
                        mesa_collect=False)
        while m.running:
            m.step()
        i = m.pidx["ascend_910c"]   # less the cards made of die-bank dies: the SMIC-made part
        return m.capacity[0, i] - m.p["huawei.die_bank_draw"][0] / m.dies[i]

    at_once, ramped = c910({}), c910({"huawei.transition_months": 12})
    assert at_once > 0 and ramped < 0.5 * at_once, (at_once, ramped)


def _track(sc, params, months, what):
    """``what(model)`` after each of the given months, seed 2."""
    m = MarketModel(sc.with_changes(parameters=params, header={"end": max(months)}), seed=2, mesa_collect=False)
    names, out = list(m.months), {}
    while m.running:
        month = names[m.t]
        m.step()
        if month in months:
            out[month] = what(m)
    return m, out


def _others_capacity(sc, params, months):
    """Cards per month the non-Huawei domestic vendors may make in the given months, seed 2."""
    return _track(sc, params, months, lambda m: float(m.capacity[0, m._smic_others].sum()))


def test_the_other_domestic_vendors_share_smic_wafers_after_the_tsmc_cut_off(history):
    """Before the Nov-2024 cut-off their ramps apply unchanged; after it, when the wafers Huawei leaves are
    few, they make exactly those wafers' worth of cards, and more SMIC wafers never make fewer."""
    months = ["2024-09", "2027-06"]
    scarce = {"smic.ai_share": 0.12, "smic.cards_per_wafer_other": 20.0}
    m_off, off = _others_capacity(history, {**scarce, "supply.smic_pool": False}, months)
    m_on, on = _others_capacity(history, scarce, months)
    assert on["2024-09"] == pytest.approx(off["2024-09"])           # TSMC still makes their dies
    t = list(m_on.months).index("2027-06")
    left = m_on.smic_ai_wafers[0, t] - m_on.huawei_wafers[0]      # after the wafers Huawei used in 2027-06
    assert 0 < left * 20.0 < off["2027-06"]                          # the pool binds in this set-up
    assert on["2027-06"] == pytest.approx(left * 20.0, rel=1e-9)
    _, more = _others_capacity(history, {**scarce, "smic.ai_share": 0.2}, months)
    assert on["2027-06"] < more["2027-06"] <= off["2027-06"] + 1e-6


def test_huawei_is_served_first_so_no_wafers_left_means_no_other_domestic_cards(history):
    _, c = _others_capacity(history, {"smic.ai_share": 0.01}, ["2026-06"])
    assert c["2026-06"] == 0.0


def test_the_pools_use_is_recorded_and_never_exceeds_the_pool(history):
    from sim.model.ids import MARKET_METRICS

    m = MarketModel(history.with_changes(header={"end": "2028-12"}), seed=2, mesa_collect=False)
    m.run_model()
    mk = m.records.market[0]
    k = {x: MARKET_METRICS.index(x) for x in ("smic_ai_wafers", "smic_wafers_used", "hbm_stacks_used")}
    t_cut = list(m.months).index("2024-11")
    assert (mk[t_cut:, k["smic_wafers_used"]] <= mk[t_cut:, k["smic_ai_wafers"]] + 1e-6).all()
    assert mk[:, k["smic_wafers_used"]].max() > 0 and mk[:, k["hbm_stacks_used"]].max() > 0
    t_hbm = list(m.months).index("2025-01")                      # the Dec-2024 HBM rule binds from 2025-01
    assert (mk[:t_hbm, k["hbm_stacks_used"]] == 0).all()
    # what Huawei drew in total never exceeds the stockpile plus the domestic stacks that arrived
    g = m.p["huawei.domestic_hbm_growth"][0]
    flow = [m.p["huawei.domestic_hbm_2026"][0] * (1 + g) ** ((int(x[:4]) - 2026) + (int(x[5:]) - 1) / 12)
            for x in m.months if x >= "2026-01"]
    pool = m.p["huawei.hbm_stock"][0] + sum(flow)
    assert mk[:, k["hbm_stacks_used"]].sum() <= pool * (1 + 1e-9)


def _hbm_others(sc, params, months):
    """Cards a month of the non-Huawei domestic products that carry HBM, and the stacks left and used, seed 2."""
    return _track(sc, params, months, lambda m: (float(m.capacity[0, m._hbm_others].sum()), float(m._huawei.hbm[0]),
                                                 float(m.hbm_used[0])))


def test_with_a_shared_hbm_pool_the_other_vendors_hbm_cards_take_what_huawei_leaves(history):
    """supply.hbm_shared: before the HBM rule nothing changes; after it the other vendors' HBM cards share the
    stacks left after Huawei's draw (none left: none made), their use is recorded with Huawei's, and without the
    switch they are never capped by HBM."""
    m, _ = _hbm_others(history, {}, ["2024-06"])
    names = {m.product_ids[i] for i in m._hbm_others}
    assert names == {"cambricon_mlu", "thead_ppu", "hygon_dcu", "other_domestic"}   # the Kunlun P800 has none
    months = ["2024-10", "2025-06", "2027-06"]
    _, off = _hbm_others(history, {}, months)
    _, on = _hbm_others(history, {"supply.hbm_shared": True}, months)
    assert on["2024-10"][0] == pytest.approx(off["2024-10"][0])     # foreign HBM still flows
    assert on["2025-06"][2] > off["2025-06"][2]                     # their stacks are drawn with Huawei's
    assert on["2025-06"][1] < off["2025-06"][1]                     # and the pool falls faster
    assert on["2027-06"][0] < off["2027-06"][0]                     # once it is short it caps their output
    _, dry = _hbm_others(history, {"supply.hbm_shared": True, "huawei.hbm_stock": 0.0,
                                   "huawei.domestic_hbm_2026": 0.0}, ["2025-06"])
    assert dry["2025-06"][0] == 0.0
    _, plenty = _hbm_others(history, {"supply.hbm_shared": True, **PLENTY}, ["2027-06"])
    assert plenty["2027-06"][0] == pytest.approx(off["2027-06"][0])  # ample HBM: the wafers bind, not HBM


def test_huawei_takes_from_smics_pool_only_the_wafers_it_turns_into_cards(history):
    """Once HBM caps Huawei's output (2028), more wafers planned for Huawei must not cost the other domestic
    vendors output: Huawei does not take wafers it cannot use. (They used to: more Huawei wafers then meant
    fewer domestic cards in all, the 2030 market falling by millions of cards.)"""
    months = ["2028-06"]
    scarce = {"smic.ai_share": 0.2}
    m, base = _others_capacity(history, scarce, months)
    _, more = _others_capacity(history, {**scarce, "huawei.wafers_2026": 1.5 * m.p["huawei.wafers_2026"][0]}, months)
    t = list(m.months).index("2028-06")
    assert m.huawei_wafers[0] < m.wafer_path[0, t]            # HBM binds: Huawei uses fewer wafers than planned
    assert 0 < base["2028-06"] < m._smic_planned[0, t]        # and the pool binds the others
    # within 1% (the planned wafers still move the split of Huawei's orders between products a little); it was -48%
    assert more["2028-06"] >= 0.99 * base["2028-06"]


@pytest.mark.parametrize("growth", [0.0, 1.0])
def test_domestic_hbm_grows_from_2026_at_its_yearly_rate(history, growth):
    """huawei.domestic_hbm_growth: with no foreign stock Huawei uses every domestic stack that arrives, and the
    stacks a month grow from huawei.domestic_hbm_2026 in January 2026 at the yearly rate."""
    from sim.model.ids import MARKET_METRICS

    sc = history.with_changes(header={"end": "2028-12"},
                              parameters={"huawei.hbm_stock": 0.0, "huawei.domestic_hbm_growth": growth})
    m = MarketModel(sc, seed=2, mesa_collect=False)
    m.run_model()
    used = m.records.market[0][:, MARKET_METRICS.index("hbm_stacks_used")]
    months = list(m.months)
    base = m.p["huawei.domestic_hbm_2026"][0]
    for x, years in (("2026-01", 0.0), ("2026-07", 0.5), ("2027-01", 1.0), ("2028-12", 2 + 11 / 12)):
        assert used[months.index(x)] == pytest.approx(base * (1 + growth) ** years, rel=1e-9), x
    assert used[: months.index("2026-01")].sum() == 0   # no foreign stock, and no domestic HBM before 2026
