"""The four analysis commands on the shipped grids and scenarios, as a clean clone runs them.

The shipped grids are thousands of runs; here each is shrunk (fewer samples and seeds) and run by path,
then analysed with the command its file suggests ("Then: python -m sim ..."). The attribution is the one
docs/ANALYSIS.md shows, with 2 seeds.
"""

from __future__ import annotations

import re
import shlex

import pandas as pd
import pytest

from sim.experiments.grid import GRID_DIR

pytestmark = pytest.mark.slow

SHRINK = {
    # grid: (replacements in the file's text)
    "sobol-uncertain-parameters": [(r"(?m)^samples = 256$", "samples = 2")],
    "tencent-robustness": [(r"(?m)^samples = 16$", "samples = 2"), (r"(?m)^replicates = 3$", "replicates = 2")],
}


def shrunk(name: str, tmp_path) -> str:
    text = (GRID_DIR / f"{name}.toml").read_text(encoding="utf-8")
    for pat, rep in SHRINK[name]:
        text, n = re.subn(pat, rep, text)
        assert n == 1, f"{name}.toml changed: {pat!r} not found once; update SHRINK"
    (tmp_path / f"{name}.toml").write_text(text, encoding="utf-8")
    return text


def suggested(text: str) -> list[str]:
    """The command a shipped grid file suggests after the run ("# Then: python -m sim CMD DIR ...")."""
    m = re.search(r"(?m)^# Then: python -m sim (.+)$", text)
    assert m, "the grid file should say which analysis to run next (# Then: python -m sim ...)"
    return shlex.split(m.group(1))


def test_sobol_grid_sensitivity_and_discovery(run_cli, tmp_path):
    text = shrunk("sobol-uncertain-parameters", tmp_path)
    r = run_cli("grid", "sobol-uncertain-parameters.toml", "--out", "sobol", "--workers", "1", "--no-progress")
    assert r.returncode == 0, r.stderr
    args = [a.replace("DIR", "sobol") for a in suggested(text)]
    assert args[0] == "sensitivity"
    r = run_cli(*args)
    assert r.returncode == 0, r.stderr
    t = pd.read_csv(tmp_path / "sobol" / "sensitivity.csv")
    assert list(t.columns) == ["outcome", "parameter", "index", "value", "conf"]
    assert set(t["outcome"]) == {"share:Nvidia:2026", "sum:Total:units:2030"}
    assert {"S1", "ST", "se_mean", "variance_share"} <= set(t["index"])
    assert (tmp_path / "sobol" / "sensitivity-share_Nvidia_2026.svg").exists()
    # scenario discovery on the same folder: where is Nvidia's 2026 share above its median?
    from sim.experiments.summarize import run_outcomes

    med = float(run_outcomes(tmp_path / "sobol", ["share:Nvidia:2026"])["share:Nvidia:2026"].median())
    r = run_cli("discover", "sobol", "--outcome", "share:Nvidia:2026", "--above", f"{med:.6f}", "--mass-min", "0.1")
    assert r.returncode == 0, r.stderr
    assert "PRIM:" in r.stdout
    d = pd.read_csv(tmp_path / "sobol" / "discovery.csv")
    assert list(d.columns) == ["box", "coverage", "density", "parameter", "low", "high"]
    assert (tmp_path / "sobol" / "discovery_tradeoff.csv").exists()
    assert (tmp_path / "sobol" / "discovery_tradeoff.svg").exists()
    assert (tmp_path / "sobol" / "discovery_box.svg").read_bytes().lstrip().startswith(b"<svg")


def test_tencent_grid_robustness(run_cli, tmp_path):
    text = shrunk("tencent-robustness", tmp_path)
    r = run_cli("grid", "tencent-robustness.toml", "--out", "tencent", "--workers", "1", "--no-progress")
    assert r.returncode == 0, r.stderr
    args = [a.replace("DIR", "tencent") for a in suggested(text)]
    assert args[0] == "robustness" and "--lever" not in args      # the levers come from the grid file
    r = run_cli(*args)
    assert r.returncode == 0, r.stderr
    t = pd.read_csv(tmp_path / "tencent" / "robustness.csv")
    assert len(t) == 9 and sorted(t["rank"]) == list(range(1, 10))     # 3 CUDA dependences x 3 blocks
    assert {"tencent_cuda_dependence", "h200_customs_block", "max_regret", "satisficing"} <= set(t.columns)
    assert t["max_regret"].is_monotonic_increasing
    assert (tmp_path / "tencent" / "robustness.svg").exists()


def test_attribution_of_history_against_no_controls(run_cli, tmp_path):
    r = run_cli("attribute", "history", "--base", "no-controls", "--outcome", "share:Nvidia:2027", "--seeds", "2",
                "--groups", "history", "--out", "attr", "--workers", "1", "--no-progress")
    assert r.returncode == 0, r.stderr
    t = pd.read_csv(tmp_path / "attr" / "attribution.csv")
    groups = t[t["group"] != "total"]
    # no-controls removes the US rules; the history grouping puts them in five named groups
    assert set(groups["group"]) == {"October 2022 rule", "October 2023 rule",
                                    "US supply-chain rules (SMIC, TSMC, HBM)", "H20 licences and levy (2025)",
                                    "H200 opening and duty (2026)"}
    assert groups["contribution"].sum() == pytest.approx(t["contribution"].iloc[-1], abs=1e-9)
    assert "From no-controls to history" in r.stdout
    assert (tmp_path / "attr" / "attribution.svg").exists()


@pytest.mark.parametrize("name", sorted(SHRINK))
def test_shipped_analysis_grids_suggest_a_command_that_parses(name):
    from sim.cli import build_parser

    args = suggested((GRID_DIR / f"{name}.toml").read_text(encoding="utf-8"))
    build_parser().parse_args(args)
