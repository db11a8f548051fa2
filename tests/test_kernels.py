"""The compiled kernels of a month give numpy's numbers bit for bit (the sums in numpy's order)."""

from __future__ import annotations

import numpy as np
import pytest
from numba import njit

from sim.model import market
from sim.model.agents import Buyer
from sim.model.market_model import MarketModel
from sim.model.scenario import load_scenario


@njit(cache=False)
def _rows(x):
    out = np.empty(x.shape[0])
    for i in range(x.shape[0]):
        out[i] = market._sum_last(x[i])
    return out


@pytest.mark.parametrize("n", [1, 2, 4, 7, 8, 9, 15, 16, 17, 31, 32, 33, 35, 127, 128, 129, 300])
def test_sum_last_is_numpys_sum_along_a_contiguous_axis(n):
    rng = np.random.default_rng(n)
    x = rng.standard_normal((200, n)) * 10.0 ** rng.integers(-12, 12, (200, n))
    x[rng.random((200, n)) < 0.2] = 0.0
    x[rng.random((200, n)) < 0.1] = -0.0
    assert np.array_equal(_rows(x).view(np.int64), x.sum(axis=-1).view(np.int64))


def test_floor_kernel_matches_the_numpy_rule_bit_for_bit():
    """Buyer._bound (market.bound_runs) against Buyer._bound_numpy on months of a batch that mixes the floor
    per tier and per buyer and the grey exemption."""
    sc = load_scenario("history")
    runs = [(sc, 1), (sc.with_changes(parameters={"china.floor_per_buyer": False}), 2),
            (sc.with_changes(parameters={"grey.floor_exempt": False}), 3)]
    m = MarketModel(runs=runs, mesa_collect=False)
    seen = 0
    while m.running:
        m.step()
        if m.t % 9 == 0:   # after a month: p_o and within of that month are still in the buffers
            got = Buyer._bound(m, m._buf_p_o, m._buf_within)
            want = Buyer._bound_numpy(m, m._buf_p_o, m._buf_within)
            for a, b in zip(got, want):
                assert np.array_equal(np.ascontiguousarray(a).view(np.int64), np.ascontiguousarray(b).view(np.int64))
            seen += 1
    assert seen >= 10


def test_clear_runs_into_equals_clear_runs():
    rng = np.random.default_rng(3)
    R, N, P = 4, 10, 6
    orders = rng.random((R, N, P)) * 10
    cap = rng.random((R, P)) * 20
    own = rng.random((N, P)) < 0.1
    within = rng.random((R, N, P))
    origin = (rng.random(P) < 0.5).astype(np.int64)
    pf = rng.random((R, N, P)) + 0.5
    locked = rng.random((R, N))
    out = np.full((R, N, P), np.nan)
    market.clear_runs_into(out, orders, cap, own, within, origin, pf, locked)
    assert np.array_equal(out, market.clear_runs(orders, cap, own, within, origin, pf, locked))
