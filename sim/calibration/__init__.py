"""Calibration of the ``history`` scenario: targets and scoring, the fit, reporting and ablations.

``python -m sim calibrate`` is the entry point (``sim.calibration.cli``). See docs/ODD.md, Validation.
"""
