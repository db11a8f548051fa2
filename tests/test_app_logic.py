"""The app's logic without a browser: settings and URLs, ensembles, observed points, charts, differences."""

from __future__ import annotations

import altair as alt
import numpy as np
import pandas as pd
import pyarrow as pa
import pytest

from sim import charts, list_scenarios, load_scenario, run_scenario
from sim.calibration import observed
from sim.engine import ensemble as E
from sim.model.ids import VENDORS
from sim.model.scenario import ScenarioError, load_scenario_text
from sim.ui import diff, explain
from sim.ui import teach_content as T
from sim.ui.settings import (
    SEEDS_MAX,
    SEEDS_MIN,
    Settings,
    View,
    apply,
    custom_scenario,
    from_query,
    to_query,
)

LEVY = "us-2025-08-levy-15"
TPP_RULE = "us-2023-10-tpp-rule"


@pytest.fixture(scope="module")
def history():
    return load_scenario("history")


@pytest.fixture(scope="module")
def ens5(history):
    return E.run_ensemble(history, 5)


def _as_lists(q):
    return {k: (v if isinstance(v, list) else [v]) for k, v in q.items()}


# ---------------------------------------------------------------- settings


def test_settings_are_order_normalised_and_hashable():
    a = Settings(params=(("b.x", 1.0), ("a.y", 2.0)), off=("z", "a", "z"), moved=(("q", "2024-01"), ("p", "2023-01")))
    b = Settings(params=(("a.y", 2.0), ("b.x", 1.0)), off=("a", "z"), moved=(("p", "2023-01"), ("q", "2024-01")))
    assert a == b and hash(a) == hash(b)
    assert a.off == ("a", "z")
    assert Settings(seeds=999).seeds == SEEDS_MAX and Settings(seeds=1).seeds == SEEDS_MIN


def test_with_param_drops_values_equal_to_the_scenario():
    s = Settings().with_param("choice.switching_scale", 3.0, 4.0)
    assert s.params == (("choice.switching_scale", 3.0),)
    assert s.with_param("choice.switching_scale", 4.0, 4.0).params == ()


def test_url_round_trip(history):
    s = Settings(scenario="history", params=(("choice.switching_scale", 3.0), ("us.reactive.enabled", True)),
                 off=(TPP_RULE,), moved=(("cn-2025-01-guidance-30", "2025-06"),), seeds=7)
    v = View(basis="value_share", observed=False, buyer="Baidu")
    q = to_query(s, v)
    assert q["off"] == [TPP_RULE] and q["us.reactive.enabled"] == "true"
    parsed = from_query(_as_lists(q), list_scenarios(), history)
    assert parsed.problems == []
    assert parsed.settings == s and parsed.view == v


def test_url_problems_are_reported_and_dropped(history):
    q = {"scenario": ["nope"], "x.unknown": ["1"], "choice.switching_scale": ["99"], "off": ["no-such-rule"],
         "move": ["garbage"], "seeds": ["abc"], "basis": ["weird"], "bands": ["params"]}
    parsed = from_query(q, list_scenarios(), history)
    assert parsed.settings == Settings()
    text = "\n".join(parsed.problems)
    for key in ("scenario:", "x.unknown:", "choice.switching_scale:", "off:", "move:", "seeds:", "basis:",
                "bands: 'params'"):
        assert key in text


def test_bands_in_the_url(history):
    """Runs only travels in a link as bands=seeds; the default (runs and parameter uncertainty) is left out."""
    assert "bands" not in to_query(Settings())
    s = Settings(scenario="history", seeds=9, bands="seeds")
    q = to_query(s)
    assert q["bands"] == "seeds"
    parsed = from_query(_as_lists(q), list_scenarios(), history)
    assert parsed.problems == [] and parsed.settings == s and parsed.settings != Settings(seeds=9)
    with pytest.raises(ValueError):
        Settings(bands="both")


@pytest.mark.parametrize("month", ["2019-06", "2021-12", "2031-01", "2099-12"])
def test_link_moving_a_rule_outside_the_horizon_warns_and_never_applies_it(history, month):
    # before: a move to 2019 was silently clamped to the first month (the rule bound from 2022-01)
    parsed = from_query({"move": [f"{TPP_RULE}:{month}", "us-2024-12-hbm-rule:2025-06"]}, list_scenarios(), history)
    assert parsed.settings.moved == (("us-2024-12-hbm-rule", "2025-06"),)
    assert parsed.settings.off == (TPP_RULE,)
    (p,) = parsed.problems
    assert p.startswith(f"move: {TPP_RULE} to {month} is outside") and "2022-01 to 2030-12" in p and "off" in p
    assert TPP_RULE not in {e.id for e in apply(history, parsed.settings).events}
    inside = from_query({"move": [f"{TPP_RULE}:2022-01"]}, list_scenarios(), history)
    assert inside.problems == [] and inside.settings.moved == ((TPP_RULE, "2022-01"),)


def test_apply_switches_off_and_moves_rules(history):
    s = Settings(off=(TPP_RULE,), moved=(("us-2024-12-hbm-rule", "2025-06"),))
    sc = apply(history, s)
    ids = {e.id for e in sc.events}
    assert TPP_RULE not in ids
    hbm = sc.event("us-2024-12-hbm-rule")
    assert (hbm.announced, hbm.effective) == ("2025-05", "2025-06")  # announcement moves with it
    with pytest.raises(ScenarioError):
        apply(history, Settings(off=("no-such-rule",)))


def test_downloaded_scenario_is_accepted_by_the_loader(history):
    s = Settings(params=(("domestic.capacity_scale", 2.0),), off=(TPP_RULE,), seeds=9)
    text = custom_scenario(history, s).to_toml()
    sc = load_scenario_text(text, "download.toml")
    assert sc.parameters["domestic.capacity_scale"] == 2.0
    assert TPP_RULE not in {e.id for e in sc.events}
    assert sc.name == "history-custom"


# ---------------------------------------------------------------- ensembles


def test_ensemble_tables_match_the_runner(history):
    ens = E.run_ensemble(history, 3)
    ref = run_scenario(history, seeds=3, trace=True)
    pd.testing.assert_frame_equal(ens.timeseries(), ref.timeseries)
    pd.testing.assert_frame_equal(ens.decisions(), ref.decisions)
    assert list(ens.seeds) == list(ref.seeds)


@pytest.fixture(scope="module")
def short_history(history):
    return history.with_changes(header={"end": "2023-03"})


def test_ensemble_with_parameter_sets_equals_run_scenario(short_history):
    """run_ensemble with the scenario's accepted sets runs exactly what run_scenario(parameter_sets=True)
    runs: the same seeds, replicate i with set i mod K, and it differs from the seed-only ensemble."""
    sets = short_history.load_parameter_sets()
    assert len(sets) > 6
    ens = E.run_ensemble(short_history, 6, parameter_sets=sets)
    ref = run_scenario(short_history, seeds=6, trace=True, parameter_sets=True)
    assert list(ens.seeds) == list(ref.seeds) and ens.n_sets == len(sets)
    assert ref.parameter_set_of_run == list(range(6))
    pd.testing.assert_frame_equal(ens.timeseries(), ref.timeseries)
    pd.testing.assert_frame_equal(ens.decisions(), ref.decisions)
    plain = E.run_ensemble(short_history, 6)
    assert plain.n_sets == 0 and not np.array_equal(plain.values, ens.values)


def test_ensemble_keeps_the_users_parameters_over_the_sets(short_history):
    """A parameter named in keep has the scenario's (the user's) value in every run, whatever the sets
    say: the runs equal run_scenario with that parameter given as an override."""
    sets = short_history.load_parameter_sets()
    name = "hoarding.strength"
    assert all(name in x for x in sets) and len({x[name] for x in sets[:4]}) > 1
    changed = short_history.with_changes(parameters={name: 9.5})
    kept = E.run_ensemble(changed, 4, parameter_sets=sets, keep=[name])
    ref = run_scenario(short_history, seeds=4, trace=True, parameters={name: 9.5}, parameter_sets=True)
    np.testing.assert_array_equal(kept.values, E.Ensemble.from_records(ref.records).values)
    overwritten = E.run_ensemble(changed, 4, parameter_sets=sets)   # without keep the sets' values win
    assert not np.array_equal(kept.values, overwritten.values)
    np.testing.assert_array_equal(overwritten.values, E.run_ensemble(short_history, 4, parameter_sets=sets).values)


def test_preview_runs_equal_the_first_runs_of_the_full_ensemble(short_history):
    """The app's preview (the first 5 runs) and the rest (first_seed=5) make exactly the 20-run ensemble:
    replicate r uses set r mod K whichever slice it is run in."""
    sets = short_history.load_parameter_sets()[:7]   # K < 20: runs 7.. wrap around to set 0
    full = E.run_ensemble(short_history, 20, parameter_sets=sets)
    pre = E.run_ensemble(short_history, 5, parameter_sets=sets)
    rest = E.run_ensemble(short_history, 15, first_seed=5, parameter_sets=sets)
    assert pre.seeds == full.seeds[:5] and pre.seeds + rest.seeds == full.seeds
    np.testing.assert_array_equal(pre.values, full.values[:5])
    np.testing.assert_array_equal(rest.values, full.values[5:])
    np.testing.assert_array_equal(rest.dec, full.dec[5:])


def test_parallel_ensemble_equals_serial(history):
    from sim.engine.executors import LocalExecutor

    ex = LocalExecutor(2)
    try:
        par = E.run_ensemble(history, 4, executor=ex)
    finally:
        ex.close()
    ser = E.run_ensemble(history, 4)
    assert list(par.seeds) == list(ser.seeds)
    np.testing.assert_array_equal(par.values, ser.values)
    np.testing.assert_array_equal(par.dec, ser.dec)


def test_bands_and_headline(ens5):
    b = E.share_bands(ens5, "unit_share", VENDORS)
    assert set(b.columns) == {"date", "entity", "mean", "lo", "hi"}
    assert len(b) == len(ens5.months) * len(VENDORS)
    assert (b["lo"] <= b["mean"] + 1e-12).all() and (b["mean"] <= b["hi"] + 1e-12).all()
    h = E.headline(ens5)
    ann = E.annual(ens5, "unit_share", ("Nvidia", "Huawei"))
    assert h["Nvidia_2025"] == pytest.approx(ann.loc[2025, "Nvidia"])
    assert 0 <= h["gap_2027"] <= 1
    # the passing month, if any, is one where Huawei is ahead
    if h["passing"] is not None:
        t = list(pd.DatetimeIndex(ens5.months)).index(h["passing"])
        assert ens5.series("Huawei", "units")[:, t].sum() > ens5.series("Nvidia", "units")[:, t].sum()


def test_annual_shares_are_ratios_of_sums(ens5):
    ts = ens5.timeseries(metrics={"units"})
    d = ts[(ts["date"].dt.year == 2025)]
    per_run = d.pivot_table(index="run", columns="entity", values="value", aggfunc="sum")
    expected = (per_run["Nvidia"] / per_run["Total"]).mean()
    assert E.annual(ens5).loc[2025, "Nvidia"] == pytest.approx(expected)


def test_passing_month_none_when_challenger_never_leads(ens5):
    assert E.passing_month(ens5, "unit_share", leader="Total", challenger="Nvidia") is None


# ---------------------------------------------------------------- observed points, charts, words


def test_observed_points_have_ranges():
    d = observed.points("unit_share")
    assert {"Nvidia", "Domestic"} <= set(d["entity"])
    assert (d["low"] <= d["value"]).all() and (d["value"] <= d["high"]).all()
    assert (d["date"] <= d["date_end"]).all()
    n25 = d[(d["entity"] == "Nvidia") & (d["date"].dt.year == 2025)].iloc[0]
    assert (n25["value"], n25["low"], n25["high"]) == (0.55, 0.48, 0.62)


def test_observed_parse_skips_unknown_rows():
    raw = pd.DataFrame({"date": ["2025-12-31", "2025-12-31"], "metric": ["target_unit_share_china_ai_accel", "other"],
                        "vendor": ["Nvidia", "Nvidia"], "value": [0.5, 1.0], "low": [None, None], "high": [None, None],
                        "source": ["s", "s"]})
    d = observed.parse(raw)
    assert len(d) == 1 and d.loc[0, "low"] == d.loc[0, "high"] == 0.5
    assert observed.load("/nonexistent.csv").empty


def test_share_chart_layers_colours_and_export(ens5, history):
    b = E.share_bands(ens5, "unit_share", list(VENDORS) + ["Domestic"])
    ev = charts.events_frame(history.events, history.months[0], history.months[-1])
    assert ev["date"].min() >= pd.Timestamp("2022-01-01")  # the 2020 rule does not widen the axis
    ch = charts.share_chart(b, "unit_share", ev, observed.points("unit_share"))
    spec = ch.to_dict()
    text = str(spec)
    assert charts.VENDOR_COLORS["Nvidia"] in text and charts.VENDOR_COLORS["Huawei"] in text
    assert "Share of cards delivered (units)" in text
    marks = [layer["mark"]["type"] for layer in spec["layer"]]
    # band, line, dots under the crosshair (whose pointer cells then lie over them), rules, observed, rule hits
    assert marks == ["area", "line", "point", "rule", "rule", "rule", "text", "rule", "rule", "point", "rule"]
    assert spec["layer"][0]["mark"]["tooltip"] is None        # the band never catches the mouse
    assert spec["config"]["axis"]["labelFontSize"] >= 14
    png = charts.to_image(ch, "png")
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    assert charts.to_image(ch, "svg").lstrip().startswith(b"<svg")


def test_heatmap_legend_steps_of_a_narrow_range_read_distinctly():
    """Six steps over 6.0-6.2% need two decimals: no step reads "6.0% – 6.0%", and the cells' labels use the
    same precision; a wide range keeps the precision asked for."""
    import json

    cells = pd.DataFrame({"x": [0, 1, 0, 1], "y": [0, 0, 1, 1], "value": [0.0600, 0.0610, 0.0617, 0.0620]})
    spec = charts.heatmap(cells, "x", "y", "Share", ".1%").to_dict()
    steps = spec["layer"][0]["encoding"]["color"]["scale"]["domain"]
    assert len(steps) == 6 and all(a != b for a, b in (s.split(" – ") for s in steps)), steps
    assert steps[0] == "6.00% – 6.03%" and steps[-1] == "6.17% – 6.20%"
    data = json.dumps(spec["datasets"])
    assert '"6.17%"' in data and '"6.2%"' not in data
    wide = charts.heatmap(cells.assign(value=[0.1, 0.3, 0.5, 0.7]), "x", "y", "Share", ".1%").to_dict()
    assert wide["layer"][0]["encoding"]["color"]["scale"]["domain"][0] == "10.0% – 20.0%"


def test_heatmap_of_an_almost_constant_outcome_is_one_step_and_every_label_reads_on_its_cell():
    """Values that differ only past the legend's most precise format (6.2180% vs 6.2181%) make one step, not six
    steps of the same name: with six, the legend's scale gave every cell the first step's colour while each
    label's ink followed its own step's colour (black labels on dark cells in the app's grid page)."""
    import json

    cells = pd.DataFrame({"x": [0, 1, 0, 1], "y": [0, 0, 1, 1], "value": [0.0621800, 0.0621801, 0.0621805, 0.0621810]})
    spec = charts.heatmap(cells, "x", "y", "Share", ".1%").to_dict()
    scale = spec["layer"][0]["encoding"]["color"]["scale"]
    assert len(scale["domain"]) == len(set(scale["domain"])) == 1 and len(scale["range"]) == 1
    rows = json.loads(json.dumps(spec["datasets"]))
    (data,) = rows.values()
    colour = dict(zip(scale["domain"], scale["range"]))
    for row in data:
        assert charts.contrast(row["ink"], colour[row["step"]]) >= 4.5, row


def test_vendor_colours_are_distinct_and_cover_all_vendors():
    assert set(charts.VENDOR_COLORS) == set(VENDORS)
    assert len(set(charts.ENTITY_COLORS.values())) == len(charts.ENTITY_COLORS)
    assert isinstance(charts.entity_scale(["Huawei", "Nvidia"]), alt.Scale)


def test_switch_story_names_the_drivers(ens5):
    terms = E.term_differences(ens5, "Tencent", "inference")
    text = explain.switch_story(terms, "Tencent", "inference")
    assert "Tencent" in text
    assert any(w in text for w in explain.TERM_WORDS.values()) or "hardly moves" in text


def test_scenario_diff_and_paired_difference(history, ens5):
    other = load_scenario("no-controls")
    table = diff.scenario_diff(history, other)
    assert TPP_RULE in set(table["item"])
    assert diff.scenario_diff(history, history).empty
    d, paired = diff.paired_difference(ens5, ens5, "unit_share", VENDORS)
    assert paired and np.allclose(d[["mean", "lo", "hi"]].to_numpy(), 0.0)


def test_lessons_switch_off_later_rules(history):
    s = T.lesson("rules-2022").settings(history, 5)
    assert s.off and all(history.event(e).effective > "2022-12" for e in s.off)
    assert T.lesson("history").settings(history, 5).off == ()


def test_checkpoint_answers(ens5):
    for cp in T.CHECKPOINTS:
        a = T.answer(cp, ens5)
        if cp.kind == "share":
            assert 0.0 <= a <= 1.0
        else:
            assert a == T.NOT_BY or 2022 <= int(a) <= 2030
    assert "Close" in T.verdict(T.CHECKPOINTS[0], 0.5, 0.52)


def test_fast_spec_matches_the_chart_and_carries_the_data(ens5, history):
    b = E.share_bands(ens5, "unit_share", list(VENDORS) + ["Domestic"])
    ev = charts.events_frame(history.events, history.months[0], history.months[-1])
    obs = observed.points("unit_share")
    spec = charts.share_spec(b, "unit_share", ev, obs, now=pd.Timestamp("2024-01-01"))
    full = charts.share_chart(b, "unit_share", ev, obs, now=pd.Timestamp("2024-01-01")).to_dict()
    assert [x["mark"] for x in spec["layer"]] == [x["mark"] for x in full["layer"]]
    assert [x["encoding"] for x in spec["layer"]] == [x["encoding"] for x in full["layer"]]
    # the data travel as Arrow IPC bytes (what Streamlit sends to the browser)
    data = {k: pa.ipc.open_stream(v).read_all().to_pylist() for k, v in spec["datasets"].items()
            if isinstance(v, bytes)}
    assert len(data["bands"]) == len(b)
    assert data["bands"][0]["date"] == "2022-01-01"
    assert len(data["events"]) == len(ev) and len(data["observed"]) == len(obs)
    # new data, same layout: the data change, the structure does not
    other = charts.share_spec(b.assign(mean=b["mean"] * 0.5), "unit_share", ev, obs, now=pd.Timestamp("2024-01-01"))
    assert other["layer"] == spec["layer"] and other["datasets"]["bands"] != spec["datasets"]["bands"]
    assert charts.to_image(spec, "png")[:4] == b"\x89PNG"


@pytest.mark.parametrize("title", ["", "A title"])
def test_buyer_and_difference_charts_are_valid(ens5, title):
    d, _ = diff.paired_difference(ens5, ens5, "unit_share", VENDORS)
    terms = E.term_differences(ens5, "Alibaba", "training")
    long = terms.melt(id_vars=["date"], value_vars=list(explain.TERM_WORDS), var_name="term", value_name="value")
    lines = pd.DataFrame({"date": ens5.months, "series": "Runway", "value": 1.0, "lo": 0.5, "hi": 1.5})
    for ch in (charts.difference_chart(d, title=title), charts.terms_chart(long, title=title),
               charts.mix_chart(E.origin_mix(ens5, "Alibaba"), title=title),
               charts.lines_chart(lines, "Months", "Series", {"Runway": "#332288"}, title=title)):
        spec = ch.to_dict()
        assert spec["layer"] and ("title" in spec) == bool(title)


def test_uploads_are_size_limited_and_decoded_strictly():
    from sim.ui.state import MAX_UPLOAD_BYTES, validate_upload

    with pytest.raises(ScenarioError) as big:
        validate_upload(b"#" * (MAX_UPLOAD_BYTES + 1), "big.toml")
    assert big.value.lines()[0].startswith("big.toml: -: file is larger than")
    with pytest.raises(ScenarioError) as binary:
        validate_upload(b"\x80\x04\x95pickle", "x.pkl")
    assert "not UTF-8" in binary.value.lines()[0]
    sc = validate_upload(b'[scenario]\nname = "ok"\nextends = "history"\n', "ok.toml")
    assert sc.name == "ok" and len(sc.events) == len(load_scenario("history").events)


def test_app_ensembles_run_in_the_page_process(history, monkeypatch, tmp_path):
    # Under `streamlit run` the page script is __main__; the app's ensembles are one batch in the page's
    # own process, so no worker process can start (and re-run the page script).
    import multiprocessing
    import sys
    import types

    page = tmp_path / "page.py"
    page.write_text("raise SystemExit('the page script ran in a worker')\n")
    fake = types.ModuleType("__main__")
    fake.__file__ = str(page)
    monkeypatch.setitem(sys.modules, "__main__", fake)
    ens = E.run_ensemble(history, 2)
    assert ens.n_runs == 2 and sys.modules["__main__"] is fake
    assert multiprocessing.active_children() == []


# ---------------------------------------------------------------- sharing the server


def test_compute_slots_serve_waiting_requests_in_arrival_order():
    import threading
    import time

    from sim.ui.state import _RunCache

    c = _RunCache(1e9, slots=1)
    first, second, third = object(), object(), object()
    assert c.acquire(first, timeout=1)
    order = []

    def wait_for(ticket, name, delay):
        time.sleep(delay)
        assert c.acquire(ticket, timeout=10)
        order.append(name)
        c.release(ticket)

    ts = [threading.Thread(target=wait_for, args=(second, "second", 0.0)),
          threading.Thread(target=wait_for, args=(third, "third", 0.2))]
    for t in ts:
        t.start()
    time.sleep(0.4)
    late = object()
    assert not c.acquire(late, timeout=0.05)   # the one slot is taken
    c.leave(late)
    c.release(first)
    for t in ts:
        t.join(10)
    assert order == ["second", "third"]


def test_a_session_holds_at_most_one_compute_slot():
    """Two requests of one session (a page still finishing a superseded run, and the new one) never take
    two slots: the second waits, and another session's later request takes the free slot first."""
    from sim.ui.state import _RunCache

    c = _RunCache(1e9, slots=2)
    a1, a2, b1 = object(), object(), object()
    assert c.acquire(a1, timeout=1, session="A") and c.busy == 1
    assert not c.acquire(a2, timeout=0.1, session="A")     # a slot is free, but session A holds one
    assert c.acquire(b1, timeout=0.1, session="B")         # session B, later, is served first
    assert c.busy == 2
    c.release(b1)
    assert not c.acquire(a2, timeout=0.1, session="A")     # still: A holds a1
    c.release(a1)
    assert c.acquire(a2, timeout=1, session="A") and c.busy == 1
    c.release(a2)
    assert c.busy == 0


def test_a_waiting_session_does_not_block_the_queue_behind_it():
    from sim.ui.state import _RunCache

    c = _RunCache(1e9, slots=2)
    a1, a2, b1 = object(), object(), object()
    assert c.acquire(a1, timeout=1, session="A")
    assert not c.acquire(a2, timeout=0.05, session="A")    # A's second request waits first in line ...
    assert c.acquire(b1, timeout=0.5, session="B")         # ... and B behind it is not held up
    c.leave(a2)


def test_run_cache_is_bounded_in_bytes(history):
    from sim.ui.state import _RunCache

    ens = E.run_ensemble(history.with_changes(header={"end": "2022-06"}), 2)
    size = ens.records.nbytes()
    c = _RunCache(max_bytes=2.5 * size, slots=1)
    for k in range(4):
        c.put(k, ens)
    assert c.get(0) is None and c.get(1) is None and c.get(3) is ens
    assert c.nbytes <= 2.5 * size


def test_request_over_the_budget_is_refused_with_a_message(history, monkeypatch):
    from sim.ui import state

    monkeypatch.setattr(state, "MAX_RUN_MONTHS", 100)
    with pytest.raises(state.OverBudget, match=r"5 runs of 108 months \(540 run-months\)"):
        state.check_budget(history, 5)
    state.check_budget(history.with_changes(header={"end": "2022-12"}), 5)


def test_what_changed_names_a_reversal_and_its_mechanism():
    """Switching off the April 2025 H20 rule lowers Nvidia's 2025 share of cards; the panel says so and
    names the card mix, which the compute per card shows."""
    from sim.model.scenario import load_scenario
    from sim.ui import whatchanged as W
    from sim.ui.settings import Settings, apply

    base = load_scenario("history").with_changes(header={"end": "2026-12"})
    s = Settings("history", (), ("us-2025-04-h20-licence",), (), 5)
    e0 = E.run_ensemble(base, 5)
    e1 = E.run_ensemble(apply(base, s), 5)
    assert W.rule_directions(base)["us-2025-04-h20-licence"] == 1
    story = W.explain(base, s, e0, e1, "unit_share")
    nv = next(m for m in story.moves if m.label == "Nvidia 2025")
    assert nv.delta < -0.005
    lines = [w for w in story.why if w.startswith("**A reversal:**")]
    assert len(lines) == 1 and "2025" in lines[0]
    assert "card mix" in lines[0] or "does not show a single mechanism" in lines[0]
    # on value shares removing the rule does not lower Nvidia's share: no reversal is claimed
    story_v = W.explain(base, s, e0, e1, "value_share")
    assert not [w for w in story_v.why if w.startswith("**A reversal:**")] or \
        next(m for m in story_v.moves if m.label == "Nvidia 2025").delta < -0.005


def test_analyses_of_the_app_take_their_turn_on_the_compute_slots():
    """An attribution run from a page waits for a slot like any request and gives way between batches."""
    from sim.ui import state

    runs = state._runs()
    seen = []

    def analysis(step):
        seen.append(runs.busy)
        step(1, 2)
        seen.append(runs.busy)
        return "done"

    assert state.analysis_run(analysis, progress=lambda d, t: seen.append((d, t))) == "done"
    assert seen == [1, (1, 2), 1] and runs.busy == 0


def test_results_download_carries_unit_and_compute_shares(ens5):
    """The Results CSV/Parquet downloads are the output table: shares of cards and of compute side by side."""
    ts = ens5.timeseries()
    nv = ts[(ts["entity"] == "Nvidia") & ts["metric"].isin(["unit_share", "compute_share"])]
    assert set(nv["metric"]) == {"unit_share", "compute_share"}
    assert len(nv) == 2 * ens5.n_runs * len(ens5.months)


def test_headline_table_pairs_cards_with_compute(ens5):
    t = diff.headline_table([(E.headline(ens5, b), E.headline(ens5, b)) for b in ("value_share", "unit_share",
                                                                                  "compute_share")])
    nv = t[t[""] == "Nvidia share 2027"]
    assert list(nv["of"]) == ["sales value", "cards", "compute"] and (nv["B − A"] == "+0.0 pts").all()
    assert (t[""] == "Compute gap 2027").sum() == 1


def test_what_changed_names_a_reversal_of_a_moved_rule_and_its_mechanism():
    """Moving the April 2025 H20 rule to August lowers Nvidia's 2025 share of cards: the panel calls it a
    reversal of the moved rule and names the card mix, which the compute per Nvidia card shows."""
    from sim.ui import whatchanged as W

    base = load_scenario("history").with_changes(header={"end": "2025-12"})
    s = Settings("history", (), (), (("us-2025-04-h20-licence", "2025-08"),), 5)
    e0, e1 = E.run_ensemble(base, 5), E.run_ensemble(apply(base, s), 5)
    story = W.explain(base, s, e0, e1, "unit_share")
    nv = next(m for m in story.moves if m.label == "Nvidia 2025")
    assert nv.delta < -0.005
    lines = [w for w in story.why if w.startswith("**A reversal:**")]
    assert len(lines) == 1 and "moved to 2025-08" in lines[0] and "lower" in lines[0]
    assert "card mix" in lines[0]
    sel = pd.DatetimeIndex(e0.months).year == 2025
    per_card = [e.series("Nvidia", "compute")[:, sel].sum() / e.series("Nvidia", "units")[:, sel].sum() for e in (e0, e1)]
    assert per_card[1] > 1.1 * per_card[0]
    # the same runs without a change of rules: nothing is called a reversal
    same = W.explain(base, Settings("history", seeds=5), e0, e0, "unit_share")
    assert not [w for w in same.why if w.startswith("**A reversal:**")]


def test_the_panel_names_buying_ahead_when_the_cards_bought_ahead_account_for_the_move():
    """``_mechanism`` names buying ahead when the Nvidia cards bought ahead of expected rules account for at least
    half of the move: here all of it, with hoarding switched off (no rule of 2025 shows it as a reversal now)."""
    from sim.ui import whatchanged as W

    base = load_scenario("history").with_changes(header={"end": "2025-12"})
    e0 = E.run_ensemble(base, 5)
    e1 = E.run_ensemble(base.with_changes(parameters={"hoarding.strength": 0.0, "hoarding.general": 0.0}), 5)
    sel = pd.DatetimeIndex(e0.months).year == 2025
    d = float(E.annual(e1, "value_share", ("Nvidia",))["Nvidia"].loc[2025]
              - E.annual(e0, "value_share", ("Nvidia",))["Nvidia"].loc[2025])
    assert d < -0.005 and W.bought_ahead(e1, sel, "value_share") == 0.0 < W.bought_ahead(e0, sel, "value_share")
    assert W._mechanism(e0, e1, 2025, d, "value_share", "with hoarding off").startswith("The mechanism is buying ahead")
    # a move the cards bought ahead do not account for is not called buying ahead
    assert not W._mechanism(e0, e0, 2025, d, "value_share", "as shipped").startswith("The mechanism is buying ahead")


def test_downloaded_scenario_says_how_to_reproduce_the_bands(short_history, tmp_path):
    """The downloaded TOML records the bands and the command; that command reruns exactly the app's runs
    (the accepted parameter sets, the changed parameter kept)."""
    from sim.cli import main
    from sim.ui import common
    from sim.ui.settings import band_sets

    s = Settings(scenario="history", params=(("hoarding.strength", 9.5),), seeds=5)
    note = common.reproduce_note(short_history, s, "mine.toml")
    assert "accepted parameter set r mod 40 of history.parameter_sets.csv" in note
    cmd = common.reproduce_command(short_history, s, "mine.toml")
    assert cmd == "python -m sim run mine.toml --seeds 5 --parameter-sets --keep hoarding.strength"
    only = Settings(scenario="history", params=s.params, seeds=5, bands="seeds")
    assert "runs only" in common.reproduce_note(short_history, only, "x.toml")
    assert "--parameter-sets" not in common.reproduce_command(short_history, only, "x.toml")
    f = tmp_path / "mine.toml"
    f.write_text(note + custom_scenario(short_history, s).to_toml(), encoding="utf-8")
    args = cmd.split()[4:]
    args[0] = str(f)
    assert main(["run", *args, "--out", str(tmp_path / "out")]) == 0
    ts = pd.read_parquet(tmp_path / "out" / "timeseries.parquet")
    app_runs = E.run_ensemble(apply(short_history, s), 5, parameter_sets=band_sets(short_history, s),
                              keep=["hoarding.strength"])
    pd.testing.assert_frame_equal(ts, app_runs.timeseries())


def test_runs_with_and_without_parameter_sets_are_not_paired(short_history):
    a = E.run_ensemble(short_history, 5)
    b = E.run_ensemble(short_history, 5, parameter_sets=short_history.load_parameter_sets())
    assert diff.paired_difference(a, a, "unit_share", list(VENDORS))[1]
    assert not diff.paired_difference(a, b, "unit_share", list(VENDORS))[1]


def test_what_changed_calls_no_reversal_when_a_cheaper_domestic_chip_lowers_nvidias_share():
    """A 20% cheaper Ascend 910B lowers Nvidia's 2025 share of cards (the budget reversal of earlier fits, which
    needed the August 2025 levy read as a tightening, is gone); the panel claims no reversal, nor for a dearer
    one. When a cheaper domestic chip does raise Nvidia's share the panel says so (checked on the same runs with
    the move's sign turned, and on runs with scarcer domestic output, where it names the budget)."""
    from dataclasses import replace as dc_replace

    from sim.ui import whatchanged as W

    assert W.domestic_price_parameter("products.ascend_910b.price_usd")
    assert W.domestic_price_parameter("domestic.price_markup")
    assert not W.domestic_price_parameter("products.h20.price_usd")
    base = load_scenario("history").with_changes(header={"end": "2025-12"})
    s = Settings("history", (("products.ascend_910b.price_usd", 13360.0),), (), (), 5)
    e0, e1 = E.run_ensemble(base, 5), E.run_ensemble(apply(base, s), 5)
    story = W.explain(base, s, e0, e1, "unit_share")
    nv = next(m for m in story.moves if m.label == "Nvidia 2025")
    assert nv.delta < -0.005
    assert not [w for w in story.why if w.startswith("**A reversal:**")]
    dearer = Settings("history", (("products.ascend_910b.price_usd", 20040.0),), (), (), 5)
    e2 = E.run_ensemble(apply(base, dearer), 5)
    assert not [w for w in W.explain(base, dearer, e0, e2, "unit_share").why if w.startswith("**A reversal:**")]
    turned = dc_replace(story, moves=[dc_replace(m, delta=-m.delta) if m is nv else m for m in story.moves])
    lines = W._price_reversals(base, s, e0, e1, turned, "unit_share")
    assert len(lines) == 1 and "cheaper domestic chips" in lines[0] and "higher" in lines[0]
    assert "does not show a single mechanism" in lines[0]   # Nvidia sold fewer cards: not the budget
    # runs where domestic output is scarcer (less capacity) besides the cheaper price: Nvidia sells more cards
    # than the domestic vendors gain, which the panel names as the budget
    e3 = E.run_ensemble(apply(base, s).with_changes(parameters={"domestic.capacity_scale": 0.4}), 5)
    story3 = W.explain(base, s, e0, e3, "unit_share")
    lines = [w for w in story3.why if w.startswith("**A reversal:**")]
    assert len(lines) == 1 and "buyers' budget" in lines[0] and "rationed" in lines[0]


def test_the_chart_marks_chinas_responses_only_where_and_when_they_took_effect():
    from sim.engine.ensemble import run_ensemble
    from sim.model.rules import EVENT_ADAPTER

    hist = load_scenario("history").with_changes(header={"end": "2026-03"})
    assert [e.id for e in E.events_taken(run_ensemble(hist, 1), hist.events)] == [e.id for e in hist.events]
    free = load_scenario("no-controls").with_changes(header={"end": "2026-03"})
    shown = E.events_taken(run_ensemble(free, 1), free.events)
    assert any(e.responds_to_us for e in free.events)
    assert [e.id for e in shown if e.responds_to_us] == []      # none of China's responses happened
    rule = EVENT_ADAPTER.validate_python({"id": "t-ceiling", "kind": "export_ceiling", "actor": "US",
                                          "announced": "2025-06", "effective": "2025-06", "label": "t",
                                          "source": "test", "tpp_max": 4800.0})
    from dataclasses import replace

    late = replace(free, events=(*free.events, rule))
    when = {e.id: e.effective for e in E.events_taken(run_ensemble(late, 1), late.events)}
    assert when["cn-2025-01-guidance-30"] == "2025-06"          # waited for the US rule
    assert when["cn-2025-11-state-dc-domestic"] == "2025-11"    # its own date, after the rule


def test_what_changed_says_when_chinas_responses_did_not_happen():
    """Switching off every US rule of history also takes away China's responses to them: the panel says so,
    naming them; a change that leaves a US rule in force claims nothing of the kind."""
    from sim.ui import whatchanged as W

    base = load_scenario("history").with_changes(header={"end": "2025-12"})
    us = tuple(e.id for e in base.events if e.actor == "US")
    s = Settings("history", (), us, (), 2)
    e0, e1 = E.run_ensemble(base, 2), E.run_ensemble(apply(base, s), 2)
    lines = [w for w in W.explain(base, s, e0, e1, "value_share").why if "did not happen" in w]
    assert len(lines) == 1 and "Beijing advises >=30% domestic chips" in lines[0]
    one = Settings("history", (), (us[-1],), (), 2)
    e2 = E.run_ensemble(apply(base, one), 2)
    assert not [w for w in W.explain(base, one, e0, e2, "value_share").why if "China's responses" in w]
