"""Grid results folders under hostile or careless use: one writer at a time, damaged and doubled shards
caught (and repaired by --resume), no orphaned workers after SIGKILL or SIGTERM, every refusal made
before anything is written."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import pandas as pd
import pytest

from sim.engine import store
from sim.engine.executors import SerialExecutor
from sim.experiments.gridrun import GridError, run_grid
from sim.experiments.summarize import summarize

GRID = """
[grid]
name = "integrity"
scenario = "history"
end = "{end}"
replicates = {reps}
seed = 11

[[axes]]
parameter = "hoarding.strength"
values = {values}
"""


def write_grid(path: Path, end="2022-06", reps=2, values="[0.5, 3.0]") -> Path:
    path.write_text(textwrap.dedent(GRID.format(end=end, reps=reps, values=values)))
    return path


def no_traceback(r) -> None:
    assert "Traceback" not in r.stderr and "Traceback" not in r.stdout, r.stderr


def frame(out) -> pd.DataFrame:
    return store.read_runs(out).sort_values(["run", "date", "entity", "metric"]).reset_index(drop=True)


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    """A complete 3-point x 2-replicate folder: the numbers every repaired folder must give back."""
    d = tmp_path_factory.mktemp("ref")
    g = write_grid(d / "g.toml", values="[0.5, 1.5, 3.0]")
    rep = run_grid(g, d / "out", executor=SerialExecutor(), chunk_size=2, progress=False)
    assert rep.complete and len(store.shard_files(d / "out")) == 3
    return g, d / "out"


@pytest.fixture
def copy_of(reference, tmp_path):
    g, out = reference
    dst = tmp_path / "out"
    shutil.copytree(out, dst)
    return g, dst


def group_alive(pgid: int) -> list[int]:
    """Live (non-zombie) processes of a process group."""
    alive = []
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            fields = Path(f"/proc/{d}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[2]) == pgid and fields[0] not in ("Z", "X"):
            alive.append(int(d))
    return alive


def start_grid(python_exe, g, out, *extra, stdout=subprocess.DEVNULL):
    cmd = [python_exe, "-m", "sim", "grid", str(g), "--out", str(out), "--no-progress", *extra]
    return subprocess.Popen(cmd, start_new_session=True, stdout=stdout, stderr=subprocess.PIPE, text=True)


def wait_for_shards(proc, out, n=1, timeout=120):
    t0 = time.monotonic()
    while len(store.shard_files(out)) < n:
        assert proc.poll() is None, proc.stderr.read()
        assert time.monotonic() - t0 < timeout, "no shard appeared"
        time.sleep(0.02)


def killpg(proc) -> None:
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    proc.wait(timeout=30)
    for f in (proc.stdout, proc.stderr):
        if f is not None:
            f.close()


# ---------------------------------------------------------------- 2. one writer per folder


def test_second_writer_is_refused_while_the_folder_is_locked(copy_of):
    g, out = copy_of
    with store.FolderLock(out, "test holder"):
        with pytest.raises(GridError, match="another grid process is writing this folder"):
            run_grid(g, out, executor=SerialExecutor(), resume=True, progress=False)
        with pytest.raises(GridError, match=rf"pid {os.getpid()}"):
            run_grid(out, out, executor=SerialExecutor(), progress=False)
        assert store.lock_holder(out)["command"] == "test holder"
    assert store.lock_holder(out) is None
    rep = run_grid(g, out, executor=SerialExecutor(), resume=True, progress=False)  # free again
    assert rep.complete and rep.computed == 0


def test_resume_while_the_grid_is_still_running_is_refused(tmp_path, python_exe):
    """The red-team case: `--resume` (or a plain re-run) started while the first process still writes."""
    # 1,000 runs in chunks of one: long enough to still be writing after the two refused commands (the first
    # grid is stopped as soon as they are done), however fast the engine runs a chunk
    g = write_grid(tmp_path / "g.toml", end="2030-12", reps=250, values="[0.0, 0.5, 1.0, 2.0]")
    out = tmp_path / "out"
    first = start_grid(python_exe, g, out, "--workers", "1", "--chunk-size", "1")
    try:
        wait_for_shards(first, out, 1)
        second = subprocess.run([python_exe, "-m", "sim", "grid", str(g), "--out", str(out), "--resume",
                                 "--workers", "1", "--no-progress"], capture_output=True, text=True, timeout=120)
        by_folder = subprocess.run([python_exe, "-m", "sim", "grid", str(out), "--out", str(out), "--workers", "1",
                                    "--no-progress"], capture_output=True, text=True, timeout=120)
        assert first.poll() is None, "the first grid finished too early for this test"
        first.send_signal(signal.SIGTERM)  # stop it cleanly: the test is about the refusals
        assert first.wait(timeout=60) == 128 + signal.SIGTERM
    finally:
        killpg(first)
    for r in (second, by_folder):
        assert r.returncode == 2 and "another grid process is writing this folder" in r.stderr, r.stderr
        assert f"pid {first.pid}" in r.stderr
        no_traceback(r)
    store.completed_runs(out)  # a run stored twice would raise
    man = json.loads((out / "manifest.json").read_text())
    assert len(man["sessions"]) == 1  # the refused commands recorded no session


def manifest_of(out: Path) -> dict:
    return json.loads((out / "manifest.json").read_text())


def copy_shard_recorded(shard: Path, name: str) -> Path:
    """A copy of a shard under another name, recorded in the manifest as if a writer had committed it (the
    old two-writer bug: the same runs stored twice, each shard intact)."""
    dst = shard.with_name(name)
    shutil.copy(shard, dst)
    out = shard.parent.parent
    man = manifest_of(out)
    man["shards"][name] = dict(man["shards"][shard.name])
    (out / "manifest.json").write_text(json.dumps(man))
    return dst


def test_doubled_shards_are_never_summed(copy_of, reference, run_cli):
    g, out = copy_of
    shard = store.shard_files(out)[0]
    copy_shard_recorded(shard, "part-0009-000001.parquet")
    with pytest.raises(store.StoreError, match="stored twice"):
        store.read_runs(out)
    with pytest.raises(store.StoreError, match="stored twice"):
        summarize(out)
    r = run_cli("summarize", out)
    assert r.returncode == 2 and "stored twice" in r.stderr and "--out" in r.stderr
    no_traceback(r)
    assert not (out / "summary.csv").exists()
    # --resume repairs the folder: the later copy is set aside, nothing is recomputed
    r = run_cli("grid", g, "--out", out, "--resume", "--workers", "1", "--no-progress")
    assert r.returncode == 0, r.stderr
    assert "set aside" in r.stdout + r.stderr and "0 computed" in r.stdout
    assert (out / "damaged" / "part-0009-000001.parquet").exists()
    assert "part-0009-000001.parquet" not in manifest_of(out)["shards"]
    pd.testing.assert_frame_equal(frame(out), frame(reference[1]))
    a, _ = summarize(out, write=False)
    b, _ = summarize(reference[1], write=False)
    pd.testing.assert_frame_equal(a, b)


# ---------------------------------------------------------------- 3. damaged shards


def test_shard_names_carry_their_sha256(reference):
    import hashlib

    for f in store.shard_files(reference[1]):
        assert store.shard_checksum(f) == hashlib.sha256(f.read_bytes()).hexdigest()


def test_manifest_records_every_shard_with_its_sha256_size_and_runs(reference):
    import hashlib

    out = reference[1]
    rec = manifest_of(out)["shards"]
    files = store.shard_files(out)
    assert sorted(rec) == [f.name for f in files]
    for f in files:
        data = f.read_bytes()
        assert rec[f.name]["sha256"] == hashlib.sha256(data).hexdigest() and rec[f.name]["bytes"] == len(data)
        assert rec[f.name]["runs"] == len(set(pd.read_parquet(f, columns=["run"])["run"]))


def forge_shard(out: Path) -> Path:
    """Replace the first shard by a well-formed one holding the same runs with doubled values, named with
    its own correct SHA-256 (a shard copied in from elsewhere, or written by another program)."""
    import hashlib
    import io

    first = store.shard_files(out)[0]
    t = pd.read_parquet(first)
    t["value"] = t["value"] * 2
    buf = io.BytesIO()
    t.to_parquet(buf, index=False)
    data = buf.getvalue()
    first.unlink()
    forged = out / "timeseries" / f"part-0001-000001-{hashlib.sha256(data).hexdigest()}.parquet"
    forged.write_bytes(data)
    return forged


def test_a_shard_the_manifest_does_not_record_is_never_read(copy_of, reference, run_cli):
    """A well-formed shard whose name carries its own correct checksum, but which no writer of this folder
    recorded, is refused by every reader, and --resume sets it aside and computes its runs again."""
    g, out = copy_of
    forged = forge_shard(out)
    with pytest.raises(store.StoreError, match="not recorded in manifest.json"):
        store.read_runs(out)
    r = run_cli("summarize", out)
    assert r.returncode == 2 and forged.name in r.stderr and "not recorded in manifest.json" in r.stderr
    no_traceback(r)
    r = run_cli("grid", g, "--out", out, "--resume", "--workers", "1", "--no-progress")
    assert r.returncode == 0 and "set aside 1" in r.stderr and "2 computed" in r.stdout, r.stderr
    assert (out / "damaged" / forged.name).exists()
    pd.testing.assert_frame_equal(frame(out), frame(reference[1]))
    assert sorted(manifest_of(out)["shards"]) == [f.name for f in store.shard_files(out)]


def test_shards_are_recorded_in_the_manifest_before_they_appear(tmp_path, monkeypatch):
    """Every shard a reader can list is already in the manifest on disk (the writer records, then renames),
    and only the holder of the folder's lock writes shards."""
    g = write_grid(tmp_path / "g.toml")
    out = tmp_path / "out"
    seen = []
    real = store._atomic_bytes

    def spy(data, path):
        if path.parent.name == "timeseries":
            seen.append((path.name, path.name in manifest_of(path.parent.parent)["shards"]))
        real(data, path)

    monkeypatch.setattr(store, "_atomic_bytes", spy)
    rep = run_grid(g, out, executor=SerialExecutor(), chunk_size=1, progress=False)
    assert rep.complete and len(seen) == 4 and all(recorded for _, recorded in seen), seen
    with pytest.raises(store.StoreError, match="only under the folder's lock"):
        store.ShardWriter(out, 9, manifest_of(out), store.FolderLock(out))


def test_resume_drops_a_record_whose_shard_never_appeared(copy_of, reference):
    """A writer killed between recording a shard and renaming it into place: the run is not done, and the
    next --resume computes it and drops the stale entry."""
    g, out = copy_of
    shard = store.shard_files(out)[2]
    shard.unlink()
    assert len(store.completed_runs(out)) == 4   # readers read the rest
    rep = run_grid(g, out, executor=SerialExecutor(), resume=True, progress=False)
    assert rep.complete and rep.computed == 2 and not rep.set_aside
    rec = manifest_of(out)["shards"]
    assert shard.name not in rec and sorted(rec) == [f.name for f in store.shard_files(out)]
    pd.testing.assert_frame_equal(frame(out), frame(reference[1]))


def test_folder_written_before_the_manifest_recorded_shards(copy_of, reference, run_cli):
    """Older folders (no "shards" in the manifest) are still read, verified by the checksum in each shard's
    name; --resume records their shards in the manifest."""
    g, out = copy_of
    man = manifest_of(out)
    del man["shards"]
    (out / "manifest.json").write_text(json.dumps(man))
    a, _ = summarize(out, write=False)
    b, _ = summarize(reference[1], write=False)
    pd.testing.assert_frame_equal(a, b)
    flip_a_byte(store.shard_files(out)[0])
    r = run_cli("summarize", out)
    assert r.returncode == 2 and "SHA-256 does not match the one recorded in its name" in r.stderr, r.stderr
    no_traceback(r)
    rep = run_grid(g, out, executor=SerialExecutor(), resume=True, progress=False)
    assert rep.complete and rep.computed == 2 and len(rep.set_aside) == 1
    assert sorted(manifest_of(out)["shards"]) == [f.name for f in store.shard_files(out)]
    pd.testing.assert_frame_equal(frame(out), frame(reference[1]))


def test_a_damaged_record_of_shards_is_reported_cleanly(copy_of, run_cli):
    g, out = copy_of
    man = manifest_of(out)
    man["shards"] = "gone"
    (out / "manifest.json").write_text(json.dumps(man))
    for args in (["summarize", out], ["grid", g, "--out", out, "--resume", "--workers", "1", "--no-progress"],
                 ["robustness", out, "--outcome", "share:Huawei:2022"]):
        r = run_cli(*args)
        assert r.returncode == 2 and "manifest.json: shards: not a table" in r.stderr, (args, r.stderr)
        no_traceback(r)
    man["shards"] = {f.name: {"sha256": "x"} for f in store.shard_files(out)}   # entries without a checksum
    (out / "manifest.json").write_text(json.dumps(man))
    r = run_cli("summarize", out)
    assert r.returncode == 2 and "has no valid SHA-256 in manifest.json" in r.stderr
    no_traceback(r)


def flip_a_byte(p: Path) -> None:
    b = bytearray(p.read_bytes())
    i = len(b) // 2
    b[i] ^= 0xFF
    p.write_bytes(bytes(b))


@pytest.mark.parametrize("damage", ["truncate", "flip"])
def test_damaged_shard_gives_a_clear_error_and_resume_repairs_it(copy_of, reference, run_cli, damage):
    g, out = copy_of
    shard = store.shard_files(out)[1]
    if damage == "truncate":
        shard.write_bytes(shard.read_bytes()[: shard.stat().st_size // 3])
    else:
        flip_a_byte(shard)
    # readers: a clear error naming the shard and the reason, never a traceback, never a wrong number
    with pytest.raises(store.StoreError, match=shard.name) as e:
        summarize(out)
    assert ("cut short" if damage == "truncate" else "SHA-256 does not match the one recorded in manifest.json") \
        in str(e.value)
    r = run_cli("summarize", out)
    assert r.returncode == 2 and shard.name in r.stderr and "resume" in r.stderr
    no_traceback(r)
    # resume: sets the shard aside (reported), re-runs exactly its runs, and the folder is whole again
    r = run_cli("grid", g, "--out", out, "--resume", "--workers", "1", "--no-progress")
    assert r.returncode == 0, r.stderr
    no_traceback(r)
    assert "set aside 1 damaged" in r.stdout + r.stderr and "2 computed" in r.stdout
    assert (out / "damaged" / shard.name).exists() and not shard.exists()
    reasons = json.loads((out / "damaged" / "reasons.json").read_text())
    assert reasons[0]["shard"] == shard.name and reasons[0]["reason"]
    man = json.loads((out / "manifest.json").read_text())
    assert man["sessions"][-1]["set_aside"][0]["shard"] == shard.name and man["status"] == "complete"
    pd.testing.assert_frame_equal(frame(out), frame(reference[1]))
    a, _ = summarize(out, write=False)
    b, _ = summarize(reference[1], write=False)
    pd.testing.assert_frame_equal(a, b)


def _damage(out: Path, how: str) -> str:
    """Damage a results folder; returns words the page's error must hold."""
    if how == "flip":
        flip_a_byte(store.shard_files(out)[0])
        return "SHA-256"
    if how == "truncate":
        f = store.shard_files(out)[0]
        f.write_bytes(f.read_bytes()[:100])
        return "resume"
    if how == "doubled":
        copy_shard_recorded(store.shard_files(out)[0], "part-0009-000001.parquet")
        return "stored twice"
    if how == "unrecorded":
        forge_shard(out)
        return "not recorded in manifest.json"
    if how == "record":
        man = manifest_of(out)
        man["shards"] = ["not", "a", "table"]
        (out / "manifest.json").write_text(json.dumps(man))
        return "manifest.json: shards:"
    if how == "manifest":
        (out / "manifest.json").write_text("{ not json")
        return "manifest.json"
    if how == "experiments":
        (out / "experiments.parquet").write_bytes(b"PAR1 not really")
        return "experiments.parquet"
    if how == "columns":
        pd.DataFrame({"x": [1]}).to_parquet(out / "experiments.parquet")
        return "could not be read"
    raise ValueError(how)


def _grid_page():
    from sim.ui.grid_results import render

    render()


def _analysis_page():
    from sim.ui.analysis_page import render

    render()


@pytest.mark.parametrize("how", ["flip", "truncate", "doubled", "unrecorded", "record", "manifest", "experiments",
                                 "columns"])
@pytest.mark.parametrize("page", [_grid_page, _analysis_page])
def test_results_pages_show_a_damaged_folder_as_one_error_without_server_paths(copy_of, monkeypatch, how, page):
    from streamlit.testing.v1 import AppTest

    _, out = copy_of
    words = _damage(out, how)
    monkeypatch.setenv("CHIPSHIFT_OUTPUTS", str(out.parent))
    at = AppTest.from_function(page, default_timeout=60).run()
    assert not at.exception, at.exception
    errors = [e.value for e in at.error]
    if not (page is _analysis_page and how == "columns"):   # the analysis page's first view never reads that table
        assert any(words in e for e in errors), errors
    shown = " ".join(str(e.value) for kind in ("error", "warning", "info", "markdown", "caption") for e in at.get(kind))
    assert str(out.parent) not in shown and "Traceback" not in shown


def test_damaged_manifest_or_experiments_are_reported_cleanly(copy_of, run_cli):
    g, out = copy_of
    (out / "experiments.parquet").write_bytes(b"PAR1 not really")
    r = run_cli("summarize", out)
    assert r.returncode == 2 and "experiments.parquet" in r.stderr
    no_traceback(r)
    (out / "manifest.json").write_text("{ not json")
    r = run_cli("grid", g, "--out", out, "--resume", "--workers", "1", "--no-progress")
    assert r.returncode == 2 and "manifest.json" in r.stderr
    no_traceback(r)


@pytest.mark.parametrize("command", [["robustness", "--outcome", "share:Huawei:2022"],
                                     ["discover", "--outcome", "share:Huawei:2022", "--above", "0.1"]])
def test_analysis_commands_report_a_damaged_shard_without_a_traceback(copy_of, run_cli, command):
    _, out = copy_of
    flip_a_byte(store.shard_files(out)[0])
    r = run_cli(command[0], out, *command[1:])
    assert r.returncode == 2 and "SHA-256" in r.stderr and "resume" in r.stderr, r.stderr
    no_traceback(r)


# ---------------------------------------------------------------- 4. killed grids leave no workers


@pytest.mark.parametrize("sig", [signal.SIGKILL, signal.SIGTERM])
def test_killed_grid_leaves_no_worker_processes(tmp_path, python_exe, sig):
    g = write_grid(tmp_path / "g.toml", end="2026-12", reps=100, values="[0.0, 0.5, 1.0, 2.0]")   # still running when killed
    out = tmp_path / "out"
    proc = start_grid(python_exe, g, out, "--workers", "2", "--chunk-size", "1", stdout=subprocess.PIPE)
    try:
        wait_for_shards(proc, out, 1)
        assert len(group_alive(proc.pid)) >= 3   # the command, the forkserver and its workers
        os.kill(proc.pid, sig)                   # the parent only: its workers must follow it
        proc.wait(timeout=30)
        t0 = time.monotonic()
        while group_alive(proc.pid) and time.monotonic() - t0 < 15:
            time.sleep(0.05)
        assert group_alive(proc.pid) == [], "worker processes outlived the grid command"
        # nobody holds the command's stdout open any more
        got: list[str] = []
        reader = threading.Thread(target=lambda: got.append(proc.stdout.read()), daemon=True)
        reader.start()
        reader.join(timeout=10)
        assert got, "the command's stdout is still held open"
        man = json.loads((out / "manifest.json").read_text())
        if sig == signal.SIGTERM:
            assert proc.returncode == 128 + signal.SIGTERM
            assert man["sessions"][-1]["status"] == "interrupted" and man["status"] == "incomplete"
            assert "resume" in proc.stderr.read()
        else:
            assert man["sessions"][-1]["status"] == "running"  # nothing can run at SIGKILL ...
    finally:
        killpg(proc)
    # ... so the next session marks it interrupted; the folder completes without loss or duplicates
    rep = run_grid(g, out, executor=SerialExecutor(), resume=True, progress=False)
    assert rep.complete and sorted(store.completed_runs(out)) == list(range(400))
    man = json.loads((out / "manifest.json").read_text())
    assert [s["status"] for s in man["sessions"]] == ["interrupted", "complete"]


def test_worker_exits_when_its_parent_dies(tmp_path, python_exe):
    """The pool's worker start-up hook on its own: a worker whose parent is SIGKILLed exits."""
    script = tmp_path / "parent.py"
    script.write_text(textwrap.dedent("""
        import multiprocessing as mp, sys, time
        from concurrent.futures import ProcessPoolExecutor
        from sim.engine.executors import _init_worker
        from sim.model.scenario import load_scenario

        def pid():
            import os
            return os.getpid()

        if __name__ == "__main__":
            ctx = mp.get_context("forkserver")
            pool = ProcessPoolExecutor(1, mp_context=ctx, initializer=_init_worker,
                                       initargs=(load_scenario("history"),))
            print(pool.submit(pid).result(), flush=True)
            time.sleep(600)
        """))
    proc = subprocess.Popen([python_exe, str(script)], start_new_session=True, stdout=subprocess.PIPE,
                            stderr=subprocess.DEVNULL, text=True)
    try:
        worker = int(proc.stdout.readline())
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=10)
        t0 = time.monotonic()
        while worker in group_alive(proc.pid) and time.monotonic() - t0 < 10:
            time.sleep(0.05)
        assert worker not in group_alive(proc.pid)
    finally:
        killpg(proc)


# ---------------------------------------------------------------- 10. refusals before anything is written


def test_out_that_is_a_file_is_named_as_such(tmp_path, run_cli):
    g = write_grid(tmp_path / "g.toml")
    (tmp_path / "f").write_text("x")
    r = run_cli("grid", g, "--out", tmp_path / "f", "--workers", "1", "--no-progress")
    assert r.returncode == 2 and "exists and is not a folder" in r.stderr and "not empty" not in r.stderr
    assert (tmp_path / "f").read_text() == "x"


@pytest.mark.skipif(os.geteuid() == 0 and not Path("/proc/self").exists(), reason="needs /proc")
def test_unwritable_out_is_refused_without_advising_resume(tmp_path, run_cli):
    g = write_grid(tmp_path / "g.toml")
    r = run_cli("grid", g, "--out", "/proc/chipshift-x", "--workers", "1", "--no-progress")
    assert r.returncode == 2 and "cannot create" in r.stderr and "--resume" not in r.stderr, r.stderr
    no_traceback(r)


def test_unreachable_scheduler_writes_nothing_and_does_not_advise_resume(tmp_path, run_cli):
    g = write_grid(tmp_path / "g.toml")
    r = run_cli("grid", g, "--out", tmp_path / "out", "--executor", "dask", "--scheduler", "tcp://127.0.0.1:9",
                "--no-progress", timeout=120)
    assert r.returncode == 2 and "cannot reach the Dask scheduler" in r.stderr, r.stderr
    assert "--resume" not in r.stderr and not (tmp_path / "out").exists()
    no_traceback(r)


def test_rejected_reuse_leaves_no_folder(tmp_path, run_cli):
    g = write_grid(tmp_path / "g.toml")
    (tmp_path / "notgrid").mkdir()
    for reuse in (tmp_path / "missing", tmp_path / "notgrid"):
        r = run_cli("grid", g, "--out", tmp_path / "out", "--reuse", reuse, "--workers", "1", "--no-progress")
        assert r.returncode == 2 and str(reuse) in r.stderr and "--resume" not in r.stderr
        assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("rows", ["-1", "-5"])
def test_summarize_max_rows_must_not_be_negative(reference, run_cli, rows):
    r = run_cli("summarize", reference[1], "--max-rows", rows)
    assert r.returncode == 2 and "--max-rows" in r.stderr
    no_traceback(r)


def test_summarize_max_rows_limits_the_printed_table(reference, run_cli):
    full = run_cli("summarize", reference[1], "--max-rows", "0")
    short = run_cli("summarize", reference[1], "--max-rows", "4")
    assert full.returncode == short.returncode == 0
    assert len(short.stdout.splitlines()) < len(full.stdout.splitlines())


def test_stale_temporary_files_are_cleaned_only_under_the_lock(copy_of):
    g, out = copy_of
    tmp = out / "timeseries" / ".tmp-killed.parquet"
    tmp.write_bytes(b"half a shard")
    with store.FolderLock(out):  # a live writer's temporary file is never touched by a second process
        with pytest.raises(GridError):
            run_grid(g, out, executor=SerialExecutor(), resume=True, progress=False)
        assert tmp.exists()
    rep = run_grid(g, out, executor=SerialExecutor(), resume=True, progress=False)
    assert rep.complete and not tmp.exists()


if sys.platform != "linux":  # pragma: no cover
    pytestmark = pytest.mark.skip("process-group and /proc checks are Linux-specific")


def test_resume_of_a_folder_with_a_damaged_log_or_manifest_field_says_so(copy_of, reference, run_cli):
    """Siblings of the damaged shard: a damaged damaged/reasons.json is kept beside a new one (never a
    traceback, never overwritten), and a manifest missing a field --resume needs is named."""
    g, out = copy_of
    (out / "damaged").mkdir()
    (out / "damaged" / "reasons.json").write_text("{ half a log")
    flip_a_byte(store.shard_files(out)[0])
    r = run_cli("grid", g, "--out", out, "--resume", "--workers", "1", "--no-progress")
    assert r.returncode == 0, r.stderr
    no_traceback(r)
    kept = list((out / "damaged").glob("reasons.unreadable-*.json"))
    assert len(kept) == 1 and kept[0].read_text() == "{ half a log"
    assert len(json.loads((out / "damaged" / "reasons.json").read_text())) == 1
    pd.testing.assert_frame_equal(frame(out), frame(reference[1]))
    man = manifest_of(out)
    del man["model_fingerprint"]
    (out / "manifest.json").write_text(json.dumps(man))
    r = run_cli("grid", g, "--out", out, "--resume", "--workers", "1", "--no-progress")
    assert r.returncode == 2 and "manifest.json: model_fingerprint: missing" in r.stderr, r.stderr
    no_traceback(r)
