"""Months: the model's clock. One step is one calendar month, written ``"YYYY-MM"`` everywhere (scenario
files, outputs, links); these helpers turn months into integers for arithmetic and into dates for tables."""

from __future__ import annotations

import re

import numpy as np

MONTH_RE = re.compile(r"^(\d{4})-(0[1-9]|1[0-2])$")


def month_index(month: str) -> int:
    """'YYYY-MM' -> months since year 0 (for arithmetic)."""
    m = MONTH_RE.match(month)
    if not m:
        raise ValueError(f"{month!r} is not a month in the form \"YYYY-MM\"")
    return int(m.group(1)) * 12 + int(m.group(2)) - 1


def month_str(index: int) -> str:
    """Months since year 0 -> 'YYYY-MM'."""
    return f"{index // 12:04d}-{index % 12 + 1:02d}"


def month_range(start: str, end: str) -> list[str]:
    """Every month from ``start`` to ``end``, both included."""
    return [month_str(i) for i in range(month_index(start), month_index(end) + 1)]


def month_dates(months: list[str]) -> np.ndarray:
    """The first day of each month, as datetime64[us] (the ``date`` column of every output table)."""
    return np.array([np.datetime64(m + "-01", "us") for m in months])
