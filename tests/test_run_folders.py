"""Run folders under careless use (issue 11, items 8 and 10): --overwrite replaces only a ChipShift results
folder, never other work or the working folder; --seeds and the size of an in-memory run have an upper
limit; an --out that cannot be written is refused before any run; staging folders of killed runs are
cleaned up by the next run beside them, and a live writer's are never touched."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from pathlib import Path

import pytest

from sim.cli import main
from sim.engine import runs
from sim.engine.runs import check_out_dir, clean_stale_partials, folder_kind


def refused(capsys, argv, *words) -> str:
    code = main([str(a) for a in argv])
    err = capsys.readouterr().err
    assert code == 2 and err.startswith("error: "), err
    assert "Traceback" not in err
    for w in words:
        assert w in err, err
    return err


def forbid_runs(monkeypatch, *targets: str) -> None:
    """Calling any of ``targets`` fails the test: every refusal must come before the runs."""
    def boom(*a, **k):
        raise AssertionError("a model run started before the request was checked")

    for t in targets:
        monkeypatch.setattr(t, boom)


@pytest.fixture
def no_runs(monkeypatch):
    forbid_runs(monkeypatch, "sim.cli.run_scenario", "sim.analysis.attribution.attribute")


def run_folder(path: Path, kind: str | None = "run") -> Path:
    path.mkdir(parents=True)
    man = {"run": {"tool": "chipshift", "scenario": "history"}, "grid": {"tool": "chipshift", "kind": "grid"},
           "attribution": {"analysis": "attribution"}}.get(kind)
    if man is not None:
        (path / "manifest.json").write_text(json.dumps(man))
    (path / "timeseries.parquet").write_bytes(b"old")
    return path


# ---------------------------------------------------------------- 8. --overwrite


def test_overwrite_never_replaces_a_folder_of_other_work(tmp_path, monkeypatch, capsys, no_runs):
    monkeypatch.chdir(tmp_path)
    thesis = tmp_path / "thesis"
    thesis.mkdir()
    (thesis / "thesis.tex").write_text("\\documentclass{article}\n")
    refused(capsys, ["run", "history", "--seeds", 1, "--out", thesis, "--overwrite"],
            "not a ChipShift results folder", "Nothing was changed")
    assert [p.name for p in thesis.iterdir()] == ["thesis.tex"]
    # a manifest that is not ours, or not JSON, does not make a results folder either
    for text in ('{"tool": "latex"}', "{ not json", "[1, 2]"):
        (thesis / "manifest.json").write_text(text)
        refused(capsys, ["run", "history", "--seeds", 1, "--out", thesis, "--overwrite"], "not a ChipShift")
        assert (thesis / "thesis.tex").exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["thesis"]   # no staging folder left beside it


@pytest.mark.parametrize("out", [".", "..", "./", "sub/.."])
def test_overwrite_of_the_working_folder_or_a_parent_is_refused(tmp_path, monkeypatch, capsys, no_runs, out):
    work = tmp_path / "work"
    run_folder(work / "sub")
    monkeypatch.chdir(work)
    refused(capsys, ["run", "history", "--seeds", 1, "--out", out, "--overwrite"], "working folder")
    refused(capsys, ["run", "history", "--seeds", 1, "--out", out], "working folder")
    assert (work / "sub" / "timeseries.parquet").read_bytes() == b"old"


def test_folder_kinds_by_manifest(tmp_path):
    assert folder_kind(run_folder(tmp_path / "r", "run")) == "run"
    assert folder_kind(run_folder(tmp_path / "g", "grid")) == "grid"
    assert folder_kind(run_folder(tmp_path / "a", "attribution")) == "attribution"
    assert folder_kind(run_folder(tmp_path / "n", None)) is None
    for kind in ("run", "grid", "attribution"):
        check_out_dir(tmp_path / kind[0], overwrite=True)          # a results folder may be replaced
    with pytest.raises(runs.OutputDirError, match="not empty"):
        check_out_dir(tmp_path / "r", overwrite=False)
    with pytest.raises(runs.OutputDirError, match="is a run folder; --overwrite replaces only an attribution folder"):
        check_out_dir(tmp_path / "r", overwrite=True, replaces=("attribution",))


def test_attribute_overwrites_only_an_attribution_folder(tmp_path, monkeypatch, capsys, no_runs):
    monkeypatch.chdir(tmp_path)
    for kind in ("run", None):
        out = run_folder(tmp_path / f"x-{kind}", kind)
        refused(capsys, ["attribute", "history", "--base", "no-controls", "--outcome", "share:Nvidia:2025",
                         "--out", out, "--overwrite", "--no-progress"], "replaces only an attribution folder")
        assert (out / "timeseries.parquet").read_bytes() == b"old"


def test_overwrite_replaces_a_run_folder(tmp_path, monkeypatch, short_history):
    monkeypatch.chdir(tmp_path)
    out = run_folder(tmp_path / "r", "run")
    res = runs.run_scenario(short_history, seeds=1)
    runs.write_run(res, out, overwrite=True)
    assert folder_kind(out) == "run" and (out / "timeseries.parquet").read_bytes() != b"old"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["r"]


# ---------------------------------------------------------------- 10. limits and early refusals


@pytest.mark.parametrize("seeds", [1001, 10**9])
def test_seeds_have_an_upper_limit(tmp_path, capsys, no_runs, seeds):
    refused(capsys, ["run", "history", "--seeds", seeds, "--out", tmp_path / "never"], "--seeds", "more than 1,000")
    refused(capsys, ["attribute", "history", "--base", "no-controls", "--outcome", "share:Nvidia:2025",
                     "--seeds", seeds, "--out", tmp_path / "never"], "--seeds")
    assert not (tmp_path / "never").exists()


def test_run_months_and_the_scenarios_replicates_are_limited_too(tmp_path, capsys, no_runs):
    long = tmp_path / "long.toml"
    long.write_text('[scenario]\nname = "long"\nextends = "history"\nend = "2061-12"\nreplicates = 10000\n')
    refused(capsys, ["run", long, "--out", tmp_path / "never"], "replicates", "10,000 seeds")
    refused(capsys, ["run", long, "--seeds", 300, "--out", tmp_path / "never"], "300 seeds of 480 months",
            "run-months")
    assert not (tmp_path / "never").exists()


@pytest.mark.parametrize("where", ["/proc/chipshift-x", "{file}/sub", "{file}/a/b"])
def test_unwritable_out_is_refused_before_any_run(tmp_path, capsys, no_runs, where):
    f = tmp_path / "a-file"
    f.write_text("x")
    out = where.replace("{file}", str(f))
    refused(capsys, ["run", "history", "--seeds", 1, "--out", out], "cannot write", "nothing was run")
    refused(capsys, ["attribute", "history", "--base", "no-controls", "--outcome", "share:Nvidia:2025",
                     "--out", out, "--no-progress"], "cannot write")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a-file"] and f.read_text() == "x"


def test_missing_parents_made_for_a_refused_out_are_removed(tmp_path, monkeypatch):
    def fail(*a, **k):
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(runs.tempfile, "mkdtemp", fail)
    with pytest.raises(runs.OutputDirError, match="Permission denied"):
        runs.reserve_out_dir(tmp_path / "a" / "b" / "out")
    assert list(tmp_path.iterdir()) == []


# ---------------------------------------------------------------- 10. staging folders of killed runs


def partials(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir() if ".partial-" in p.name)


def test_killed_run_leaves_a_staging_folder_that_the_next_run_removes(tmp_path, python_exe):
    env = {**os.environ, "PYTHONIOENCODING": "utf-8"}
    proc = subprocess.Popen([python_exe, "-m", "sim", "run", "history", "--seeds", "1000", "--out", "big"],
                            cwd=tmp_path, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            start_new_session=True)
    try:
        t0 = time.monotonic()
        while not partials(tmp_path):
            assert proc.poll() is None and time.monotonic() - t0 < 120, "no staging folder appeared"
            time.sleep(0.05)
        (stage,) = partials(tmp_path)
        time.sleep(0.5)
        assert proc.poll() is None, "the run finished too early for this test"
        assert clean_stale_partials(tmp_path) == [] and stage.exists()   # a live writer's: untouched
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=30)
    assert stage.exists() and not (tmp_path / "big").exists()
    r = subprocess.run([python_exe, "-m", "sim", "run", "history", "--seeds", "1", "--out", "small"], cwd=tmp_path, env=env, capture_output=True, text=True,
                       timeout=300)
    assert r.returncode == 0, r.stderr
    assert not stage.exists() and sorted(p.name for p in tmp_path.iterdir()) == ["small"]


def test_old_staging_folders_without_a_lock_are_removed_only_when_old(tmp_path):
    old, fresh = tmp_path / ".a.partial-old1", tmp_path / ".b.partial-new1"
    for d in (old, fresh):
        d.mkdir()
        (d / "timeseries.parquet").write_bytes(b"half")
    an_hour_ago = time.time() - 2 * 3600
    os.utime(old, (an_hour_ago, an_hour_ago))
    replaced = run_folder(tmp_path / ".c.old-999999999")   # a folder --overwrite was replacing; its process ended
    mine = run_folder(tmp_path / f".d.old-{os.getpid()}")
    keep = tmp_path / ".hidden-work"
    keep.mkdir()
    # folders named like ours that hold other work are never removed
    notes = tmp_path / ".notes.old-999999999"
    notes.mkdir()
    (notes / "thesis.tex").write_text("x")
    other = tmp_path / ".e.partial-other1"
    other.mkdir()
    (other / "thesis.tex").write_text("x")
    os.utime(other, (an_hour_ago, an_hour_ago))
    assert sorted(clean_stale_partials(tmp_path)) == sorted([old, replaced])
    assert fresh.exists() and mine.exists() and keep.exists() and notes.exists() and other.exists()
