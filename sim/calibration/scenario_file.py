"""Writing the fit into the scenario file: the ``[parameters]`` table (with fit date and method in
comments) and the accepted parameter sets next to it (declared as ``scenario.parameter_sets``).

Only the ``[parameters]`` block (up to the next banner comment or table) and the ``parameter_sets``
line of ``[scenario]`` are rewritten; every other line of the file is kept byte for byte, and the
result is checked to parse to the same scenario header and events.
"""

from __future__ import annotations

import csv
import io
import re
import tomllib
from pathlib import Path
from typing import Any

import tomlkit

from sim.engine.fileio import atomic_write_text
from sim.model.params import PARAMS
from sim.model.scenario import _flatten


def _fmt(v: Any) -> str:
    return tomlkit.item(v).as_string()


def _sig(v: float) -> float | int:
    if isinstance(v, int):
        return v
    return float(f"{float(v):.6g}")


def parameters_block(values: dict[str, Any], comments: list[str], notes: dict[str, str] | None = None) -> str:
    lines = ["[parameters]"]
    lines += [f"# {c}".rstrip() for c in comments]
    for k in sorted(values):
        note = (notes or {}).get(k)
        lines.append(f"{tomlkit.key(k).as_string()} = {_fmt(_sig(values[k]))}" + (f"  # {note}" if note else ""))
    return "\n".join(lines) + "\n\n"


def write_parameters(path: str | Path, fitted: dict[str, Any], comments: list[str],
                     notes: dict[str, str] | None = None, parameter_sets: str | None = None) -> str:
    """Replace the fitted names in the file's [parameters] table (other overrides are kept), add or
    update ``scenario.parameter_sets``; returns the new text (written atomically)."""
    path = Path(path)
    text = path.read_text(encoding="utf-8")
    old = tomllib.loads(text)
    lines = text.splitlines(keepends=True)
    try:
        i0 = next(i for i, ln in enumerate(lines) if ln.strip() == "[parameters]")
    except StopIteration:
        i0 = None
    if i0 is None:  # no table yet: put it before the first [[events]] (or at the end)
        i0 = next((i for i, ln in enumerate(lines) if ln.startswith("[[events]]")), len(lines))
        i1 = i0
    else:
        i1 = i0 + 1
        while i1 < len(lines) and not (lines[i1].startswith("[") or lines[i1].startswith("# ---")):
            i1 += 1
    keep = {k: v for k, v in _flatten(old.get("parameters", {})).items() if k not in fitted}
    values = {**keep, **fitted}
    block = parameters_block(values, comments, notes)
    new_lines = lines[:i0] + [block] + lines[i1:]
    new = "".join(new_lines)
    if parameter_sets is not None:
        line = f"parameter_sets = {_fmt(parameter_sets)}\n"
        if re.search(r"(?m)^parameter_sets\s*=", new):
            new = re.sub(r"(?m)^parameter_sets\s*=.*\n", line, new, count=1)
        else:
            new = re.sub(r"(?m)^(replicates\s*=.*\n)", lambda m: m.group(1) + line, new, count=1)
    chk = tomllib.loads(new)
    if chk.get("events") != old.get("events"):
        raise RuntimeError(f"{path}: rewriting [parameters] would change the events; not written")
    if {k: v for k, v in chk["scenario"].items() if k != "parameter_sets"} != \
            {k: v for k, v in old["scenario"].items() if k != "parameter_sets"}:
        raise RuntimeError(f"{path}: rewriting [parameters] would change [scenario]; not written")
    if _flatten(chk.get("parameters", {})) != {k: _sig(v) for k, v in values.items()}:
        raise RuntimeError(f"{path}: [parameters] did not round-trip; not written")
    atomic_write_text(path, new)
    return new


def write_parameter_sets(path: str | Path, sets: list[dict[str, Any]]) -> None:
    """The accepted parameter sets as CSV: one row per set, one column per parameter."""
    path = Path(path)
    cols = sorted({k for s in sets for k in s})
    for c in cols:
        if c not in PARAMS:
            raise KeyError(f"unknown parameter {c!r}")
    buf = io.StringIO(newline="")
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(cols)
    for s in sets:
        w.writerow([repr(_sig(s[c])) if c in s else repr(_sig(PARAMS[c].default)) for c in cols])
    atomic_write_text(path, buf.getvalue())
