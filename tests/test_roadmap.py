"""Catalogues and prices move (MODEL.md 9.3): vendor roadmaps gated by the rules in force, China-specific
parts that answer a new US ceiling, and prices that follow the prices paid and fall along a path."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from sim.model.calendar import month_index
from sim.model.market_model import COMPLIANT_SLOTS, MarketModel
from sim.model.rules import EVENT_ADAPTER
from sim.model.scenario import load_scenario


def _t(m: MarketModel, month: str) -> int:
    return month_index(month) - month_index(m.months[0])


def _run(sc, seed=1, **params) -> MarketModel:
    if params:
        sc = sc.with_changes(parameters=params)
    m = MarketModel(sc, seed=seed, mesa_collect=False)
    m.run_model()
    return m


def _ceiling(month: str, tpp: float, link: float = 0.0, ban: tuple[str, ...] = ()) -> dict:
    return {"id": "t-ceiling", "kind": "export_ceiling", "actor": "US", "announced": month, "effective": month,
            "label": "test ceiling", "source": "test", "tpp_max": tpp, "interconnect_max": link, "ban": list(ban)}


def _class_block(month: str) -> dict:
    return {"id": "t-class", "kind": "import_block", "actor": "China", "announced": month, "effective": month,
            "label": "test block", "source": "test", "strength": 1.0, "vendors": ["Nvidia"], "china_specific": True}


def _with(sc, *events):
    return replace(sc, events=tuple(sc.events) + tuple(EVENT_ADAPTER.validate_python(e) for e in events))


@pytest.fixture(scope="module")
def to_2027():
    return load_scenario("history").with_changes(header={"end": "2027-06"})


def test_a_blackwell_is_barred_by_the_tpp_rule_in_history_and_sells_without_us_controls(to_2027):
    hist = _run(to_2027)
    b200 = hist.pidx["b200"]
    after = slice(_t(hist, "2025-01"), None)
    assert not hist.us_legal[0, b200]                      # TPP 36,000 is over the 4,800 ceiling
    assert hist.records.legal("units")[0, after, b200].sum() == 0.0
    free = _run(load_scenario("no-controls").with_changes(header={"end": "2027-06"}))
    assert free.us_legal[0, b200]
    assert free.records.legal("units")[0, after, b200].sum() > 10_000
    # and the roadmap keeps Nvidia's compute sold in no-controls growing after Hopper
    rubin = free.pidx["rubin"]
    assert free.records.legal("units")[0, _t(free, "2026-09"):, rubin].sum() > 0


def test_history_needs_no_compliant_part_beyond_the_catalogue():
    """The hand-listed A800/H800/H20/RTX Pro 6000D (and MI308) answer the rules of history: no part is
    added, even when the Oct-2023 rule binds before the H20 launches."""
    sc = load_scenario("history")
    early = sc.with_changes(events={"us-2023-10-tpp-rule": {"announced": "2023-02", "effective": "2023-03"}})
    for s in (sc, early):
        m = _run(s)
        slots = [m.pidx[x] for xs in COMPLIANT_SLOTS.values() for x in xs]
        assert (m.launched_at[0, slots] >= m.n_months).all()
        assert not any("compliant" in e for _, e in m.events_applied[0])


def test_a_compliant_part_launches_a_lag_after_a_new_ceiling_just_under_it_and_china_can_block_it(to_2027):
    lag, share = 4, 0.9
    open_ = to_2027.with_changes(remove=["cn-2025-09-cac-rtx6000d", "cn-2025-10-customs-checks"])  # history's
    sc = _with(open_, _ceiling("2026-03", 2000.0))                           # own class blocks lifted
    m = _run(sc, **{"vendors.compliant_sku_lag": lag, "vendors.compliant_tpp_share": share})
    for vendor, (first, _) in COMPLIANT_SLOTS.items():
        slot = m.pidx[first]
        assert m.launched_at[0, slot] == _t(m, "2026-03") + lag, vendor
        assert m.tpp[0, slot] == pytest.approx(share * 2000.0)           # just under the ceiling
        assert m.us_legal[0, slot] and m.china_specific[slot]
    nv = m.pidx[COMPLIANT_SLOTS["Nvidia"][0]]
    assert m.records.legal("units")[0, :, nv].sum() > 0                 # it sells when China allows it
    # a China class rule on Nvidia's China-specific parts, dated before the launch, covers the new part
    blocked = _run(_with(sc, _class_block("2026-01")), **{"vendors.compliant_sku_lag": lag})
    assert blocked.launched_at[0, nv] == _t(blocked, "2026-03") + lag
    assert blocked.rules.block[0, :, nv].min() == 1.0
    assert blocked.records.legal("units")[0, :, nv].sum() == 0.0


def test_a_ceiling_that_a_china_part_still_meets_needs_no_new_part(to_2027):
    # the H20 (TPP 2,368) is under a 2,400 ceiling but refused by licence from 2025-04 in history; once the
    # licence is granted routinely it answers the rule, and Nvidia adds nothing
    sc = to_2027.with_changes(events={"us-2025-08-h20-licences-granted": {"approval": 1.0}})
    m = _run(_with(sc, _ceiling("2026-03", 2400.0)))
    nv = m.pidx[COMPLIANT_SLOTS["Nvidia"][0]]
    assert m.launched_at[0, nv] >= m.n_months
    amd = m.pidx[COMPLIANT_SLOTS["AMD"][0]]                             # the MI308 (TPP 3,000) does not
    assert m.launched_at[0, amd] < m.n_months


def test_under_an_interconnect_threshold_the_part_keeps_its_compute_and_cuts_the_link(to_2027):
    # a tighter ceiling with an interconnect test, the China parts of the catalogue named as barred
    rule = _ceiling("2026-03", 3000.0, 600.0, ban=("a800", "h800", "h20", "rtx6000d"))
    m = _run(_with(to_2027, rule), **{"vendors.compliant_link_train": 0.7})
    nv = m.pidx[COMPLIANT_SLOTS["Nvidia"][0]]
    assert m.launched_at[0, nv] < m.n_months
    flagship = max(("b200", "b300"), key=lambda x: m.bf16[0, m.pidx[x]])
    f = m.pidx[flagship]
    assert m.bf16[0, nv] == pytest.approx(m.bf16[0, f])
    assert m.train[0, nv] == pytest.approx(0.7 * m.train[0, f])
    assert m.interconnect[0, nv] < 600.0 and m.us_legal[0, nv]


def test_prices_follow_the_prices_paid_then_fall_along_the_path():
    sc = load_scenario("no-controls").with_changes(header={"end": "2028-12"})
    d = 0.2
    m = MarketModel(sc.with_changes(parameters={"prices.decline_annual": d}), seed=1, mesa_collect=False)
    seen: dict[tuple[str, str], float] = {}
    want = [("h20", "2024-04"), ("h20", "2025-05"), ("h20", "2026-05"), ("b200", "2024-12"), ("b200", "2026-12"),
            ("h200", "2024-01"), ("h200", "2025-12"), ("a100", "2022-01"), ("a100", "2028-01")]
    while m.running:
        m.step()
        for pid, month in want:
            if m.months[m.t - 1] == month:
                seen[(pid, month)] = float(m.base_price[0, m.pidx[pid]])
    assert seen[("h20", "2024-04")] == pytest.approx(12500.0)           # SemiAnalysis, 2024
    assert seen[("h20", "2025-05")] == pytest.approx(11000.0)           # Reuters, May 2025
    assert seen[("h20", "2026-05")] == pytest.approx(11000.0 * (1 - d))  # then the learning path
    assert seen[("b200", "2026-12")] == pytest.approx(seen[("b200", "2024-12")] * (1 - d) ** 2)
    assert seen[("h200", "2025-12")] == pytest.approx(20000.0)          # FT, Dec 2025
    assert seen[("h200", "2024-01")] == pytest.approx(32000.0)          # MSRP at launch
    assert seen[("a100", "2028-01")] == seen[("a100", "2022-01")]        # no path: the list price stays


def test_a_compliant_part_is_priced_from_its_flagship_and_its_price_falls(to_2027):
    d = 0.15
    m = MarketModel(_with(to_2027, _ceiling("2026-03", 2000.0)).with_changes(
        parameters={"vendors.compliant_sku_lag": 2, "prices.decline_annual": d}), seed=2, mesa_collect=False)
    nv = m.pidx[COMPLIANT_SLOTS["Nvidia"][0]]
    prices = []
    while m.running:
        m.step()
        if m.launched_at[0, nv] < m.t:
            prices.append(float(m.base_price[0, nv]))
    assert len(prices) > 12
    assert prices[12] == pytest.approx(prices[0] * (1 - d))
    assert np.all(np.diff(prices) < 0)


def test_amd_parts_for_china_share_what_amd_can_make_for_china():
    """AMD's parts for China (the MI308 and the world-market MI300X and later) together sell at most the value AMD
    can make for China each month (supply.amd_china_usd_2024 growing at supply.amd_growth), spread over the parts
    on sale: without US controls (the world parts and the MI308) and in history (the MI308 alone, from its 2024
    launch to the April 2025 rule). Without that supply they would take a share no source reports for AMD."""
    for name, end in (("no-controls", "2026-12"), ("history", "2025-03")):
        sc = load_scenario(name).with_changes(header={"end": end})
        m = _run(sc)
        parts = [m.pidx[x] for x in ("amd_mi308", "amd_mi300x", "amd_mi355x", "amd_mi400", "amd_mi500")]
        assert m.china_supply[parts].all() and m.china_supply.sum() == len(parts)
        rev = m.records.legal("revenue_usd")[0][:, parts].sum(axis=1)   # (months,)
        months = np.arange(len(m.months))
        years = (month_index(m.months[0]) + months - month_index("2024-07")) / 12.0
        p = m.p
        cap = p["supply.amd_china_usd_2024"][0] / 12.0 * (1.0 + p["supply.amd_growth"][0]) ** years
        price_up = 1.0 + p["vendors.markup_max"][0]   # a short product may sell above its base price
        assert (rev <= cap * price_up * (1 + 1e-9)).all(), name
        sold = rev[_t(m, "2024-07"):]
        assert (sold > 0).all(), name
        unlimited = _run(sc, **{"supply.amd_china_usd_2024": 2e10})
        assert unlimited.records.legal("revenue_usd")[0][:, parts].sum() > 1.5 * rev.sum(), name   # it binds
