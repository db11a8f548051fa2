"""Atomic file writes: write a temporary file in the target's folder, then rename it over the target,
so a reader never sees a half-written file and a crash never leaves one."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path


def atomic_write_bytes(path: str | Path, data: bytes, fsync: bool = False) -> None:
    path = Path(path)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-", suffix=path.suffix)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            if fsync:
                fh.flush()
                os.fsync(fh.fileno())
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def atomic_write_text(path: str | Path, text: str) -> None:
    atomic_write_bytes(path, text.encode("utf-8"))


def write_csv(df, path: str | Path, **kw) -> None:
    """A data frame as CSV, replaced atomically (``DataFrame.to_csv`` arguments in ``kw``)."""
    atomic_write_bytes(path, df.to_csv(**kw).encode("utf-8"))
