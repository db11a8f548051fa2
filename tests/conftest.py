"""Shared test fixtures: paths, the command line as a subprocess, and short scenarios.

Keep this file small and generic; fixtures that only one test file needs live in that file.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import settings

# Property tests draw the same examples on every machine and every run (the "repeat" profile), so a suite
# that passed once passes again on a clean clone; HYPOTHESIS_PROFILE=explore searches new random examples
# (and more of them where a test sets no count) when looking for bugs on purpose. A case found that way is
# kept as an @example.
settings.register_profile("repeat", derandomize=True, database=None)
settings.register_profile("explore", derandomize=False, max_examples=300)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "repeat"))

REPO = Path(__file__).resolve().parent.parent
SCENARIOS = REPO / "scenarios"
BAD_SCENARIOS = Path(__file__).resolve().parent / "bad_scenarios"


@pytest.fixture(scope="session")
def repo_root() -> Path:
    return REPO


@pytest.fixture(scope="session")
def python_exe() -> str:
    """The interpreter running the tests (the project's virtualenv)."""
    return sys.executable


@pytest.fixture
def run_cli(tmp_path, python_exe):
    """Run ``python -m sim ARGS`` in a fresh working folder; returns the CompletedProcess."""

    def run(*args: str, cwd: Path | None = None, timeout: float = 300) -> subprocess.CompletedProcess:
        env = {**os.environ, "PYTHONIOENCODING": "utf-8"}
        return subprocess.run([python_exe, "-m", "sim", *map(str, args)], cwd=cwd or tmp_path, env=env,
                              capture_output=True, text=True, timeout=timeout)

    return run


@pytest.fixture(scope="session")
def short_history():
    """``history`` cut to 2022-01..2023-12 (for tests that need a run, not the whole horizon)."""
    from sim import load_scenario

    return load_scenario("history").with_changes(header={"end": "2023-12"})
