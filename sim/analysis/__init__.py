"""Analysis of grid results and scenario differences: what drives an outcome, where it happens, which rule
moved it, and which decision holds up across futures.

    evaluate.py     the one place that runs the model for an analysis (scenarios x seeds -> outcome array)
    results.py      a grid results folder as analysis input: per-run and per-point outcomes, seed noise
    sensitivity.py  Sobol (S1, ST) and Morris (mu*, sigma) indices from a Sobol or Morris grid (SALib)
    discovery.py    scenario discovery: PRIM boxes with their peeling trade-off (EMA Workbench), CART check
    attribution.py  Shapley attribution of an outcome difference between two scenarios to event groups
    robustness.py   regret and satisficing of a lever's levels across the uncertainty axes
    charts.py       tornado, trade-off, box, waterfall and regret charts (Altair)
    cli.py          the `sensitivity`, `discover`, `attribute` and `robustness` commands

Every analysis writes a CSV and a small JSON manifest (command, inputs, seeds, options) and is
reproducible: the same inputs and seeds give identical files.
"""

from sim.analysis.results import AnalysisError

__all__ = ["AnalysisError"]
