"""MarketModel under Mesa's own batch runner (mesa.batch_run), as Mesa users would drive it."""

from __future__ import annotations

import mesa
import numpy as np
import pandas as pd
import pytest

from sim import load_scenario, run_scenario
from sim.model.market_model import MarketModel

REPORTERS = ["month", "Nvidia_unit_share", "Huawei_unit_share", "Domestic_unit_share", "Total_units"]
MAX_STEPS = 30  # batch_run steps max_steps + 1 times: 31 months, 2022-01 .. 2024-07


def batch(max_steps: int, **parameters) -> pd.DataFrame:
    rows = mesa.batch_run(MarketModel, parameters=parameters, iterations=1, max_steps=max_steps, number_processes=1,
                          data_collection_period=-1, display_progress=False)
    return pd.DataFrame(rows)


@pytest.fixture(scope="module")
def grid() -> pd.DataFrame:
    return batch(MAX_STEPS, scenario=["history"], seed=[1, 2], **{"hoarding.strength": [0.0, 2.0]})


def direct(seed: int, steps: int, **overrides) -> MarketModel:
    m = MarketModel("history", seed=seed, **overrides)
    for _ in range(steps):
        if not m.running:
            break
        m.step()
    return m


def test_one_row_per_run_with_the_model_reporters(grid):
    assert len(grid) == 4
    for col in REPORTERS + ["RunId", "iteration", "Step", "scenario", "seed", "hoarding.strength"]:
        assert col in grid.columns, col
    assert sorted(zip(grid["seed"], grid["hoarding.strength"])) == [(1, 0.0), (1, 2.0), (2, 0.0), (2, 2.0)]
    assert grid["RunId"].nunique() == 4
    for col in ("Nvidia_unit_share", "Huawei_unit_share", "Domestic_unit_share"):
        assert grid[col].between(0.0, 1.0).all(), col
    assert (grid["Total_units"] > 0).all()
    assert np.isfinite(grid[REPORTERS[1:]].to_numpy(dtype=float)).all()


def test_rows_report_the_last_month_stepped(grid):
    months = load_scenario("history").months
    assert (grid["month"] == months[MAX_STEPS]).all()  # max_steps + 1 steps


def test_rows_match_a_direct_run_of_the_model(grid):
    for _, row in grid.iterrows():
        m = direct(int(row["seed"]), MAX_STEPS + 1, **{"hoarding.strength": float(row["hoarding.strength"])})
        assert row["month"] == m.month
        assert row["Nvidia_unit_share"] == m.nvidia_unit_share
        assert row["Domestic_unit_share"] == m.domestic_unit_share
        assert row["Total_units"] == m.total_units


def test_different_parameters_give_different_results(grid):
    g = grid.set_index(["seed", "hoarding.strength"])
    for seed in (1, 2):
        assert g.loc[(seed, 0.0), "Total_units"] != g.loc[(seed, 2.0), "Total_units"]
    for h in (0.0, 2.0):
        assert g.loc[(1, h), "Nvidia_unit_share"] != g.loc[(2, h), "Nvidia_unit_share"]


def test_batch_run_of_the_whole_horizon_agrees_with_the_runner():
    seed = 5
    rows = batch(500, scenario=["history"], seed=[seed])
    assert len(rows) == 1
    row = rows.iloc[0]
    assert row["month"] == "2030-12"  # the model stops itself at the end of the scenario
    ts = run_scenario("history", seeds=[seed]).timeseries
    last = ts[(ts["date"] == pd.Timestamp("2030-12-01")) & (ts["metric"].isin(["units", "unit_share"]))]
    val = last.set_index(["entity", "metric"])["value"]
    assert row["Total_units"] == pytest.approx(val[("Total", "units")], rel=1e-12)
    if val[("Total", "units")] > 0:
        assert row["Nvidia_unit_share"] == pytest.approx(val[("Nvidia", "unit_share")], rel=1e-12, abs=1e-15)
        assert row["Domestic_unit_share"] == pytest.approx(val[("Domestic", "unit_share")], rel=1e-12, abs=1e-15)
