"""Regression: the calibrated history must keep its fit.

tests/baselines/history.json pins, per target, the calibrated history's mean over its first replicates
(to the last fitted month). A model or scenario change that moves any target by more than a quarter of
that target's tolerance half-width fails here. Update the baseline only deliberately:
``python -m sim calibrate --update-baseline`` (after a refit) or ``python -m sim.calibration.baseline``.
"""

from __future__ import annotations

import json

import pytest

from sim.calibration.pipeline import BASELINE, baseline_stats
from sim.calibration.targets import load_targets


@pytest.fixture(scope="module")
def baseline():
    return json.loads(BASELINE.read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def current(baseline):
    targets, mu = baseline_stats("history", n_seeds=baseline["n_seeds"])
    return {t.id: float(x) for t, x in zip(targets, mu)}


def test_baseline_covers_every_target(baseline):
    assert set(baseline["targets"]) == {t.id for t in load_targets()}


def test_calibrated_history_matches_baseline(baseline, current):
    moved = []
    for tid, b in baseline["targets"].items():
        if abs(current[tid] - b["value"]) > b["tolerance"]:
            moved.append(f"{tid}: {current[tid]:.6g} vs baseline {b['value']:.6g} (tolerance {b['tolerance']:.3g})")
    assert not moved, "calibrated history moved:\n" + "\n".join(moved)

