"""The other commands that write a folder of results (issue 11, siblings of items 8 and 10): `continuity`
and `calibrate` check and reserve --out before any run, never write into a folder of other work, and make
their folder appear whole or not at all; analyses and summaries written into a grid results folder are
replaced atomically."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

from sim.cli import main
from sim.engine.runs import OutputDirError, folder_kind
from test_run_folders import forbid_runs, refused


@pytest.fixture
def no_sweep(monkeypatch):
    forbid_runs(monkeypatch, "sim.analysis.continuity.sweep", "sim.calibration.pipeline.fit")


def thesis(tmp_path: Path) -> Path:
    d = tmp_path / "thesis"
    d.mkdir()
    (d / "thesis.tex").write_text("\\documentclass{article}\n")
    return d


def test_continuity_never_writes_into_other_work_and_checks_out_first(tmp_path, monkeypatch, capsys, no_sweep):
    monkeypatch.chdir(tmp_path)
    d = thesis(tmp_path)
    refused(capsys, ["continuity", "history", "--out", d, "--overwrite"], "not a ChipShift results folder")
    refused(capsys, ["continuity", "history", "--out", d], "not empty")
    run = tmp_path / "run"
    run.mkdir()
    (run / "manifest.json").write_text(json.dumps({"tool": "chipshift", "scenario": "history"}))
    refused(capsys, ["continuity", "history", "--out", run, "--overwrite"], "a run folder",
            "replaces only a continuity folder")
    refused(capsys, ["continuity", "history", "--out", "/proc/chipshift-x/c"], "cannot write")
    refused(capsys, ["continuity", "history", "--months", 999], "--months 999")
    assert [p.name for p in d.iterdir()] == ["thesis.tex"] and (run / "manifest.json").exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["run", "thesis"]


def test_continuity_folder_appears_whole_or_not_at_all(tmp_path, monkeypatch, capsys):
    from sim.analysis import continuity as C

    monkeypatch.chdir(tmp_path)
    out = tmp_path / "c"
    fake = pd.DataFrame({"axis": ["x"], "offset": [0.0], "entity": ["Nvidia"], "share": [0.5]})
    monkeypatch.setattr(C, "event_points", lambda sc, m: [])
    monkeypatch.setattr(C, "parameter_points", lambda sc, names: [])
    monkeypatch.setattr(C, "sweep", lambda *a, **k: fake)
    monkeypatch.setattr(C, "jumps", lambda df, t: pd.DataFrame(columns=["axis", "jump"]))

    def dies(*a, **k):
        raise RuntimeError("killed half-way")

    monkeypatch.setattr(C, "removal_directions", dies)
    with pytest.raises(RuntimeError):
        main(["continuity", "history", "--out", str(out), "--param"])
    assert not out.exists() and list(tmp_path.iterdir()) == []     # no half-written folder, no staging left
    monkeypatch.setattr(C, "removal_directions", lambda *a, **k: pd.DataFrame(
        {"event": [], "year": [], "nvidia_with": [], "nvidia_without": [], "wrong": []}))
    monkeypatch.setattr(C, "parameter_directions", lambda *a, **k: pd.DataFrame(
        {"parameter": [], "factor": [], "entity": [], "year": [], "change": [], "expected": [], "wrong": []}))
    assert main(["continuity", "history", "--out", str(out), "--param"]) == 0
    assert folder_kind(out) == "continuity" and (out / "sweep.csv").exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["c"]
    assert main(["continuity", "history", "--out", str(out), "--param", "--overwrite"]) == 0   # its own kind


def test_calibrate_checks_its_folder_before_the_fit(tmp_path, monkeypatch, capsys, no_sweep):
    from sim.calibration.pipeline import calibrate

    d = thesis(tmp_path)
    with pytest.raises(OutputDirError, match="not empty"):
        calibrate("history", out=d, budget=12, n_seeds=1, workers=1, write=False, progress=False)
    refused(capsys, ["calibrate", "--out", d, "--budget", 12, "--seeds", 1, "--workers", 1, "--dry-run"],
            "not empty")
    refused(capsys, ["calibrate", "--out", "/proc/chipshift-x/cal", "--budget", 12, "--dry-run"], "cannot write")
    refused(capsys, ["calibrate", "--out", d, "--overwrite", "--budget", 12, "--dry-run"],
            "not a ChipShift results folder", "replaces only a calibration folder")
    assert [p.name for p in d.iterdir()] == ["thesis.tex"]
    # --overwrite accepts an earlier calibration report (the fit then starts; here it is forbidden), and the
    # earlier report stays whole until a new one is complete
    old = tmp_path / "cal"
    old.mkdir()
    (old / "manifest.json").write_text(json.dumps({"tool": "chipshift", "kind": "calibration"}))
    (old / "report.md").write_text("earlier report")
    with pytest.raises(AssertionError, match="a model run started"):
        calibrate("history", out=old, budget=12, n_seeds=1, workers=1, write=False, progress=False, overwrite=True)
    assert (old / "report.md").read_text() == "earlier report"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["cal", "thesis"]


def test_calibrate_leaves_no_half_written_report(tmp_path, monkeypatch):
    from sim.calibration import pipeline

    def dies(*a, **k):
        raise RuntimeError("killed during the fit")

    monkeypatch.setattr(pipeline, "fit", dies)
    with pytest.raises(RuntimeError):
        pipeline.calibrate("history", out=tmp_path / "cal", budget=12, n_seeds=1, workers=1, write=False,
                           progress=False)
    assert list(tmp_path.iterdir()) == []


@pytest.fixture(scope="module")
def levers(tmp_path_factory):
    from analysis_synthetic import ROBUST_AXES, grid_head, lever_payoff, synthetic_results

    return synthetic_results(tmp_path_factory.mktemp("syn") / "levers", grid_head("factorial", replicates=3)
                             + ROBUST_AXES, lever_payoff)


@pytest.mark.parametrize("command,table", [
    (["summarize", "{d}", "--outcome", "share:Huawei:2024"], "summary.csv"),
    (["robustness", "{d}", "--outcome", "share:Huawei:2024", "--bootstrap", "20"], "robustness.csv"),
    (["discover", "{d}", "--outcome", "share:Huawei:2024", "--above", "0.6"], "discovery.csv"),
])
def test_outputs_written_into_a_grid_folder_are_never_half_written(levers, tmp_path, monkeypatch, capsys,
                                                                   command, table):
    """summarize and the analyses replace their tables in the results folder atomically: a crash while a
    table is being written (here: the disk fills up before the new file is in place) leaves the previous
    one whole, never half of a new one."""
    import os
    import shutil

    d = tmp_path / "levers"
    shutil.copytree(levers, d)
    (d / table).write_text("previous results\n")
    real = os.replace

    def crash(src, dst, *a, **k):
        if Path(dst).name == table:
            raise OSError(28, "No space left on device")
        return real(src, dst, *a, **k)

    monkeypatch.setattr(os, "replace", crash)
    code = main([c.format(d=d) for c in command])
    capsys.readouterr()
    assert code != 0
    assert (d / table).read_text() == "previous results\n"
    assert not [p.name for p in d.iterdir() if p.name.startswith(".tmp-")]


@pytest.mark.parametrize("argv,word", [
    (["grid", "g.toml", "--out", "o", "--workers", "100000"], "--workers 100,000 is more than 256"),
    (["grid", "g.toml", "--out", "o", "--chunk-size", "10000000"], "--chunk-size"),
    (["attribute", "history", "--base", "no-controls", "--outcome", "share:Huawei:2027", "--permutations",
      "99999999"], "--permutations"),
    (["continuity", "history", "--workers", "5000"], "--workers"),
    (["calibrate", "--budget", "999999999"], "--budget"),
    (["sensitivity", "d", "--outcome", "share:Huawei", "--resamples", "10000000"], "--resamples"),
    (["robustness", "d", "--outcome", "share:Huawei", "--bootstrap", "10000000"], "--bootstrap"),
    (["discover", "d", "--outcome", "share:Huawei", "--above", "0.5", "--boxes", "1000"], "--boxes"),
])
def test_other_counts_have_an_upper_limit(capsys, no_sweep, argv, word):
    """Siblings of --seeds: every count a command takes is refused at once above its limit."""
    refused(capsys, argv, word, "is more than")


def test_regression_baseline_is_replaced_atomically(tmp_path, monkeypatch):
    """A crash while the regression baseline is rewritten leaves the previous baseline whole."""
    import os

    import numpy as np

    from sim.calibration import pipeline
    from sim.calibration.targets import load_targets

    targets = load_targets()
    monkeypatch.setattr(pipeline, "baseline_stats", lambda sc: (targets, np.full(len(targets), 0.5)))
    path = tmp_path / "history.json"
    path.write_text('{"previous": true}\n')

    def crash(src, dst, *a, **k):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "replace", crash)
    with pytest.raises(OSError):
        pipeline.write_baseline("history", path)
    assert path.read_text() == '{"previous": true}\n' and [p.name for p in tmp_path.iterdir()] == ["history.json"]
    monkeypatch.undo()
    monkeypatch.setattr(pipeline, "baseline_stats", lambda sc: (targets, np.full(len(targets), 0.5)))
    pipeline.write_baseline("history", path)
    assert json.loads(path.read_text())["n_seeds"] == pipeline.BASELINE_SEEDS


@pytest.mark.parametrize("command,word", [
    (["sensitivity", "sobol", "--outcome", "share:Huawei:2024", "--conf-level", "7"], "--conf-level"),
    (["sensitivity", "sobol", "--outcome", "share:Huawei:2024", "--resamples", "0"], "--resamples"),
    (["robustness", "levers", "--outcome", "share:Huawei:2024", "--bootstrap", "-3"], "--bootstrap"),
])
def test_analysis_options_out_of_range_are_refused_without_a_traceback(tmp_path_factory, capsys, command, word):
    """Siblings of `summarize --max-rows -1`: an option out of its range is one line, never a traceback."""
    from analysis_synthetic import make_outputs

    root = make_outputs(tmp_path_factory.mktemp("opts") / "outputs")
    command = [command[0], str(root / command[1]), *command[2:]]
    refused(capsys, command, word)
