"""Grid files for the analyses: the Morris design and axis roles (lever / uncertainty)."""

from __future__ import annotations

import textwrap

import pytest

from sim.experiments.grid import load_grid, parse_grid, unit_sample
from sim.model.scenario import ScenarioError

HEAD = """
[grid]
name = "t"
scenario = "history"
end = "2022-12"
seed = 11
"""
TWO = """
[[axes]]
parameter = "hoarding.strength"
range = [0.0, 4.0]
[[axes]]
event = "us-2023-10-tpp-rule"
field = "timing"
range = ["2023-05", "2024-11"]
"""


def problems(text: str) -> list[str]:
    with pytest.raises(ScenarioError) as e:
        parse_grid(textwrap.dedent(HEAD) + textwrap.dedent(text), "g.toml")
    return e.value.lines()


def test_morris_design_has_trajectories_of_d_plus_one_points():
    g = parse_grid(textwrap.dedent(HEAD) + 'design = "morris"\nsamples = 5\nnum_levels = 6\n' + TWO, "g.toml")
    assert g.n_points == 5 * (2 + 1)
    u = unit_sample(g)
    assert u.shape == (15, 2)
    # along a trajectory consecutive points differ in exactly one axis
    for t in range(5):
        rows = u[3 * t:3 * t + 3]
        assert all(((rows[i] != rows[i + 1]).sum() == 1) for i in range(2))
    assert set(round(x * 5) for x in u.ravel()) <= set(range(6))         # 6 levels: 0, 1/5, ..., 1
    again = parse_grid(textwrap.dedent(HEAD) + 'design = "morris"\nsamples = 5\nnum_levels = 6\n' + TWO, "g.toml")
    assert again.points == g.points                                       # regenerated identically


@pytest.mark.parametrize("extra, key, words", [
    ('design = "morris"\nsamples = 4\nnum_levels = 5\n', "grid.num_levels", "even whole number"),
    ('design = "lhs"\nsamples = 4\nnum_levels = 4\n', "grid.num_levels", "only for the morris design"),
    ('design = "morris"\n', "grid.samples", "required for design 'morris'"),
])
def test_morris_settings_are_checked(extra, key, words):
    lines = problems(extra + TWO)
    assert any(f"g.toml: {key}: " in x and words in x for x in lines), lines


@pytest.mark.parametrize("axis, words", [
    ('parameter = "grey.per_year"\nrange = [1e4, 2e4]\nrole = "lever"', "is not anyone's decision"),
    ('event = "cn-2025-11-power-subsidy"\nfield = "rate"\nrange = [0.0, 0.5]\nrole = "uncertainty"',
     "make it role = \"lever\""),
    ('parameter = "buyers.Tencent.cuda_dependence"\nvalues = [0.5]\nrole = "boss"', "unknown role 'boss'"),
])
def test_roles_are_checked(axis, words):
    lines = problems('design = "factorial"\n[[axes]]\n' + axis + "\n")
    assert any(x.startswith("g.toml: axes[0].role: ") and words in x for x in lines), lines


def test_lhs_crosses_levers_with_the_same_futures():
    text = textwrap.dedent(HEAD) + 'design = "lhs"\nsamples = 4\n' + TWO + textwrap.dedent("""
        [[axes]]
        parameter = "buyers.Tencent.cuda_dependence"
        range = [0.3, 0.9]
        steps = 3
        role = "lever"
        """)
    g = parse_grid(text, "g.toml")
    assert g.n_points == 3 * 4
    assert [a.name for a in g.levers] == ["buyers.Tencent.cuda_dependence"]
    futures = [[(p["hoarding.strength"], p["us-2023-10-tpp-rule.timing"]) for p in g.points[4 * k:4 * k + 4]]
               for k in range(3)]
    assert futures[0] == futures[1] == futures[2]
    assert problems('design = "lhs"\nsamples = 4\n' + TWO + '[[axes]]\nparameter = "buyers.Tencent.cuda_dependence"\n'
                    'range = [0.3, 0.9]\nrole = "lever"\n')


@pytest.mark.parametrize("name", ["sobol-uncertain-parameters", "tencent-robustness"])
def test_shipped_analysis_grids_are_valid(name):
    g = load_grid(name)
    assert g.n_runs >= 400
    if name.startswith("tencent"):
        assert {a.name for a in g.levers} == {"tencent_cuda_dependence", "h200_customs_block"}
        assert g.design == "lhs" and g.n_points == 3 * 3 * g.samples
    else:
        assert g.design == "sobol" and len(g.axes) == 6 and g.samples == 256 and g.replicates == 2
