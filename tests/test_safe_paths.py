"""Paths written in scenario and grid files stay inside the project's scenarios/ folder (or beside a local
file), never from an upload; error messages name the file, row and column but never quote its text;
scenario names never become paths outside outputs/."""

from __future__ import annotations

import json
import os
import textwrap
from pathlib import Path

import pytest

from sim.engine.runs import default_out_dir
from sim.experiments.grid import load_grid
from sim.model.scenario import (
    SCENARIO_DIR,
    ScenarioError,
    load_scenario,
    load_scenario_text,
)

SECRET = "ChipShiftSecretValue-7f3a"
UPLOAD_HEAD = '[scenario]\nname = "up"\nextends = "history"\n'


def upload_problems(text: str) -> list[str]:
    with pytest.raises(ScenarioError) as e:
        load_scenario_text(text, "up.toml")
    return e.value.lines()


@pytest.fixture
def secret_file(tmp_path):
    """A file outside the project whose text must never be shown."""
    p = tmp_path / "private" / "secrets.csv"
    p.parent.mkdir()
    p.write_text(f"{SECRET},hoarding.strength\n{SECRET},1.0\nroot:x:0:0,{SECRET}\n")
    return p


@pytest.mark.parametrize("value", ["/etc/passwd", "/proc/self/environ", "../../../../etc/passwd",
                                   "history/../../../etc/passwd", "~/.bashrc", "C:/Windows/win.ini",
                                   "..\\..\\etc\\passwd"])
def test_uploaded_parameter_sets_cannot_name_server_files(value):
    lines = upload_problems(UPLOAD_HEAD + f'parameter_sets = "{value}"\n'.replace("\\", "\\\\"))
    assert len(lines) == 1 and lines[0].startswith("up.toml: scenario.parameter_sets: "), lines
    text = "\n".join(lines)
    assert "root:" not in text and "PATH=" not in text and "HOME=" not in text


def test_uploaded_parameter_sets_by_absolute_path_never_shows_the_file(secret_file):
    lines = upload_problems(UPLOAD_HEAD + f'parameter_sets = "{secret_file}"\n')
    assert lines == ["up.toml: scenario.parameter_sets: must be a path relative to the file, not an absolute path"]


def test_uploaded_parameter_sets_resolve_in_scenarios_only(tmp_path, monkeypatch, secret_file):
    # the app's working folder holds a matching file: an upload still does not see it
    monkeypatch.chdir(secret_file.parent)
    lines = upload_problems(UPLOAD_HEAD + 'parameter_sets = "secrets.csv"\n')
    assert lines == ["up.toml: scenario.parameter_sets: file not found (scenarios/)"]
    # a link inside scenarios/ that points outside is refused too
    scen = tmp_path / "scenarios"
    scen.mkdir()
    for f in SCENARIO_DIR.glob("*.toml"):
        (scen / f.name).write_text(f.read_text())
    (scen / "link.csv").symlink_to(secret_file)
    monkeypatch.setattr("sim.model.scenario.SCENARIO_DIR", scen)
    lines = upload_problems(UPLOAD_HEAD + 'parameter_sets = "link.csv"\n')
    assert len(lines) == 1 and "link to a file outside" in lines[0] and SECRET not in lines[0]


def test_uploaded_parameter_sets_shipped_file_still_works():
    sc = load_scenario_text(UPLOAD_HEAD + 'parameter_sets = "history.parameter_sets.csv"\n', "up.toml")
    assert sc.uploaded and sc.parameter_sets_file() == SCENARIO_DIR / "history.parameter_sets.csv"
    assert len(sc.load_parameter_sets()) >= 10
    # the upload's own (browser-given) file name is never a folder to look in
    sc2 = load_scenario_text(UPLOAD_HEAD, str(Path(__file__)))
    assert sc2.with_changes(parameters={"hoarding.strength": 1.0}).uploaded


def test_csv_problems_never_quote_the_file(tmp_path, secret_file):
    (tmp_path / "s.toml").write_text(UPLOAD_HEAD + 'parameter_sets = "private/secrets.csv"\n')
    with pytest.raises(ScenarioError) as e:
        load_scenario(tmp_path / "s.toml")
    text = "\n".join(e.value.lines())
    assert SECRET not in text and "root:" not in text
    keys = [k for _, k, _ in e.value.problems]
    assert "header, column 1" in keys and "row 1, column 2 (hoarding.strength)" not in keys
    assert "row 2, column 2 (hoarding.strength)" in keys  # named by position and known parameter name


@pytest.mark.parametrize("data, words", [
    (b"\xff\xfe\x00binary", "not UTF-8"),
    (b"hoarding.strength\n1.0\x00\n", "NUL"),
    (b"hoarding.strength\n\"1.0\n", None),
    (b"", "empty file"),
])
def test_csv_that_is_not_text_gives_a_clean_problem(tmp_path, data, words):
    (tmp_path / "p.csv").write_bytes(data)
    (tmp_path / "s.toml").write_text(UPLOAD_HEAD + 'parameter_sets = "p.csv"\n')
    try:
        load_scenario(tmp_path / "s.toml")
    except ScenarioError as e:
        assert all(r for _, _, r in e.problems)
        if words:
            assert any(words in r for _, _, r in e.problems), e.problems
    else:
        assert words is None


def test_local_scenario_files_stay_beside_the_file(tmp_path, secret_file):
    d = tmp_path / "work"
    d.mkdir()
    (d / "sets.csv").symlink_to(secret_file)
    (d / "s.toml").write_text(UPLOAD_HEAD + 'parameter_sets = "sets.csv"\n')
    with pytest.raises(ScenarioError) as e:
        load_scenario(d / "s.toml")
    assert "link to a file outside" in e.value.lines()[0] and SECRET not in str(e.value)
    (d / "s.toml").write_text(UPLOAD_HEAD + f'parameter_sets = "../{secret_file.parent.name}/secrets.csv"\n')
    with pytest.raises(ScenarioError, match=r"must not leave the file's folder"):
        load_scenario(d / "s.toml")


@pytest.mark.parametrize("ext", ["/etc/passwd.toml", "../x.toml", "/tmp/evil", "sub/../../x.toml", "."])
def test_extends_cannot_leave_the_folder(tmp_path, ext):
    (tmp_path / "s.toml").write_text(f'[scenario]\nname = "c"\nextends = "{ext}"\n')
    with pytest.raises(ScenarioError) as e:
        load_scenario(tmp_path / "s.toml")
    (_f, k, r), = e.value.problems
    assert k == "scenario.extends" and r


def test_extends_through_a_link_out_of_the_folder_is_refused(tmp_path):
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "p.toml").write_text('[scenario]\nname = "p"\nextends = "history"\n')
    d = tmp_path / "d"
    d.mkdir()
    (d / "p.toml").symlink_to(outside / "p.toml")
    (d / "c.toml").write_text('[scenario]\nname = "c"\nextends = "p.toml"\n')
    with pytest.raises(ScenarioError, match="link to a file outside"):
        load_scenario(d / "c.toml")
    # a parent in the same folder (or below) is fine
    (d / "sub").mkdir()
    (d / "sub" / "q.toml").write_text('[scenario]\nname = "q"\nextends = "history"\n')
    (d / "c.toml").write_text('[scenario]\nname = "c"\nextends = "sub/q.toml"\n')
    assert load_scenario(d / "c.toml").lineage == ("history.toml", "q.toml", "c.toml")


def test_extends_is_resolved_beside_the_file_not_in_the_working_folder(tmp_path, monkeypatch):
    (tmp_path / "cwd").mkdir()
    (tmp_path / "cwd" / "p.toml").write_text('[scenario]\nname = "wrong"\n')
    (tmp_path / "d").mkdir()
    (tmp_path / "d" / "p.toml").write_text('[scenario]\nname = "right"\nextends = "history"\n')
    (tmp_path / "d" / "c.toml").write_text('[scenario]\nextends = "p.toml"\n')
    monkeypatch.chdir(tmp_path / "cwd")
    assert load_scenario(tmp_path / "d" / "c.toml").name == "right"


GRID = """
[grid]
name = "g"
scenario = "{ref}"
end = "2022-06"
seed = 1

[[axes]]
parameter = "hoarding.strength"
values = [0.5]
"""


@pytest.mark.parametrize("ref", ["/etc/passwd", "../x.toml", "/tmp/s.toml", "sub/../../s.toml"])
def test_grid_scenario_path_cannot_leave_the_folder(tmp_path, ref):
    (tmp_path / "g.toml").write_text(textwrap.dedent(GRID.format(ref=ref)))
    with pytest.raises(ScenarioError) as e:
        load_grid(tmp_path / "g.toml")
    assert [k for _, k, _ in e.value.problems] == ["grid.scenario"]


def test_grid_scenario_beside_the_grid_file_and_through_links(tmp_path):
    (tmp_path / "s.toml").write_text('[scenario]\nname = "s"\nextends = "history"\n')
    (tmp_path / "g.toml").write_text(textwrap.dedent(GRID.format(ref="s.toml")))
    assert load_grid(tmp_path / "g.toml").base.name == "s"
    (tmp_path / "in").mkdir()
    (tmp_path / "in" / "s.toml").symlink_to(tmp_path / "s.toml")
    (tmp_path / "in" / "g.toml").write_text(textwrap.dedent(GRID.format(ref="s.toml")))
    with pytest.raises(ScenarioError, match="link to a file outside"):
        load_grid(tmp_path / "in" / "g.toml")


# ---------------------------------------------------------------- names are not paths


@pytest.mark.parametrize("name", ["../../x", "a/b", "a\\b", "..", "x\ny", "\x00"])
def test_scenario_names_with_path_characters_are_refused(name):
    with pytest.raises(ScenarioError) as e:
        load_scenario_text(f'[scenario]\nname = {json.dumps(name)}\nextends = "history"\n')
    assert any(k == "scenario.name" for _, k, _ in e.value.problems)


@pytest.mark.parametrize("name", ["../../x", "a/b", ".hidden", "..", "", "x" * 300, "Mandate x subsidy (v2)"])
def test_default_out_dir_is_always_a_child_of_the_root(tmp_path, name):
    out = default_out_dir(name, tmp_path)
    assert out.parent == tmp_path and not out.name.startswith(".") and len(out.name) < 120
    assert os.sep not in out.name and ".." not in out.name


def test_run_of_a_scenario_named_like_a_path_stays_in_outputs(tmp_path, run_cli):
    # an older scenario (before names were checked) given by a resolved run folder copy
    sc = load_scenario("history").with_changes(header={"end": "2022-02", "name": "x"})
    text = sc.to_toml().replace('name = "x"', 'name = "../../escaped"')
    (tmp_path / "s.toml").write_text(text)
    r = run_cli("run", tmp_path / "s.toml", "--seeds", 1)
    assert r.returncode == 2 and "scenario.name" in r.stderr
    assert not (tmp_path.parent.parent / "escaped").exists()
