"""Every page renders without exceptions and a widget change changes what it shows (Streamlit AppTest)."""

from __future__ import annotations

import json
from pathlib import Path

import pyarrow as pa
import pytest
from streamlit.testing.v1 import AppTest

APP = str(Path(__file__).resolve().parent.parent / "app.py")
TPP_RULE = "us-2023-10-tpp-rule"


@pytest.fixture(autouse=True)
def serial_runs(monkeypatch):
    # Ensembles run in this process: no worker pool inside the test process.
    monkeypatch.setenv("CHIPSHIFT_APP_WORKERS", "0")


def app(**query) -> AppTest:
    at = AppTest.from_file(APP, default_timeout=120)
    at.query_params["seeds"] = "5"
    for k, v in query.items():
        at.query_params[k] = v
    return at


def chart_rows(at: AppTest, i: int = 0) -> list:
    el = at.get("vega_lite_chart")[i]
    out = []
    for ds in el.proto.datasets:
        out.append(pa.ipc.open_stream(ds.data.data).read_all().to_pylist())
    return out


def chart_spec(at: AppTest, i: int = 0) -> dict:
    return json.loads(at.get("vega_lite_chart")[i].proto.spec)


def metrics(at: AppTest) -> dict:
    return {m.label: m.value for m in at.metric}


def ok(at: AppTest) -> AppTest:
    assert not at.exception, [e.value for e in at.exception]
    return at


# ---------------------------------------------------------------- Explore


def test_explore_default_is_history():
    at = ok(app().run())
    assert at.selectbox(key="w:scenario").value == "history"
    m = metrics(at)
    assert {"Nvidia 2025 (units)", "Huawei 2025 (units)", "Nvidia 2027 (units)", "Huawei 2027 (units)",
            "Huawei passes Nvidia", "Compute gap 2027"} <= set(m)
    assert at.get("vega_lite_chart"), "main chart missing"
    assert at.query_params["scenario"] == ["history"] or at.query_params["scenario"] == "history"


def test_explore_parameter_slider_changes_the_chart():
    at = ok(app().run())
    at.selectbox(key="w:group").select("Other Chinese chip makers").run()
    ok(at)
    before = chart_rows(at)
    at.slider(key="p:domestic.capacity_scale").set_value(4.0).run()
    ok(at)
    assert chart_rows(at) != before
    assert dict(at.session_state["settings"].params)["domestic.capacity_scale"] == 4.0


def test_explore_switching_a_rule_off_changes_the_headline():
    at = ok(app().run())
    before = metrics(at)
    at.checkbox(key=f"on:{TPP_RULE}").uncheck().run()
    ok(at)
    assert TPP_RULE in at.session_state["settings"].off
    assert metrics(at) != before


def test_explore_moving_a_rule_changes_the_chart():
    at = ok(app().run())
    before = chart_rows(at)
    at.selectbox(key="w:move_rule").select(TPP_RULE).run()
    at.selectbox(key=f"mo:{TPP_RULE}").select("2025-06").run()
    ok(at)
    assert dict(at.session_state["settings"].moved) == {TPP_RULE: "2025-06"}
    assert chart_rows(at) != before


def test_explore_basis_switch_changes_axis_title():
    at = ok(app().run())
    assert "Share of cards delivered" in json.dumps(chart_spec(at))
    at.segmented_control(key="v:basis").set_value("value_share").run()
    ok(at)
    assert "Share of sales value" in json.dumps(chart_spec(at))


def test_explore_settings_come_from_the_url():
    at = ok(app(scenario="no-controls", **{"choice.switching_scale": "2.5"}, off="cn-2025-01-guidance-30").run())
    s = at.session_state["settings"]
    assert s.scenario == "no-controls"
    assert dict(s.params) == {"choice.switching_scale": 2.5}
    assert s.off == ("cn-2025-01-guidance-30",)
    assert at.checkbox(key="on:cn-2025-01-guidance-30").value is False


def test_explore_bad_url_entries_are_reported():
    at = ok(app(**{"no.such.param": "1"}).run())
    assert any("no.such.param" in w.value for w in at.warning)


def test_explore_link_moving_a_rule_outside_the_horizon_warns_and_switches_it_off():
    at = ok(app(move=f"{TPP_RULE}:2019-06").run())
    assert any(f"{TPP_RULE} to 2019-06 is outside" in w.value for w in at.warning), [w.value for w in at.warning]
    s = at.session_state["settings"]
    assert TPP_RULE in s.off and TPP_RULE not in dict(s.moved)


def test_explore_rejects_a_broken_upload_with_cli_errors():
    at = ok(app().run())
    broken = b'[scenario]\nname = "x"\nstart = 2023\n[parameters]\n"choice.switching_scale" = 99\n'
    at.file_uploader(key="w:upload").upload("broken.toml", broken, "application/toml").run()
    ok(at)
    errors = " ".join(e.value for e in at.error)
    assert "broken.toml: parameters.choice.switching_scale:" in errors
    assert "broken.toml: scenario.start:" in errors
    assert at.session_state["settings"].scenario == "history"


@pytest.mark.parametrize("target", ["/proc/self/environ", "/etc/passwd", "../../../../etc/passwd", "{secret}",
                                    "link.csv"])
def test_explore_upload_naming_a_server_file_shows_none_of_it(target, tmp_path, monkeypatch):
    """Issue 11, item 1: an uploaded scenario's parameter_sets cannot read a server file, and the page's
    messages quote nothing from one (before: /proc/self/environ showed the server's environment)."""
    secret = tmp_path / "secrets.csv"
    secret.write_text("hoarding.strength,SECRET_COLUMN\n0.5,TOPSECRET-VALUE\nroot:x:0:0,1\n")
    monkeypatch.setenv("CHIPSHIFT_TEST_SECRET", "ENV-SECRET-VALUE")
    monkeypatch.chdir(tmp_path)   # a file in the server's working folder is not reachable either
    target = target.replace("{secret}", str(secret))
    at = ok(app().run())
    up = (f'[scenario]\nname = "leak"\nextends = "history"\nparameter_sets = "{target}"\n').encode()
    at.file_uploader(key="w:upload").upload("leak.toml", up, "application/toml").run()
    ok(at)
    errors = " ".join(e.value for e in at.error)
    assert "leak.toml: scenario.parameter_sets:" in errors, errors
    shown = " ".join(str(e.value) for kind in ("error", "warning", "info", "markdown", "caption", "code")
                     for e in at.get(kind))
    for leaked in ("ENV-SECRET-VALUE", "TOPSECRET", "SECRET_COLUMN", "root:x:0", "PATH=", "HOME="):
        assert leaked not in shown, leaked
    assert at.session_state["settings"].scenario == "history"


def test_explore_accepts_a_valid_upload():
    at = ok(app().run())
    good = (b'[scenario]\nname = "my-test"\nextends = "history"\nremove_events = ["us-2023-10-tpp-rule"]\n'
            b'[parameters]\n"choice.switching_scale" = 2.0\n')
    at.file_uploader(key="w:upload").upload("mine.toml", good, "application/toml").run()
    ok(at)
    s = at.session_state["settings"]
    assert s.scenario.startswith("upload-")
    assert at.selectbox(key="w:scenario").value == s.scenario
    assert not at.error


def _band_caption(at: AppTest) -> str:
    return next(c.value for c in at.caption if c.value.startswith("**Band:**"))


def test_explore_bands_carry_the_parameter_sets_by_default_and_can_be_runs_only():
    """The Bands control defaults to runs and parameter uncertainty for a scenario with accepted parameter
    sets; the caption under the chart says what the band is and how wide 2028 is; runs only narrows the
    band to seed noise and travels in the link."""
    from sim.model.scenario import load_scenario

    k = len(load_scenario("history").load_parameter_sets())
    at = ok(app().run())
    radio = at.radio(key="w:bands")
    assert radio.value == "sets" and not radio.disabled
    cap = _band_caption(at)
    assert f"middle 90% of 5 runs, each with its own random draws and one of {k} accepted parameter sets" in cap, cap
    assert "In 2028, 90% of the runs give Nvidia" in cap and "domestic vendors" in cap, cap
    assert "bands" not in at.query_params
    wide = chart_rows(at)
    radio.set_value("seeds").run()
    ok(at)
    assert at.session_state["settings"].bands == "seeds"
    cap = _band_caption(at)
    assert "middle 90% of 5 runs (random draws only)" in cap and "parameter sets" not in cap, cap
    assert chart_rows(at) != wide
    assert at.query_params["bands"] in ("seeds", ["seeds"])
    again = ok(app(bands="seeds").run())   # the link reproduces the choice
    assert again.radio(key="w:bands").value == "seeds" and again.session_state["settings"].bands == "seeds"
    assert _band_caption(again) == cap


def test_explore_bad_bands_in_the_link_is_reported_and_ignored():
    at = ok(app(bands="everything").run())
    assert any("bands: 'everything'" in w.value for w in at.warning)
    assert at.radio(key="w:bands").value == "sets" and at.session_state["settings"].bands == "sets"


def test_explore_bands_control_is_disabled_for_a_scenario_without_parameter_sets():
    """An upload that declares no accepted parameter sets (a full scenario, extending none) has seed-noise
    bands only: the control is disabled and a caption says why."""
    from sim.model.scenario import load_scenario

    text = "\n".join(ln for ln in load_scenario("history").to_toml().splitlines()
                     if not ln.startswith("parameter_sets"))
    at = ok(app().run())
    at.file_uploader(key="w:upload").upload("nosets.toml", text.encode(), "application/toml").run()
    ok(at)
    assert not at.error, [e.value for e in at.error]
    assert at.session_state["settings"].scenario.startswith("upload-")
    radio = at.radio(key="w:bands")
    assert radio.disabled and radio.value == "seeds"
    assert any("declares no accepted parameter sets" in c.value for c in at.caption)
    assert "middle 90% of 5 runs (random draws only)" in _band_caption(at)


def test_explore_downloads_are_offered():
    at = ok(app().run())
    labels = {b.proto.label for b in at.get("download_button")}
    assert {"Results CSV", "Results Parquet", "Scenario TOML", "Chart PNG", "Chart SVG"} <= labels


# ---------------------------------------------------------------- other pages


def test_compare_page_changes_with_b():
    at = ok(app(compare="no-controls").run())
    at.switch_page("sim/ui/pages/compare.py").run()
    ok(at)
    assert at.selectbox(key="v:compare").value == "no-controls"
    table = at.dataframe[-1].value
    assert TPP_RULE in set(table["item"])
    diff_before = chart_rows(at, 2)
    at.selectbox(key="v:compare").select("full-decoupling").run()
    ok(at)
    assert chart_rows(at, 2) != diff_before
    assert "us-2026-01-total-ban" in set(at.dataframe[-1].value["item"])


def test_what_changed_splits_a_headline_number_among_the_changes():
    at = ok(app(off=TPP_RULE, **{"choice.switching_scale": "2.5"}).run())
    panel = " ".join(m.value for m in at.markdown)
    assert "What changed" in panel and "Cost of switching away from CUDA" in panel
    outcome = at.selectbox(key="w:attr_outcome").value
    assert outcome.startswith("share:") and not [d for d in at.dataframe if "change" in d.value.columns]
    at.button(key="w:attr_go").click().run()
    ok(at)
    res = at.session_state["_attributions"]
    (_, got_outcome), result = next(iter(res.items()))
    assert got_outcome == outcome
    parts = result.table[result.table["group"] != "total"]
    total = result.table[result.table["group"] == "total"]["contribution"].iloc[0]
    assert len(parts) == 2 and parts["contribution"].sum() == pytest.approx(total, abs=1e-12)  # efficiency
    shown = next(d.value for d in at.dataframe if list(d.value.columns) == ["change", "points", "95% interval"])
    assert shown["change"].iloc[-1] == "all changes together" and len(shown) == 3
    assert any(c.startswith("Cost of switching away from CUDA") for c in shown["change"])
    assert any(c.startswith("no Oct-2023 rule") for c in shown["change"])


def test_compare_a_is_picked_like_b():
    at = ok(app(**{"choice.switching_scale": "2.5"}).run())
    at.switch_page("sim/ui/pages/compare.py").run()
    ok(at)
    assert at.selectbox(key="v:compare_a").value == "current"
    runs = [o for o in at.selectbox(key="v:compare_a").options if o.startswith("Run ")]
    assert len(runs) == 1 and "Cost of switching away from CUDA" in runs[0]   # the result shown on Explore
    at.selectbox(key="v:compare_a").select("no-controls").run()
    ok(at)
    assert at.query_params["compare_a"] in (["no-controls"], "no-controls")
    assert any("same scenario" in m.value for m in at.markdown)                # B is no-controls too
    at.selectbox(key="v:compare_a").select("full-decoupling").run()
    ok(at)
    assert "us-2026-01-total-ban" in set(at.dataframe[-1].value["item"])      # A's rule, not in B


def test_compare_against_saved_settings():
    at = ok(app().run())
    at.text_input(key="w:save_name").input("cheap").run()
    at.button(key="w:save").click().run()
    ok(at)
    at.switch_page("sim/ui/pages/compare.py").run()
    at.selectbox(key="v:compare").select("saved:cheap").run()
    ok(at)
    assert any("same scenario" in m.value for m in at.markdown)


def test_buyers_page_changes_with_buyer():
    at = ok(app().run())
    at.switch_page("sim/ui/pages/buyers.py").run()
    ok(at)
    story = at.info[0].value
    assert "Tencent" in story
    rows = chart_rows(at, 0)
    at.selectbox(key="v:buyer").select("StateCompute").run()
    ok(at)
    assert "StateCompute" in at.info[0].value
    assert chart_rows(at, 0) != rows


def test_teach_page_lesson_step_and_reveal():
    at = ok(app().run())
    at.switch_page("sim/ui/pages/teach.py").run()
    ok(at)
    at.segmented_control(key="v:lesson").set_value("rules-2022").run()
    ok(at)
    s = at.session_state["settings"]
    assert TPP_RULE in s.off and s.scenario == "history"
    text_before = [m.value for m in at.markdown]
    at.button(key="w:next").click().run()
    ok(at)
    assert [m.value for m in at.markdown] != text_before
    assert not [m for m in at.metric if m.label == "The model"]
    # no guess yet: Reveal is disabled
    assert at.button(key="b:rules-2022:nvidia-2025").disabled
    at.number_input(key="g:rules-2022:nvidia-2025").set_value(40).run()
    ok(at)
    assert not at.button(key="b:rules-2022:nvidia-2025").disabled
    at.button(key="b:rules-2022:nvidia-2025").click().run()
    ok(at)
    assert [m for m in at.metric if m.label == "The model"]
    said = [m.value for m in at.markdown if m.value.startswith("The model says")]
    assert said and "your guess" in said[0]


def test_model_page_filters_the_parameter_table():
    at = ok(app().run())
    at.switch_page("sim/ui/pages/model.py").run()
    ok(at)
    n_all = len(at.dataframe[0].value)
    at.text_input(key="w:model_search").input("huawei").run()
    ok(at)
    rows = at.dataframe[0].value
    assert 0 < len(rows) < n_all
    assert rows["source"].notna().all()


def test_teach_link_with_a_lesson_opens_its_preset():
    at = ok(app(lesson="tightening-2023").run())
    at.switch_page("sim/ui/pages/teach.py").run()
    ok(at)
    s = at.session_state["settings"]
    assert s.off and TPP_RULE not in s.off  # the Oct-2023 rule stays on, 2024 rules go
    assert "cn-2024-03-shanghai-mandate" in s.off
    assert at.segmented_control(key="v:lesson").value == "tightening-2023"


# ---------------------------------------------------------------- preview, then the full ensemble


@pytest.mark.parametrize("bands", ["sets", "seeds"])
def test_new_input_draws_a_preview_then_the_full_ensemble(bands):
    """A new input draws the first seeds at once; the page then finishes the rest and redraws. What is
    finally shown equals the full ensemble run in one go: by default with the scenario's accepted parameter
    sets (as ``run_scenario(parameter_sets=True)``, the changed parameter keeping its value in every run),
    with ``bands=seeds`` the seed noise only."""
    import numpy as np

    from sim.engine import ensemble as E
    from sim.engine.runs import run_scenario
    from sim.model.scenario import load_scenario
    from sim.ui import state
    from sim.ui.settings import Settings

    at = app(seeds="12", **{"hoarding.strength": "2.5"}, **({"bands": bands} if bands != "sets" else {}))
    at.run()
    ok(at)
    assert at.get("vega_lite_chart"), "main chart missing"
    assert not [c for c in at.caption if "Preview from" in c.value], "the final page still shows the preview"
    s = Settings("history", (("hoarding.strength", 2.5),), (), (), 12, bands)
    cache = state._runs()
    full, pre = cache.get(state._key(s, 12)), cache.get(state._key(s, state.PREVIEW_SEEDS))
    assert full is not None and full.n_runs == 12 and pre is not None and pre.n_runs == state.PREVIEW_SEEDS
    sc = load_scenario("history")
    if bands == "sets":
        res = run_scenario(sc, seeds=12, trace=True, parameters={"hoarding.strength": 2.5}, parameter_sets=True)
        assert "hoarding.strength" in res.parameter_sets[0]   # the change wins over a value the sets carry
        direct = E.Ensemble.from_records(res.records, len(res.parameter_sets))
        assert full.n_sets == len(sc.load_parameter_sets()) > 0
    else:
        direct = E.run_ensemble(sc.with_changes(parameters={"hoarding.strength": 2.5}), 12)
        assert full.n_sets == 0
    assert full.seeds == direct.seeds
    np.testing.assert_array_equal(full.values, direct.values)
    np.testing.assert_array_equal(pre.values, direct.values[: state.PREVIEW_SEEDS])


def _model_table(at: AppTest):
    return next(d.value for d in at.dataframe if "outside prior" in d.value.columns)


@pytest.mark.parametrize("bands", ["sets", "seeds"])
def test_model_page_says_when_the_runs_take_the_parameter_sets_values(bands):
    at = ok(app(**({"bands": bands} if bands != "sets" else {})).run())
    at.switch_page("sim/ui/pages/model.py").run()
    ok(at)
    said = [c.value for c in at.caption if "take one set's value in each run" in c.value]
    assert bool(said) == (bands == "sets")
    if said:
        from sim.model.scenario import load_scenario

        sets = load_scenario("history").load_parameter_sets()
        assert f"the {len(sets[0])} parameters of the {len(sets)} accepted parameter sets" in said[0], said[0]


def test_model_page_flags_a_value_run_outside_its_prior():
    """A value set on another page (demand growth 1.5/year, prior 0.5-1.4) is shown as run, beside the default
    and the prior, flagged, counted at the top and kept by the 'outside the prior' filter."""
    at = ok(app(**{"demand.growth_annual": "1.5"}).run())
    at.switch_page("sim/ui/pages/model.py").run()
    ok(at)
    assert at.selectbox(key="w:model_scenario").value == "current"
    rows = _model_table(at).set_index("name")
    row = rows.loc["demand.growth_annual"]
    assert row["runs"] == 1.5 and row["default"] == 0.5 and row["prior"] == "[0.5, 1.4]"
    assert row["outside prior"] and row["changed"]
    assert not rows.loc["demand.growth_after_2025", "outside prior"]
    n_out = int(rows["outside prior"].sum())
    said = "**1 value outside its prior**" if n_out == 1 else f"**{n_out} values outside their prior**"
    assert any(m.value.startswith(said) for m in at.markdown)
    assert "demand.growth_annual" in at.warning[0].value
    at.segmented_control(key="w:model_show").set_value("outside").run()
    ok(at)
    shown = _model_table(at)
    assert len(shown) == n_out and shown["outside prior"].all() and "demand.growth_annual" in set(shown["name"])
    at.segmented_control(key="w:model_show").set_value("changed").run()
    ok(at)
    assert _model_table(at)["changed"].all()


def test_model_page_run_values_match_the_scenario_file():
    """For a shipped scenario picked on the page, the values run are the file's [parameters] (history carries
    the calibrated values), the defaults elsewhere; its calibrated values are marked as such."""
    import tomllib

    from sim.model.params import PARAMS

    at = ok(app().run())
    at.switch_page("sim/ui/pages/model.py").run()
    at.selectbox(key="w:model_scenario").select("history").run()
    ok(at)
    rows = _model_table(at).set_index("name")
    path = Path(APP).parent / "scenarios" / "history.toml"
    fitted = tomllib.loads(path.read_text(encoding="utf-8"))["parameters"]
    assert fitted, "history.toml carries calibrated values"
    for name, value in fitted.items():
        assert rows.loc[name, "runs"] == pytest.approx(value) and rows.loc[name, "changed"]
    assert set(rows.index[rows["changed"]]) == set(fitted)
    assert all(rows.loc[n, "runs"] == PARAMS[n].default for n in rows.index if n not in fitted)
    assert all(rows.loc[n, "calibrated"] for n in fitted if PARAMS[n].calibrate)
    # every fitted value lies inside its prior (the fit searches the prior box); a value outside is flagged
    assert not any(rows.loc[n, "outside prior"] for n in fitted)


# ---------------------------------------------------------------- cards beside compute on every page


def test_explore_headline_numbers_show_cards_and_compute():
    """Under each headline share of cards stands the same share of compute, and switching the basis to compute
    puts the share of cards under it: the two agree."""
    at = ok(app().run())
    units = {m.label: (m.value, m.proto.delta) for m in at.metric}
    v, under = units["Nvidia 2025 (units)"]
    assert under.endswith("% of compute") and v.endswith("%")
    assert units["Huawei passes Nvidia"][1].endswith(" in compute")
    at.segmented_control(key="v:basis").set_value("compute_share").run()
    ok(at)
    comp = {m.label: (m.value, m.proto.delta) for m in at.metric}
    for k in ("Nvidia 2025", "Huawei 2025", "Nvidia 2027", "Huawei 2027"):
        assert comp[f"{k} (compute)"] == (units[f"{k} (units)"][1].removesuffix(" of compute"),
                                         f"{units[f'{k} (units)'][0]} of cards")
    at.segmented_control(key="v:basis").set_value("value_share").run()
    ok(at)
    under = {m.label: m.proto.delta for m in at.metric}["Nvidia 2025 (value)"]
    assert "of cards" in under and "of compute" in under


def test_compare_headline_table_has_cards_and_compute():
    at = ok(app(compare="no-controls").run())
    at.switch_page("sim/ui/pages/compare.py").run()
    ok(at)
    table = next(d.value for d in at.dataframe if "of" in d.value.columns)
    nv = table[table[""] == "Nvidia share 2025"]
    assert list(nv["of"]) == ["cards", "compute"]
    assert nv["A"].str.endswith("%").all() and nv["A"].iloc[0] != nv["A"].iloc[1]
    assert set(table[table[""] == "Huawei passes Nvidia"]["of"]) == {"cards", "compute"}
    at.segmented_control(key="v:basis_cmp").set_value("compute_share").run()
    ok(at)
    table = next(d.value for d in at.dataframe if "of" in d.value.columns)
    assert list(table[table[""] == "Nvidia share 2025"]["of"]) == ["compute", "cards"]


def _buyers_page():
    """The Buyers page on the default settings, and its charts' specs as JSON text."""
    at = ok(app().run())
    at.switch_page("sim/ui/pages/buyers.py").run()
    ok(at)
    return at, [json.dumps(chart_spec(at, i)) for i in range(len(at.get("vega_lite_chart")))]


def test_buyers_page_shows_domestic_share_of_cards_and_of_compute():
    at, specs = _buyers_page()
    i = next(i for i, s in enumerate(specs) if "Domestic share of deliveries" in s)
    rows = [r for t in chart_rows(at, i) for r in t]
    assert {r["series"] for r in rows} == {"cards", "compute"}
    by = {s: [r["value"] for r in rows if r["series"] == s] for s in ("cards", "compute")}
    assert by["cards"] != by["compute"] and all(0 <= x <= 1 for x in by["cards"] + by["compute"])
    assert any("Domestic share of cards delivered" in s for s in specs)
    assert any("Domestic share of compute delivered" in s for s in specs)


def test_teach_page_says_the_month_s_shares_of_cards_and_compute():
    at = ok(app().run())
    at.switch_page("sim/ui/pages/teach.py").run()
    ok(at)
    month = at.select_slider(key="v:month").value
    said = [c.value for c in at.caption if c.value.startswith(f"In {month}:")]
    assert said and "Nvidia" in said[0] and "of cards" in said[0] and "of compute" in said[0]


def test_buyers_page_shows_the_stockpile_and_the_efficiency_response():
    """MODEL.md 9.4: Tencent's stockpile and its 'use the chips more efficiently' response, for any buyer."""
    at, specs = _buyers_page()
    eff = next(i for i, s in enumerate(specs) if "Efficiency multiplier" in s)
    vals = [r["value"] for t in chart_rows(at, eff) for r in t]
    assert vals and min(vals) >= 1.0 - 1e-9 and max(vals) > 1.0     # the multiplier rises when short
    run = next(i for i, s in enumerate(specs) if "Months of demand in the stockpile" in s)
    assert max(r["value"] for t in chart_rows(at, run) for r in t) > 0
    assert any("Tencent" in c.value for c in at.caption)
