"""Invariants of whole model runs (sim.model.MarketModel) and of the output table built from them."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from sim import load_scenario, run_scenario
from sim.engine import tables
from sim.engine.runs import annual_shares
from sim.model.ids import (
    AGGREGATES,
    BUYER_METRICS,
    BUYERS,
    DOMESTIC_VENDORS,
    FOREIGN_VENDORS,
    MARKET_METRICS,
    TIER_METRICS,
    TIERS,
    TIMESERIES_COLUMNS,
    VENDOR_METRICS,
    VENDORS,
)
from sim.model.market import retire
from sim.model.market_model import GREY, MarketModel
from sim.model.params import PARAMS

SCENARIOS = ["history", "full-decoupling", "escalation", "us-reopens", "no-controls"]
ADDITIVE = ("units", "compute", "revenue_usd", "levy_usd", "grey_units", "installed_units")
SHARES = {"unit_share": "units", "compute_share": "compute", "value_share": "revenue_usd",
          "installed_share": "installed_units"}


class One:
    """Run 0 of a MarketModel seen as a single run: run-axis arrays without the run axis, parameters as
    scalars, and the recorded product fields as (months, products) arrays."""

    def __init__(self, model: MarketModel):
        self.model = model

    def __getattr__(self, k):
        m = self.__dict__["model"]
        if k.startswith("rec_"):
            name = {"rec_units": "units", "rec_revenue": "revenue_usd", "rec_levy": "levy_usd",
                    "rec_installed": "installed_units"}[k]
            return m.records.field(name)[0]
        v = getattr(m, k)
        if k == "p":
            return {n: x[0].item() for n, x in v.items()}
        if k == "events_applied":
            return v[0]
        if isinstance(v, np.ndarray) and v.ndim >= 1 and v.shape[0] == m.n_runs == 1:
            return v[0]
        return v

    def step(self):
        self.model.step()


def timeseries_frame(m) -> pd.DataFrame:
    model = m.model if isinstance(m, One) else m
    return tables.timeseries(model.records)


@dataclass
class Probe:
    """What a stepped run looked like month by month (arrays are (months, ...))."""
    model: One
    capacity: list = field(default_factory=list)
    delivered: list = field(default_factory=list)
    avail: list = field(default_factory=list)
    installed_before: list = field(default_factory=list)
    installed_after: list = field(default_factory=list)
    stock_before: list = field(default_factory=list)
    stock_after: list = field(default_factory=list)
    opened: list = field(default_factory=list)
    need: list = field(default_factory=list)
    floor: list = field(default_factory=list)
    unmet: list = field(default_factory=list)
    offshore: list = field(default_factory=list)


def probe_run(scenario, seed: int | None = None, **overrides) -> Probe:
    m = One(MarketModel(scenario, seed=seed, **overrides))
    pr = Probe(m)
    while m.model.running:
        inst, stock = m.installed.copy(), m.stock.copy()
        m.step()
        pr.installed_before.append(inst)
        pr.stock_before.append(stock)
        pr.capacity.append(m.capacity.copy())
        pr.delivered.append(m.delivered.copy())
        pr.avail.append(m.avail.copy())
        pr.installed_after.append(m.installed.copy())
        pr.stock_after.append(m.stock.copy())
        pr.opened.append(m.opened.copy())
        pr.need.append(m.need.copy())
        pr.floor.append(np.array(m.floor, dtype=float).copy())
        pr.unmet.append(m.unmet.copy())
        pr.offshore.append(m.offshore_now.copy())
    for k in ("capacity", "delivered", "avail", "installed_before", "installed_after", "stock_before",
              "stock_after", "opened", "need", "unmet", "floor", "offshore"):
        setattr(pr, k, np.array(getattr(pr, k)))
    return pr


@pytest.fixture(scope="module", params=SCENARIOS)
def probe(request) -> Probe:
    return probe_run(request.param)


@pytest.fixture(scope="module")
def history_probe() -> Probe:
    return probe_run("history")


def ts_of(pr: Probe) -> pd.DataFrame:
    return timeseries_frame(pr.model)


def wide(ts: pd.DataFrame, metric: str) -> pd.DataFrame:
    """date x entity table of one metric (one run)."""
    d = ts[ts["metric"] == metric]
    return d.pivot(index="date", columns="entity", values="value")


# ---------------------------------------------------------------- month-by-month invariants


def test_run_covers_every_month_of_the_scenario(probe):
    m = probe.model
    assert len(probe.capacity) == m.n_months == len(m.scenario.months)
    assert not m.running
    before = m.rec_units.copy()
    m.step()  # stepping past the horizon changes nothing
    np.testing.assert_array_equal(m.rec_units, before)
    assert not m.running


def test_deliveries_never_exceed_capacity(probe):
    d = probe.delivered
    assert d.shape[1:3] == (len(BUYERS), len(TIERS) + 1)  # order classes: the tiers plus hoarding
    assert (d >= -1e-9).all()
    per_product = d.sum(axis=(1, 2))  # (months, P)
    excess = per_product - probe.capacity * (1 + 1e-9) - 1e-6
    bad = np.argwhere(excess > 0)
    assert bad.size == 0, [(probe.model.months[t], probe.model.product_ids[p], per_product[t, p],
                            probe.capacity[t, p]) for t, p in bad[:5]]


def test_nothing_is_delivered_that_the_buyer_could_not_buy(probe):
    """A product reaches a buyer only if it is launched, legal, offered and not blocked for that buyer."""
    got = probe.delivered.sum(axis=2) > 1e-9  # (months, B, P)
    bad = np.argwhere(got & ~probe.avail)
    m = probe.model
    assert bad.size == 0, [(m.months[t], BUYERS[b], m.product_ids[p]) for t, b, p in bad[:5]]


def test_installed_base_follows_deliveries_openings_and_retirements(probe):
    m = probe.model
    life = m.p["ageing.lifetime_months"]
    T = len(TIERS)
    to_use = probe.delivered[:, :, :T, :].sum(axis=2)
    expect = probe.installed_before + to_use + probe.opened - retire(probe.installed_before, life)
    np.testing.assert_allclose(probe.installed_after, expect, rtol=1e-9, atol=1e-6)
    assert (probe.installed_after >= -1e-9).all()


def test_stockpile_follows_hoarded_deliveries_and_openings(probe):
    hoarded = probe.delivered[:, :, len(TIERS), :]
    assert (probe.opened <= probe.stock_before + 1e-9).all()
    np.testing.assert_allclose(probe.stock_after, probe.stock_before + hoarded - probe.opened, rtol=1e-9, atol=1e-6)
    assert (probe.stock_after >= -1e-9).all()


def test_served_plus_unmet_is_what_buyers_needed(probe):
    """Compute needed = served by deliveries + served abroad (offshore, training tiers) + unmet."""
    m = probe.model
    T = len(TIERS)
    served = (probe.delivered[:, :, :T, :] * m.perf[None, None]).sum(-1)  # (months, B, T) compute
    assert (probe.need >= -1e-9).all() and (probe.unmet >= -1e-9).all()
    assert (served <= probe.need * (1 + 1e-9) + 1e-6).all()
    np.testing.assert_allclose(served.sum(-1) + probe.unmet.sum(-1) + probe.offshore, probe.need.sum(-1),
                               rtol=1e-9, atol=1e-6)
    inference = ~m.is_training_tier
    np.testing.assert_allclose((served + probe.unmet)[..., inference], probe.need[..., inference], rtol=1e-9, atol=1e-6)


def test_policy_floor_keeps_compute_from_foreign_cards(probe):
    """Mandates and guidance set a floor on the domestic share of a buyer's legal purchase (smuggled cards
    are outside it when ``grey.floor_exempt``); what they keep from foreign cards never spills back to them,
    so legal foreign cards serve at most (1 - floor) of the buyer's legal need: over its whole month when
    ``china.floor_per_buyer``, else in each tier."""
    m = probe.model
    T = len(TIERS)
    g = m.pidx[GREY]
    exempt, per_buyer = bool(m.p["grey.floor_exempt"]), bool(m.p["china.floor_per_buyer"])
    fore = ~m.domestic & (np.arange(len(m.domestic)) != g) if exempt else ~m.domestic
    served = probe.delivered[:, :, :T, :] * m.perf[None, None]
    f_served = served[..., fore].sum(-1)  # (months, B, T)
    legal_need = probe.need - (served[..., g] if exempt else 0.0)
    if per_buyer:
        f_served, legal_need, floor = f_served.sum(-1), legal_need.sum(-1), probe.floor
    else:
        floor = probe.floor[:, :, None]
    bound = (1.0 - floor) * legal_need
    bad = np.argwhere(f_served > bound * (1 + 1e-9) + 1e-6)
    assert bad.size == 0, [(m.months[i[0]], BUYERS[i[1]]) for i in bad[:5]]


def test_state_data_centres_buy_no_foreign_cards_after_the_domestic_only_rule(history_probe):
    m = history_probe.model
    months = np.array(m.months)
    sc = BUYERS.index("StateCompute")
    after = months >= "2025-11"
    assert (history_probe.floor[after, sc] == 1.0).all()
    legal_foreign = ~m.domestic & ~m.virtual  # smuggled cards are outside the floors (grey.floor_exempt)
    assert (history_probe.delivered[after][:, sc][..., legal_foreign] == 0).all()
    assert history_probe.delivered[~after][:, sc][..., ~m.domestic].sum() > 0


def test_recorded_units_are_the_deliveries(probe):
    m = probe.model
    np.testing.assert_allclose(m.rec_units, probe.delivered.sum(axis=(1, 2)), rtol=1e-12, atol=1e-9)
    np.testing.assert_allclose(m.rec_installed, probe.installed_after.sum(axis=1), rtol=1e-12, atol=1e-9)


def test_history_bans_hold_after_their_effective_month(history_probe):
    m = history_probe.model
    months = np.array(m.months)
    units = m.rec_units
    after_oct23 = months >= "2023-11"
    for pid in ("a800", "h800"):
        assert (units[after_oct23, m.pidx[pid]] == 0).all(), pid
    after_aug22 = months >= "2022-09"
    for pid in ("a100", "h100"):
        assert (units[after_aug22, m.pidx[pid]] == 0).all(), pid
    # the A800 and H800 did sell before the rule (so the check above is not vacuous)
    assert units[~after_oct23, m.pidx["a800"]].sum() > 0 and units[~after_oct23, m.pidx["h800"]].sum() > 0
    # grey cards flow in the meantime, and only grey cards of the H100 class
    assert units[:, m.pidx[GREY]].sum() > 0


def test_history_licences_blocks_and_quotas_bind(history_probe):
    m = history_probe.model
    months = np.array(m.months)
    units = m.rec_units
    h20, rtx, h200 = m.pidx["h20"], m.pidx["rtx6000d"], m.pidx["h200"]
    # Apr-2025 licence with approval 0: no H20 until licences start in Aug 2025
    assert (units[(months >= "2025-04") & (months < "2025-08"), h20] == 0).all()
    # Sep-2025 CAC block (strength 1) on H20 and RTX Pro 6000D
    assert (units[months >= "2025-09", h20] == 0).all() and (units[months >= "2025-09", rtx] == 0).all()
    # H200: legal from 2026-01 but blocked by China; only the quota (400k, three named firms) gets through
    by_buyer = history_probe.delivered[:, :, :, h200].sum(axis=2)  # (months, B)
    assert (by_buyer[months < "2026-02"] == 0).all()
    named = [BUYERS.index(b) for b in ("ByteDance", "Alibaba", "Tencent")]
    others = [i for i in range(len(BUYERS)) if i not in named]
    assert (by_buyer[:, others] == 0).all()
    assert 0 < by_buyer.sum() <= 400000 * (1 + 1e-9)


def test_hoarding_happens_between_announcement_and_effective_date(history_probe):
    m = history_probe.model
    T = len(TIERS)
    hoard = history_probe.delivered[:, :, T, :].sum(axis=1)  # (months, P) cards bought for the stockpile
    months = list(m.months)
    oct23 = months.index("2023-10")  # the Oct-2023 rule is announced in 2023-10 and binds from 2023-11
    for pid in ("a800", "h800"):
        assert hoard[oct23, m.pidx[pid]] > 0, pid
        assert (hoard[oct23 + 1:, m.pidx[pid]] == 0).all(), pid
    off = probe_run(m.scenario, seed=m.seed_value, **{"hoarding.strength": 0.0})
    assert (off.delivered[:, :, T, :] == 0).all()
    assert (off.stock_after == 0).all()


def test_levies_are_booked_only_on_levied_products(history_probe):
    m = history_probe.model
    months = np.array(m.months)
    levied = {m.pidx[p] for p in ("h20", "amd_mi308", "h200")}
    others = [i for i in range(len(m.product_ids)) if i not in levied]
    assert (m.rec_levy[:, others] == 0).all()
    assert (m.rec_levy[months < "2025-08"] == 0).all()
    assert (m.rec_levy <= m.rec_revenue + 1e-6).all() and (m.rec_levy >= 0).all()
    h20 = m.pidx["h20"]
    after = months >= "2025-08"
    np.testing.assert_allclose(m.rec_levy[after, h20], 0.15 * m.rec_revenue[after, h20], rtol=1e-12)


def test_reactive_rules_are_off_in_history_and_on_in_escalation(history_probe):
    assert not [e for _, e in history_probe.model.events_applied if "reactive" in e]
    esc = MarketModel("escalation", mesa_collect=False)
    esc.run()
    fired = [e for _, e in esc.events_applied[0] if "reactive" in e]
    assert fired


def test_events_apply_on_their_effective_month(history_probe):
    m = history_probe.model
    applied = {eid: m.months[t] for t, eid in m.events_applied}
    sc = m.scenario
    for ev in sc.events:
        if ev.effective >= sc.header.start:
            assert applied.get(ev.id) == ev.effective, ev.id


# ---------------------------------------------------------------- the output table


def test_timeseries_contract(probe):
    m = probe.model
    ts = ts_of(probe)
    assert list(ts.columns) == list(TIMESERIES_COLUMNS)
    assert ts["run"].dtype == np.int64 and ts["seed"].dtype == np.int64 and ts["value"].dtype == np.float64
    assert pd.api.types.is_datetime64_any_dtype(ts["date"])
    assert pd.api.types.is_string_dtype(ts["entity"]) and pd.api.types.is_string_dtype(ts["metric"])
    assert (ts["seed"] == m.seed_value).all()
    assert not ts.duplicated(["run", "seed", "date", "entity", "metric"]).any()
    dates = pd.DatetimeIndex(ts["date"].unique())
    assert (dates.day == 1).all()
    assert list(dates.strftime("%Y-%m")) == m.scenario.months
    expected = ({(e, k) for e in VENDORS + AGGREGATES for k in VENDOR_METRICS}
                | {(b, k) for b in BUYERS for k in BUYER_METRICS}
                | {(t, k) for t in TIERS for k in TIER_METRICS}
                | {("Total", k) for k in MARKET_METRICS})
    got = set(zip(ts["entity"], ts["metric"]))
    assert got == expected
    assert len(ts) == len(expected) * m.n_months


def test_no_nan_or_infinity_anywhere(probe):
    ts = ts_of(probe)
    bad = ts[~np.isfinite(ts["value"])]
    assert bad.empty, bad.head().to_string()


def test_vendor_shares_sum_to_one(probe):
    ts = ts_of(probe)
    for share, base in SHARES.items():
        s = wide(ts, share)
        tot = wide(ts, base)["Total"]
        pos = tot > 0
        assert pos.any()
        np.testing.assert_allclose(s.loc[pos, list(VENDORS)].sum(axis=1), 1.0, rtol=0, atol=1e-9, err_msg=share)
        np.testing.assert_allclose(s.loc[pos, "Total"], 1.0, atol=1e-12, err_msg=share)
        np.testing.assert_allclose(s.loc[pos, "Domestic"] + s.loc[pos, "Foreign"], 1.0, atol=1e-9, err_msg=share)
        assert ((s >= -1e-12) & (s <= 1 + 1e-9)).all().all(), share
        # a share is its base over the Total's base
        b = wide(ts, base)
        np.testing.assert_allclose(s.loc[pos, list(VENDORS)], b.loc[pos, list(VENDORS)].div(tot[pos], axis=0),
                                   rtol=1e-9, atol=1e-12, err_msg=share)


def test_domestic_plus_foreign_is_total_for_additive_metrics(probe):
    ts = ts_of(probe)
    for metric in ADDITIVE:
        w = wide(ts, metric)
        scale = max(float(w["Total"].abs().max()), 1.0)
        np.testing.assert_allclose(w["Domestic"] + w["Foreign"], w["Total"], rtol=1e-9, atol=1e-9 * scale,
                                   err_msg=metric)
        np.testing.assert_allclose(w[list(DOMESTIC_VENDORS)].sum(axis=1), w["Domestic"], rtol=1e-9,
                                   atol=1e-9 * scale, err_msg=metric)
        np.testing.assert_allclose(w[list(FOREIGN_VENDORS)].sum(axis=1), w["Foreign"], rtol=1e-9,
                                   atol=1e-9 * scale, err_msg=metric)
        assert (w >= -1e-9 * scale).all().all(), metric


def test_grey_cards_never_count_as_legal_units(probe):
    m = probe.model
    ts = ts_of(probe)
    g = m.pidx[GREY]
    legal = m.rec_units.copy()
    legal[:, g] = 0.0
    units = wide(ts, "units")
    np.testing.assert_allclose(units["Total"].to_numpy(), legal.sum(axis=1), rtol=1e-12, atol=1e-9)
    nv = [i for i, pid in enumerate(m.product_ids) if m.vendor_of[i] == 0 and i != g]
    np.testing.assert_allclose(units["Nvidia"].to_numpy(), m.rec_units[:, nv].sum(axis=1), rtol=1e-12, atol=1e-9)
    grey = wide(ts, "grey_units")
    np.testing.assert_allclose(grey["Nvidia"].to_numpy(), m.rec_units[:, g], rtol=1e-12)
    np.testing.assert_allclose(grey["Total"].to_numpy(), m.rec_units[:, g], rtol=1e-12)
    assert (grey["Domestic"] == 0).all()
    assert (grey[[v for v in VENDORS if v != "Nvidia"]] == 0).all().all()
    # nor in the installed units (grey cards are installed, but in nobody's legal figures)
    inst = m.rec_installed.copy()
    inst[:, g] = 0.0
    np.testing.assert_allclose(wide(ts, "installed_units")["Total"].to_numpy(), inst.sum(axis=1), rtol=1e-12,
                               atol=1e-6)


def test_compute_is_units_on_the_declared_basis(probe):
    m = probe.model
    ts = ts_of(probe)
    g = m.pidx[GREY]
    legal = m.rec_units.copy()
    legal[:, g] = 0.0
    np.testing.assert_allclose(wide(ts, "compute")["Total"].to_numpy(), legal @ m.bf16, rtol=1e-12, atol=1e-6)


def test_buyer_and_tier_metrics_match_the_model_state(probe):
    m = probe.model
    ts = ts_of(probe)
    T = len(TIERS)
    np.testing.assert_allclose(wide(ts, "stockpile_units")[list(BUYERS)].to_numpy(), probe.stock_after.sum(-1),
                               rtol=1e-12, atol=1e-9)
    np.testing.assert_allclose(wide(ts, "unmet_compute")[list(BUYERS)].to_numpy(), probe.unmet.sum(-1),
                               rtol=1e-12, atol=1e-9)
    served = (probe.delivered[:, :, :T, :] * m.perf[None, None]).sum(-1)  # (months, B, T)
    np.testing.assert_allclose(wide(ts, "compute")[list(TIERS)].to_numpy(), served.sum(axis=1), rtol=1e-9,
                               atol=1e-6)
    gap = wide(ts, "compute_gap")["Total"]
    assert (gap <= 1.0).all()


def test_buyer_and_tier_metrics_are_in_range(probe):
    ts = ts_of(probe)
    for metric in ("domestic_fraction", "service_level"):
        v = ts.loc[ts["metric"] == metric, "value"]
        assert ((v >= 0) & (v <= 1 + 1e-12)).all(), metric
    for metric in ("demand_compute", "installed_compute", "unmet_compute", "stockpile_units", "compute"):
        v = ts.loc[(ts["metric"] == metric), "value"]
        assert (v >= -1e-9).all(), metric
    pi = ts.loc[ts["metric"] == "price_index", "value"]
    assert (pi > 0).all()


def test_annual_figures_are_ratios_of_annual_sums(history_probe):
    ts = ts_of(history_probe)
    for share, base in (("unit_share", "units"), ("value_share", "revenue_usd"), ("compute_share", "compute")):
        got = annual_shares(ts, share, ("Nvidia", "Huawei", "Domestic"))
        w = wide(ts, base)
        sums = w.groupby(w.index.year).sum()
        expect = sums[["Nvidia", "Huawei", "Domestic"]].div(sums["Total"], axis=0)
        np.testing.assert_allclose(got.to_numpy(), expect.to_numpy(), rtol=1e-12, err_msg=share)
        assert list(got.index) == list(range(2022, 2031))
    # ... which is not the mean of the monthly shares (the check above would not catch that otherwise)
    monthly = wide(ts, "unit_share")
    mean_of_shares = monthly["Nvidia"].groupby(monthly.index.year).mean()
    got = annual_shares(ts, "unit_share", ("Nvidia",))["Nvidia"]
    assert not np.allclose(got.to_numpy(), mean_of_shares.to_numpy(), rtol=1e-6)


def test_annual_shares_average_over_runs():
    res = run_scenario(load_scenario("history").with_changes(header={"end": "2023-12"}), seeds=2)
    ts = res.timeseries
    per_run = [annual_shares(ts[ts["run"] == r], "unit_share", ("Nvidia",)) for r in (0, 1)]
    np.testing.assert_allclose(annual_shares(ts, "unit_share", ("Nvidia",)).to_numpy(),
                               (per_run[0].to_numpy() + per_run[1].to_numpy()) / 2, rtol=1e-12)


# ---------------------------------------------------------------- acceptance and determinism


def test_history_nvidia_share_falls_after_the_october_2023_rule():
    res = run_scenario("history", seeds=5)
    assert res.timeseries["run"].nunique() == 5
    nv = res.annual("unit_share")["Nvidia"]
    assert nv.loc[2022] >= 0.80, nv.to_dict()
    assert nv.loc[2024] < nv.loc[2023], nv.to_dict()


def test_same_seed_same_run_different_seed_different_run(short_history):
    a = MarketModel(short_history, seed=7)
    a.run()
    b = MarketModel(short_history, seed=7)
    b.run()
    c = MarketModel(short_history, seed=8)
    c.run()
    for name in ("product", "hoard", "buyer", "tier", "market", "made", "deliveries"):
        np.testing.assert_array_equal(getattr(a.records, name), getattr(b.records, name), err_msg=name)
    assert not np.array_equal(a.records.product, c.records.product)
    pd.testing.assert_frame_equal(timeseries_frame(a), timeseries_frame(b))


def test_trace_and_mesa_collection_do_not_change_the_run(short_history):
    a = MarketModel(short_history, seed=11, trace=True)
    a.run()
    b = MarketModel(short_history, seed=11, trace=False, mesa_collect=False)
    b.run()
    pd.testing.assert_frame_equal(timeseries_frame(a), timeseries_frame(b), check_exact=True)


@pytest.mark.parametrize("start, end", [("2024-01", "2024-06"), ("2023-10", "2023-10"), ("2029-06", "2030-12")])
def test_other_horizons_run_cleanly(start, end):
    sc = load_scenario("history").with_changes(header={"start": start, "end": end})
    pr = probe_run(sc, seed=3)
    assert len(pr.capacity) == len(sc.months)
    ts = ts_of(pr)
    assert np.isfinite(ts["value"]).all()
    assert pd.DatetimeIndex(ts["date"].unique()).strftime("%Y-%m").tolist() == sc.months
    assert (pr.delivered.sum(axis=(1, 2)) <= pr.capacity * (1 + 1e-9) + 1e-6).all()


@pytest.mark.parametrize("level", [0.5, 1.0])
def test_grey_enforcement_parameter_scales_the_grey_market(short_history, level):
    """grey.enforcement is the documented baseline enforcement: grey capacity is scaled by 1 - enforcement."""
    pr = probe_run(short_history, seed=1, **{"grey.enforcement": level, "grey.responsive": False})
    m = pr.model
    g = m.pidx[GREY]
    cap = m.p["grey.per_year"] / 12.0 * (1.0 - level)
    assert (pr.capacity[:, g] <= cap * (1 + 1e-9) + 1e-9).all(), pr.capacity[:, g].max()
    assert (m.rec_units[:, g] <= cap * (1 + 1e-9) + 1e-9).all()
    base = probe_run(short_history, seed=1, **{"grey.responsive": False})
    assert base.model.rec_units[:, g].sum() > m.rec_units[:, g].sum()


def test_default_seed_is_replicate_zero_of_the_master_seed(short_history):
    from sim.model.seeds import derive_seed

    m = MarketModel(short_history)
    assert m.seed_value == derive_seed(short_history.header.seed, 0)


def test_parameter_overrides_reach_the_model(short_history):
    m = MarketModel(short_history, seed=1, **{"hoarding.strength": 0.0})
    assert m.p["hoarding.strength"] == 0.0
    m.run()
    n = MarketModel(short_history, seed=1, **{"hoarding.strength": 4.0})
    n.run()
    assert n.stock.sum() > m.stock.sum()


# ---------------------------------------------------------------- random parameters within their bounds

FLOAT_PARAMS = sorted(n for n, p in PARAMS.items() if p.kind == "float" and not n.startswith("products.")
                      and n not in ("choice.nest_vendor", "choice.nest_product"))


@st.composite
def parameter_sets(draw):
    names = draw(st.lists(st.sampled_from(FLOAT_PARAMS), min_size=1, max_size=8, unique=True))
    out = {}
    for n in names:
        p = PARAMS[n]
        out[n] = draw(st.one_of(st.sampled_from([float(p.lo), float(p.hi)]),
                                  st.floats(float(p.lo), float(p.hi), allow_subnormal=False)))
    lv = draw(st.floats(0.05, 1.0))
    out["choice.nest_vendor"] = lv
    out["choice.nest_product"] = draw(st.floats(0.05, lv))
    return out


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(parameter_sets(), st.integers(0, 2**32 - 1))
@example(params={"ageing.lifetime_months": 12.0, "anticipation.class_weight": 0.0, "anticipation.decay": 0.0,
                 "grey.premium": 0.0, "grey.premium_elasticity": 0.0, "grey.shortage_ref": 0.01,
                 "grey.per_year": 7.656009427726354e-291, "choice.nest_vendor": 1.0, "choice.nest_product": 1.0},
         seed=0)   # a vanishing grey capacity once overflowed the price response's orders / capacity
def test_invariants_hold_for_any_parameters_within_bounds(params, seed):
    sc = load_scenario("history").with_changes(header={"end": "2024-06"}, parameters=params)
    pr = probe_run(sc, seed=seed)
    per_product = pr.delivered.sum(axis=(1, 2))
    assert (per_product <= pr.capacity * (1 + 1e-9) + 1e-6).all()
    assert (pr.delivered >= -1e-9).all()
    assert not (pr.delivered.sum(axis=2) > 1e-9)[~pr.avail].any()
    ts = ts_of(pr)
    assert np.isfinite(ts["value"]).all(), ts[~np.isfinite(ts["value"])].head().to_string()
    s = wide(ts, "unit_share")
    pos = wide(ts, "units")["Total"] > 0
    np.testing.assert_allclose(s.loc[pos, list(VENDORS)].sum(axis=1), 1.0, atol=1e-9)


def test_carried_capex_finances_more_buying_ahead_and_zero_changes_nothing():
    """demand.capex_carry_months: unspent budget carried forward. 0 (the default) leaves every result as it
    was; carrying budget forward never reduces what buyers pull forward (monthly windows, so every month
    ends a window and carrying can matter)."""
    from sim.engine.batch import Job, run_batch

    sc = load_scenario("history").with_changes(header={"end": "2024-06"},
                                                parameters={"hoarding.strength": 6.0,
                                                            "demand.capex_window_months": 1})
    carry = sc.with_changes(parameters={"demand.capex_carry_months": 12.0})
    zero = sc.with_changes(parameters={"demand.capex_carry_months": 0.0})
    rec = run_batch([Job(sc, 1, 0), Job(zero, 1, 1), Job(carry, 1, 2)], details=())
    np.testing.assert_array_equal(rec.product[0], rec.product[1])
    assert rec.hoard[2].sum() >= rec.hoard[0].sum() - 1e-6
    assert rec.hoard[2].sum() > rec.hoard[0].sum() * 1.01


def test_expected_rules_put_parts_near_the_ceiling_at_risk_only_when_switched_on():
    """anticipation.class_weight: while buyers expect more controls, legal foreign parts near the US ceiling
    (the class the next rule would catch) are at risk before any rule naming them is announced."""
    base = load_scenario("history").with_changes(header={"end": "2024-12"})   # before the H20 rule is known
    mults = {}
    for w in (0.0, 1.0):
        m = MarketModel(base.with_changes(parameters={"anticipation.class_weight": w}), seed=1, mesa_collect=False)
        m.run_model()
        mults[w] = m.hoard_mult[0, :, [m.pidx["h20"], m.pidx["a100"]]]
    h20_0, a100_0 = mults[0.0]
    h20_1, a100_1 = mults[1.0]
    assert (h20_1 > h20_0 + 1.0).all()              # the H20 (about half the ceiling) becomes a hoarding target
    np.testing.assert_allclose(a100_1, a100_0)       # an illegal part is not


def test_without_us_controls_nvidia_keeps_three_quarters_of_the_value_through_2027():
    """MODEL.md 9.3: with no US rule (and so none of China's responses to them) Nvidia stays dominant; with
    China's measures kept on their own dates (``china.reacts_to_us`` off) its 2025 value share falls far below."""
    from sim.engine import ensemble as E

    sc = load_scenario("no-controls").with_changes(header={"end": "2027-12"})
    share = E.annual(E.run_ensemble(sc, 4), "value_share", ("Nvidia",))["Nvidia"]
    assert (share.loc[2022:2027] >= 0.75).all(), share
    kept = sc.with_changes(parameters={"china.reacts_to_us": False})
    share_kept = E.annual(E.run_ensemble(kept, 4), "value_share", ("Nvidia",))["Nvidia"]
    assert share_kept.loc[2025] < share.loc[2025] - 0.2
