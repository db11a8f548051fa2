"""Running grids: serial == process pool == Dask, resume after SIGKILL, reuse of identical runs, errors."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time

import pandas as pd
import pytest

from sim.engine import store
from sim.engine.executors import LocalExecutor, SerialExecutor, make_executor
from sim.experiments.gridrun import GridError, run_grid
from sim.model.seeds import derive_seeds

GRID = """
[grid]
name = "tiny"
scenario = "history"
end = "{end}"
replicates = {reps}
seed = 7
{extra}

[[axes]]
parameter = "hoarding.strength"
values = {values}

[[axes]]
event = "us-2023-10-tpp-rule"
field = "timing"
values = ["2022-11", "2022-12"]
"""


def write_grid(path, end="2022-12", reps=2, values="[0.5, 3.0]", extra=""):
    path.write_text(textwrap.dedent(GRID.format(end=end, reps=reps, values=values, extra=extra)))
    return path


def frame(out) -> pd.DataFrame:
    return store.read_runs(out).sort_values(["run", "date", "entity", "metric"]).reset_index(drop=True)


def check_complete(out, n: int) -> None:
    done = store.completed_runs(out)            # raises if a run is in two shards
    assert sorted(done) == list(range(n))
    ts = store.read_runs(out)
    rows = ts.groupby("run").size()
    assert len(rows) == n and rows.nunique() == 1  # every run whole, none twice
    assert not ts.duplicated(["run", "date", "entity", "metric"]).any()


@pytest.fixture(scope="module")
def serial_out(tmp_path_factory):
    d = tmp_path_factory.mktemp("serial")
    g = write_grid(d / "g.toml")
    rep = run_grid(g, d / "out", executor=SerialExecutor(), progress=False)
    assert rep.complete and rep.computed == 8
    return d / "out"


def test_serial_results_folder(serial_out):
    check_complete(serial_out, 8)
    ts = frame(serial_out)
    assert list(ts.columns) == ["run", "seed", "date", "entity", "metric", "value"]
    assert str(ts["run"].dtype) == "int64" and str(ts["seed"].dtype) == "int64"
    assert str(ts["date"].dtype).startswith("datetime64") and (ts["date"].dt.day == 1).all()
    ex = store.read_experiments(serial_out)
    assert len(ex) == 8 and ex["run"].tolist() == list(range(8))
    assert set(ex.columns) >= {"point", "replicate", "seed", "spec_hash", "hoarding.strength",
                               "us-2023-10-tpp-rule.timing"}
    # each run's seed in the shards is the recorded one, derived from the master seed
    seeds = ts.groupby("run")["seed"].first()
    assert seeds.tolist() == ex["seed"].tolist() == derive_seeds(7, 2) * 4
    man = json.loads((serial_out / "manifest.json").read_text())
    assert man["seeds"] == ex["seed"].tolist() and man["master_seed"] == 7 and man["status"] == "complete"
    assert man["grid_file_sha256"] and man["git_commit"] and man["versions"]["mesa"]
    assert (serial_out / "grid.toml").exists() and (serial_out / "scenario.toml").exists()


def test_process_pool_equals_serial(serial_out, tmp_path):
    g = write_grid(tmp_path / "g.toml")
    rep = run_grid(g, tmp_path / "out", executor=LocalExecutor(2), chunk_size=1, progress=False)
    assert rep.complete and rep.workers == 2
    assert len(store.shard_files(tmp_path / "out")) == 8  # one shard per chunk of one run
    pd.testing.assert_frame_equal(frame(tmp_path / "out"), frame(serial_out))


@pytest.fixture(scope="module")
def dask_cluster():
    from distributed import LocalCluster

    from sim.engine.executors import no_main_reimport

    with no_main_reimport():  # other tests (AppTest) may leave a script as __main__ in this process
        c = LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=":0")
    with c:
        yield c


def test_dask_equals_serial(serial_out, tmp_path, dask_cluster):
    from distributed import Client

    g = write_grid(tmp_path / "g.toml")
    with Client(dask_cluster) as client:
        rep = run_grid(g, tmp_path / "a", executor=make_executor("dask", client=client), chunk_size=3,
                       progress=False)
    assert rep.complete and rep.executor == "dask" and rep.workers == 2
    pd.testing.assert_frame_equal(frame(tmp_path / "a"), frame(serial_out))
    # the command line against the cluster's scheduler address
    from sim.cli import main

    assert main(["grid", str(g), "--out", str(tmp_path / "b"), "--executor", "dask", "--scheduler",
                 dask_cluster.scheduler_address, "--no-progress"]) == 0
    pd.testing.assert_frame_equal(frame(tmp_path / "b"), frame(serial_out))


def test_resume_after_sigkill_completes_without_loss_or_duplicates(tmp_path, python_exe):
    n = 48
    g = write_grid(tmp_path / "g.toml", end="2024-06", reps=6, values="[0.0, 0.5, 1.0, 2.0]")
    out = tmp_path / "out"
    cmd = [python_exe, "-m", "sim", "grid", str(g), "--out", str(out), "--workers", "2", "--chunk-size", "1"]
    proc = subprocess.Popen(cmd + ["--no-progress"], start_new_session=True, stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE)
    t0 = time.monotonic()
    try:
        while len(store.shard_files(out)) < 3:
            assert proc.poll() is None, proc.stderr.read().decode()
            assert time.monotonic() - t0 < 120, "no shards appeared"
            time.sleep(0.01)
    finally:
        os.killpg(proc.pid, signal.SIGKILL)  # the CLI, the forkserver and every worker
        proc.wait(timeout=30)
        proc.stderr.close()
    done_at_kill = len(store.completed_runs(out))
    assert 0 < done_at_kill < n, "the grid was not interrupted mid-way"
    r = subprocess.run(cmd + ["--resume", "--no-progress"], capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr
    check_complete(out, n)
    man = json.loads((out / "manifest.json").read_text())
    assert man["status"] == "complete" and len(man["sessions"]) == 2
    last = man["sessions"][-1]
    assert last["already_done"] >= done_at_kill and last["computed"] == n - last["already_done"]
    assert not list((out / "timeseries").glob(".tmp-*"))
    # resuming a finished folder computes nothing
    rep = run_grid(g, out, executor=SerialExecutor(), resume=True, progress=False)
    assert rep.complete and rep.computed == 0 and rep.already == n


def test_identical_runs_are_copied_not_recomputed(serial_out, tmp_path):
    # a wider grid reusing the serial folder: only the new hoarding value is computed
    g = write_grid(tmp_path / "g.toml", values="[0.5, 3.0, 1.5]")
    rep = run_grid(g, tmp_path / "out", executor=SerialExecutor(), reuse=[serial_out], progress=False)
    assert rep.complete and rep.computed == 4 and rep.copied == 8
    new, old = store.read_experiments(tmp_path / "out"), store.read_experiments(serial_out)
    m = new.merge(old, on="spec_hash", suffixes=("", "_old"))
    assert len(m) == 8
    a = frame(tmp_path / "out").merge(m[["run", "run_old"]], on="run").drop(columns="run")
    b = frame(serial_out).rename(columns={"run": "run_old"})
    pd.testing.assert_frame_equal(a.sort_values(list(b.columns)).reset_index(drop=True),
                                  b.sort_values(list(b.columns)).reset_index(drop=True)[list(a.columns)])


def test_rerun_from_a_results_folder_uses_its_frozen_grid(serial_out, tmp_path):
    rep = run_grid(serial_out, tmp_path / "again", executor=SerialExecutor(), reuse=[serial_out], progress=False)
    assert rep.complete and rep.computed == 0 and rep.copied == 8
    pd.testing.assert_frame_equal(frame(tmp_path / "again"), frame(serial_out))
    assert (tmp_path / "again" / "grid.toml").read_text() == (serial_out / "grid.toml").read_text()


def test_duplicate_design_points_computed_once(tmp_path):
    # a Latin hypercube over a two-value axis samples the same point several times
    text = textwrap.dedent("""
        [grid]
        name = "dups"
        scenario = "history"
        end = "2022-06"
        design = "lhs"
        samples = 6
        replicates = 2
        seed = 3

        [[axes]]
        parameter = "hoarding.strength"
        values = [0.5, 2.0]
        """)
    (tmp_path / "g.toml").write_text(text)
    rep = run_grid(tmp_path / "g.toml", tmp_path / "out", executor=SerialExecutor(), progress=False)
    ex = store.read_experiments(tmp_path / "out")
    distinct = ex["spec_hash"].nunique()
    assert rep.complete and distinct < 12 and rep.computed == distinct and rep.copied == 12 - distinct
    check_complete(tmp_path / "out", 12)


def test_folder_errors(serial_out, tmp_path):
    g = write_grid(tmp_path / "g.toml")
    with pytest.raises(GridError, match="not empty"):
        run_grid(g, serial_out, executor=SerialExecutor(), progress=False)
    with pytest.raises(GridError, match="nothing to resume"):
        run_grid(g, tmp_path / "new", executor=SerialExecutor(), resume=True, progress=False)
    g2 = write_grid(tmp_path / "g2.toml", values="[0.5, 2.0]")
    with pytest.raises(GridError, match="has changed"):
        run_grid(g2, serial_out, executor=SerialExecutor(), resume=True, progress=False)


def test_cli_reports_bad_grid_and_bad_folder(tmp_path, run_cli):
    g = write_grid(tmp_path / "g.toml", values="[0.5, -1.0]")
    r = run_cli("grid", str(g), "--out", str(tmp_path / "o"), "--workers", "1")
    assert r.returncode == 2 and "axes[1].values" not in r.stderr
    assert f"error: {g}: axes[0].values: hoarding.strength: -1.0 is outside the bounds" in r.stderr
    (tmp_path / "full").mkdir()
    (tmp_path / "full" / "x").write_text("x")
    g = write_grid(tmp_path / "ok.toml")
    r = run_cli("grid", str(g), "--out", str(tmp_path / "full"), "--workers", "1")
    assert r.returncode == 2 and "not empty" in r.stderr


def test_failed_runs_are_recorded_and_retried(tmp_path, monkeypatch):
    import sim.engine.worker as w

    g = write_grid(tmp_path / "g.toml", reps=1)
    real = w.run_batch

    def flaky(jobs, trace=False, details=()):
        if any(j.run == 2 for j in jobs):
            raise RuntimeError("boom")
        return real(jobs, trace=trace, details=details)

    monkeypatch.setattr(w, "run_batch", flaky)
    rep = run_grid(g, tmp_path / "out", executor=SerialExecutor(), progress=False)
    assert not rep.complete and list(rep.failed) == [2] and "boom" in rep.failed[2]
    assert "boom" in (tmp_path / "out" / "failures.json").read_text()
    assert sorted(store.completed_runs(tmp_path / "out")) == [0, 1, 3]
    monkeypatch.setattr(w, "run_batch", real)
    rep = run_grid(g, tmp_path / "out", executor=SerialExecutor(), resume=True, progress=False)
    assert rep.complete and rep.computed == 1 and not (tmp_path / "out" / "failures.json").exists()
    check_complete(tmp_path / "out", 4)


def test_start_method_is_never_plain_fork():
    from sim.engine.executors import start_method

    assert start_method() in ("forkserver", "spawn")
    assert sys.modules.get("sim.engine.executors") is not None


def test_executors_keep_a_bounded_window_of_tasks_in_flight(short_history):
    """Memory does not grow with the grid: tasks are pulled lazily, a few per worker."""
    from sim.engine.worker import Task, run_chunk
    from sim.model.seeds import derive_seed

    base = short_history.with_changes(header={"end": "2022-02"})
    pulled = []

    def tasks():
        for i in range(12):
            pulled.append(i)
            yield Task(items=[([i], derive_seed(1, i), {"parameters": {}, "events": {}})])

    ex = LocalExecutor(2)
    seen_at_first = None
    runs = []
    for res in ex.map(run_chunk, base, tasks()):
        if seen_at_first is None:
            seen_at_first = len(pulled)
        runs += res.runs
    assert seen_at_first is not None and seen_at_first <= 2 * 2
    assert sorted(runs) == list(range(12)) and len(pulled) == 12


def test_folder_killed_during_set_up_can_be_started_again(tmp_path):
    g = write_grid(tmp_path / "g.toml", reps=1)
    out = tmp_path / "out"
    (out / "timeseries").mkdir(parents=True)
    (out / "grid.toml").write_text(g.read_text())       # set-up files, no manifest: killed before the start
    (out / ".tmp-abc.parquet").write_bytes(b"partial")
    rep = run_grid(g, out, executor=SerialExecutor(), resume=True, progress=False)
    assert rep.complete and rep.computed == 4
    check_complete(out, 4)
    (tmp_path / "other").mkdir()
    (tmp_path / "other" / "notes.txt").write_text("mine")  # a folder with foreign files is never removed
    with pytest.raises(GridError, match="not empty"):
        run_grid(g, tmp_path / "other", executor=SerialExecutor(), progress=False)
    assert (tmp_path / "other" / "notes.txt").exists()


def test_pool_starts_even_when_main_is_a_script_that_cannot_be_rerun(tmp_path, monkeypatch):
    """AppTest and `streamlit run` leave a page script as __main__; worker processes must not re-run it."""
    import types

    script = tmp_path / "page.py"
    script.write_text("raise SystemExit('the main script was re-run in a worker')\n")
    fake = types.ModuleType("__main__")
    fake.__file__ = str(script)
    monkeypatch.setitem(sys.modules, "__main__", fake)
    g = write_grid(tmp_path / "g.toml", reps=1)
    rep = run_grid(g, tmp_path / "out", executor=LocalExecutor(2), chunk_size=1, progress=False)
    assert rep.complete and rep.computed == 4
    assert sys.modules["__main__"] is fake
