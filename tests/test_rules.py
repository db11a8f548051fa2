"""Rules as classes of products that combine order-independently (MODEL.md 9.1)."""

from __future__ import annotations

import numpy as np
import pytest

from sim.engine.batch import Job, run_batch
from sim.model.market_model import COMPLIANT, MarketModel
from sim.model.rules import EVENT_ADAPTER
from sim.model.scenario import ScenarioError, load_scenario


def _block(eid, month, strength, **cls):
    return {"id": eid, "kind": "import_block", "actor": "China", "announced": month, "effective": month,
            "label": eid, "source": "test", "strength": strength, **cls}


def _with_events(sc, extra, order):
    """The scenario with ``extra`` events appended in the given order."""
    from dataclasses import replace

    return replace(sc, events=tuple(sc.events) + tuple(EVENT_ADAPTER.validate_python(extra[i]) for i in order))


@pytest.fixture(scope="module")
def short():
    return load_scenario("history").with_changes(header={"end": "2026-06"})


def test_two_rules_in_one_month_give_the_same_result_in_either_order(short):
    a = _block("t-weak", "2025-11", 0.3, vendors=["Nvidia"])
    b = _block("t-strong", "2025-11", 0.95, products=["a100"], vendors=["Nvidia"], china_specific=True)
    base = short.with_changes(remove=["cn-2025-09-cac-rtx6000d", "cn-2025-10-customs-checks"])  # history's own
    one, two = _with_events(base, [a, b], [0, 1]), _with_events(base, [a, b], [1, 0])  # class blocks
    rec = run_batch([Job(one, 3, 0), Job(two, 3, 1)], details=())
    np.testing.assert_array_equal(rec.product[0], rec.product[1])
    m = MarketModel(one, seed=3, mesa_collect=False)
    m.run_model()
    a100, h800, h100 = m.pidx["a100"], m.pidx["h800"], m.pidx["h100"]
    assert m.rules.block[0, :, a100].max() == pytest.approx(0.95)   # named by the strict rule
    assert m.rules.block[0, :, h800].max() == pytest.approx(0.95)   # in the strict rule's class
    assert m.rules.block[0, :, h100].max() == pytest.approx(0.3)    # only the vendor-wide rule


def test_a_class_rule_covers_a_compliant_part_launched_after_it(short):
    # a new US ceiling after Nvidia's last China part of the catalogue bars every one of them: Nvidia
    # launches a compliant part; China's class rule on Nvidia's China-specific parts, dated before the
    # launch, must cover it
    ceiling = {"id": "t-ceiling", "kind": "export_ceiling", "actor": "US", "announced": "2025-10",
               "effective": "2025-10", "label": "t-ceiling", "source": "test", "tpp_max": 2000.0,
               "interconnect_max": 0.0}
    open_ = short.with_changes(remove=["cn-2025-09-cac-rtx6000d", "cn-2025-10-customs-checks"])  # history's
    sc = _with_events(open_, [ceiling], [0])                                                   # class blocks
    rule = _block("t-class", "2025-09", 1.0, vendors=["Nvidia"], china_specific=True)
    with_rule = _with_events(sc, [rule], [0])
    m = MarketModel(with_rule, seed=1, mesa_collect=False)
    m.run_model()
    slot = m.pidx[COMPLIANT]
    launched = m.launched_at[0, slot]
    assert launched < m.n_months, "the compliant part was not launched in this set-up"
    assert m.rules.block[0, :, slot].min() == 1.0
    assert m.records.field("units")[0, launched:, slot].sum() == 0.0
    # without the class rule the same part sells
    m0 = MarketModel(sc, seed=1, mesa_collect=False)
    m0.run_model()
    assert m0.records.field("units")[0, :, slot].sum() > 0


def test_a_rule_replaces_an_earlier_one_only_where_it_says_so(short):
    strong = _block("t-strong", "2025-11", 1.0, products=["h100"])
    lift = _block("t-lift", "2026-02", 0.2, products=["h100"], replaces=["t-strong"])
    other = _block("t-other", "2026-02", 0.2, products=["h100"])
    m = MarketModel(_with_events(short, [strong, lift], [0, 1]), seed=1, mesa_collect=False)
    m.run_model()
    h100 = m.pidx["h100"]
    assert m.rules.block[0, :, h100].max() == pytest.approx(0.2)
    m = MarketModel(_with_events(short, [strong, other], [0, 1]), seed=1, mesa_collect=False)
    m.run_model()
    assert m.rules.block[0, :, h100].max() == pytest.approx(1.0)


def test_block_rules_are_checked(tmp_path):
    bad = tmp_path / "bad.toml"
    bad.write_text('[scenario]\nname = "bad"\nextends = "history"\n\n[[events]]\nid = "x"\nkind = "import_block"\n'
                   'actor = "China"\nannounced = "2025-01"\neffective = "2025-01"\nlabel = "x"\nsource = "s"\n'
                   'strength = 0.5\nvendors = ["Nvidea"]\n')
    with pytest.raises(ScenarioError) as e:
        load_scenario(bad)
    assert any("unknown vendor" in x for x in e.value.lines())
    bad.write_text(bad.read_text().replace('vendors = ["Nvidea"]\n', ""))
    with pytest.raises(ScenarioError) as e:
        load_scenario(bad)
    assert any("names no products and no class" in x for x in e.value.lines())


def test_a_quota_can_be_a_rate_that_renews():
    sc = load_scenario("history").with_changes(header={"end": "2027-12"})
    q = {"cn-2026-02-h200-quota": {"units": 30000.0, "renew_months": 3}}
    renewing = sc.with_changes(events=q)
    once = sc.with_changes(events={"cn-2026-02-h200-quota": {"units": 30000.0}})
    rec = run_batch([Job(renewing, 2, 0), Job(once, 2, 1)], details=())
    h200 = list(rec.product_ids).index("h200")
    months = list(rec.months)
    start = months.index("2026-02")
    units = rec.legal("units")[:, start:, h200]
    assert units[1].sum() <= 30000.0 + 1e-6                       # one pool in all
    windows = units[0, : (units.shape[1] // 3) * 3].reshape(-1, 3).sum(axis=1)
    assert (windows <= 30000.0 + 1e-6).all()                      # at most one pool per period
    assert (windows > 1000).sum() >= 4                           # and it is used again after each renewal
    assert units[0].sum() > 2 * units[1].sum()


def test_a_duty_that_comes_with_an_opening_is_part_of_the_easing(short):
    """History: the US opens the H200 with a 25% duty (Jan 2026), and grants H20 licences again with a 15% levy
    (Aug 2025). Each duty is on a part the US barred until then, by its ceiling (H200) or by a licence regime
    that granted none since April (H20), so it is no tightening; the openings ease."""
    m = MarketModel(short, seed=1, mesa_collect=False)
    m.run_model()
    d = m.event_direction
    assert d["us-2026-01-h200-opening"][0] == -1
    assert d["us-2026-01-h200-duty-25"][0] == 0
    assert d["us-2025-08-h20-licences-granted"][0] == -1
    assert d["us-2025-08-levy-15"][0] == 0


def test_a_higher_levy_on_a_part_on_sale_tightens(short):
    ev = {"id": "t-levy-up", "kind": "levy", "actor": "US", "announced": "2026-03", "effective": "2026-04",
          "label": "t", "source": "test", "products": ["h20"], "rate": 0.3}
    m = MarketModel(_with_events(short, [ev], [0]), seed=1, mesa_collect=False)
    m.run_model()
    assert m.event_direction["t-levy-up"][0] == 1   # 15% in force since Aug 2025, H20 licences granted since


def test_a_lower_levy_on_a_part_on_sale_eases(short):
    ev = {"id": "t-levy-down", "kind": "levy", "actor": "US", "announced": "2026-03", "effective": "2026-04",
          "label": "t", "source": "test", "products": ["h20"], "rate": 0.05}
    sc = _with_events(short, [ev], [0])
    m = MarketModel(sc, seed=1, mesa_collect=False)
    m.run_model()
    assert m.event_direction["t-levy-down"][0] == -1   # 15% in force since Aug 2025


def test_no_module_but_the_rules_switches_on_an_event_kind():
    """Each event kind's behaviour, words and direction live in its class (sim/model/rules.py): no other
    module of the project names a kind."""
    from pathlib import Path
    import re

    from sim.model.rules import EVENT_TYPES

    root = Path(__file__).resolve().parent.parent / "sim"
    kinds = [c.model_fields["kind"].annotation.__args__[0] for c in EVENT_TYPES]
    assert len(kinds) >= 12
    found = {}
    for f in root.rglob("*.py"):
        if f.name == "rules.py" and f.parent.name == "model":
            continue
        text = f.read_text(encoding="utf-8")
        for k in kinds:
            if re.search(rf"[\"']{k}[\"']", text):
                found.setdefault(k, []).append(str(f.relative_to(root)))
    assert not found, found


def test_historys_china_blocks_cover_nvidias_later_china_parts(short):
    """The Sep-2025 CAC rule names a class (Nvidia's China-specific parts), so a compliant part launched
    after a later US ceiling cannot sell either: a rule moved in time no longer opens a way round China's
    blocks (MODEL.md 9.1)."""
    ceiling = {"id": "t-ceiling", "kind": "export_ceiling", "actor": "US", "announced": "2025-10",
               "effective": "2025-10", "label": "t-ceiling", "source": "test", "tpp_max": 2000.0,
               "interconnect_max": 0.0}
    m = MarketModel(_with_events(short, [ceiling], [0]), seed=1, mesa_collect=False)
    m.run_model()
    slot = m.pidx[COMPLIANT]
    assert m.launched_at[0, slot] < m.n_months, "the compliant part was not launched in this set-up"
    assert m.rules.block[0, :, slot].min() == 1.0
    assert m.records.field("units")[0, :, slot].sum() == 0.0
    # the records say so (MODEL.md 9.6): the rule's coverage at the end includes the part launched after it
    cov = dict(m.finish().coverage[0])
    assert COMPLIANT in cov["cn-2025-09-cac-rtx6000d"] and "h20" in cov["cn-2025-09-cac-rtx6000d"]
    assert cov["cn-2026-01-h200-customs-block"] == ("h200",)   # a rule naming only products covers only them


def test_block_coverage_reaches_the_run_folder_and_the_teach_story(tmp_path):
    import json

    from sim.engine import ensemble as E
    from sim.engine.runs import run_scenario, write_run
    from sim.ui import teach_content as T

    sc = load_scenario("history").with_changes(header={"end": "2025-12"})
    res = run_scenario(sc, 2)
    write_run(res, tmp_path / "run")
    man = json.loads((tmp_path / "run" / "manifest.json").read_text(encoding="utf-8"))
    assert set(man["block_coverage"]) == {"0", "1"}
    assert "rtx6000d" in man["block_coverage"]["0"]["cn-2025-09-cac-rtx6000d"]
    story = T.narrative(sc, E.run_ensemble(sc, 2), "2025-09")
    assert any(x.startswith("**It names a class of chips**") and "RTX Pro 6000D" in x for x in story.paragraphs)


# ---------------------------------------------------------------- China's responses to US controls


def _applied(m, prefix: str = "cn-") -> dict[str, str]:
    """Event id -> the month it took effect in run 0, for the events whose id starts with ``prefix``."""
    return {e: m.months[t] for t, e in m.events_applied[0] if e.startswith(prefix)}


@pytest.fixture(scope="module")
def free():
    return load_scenario("no-controls").with_changes(header={"end": "2026-06"})


def test_chinas_responses_wait_for_a_us_rule_that_tightens(free):
    tighten = {"id": "t-ceiling", "kind": "export_ceiling", "actor": "US", "announced": "2025-06",
               "effective": "2025-06", "label": "t", "source": "test", "tpp_max": 4800.0}
    ease = {"id": "t-allow", "kind": "export_ceiling", "actor": "US", "announced": "2025-03",
            "effective": "2025-03", "label": "t", "source": "test", "allow": ["h200"]}
    responses = {e.id: e.effective for e in free.events if e.responds_to_us}
    assert len(responses) >= 10 and all(e.actor == "China" for e in free.events if e.responds_to_us)
    none = MarketModel(free, seed=2, mesa_collect=False)
    none.run_model()
    assert _applied(none) == {}                        # no US rule at all: none of China's responses
    assert (none.rules.guidance == 0).all() and (none.rules.mandate_floor == 0).all()
    eased = MarketModel(_with_events(free, [ease], [0]), seed=2, mesa_collect=False)
    eased.run_model()
    assert _applied(eased) == {}                       # an easing is not a reason to respond
    late = MarketModel(_with_events(free, [tighten], [0]), seed=2, mesa_collect=False)
    late.run_model()
    got = _applied(late)
    # each response takes effect on its own date, or in the month the US rule does if that is later
    assert got == {i: max(d, "2025-06") for i, d in responses.items() if d <= late.months[-1]}
    assert late.rules.guidance[0].max() == pytest.approx(0.3)
    own = MarketModel(free.with_changes(parameters={"china.reacts_to_us": False}), seed=2, mesa_collect=False)
    own.run_model()
    assert _applied(own) == {i: d for i, d in responses.items() if d <= own.months[-1]}   # own dates


def test_a_response_that_does_not_happen_leaves_no_trace(free):
    """Without US controls China's responses leave no trace: the run equals the one with those events removed,
    to the last bit."""
    gone = free.with_changes(remove=[e.id for e in free.events if e.responds_to_us])
    rec = run_batch([Job(free, 4, 0), Job(gone, 4, 1)], details=("deliveries",))
    np.testing.assert_array_equal(rec.product[0], rec.product[1])
    np.testing.assert_array_equal(rec.buyer[0], rec.buyer[1])


def test_a_waiting_response_is_the_same_in_a_batch_as_alone(free):
    tighten = {"id": "t-ceiling", "kind": "export_ceiling", "actor": "US", "announced": "2025-06",
               "effective": "2025-06", "label": "t", "source": "test", "tpp_max": 4800.0}
    late = _with_events(free, [tighten], [0])
    both = run_batch([Job(free, 5, 0), Job(late, 5, 1)], details=())
    for i, sc in enumerate((free, late)):
        alone = run_batch([Job(sc, 5, 0)], details=())
        np.testing.assert_array_equal(both.product[i], alone.product[0])


def test_the_teach_story_tells_a_response_only_when_it_took_effect(free):
    from sim.engine import ensemble as E
    from sim.ui import teach_content as T

    ens = E.run_ensemble(free, 1)
    assert not [x for x in T.narrative(free, ens, "2025-01").paragraphs if "30% domestic" in x]
    own = free.with_changes(parameters={"china.reacts_to_us": False})
    assert [x for x in T.narrative(own, E.run_ensemble(own, 1), "2025-01").paragraphs if "30% domestic" in x]
