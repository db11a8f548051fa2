"""The analysis commands: one-line errors (exit code 2), and a small end-to-end run on tiny real grids
(short horizon) including an attribution whose total matches two plain `sim run`s."""

from __future__ import annotations

import itertools
import textwrap
from dataclasses import replace

import numpy as np
import pandas as pd
import pytest
from analysis_synthetic import grid_head, json_of, synthetic_results

from sim.analysis import attribution as A
from sim.cli import main
from sim.experiments.summarize import annual_frame, outcome_columns, parse_outcome

FACTORIAL = grid_head("factorial") + '[[axes]]\nparameter = "hoarding.strength"\nvalues = [0.0, 1.0]\n'


def one_error(capsys, argv: list[str]) -> str:
    code = main([str(a) for a in argv])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2, err
    assert len(err) == 1 and err[0].startswith("error: "), err
    assert "Traceback" not in err[0]
    return err[0]


@pytest.fixture(scope="module")
def factorial(tmp_path_factory):
    return synthetic_results(tmp_path_factory.mktemp("f") / "out", FACTORIAL, lambda p, r, u: 0.2 + 0.1 * r)


def test_wrong_design_missing_folder_bad_outcome(capsys, factorial, tmp_path):
    assert "design = \"sobol\" or \"morris\"" in one_error(capsys, ["sensitivity", factorial, "--outcome",
                                                                    "share:Huawei:2024"])
    assert "no lever axis" in one_error(capsys, ["robustness", factorial, "--outcome", "share:Huawei:2024"])
    assert "unknown entity 'Huawie'" in one_error(capsys, ["discover", factorial, "--outcome", "share:Huawie:2024",
                                                            "--above", "0.2"])
    assert "outside the grid's horizon" in one_error(capsys, ["discover", factorial, "--outcome",
                                                               "share:Huawei:2029", "--above", "0.2"])
    assert "no such folder" in one_error(capsys, ["discover", tmp_path / "nope", "--outcome", "share:Huawei",
                                                  "--above", "0.2"])
    # a grid file (or a shipped grid's name) where its results folder belongs: say how to run it first
    shipped = one_error(capsys, ["sensitivity", "sobol-uncertain-parameters", "--outcome", "share:Huawei:2027"])
    assert "is a grid file, not a results folder" in shipped
    assert "python -m sim grid sobol-uncertain-parameters --out outputs/sobol-uncertain-parameters" in shipped
    (tmp_path / "empty").mkdir()
    assert "not a grid results folder" in one_error(capsys, ["robustness", tmp_path / "empty", "--outcome",
                                                             "share:Huawei"])
    assert "no axis 'nope'" in one_error(capsys, ["robustness", factorial, "--outcome", "share:Huawei",
                                                  "--lever", "nope"])
    assert "nothing to discover" in one_error(capsys, ["discover", factorial, "--outcome", "share:Huawei:2024",
                                                       "--above", "5"])


def test_attribute_request_errors(capsys, tmp_path):
    assert "file not found" in one_error(capsys, ["attribute", "nope", "--base", "history", "--outcome",
                                                  "share:Nvidia:2027", "--out", tmp_path / "a"])
    assert "do not differ" in one_error(capsys, ["attribute", "history", "--base", "history", "--outcome",
                                                 "share:Nvidia:2027", "--out", tmp_path / "b"])
    assert "write NAME=event-id" in one_error(capsys, ["attribute", "history", "--base", "no-controls", "--outcome",
                                                       "share:Nvidia:2027", "--group", "oops", "--out", tmp_path / "c"])
    assert "unknown event id 'zz'" in one_error(capsys, ["attribute", "history", "--base", "no-controls",
                                                         "--outcome", "share:Nvidia:2027", "--group", "G=zz",
                                                         "--out", tmp_path / "d"])
    assert "unknown metric" in one_error(capsys, ["attribute", "history", "--base", "no-controls", "--outcome",
                                                  "mean:Total:nope", "--out", tmp_path / "e"])


def test_duplicate_events_get_equal_shares(short_history):
    """Symmetry: two identical rules (same fields, different ids) split their joint effect equally; the
    progress callback (the app's progress bar) counts the coalitions."""
    rule = short_history.event("us-2023-10-tpp-rule")
    twin = rule.model_copy(update={"id": "twin-tpp-rule"})
    target = replace(short_history, events=short_history.events + (twin,)).with_changes()
    base = target.with_changes(remove=["us-2023-10-tpp-rule", "twin-tpp-rule"])
    seen = []
    r = A.attribute(target, base, "share:Nvidia:2023", seeds=[3, 4], workers=1,
                    progress=lambda done, total: seen.append((done, total)))
    assert seen and seen[-1] == (4, 4) and all(a <= b for a, b in itertools.pairwise(seen))   # progress: 4 coalitions
    t = r.table.set_index("group")
    a, b = t["contribution"].iloc[0], t["contribution"].iloc[1]
    assert r.method == "exact" and len(t) == 3
    assert a == pytest.approx(b, rel=1e-9, abs=1e-12)
    assert abs(a) > 1e-3                                                 # the rule matters
    assert a + b == pytest.approx(t.loc["total", "contribution"], abs=1e-12)    # efficiency


SHORT = """
[scenario]
name = "{name}-short"
extends = "{name}"
end = "2024-12"
"""


def test_end_to_end_on_tiny_real_grids(run_cli, tmp_path):
    morris = textwrap.dedent("""
        [grid]
        name = "tiny-morris"
        scenario = "history"
        design = "morris"
        samples = 2
        replicates = 2
        seed = 3
        end = "2024-12"
        [[axes]]
        parameter = "choice.switching_scale"
        range = [1.0, 5.0]
        [[axes]]
        event = "us-2023-10-tpp-rule"
        field = "timing"
        range = ["2023-05", "2024-06"]
        """)
    (tmp_path / "m.toml").write_text(morris)
    r = run_cli("grid", "m.toml", "--out", "m", "--workers", "1", "--no-progress")
    assert r.returncode == 0, r.stderr
    r = run_cli("sensitivity", "m", "--outcome", "share:Huawei:2024")
    assert r.returncode == 0, r.stderr
    sens = pd.read_csv(tmp_path / "m" / "sensitivity.csv")
    assert list(sens.columns) == ["outcome", "parameter", "index", "value", "conf"]
    assert {"mu_star", "sigma", "se_mean"} <= set(sens["index"])
    assert (tmp_path / "m" / "sensitivity.svg").read_bytes().startswith(b"<svg")
    from sim.experiments.summarize import run_outcomes

    med = float(run_outcomes(tmp_path / "m", ["share:Huawei:2024"])["share:Huawei:2024"].median())
    r = run_cli("discover", "m", "--outcome", "share:Huawei:2024", "--above", f"{med:.6f}", "--no-chart")
    assert r.returncode == 0, r.stderr
    assert "PRIM:" in r.stdout and "CART check" in r.stdout
    disc = pd.read_csv(tmp_path / "m" / "discovery.csv")
    assert list(disc.columns) == ["box", "coverage", "density", "parameter", "low", "high"]
    assert json_of(tmp_path / "m" / "discovery.json")["command"].startswith("python -m sim discover")

    fac = textwrap.dedent("""
        [grid]
        name = "tiny-levers"
        scenario = "history"
        design = "factorial"
        replicates = 2
        seed = 3
        end = "2024-12"
        [[axes]]
        parameter = "buyers.Tencent.cuda_dependence"
        values = [0.3, 0.9]
        role = "lever"
        [[axes]]
        parameter = "hoarding.strength"
        values = [0.0, 3.0]
        """)
    (tmp_path / "f.toml").write_text(fac)
    assert run_cli("grid", "f.toml", "--out", "f", "--workers", "1", "--no-progress").returncode == 0
    r = run_cli("robustness", "f", "--outcome", "mean:Tencent:service_level:2024", "--threshold", "0.5")
    assert r.returncode == 0, r.stderr
    rob = pd.read_csv(tmp_path / "f" / "robustness.csv")
    # ranked by max regret; with two policies one of them is best in each future, so regret is never negative
    assert len(rob) == 2 and sorted(rob["rank"]) == [1, 2] and (rob["max_regret"] >= 0).all()
    assert rob.loc[rob["rank"] == 1, "max_regret"].iloc[0] == rob["max_regret"].min()
    assert "sensitivity needs" not in r.stderr
    r = run_cli("sensitivity", "f", "--outcome", "share:Huawei:2024")
    assert r.returncode == 2 and r.stderr.startswith("error: ") and "design" in r.stderr


def test_attribution_total_equals_two_plain_runs(run_cli, tmp_path):
    for name in ("history", "no-controls"):
        (tmp_path / f"{name}.toml").write_text(SHORT.format(name=name))
    args = ["attribute", "history.toml", "--base", "no-controls.toml", "--outcome", "share:Nvidia:2024",
            "--seeds", "2", "--groups", "history", "--workers", "1", "--no-progress", "--no-chart"]
    r = run_cli(*args, "--out", "a1")
    assert r.returncode == 0, r.stderr
    t = pd.read_csv(tmp_path / "a1" / "attribution.csv")
    assert list(t.columns) == ["group", "events", "contribution", "conf"]
    assert t["group"].iloc[-1] == "total"
    assert "October 2023 rule" in set(t["group"])
    groups = t[t["group"] != "total"]
    # attribution.csv holds 10 significant digits (float_format="%.10g"): compare to that precision
    assert groups["contribution"].sum() == pytest.approx(t["contribution"].iloc[-1], abs=1e-9)
    # the total is what two plain runs with the same seeds give
    o = parse_outcome("share:Nvidia:2024", 2024)
    vals = []
    for name in ("history", "no-controls"):
        assert run_cli("run", f"{name}.toml", "--seeds", "2", "--out", f"run-{name}", "--no-trace").returncode == 0
        ts = pd.read_parquet(tmp_path / f"run-{name}" / "timeseries.parquet")
        vals.append(outcome_columns(annual_frame(ts, o.pairs()), [o])[o.name].mean())
    assert t["contribution"].iloc[-1] == pytest.approx(vals[0] - vals[1], abs=1e-9)
    man = json_of(tmp_path / "a1" / "manifest.json")
    assert man["seeds"] == json_of(tmp_path / "run-history" / "manifest.json")["seeds"]
    assert (tmp_path / "a1" / "groups.toml").exists() and (tmp_path / "a1" / "base.toml").exists()
    # reproducible: the same command gives the same files
    assert run_cli(*args, "--out", "a2").returncode == 0
    for f in ("attribution.csv", "coalitions.csv"):
        assert (tmp_path / "a1" / f).read_bytes() == (tmp_path / "a2" / f).read_bytes()
    assert np.isfinite(t["conf"]).all()
