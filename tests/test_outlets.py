"""Shortage has outlets (MODEL.md 9.5): smuggling that responds to the shortage and the grey price under
enforcement on both sides and outside China's floors, offshore compute reported apart, and domestic floors
that bind a buyer's whole purchase, met from its lowest tiers first."""

from __future__ import annotations

import numpy as np
import pytest

from sim.engine import tables
from sim.model import market
from sim.model.ids import BUYER_METRICS, BUYERS, TIERS, VENDORS
from sim.model.market_model import GREY, MarketModel
from sim.model.scenario import load_scenario, load_scenario_text

OFF = {"grey.responsive": False, "grey.floor_exempt": False, "offshore.enabled": False,
       "china.floor_per_buyer": False}
US_GREY = """
[scenario]
name = "us-grey"
description = "history to 2025 with US enforcement against smuggling from 2024"
extends = "history"
end = "2025-12"

[[events]]
id = "us-2024-01-grey"
announced = "2024-01"
effective = "2024-01"
actor = "US"
kind = "grey_enforcement"
level = 0.5
label = "US enforcement against smuggling"
source = "test"
"""
FRONTIER = TIERS.index("frontier_training")


@pytest.fixture(scope="module")
def hist25():
    return load_scenario("history").with_changes(header={"end": "2025-12"})


def run(sc, seed: int = 1, **params) -> MarketModel:
    m = MarketModel(sc.with_changes(parameters=params) if params else sc, seed=seed, mesa_collect=False,
                    details=("deliveries", "buyer_product"))
    m.run()
    return m


def year_sum(m: MarketModel, x: np.ndarray, year: str) -> float:
    sel = np.array([mo.startswith(year) for mo in m.months])
    return float(x[:, sel].sum())


def grey_units(rec) -> np.ndarray:
    return rec.field("units")[..., rec.grey]  # (R, n) smuggled cards


# ---------------------------------------------------------------- pure functions


def test_grey_response_rises_with_shortage_and_price_and_is_capped():
    f = lambda s, r: market.grey_response(np.array([s]), 0.1, 1.0, np.array([r]), 1.0, 3.0)[0]  # noqa: E731
    assert f(0.0, 1.0) == 0.0                      # no shortage, no smuggling
    assert f(0.1, 1.0) == pytest.approx(1.0)       # the reference shortage and price: grey.per_year
    assert f(0.05, 1.0) < f(0.1, 1.0) < f(0.2, 1.0)
    assert f(0.1, 1.0) < f(0.1, 1.3)               # a higher grey price draws more supply
    assert f(0.9, 1.3) == 3.0                      # never above grey.max_multiple


def test_floor_per_buyer_fills_from_the_lowest_tiers_and_keeps_frontier_foreign():
    order = np.arange(4)[::-1]  # low priority, inference, training, frontier training
    foreign = np.array([[10.0, 10.0, 10.0, 10.0]])   # frontier, training, inference, low priority
    domestic = np.array([[0.0, 0.0, 5.0, 5.0]])
    f2, d2, locked = market.floor_per_buyer(foreign, domestic, np.array([0.3]), order)
    total = foreign.sum() + domestic.sum()
    assert d2.sum() == pytest.approx(0.3 * total)                 # the floor is met over the whole purchase
    np.testing.assert_allclose(f2 + d2, foreign + domestic)       # tier totals kept
    assert f2[0, 0] == 10.0 and f2[0, 1] == 10.0                  # training tiers keep their foreign cards
    assert f2[0, 3] == pytest.approx(5.0) and f2[0, 2] == 10.0    # low priority gives up 5 first
    assert locked.sum() == pytest.approx(0.3 * total) and (locked <= d2 + 1e-12).all()
    # a floor of 1 takes every tier, frontier last
    f3, d3, _ = market.floor_per_buyer(foreign, domestic, np.array([1.0]), order)
    np.testing.assert_allclose(f3, 0.0, atol=1e-12)
    # a floor the buyer's own choice already meets changes nothing
    f4, d4, _ = market.floor_per_buyer(foreign, domestic, np.array([0.1]), order)
    np.testing.assert_array_equal(f4, foreign)


# ---------------------------------------------------------------- responsive smuggling


def test_a_shortage_raises_grey_volume(hist25):
    """Less domestic supply (fewer Ascend wafers, smaller other ramps) leaves more compute unmet, and
    smugglers bring more cards; with a fixed grey volume the same shortage brings none extra."""
    short = {"huawei.wafers_2025": 1000.0, "huawei.wafers_2026": 3000.0, "domestic.capacity_scale": 0.3}
    base, tight = run(hist25), run(hist25, **short)
    assert year_sum(tight, tight.records.buyer[..., BUYER_METRICS.index("unmet_compute")], "2025") > \
        year_sum(base, base.records.buyer[..., BUYER_METRICS.index("unmet_compute")], "2025")
    assert year_sum(tight, grey_units(tight.records), "2025") > 1.05 * year_sum(base, grey_units(base.records), "2025")
    fixed_tight = run(hist25, **{"grey.responsive": False}, **short)   # a fixed volume is a ceiling
    assert year_sum(fixed_tight, grey_units(fixed_tight.records), "2025") <= fixed_tight.p["grey.per_year"][0] * 1.0001
    assert year_sum(tight, grey_units(tight.records), "2025") > fixed_tight.p["grey.per_year"][0]


def test_grey_capacity_follows_last_months_shortage_and_price(hist25):
    m = MarketModel(hist25, seed=2, mesa_collect=False)
    g = m.pidx[GREY]
    p = m.p
    while m.running:
        shortage, ratio = m.shortage.copy(), m.price[:, g] / m.base_price[:, g]
        enf = m.rules.grey_enforcement.copy()
        t = m.t
        m.step()
        f = market.grey_response(shortage, p["grey.shortage_ref"], p["grey.shortage_elasticity"], ratio,
                                 p["grey.premium_elasticity"], p["grey.max_multiple"])
        # enforcement in force this month (events of this month applied before the offer)
        enf = m.rules.grey_enforcement
        expect = p["grey.per_year"] / 12 * f * (1 - p["grey.enforcement"]) * (1 - enf[:, 0]) * (1 - enf[:, 1])
        np.testing.assert_allclose(m.capacity[:, g], expect, rtol=1e-12, err_msg=m.months[t])
    assert (m.records.field("units")[0, :, g] > 0).any()


def test_stronger_enforcement_lowers_grey_volume_on_either_side(hist25):
    base = run(hist25)
    strict = run(hist25, **{"grey.enforcement": 0.5})
    assert grey_units(strict.records).sum() < 0.75 * grey_units(base.records).sum()
    # a US enforcement event on top of China's customs checks (Oct 2025): both sides multiply
    sc_us = load_scenario_text(US_GREY, "us-grey.toml")
    m = MarketModel(sc_us, seed=1, mesa_collect=False)
    m.run()
    enf = m.rules.grey_enforcement[0]
    assert enf[0] == 0.5 and enf[1] == pytest.approx(0.3)  # US level and China's customs level, kept apart
    assert year_sum(m, grey_units(m.records), "2024") < year_sum(base, grey_units(base.records), "2024")


# ---------------------------------------------------------------- grey purchases outside the floors


def test_grey_purchases_are_not_bound_by_a_mandate(hist25):
    """State data centres must buy only domestic chips from Nov 2025 (floor 1): their legal foreign
    purchases stop, but smuggled cards still reach them when grey purchases are outside the floors."""
    sc = BUYERS.index("StateCompute")
    for exempt in (True, False):
        m = run(hist25, **{"grey.floor_exempt": exempt})
        months = np.array(m.months)
        after = months >= "2025-11"
        bp = m.records.buyer_product[0][after][:, sc]  # (months, P)
        legal_foreign = ~m.domestic & ~m.virtual
        assert bp[:, legal_foreign].sum() == 0
        if exempt:
            assert bp[:, m.pidx[GREY]].sum() > 0
        else:
            assert bp[:, m.pidx[GREY]].sum() == 0


# ---------------------------------------------------------------- offshore compute


def test_offshore_compute_is_reported_apart_and_never_a_china_shipment(hist25):
    on, off = run(hist25), run(hist25, **{"offshore.enabled": False})
    k = BUYER_METRICS.index("offshore_compute")
    got = on.records.buyer[0, :, :, k]  # (n, B)
    users = [BUYERS.index("ByteDance"), BUYERS.index("Alibaba")]
    assert got[:, users].sum() > 0
    others = [i for i in range(len(BUYERS)) if i not in users]
    assert got[:, others].sum() == 0                       # only buyers with an offshore footprint
    assert (off.records.buyer[..., k] == 0).all()
    usd = on.records.buyer[0, :, :, BUYER_METRICS.index("offshore_usd")]
    np.testing.assert_allclose(usd, got * on.p["offshore.cost_multiple"][0] * on.ref_cost[0], rtol=1e-12)
    # not in any China shipment, value or share: vendor and aggregate figures come from deliveries only
    vb = on.records.vendor_block()[0]                      # (n, V + 3, metrics)
    units = on.records.legal("units")[0]
    np.testing.assert_allclose(vb[:, len(VENDORS) + 2, 0], units.sum(axis=1), rtol=1e-12)
    dl = on.records.deliveries[0]                          # (n, B, V, 3) legal deliveries per buyer and vendor
    np.testing.assert_allclose(dl[..., 0].sum(axis=(1, 2)), units.sum(axis=1), rtol=1e-9)
    # the long table carries it per buyer, under its own name
    ts = tables.timeseries(on.records)
    rows = ts[ts["metric"] == "offshore_compute"]
    assert set(rows["entity"]) == set(BUYERS)
    assert rows["value"].sum() == pytest.approx(got.sum())


def test_offshore_compute_leaves_the_unmet_and_costs_budget(hist25):
    m = MarketModel(hist25, seed=3, mesa_collect=False)
    served_abroad = 0.0
    while m.running:
        m.step()
        T = len(TIERS)
        served = (m.delivered[:, :, :T] * m.perf[:, None]).sum(axis=-1)
        np.testing.assert_allclose(served.sum() + m.unmet.sum() + m.offshore_now.sum(), m.need.sum(), rtol=1e-9)
        assert (m.offshore_now <= m.offshore_share * m.need[:, :, m.is_training_tier].sum(axis=2) + 1e-6).all()
        served_abroad += m.offshore_now.sum()
    assert served_abroad > 0


# ---------------------------------------------------------------- per-buyer floors


@pytest.fixture(scope="module")
def early_guidance(hist25):
    """Beijing's 30% guidance moved to Jan 2024, when buyers still chose mostly foreign cards."""
    return hist25.with_changes(events={"cn-2025-01-guidance-30": {"announced": "2024-01", "effective": "2024-01"}},
                               header={"end": "2024-12"})


def _choice(sc, **params):
    """Per month: need (B, T), product probabilities (B, T, P) and the floor (B,) of run 0."""
    m = MarketModel(sc.with_changes(parameters=params), seed=1, mesa_collect=False)
    out = []
    while m.running:
        m.step()
        out.append((m.months[m.t - 1], m.need[0].copy(), m.probs[0].copy(), m.floor[0].copy()))
    return m, out


def test_per_buyer_floor_keeps_frontier_training_foreign(early_guidance):
    """With the floor met from low-priority and inference work, frontier training keeps its foreign
    cards; tier by tier, the same floor takes 30% of frontier training too."""
    res = {}
    for per_buyer in (True, False):
        m, out = _choice(early_guidance, **{"china.floor_per_buyer": per_buyer,   # the floor alone: every
                                            "tiers.min_train_perf.frontier_training": 0.0,   # card may train
                                            "tiers.min_train_perf.training": 0.0,
                                            "choice.switching_scale": 10.0,   # buyers prefer foreign
                                            "hoarding.strength": 0.0})         # and buy nothing ahead
        legal_f = ~m.domestic & ~m.virtual
        fr = []
        for month, need, probs, floor in out:
            if month < "2024-01":
                continue
            dom = (probs[..., m.domestic].sum(-1) * need)            # (B, T) compute put on domestic cards
            leg = dom + probs[..., legal_f].sum(-1) * need          # legal compute
            # the floor holds over each buyer's whole legal purchase
            assert (dom.sum(-1) >= floor * leg.sum(-1) * (1 - 1e-9) - 1e-6).all(), month
            if not per_buyer:  # ... and, tier by tier, in every tier
                assert (dom >= floor[:, None] * leg * (1 - 1e-9) - 1e-6).all(), month
            if leg[:, FRONTIER].sum() > 0:   # a month served wholly from the stockpile buys nothing
                fr.append(dom[:, FRONTIER].sum() / leg[:, FRONTIER].sum())
        res[per_buyer] = np.mean(fr)
    assert res[False] >= 0.3 - 1e-9
    assert res[True] < res[False] - 0.05, res


def test_switched_off_outlets_reproduce_the_earlier_model(hist25):
    """With every switch off the outlets change nothing (same numbers as before they existed): grey volume
    fixed at grey.per_year x (1 - enforcement), no offshore compute, tier-by-tier floors."""
    m = run(hist25, **OFF)
    g = grey_units(m.records)[0]
    months = np.array(m.months)
    cap = m.p["grey.per_year"][0] / 12 * np.where(months >= "2025-10", 0.7, 1.0)
    assert (g <= cap * (1 + 1e-12)).all()
    assert (m.records.buyer[..., BUYER_METRICS.index("offshore_compute")] == 0).all()


def test_same_seed_same_numbers_and_batch_equals_alone(hist25):
    sc = hist25.with_changes(header={"end": "2024-06"})
    runs = [(sc, 5), (sc.with_changes(parameters=OFF), 6), (sc.with_changes(parameters={"grey.max_multiple": 2.0}), 7)]
    b = MarketModel.batch([s for s, _ in runs], [x for _, x in runs])
    b.run()
    for i, (s, seed) in enumerate(runs):
        alone = MarketModel(s, seed=seed, mesa_collect=False)
        alone.run()
        for blk in ("product", "buyer", "market"):
            np.testing.assert_array_equal(getattr(b.records, blk)[i], getattr(alone.records, blk)[0])
    again = MarketModel(sc, seed=5, mesa_collect=False)
    again.run()
    np.testing.assert_array_equal(again.records.buyer, b.records.buyer[:1])
