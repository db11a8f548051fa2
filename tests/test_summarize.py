"""summarize: per-run outcomes streamed from the shards, statistics per design point, the command."""

from __future__ import annotations

import textwrap

import numpy as np
import pandas as pd
import pytest

from sim.engine import store
from sim.engine.executors import SerialExecutor
from sim.engine.runs import annual_shares
from sim.experiments.gridrun import run_grid
from sim.experiments.summarize import (
    OutcomeError,
    annual_share_paths,
    parse_outcome,
    run_outcomes,
    summarize,
)

GRID = """
[grid]
name = "sum"
scenario = "history"
end = "2023-12"
replicates = 3
seed = 5

[[axes]]
parameter = "hoarding.strength"
values = [0.0, 3.0]

[[axes]]
event = "cn-2025-11-power-subsidy"
field = "rate"
values = [0.1, 0.5]
"""


@pytest.fixture(scope="module")
def results(tmp_path_factory):
    d = tmp_path_factory.mktemp("sum")
    (d / "g.toml").write_text(textwrap.dedent(GRID))
    rep = run_grid(d / "g.toml", d / "out", executor=SerialExecutor(), chunk_size=5, progress=False)
    assert rep.complete
    return d / "out"


def test_summary_table_shape_and_order(results):
    table, path = summarize(results)
    assert path.exists() and (results / "summary.parquet").exists() and (results / "outcomes.parquet").exists()
    assert set(table["outcome"]) == {"share:Nvidia:2023", "share:Huawei:2023", "share:Domestic:2023",
                                     "compute_share:Nvidia:2023", "compute_share:Huawei:2023",
                                     "compute_share:Domestic:2023", "crossover:Huawei:Nvidia"}
    assert len(table) == 4 * 7 and (table["runs"] == 3).all()
    assert {"hoarding.strength", "cn-2025-11-power-subsidy.rate", "mean", "p5", "p50", "p95"} <= set(table.columns)
    s = table[table["outcome"].str.startswith("share")]
    assert ((s["p5"] <= s["p50"] + 1e-12) & (s["p50"] <= s["p95"] + 1e-12)).all()
    assert s["mean"].between(0, 1).all()
    csv = pd.read_csv(path)
    assert len(csv) == len(table)


def test_share_outcome_is_ratio_of_annual_sums(results):
    per_run = run_outcomes(results, ["share:Huawei:2023", "share:Domestic:2022"])
    ts = store.read_runs(results, runs=[4])
    direct = annual_shares(ts, "unit_share", ["Huawei", "Domestic"])
    row = per_run.set_index("run").loc[4]
    assert row["share:Huawei:2023"] == pytest.approx(direct.loc[2023, "Huawei"], rel=1e-12)
    assert row["share:Domestic:2022"] == pytest.approx(direct.loc[2022, "Domestic"], rel=1e-12)


def test_crossover_year_agrees_with_annual_units(results):
    per_run = run_outcomes(results, ["crossover:Domestic:Foreign", "crossover:Foreign:Domestic"])
    ts = store.read_runs(results, runs=[0], metrics=["units"], entities=["Domestic", "Foreign"])
    a = ts.assign(year=ts["date"].dt.year).groupby(["year", "entity"])["value"].sum().unstack()
    for col, (x, y) in {"crossover:Domestic:Foreign": ("Domestic", "Foreign"),
                        "crossover:Foreign:Domestic": ("Foreign", "Domestic")}.items():
        wins = a.index[a[x] > a[y]]
        got = per_run.set_index("run").loc[0, col]
        assert (np.isnan(got) and len(wins) == 0) or got == wins.min()


def test_mean_outcome_and_paths(results):
    per_run = run_outcomes(results, ["mean:Total:price_index:2023", "sum:Total:units"])
    ts = store.read_runs(results, runs=[1], metrics=["price_index", "units"], entities=["Total"])
    pi = ts[(ts["metric"] == "price_index") & (ts["date"].dt.year == 2023)]["value"].mean()
    assert per_run.set_index("run").loc[1, "mean:Total:price_index:2023"] == pytest.approx(pi, rel=1e-12)
    assert per_run.set_index("run").loc[1, "sum:Total:units"] == pytest.approx(
        ts[ts["metric"] == "units"]["value"].sum(), rel=1e-12)
    paths = annual_share_paths(results, points=[0, 3])
    assert set(paths["point"]) == {0, 3} and set(paths["year"]) == {2022, 2023}
    assert ((paths["p5"] <= paths["mean"] + 1e-12) & (paths["mean"] <= paths["p95"] + 1e-12)).all()


@pytest.mark.parametrize("bad", ["share:Intel", "share:Huawei:20x4", "crossover:Huawei", "mean:Total:nope",
                                 "median:Total:units"])
def test_bad_outcomes_are_rejected(bad):
    with pytest.raises(OutcomeError, match="outcome"):
        parse_outcome(bad, 2030)


def test_year_outside_horizon(results):
    with pytest.raises(OutcomeError, match="outside"):
        run_outcomes(results, ["share:Huawei:2029"])


def test_summarize_command(results, run_cli):
    r = run_cli("summarize", str(results), "--outcome", "share:Huawei:2022", "--outcome", "crossover:Huawei:Nvidia",
                "--format", "csv")
    assert r.returncode == 0, r.stderr
    lines = r.stdout.strip().splitlines()
    assert lines[0].startswith("point,") and len(lines) == 1 + 2 * 4
    r = run_cli("summarize", str(results), "--outcome", "share:Intel")
    assert r.returncode == 2 and "unknown entity" in r.stderr
    r = run_cli("summarize", str(results.parent))
    assert r.returncode == 2 and "not a grid results folder" in r.stderr
