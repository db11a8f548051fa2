"""The Analysis page (Streamlit AppTest): the four views on small results folders under the outputs root,
the wrong design explained, choices read from the link, and an attribution run on demand."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from analysis_synthetic import make_outputs
from streamlit.testing.v1 import AppTest

APP = str(Path(__file__).resolve().parent.parent / "app.py")
PAGE = "sim/ui/pages/analysis.py"


@pytest.fixture(scope="module")
def outputs(tmp_path_factory):
    return make_outputs(tmp_path_factory.mktemp("analysis") / "outputs")


@pytest.fixture(autouse=True)
def env(monkeypatch, outputs):
    monkeypatch.setenv("CHIPSHIFT_OUTPUTS", str(outputs))
    monkeypatch.setenv("CHIPSHIFT_APP_WORKERS", "0")


def page(**query) -> AppTest:
    at = AppTest.from_file(APP, default_timeout=180)
    for k, v in query.items():
        at.query_params[k] = v
    at.switch_page(PAGE).run()
    return ok(at)


def ok(at: AppTest) -> AppTest:
    assert not at.exception, [e.value for e in at.exception]
    assert not at.error, [e.value for e in at.error]
    return at


def specs(at: AppTest) -> list[str]:
    return [json.dumps(json.loads(c.proto.spec)) for c in at.get("vega_lite_chart")]


def test_sensitivity_tornado_from_the_link():
    at = page(a_dir="sobol", a_view="Sensitivity")
    assert at.selectbox(key="a_dir").value == "sobol"
    assert at.segmented_control(key="a_view").value == "Sensitivity"
    (tornado,) = specs(at)
    assert "What drives share:Huawei:2024 (Sobol)" in tornado
    table = at.dataframe[0].value
    st_ = table[(table["index"] == "ST")].set_index("parameter")["value"]
    assert st_.idxmax() == "choice.switching_scale" and st_["maturity.learning_rate"] < 0.05
    assert [b.label for b in at.download_button] == ["Table CSV", "Chart PNG", "Chart SVG"]
    assert any("seed noise" in c.value for c in at.caption)


def test_sensitivity_on_a_factorial_grid_says_which_designs_it_needs():
    at = page(a_dir="levers", a_view="Sensitivity")
    assert any('design = "sobol" or "morris"' in i.value for i in at.info)
    assert not at.get("vega_lite_chart")


def test_discovery_boxes_and_tradeoff():
    at = page(a_dir="sobol", a_view="Discovery", a_d_thr="0.45", a_d_mass="0.1")
    assert at.number_input(key="a_d_thr").value == pytest.approx(0.45)
    assert at.number_input(key="a_d_mass").value == pytest.approx(0.1)
    box, trade = specs(at)
    assert "PRIM box: prim-1 coverage" in box and "low_share" in box
    assert "PRIM peeling trade-off" in trade
    # the box and the trade-off each download as CSV, PNG and SVG; the CART check as CSV
    assert [b.label for b in at.download_button] == ["Table CSV", "Chart PNG", "Chart SVG"] * 2 + ["Table CSV"]
    boxes = at.dataframe[0].value
    assert list(boxes.columns) == ["box", "coverage", "density", "parameter", "low", "high"]
    assert "choice.switching_scale" in set(boxes["parameter"])        # the share is high where it is high
    assert float(boxes.set_index("parameter").loc["choice.switching_scale", "low"]) > 2.0
    # the other direction, from the widget
    at.segmented_control(key="a_d_dir").set_value("below").run()
    ok(at)
    assert float(at.dataframe[0].value.set_index("parameter").loc["choice.switching_scale", "high"]) < 5.0


def test_robustness_regret_table():
    at = page(a_dir="levers", a_view="Robustness")
    assert at.multiselect(key="a_r_levers").value == ["buyers.Tencent.cuda_dependence"]
    t = at.dataframe[0].value
    assert t["policy"].iloc[0] == "buyers.Tencent.cuda_dependence=0.5"
    assert t["max_regret"].iloc[0] == pytest.approx(0.3)
    assert len(specs(at)) == 2                                          # regret bars and the heatmap
    assert len(at.download_button) == 6                                 # each chart exports with its table
    at.segmented_control(key="a_r_goal").set_value("minimize").run()
    ok(at)
    t = at.dataframe[0].value                      # regret against the lowest share in each future
    assert t["max_regret"].tolist() == pytest.approx([0.5, 0.7, 0.7])


def test_rare_cases_are_found_with_a_smaller_box_from_the_page():
    """The hint for rare runs of interest names the page's own control, which the link carries."""
    at = page(a_dir="sobol", a_view="Discovery", a_d_outcome="share:Huawei:2024", a_d_thr="0.56")
    hint = [c.value for c in at.caption if "Smallest box" in c.value]
    assert hint and "--mass-min" not in hint[0], [c.value for c in at.caption]
    smaller = hint[0].rsplit(" ", 1)[1]
    at = page(a_dir="sobol", a_view="Discovery", a_d_outcome="share:Huawei:2024", a_d_thr="0.56", a_d_mass=smaller)
    assert not [c.value for c in at.caption if "Smallest box" in c.value]
    assert at.dataframe[0].value["density"].iloc[0] >= 0.8


def test_attribution_runs_on_demand():
    at = page(a_view="Attribution", a_dir="levers", a_t_scenario="us-reopens", a_t_base="history",
              a_t_outcome="share:Nvidia:2030", a_t_seeds="2")
    assert any("exact Shapley values, 8 coalitions x 2 runs each" in c.value for c in at.caption)
    assert not at.get("vega_lite_chart")                                # nothing runs before the button
    at.button(key="a_t_run").click().run()
    ok(at)
    (water,) = specs(at)
    assert "From history to us-reopens: share:Nvidia:2030" in water      # the scenario's year, not the grid's
    t = at.dataframe[0].value
    assert t["group"].iloc[-1] == "total"
    assert t["contribution"].iloc[:-1].sum() == pytest.approx(t["contribution"].iloc[-1], abs=1e-12)
    assert any("From history to us-reopens" in m.value for m in at.markdown)


def test_no_results_folder_still_offers_attribution(monkeypatch, tmp_path):
    monkeypatch.setenv("CHIPSHIFT_OUTPUTS", str(tmp_path / "empty"))
    at = page()
    assert any("No grid results folder" in i.value for i in at.info)
    at = page(a_view="Attribution")
    assert at.selectbox(key="a_t_scenario").value == "history"


def test_without_a_link_the_newest_folder_is_opened_and_named():
    at = page()
    # no default on the widget: the folder chosen is always written to the link (a default would be left
    # out of it, and "the newest folder" changes as folders are added)
    assert at.selectbox(key="a_dir").value == "levers"
    assert at.session_state["a_dir"] == "levers"
    assert any("Sensitivity indices need" in i.value for i in at.info)


@pytest.mark.parametrize("query", [
    {"a_dir": "../../../etc", "a_view": "Sensitivity"},
    {"a_dir": "/proc/self", "a_view": "Discovery"},
    {"a_view": "Attribution", "a_t_scenario": "../../../../etc/passwd", "a_t_base": "/proc/self/environ"},
])
def test_a_link_naming_a_server_path_opens_nothing(query, monkeypatch):
    """A sibling of the upload leak: folder and scenario names in the link are only picked from the lists
    the page offers (results folders under the outputs root, shipped scenarios); anything else opens
    nothing and shows no server path."""
    import sim.model.scenario as S

    asked = []
    real = S.load_scenario

    def spy(ref, *a, **k):
        asked.append(str(ref))
        return real(ref, *a, **k)

    monkeypatch.setattr(S, "load_scenario", spy)
    at = AppTest.from_file(APP, default_timeout=180)
    for k, v in query.items():
        at.query_params[k] = v
    at.switch_page(PAGE).run()
    assert not at.exception, [e.value for e in at.exception]
    bad = [v for v in query.values() if "/" in v]
    for key in ("a_dir", "a_t_scenario", "a_t_base"):
        try:
            value = at.selectbox(key=key).value
        except KeyError:
            continue
        assert value not in bad, (key, value)
    assert not any(b in a for b in bad for a in asked), asked
    if query["a_view"] == "Attribution":
        assert asked, "the page loaded its scenarios some other way: this test would not see a bad one"
    shown = " ".join(str(e.value) for kind in ("error", "warning", "info", "markdown", "caption") for e in at.get(kind))
    assert "root:x" not in shown and "/etc" not in shown and "/proc" not in shown


def test_every_share_outcome_is_offered_of_cards_and_of_compute():
    from sim import labels

    at = page(a_dir="sobol", a_view="Sensitivity")
    opts = at.selectbox(key="a_s_outcome").options
    for e in ("Huawei", "Nvidia", "Domestic"):
        cards, compute = labels.outcome(f"share:{e}:2024"), labels.outcome(f"compute_share:{e}:2024")
        assert cards in opts and compute in opts and opts.index(compute) == opts.index(cards) + 1
