"""Experiments: scenario grids (files, designs, run specs), executors, the results store and summaries.

    grid.py       grid files: schema, validation, designs, run specs and content hashes
    worker.py     what a worker runs (a chunk of runs -> Parquet bytes)
    executors.py  serial, local process pool, Dask
    store.py      the results folder (atomic shards, experiments table, manifest)
    engine.py     run_grid: run / resume / reuse
    summarize.py  per-run outcomes and per-design-point statistics
    cli.py        the `grid` and `summarize` commands
"""

from sim.experiments.grid import (
    Axis,
    Grid,
    RunSpec,
    list_grids,
    load_grid,
    model_fingerprint,
    run_specs,
)

__all__ = ["Axis", "Grid", "RunSpec", "list_grids", "load_grid", "model_fingerprint", "run_specs"]
