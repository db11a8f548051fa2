"""The Grid results page (AppTest): heatmap, share paths and distributions on a small results folder."""

from __future__ import annotations

import json
import textwrap

import pyarrow as pa
import pytest
from streamlit.testing.v1 import AppTest

from sim import charts as sim_charts
from sim import labels
from sim.engine.executors import SerialExecutor
from sim.experiments.gridrun import run_grid

GRID = """
[grid]
name = "page"
scenario = "history"
end = "2022-12"
replicates = 2
seed = 9

[[axes]]
parameter = "hoarding.strength"
values = [0.0, 3.0]

[[axes]]
parameter = "choice.switching_scale"
values = [1.0, 5.0]

[[axes]]
event = "cn-2025-11-power-subsidy"
field = "rate"
values = [0.2]
"""


def _page(root: str):
    from sim.ui.grid_results import render

    render(root)


@pytest.fixture(scope="module")
def results(tmp_path_factory):
    d = tmp_path_factory.mktemp("page")
    (d / "g.toml").write_text(textwrap.dedent(GRID))
    rep = run_grid(d / "g.toml", d / "outputs" / "page", executor=SerialExecutor(), progress=False)
    assert rep.complete
    return d / "outputs" / "page"


def _rows(el) -> int:
    return sum(pa.ipc.open_stream(ds.data.data).read_all().num_rows for ds in el.proto.datasets)


def _tables(el) -> list[list[dict]]:
    return [pa.ipc.open_stream(ds.data.data).read_all().to_pylist() for ds in el.proto.datasets]


def test_page_without_folder_explains():
    at = AppTest.from_function(_page, args=("/nonexistent",), default_timeout=60).run()
    assert not at.exception
    assert any("No grid results" in i.value for i in at.info)
    # the shipped grid files with their run counts and time estimates
    files = at.table[0].value.reset_index()
    assert set(files["Grid file"]) >= {"mandate-x-power-subsidy", "uncertainty-lhs"}
    assert (files["Runs"] == files["Design points"] * files["Runs per point"]).all()
    assert files["Time here"].str.startswith("about").all()


def _default_page():
    from sim.ui.grid_results import render

    render()


@pytest.fixture
def outside_linked_in(results, tmp_path, monkeypatch):
    """The outputs root is the results' parent (CHIPSHIFT_OUTPUTS); a copy of the results lies outside it,
    with a link to it from inside the root (``link-out``). Returns the copy's path."""
    import shutil

    outside = tmp_path / "elsewhere" / "secret-grid"
    shutil.copytree(results, outside)
    (results.parent / "link-out").symlink_to(outside)
    monkeypatch.setenv("CHIPSHIFT_OUTPUTS", str(results.parent))
    yield outside
    (results.parent / "link-out").unlink()


def _shown(at) -> str:
    return " ".join(str(e.value) for kind in ("markdown", "caption", "error", "info", "warning") for e in at.get(kind))


def test_page_opens_only_folders_under_the_configured_outputs_root(results, outside_linked_in):
    """Item 9: the page lists the results folders under CHIPSHIFT_OUTPUTS (no typed paths), and shows no
    server path; a folder outside the root, even one linked into it, is not offered."""
    at = AppTest.from_function(_default_page, default_timeout=60).run()
    assert not at.exception, at.exception
    box = at.selectbox(key="grid_dir")
    assert box.options == ["page"] and box.value == "page"
    assert not at.text_input   # no free-text path on the page
    shown = _shown(at)
    assert str(results.parent) not in shown and "secret-grid" not in shown


@pytest.mark.parametrize("name", ["link-out", "../elsewhere/secret-grid", "page/../../elsewhere/secret-grid",
                                  "/etc", "ghost"])
def test_a_link_names_only_a_listed_folder(results, outside_linked_in, name):
    """The folder in a link (grid=NAME) is one of the listed folders or nothing: any other name, one that
    leads out of the root included, is ignored with a warning, and the link then names the folder shown."""
    at = AppTest.from_function(_default_page, default_timeout=60)
    at.query_params["grid"] = name
    at.run()
    assert not at.exception, at.exception
    assert at.selectbox(key="grid_dir").value == "page"
    warning = " ".join(w.value for w in at.warning)
    assert f"grid: {name!r}" in warning and "not a grid results folder under outputs/" in warning, warning
    shown = _shown(at)
    assert str(results.parent) not in shown and str(outside_linked_in) not in shown
    assert at.query_params["grid"] in ("page", ["page"])


def test_a_link_reopens_its_folder(results, outside_linked_in):
    import shutil

    shutil.copytree(results, results.parent / "other")
    try:
        at = AppTest.from_function(_default_page, default_timeout=60)
        at.query_params["grid"] = "other"
        at.run()
        assert not at.exception, at.exception
        assert at.selectbox(key="grid_dir").value == "other" and not at.warning
        at.selectbox(key="grid_dir").select("page").run()
        assert at.query_params["grid"] in ("page", ["page"])
    finally:
        shutil.rmtree(results.parent / "other")


def test_page_shows_heatmap_paths_and_distribution(results):
    at = AppTest.from_function(_page, args=(str(results.parent),), default_timeout=60).run()
    assert not at.exception, at.exception
    assert at.selectbox(key="grid_dir").value == "page"   # found under the root
    charts = at.get("vega_lite_chart")
    assert len(charts) == 3
    heat = json.loads(charts[0].proto.spec)
    marks = json.dumps(heat)
    # axes and outcomes in plain words, cell labels in black or white for their cell's colour
    assert '"rect"' in marks and labels.label("hoarding.strength") in marks
    assert labels.label("choice.switching_scale") in marks and "share:" not in marks
    cells = [r for t in _tables(charts[0]) for r in t if "ink" in r]
    fills = dict(zip(heat["layer"][0]["encoding"]["color"]["scale"]["domain"],
                     heat["layer"][0]["encoding"]["color"]["scale"]["range"]))
    assert cells and all(sim_charts.contrast(c["ink"], fills[c["step"]]) >= 4.5 for c in cells)
    assert _rows(charts[0]) == 4                                   # 2 x 2 cells
    assert "facet" in json.loads(charts[1].proto.spec)
    assert _rows(charts[1]) == 4 * 1 * 3 * 2                       # 4 points x 1 year x 3 vendors x cards, compute
    panels = {r["panel"] for t in _tables(charts[1]) for r in t}
    assert {"Point 0: cards", "Point 0: compute"} <= panels
    assert "boxplot" in json.dumps(json.loads(charts[2].proto.spec))
    assert _rows(charts[2]) == 8                                   # one value per run

    at.selectbox(key="g:grid_x:page").select("choice.switching_scale").run()
    at.selectbox(key="g:grid_outcome:page").select("share:Domestic:2022").run()
    assert not at.exception
    spec = json.dumps(json.loads(at.get("vega_lite_chart")[0].proto.spec))
    assert labels.outcome("share:Domestic:2022") in spec
    at.multiselect(key="g:grid_points:page").set_value([1]).run()
    assert not at.exception
    assert _rows(at.get("vega_lite_chart")[1]) == 1 * 3 * 2       # one point left, of cards and of compute


def test_grid_page_shows_a_share_of_cards_beside_the_share_of_compute(results):
    """The outcomes offered pair each share of cards with the share of compute; picking one shows the other
    beside it (the caption and the per-run table)."""
    at = AppTest.from_function(_page, args=(str(results.parent),), default_timeout=60).run()
    assert not at.exception, at.exception
    opts = at.selectbox(key="g:grid_outcome:page").options
    assert labels.outcome("share:Nvidia:2022") in opts and labels.outcome("compute_share:Nvidia:2022") in opts
    at.selectbox(key="g:grid_outcome:page").select("share:Huawei:2022").run()
    assert not at.exception
    words = " ".join(c.value for c in at.caption)
    assert labels.outcome("share:Huawei:2022") in words and labels.outcome("compute_share:Huawei:2022") in words
    per_run = at.dataframe[-1].value
    assert {"share:Huawei:2022", "compute_share:Huawei:2022"} <= set(per_run.columns)
    assert per_run["compute_share:Huawei:2022"].between(0, 1).all()


def test_a_small_grid_runs_from_the_page_and_opens(tmp_path):
    """With no results yet, a shipped grid runs from the page with one run per design point (within the
    budget) into outputs/NAME-1-per-point, which the page then opens; running it again only reopens it."""
    at = AppTest.from_function(_page, args=(str(tmp_path),), default_timeout=300).run()
    assert not at.exception, at.exception
    assert at.selectbox(key="g:launch_grid").value == "mandate-x-power-subsidy"   # the fewest design points
    assert at.number_input(key="g:launch_reps:mandate-x-power-subsidy").value == 1
    at.button(key="g:launch").click().run()
    assert not at.exception, at.exception
    out = tmp_path / "mandate-x-power-subsidy-1-per-point"
    man = json.loads((out / "manifest.json").read_text())
    assert man["status"] == "complete" and man["replicates"] == 1
    assert at.selectbox(key="grid_dir").value == out.name
    assert any("40 design points × 1 run each; **40 of 40 runs finished**" in m.value for m in at.markdown)
    assert at.query_params.get("grid") in (out.name, [out.name])
    assert len(at.get("vega_lite_chart")) == 3
    # running it again, from another folder, reopens the finished one: nothing is run or written
    import shutil

    shutil.copytree(out, tmp_path / "another")
    at.run()
    at.selectbox(key="grid_dir").select("another").run()
    assert at.selectbox(key="grid_dir").value == "another"
    files = sorted((p.name, p.stat().st_mtime_ns) for p in out.rglob("*"))
    at.button(key="g:launch").click().run()
    assert not at.exception, at.exception
    assert sorted((p.name, p.stat().st_mtime_ns) for p in out.rglob("*")) == files
    assert at.selectbox(key="grid_dir").value == out.name and len(at.get("vega_lite_chart")) == 3


def test_a_small_grid_never_writes_into_other_work(tmp_path):
    """A folder that already holds something else under the name the page would write is refused with a
    message (no server path), and left exactly as it was."""
    other = tmp_path / "mandate-x-power-subsidy-1-per-point"
    other.mkdir()
    (other / "thesis.tex").write_text("my work")
    at = AppTest.from_function(_page, args=(str(tmp_path),), default_timeout=120).run()
    assert not at.exception, at.exception
    at.button(key="g:launch").click().run()
    assert not at.exception, at.exception
    errors = " ".join(e.value for e in at.error)
    assert "not empty" in errors and str(tmp_path) not in errors, errors
    assert [p.name for p in other.iterdir()] == ["thesis.tex"] and (other / "thesis.tex").read_text() == "my work"


def test_a_grid_over_the_session_budget_cannot_be_started_here(tmp_path):
    at = AppTest.from_function(_page, args=(str(tmp_path),), default_timeout=120).run()
    at.selectbox(key="g:launch_grid").select("sobol-uncertain-parameters").run()
    at.number_input(key="g:launch_reps:sobol-uncertain-parameters").set_value(2).run()
    assert not at.exception, at.exception
    assert any("Too large to run here" in w.value and "python -m sim grid sobol-uncertain-parameters" in w.value
               for w in at.warning)
    assert at.button(key="g:launch").disabled
    assert list(tmp_path.iterdir()) == []
