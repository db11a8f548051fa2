"""Synthetic grid results folders for the analysis tests: a real grid file and experiments table, and
time series made up so that an outcome is a known function of the design (no model runs)."""

from __future__ import annotations

import json
import textwrap
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd

from sim.engine import store
from sim.experiments.grid import RunSpec, parse_grid, seed_indices, unit_sample
from sim.model.seeds import derive_seed
from sim.experiments.gridrun import experiments_frame

YEARS = (2023, 2024)


def synthetic_results(out: Path, grid_text: str,
                      huawei: Callable[[dict, int, np.ndarray | None], float]) -> Path:
    """A results folder whose Huawei unit share in 2024 is ``huawei(point, replicate, unit_row)`` (Total is
    1 unit a year; Nvidia sells 0.5). ``unit_row``: the point's row of the design's unit sample (None for
    factorial designs)."""
    text = textwrap.dedent(grid_text)
    out.mkdir(parents=True)
    grid = parse_grid(text, str(out / store.GRID_COPY), check_points=False)
    (out / store.GRID_COPY).write_text(text, encoding="utf-8")
    (out / store.BASE_COPY).write_text(grid.base.to_toml(), encoding="utf-8")
    sidx = seed_indices(grid)
    R = grid.replicates
    specs = [RunSpec(p * R + r, p, r, sidx[p * R + r], derive_seed(grid.seed, sidx[p * R + r]), "synthetic", {})
             for p in range(grid.n_points) for r in range(R)]
    ex = experiments_frame(grid, specs)
    store.write_table(ex, out / store.EXPERIMENTS)
    store.write_json({"tool": "chipshift", "kind": "grid", "grid": grid.name, "design": grid.design,
                      "master_seed": grid.seed, "seed_mode": grid.seeds, "model_fingerprint": "synthetic"},
                     out / store.MANIFEST)
    u = unit_sample(grid)
    rows = []
    for s in specs:
        h = float(huawei(grid.points[s.point], s.replicate, None if u is None else u[s.point % len(u)]))
        for y in YEARS:
            d = pd.Timestamp(f"{y}-06-01")
            vals = {"Huawei": h if y == 2024 else 0.1, "Nvidia": 0.5, "Total": 1.0}
            for ent, v in vals.items():
                rows.append((s.run, s.seed, d, ent, "units", v))
    ts = pd.DataFrame(rows, columns=["run", "seed", "date", "entity", "metric", "value"])
    ts["date"] = ts["date"].astype("datetime64[us]")
    ts["entity"] = ts["entity"].astype("str")
    ts["metric"] = ts["metric"].astype("str")
    (out / store.SHARDS).mkdir()
    ts.to_parquet(out / store.SHARDS / "part-0000-000001.parquet", index=False)
    return out


def grid_head(design: str, samples: int | None = None, replicates: int = 2, extra: str = "") -> str:
    s = f"samples = {samples}\n" if samples is not None else ""
    return (f'[grid]\nname = "synthetic"\nscenario = "history"\ndesign = "{design}"\n{s}replicates = {replicates}\n'
            f'seed = 17\nend = "2024-12"\n{extra}')


# three parameters of a Sobol or Morris grid (a synthetic outcome reads them from the unit sample)
ISHIGAMI_AXES = """
[[axes]]
parameter = "choice.switching_scale"
range = [1.0, 5.0]
[[axes]]
parameter = "hoarding.strength"
range = [0.0, 4.0]
[[axes]]
parameter = "maturity.learning_rate"
range = [0.05, 1.0]
"""

# a lever and an uncertainty, 3 x 3 (factorial)
ROBUST_AXES = """
[[axes]]
parameter = "buyers.Tencent.cuda_dependence"
values = [0.2, 0.5, 0.9]
role = "lever"
[[axes]]
parameter = "hoarding.strength"
values = [0.0, 1.0, 2.0]
"""

# Huawei's 2024 share per lever level (rows) in each future (hoarding 0, 1, 2): 0.5 is the minimax choice
PAY = {0.2: [0.9, 0.5, 0.1], 0.5: [0.7, 0.6, 0.5], 0.9: [0.2, 0.4, 0.8]}


def lever_payoff(point: dict, replicate: int, unit_row) -> float:
    """PAY of the point's lever level in its future, with a little seed noise."""
    return PAY[point["buyers.Tencent.cuda_dependence"]][int(point["hoarding.strength"])] + 0.001 * (replicate - 1)


def make_outputs(root: Path) -> Path:
    """An outputs root with two results folders for the Analysis page's tests (AppTest and the browser):

        sobol/    a Sobol grid (N = 64) over ISHIGAMI_AXES; Huawei's 2024 share depends on the first two
        levers/   a factorial grid over ROBUST_AXES with the PAY outcome
    """
    synthetic_results(root / "sobol", grid_head("sobol", 64) + ISHIGAMI_AXES,
                      lambda p, r, u: 0.2 + 0.3 * u[0] + 0.1 * u[1] ** 2 + 0.002 * r)
    synthetic_results(root / "levers", grid_head("factorial", replicates=3) + ROBUST_AXES, lever_payoff)
    return root


def json_of(path: Path) -> dict:
    return json.loads(path.read_text(encoding="utf-8"))
