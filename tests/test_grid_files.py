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
