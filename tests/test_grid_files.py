"""Grid files: validation errors (file, key, reason), designs, seeds and run-spec hashes."""

from __future__ import annotations

import textwrap

import numpy as np
import pytest

from sim.experiments.grid import (
    Grid,
    load_grid,
    model_fingerprint,
    parse_grid,
    run_specs,
    scenario_key,
    spec_hash,
)
from sim.model.calendar import month_index
from sim.model.scenario import ScenarioError
from sim.model.seeds import derive_seed, derive_seeds

HEAD = """
[grid]
name = "t"
scenario = "history"
end = "2022-12"
replicates = 2
seed = 11
"""


def grid(text: str, head: str = HEAD) -> Grid:
    return parse_grid(textwrap.dedent(head) + textwrap.dedent(text), "g.toml")


def problems(text: str, head: str = HEAD) -> list[tuple[str, str, str]]:
    with pytest.raises(ScenarioError) as e:
        grid(text, head)
    assert all(f == "g.toml" for f, _, _ in e.value.problems)
    return e.value.problems


def has(probs, key: str, words: str) -> bool:
    return any(k == key and words in r for _, k, r in probs)


AX = """
[[axes]]
parameter = "hoarding.strength"
values = [0.5, 1.0]
"""


@pytest.mark.parametrize("name", ["ceiling-timing-x-huawei", "mandate-x-power-subsidy", "uncertainty-lhs"])
def test_shipped_grids_are_valid(name):
    g = load_grid(name)
    assert g.n_runs == g.n_points * g.replicates >= 100
    assert len(g.axes) >= 2


@pytest.mark.parametrize("text,head,key,words", [
    (AX + "\n[extra]\nx = 1\n", HEAD, "extra", "unknown top-level key"),
    (AX, HEAD + "colour = 1\n", "grid.colour", "unknown key"),
    (AX, HEAD.replace('seed = 11', ''), "grid.seed", "required"),
    (AX, HEAD.replace('"history"', '"nope"'), "grid.scenario", "not found"),
    (AX, HEAD.replace('end = "2022-12"', 'end = "2022-13"'), "grid.end", "YYYY-MM"),
    (AX, HEAD + 'design = "grid"\n', "grid.design", "unknown design"),
    (AX.replace("values = [0.5, 1.0]", "range = [0.0, 1.0]"), HEAD + 'design = "sobol"\nsamples = 6\n',
     "grid.samples", "power of 2"),
    (AX.replace("hoarding.strength", "hoarding.strenght"), HEAD, "axes[0].parameter", "unknown parameter"),
    (AX.replace("0.5, 1.0", "0.5, 99.0"), HEAD, "axes[0].values", "outside the bounds"),
    (AX.replace("values = [0.5, 1.0]", "range = [0.5, 2.0]"), HEAD, "axes[0].steps", "steps"),
    (AX + "colour = 3\n", HEAD, "axes[0].colour", "unknown key"),
    ('[[axes]]\nevent = "no-such-rule"\nfield = "rate"\nvalues = [0.1]\n', HEAD, "axes[0].event", "unknown event id"),
    ('[[axes]]\nevent = "us-2023-10-tpp-rule"\nfield = "rate"\nvalues = [0.1]\n', HEAD, "axes[0].field", "no field"),
    ('[[axes]]\nevent = "us-2023-10-tpp-rule"\nfield = "timing"\nvalues = ["2023-13"]\n', HEAD, "axes[0].values",
     "YYYY-MM"),
    ('[[axes]]\nevent = "us-2023-10-tpp-rule"\nfield = "timing"\nrange = ["2024-01", "2023-01"]\n', HEAD,
     "axes[0].range", "after"),
    (AX + AX, HEAD, "axes", "named"),
])
def test_bad_grid_files_name_key_and_reason(text, head, key, words):
    probs = problems(text, head)
    assert has(probs, key, words), probs


def test_event_field_values_checked_per_design_point():
    # effective before the rule's announcement, and a share above 1: both caught with the point named
    probs = problems('[[axes]]\nevent = "us-2023-10-tpp-rule"\nfield = "effective"\nvalues = ["2023-02"]\n'
                     '[[axes]]\nevent = "cn-2025-11-power-subsidy"\nfield = "rate"\nvalues = [1.5]\n')
    text = " ".join(r for _, _, r in probs)
    assert "design point 0" in text and "announced" in text
    assert "less than or equal to 1" in text


def test_several_problems_reported_together():
    probs = problems(AX.replace("hoarding.strength", "nope.x") + '\n[[axes]]\nevent = "x"\nfield = "rate"\n'
                     'values = [1]\n', HEAD + "bogus = 1\n")
    assert len(probs) >= 3


def test_grid_check_cli(tmp_path, run_cli):
    bad = tmp_path / "bad.toml"
    bad.write_text(textwrap.dedent(HEAD) + AX.replace("hoarding.strength", "hoarding.strenght"))
    r = run_cli("grid", "--check", str(bad))
    assert r.returncode == 1
    assert f"{bad}: axes[0].parameter: unknown parameter" in r.stderr
    r = run_cli("grid", "--check", "mandate-x-power-subsidy")
    assert r.returncode == 0 and "ok" in r.stdout


def test_factorial_design_is_every_combination():
    g = grid(AX + '[[axes]]\nevent = "us-2023-10-tpp-rule"\nfield = "timing"\nrange = ["2023-01", "2023-12"]\n'
             'step = 4\n')
    assert g.n_points == 2 * 3
    assert {(p["hoarding.strength"], p["us-2023-10-tpp-rule.timing"]) for p in g.points} == {
        (h, m) for h in (0.5, 1.0) for m in ("2023-01", "2023-05", "2023-09")}


def test_timing_axis_keeps_the_announcement_lead():
    g = grid('[[axes]]\nevent = "us-2023-10-tpp-rule"\nfield = "timing"\nvalues = ["2023-03"]\n')
    base = g.base.event("us-2023-10-tpp-rule")
    e = g.scenario_at(g.points[0]).event("us-2023-10-tpp-rule")
    assert e.effective == "2023-03"
    assert month_index(e.effective) - month_index(e.announced) == \
        month_index(base.effective) - month_index(base.announced)


def test_lhs_design_is_stratified_within_bounds_and_reproducible():
    head = HEAD + 'design = "lhs"\nsamples = 10\n'
    text = ('[[axes]]\nparameter = "hoarding.strength"\nrange = [0.0, 4.0]\n'
            '[[axes]]\nparameter = "vendors.compliant_sku_lag"\nrange = [2, 9]\n')
    g = grid(text, head)
    h = np.array([p["hoarding.strength"] for p in g.points])
    assert g.n_points == 10 and (h >= 0).all() and (h <= 4).all()
    assert sorted(np.floor(h / 0.4).astype(int)) == list(range(10))  # one sample per stratum
    lag = [p["vendors.compliant_sku_lag"] for p in g.points]
    assert all(isinstance(x, int) and 2 <= x <= 9 for x in lag)
    assert grid(text, head).points == g.points
    assert grid(text, head.replace("seed = 11", "seed = 12")).points != g.points


def test_sobol_design_size():
    g = grid('[[axes]]\nparameter = "hoarding.strength"\nrange = [0.0, 4.0]\n'
             '[[axes]]\nevent = "cn-2025-11-power-subsidy"\nfield = "rate"\nrange = [0.0, 0.6]\n',
             HEAD + 'design = "sobol"\nsamples = 8\n')
    assert g.n_points == 8 * (2 + 2)
    assert all(0.0 <= p["cn-2025-11-power-subsidy.rate"] <= 0.6 for p in g.points)


def test_common_seeds_match_sim_run_and_independent_seeds_are_all_distinct():
    g = grid(AX)
    specs = run_specs(g)
    assert [s.run for s in specs] == list(range(4))
    assert [s.seed for s in specs] == derive_seeds(11, 2) * 2       # replicate r: the seed `sim run` gives it
    gi = grid(AX, HEAD + 'seeds = "independent"\n')
    si = run_specs(gi)
    assert [s.seed for s in si] == [derive_seed(11, i) for i in range(4)]
    assert len({s.seed for s in si}) == len(si)


def test_spec_hash_is_content_based():
    g = grid(AX)
    specs = run_specs(g)
    assert len({s.spec_hash for s in specs}) == len(specs)
    again = run_specs(grid(AX.replace("0.5, 1.0", "1.0, 2.0")))
    assert specs[2].spec_hash == again[0].spec_hash            # hoarding 1.0, replicate 0 in both grids
    renamed = run_specs(grid(AX, HEAD.replace('name = "t"', 'name = "other"')))
    assert [s.spec_hash for s in renamed] == [s.spec_hash for s in specs]
    key = scenario_key(g.scenario_at(g.points[0]))
    assert spec_hash(key, 1, model_fingerprint()) != spec_hash(key, 2, model_fingerprint())
    assert spec_hash(key, 1, "model-a") != spec_hash(key, 1, "model-b")


def test_model_fingerprint_covers_the_model_sources():
    from pathlib import Path

    from sim.experiments.grid import _model_sources

    root = Path(__file__).resolve().parent.parent / "sim"
    names = {p.relative_to(root).as_posix() for p in _model_sources(root)}
    assert {"model/market_model.py", "engine/runs.py", "model/scenario.py", "model/seeds.py", "model/params.py",
            "model/data/products.toml"} <= names
    assert not names & {"cli.py", "charts.py", "experiments/grid.py", "ui/state.py"}
    assert len(model_fingerprint()) == 32


# ---------------------------------------------------------------- size and speed (issue 11, item 6)


HUGE = [
    ('[[axes]]\nparameter = "hoarding.strength"\nrange = [0.0, 3.0]\nsteps = 1000000\n'
     '[[axes]]\nparameter = "choice.nest_vendor"\nrange = [0.5, 1.0]\nsteps = 1000000\n', HEAD, 10**12),
    ('[[axes]]\nparameter = "hoarding.strength"\nrange = [0.0, 3.0]\nsteps = 10000000000000\n', HEAD, 10**13),
    ('[[axes]]\nparameter = "hoarding.strength"\nrange = [0.0, 3.0]\n', HEAD + 'design = "sobol"\nsamples = 1099511627776\n',
     2**40 * 3),
    ('[[axes]]\nparameter = "hoarding.strength"\nrange = [0.0, 3.0]\n', HEAD + 'design = "lhs"\nsamples = 1000000000\n',
     10**9),
    (AX + '[[axes]]\nevent = "us-2023-10-tpp-rule"\nfield = "timing"\nrange = ["2023-01", "2800-12"]\n',
     HEAD.replace("replicates = 2", "replicates = 10000"), 2 * 9336),
]


@pytest.mark.parametrize("text,head,points", HUGE)
def test_huge_designs_are_refused_before_anything_is_built(monkeypatch, text, head, points):
    import time

    def never(*a, **k):
        raise AssertionError("the design was built")

    monkeypatch.setattr("sim.experiments.grid.make_design", never)
    monkeypatch.setattr("sim.experiments.grid.unit_sample", never)
    t0 = time.perf_counter()
    probs = problems(text, head)
    assert time.perf_counter() - t0 < 5
    (_, key, reason), = probs
    assert key == "grid" and f"{points:,} design points" in reason and "was not built" in reason


@pytest.mark.parametrize("text,head", [
    (AX + '[[axes]]\nevent = "us-2023-10-tpp-rule"\nfield = "timing"\nrange = ["2023-01", "2024-12"]\nstep = 5\n', HEAD),
    ('[[axes]]\nparameter = "hoarding.strength"\nrange = [0.0, 3.0]\nsteps = 7\n[[axes]]\nparameter = '
     '"china.reactive.coverage_trigger"\nvalues = [0.2, 0.8]\n', HEAD),
    ('[[axes]]\nparameter = "hoarding.strength"\nrange = [0.0, 3.0]\n[[axes]]\nevent = "cn-2025-11-power-subsidy"\n'
     'field = "rate"\nrange = [0.0, 0.6]\n', HEAD + 'design = "sobol"\nsamples = 16\n'),
    ('[[axes]]\nparameter = "hoarding.strength"\nrange = [0.0, 3.0]\n[[axes]]\nparameter = "choice.nest_vendor"\n'
     'range = [0.5, 1.0]\n', HEAD + 'design = "morris"\nsamples = 4\n'),
    ('[[axes]]\nparameter = "hoarding.strength"\nrange = [0.0, 3.0]\n[[axes]]\nevent = "cn-2025-11-power-subsidy"\n'
     'field = "rate"\nrange = [0.0, 0.6]\nsteps = 3\nrole = "lever"\n[[axes]]\nevent = "us-2023-10-tpp-rule"\n'
     'field = "timing"\nrange = ["2023-01", "2023-06"]\nrole = "lever"\n', HEAD + 'design = "lhs"\nsamples = 5\n'),
])
def test_design_size_is_the_number_of_points_built(text, head):
    from sim.experiments.grid import design_size

    g = grid(text, head)
    assert design_size(g) == g.n_points == len(g.points) > 1


def test_sampled_values_equal_the_scalar_mapping_to_the_bit():
    from sim.experiments.grid import Axis

    rng = np.random.default_rng(3)
    u = np.concatenate([rng.random(2000), [0.0, 1.0, 1.0 - 1e-13, -0.1, 1.5]])
    for ax in (Axis("f", parameter="x", lo=0.05, hi=3.7, kind="float"), Axis("i", parameter="x", lo=-3, hi=11,
               kind="int"), Axis("m", event="e", field="timing", lo="2023-01", hi="2026-07", kind="month"),
               Axis("v", parameter="x", values=(0.1, 0.5, 0.9), kind="float")):
        assert ax.from_units(u) == [ax.from_unit(x) for x in u]


def full_check(g) -> set[int]:
    """The design points that do not make a valid scenario, found the slow way (a scenario per point)."""
    bad = set()
    for j, pt in enumerate(g.points):
        try:
            g.scenario_at(pt)
        except ScenarioError:
            bad.add(j)
    return bad


def test_points_are_checked_by_coupled_axes_with_the_same_verdict_as_a_scenario_per_point():
    # the nest parameters are checked against each other, an event's fields together: the grouped check
    # names the first bad point and both kinds of problem, and passes only designs whose every point is valid
    text = ('[[axes]]\nparameter = "choice.nest_product"\nvalues = [0.3, 0.6, 0.9]\n'
            '[[axes]]\nparameter = "choice.nest_vendor"\nvalues = [0.5, 0.8]\n'
            '[[axes]]\nparameter = "hoarding.strength"\nvalues = [0.5, 1.5]\n'
            '[[axes]]\nevent = "us-2023-10-tpp-rule"\nfield = "effective"\nvalues = ["2023-08", "2023-12"]\n'
            '[[axes]]\nevent = "us-2023-10-tpp-rule"\nfield = "announced"\nvalues = ["2023-09", "2023-11"]\n')
    probs = problems(text)
    named = {int(r.split("design point ")[1].split(" ")[0]) for _, _, r in probs if "design point" in r}
    slow = full_check(parse_grid(textwrap.dedent(HEAD) + text, "g.toml", check_points=False))
    assert named <= slow and min(slow) in named
    assert any("nest_vendor" in r for _, _, r in probs) and any("announced" in r for _, _, r in probs)
    good = text.replace("0.3, 0.6, 0.9", "0.3, 0.5").replace('"2023-09", "2023-11"', '"2023-07", "2023-08"')
    assert full_check(grid(good)) == set()


def test_checking_an_accepted_million_point_grid_is_fast():
    import time

    text = ('[[axes]]\nparameter = "hoarding.strength"\nrange = [0.0, 3.0]\nsteps = 200\n'
            '[[axes]]\nparameter = "china.reactive.coverage_trigger"\nrange = [0.0, 1.0]\nsteps = 200\n'
            '[[axes]]\nevent = "us-2023-10-tpp-rule"\nfield = "timing"\nrange = ["2022-01", "2023-12"]\n')
    t0 = time.perf_counter()
    g = grid(text, HEAD.replace("replicates = 2", "replicates = 1"))
    took = time.perf_counter() - t0
    assert g.n_points == 200 * 200 * 24
    assert took < 60, f"{took:.1f} s to check {g.n_points:,} points"   # a scenario per point: about 20 minutes
