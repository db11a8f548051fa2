"""Calibration: targets and scoring, parameter-set files, the scenario writer, and a tiny fit that must
improve on a deliberately bad start. The full default calibration is run by hand (docs/PERFORMANCE.md)."""

from __future__ import annotations

import math
import shutil
import tomllib

import numpy as np
import pandas as pd
import pytest

from sim.calibration.targets import (
    Target,
    load_targets,
    loss,
    measure,
    observed_points,
    out_of_sample,
)
from sim.model.records import Records
from sim.model.scenario import ScenarioError, load_scenario

# ---------------------------------------------------------------- targets and scoring


def test_targets_cover_the_file_and_the_discriminating_series():
    ids = {t.id for t in load_targets()}
    for must in ("nvidia_unit_share_2025", "domestic_unit_share_2025", "total_units_2025", "nvidia_value_share_2024",
                 "domestic_value_share_2023", "nvidia_unit_share_2022", "nvidia_unit_share_2023_jan_sep",
                 "total_units_2023_h1", "huawei_made_2024", "a800_big4_aug_dec_2023", "h20_sales_feb_apr_2025",
                 "hopper_tencent_2024", "hopper_bytedance_2024", "nvidia_unit_share_2025_q4", "market_value_2025"):
        assert must in ids
    assert all(t.low < t.high for t in load_targets())


def test_range_rules_for_blank_and_one_sided_rows():
    tg = {t.id: t for t in load_targets()}
    h1 = tg["total_units_2023_h1"]  # IDC ">500k": [X, 1.3 X]
    assert (h1.low, h1.high) == (500000, pytest.approx(650000))
    ascend = tg["huawei_made_2024"]  # blank range: +/- 25%
    assert (ascend.low, ascend.high) == (pytest.approx(150000), pytest.approx(250000))
    share = tg["nvidia_unit_share_2025"]  # two-sided range used as given
    assert (share.low, share.high) == (0.48, 0.62)
    assert share.inside(0.62) and not share.inside(0.621)
    assert share.z(0.55) == pytest.approx(0.0) and share.z(0.62) == pytest.approx(1.0)


def test_loss_is_zero_at_centres_and_grows_outside():
    tg = load_targets()
    centres = np.array([t.centre for t in tg])
    assert loss(centres, tg) == pytest.approx(0.0)
    worse = centres.copy()
    worse[0] = tg[0].high + 2 * tg[0].half_width
    assert loss(worse, tg) == pytest.approx(9.0)
    worse[1] = math.nan
    assert loss(worse, tg) > 100


def _record(units, revenue=None, months=None):
    """Records of one run with the given (months, products) cards and revenue; products a (Nvidia) and
    b (Huawei), plus the grey-market column (empty)."""
    n, P = units.shape
    months = months or [f"2025-{m:02d}" for m in range(1, n + 1)]
    ids = ["a", "b"][:P] + ["grey"]
    rec = Records.empty(months, [1], ids, np.array([0, 2][:P] + [0]), np.array([False, True][:P] + [False]), P,
                        7, 4, frozenset({"buyer_product"}))
    rec.field("units")[0, :, :P] = units
    rec.field("revenue_usd")[0, :, :P] = revenue if revenue is not None else units * 10.0
    return rec


def test_annual_share_is_a_ratio_of_annual_sums():
    # month 1: 90 Nvidia of 100; month 2: 10 Nvidia of 1000 -> annual 100/1100, not the mean of 0.9 and 0.01
    units = np.array([[90.0, 10.0], [10.0, 990.0]])
    t = Target("x", "x", "unit_share", "Nvidia", "2025-01", "2025-02", 0.5, 0.4, 0.6, "", "", "")
    assert measure(_record(units), t)[0] == pytest.approx(100 / 1100)
    v = Target("v", "v", "value_share", "Domestic", "2025-01", "2025-02", 0.5, 0.4, 0.6, "", "", "")
    rev = np.array([[1.0, 3.0], [1.0, 5.0]])
    assert measure(_record(units, rev), v)[0] == pytest.approx(8 / 10)


def test_measure_outside_the_run_is_nan():
    t = Target("x", "x", "units", "Total", "2027-01", "2027-12", 1, 0, 2, "", "", "")
    assert math.isnan(measure(_record(np.ones((2, 2))), t)[0])


def test_observed_points_are_a_tidy_reusable_frame():
    df = observed_points()
    for c in ("id", "entity", "metric", "date", "observed", "low", "high", "source", "fitted"):
        assert c in df.columns
    assert df["low"].notna().all() and df["high"].notna().all() and (df["low"] <= df["high"]).all()
    assert str(df["date"].dtype) == "datetime64[us]"
    shares = df[df["metric"] == "unit_share"]
    assert {"Nvidia", "Domestic"} <= set(shares["entity"])
    assert (df["source"].str.len() > 10).all()
    assert (~df["fitted"]).sum() == len(out_of_sample())


# ---------------------------------------------------------------- parameter-set files


@pytest.fixture
def scen_dir(tmp_path):
    base = load_scenario("history")
    text = base.with_changes(header={"end": "2022-06"}).to_toml()
    text = "\n".join(ln for ln in text.splitlines() if not ln.startswith("parameter_sets"))
    text = text.replace("[scenario]\n", '[scenario]\nparameter_sets = "sets.csv"\n', 1)
    (tmp_path / "s.toml").write_text(text, encoding="utf-8")
    return tmp_path


def _problems(path):
    with pytest.raises(ScenarioError) as e:
        load_scenario(path)
    return e.value.problems


def test_parameter_sets_file_is_validated(scen_dir):
    sets = scen_dir / "sets.csv"
    f = scen_dir / "s.toml"
    probs = _problems(f)  # missing file
    assert probs[0][1] == "scenario.parameter_sets" and "not found" in probs[0][2]
    sets.write_text("hoarding.strength,no.such.param\n1.0,2.0\n")
    probs = _problems(f)
    # the column is named by number: a problem never quotes the file's text
    assert any(k == "header, column 2" and "unknown parameter" in r for _, k, r in probs)
    assert "no.such.param" not in str(probs)
    sets.write_text("hoarding.strength\n1.0\n99\n")
    probs = _problems(f)
    assert any(k == "row 2, column 1 (hoarding.strength)" and "outside the bounds" in r for _, k, r in probs)
    assert all(fn.endswith("sets.csv") for fn, _, _ in probs)
    sets.write_text("hoarding.strength,demand.growth_annual\n0.0,0.4\n3.0,0.9\n")
    sc = load_scenario(f)
    assert sc.load_parameter_sets() == [{"hoarding.strength": 0.0, "demand.growth_annual": 0.4},
                                        {"hoarding.strength": 3.0, "demand.growth_annual": 0.9}]


def test_run_scenario_combines_seeds_with_parameter_sets(scen_dir):
    from sim.engine.runs import manifest, run_scenario

    (scen_dir / "sets.csv").write_text("hoarding.strength,demand.growth_2022\n0.0,0.0\n3.0,1.5\n")
    sc = load_scenario(scen_dir / "s.toml")
    plain = run_scenario(sc, seeds=3)
    mixed = run_scenario(sc, seeds=3, parameter_sets=True)
    assert plain.parameter_set_of_run is None and "parameter_sets" not in manifest(plain)
    assert mixed.parameter_set_of_run == [0, 1, 0]
    man = manifest(mixed)["parameter_sets"]
    assert man["count"] == 2 and man["set_of_run"] == [0, 1, 0] and man["file"].endswith("sets.csv")
    tot = mixed.timeseries.query("entity == 'Total' and metric == 'units'").groupby("run")["value"].sum()
    assert tot[1] > tot[0]  # the fast-growth set sells more cards
    # explicit parameters still win over the sets
    forced = run_scenario(sc, seeds=2, parameter_sets=True, parameters={"demand.growth_2022": 0.0})
    t2 = forced.timeseries.query("entity == 'Total' and metric == 'units'").groupby("run")["value"].sum()
    assert t2[1] < tot[1]


def test_history_declares_valid_parameter_sets():
    sc = load_scenario("history")
    sets = sc.load_parameter_sets()
    assert sc.parameter_sets_file() is not None and len(sets) >= 10
    fitted = {k for k in sc.parameters}
    assert fitted <= set(sets[0])  # every fitted parameter varies across the accepted sets


# ---------------------------------------------------------------- writing the scenario file


def test_write_parameters_keeps_events_and_comments(tmp_path, repo_root):
    from sim.calibration.scenario_file import write_parameter_sets, write_parameters

    f = tmp_path / "history.toml"
    shutil.copy(repo_root / "scenarios" / "history.toml", f)
    before = f.read_text()
    write_parameter_sets(tmp_path / "h.csv", [{"hoarding.strength": 1.0}, {"hoarding.strength": 2.0}])
    write_parameters(f, {"hoarding.strength": 2.345678912}, ["Fitted today by a test"],
                     {"hoarding.strength": "prior [0, 4]"}, parameter_sets="h.csv")
    after = f.read_text()
    assert tomllib.loads(after)["events"] == tomllib.loads(before)["events"]
    assert '"hoarding.strength" = 2.34568  # prior [0, 4]' in after
    assert "# Fitted today by a test" in after
    banners = [ln for ln in before.splitlines() if ln.startswith("# ---")]
    assert banners and all(b in after for b in banners)
    sc = load_scenario(f)
    assert sc.parameters["hoarding.strength"] == pytest.approx(2.34568)
    assert len(sc.load_parameter_sets()) == 2


# ---------------------------------------------------------------- the fit itself (tiny budget)


def test_tiny_fit_improves_on_a_bad_start():
    from sim.calibration.fit import fit

    sc = load_scenario("history")
    bad = {"demand.growth_annual": 0.05, "choice.switching_scale": 0.5, "hoarding.strength": 0.0,
           "domestic.capacity_scale": 4.0, "maturity.learning_rate": 3.0}
    sc = sc.with_changes(parameters=bad)
    r = fit(sc, load_targets(), budget=24, n_seeds=1, workers=1, progress=False, n_starts=1)
    assert r.start_loss > 200
    assert r.best_loss < 0.5 * r.start_loss
    assert len(r.accepted) >= 10 and all(set(r.best) <= set(s) for s in r.accepted)
    assert r.history[0]["stage"] == "start" and {h["stage"] for h in r.history} >= {"sobol", "nelder-mead", "accept"}


def test_calibrate_command_is_registered(run_cli):
    p = run_cli("calibrate", "--help")
    assert p.returncode == 0
    for opt in ("--targets", "--out", "--budget", "--update-baseline"):
        assert opt in p.stdout


def test_correlations_table_drops_constant_columns():
    from sim.calibration.report import correlations

    c = correlations([{"a": 1.0, "b": 2.0, "k": 1.0}, {"a": 2.0, "b": 4.1, "k": 1.0}, {"a": 3.0, "b": 5.9, "k": 1.0}])
    assert list(c.columns) == ["a", "b"] and c.loc["a", "b"] > 0.99
    assert isinstance(c, pd.DataFrame)
