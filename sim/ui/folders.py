"""The results folders the app may open: grid results folders under one root (``CHIPSHIFT_OUTPUTS``,
default the project's outputs/), picked from a list, never typed as a path; messages about them never
show server paths."""

from __future__ import annotations

import os
from pathlib import Path

from sim.engine import store
from sim.model.scenario import SCENARIO_DIR


def outputs_root() -> Path:
    """The only folder the app opens results from (``CHIPSHIFT_OUTPUTS``, default: the project's outputs/)."""
    return Path(os.environ.get("CHIPSHIFT_OUTPUTS") or SCENARIO_DIR.parent / "outputs").resolve()


def result_folders(root: Path) -> dict[str, Path]:
    """Grid results folders under ``root``, by their path relative to it (newest first); links that lead
    out of ``root`` are left out."""
    root = Path(root).resolve()
    out = {}
    for p in store.find_results(root):
        rp = p.resolve()
        if rp.is_relative_to(root):
            out[rp.relative_to(root).as_posix()] = rp
    return out


def clean(msg: str, root: Path | None = None) -> str:
    """A message without server paths: the root shows as ``outputs``, the project folder as ``.``."""
    root = Path(root) if root is not None else outputs_root()
    for r in sorted({str(root), str(root.resolve())}, key=len, reverse=True):
        msg = msg.replace(r, "outputs")
    return msg.replace(str(SCENARIO_DIR.parent), ".")
