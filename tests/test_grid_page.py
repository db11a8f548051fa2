"""The Grid results page (AppTest): heatmap, share paths and distributions on a small results folder."""

from __future__ import annotations

import json
import textwrap

import pyarrow as pa
import pytest
from streamlit.testing.v1 import AppTest

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


def test_page_without_folder_explains():
    at = AppTest.from_function(_page, args=("/nonexistent",), default_timeout=60).run()
    assert not at.exception
    assert any("grid results folder" in i.value for i in at.info)


def _default_page():
    from sim.ui.grid_results import render

    render()


def test_page_opens_only_folders_under_the_configured_outputs_root(results, tmp_path, monkeypatch):
    """Item 9: the page lists the results folders under CHIPSHIFT_OUTPUTS (no typed paths), and shows no
    server path; a folder outside the root, even one linked into it, is not offered."""
    import shutil

    outside = tmp_path / "elsewhere" / "secret-grid"
    shutil.copytree(results, outside)
    (results.parent / "link-out").symlink_to(outside)
    try:
        monkeypatch.setenv("CHIPSHIFT_OUTPUTS", str(results.parent))
        at = AppTest.from_function(_default_page, default_timeout=60).run()
        assert not at.exception, at.exception
        box = at.selectbox(key="grid_dir")
        assert box.options == ["page"] and box.value == "page"
        assert not at.text_input   # no free-text path on the page
        shown = " ".join(str(e.value) for kind in ("markdown", "caption", "error", "info", "warning")
                         for e in at.get(kind))
        assert str(results.parent) not in shown and "secret-grid" not in shown
    finally:
        (results.parent / "link-out").unlink()


def test_page_shows_heatmap_paths_and_distribution(results):
    at = AppTest.from_function(_page, args=(str(results.parent),), default_timeout=60).run()
    assert not at.exception, at.exception
    assert at.selectbox(key="grid_dir").value == "page"   # found under the root
    charts = at.get("vega_lite_chart")
    assert len(charts) == 3
    heat = json.loads(charts[0].proto.spec)
    marks = json.dumps(heat)
    assert '"rect"' in marks and "hoarding.strength" in marks and "choice.switching_scale" in marks
    assert _rows(charts[0]) == 4                                   # 2 x 2 cells
    assert "facet" in json.loads(charts[1].proto.spec)
    assert _rows(charts[1]) == 4 * 1 * 3                           # 4 points x 1 year x 3 vendors
    assert "boxplot" in json.dumps(json.loads(charts[2].proto.spec))
    assert _rows(charts[2]) == 8                                   # one value per run

    at.selectbox(key="grid_x").select("choice.switching_scale").run()
    at.selectbox(key="grid_outcome").select("share:Domestic:2022").run()
    assert not at.exception
    spec = json.dumps(json.loads(at.get("vega_lite_chart")[0].proto.spec))
    assert "share:Domestic:2022" in spec
    at.multiselect(key="grid_points").set_value([1]).run()
    assert not at.exception
    assert _rows(at.get("vega_lite_chart")[1]) == 1 * 3           # one point left
