"""The analysis methods against known answers, on synthetic results folders and small tables (fast)."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pandas as pd
import pytest
from analysis_synthetic import ISHIGAMI_AXES, ROBUST_AXES, grid_head, lever_payoff, synthetic_results

from sim.analysis import attribution as A
from sim.analysis.discovery import discover, prim_boxes
from sim.analysis.results import AnalysisError
from sim.analysis.robustness import rank_policies, regret_matrix, robustness
from sim.analysis.sensitivity import NOISE, sensitivity

PI = math.pi


def ishigami(u: np.ndarray, a: float = 7.0, b: float = 0.1) -> float:
    x = -PI + 2 * PI * np.asarray(u)
    return math.sin(x[0]) + a * math.sin(x[1]) ** 2 + b * x[2] ** 4 * math.sin(x[0])


NAMES = ["choice.switching_scale", "hoarding.strength", "maturity.learning_rate"]


@pytest.fixture(scope="module")
def ishigami_sobol(tmp_path_factory):
    """Sobol grid (N = 1024) whose outcome is the Ishigami function of the unit sample, plus seed noise."""
    def value(point, rep, u):
        return ishigami(u) + (0.01 if rep else -0.01)

    return synthetic_results(tmp_path_factory.mktemp("ish") / "out", grid_head("sobol", 1024) + ISHIGAMI_AXES, value)


def test_sobol_indices_of_ishigami_within_their_intervals(ishigami_sobol):
    r = sensitivity(ishigami_sobol, ["share:Huawei:2024"])
    assert r.method == "sobol"
    assert list(r.table.columns) == ["outcome", "parameter", "index", "value", "conf"]
    t = r.table.set_index(["parameter", "index"])
    analytic = {"S1": (0.3139, 0.4424, 0.0), "ST": (0.5576, 0.4424, 0.2437)}
    for idx, vals in analytic.items():
        for name, want in zip(NAMES, vals):
            got, conf = t.loc[(name, idx), "value"], t.loc[(name, idx), "conf"]
            assert abs(got - want) <= conf, f"{idx} {name}: {got:.3f} ± {conf:.3f}, analytic {want}"
            assert conf < 0.15
    # seeds were averaged: the +-0.01 noise is reported and is tiny next to the spread between points
    assert t.loc[(NOISE, "se_mean"), "value"] == pytest.approx(0.01)
    assert t.loc[(NOISE, "variance_share"), "value"] < 1e-4
    assert (ishigami_sobol / "sensitivity.csv").exists()


def test_sensitivity_files_are_reproducible(ishigami_sobol):
    sensitivity(ishigami_sobol, ["share:Huawei:2024"])
    first = [(ishigami_sobol / f).read_bytes() for f in ("sensitivity.csv", "sensitivity.json")]
    sensitivity(ishigami_sobol, ["share:Huawei:2024"])
    assert first == [(ishigami_sobol / f).read_bytes() for f in ("sensitivity.csv", "sensitivity.json")]


def test_morris_ranks_an_influential_input_above_an_inert_one(tmp_path):
    axes = ISHIGAMI_AXES.replace('[[axes]]\nparameter = "maturity.learning_rate"\nrange = [0.05, 1.0]\n', "")
    out = synthetic_results(tmp_path / "m", grid_head("morris", 20, extra="num_levels = 6\n") + axes,
                            lambda p, r, u: 3.0 * u[0] + 0.0 * u[1])
    r = sensitivity(out, ["share:Huawei:2024"])
    t = r.table.set_index(["parameter", "index"])["value"]
    assert r.method == "morris"
    assert t[("choice.switching_scale", "mu_star")] == pytest.approx(3.0, rel=1e-6)   # linear: EE = slope
    assert t[("choice.switching_scale", "sigma")] == pytest.approx(0.0, abs=1e-9)
    assert t[("hoarding.strength", "mu_star")] == pytest.approx(0.0, abs=1e-12)
    assert t[(NOISE, "ee_noise")] == 0.0


def test_sensitivity_refuses_a_factorial_grid(tmp_path):
    out = synthetic_results(tmp_path / "f", grid_head("factorial") + '[[axes]]\nparameter = "hoarding.strength"\n'
                            'values = [0.0, 1.0]\n', lambda p, r, u: 0.2)
    with pytest.raises(AnalysisError, match="design = \"sobol\" or \"morris\""):
        sensitivity(out, ["share:Huawei:2024"])


# ---------------------------------------------------------------- discovery


def test_prim_recovers_a_planted_box():
    rng = np.random.default_rng(3)
    n = 1000
    x = pd.DataFrame({"a": rng.random(n), "b": rng.random(n), "c": rng.random(n),
                      "k": pd.Categorical(rng.choice(["p", "q", "r"], n))})
    y = ((x.a > 0.6) & (x.b < 0.4) & (x.k != "r")).astype(int).to_numpy()
    boxes, trade = prim_boxes(x, y, density=0.95)
    b = boxes.set_index("parameter")
    assert set(b.index) == {"a", "b", "k"}                   # c is not restricted
    assert abs(float(b.loc["a", "low"]) - 0.6) < 0.03
    assert abs(float(b.loc["b", "high"]) - 0.4) < 0.03
    assert b.loc["k", "low"] == "{p; q}"
    assert b["density"].iloc[0] >= 0.95 and b["coverage"].iloc[0] >= 0.9
    # the trade-off: coverage falls and density rises along the peeling; one box is marked
    assert trade["selected"].sum() == 1
    assert trade["coverage"].iloc[0] == 1.0 and trade["density"].iloc[-1] > trade["density"].iloc[0]


def test_discovery_on_month_and_category_axes(tmp_path):
    axes = """
[[axes]]
event = "us-2023-10-tpp-rule"
field = "timing"
range = ["2023-01", "2024-12"]
[[axes]]
parameter = "hoarding.strength"
range = [0.0, 4.0]
[[axes]]
event = "cn-2024-12-samr-nvidia"
field = "vendor"
values = ["Nvidia", "AMD"]
role = "lever"
"""
    def value(p, r, u):
        late = p["us-2023-10-tpp-rule.timing"] >= "2024-01"
        return 0.4 if late and p["cn-2024-12-samr-nvidia.vendor"] == "Nvidia" else 0.1

    out = synthetic_results(tmp_path / "d", grid_head("lhs", 300, replicates=1) + axes, value)
    d = discover(out, "share:Huawei:2024", above=0.3, density=0.95)
    b = d.boxes.set_index("parameter")
    assert set(b.index) == {"us-2023-10-tpp-rule.timing", "cn-2024-12-samr-nvidia.vendor"}
    assert b.loc["us-2023-10-tpp-rule.timing", "low"] == "2024-01"        # months come back as months
    assert b.loc["cn-2024-12-samr-nvidia.vendor", "low"] == "{Nvidia}"
    assert (out / "discovery.csv").read_text().splitlines()[0] == "box,coverage,density,parameter,low,high"
    assert (out / "discovery_tradeoff.csv").exists() and (out / "discovery_cart.csv").exists()
    assert set(d.cart["parameter"]) >= {"us-2023-10-tpp-rule.timing"}
    with pytest.raises(AnalysisError, match="nothing to discover"):
        discover(out, "share:Huawei:2024", above=0.9)


def test_discovery_of_rare_cases_says_how_to_find_them(tmp_path):
    axes = '[[axes]]\nparameter = "choice.switching_scale"\nrange = [1.0, 5.0]\n'
    out = synthetic_results(tmp_path / "rare", grid_head("lhs", 400, replicates=1) + axes,
                            lambda p, r, u: 0.4 if p["choice.switching_scale"] > 4.9 else 0.1)
    d = discover(out, "share:Huawei:2024", above=0.3)                   # 2.5% of the runs; boxes of 5% at least
    hint = [n for n in d.notes if "--mass-min" in n]
    assert hint and "50% at most" in hint[0], d.notes
    smaller = float(hint[0].rsplit(" ", 1)[1])
    b = discover(out, "share:Huawei:2024", above=0.3, mass_min=smaller).boxes.set_index("parameter")
    assert abs(float(b.loc["choice.switching_scale", "low"]) - 4.9) < 0.05
    assert b["density"].iloc[0] >= 0.8


# ---------------------------------------------------------------- attribution (Shapley arithmetic)


def test_exact_shapley_of_a_known_game():
    # v(S) = 1*[0 in S] + 2*[1 in S] + 4*[0 and 1 in S] + 0*[2 in S]: the interaction is split equally
    def v(S):
        return np.array([1.0 * (0 in S) + 2.0 * (1 in S) + 4.0 * ({0, 1} <= S)])

    coalitions = {frozenset(s): v(set(s)) for k in range(4) for s in __import__("itertools").combinations(range(3), k)}
    phi = A.exact_shapley(coalitions, 3)[:, 0]
    assert phi == pytest.approx([3.0, 4.0, 0.0])
    assert phi.sum() == pytest.approx(v({0, 1, 2})[0] - v(set())[0])                  # efficiency


def test_two_identical_events_get_equal_shares():
    # events 0 and 1 are interchangeable (either alone does the same; together a little more), 2 interacts
    # with each of them in the same way: symmetry gives 0 and 1 the same value, efficiency the total
    def v(S):
        k = len(S & {0, 1})
        return np.array([5.0 * min(k, 1) + 1.0 * k + 2.0 * (2 in S) + 0.5 * k * (2 in S)])

    coalitions = {frozenset(s): v(set(s)) for k in range(4) for s in itertools.combinations(range(3), k)}
    phi = A.exact_shapley(coalitions, 3)[:, 0]
    assert phi[0] == pytest.approx(phi[1], abs=1e-12)
    assert phi.sum() == pytest.approx(v({0, 1, 2})[0] - v(set())[0])
    # by hand: 0's marginal contributions are 6 (to {}), 1 (to {1}), 6.5 (to {2}), 1.5 (to {1, 2}),
    # with weights 1/3, 1/6, 1/6, 1/3
    assert phi[0] == pytest.approx(6 / 3 + 1 / 6 + 6.5 / 6 + 1.5 / 3)
    # sampled orders (each with its reverse) keep the symmetry on average and stay efficient
    orders = A.sampled_orders(3, 50, seed=1)
    per = A.order_contributions(coalitions, orders, 3)[:, :, 0]
    assert np.allclose(per.sum(axis=1), v({0, 1, 2})[0])
    assert per.mean(axis=0)[0] == pytest.approx(phi[0], abs=0.5)


def test_sampled_orders_are_efficient_and_close_to_exact():
    w = np.arange(1.0, 12.0)

    def v(S):
        return np.array([sum(w[i] for i in S) + (5.0 if {0, 1} <= S else 0.0)])

    orders = A.sampled_orders(11, 40, seed=3)
    coalitions = {}
    for o in orders:
        for k in range(12):
            coalitions[frozenset(o[:k])] = v(set(o[:k]))
    per = A.order_contributions(coalitions, orders, 11)[:, :, 0]
    assert np.allclose(per.sum(axis=1), v(set(range(11)))[0])                         # every order is efficient
    est = per.mean(axis=0)
    assert est[2:] == pytest.approx(w[2:])
    assert est[0] + est[1] == pytest.approx(w[0] + w[1] + 5.0)


def test_groups_names_and_errors():
    ch = [A.Change("e1", "added", "Rule one"), A.Change("e2", "added", "Rule one"), A.Change("e3", "removed", "x")]
    g = A.make_groups(ch, {"Both": ["e1", "e3"], "Unused": ["e9"]}, known_ids={"e1", "e2", "e3", "e9"})
    assert [x.name for x in g] == ["Both", "Rule one"]
    assert g[0].keys == ("e1", "e3")
    with pytest.raises(AnalysisError, match="unknown event id"):
        A.make_groups(ch, {"G": ["nope"]}, known_ids={"e1"})
    with pytest.raises(AnalysisError, match="in two groups"):
        A.make_groups(ch, {"G": ["e1"], "H": ["e1"]})
    assert A.parse_group_option("October rules=a, b") == ("October rules", ["a", "b"])
    with pytest.raises(AnalysisError):
        A.parse_group_option("no-equals-sign")


def test_a_grouping_file_is_cut_to_the_scenarios_compared():
    """The shipped history grouping names every history event; scenarios without some of them (e.g.
    full-decoupling against no-controls) still use it, with those events left out."""
    from sim import load_scenario

    target, base = load_scenario("full-decoupling"), load_scenario("no-controls")
    known = {e.id for e in target.events} | {e.id for e in base.events}
    named = A.restrict_groups(A.read_groups("history"), known)
    assert "H200 opening and duty (2026)" not in named                # neither scenario has those events
    assert all(set(v) <= known for v in named.values())
    groups = A.make_groups(A.differences(target, base), named, known)
    keys = [k for g in groups for k in g.keys]
    assert sorted(keys) == sorted(c.key for c in A.differences(target, base)) and len(keys) == len(set(keys))


def test_shipped_history_groups_name_real_events():
    from sim import load_scenario

    ids = {e.id for e in load_scenario("history").events}
    groups = A.read_groups("history")
    members = [k for v in groups.values() for k in v]
    assert set(members) == ids and len(members) == len(ids)       # every event, once


# ---------------------------------------------------------------- robustness


def test_minimax_regret_on_a_hand_computed_table():
    # outcome (maximize) of 3 policies in 3 futures
    y = np.array([[10.0, 6.0, 2.0],
                  [7.0, 7.0, 6.0],
                  [4.0, 9.0, 5.0]])
    r = regret_matrix(y, maximize=True)
    # best per future: 10, 9, 6
    assert r.tolist() == [[0, 3, 4], [3, 2, 0], [6, 0, 1]]
    t = rank_policies(y, maximize=True, percentile=100, threshold=6.0)
    assert t["max_regret"].tolist() == [4, 3, 6]
    assert t["rank"].tolist() == [2, 1, 3]                          # policy 1 is the minimax-regret choice
    assert t["satisficing"].tolist() == pytest.approx([2 / 3, 1.0, 1 / 3])
    # minimizing the same table: regret against the smallest value per future
    tm = rank_policies(y, maximize=False, percentile=100)
    assert tm["max_regret"].tolist() == [6, 4, 3] and tm["rank"].tolist() == [3, 2, 1]


def test_robustness_from_a_results_folder(tmp_path):
    # share = lever-dependent payoff in each future (PAY): cuda 0.5 is never far from the best
    out = synthetic_results(tmp_path / "r", grid_head("factorial", replicates=3) + ROBUST_AXES, lever_payoff)
    res = robustness(out, "share:Huawei:2024", threshold=0.5)
    t = res.table
    assert t["policy"].iloc[0] == "buyers.Tencent.cuda_dependence=0.5"
    assert t["max_regret"].iloc[0] == pytest.approx(0.3)
    assert t["p_minimax"].iloc[0] == pytest.approx(1.0)
    assert t.set_index("policy").loc["buyers.Tencent.cuda_dependence=0.5", "satisficing"] == pytest.approx(1.0)
    assert len(res.regret) == 9 and (out / "robustness.csv").exists()


def test_robustness_needs_a_lever(tmp_path):
    out = synthetic_results(tmp_path / "n", grid_head("factorial") + ROBUST_AXES.replace('role = "lever"\n', ""),
                            lambda p, r, u: 0.3)
    with pytest.raises(AnalysisError, match="no lever axis"):
        robustness(out, "share:Huawei:2024")


# ---------------------------------------------------------------- beyond 10 groups, unfinished grids, the box


def test_sampled_shapley_beyond_ten_groups_states_its_error(monkeypatch):
    """history vs no-controls, one group per US event: 11 groups, so attribute() samples orders. The outcome
    is a known game of the events present (additive weights, a bonus when three events are all present, seed
    noise on common seeds): the contributions still sum to the total exactly, the additive groups get their
    weights, the three share their bonus, and the error of the sampling is stated and part of ``conf``."""
    from sim import load_scenario

    target, base = load_scenario("history"), load_scenario("no-controls")
    diff = [c.key for c in A.differences(target, base)]
    assert len(diff) == 11 > A.EXACT_MAX
    w = {k: 0.01 * (i + 1) for i, k in enumerate(diff)}
    a, b, c = diff[0], diff[1], diff[2]

    def game(scenarios, seeds, name, workers=None, progress=None):
        out = np.zeros((len(scenarios), len(seeds)))
        for i, sc in enumerate(scenarios):
            ids = {e.id for e in sc.events}
            v = sum(w[k] for k in diff if k in ids) + (0.3 if {a, b, c} <= ids else 0.0)
            out[i] = [v * (1 + 0.01 * j) for j in range(len(seeds))]     # the same draws for every coalition
        return out

    monkeypatch.setattr(A, "evaluate", game)
    r = A.attribute(target, base, "share:Nvidia:2027", seeds=[1, 2, 3], permutations=40, seed=5)
    t = r.table.set_index("events")
    assert r.method == "sampled"
    groups = r.table[r.table["group"] != A.TOTAL]
    assert len(groups) == 11
    assert groups["contribution"].sum() == pytest.approx(t.loc[" ".join(diff), "contribution"], abs=1e-12)
    scale = np.mean([1 + 0.01 * j for j in range(3)])
    for k in diff[3:]:
        assert t.loc[k, "contribution"] == pytest.approx(w[k] * scale, abs=1e-12)     # no interaction: exact
    three = t.loc[[a, b, c], "contribution"]
    assert three.sum() == pytest.approx((w[a] + w[b] + w[c] + 0.3) * scale, abs=1e-12)
    # the stated error: sampled orders give the three a sampling error that the seeds alone would not
    note = " ".join(r.notes)
    assert "40 sampled orders (20 antithetic pairs)" in note and "standard error from the sampling" in note
    assert t.loc[a, "conf"] > 10 * t.loc[diff[3], "conf"]
    # and it is honest: over other random orders, the 95% intervals hold the exact value (a third of the
    # bonus each) about 95% of the time
    hits = []
    for order_seed in range(12):
        t = A.attribute(target, base, "share:Nvidia:2027", seeds=[1, 2, 3], permutations=40,
                        seed=order_seed).table.set_index("events")
        hits += [abs(t.loc[k, "contribution"] - (w[k] + 0.1) * scale) <= t.loc[k, "conf"] for k in (a, b, c)]
    assert 0.85 <= np.mean(hits) <= 1.0, np.mean(hits)


def test_the_sentence_names_the_largest_groups():
    table = pd.DataFrame([("Rule A", "a", -0.30, 0.01), ("Rule B", "b", 0.02, 0.002), ("Rule C", "c", -0.10, 0.01),
                          ("Rule D", "d", -0.001, 0.0), ("Rule E", "e", -0.002, 0.0),
                          (A.TOTAL, "a b c d e", -0.383, 0.01)], columns=A.COLUMNS)
    r = A.Attribution(table, "share:Nvidia:2027", 0.40, 0.017, "exact", pd.DataFrame(), [])
    text = A.sentence(r, "history", "no-controls")
    assert text == ("From no-controls to history, share:Nvidia:2027 moves from 40.0% to 1.7% (-38.3 points); "
                    "Rule A took 30.0 points (± 1.0 points), Rule C took 10.0 points (± 1.0 points), Rule B added "
                    "2.0 points (± 0.20 points), the other 2 groups -0.3 points together.")


def test_unfinished_grids_are_refused_by_sensitivity_and_robustness(tmp_path):
    sob = synthetic_results(tmp_path / "s", grid_head("sobol", 8) + ISHIGAMI_AXES, lambda p, r, u: ishigami(u),
                            missing={3, 7})
    with pytest.raises(AnalysisError, match=r"78 of 80 runs finished.*--resume"):
        sensitivity(sob, ["share:Huawei:2024"])
    d = discover(sob, "share:Huawei:2024", above=3.5, write=False)          # discovery uses the runs there are
    assert d.cases == 78 and any("only 78 of 80 runs are finished" in n for n in d.notes)
    rob = synthetic_results(tmp_path / "r", grid_head("factorial", replicates=3) + ROBUST_AXES, lever_payoff,
                            missing={0})
    with pytest.raises(AnalysisError, match=r"26 of 27 runs finished; complete the grid first.*--resume"):
        robustness(rob, "share:Huawei:2024")


def test_box_extents_place_the_limits_within_each_range():
    rng = np.random.default_rng(4)
    x = pd.DataFrame({"a": rng.random(600) * 10, "m": rng.integers(24276, 24300, 600).astype(float),
                      "k": pd.Categorical(rng.choice(["p", "q"], 600))})
    y = ((x.a > 6) & (x.m >= 24288)).astype(int).to_numpy()
    kinds = {"a": "num", "m": "month", "k": "cat"}
    boxes, _ = prim_boxes(x, y, density=0.95, kinds=kinds)
    from sim.analysis.discovery import box_extents

    e = box_extents(boxes, x, kinds).set_index("parameter")
    assert set(e.index) == {"a", "m"}
    assert e.loc["a", "low_share"] == pytest.approx(0.6, abs=0.05)               # limits are printed to 6 digits
    assert e.loc["a", "high_share"] == pytest.approx(1.0, abs=1e-6)
    assert e.loc["m", "low"] == "2024-01" and e.loc["m", "range_low"] == "2023-01"        # months stay months
    assert e.loc["m", "low_share"] == pytest.approx(12 / 23)


def test_attribution_notes_that_chinas_responses_are_credited_to_the_us_rules_that_set_them_off():
    from sim.analysis import attribution as A
    from sim.model.scenario import load_scenario

    hist, free = load_scenario("history"), load_scenario("no-controls")
    notes = A.response_notes(hist, free, A.differences(hist, free))
    assert len(notes) == 1 and "credited to the US groups" in notes[0]
    n_resp = sum(e.responds_to_us for e in free.events)
    assert notes[0].startswith(f"{n_resp} of China's measures")
    # no US rule among the changes: nothing to say
    no_cn = hist.with_changes(remove=["cn-2025-01-guidance-30"])
    assert A.response_notes(hist, no_cn, A.differences(hist, no_cn)) == []
    # the responses switched off in both: they bind on their own dates, nothing is credited to the US rules
    off = {"china.reacts_to_us": False}
    h0, f0 = hist.with_changes(parameters=off), free.with_changes(parameters=off)
    assert A.response_notes(h0, f0, A.differences(h0, f0)) == []
