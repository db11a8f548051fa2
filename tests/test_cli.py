"""The command line end to end (``python -m sim`` and the ``chipshift`` script), run folders, seeds."""

from __future__ import annotations

import hashlib
import io
import json
import os
import subprocess
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sim import (
    ScenarioError,
    derive_seed,
    derive_seeds,
    list_scenarios,
    load_scenario,
    run_scenario,
)
from sim.engine.runs import DECISION_COLUMNS, write_run
from sim.model.ids import TIMESERIES_COLUMNS
from sim.model.scenario import SCENARIO_DIR

HERE = Path(__file__).resolve().parent
BAD = HERE / "bad_scenarios"
HISTORY_SEED = load_scenario("history").header.seed


def cli(python_exe: str, *args, cwd: Path, script: str | None = None) -> subprocess.CompletedProcess:
    cmd = [script] if script else [python_exe, "-m", "sim"]
    env = {**os.environ, "PYTHONIOENCODING": "utf-8"}
    return subprocess.run(cmd + [str(a) for a in args], cwd=cwd, env=env, capture_output=True, text=True,
                          timeout=300)


def no_traceback(r: subprocess.CompletedProcess) -> None:
    assert "Traceback" not in r.stderr and "Traceback" not in r.stdout, r.stderr


def tree(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


@pytest.fixture(scope="module")
def work(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("cli")


@pytest.fixture(scope="module")
def history_run(work, python_exe):
    """`run history --seeds 5 --out DIR` once for the module: (folder, completed process)."""
    out = work / "hist5"
    r = cli(python_exe, "run", "history", "--seeds", 5, "--out", out, cwd=work)
    assert r.returncode == 0, r.stderr
    return out, r


# ---------------------------------------------------------------- run


def test_run_writes_the_run_folder(history_run, work):
    out, r = history_run
    no_traceback(r)
    assert sorted(p.name for p in out.iterdir()) == ["decisions.parquet", "deliveries.parquet", "manifest.json",
                                                      "scenario.toml", "timeseries.parquet"]
    # nothing half-written is left beside it
    assert not [p.name for p in work.iterdir() if p.name.startswith(".")]


def test_timeseries_file_follows_the_contract(history_run):
    out, _ = history_run
    ts = pd.read_parquet(out / "timeseries.parquet")
    assert list(ts.columns) == list(TIMESERIES_COLUMNS) == ["run", "seed", "date", "entity", "metric", "value"]
    assert sorted(ts["run"].unique()) == [0, 1, 2, 3, 4]
    assert ts.groupby("run")["seed"].unique().map(lambda s: s[0]).tolist() == derive_seeds(HISTORY_SEED, 5)
    dates = pd.DatetimeIndex(ts["date"].unique())
    assert (dates.day == 1).all() and (dates.hour == 0).all()
    assert dates.min() == pd.Timestamp("2022-01-01") and dates.max() == pd.Timestamp("2030-12-01")
    assert len(dates) == 108
    assert np.isfinite(ts["value"]).all()
    assert not ts.duplicated(["run", "seed", "date", "entity", "metric"]).any()


def test_manifest_records_provenance(history_run):
    out, _ = history_run
    man = json.loads((out / "manifest.json").read_text())
    src = SCENARIO_DIR / "history.toml"
    assert man["scenario_file_sha256"] == hashlib.sha256(src.read_bytes()).hexdigest()
    assert man["seeds"] == derive_seeds(HISTORY_SEED, 5)
    assert man["master_seed"] == HISTORY_SEED
    assert isinstance(man["git_commit"], str) and man["git_commit"]
    for pkg in ("python", "mesa", "numpy", "pandas"):
        assert man["versions"][pkg], pkg
    assert man["versions"]["mesa"].startswith("3.3")
    assert isinstance(man["wall_time_s"], (int, float)) and man["wall_time_s"] >= 0


def test_decisions_file_explains_the_split(history_run):
    out, _ = history_run
    dec = pd.read_parquet(out / "decisions.parquet")
    assert list(dec.columns) == list(DECISION_COLUMNS)
    assert len(dec) > 0 and sorted(dec["run"].unique()) == [0, 1, 2, 3, 4]
    assert set(dec["origin"]) == {"foreign", "domestic"}
    for col in ("share", "share_unconstrained"):
        s = dec.groupby(["run", "date", "buyer", "tier"])[col].sum()
        assert (np.isclose(s, 1.0, atol=1e-9) | np.isclose(s, 0.0)).all(), col
    assert np.isfinite(dec.select_dtypes("number")).all().all()


def test_scenario_file_in_the_folder_is_the_resolved_scenario(history_run):
    out, _ = history_run
    assert load_scenario(out / "scenario.toml").to_dict() == load_scenario("history").to_dict()


def test_summary_table_is_printed(history_run):
    _, r = history_run
    for word in ("Nvidia", "Huawei", "Domestic"):
        assert word in r.stdout
    for year in range(2022, 2031):
        assert str(year) in r.stdout
    assert "%" in r.stdout


def test_python_api_gives_the_same_table(history_run):
    out, _ = history_run
    res = run_scenario("history", seeds=5)
    assert res.seeds == derive_seeds(HISTORY_SEED, 5)
    pd.testing.assert_frame_equal(res.timeseries, pd.read_parquet(out / "timeseries.parquet"), check_exact=True)


def test_run_twice_is_byte_identical_and_reproducible_from_its_folder(history_run, work, python_exe):
    out, _ = history_run
    again = work / "hist5-again"
    r = cli(python_exe, "run", "history", "--seeds", 5, "--out", again, cwd=work)
    assert r.returncode == 0, r.stderr
    assert (again / "timeseries.parquet").read_bytes() == (out / "timeseries.parquet").read_bytes()
    assert (again / "decisions.parquet").read_bytes() == (out / "decisions.parquet").read_bytes()
    assert (again / "scenario.toml").read_text() == (out / "scenario.toml").read_text()
    # the folder alone reproduces the run
    rerun = work / "from-folder"
    r = cli(python_exe, "run", out / "scenario.toml", "--seeds", 5, "--out", rerun, cwd=work)
    assert r.returncode == 0, r.stderr
    pd.testing.assert_frame_equal(pd.read_parquet(rerun / "timeseries.parquet"),
                                  pd.read_parquet(out / "timeseries.parquet"), check_exact=True)
    assert (rerun / "timeseries.parquet").read_bytes() == (out / "timeseries.parquet").read_bytes()
    assert json.loads((rerun / "manifest.json").read_text())["seeds"] == derive_seeds(HISTORY_SEED, 5)


def test_write_run_is_deterministic(tmp_path, short_history):
    res = run_scenario(short_history, seeds=2)
    a = write_run(res, tmp_path / "a")
    b = write_run(run_scenario(short_history, seeds=2), tmp_path / "b")
    assert (a / "timeseries.parquet").read_bytes() == (b / "timeseries.parquet").read_bytes()
    pd.testing.assert_frame_equal(pd.read_parquet(a / "timeseries.parquet"), res.timeseries, check_exact=True)


def test_different_seeds_give_different_runs(history_run, tmp_path, short_history):
    out, _ = history_run
    ts = pd.read_parquet(out / "timeseries.parquet")
    units = ts[(ts["metric"] == "units") & (ts["entity"] == "Total")].pivot(index="date", columns="run",
                                                                           values="value")
    for a in range(5):
        for b in range(a + 1, 5):
            assert not np.array_equal(units[a].to_numpy(), units[b].to_numpy()), (a, b)
    # another master seed gives other seeds and another table; replicate i always gets derive_seed(master, i)
    other = short_history.with_changes(header={"seed": 12345})
    r1, r2 = run_scenario(other, seeds=2), run_scenario(short_history, seeds=2)
    assert r1.seeds == [derive_seed(12345, 0), derive_seed(12345, 1)] and r1.seeds != r2.seeds
    assert not r1.timeseries["value"].equals(r2.timeseries["value"])
    one = run_scenario(short_history, seeds=1).timeseries
    pd.testing.assert_frame_equal(one, r2.timeseries[r2.timeseries["run"] == 0].reset_index(drop=True),
                                  check_exact=True)


def test_non_empty_out_is_refused_without_overwrite(tmp_path, python_exe):
    out = tmp_path / "results"
    out.mkdir()
    (out / "keep.txt").write_text("earlier work\n")
    before = tree(out)
    r = cli(python_exe, "run", "history", "--seeds", 1, "--out", out, cwd=tmp_path)
    assert r.returncode != 0
    no_traceback(r)
    assert "not empty" in r.stderr and "--overwrite" in r.stderr and str(out) in r.stderr
    assert tree(out) == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["results"]  # nothing written beside it either
    # --overwrite replaces a run folder only (tests/test_run_folders.py: never a folder of other work)
    (out / "keep.txt").unlink()
    assert cli(python_exe, "run", "history", "--seeds", 1, "--out", out, cwd=tmp_path).returncode == 0
    first = (out / "manifest.json").read_bytes()
    r = cli(python_exe, "run", "history", "--seeds", 2, "--out", out, "--overwrite", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    assert (out / "timeseries.parquet").exists() and (out / "manifest.json").read_bytes() != first
    assert sorted(p.name for p in tmp_path.iterdir()) == ["results"]


def test_run_with_a_bad_scenario_fails_cleanly(tmp_path, python_exe):
    out = tmp_path / "never"
    r = cli(python_exe, "run", BAD / "parameter_out_of_bounds.toml", "--out", out, cwd=tmp_path)
    assert r.returncode != 0
    no_traceback(r)
    assert "parameters.hoarding.strength" in r.stderr
    assert not out.exists()


@pytest.mark.parametrize("args, words", [
    (["run", "no-such-scenario", "--seeds", "1"], "not found"),
    (["run", "history", "--seeds", "0"], "--seeds"),
    (["run", "history", "--seeds", "1", "--out", "{file}"], "not a folder"),
])
def test_run_refusals_exit_non_zero_with_a_message(tmp_path, capsys, args, words):
    from sim.cli import main

    a_file = tmp_path / "a-file"
    a_file.write_text("x")
    argv = [x.replace("{file}", str(a_file)) for x in args]
    if "--out" not in argv:
        argv += ["--out", str(tmp_path / "never")]
    code = main(argv)
    err = capsys.readouterr().err
    assert code != 0
    assert words in err and err.startswith("error: ")
    assert not (tmp_path / "never").exists() and a_file.read_text() == "x"


def test_default_out_dir_never_reuses_a_folder(tmp_path):
    from sim.engine.runs import default_out_dir

    a = default_out_dir("history", root=tmp_path)
    assert a.parent == tmp_path and a.name.startswith("history-") and not a.exists()
    a.mkdir()
    b = default_out_dir("history", root=tmp_path)
    assert b != a and not b.exists()


# ---------------------------------------------------------------- validate, list, describe


def test_validate_shipped_scenarios_exits_zero(tmp_path, python_exe):
    files = sorted(SCENARIO_DIR.glob("*.toml"))
    r = cli(python_exe, "validate", *files, cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    assert r.stderr == ""
    lines = r.stdout.splitlines()
    assert len(lines) == len(files)
    for f, line in zip(files, lines):
        assert line.startswith(f"{f}: ok")


def test_validate_bad_scenarios_prints_one_line_per_problem(tmp_path, python_exe):
    bad = sorted(BAD.glob("*.toml"))
    good = SCENARIO_DIR / "history.toml"
    r = cli(python_exe, "validate", good, *bad, cwd=tmp_path)
    assert r.returncode == 1
    no_traceback(r)
    expected = []
    for f in bad:
        with pytest.raises(ScenarioError) as ei:
            load_scenario(f)
        expected += ei.value.lines()
    assert r.stderr.splitlines() == expected
    assert r.stdout.startswith(f"{good}: ok")
    for f in bad:
        assert any(line.startswith(f"{f}: ") or ("circular" in f.name and "circular" in line)
                   for line in r.stderr.splitlines()), f


@pytest.mark.parametrize("name", ["unknown_parameter.toml", "."])
def test_validate_one_bad_file_exits_non_zero(tmp_path, python_exe, name):
    r = cli(python_exe, "validate", BAD / name, cwd=tmp_path)  # "." : a folder is no scenario file
    assert r.returncode == 1
    no_traceback(r)
    assert r.stdout == "" and r.stderr.strip()
    for line in r.stderr.splitlines():
        assert line.count(": ") >= 2  # FILE: KEY: REASON


def test_list_shows_every_scenario(tmp_path, python_exe):
    r = cli(python_exe, "list", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    lines = r.stdout.splitlines()
    assert [line.split()[0] for line in lines] == list_scenarios()
    for line, name in zip(lines, list_scenarios()):
        assert load_scenario(name).header.description[:30] in line
        assert "INVALID" not in line


def test_describe_shows_the_parameter_table(tmp_path, python_exe):
    r = cli(python_exe, "describe", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    header = r.stdout.splitlines()[0].split()
    for col in ("name", "value", "units", "bounds", "source"):
        assert col in header, col
    row = next(line for line in r.stdout.splitlines() if line.strip().startswith("hoarding.strength "))
    assert "1.5" in row and "[0, 12]" in row and "months of demand" in row


def test_describe_csv_for_one_group(capsys):
    from sim.cli import main

    assert main(["describe", "--format", "csv", "--group", "US"]) == 0
    df = pd.read_csv(io.StringIO(capsys.readouterr().out))
    assert {"name", "value", "units", "bounds", "source"} <= set(df.columns)
    assert set(df["group"]) == {"US"} and "grey.per_year" in set(df["name"])
    assert df["source"].notna().all() and (df["source"].str.len() > 0).all()


def test_console_script_behaves_like_python_m_sim(tmp_path, python_exe):
    script = Path(python_exe).parent / "chipshift"
    assert script.exists()
    for args in (["validate", BAD / "unknown_product.toml"],):
        a = cli(python_exe, *args, cwd=tmp_path)
        b = cli(python_exe, *args, cwd=tmp_path, script=str(script))
        assert (a.returncode, a.stdout, a.stderr) == (b.returncode, b.stdout, b.stderr), args
    out = tmp_path / "via-script"
    b = cli(python_exe, "run", "history", "--seeds", 1, "--out", out, "--no-trace", cwd=tmp_path, script=str(script))
    assert b.returncode == 0, b.stderr
    pd.testing.assert_frame_equal(pd.read_parquet(out / "timeseries.parquet"),
                                  run_scenario("history", seeds=1).timeseries, check_exact=True)
    # without the trace the decisions file is still there, empty, with the same columns
    dec = pd.read_parquet(out / "decisions.parquet")
    assert list(dec.columns) == list(DECISION_COLUMNS) and len(dec) == 0
    assert json.loads((out / "manifest.json").read_text())["trace"] is False


# ---------------------------------------------------------------- seeds


@settings(max_examples=200, deadline=None)
@given(st.integers(0, 2**63 - 1), st.integers(1, 40), st.data())
def test_derive_seed_is_the_ith_of_derive_seeds(master, n, data):
    i = data.draw(st.integers(0, n - 1))
    seeds = derive_seeds(master, n)
    assert len(seeds) == n
    assert derive_seed(master, i) == seeds[i]
    assert all(isinstance(s, int) and 0 <= s < 2**32 for s in seeds)
    # the SeedSequence spawn the docstring promises
    child = np.random.SeedSequence(master).spawn(n)[i]
    assert derive_seed(master, i) == int(child.generate_state(1, dtype=np.uint32)[0])


def test_derived_seeds_are_distinct_and_prefix_stable():
    s = derive_seeds(HISTORY_SEED, 200)
    assert len(set(s)) == 200
    assert derive_seeds(HISTORY_SEED, 20) == s[:20]
    assert derive_seeds(HISTORY_SEED + 1, 5) != s[:5]


@pytest.mark.parametrize("args, message", [
    (["--parameter-sets", "--keep", "no.such"], "--keep: unknown parameter(s) no.such"),
    (["--keep", "hoarding.strength"], "--keep applies to --parameter-sets only"),
])
def test_run_refuses_bad_parameter_set_options_before_running(tmp_path, capsys, args, message):
    from sim.cli import main

    assert main(["run", "history", "--seeds", "2", "--out", str(tmp_path / "out"), *args]) == 2
    assert message in capsys.readouterr().err
    assert not (tmp_path / "out").exists()


def test_run_refuses_parameter_sets_for_a_scenario_without_them(tmp_path, capsys):
    from sim.cli import main
    from sim.model.scenario import load_scenario

    f = tmp_path / "nosets.toml"
    f.write_text("\n".join(ln for ln in load_scenario("history").to_toml().splitlines()
                           if not ln.startswith("parameter_sets")), encoding="utf-8")
    assert main(["run", str(f), "--seeds", "2", "--parameter-sets", "--out", str(tmp_path / "out")]) == 2
    assert "declares no parameter sets" in capsys.readouterr().err
