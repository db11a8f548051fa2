"""The results folders the app may open: grid results under one outputs folder (no streamlit import).

Pages name a folder by its path relative to the outputs folder (also in links, ``grid=NAME``), never by a
server path, and open nothing outside it.
"""

from __future__ import annotations

import os
from pathlib import Path

from sim.engine import store
from sim.model.scenario import SCENARIO_DIR


def outputs_root() -> Path:
    """The only folder results are opened from (``CHIPSHIFT_OUTPUTS``, default: the project's outputs/)."""
    return Path(os.environ.get("CHIPSHIFT_OUTPUTS") or SCENARIO_DIR.parent / "outputs").resolve()


def result_folders(root: Path | None = None) -> dict[str, Path]:
    """Grid results folders under ``root`` (default ``outputs_root()``), by their path relative to it,
    newest first."""
    root = Path(root).resolve() if root is not None else outputs_root()
    out = {}
    for p in store.find_results(root):
        rp = p.resolve()
        if rp.is_relative_to(root):
            out[rp.relative_to(root).as_posix()] = rp
    return out


def clean(msg: str, folder: Path | None = None, name: str = "", root: Path | None = None) -> str:
    """A message without server paths (the folder shows as its name under outputs/)."""
    root = Path(root).resolve() if root is not None else outputs_root()
    if folder is not None:
        msg = msg.replace(str(folder), f"outputs/{name}")
    return msg.replace(str(root), "outputs").replace(str(SCENARIO_DIR.parent), ".")
