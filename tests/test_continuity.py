"""The continuity and direction checks (sim.analysis.continuity, `python -m sim continuity`)."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pandas as pd
import pytest

from sim.analysis import continuity as C
from sim.engine import ensemble as E
from sim.model.calendar import month_index
from sim.model.scenario import load_scenario


@pytest.fixture(scope="module")
def short():
    return load_scenario("history").with_changes(header={"end": "2024-12"})


def test_jumps_finds_a_planted_step_and_nothing_in_a_smooth_sweep():
    off = np.arange(-6, 7)
    smooth = pd.DataFrame({"axis": "event:a", "offset": off, **{e: 0.3 + 0.01 * off for e in C.SHARE_ENTITIES}})
    assert C.jumps(smooth, 0.10).empty
    step = smooth.copy()
    step["axis"] = "event:b"
    step.loc[step["offset"] >= 2, "Nvidia"] += 0.25
    j = C.jumps(pd.concat([smooth, step]), 0.10)
    assert list(j["axis"]) == ["event:b"] and list(j["entity"]) == ["Nvidia"]
    assert j["from"].iloc[0] == 1 and j["to"].iloc[0] == 2 and j["jump"].iloc[0] == pytest.approx(0.26)


def test_annual_shares_agree_with_the_ensemble_summary(short):
    ens = E.run_ensemble(short, 3)
    sh = C.annual_shares(ens.records, [2023, 2024]).mean(axis=0)
    ann = E.annual(ens, "unit_share", ("Nvidia", "Huawei", "Domestic"))
    for k, y in enumerate((2023, 2024)):
        assert sh[k, C.SHARE_ENTITIES.index("Nvidia")] == pytest.approx(ann.loc[y, "Nvidia"], rel=1e-12)
        assert sh[k, C.SHARE_ENTITIES.index("Domestic")] == pytest.approx(ann.loc[y, "Domestic"], rel=1e-12)


def test_event_points_move_the_announcement_with_the_rule_and_stay_in_the_horizon(short):
    pts = C.event_points(short, 2, events=["us-2023-10-tpp-rule"])
    assert [p.offset for p in pts] == [-2, -1, 0, 1, 2]
    base = next(e for e in short.events if e.id == "us-2023-10-tpp-rule")
    lead = month_index(base.effective) - month_index(base.announced)
    for p in pts:
        ev = next(e for e in p.scenario.events if e.id == "us-2023-10-tpp-rule")
        assert month_index(ev.effective) - month_index(base.effective) == p.offset
        assert month_index(ev.effective) - month_index(ev.announced) == lead
    from sim.model.calendar import month_str

    late = short.with_changes(header={"end": month_str(month_index(base.effective) + 1)})
    assert max(p.offset for p in C.event_points(late, 3, events=["us-2023-10-tpp-rule"])) == 1


def test_a_sweep_point_equals_its_scenario_run_alone(short):
    pts = C.event_points(short, 1, events=["us-2023-10-tpp-rule"])
    df = C.sweep(short, pts, seeds=2, year=2024)
    for p, row in zip(pts, df.itertuples()):
        alone = E.annual(E.run_ensemble(p.scenario, 2), "unit_share", ("Nvidia",)).loc[2024, "Nvidia"]
        assert row.Nvidia == pytest.approx(alone, rel=1e-9)


def test_the_model_reads_each_rule_as_tightening_or_easing():
    d = C.event_directions(load_scenario("history"))
    assert d["us-2023-10-tpp-rule"] == 1 and d["us-2025-04-h20-licence"] == 1
    assert d["us-2025-08-h20-licences-granted"] == -1 and d["us-2026-01-h200-opening"] == -1


def test_removal_directions_cover_the_years_a_rule_is_in_force(short):
    d = C.removal_directions(short, seeds=2)
    assert set(d["event"]) >= {"us-2023-10-tpp-rule"}
    tpp = d[d["event"] == "us-2023-10-tpp-rule"]
    assert list(tpp["year"]) == [2023, 2024]
    np.testing.assert_allclose(tpp["change"], tpp["nvidia_without"] - tpp["nvidia_with"])
    sign = np.where(d["acts_on"] == "domestic", -1.0, 1.0)
    assert (d["wrong"] == (sign * d["change"] < -0.005)).all()


def test_continuity_command_writes_its_tables_and_rejects_bad_requests(tmp_path):
    def cli(*a):
        return subprocess.run([sys.executable, "-m", "sim", "continuity", *a], capture_output=True, text=True,
                              timeout=600)

    r = cli("history", "--year", "2040")
    assert r.returncode == 2 and "outside the horizon" in r.stderr and "Traceback" not in r.stderr
    r = cli("history", "--param", "no.such.thing")
    assert r.returncode == 2 and "unknown parameter" in r.stderr
    out = tmp_path / "c"
    r = cli("history", "--seeds", "1", "--months", "1", "--param", "--year", "2024", "--out", str(out), "--workers", "1")
    assert r.returncode == 0, r.stderr
    for f in ("sweep.csv", "jumps.csv", "removal_directions.csv", "parameter_directions.csv", "scenario.toml"):
        assert (out / f).exists(), f
    sweep = pd.read_csv(out / "sweep.csv")
    assert set(sweep["offset"]) == {-1, 0, 1} and sweep["axis"].str.startswith("event:").all()
