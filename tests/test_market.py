"""Property-based tests of the pure market maths in sim/model/market.py under extreme inputs."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from sim.model import market

SETTINGS = settings(max_examples=150, deadline=None,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.filter_too_much])
TOL = 1e-9

# ---------------------------------------------------------------- strategies

huge_or_tiny = st.one_of(
    st.floats(-1e9, 1e9, allow_nan=False),
    st.sampled_from([0.0, 1e-300, -1e-300, 5e-324, 1e9, -1e9, 700.0, -700.0, 1e6, -1e6]),
)
lambdas = st.floats(0.05, 1.0).flatmap(lambda lv: st.tuples(st.just(lv), st.floats(0.05, lv)))


@st.composite
def logit_inputs(draw, util_elems=huge_or_tiny, min_p=1, max_p=8, rows=3):
    n_v = draw(st.integers(1, 5))
    n_p = draw(st.integers(min_p, max_p))
    vendor_of = draw(hnp.arrays(np.int64, n_p, elements=st.integers(0, n_v - 1)))
    origin_of_vendor = draw(hnp.arrays(np.int64, n_v, elements=st.integers(0, 1)))
    util = draw(hnp.arrays(np.float64, (rows, n_p), elements=util_elems))
    avail = draw(hnp.arrays(np.bool_, (rows, n_p)))
    lv, lp = draw(lambdas)
    return util, avail, vendor_of, origin_of_vendor, n_v, lv, lp


def _vendor_share(p, vendor_of, v):
    return p[..., vendor_of == v].sum(axis=-1)


# ---------------------------------------------------------------- nested_logit


@SETTINGS
@given(logit_inputs())
def test_nested_logit_probabilities_are_a_distribution_over_available_products(args):
    util, avail, vendor_of, origin_of_vendor, n_v, lv, lp = args
    p, p_o, within = market.nested_logit(util, avail, vendor_of, origin_of_vendor, n_v, lv, lp)
    assert p.shape == util.shape and within.shape == util.shape and p_o.shape == util.shape[:-1] + (2,)
    for arr in (p, p_o, within):
        assert np.isfinite(arr).all()
        assert (arr >= 0).all() and (arr <= 1 + TOL).all()
    assert (p[~avail] == 0).all() and (within[~avail] == 0).all()
    any_avail = avail.any(axis=-1)
    np.testing.assert_allclose(p.sum(axis=-1)[any_avail], 1.0, rtol=0, atol=1e-9)
    np.testing.assert_allclose(p_o.sum(axis=-1)[any_avail], 1.0, rtol=0, atol=1e-9)
    assert (p.sum(axis=-1)[~any_avail] == 0).all() and (p_o.sum(axis=-1)[~any_avail] == 0).all()


@SETTINGS
@given(logit_inputs())
def test_nested_logit_origin_shares_are_consistent_with_product_shares(args):
    util, avail, vendor_of, origin_of_vendor, n_v, lv, lp = args
    p, p_o, within = market.nested_logit(util, avail, vendor_of, origin_of_vendor, n_v, lv, lp)
    origin_of_product = origin_of_vendor[vendor_of]
    for o in (0, 1):
        in_o = origin_of_product == o
        np.testing.assert_allclose(p[:, in_o].sum(axis=-1), p_o[:, o], rtol=0, atol=1e-9)
        has = (avail & in_o).any(axis=-1)
        # an origin with nothing available gets nothing
        assert (p_o[~has, o] == 0).all()
        # within-origin probabilities sum to one wherever the origin is chosen at all
        chosen = p_o[:, o] > 0
        np.testing.assert_allclose(within[:, in_o].sum(axis=-1)[chosen], 1.0, rtol=0, atol=1e-9)
    np.testing.assert_allclose(p, within * np.take_along_axis(p_o, np.broadcast_to(origin_of_product, p.shape), -1),
                               rtol=0, atol=1e-12)


@SETTINGS
@given(logit_inputs(util_elems=st.floats(-30, 30)), st.booleans())
def test_nested_logit_ignores_garbage_utilities_of_unavailable_products(args, use_nan):
    util, avail, vendor_of, origin_of_vendor, n_v, lv, lp = args
    bad = util.copy()
    bad[~avail] = np.nan if use_nan else 1e300
    a = market.nested_logit(util, avail, vendor_of, origin_of_vendor, n_v, lv, lp)
    b = market.nested_logit(bad, avail, vendor_of, origin_of_vendor, n_v, lv, lp)
    for x, y in zip(a, b):
        np.testing.assert_array_equal(x, y)


@SETTINGS
@given(hnp.arrays(np.float64, (2, 6), elements=st.floats(-50, 50)), hnp.arrays(np.bool_, (2, 6)))
def test_nested_logit_with_unit_lambdas_is_plain_logit(util, avail):
    vendor_of = np.array([0, 0, 1, 2, 2, 3])
    origin_of_vendor = np.array([0, 1, 1, 0])
    p, _, _ = market.nested_logit(util, avail, vendor_of, origin_of_vendor, 4, 1.0, 1.0)
    u = np.where(avail, util, -np.inf)
    m = np.max(u, axis=-1, keepdims=True)
    e = np.where(avail, np.exp(u - np.where(np.isfinite(m), m, 0.0)), 0.0)
    s = e.sum(-1, keepdims=True)
    expect = np.divide(e, s, out=np.zeros_like(e), where=s > 0)
    np.testing.assert_allclose(p, expect, rtol=1e-9, atol=1e-12)


@pytest.mark.parametrize("lv, lp", [(0.5, 0.7), (1.2, 0.5), (0.7, 0.0), (0.7, -0.1)])
def test_nested_logit_rejects_invalid_nesting_parameters(lv, lp):
    with pytest.raises(ValueError):
        market.nested_logit(np.zeros(2), np.ones(2, bool), np.array([0, 1]), np.array([0, 1]), 2, lv, lp)


@st.composite
def duplicate_case(draw):
    n_v = draw(st.integers(2, 4))
    n_p = draw(st.integers(2, 6))
    vendor_of = draw(hnp.arrays(np.int64, n_p, elements=st.integers(0, n_v - 1)))
    origin_of_vendor = draw(hnp.arrays(np.int64, n_v, elements=st.integers(0, 1)))
    util = draw(hnp.arrays(np.float64, n_p, elements=st.floats(-4, 4)))
    j = draw(st.integers(0, n_p - 1))
    lv, lp = draw(lambdas)
    return util, vendor_of, origin_of_vendor, n_v, j, lv, lp


@SETTINGS
@given(duplicate_case())
def test_duplicate_product_raises_its_vendor_share_only_as_nesting_allows(case):
    util, vendor_of, origin_of_vendor, n_v, j, lv, lp = case
    n = len(util)
    avail = np.ones(n, bool)
    p, p_o, within = market.nested_logit(util, avail, vendor_of, origin_of_vendor, n_v, lv, lp)
    util2 = np.append(util, util[j])
    vendor2 = np.append(vendor_of, vendor_of[j])
    p2, p_o2, within2 = market.nested_logit(util2, np.ones(n + 1, bool), vendor2, origin_of_vendor, n_v, lv, lp)
    v = vendor_of[j]
    o = origin_of_vendor[v]
    r = 2.0 ** (lp / lv)  # the most a perfect copy can multiply its vendor's inclusive weight by
    share, share2 = _vendor_share(p, vendor_of, v), _vendor_share(p2, vendor2, v)
    # the vendor's overall share grows, but by no more than the nest allows (never doubles unless lp == lv == 1)
    assert share2 >= share - TOL
    assert share2 <= r * share * (1 + 1e-9) + TOL
    # within its origin, the vendor's odds are multiplied by exactly (1 + q)^(lp/lv) <= r, where q is the
    # cloned product's share within its vendor
    in_o = origin_of_vendor[vendor_of] == o
    s_in = share / p_o[o]
    s_in2 = share2 / p_o2[o]
    q = p[j] / share
    if 1e-9 < s_in < 1 - 1e-9:
        np.testing.assert_allclose(s_in2 / (1 - s_in2), (1 + q) ** (lp / lv) * s_in / (1 - s_in), rtol=1e-6)
    else:
        assert s_in2 == pytest.approx(s_in, abs=1e-9)
    # the original and its copy split the original's within-vendor weight equally
    assert p2[j] == pytest.approx(p2[-1], rel=1e-12, abs=1e-15)
    # IIA: ratios among products of other vendors (same or other origin) are unchanged
    others = np.flatnonzero(vendor_of != v)
    for a in others:
        for b in others:
            if p[b] > 1e-12 and p2[b] > 1e-12 and (origin_of_vendor[vendor_of[a]] == origin_of_vendor[vendor_of[b]]):
                assert p2[a] / p2[b] == pytest.approx(p[a] / p[b], rel=1e-9)
    # and products of the other origin keep their within-origin split
    other_o = ~in_o
    np.testing.assert_allclose(within2[:n][other_o], within[other_o], rtol=1e-9, atol=1e-15)


def test_duplicate_with_strong_nesting_barely_moves_vendor_share():
    """lam_product -> 0.05 (products are near-perfect substitutes): a clone adds almost nothing."""
    util = np.zeros(3)
    vendor_of = np.array([0, 1, 2])
    origin = np.array([0, 0, 1])
    p, *_ = market.nested_logit(util, np.ones(3, bool), vendor_of, origin, 3, 1.0, 0.05)
    p2, *_ = market.nested_logit(np.zeros(4), np.ones(4, bool), np.array([0, 1, 2, 0]), origin, 3, 1.0, 0.05)
    assert p2[[0, 3]].sum() / p[0] == pytest.approx(2 ** 0.05, rel=0.2)
    assert p2[[0, 3]].sum() < 1.05 * p[0]


# ---------------------------------------------------------------- bound_origin_shares


@SETTINGS
@given(st.integers(1, 6).flatmap(lambda n: st.tuples(
    hnp.arrays(np.float64, (n, 2), elements=st.floats(0, 1e6)),
    hnp.arrays(np.float64, n, elements=st.floats(0, 1)),
    hnp.arrays(np.float64, n, elements=st.floats(0, 1)))))
def test_bound_origin_shares_respects_floor_and_cap_and_preserves_totals(args):
    p_o, floor, cap = args
    out = market.bound_origin_shares(p_o, floor, cap)
    assert out.shape == p_o.shape
    total = p_o.sum(-1)
    np.testing.assert_allclose(out.sum(-1), total, rtol=1e-12, atol=1e-9)
    assert (out >= 0).all()
    tol = 1e-9 * np.maximum(total, 1.0)
    assert (out[:, 0] <= cap * total + tol).all()  # cap on the foreign nest
    assert (out[:, 1] >= floor * total - tol).all()  # floor on the domestic nest
    assert (out[:, 0] <= p_o[:, 0] + tol).all()  # never gives foreign more than it chose
    ok = (p_o[:, 0] <= cap * total) & (p_o[:, 1] >= floor * total)
    assert (np.abs(out[ok] - p_o[ok]) <= tol[ok, None]).all()  # within bounds: unchanged (up to rounding)


def test_bound_origin_shares_broadcasts_over_buyers_and_tiers():
    p_o = np.array([[[0.9, 0.1], [0.4, 0.6]], [[1.0, 0.0], [0.0, 1.0]]])  # (B=2, T=2, 2)
    floor = np.array([[0.5], [1.0]])
    out = market.bound_origin_shares(p_o, floor, np.ones((2, 1)))
    np.testing.assert_allclose(out, [[[0.5, 0.5], [0.4, 0.6]], [[0.0, 1.0], [0.0, 1.0]]])


# ---------------------------------------------------------------- cover_in_priority


@SETTINGS
@given(st.integers(1, 5).flatmap(lambda t: st.tuples(
    hnp.arrays(np.float64, (3, t), elements=st.floats(0, 1e9)),
    hnp.arrays(np.float64, 3, elements=st.one_of(st.floats(0, 4e9), st.just(0.0))))))
def test_cover_in_priority_serves_first_tier_first_and_never_exceeds_need_or_supply(args):
    need, supply = args
    cover = market.cover_in_priority(need, supply)
    assert cover.shape == need.shape
    tol = 1e-6 * np.maximum(need.sum(-1, keepdims=True), 1.0)
    assert (cover >= 0).all()
    assert (cover <= need + tol).all()
    np.testing.assert_allclose(cover.sum(-1), np.minimum(supply, need.sum(-1)), rtol=1e-9, atol=1e-6)
    # a later tier gets anything only when every earlier tier is fully covered
    for b in range(need.shape[0]):
        for k in range(need.shape[1]):
            if cover[b, k] < need[b, k] - tol[b, 0]:
                assert (cover[b, k + 1:] <= tol[b, 0]).all()


def test_cover_in_priority_example():
    cover = market.cover_in_priority(np.array([[2.0, 3.0, 4.0]]), np.array([4.0]))
    np.testing.assert_allclose(cover, [[2.0, 2.0, 0.0]])


# ---------------------------------------------------------------- clear_market


@st.composite
def clearing_case(draw, with_within=True, locked=True):
    n_b = draw(st.integers(1, 3))
    n_k = draw(st.integers(1, 3))
    n_p = draw(st.integers(2, 6))
    amounts = st.one_of(st.just(0.0), st.floats(0, 1e4), st.floats(0, 1e-6))
    orders = draw(hnp.arrays(np.float64, (n_b, n_k, n_p), elements=amounts))
    capacity = draw(hnp.arrays(np.float64, n_p, elements=st.one_of(st.just(0.0), st.floats(0, 2e4))))
    owner = draw(hnp.arrays(np.bool_, (n_b, n_p), elements=st.booleans()))
    origin = draw(hnp.arrays(np.int64, n_p, elements=st.integers(0, 1)))
    perf = draw(hnp.arrays(np.float64, (n_k, n_p), elements=st.floats(0.01, 5.0)))
    if with_within:
        raw = draw(hnp.arrays(np.float64, (n_b, n_k, n_p), elements=st.one_of(st.just(0.0), st.floats(0.01, 1))))
        zero_rows = draw(hnp.arrays(np.bool_, (n_b, n_k)))
        raw[zero_rows] = 0.0
        within = np.zeros_like(raw)
        for o in (0, 1):
            m = origin == o
            s = raw[..., m].sum(-1, keepdims=True)
            within[..., m] = np.divide(raw[..., m], s, out=np.zeros_like(raw[..., m]), where=s > 0)
    else:
        within = np.zeros((n_b, n_k, n_p))
    lock = draw(hnp.arrays(np.float64, (n_b, n_k), elements=st.floats(0, 1e5))) if locked else None
    return orders, capacity, owner, within, origin, perf, lock


def _clear(case):
    orders, capacity, owner, within, origin, perf, lock = case
    return market.clear_market(orders, capacity, owner, within, origin, perf, lock)


@SETTINGS
@given(clearing_case())
def test_clear_market_respects_capacity_and_conserves_compute(case):
    orders, capacity, owner, within, origin, perf, lock = case
    delivered, unmet = _clear(case)
    assert delivered.shape == orders.shape and unmet.shape == orders.shape[:2]
    assert np.isfinite(delivered).all() and np.isfinite(unmet).all()
    assert (delivered >= -TOL).all()
    assert (unmet >= 0).all()
    # never more cards of a product than its capacity
    assert (delivered.sum(axis=(0, 1)) <= capacity * (1 + 1e-9) + 1e-9).all()
    wanted = (orders * perf).sum(-1)
    served = (delivered * perf).sum(-1)
    # spill-over re-orders only what was missed: never more compute than ordered, per buyer and class
    assert (served <= wanted * (1 + 1e-9) + 1e-9).all()
    np.testing.assert_allclose(served + unmet, wanted, rtol=1e-9, atol=1e-6)


@SETTINGS
@given(clearing_case())
def test_clear_market_with_ample_capacity_delivers_exactly_the_orders(case):
    orders, capacity, owner, within, origin, perf, lock = case
    ample = np.maximum(capacity, orders.sum(axis=(0, 1)) * 1.01 + 1.0)
    delivered, unmet = market.clear_market(orders, ample, owner, within, origin, perf, lock)
    np.testing.assert_allclose(delivered, orders, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(unmet, 0.0, atol=1e-6)


@SETTINGS
@given(clearing_case())
def test_clear_market_serves_owners_first_on_captive_capacity(case):
    orders, capacity, owner, within, origin, perf, lock = case
    delivered, _ = _clear(case)
    own = owner[:, None, :]
    own_orders = (orders * own).sum(axis=(0, 1))
    for p in range(orders.shape[2]):
        if not owner[:, p].any():
            continue
        if own_orders[p] <= capacity[p]:
            # every owner order for its own product is served in full
            o = own[:, :, p]
            assert (delivered[:, :, p][np.broadcast_to(o, o.shape[:1] + (orders.shape[1],))]
                    >= orders[:, :, p][np.broadcast_to(o, o.shape[:1] + (orders.shape[1],))] * (1 - 1e-9) - 1e-9).all()
        else:
            # owners take the whole capacity: nobody else gets a card of it
            others = ~owner[:, p]
            assert (delivered[others, :, p] <= 1e-9).all()
            assert delivered[:, :, p].sum() == pytest.approx(capacity[p], rel=1e-9, abs=1e-9)


@SETTINGS
@given(clearing_case(with_within=False))
def test_clear_market_rations_proportionally_without_spill(case):
    orders, capacity, owner, within, origin, perf, lock = case
    delivered, _ = _clear(case)
    # zero spill rows: nothing moves to other products, and non-owner orders of a product share one fill ratio
    assert (delivered <= orders * (1 + 1e-12) + 1e-12).all()
    for p in range(orders.shape[2]):
        non_owner = ~np.broadcast_to(owner[:, None, p], orders.shape[:2])
        o, d = orders[..., p][non_owner], delivered[..., p][non_owner]
        big = o > 1e-3
        if big.sum() >= 2:
            ratio = d[big] / o[big]
            assert np.ptp(ratio) <= 1e-9


@SETTINGS
@given(clearing_case())
def test_clear_market_spills_only_into_products_the_buyer_would_choose(case):
    orders, capacity, owner, within, origin, perf, lock = case
    delivered, _ = _clear(case)
    extra = delivered > orders * (1 + 1e-9) + 1e-9
    assert (within[extra] > 0).all()


@SETTINGS
@given(clearing_case())
def test_clear_market_never_moves_locked_domestic_compute_to_foreign_products(case):
    orders, capacity, owner, within, origin, perf, lock = case
    delivered, _ = _clear(case)
    dom = origin.astype(bool)
    f_served = (delivered * perf)[..., ~dom].sum(-1)
    f_ordered = (orders * perf)[..., ~dom].sum(-1)
    d_ordered = (orders * perf)[..., dom].sum(-1)
    # foreign products get at most their own orders plus the unlocked part of the domestic orders
    assert (f_served <= f_ordered + np.maximum(d_ordered - lock, 0.0) + 1e-6 * (1 + d_ordered + f_ordered)).all()
    # with everything locked, foreign products never receive domestic spill at all
    full_lock = d_ordered + f_ordered + 1.0
    delivered2, _ = market.clear_market(orders, capacity, owner, within, origin, perf, full_lock)
    f_served2 = (delivered2 * perf)[..., ~dom].sum(-1)
    assert (f_served2 <= f_ordered * (1 + 1e-9) + 1e-9).all()


def _spill_example(cap, locked=None, order_on=0):
    """One buyer, one class: foreign A, foreign B, domestic C (perf 1, 2, 0.5)."""
    orders = np.zeros((1, 1, 3))
    orders[0, 0, order_on] = 10.0
    within = np.array([[[0.5, 0.5, 1.0]]])
    perf = np.array([[1.0, 2.0, 0.5]])
    return market.clear_market(orders, np.array(cap, float), np.zeros((1, 3), bool), within, np.array([0, 0, 1]),
                               perf, locked)


def test_clear_market_spills_within_origin_before_crossing():
    d, unmet = _spill_example([4.0, 100.0, 100.0])
    # 6 cards x 1.0 missed on A -> 6 compute from B (3 cards at 2.0); nothing from C
    np.testing.assert_allclose(d[0, 0], [4.0, 3.0, 0.0])
    np.testing.assert_allclose(unmet, 0.0, atol=1e-12)
    d, unmet = _spill_example([4.0, 0.0, 100.0])
    # foreign exhausted -> the rest crosses to domestic: 6 compute = 12 cards at 0.5
    np.testing.assert_allclose(d[0, 0], [4.0, 0.0, 12.0])
    d, unmet = _spill_example([4.0, 0.0, 0.0])
    np.testing.assert_allclose(d[0, 0], [4.0, 0.0, 0.0])
    np.testing.assert_allclose(unmet, [[6.0]])


def test_clear_market_locked_domestic_compute_waits_or_goes_unmet():
    # 10 cards of domestic C ordered (5 compute), only 2 available; foreign has room
    d, unmet = _spill_example([100.0, 100.0, 2.0], order_on=2)
    assert (d[0, 0, :2] * [1.0, 2.0]).sum() == pytest.approx(4.0)  # unlocked: the 4 missing compute moves abroad
    d, unmet = _spill_example([100.0, 100.0, 2.0], locked=np.array([[5.0]]), order_on=2)
    np.testing.assert_allclose(d[0, 0], [0.0, 0.0, 2.0])
    np.testing.assert_allclose(unmet, [[4.0]])
    d, unmet = _spill_example([100.0, 100.0, 2.0], locked=np.array([[1.5]]), order_on=2)
    assert (d[0, 0, :2] * [1.0, 2.0]).sum() == pytest.approx(2.5)  # only the part beyond the lock moves
    np.testing.assert_allclose(unmet, [[1.5]])


def test_clear_market_owner_priority_example():
    orders = np.array([[[6.0]], [[6.0]]])  # owner (buyer 0) and another buyer each want 6 of 10 cards
    owner = np.array([[True], [False]])
    d, unmet = market.clear_market(orders, np.array([10.0]), owner, np.zeros_like(orders), np.array([1]),
                                   np.ones((1, 1)))
    np.testing.assert_allclose(d[:, 0, 0], [6.0, 4.0])
    np.testing.assert_allclose(unmet, [[0.0], [2.0]])


# ---------------------------------------------------------------- supply


@SETTINGS
@given(st.floats(0, 1), st.floats(0, 1), st.floats(1.0, 1e6),
       hnp.arrays(np.float64, st.integers(1, 20), elements=st.floats(0, 1e7)))
def test_yield_curve_is_monotone_and_bounded(y0, y_max, scale, cum):
    cum = np.sort(cum)
    y = market.yield_curve(np.full(cum.shape, y0), y_max, cum, scale)
    assert np.isfinite(y).all()
    top = max(y0, y_max)
    assert (y >= y0 - 1e-12).all() and (y <= top + 1e-12).all()
    assert (np.diff(y) >= -1e-12).all()
    assert market.yield_curve(y0, y_max, 0.0, scale) == pytest.approx(y0)
    assert float(market.yield_curve(y0, y_max, 1e12, scale)) == pytest.approx(top, abs=1e-9)


@SETTINGS
@given(st.integers(1, 4).flatmap(lambda n: st.tuples(
    hnp.arrays(np.float64, n, elements=st.floats(0, 1e4)),
    hnp.arrays(np.float64, n, elements=st.floats(0, 100)),
    hnp.arrays(np.float64, n, elements=st.floats(0, 1)),
    hnp.arrays(np.float64, n, elements=st.sampled_from([1.0, 2.0, 4.0])),
    hnp.arrays(np.float64, n, elements=st.floats(0, 1e5)),
    hnp.arrays(np.float64, n, elements=st.sampled_from([0.0, 4.0, 8.0])))),
    st.one_of(st.floats(0, 1e7), st.just(0.0), st.just(float("inf"))))
def test_ascend_capacity_respects_the_hbm_cap(arrs, hbm):
    wafers, gross, yld, dies, bank, stacks = arrs
    res = market.ascend_capacity(wafers, gross, yld, dies, bank, stacks, hbm)
    cards, used = res[0], res[1]
    free = (wafers * gross * yld + bank) / dies
    need = (free * stacks).sum()
    if len(res) > 2:  # the HBM-free output, when returned, is the uncapped one
        np.testing.assert_allclose(res[2], free, rtol=1e-12)
    uncapped = market.ascend_capacity(wafers, gross, yld, dies, bank, stacks, float("inf"))
    np.testing.assert_allclose(uncapped[0], free, rtol=1e-12)
    assert (cards >= 0).all() and np.isfinite(cards).all()
    assert (cards <= free * (1 + 1e-12) + 1e-9).all()
    assert used <= hbm * (1 + 1e-9) + 1e-6
    assert used == pytest.approx((cards * stacks).sum(), rel=1e-9, abs=1e-9)
    no_hbm = stacks == 0
    np.testing.assert_allclose(cards[no_hbm], free[no_hbm], rtol=1e-12)  # HBM-free products never capped
    if need > hbm:
        # short of HBM: all of it is used, shared pro rata among products that need it
        assert used == pytest.approx(hbm, rel=1e-9, abs=1e-9)
        ratios = cards[~no_hbm & (free > 0)] / free[~no_hbm & (free > 0)]
        if ratios.size:
            assert np.ptp(ratios) <= 1e-9
    else:
        np.testing.assert_allclose(cards, free, rtol=1e-12)


def test_ramp_grows_around_the_2025_anchor():
    yrs = np.array([-2.0, -1.0, 0.0, 1.0, 2.0])
    r = market.ramp(100.0, 0.5, yrs)
    assert r[2] == pytest.approx(100.0)
    assert (np.diff(r) > 0).all()


# ---------------------------------------------------------------- buyers' dynamics


@SETTINGS
@given(hnp.arrays(np.float64, 5, elements=st.floats(0, 1)), st.booleans(), st.booleans(),
       st.floats(0, 1), st.floats(0, 1), st.floats(0, 1))
def test_update_belief_is_bounded_and_reacts_as_documented(b, cut, eased, jump, decay, easing):
    out = market.update_belief(b, cut, eased, jump, decay, easing)
    assert ((out >= 0) & (out <= 1)).all()
    if cut:
        assert (out >= jump - 1e-12).all()
    else:
        assert (out <= b + 1e-12).all()  # without news the belief never rises
        if eased:
            assert (out <= b * decay * easing + 1e-12).all()
    # monotone in the prior belief
    order = np.argsort(b)
    assert (np.diff(out[order]) >= -1e-12).all()


@SETTINGS
@given(hnp.arrays(np.float64, 8, elements=st.floats(0, 1)), hnp.arrays(np.float64, 8, elements=st.floats(0, 1e8)),
       st.floats(0, 5))
def test_update_maturity_never_falls_and_stays_below_one(m, installs, rate):
    out = market.update_maturity(m, installs, rate)
    assert (out >= m - 1e-12).all() and (out <= 1.0 + 1e-12).all()
    more = market.update_maturity(m, installs * 2 + 1e5, rate)
    assert (more >= out - 1e-12).all()  # more installs never mean less maturity
    np.testing.assert_allclose(market.update_maturity(np.ones(3), np.full(3, 1e6), rate), 1.0)


@SETTINGS
@given(st.floats(1.0, 3.0).flatmap(lambda emax: st.tuples(
    st.just(emax), hnp.arrays(np.float64, 6, elements=st.floats(1.0, emax)))),
    hnp.arrays(np.float64, 6, elements=st.floats(0, 2)), st.floats(0, 1))
def test_update_efficiency_is_bounded_and_never_falls(emax_eff, service, rate):
    e_max, eff = emax_eff
    out = market.update_efficiency(eff, service, e_max, rate)
    assert (out >= eff - 1e-12).all() and (out <= e_max + 1e-12).all()
    full = service >= 1.0
    np.testing.assert_allclose(out[full], eff[full])  # a buyer with all it needs does not change
    worse = market.update_efficiency(eff, np.clip(service - 0.5, 0, None), e_max, rate)
    assert (worse >= out - 1e-12).all()  # the shorter the buyer, the faster it adapts


@SETTINGS
@given(hnp.arrays(np.float64, (3, 4), elements=st.floats(0, 1e7)), st.floats(1.0, 240.0))
def test_retire_removes_a_bounded_share(installed, life):
    r = market.retire(installed, life)
    assert (r >= 0).all() and (r <= installed + 1e-9).all()
    np.testing.assert_allclose(r, installed / life, rtol=1e-12)
