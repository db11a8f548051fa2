"""Cards fit the work they do (MODEL.md 9.3): a card below a training tier's least useful performance or
interconnect is left out of that tier's choice, and unserved compute never spills to it."""

from __future__ import annotations

import numpy as np
import pytest

from sim.model.ids import TIERS
from sim.model.market_model import MarketModel
from sim.model.scenario import load_scenario

FIT = {"tiers.min_train_perf.frontier_training": 0.45, "tiers.min_train_perf.training": 0.3,
       "tiers.min_interconnect.frontier_training": 400.0}


@pytest.fixture(scope="module")
def short():
    return load_scenario("history").with_changes(header={"end": "2025-08"})


def _by_tier(sc, params, months):
    """Cards of each product delivered per tier, summed over buyers and the given months (run of seed 3)."""
    m = MarketModel(sc.with_changes(parameters=params), seed=3, mesa_collect=False)
    out = np.zeros((len(TIERS), len(m.product_ids)))
    names = list(sc.months)
    while m.running:
        month = names[m.t]
        m.step()
        if month in months:
            out += m.delivered[0, :, :len(TIERS)].sum(axis=0)
    return m, out


def test_inference_cards_serve_no_training_once_a_minimum_is_set(short):
    months = {"2023-12", "2024-01", "2024-02", "2024-03"}   # after the Oct-2023 rule, before the H20
    m, free = _by_tier(short, {k: 0.0 for k in FIT}, months)
    nv = m.pidx["nv_inference"]   # 0.15 A100 in training
    tr = [TIERS.index("frontier_training"), TIERS.index("training")]
    assert free[tr, nv].sum() > 1000, "without a minimum, training is done on inference cards"
    m, fit = _by_tier(short, FIT, months)
    assert fit[tr, nv].sum() < 1e-6   # (e^-20 of a card)
    assert fit[TIERS.index("inference"), nv] > 1000   # still an inference card
    # a training tier is served only by cards at or above its minimum
    low = m.train[0] < FIT["tiers.min_train_perf.training"]
    assert fit[tr][:, low].sum() < 1e-6


def test_a_pcie_card_serves_no_frontier_training_under_an_interconnect_minimum(short):
    months = {"2025-07", "2025-08"}   # the RTX Pro 6000D (64 GB/s) is on sale
    m, free = _by_tier(short, {}, months)
    rtx, fr = m.pidx["rtx6000d"], TIERS.index("frontier_training")
    assert free[fr, rtx] > 100
    m, fit = _by_tier(short, FIT, months)
    assert fit[fr, rtx] < 1e-6
    assert fit[fr][m.interconnect[0] < 400].sum() < 1e-6
