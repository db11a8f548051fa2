"""The model fingerprint: a hash of everything that decides a run's numbers.

Every module and data file of the model and engine layers (``sim/model``, ``sim/engine``) and the
versions of the libraries whose maths runs (numpy, numba, Mesa). Editing the model changes it, so cached
runs are never mixed with runs of different code. Taken when the code is imported (the code a process
runs is the code it imported), once per process.
"""

from __future__ import annotations

import hashlib
from importlib import metadata
from pathlib import Path


def model_fingerprint() -> str:
    return _FINGERPRINT


def _model_sources(root: Path) -> list[Path]:
    """The files that decide a run's numbers: the model and engine layers. The layers above
    (experiments, calibration, analysis, CLI, app) only ask for runs and read their records."""
    out = []
    for pkg in ("model", "engine"):
        out += [p for p in (root / pkg).rglob("*") if p.is_file() and p.suffix in (".py", ".toml", ".csv")
                and "__pycache__" not in p.parts]
    return sorted(out)


def _fingerprint() -> str:
    root = Path(__file__).resolve().parents[1]
    h = hashlib.sha256()
    for p in _model_sources(root):
        h.update(p.relative_to(root).as_posix().encode() + b"\0" + p.read_bytes() + b"\0")
    for pkg in ("mesa", "numpy", "numba"):
        try:
            h.update(f"{pkg}={metadata.version(pkg)}".encode())
        except metadata.PackageNotFoundError:  # pragma: no cover
            pass
    return h.hexdigest()[:32]


_FINGERPRINT = _fingerprint()
