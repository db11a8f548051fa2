"""Capex windows (MODEL.md 9.4): a buyer's budget is set per window of calendar months and any part of it
may be spent in any month of the window, so buying ahead of a rule is financed from the year's budget."""

from __future__ import annotations

import numpy as np
import pytest

from sim.engine.batch import Job, run_batch
from sim.model.ids import BUYERS
from sim.model.market_model import MarketModel
from sim.model.scenario import load_scenario


@pytest.fixture(scope="module")
def short():
    return load_scenario("history").with_changes(header={"end": "2025-06"})


def _model(sc, **params) -> MarketModel:
    return MarketModel(sc.with_changes(parameters=params), seed=5, mesa_collect=False)


def test_a_yearly_window_opens_with_the_budget_of_the_months_left_in_the_year(short):
    m = _model(short, **{"demand.capex_window_months": 12})
    for _ in range(13):
        m.step()   # 2022-01 .. 2023-01: the last month done is January 2023 (t = 12)
    t = 12
    assert m.t == t + 1
    rate = m.p["demand.budget_headroom"][0] * m.ref_cost[0]
    scale = m.demand_now[0].sum(axis=1) / m.demand_path[0, t].sum(axis=1)
    plan = rate * scale * m.demand_path[0, t:t + 12].sum(axis=(0, 2))   # the whole of 2023
    spent = (m.delivered[0].sum(axis=1) * m.price_buyer[0]).sum(axis=1)
    np.testing.assert_allclose(m.capex_left[0] + spent, plan, rtol=1e-9)   # nothing carried (carry_months 0)
    assert (plan > 11 * rate * m.demand_now[0].sum(axis=1)).all()


def test_spend_in_a_window_never_exceeds_its_budget_and_may_exceed_one_month(short):
    """Over each calendar year a buyer spends at most the year's budget (orders are scaled to the funds;
    orders that spill at clearing to another product are filled at its price, so allow 5%); in some month
    it spends more than that month's own budget (what a one-month window forbids)."""
    m = _model(short, **{"demand.capex_window_months": 12, "hoarding.strength": 4.0,
                         "anticipation.class_weight": 1.0})
    rate = m.p["demand.budget_headroom"][0] * m.ref_cost[0]
    year_budget, year_spent, over_month = None, np.zeros(len(BUYERS)), np.zeros(len(BUYERS), dtype=bool)
    for t in range(36):   # 2022-01 .. 2024-12
        m.step()
        if t % 12 == 0:
            if year_budget is not None:
                assert (year_spent <= year_budget * 1.05).all(), (t, year_spent / year_budget)
            year_spent[:] = 0.0
            year_budget = None
        spent = (m.delivered[0].sum(axis=1) * m.price_buyer[0]).sum(axis=1)
        if year_budget is None:
            year_budget = m.capex_left[0] + spent
        year_spent += spent
        over_month |= spent > rate * m.demand_now[0].sum(axis=1) * (1 + 1e-6)
    assert over_month.any(), "no buyer ever spent more than one month's budget"


def test_a_yearly_window_finances_a_larger_rush_ahead_of_the_h20_rule(short):
    """Buying ahead of the April-2025 H20 rule in Q1 2025 is larger when the year's budget can pay for it."""
    base = {"hoarding.strength": 4.0, "anticipation.class_weight": 1.0}
    jobs = [Job(short.with_changes(parameters={**base, "demand.capex_window_months": w}), s, i)
            for i, (w, s) in enumerate([(1, 1), (1, 2), (12, 1), (12, 2)])]
    rec = run_batch(jobs, details=())
    months = list(short.months)
    q1 = slice(months.index("2025-01"), months.index("2025-03") + 1)
    h20 = list(rec.product_ids).index("h20")
    units = rec.legal("units")[:, q1, h20].sum(axis=1)
    assert units[2:].mean() > 1.5 * units[:2].mean(), units


def test_a_buyer_under_a_full_domestic_floor_stocks_no_legal_foreign_cards():
    """MODEL.md 9.5: a floor binds the whole purchase, buying ahead included. From Nov 2025 state-funded data
    centres must buy domestic only (StateCompute is fully state-linked): it buys no legal foreign card ahead."""
    from sim.model.ids import BUYERS
    from sim.model.market_model import MarketModel
    from sim.model.scenario import load_scenario

    sc = load_scenario("history").with_changes(header={"end": "2026-03"},
                                                parameters={"hoarding.strength": 12.0})   # plenty of appetite
    m = MarketModel(sc, seed=1, mesa_collect=False)
    names, state = list(m.months), BUYERS.index("StateCompute")
    stocked = []
    while m.running:
        month = names[m.t]
        m.step()
        if month >= "2025-11":
            assert m.floor[0, state] == pytest.approx(1.0)
            stocked.append(m.delivered[0, state, -1][m._legal_foreign].sum())   # the hoarding order class
    assert len(stocked) == 5 and sum(stocked) == 0.0
