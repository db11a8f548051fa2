"""ChipShift: an agent-based model of China's AI-accelerator market under sanctions.

Notebook API::

    from sim import load_scenario, run_scenario
    res = run_scenario("history", seeds=5)
    res.timeseries          # long table: run, seed, date, entity, metric, value
    res.annual("unit_share")
"""

from sim.engine.runs import RunResult, annual_shares, run_scenario
from sim.model.market_model import MarketModel
from sim.model.scenario import Scenario, ScenarioError, list_scenarios, load_scenario
from sim.model.seeds import derive_seed, derive_seeds

__all__ = ["MarketModel", "RunResult", "Scenario", "ScenarioError", "annual_shares", "derive_seed",
           "derive_seeds", "list_scenarios", "load_scenario", "run_scenario"]
