"""Scenario files: loading, inheritance (``extends``), validation and the resolved form.

A scenario is TOML (MODEL.md section 6)::

    [scenario]          name, description, extends, start, end, seed, replicates, remove_events
    [parameters]        dotted overrides of the parameter table (sim/model/params.py)
    [[events]]          id, announced, effective, actor, kind, label, source + kind-specific fields

A child overrides a parent's event by giving the same ``id`` (only the fields it sets change) and
removes one by listing its id in ``scenario.remove_events``. Every problem is reported as
``FILE: KEY: REASON``; nothing is executed.
"""

from __future__ import annotations

import hashlib
import math
import os
import re
import tomllib
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path, PurePosixPath
from typing import Any

import tomlkit
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
)

from sim.model.calendar import month_index, month_range
from sim.model.params import PARAMS
from sim.model.rules import EVENT_ADAPTER, EVENT_KINDS, _month

SCENARIO_DIR = Path(__file__).resolve().parents[2] / "scenarios"
PROJECT_DIR = SCENARIO_DIR.parent
MAX_FILE_BYTES = 1_000_000
# a scenario name is also the start of its default output folder name: no path separators, no control
# characters, not "." or ".." (sim.engine.runs.default_out_dir also turns it into a slug)
_NAME_FORBIDDEN = re.compile(r"[/\\\x00-\x1f\x7f]")
# the only parameters that are checked against each other (parameter_problems); every other parameter is
# checked alone, and every event alone (check_event): sim.experiments.grid checks design points on this basis
CROSS_CHECKED_PARAMETERS = ("choice.nest_product", "choice.nest_vendor")


class ScenarioError(Exception):
    """One or more problems in scenario input; each is (file, key, reason)."""

    def __init__(self, problems: list[tuple[str, str, str]]):
        self.problems = problems
        super().__init__("\n".join(self.lines()))

    def lines(self) -> list[str]:
        return [f"{f}: {k}: {r}" for f, k, r in self.problems]


class ScenarioHeader(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    name: str = Field(min_length=1, max_length=80)
    description: str = ""
    start: str = "2022-01"
    end: str = "2030-12"
    seed: int = Field(default=20231017, ge=0, lt=2**63)
    replicates: int = Field(default=20, ge=1, le=10000)
    # accepted parameter sets of the calibration (CSV, one column per parameter), relative to the file
    parameter_sets: str | None = Field(default=None, min_length=1, max_length=300)

    @field_validator("start", "end", mode="before")
    @classmethod
    def _m(cls, v):
        return _month(v)

    @field_validator("name")
    @classmethod
    def _name(cls, v):
        if _NAME_FORBIDDEN.search(v) or not v.strip(". "):
            raise ValueError("must not contain '/', '\\' or control characters, and must not be only dots")
        return v

    @field_validator("end")
    @classmethod
    def _order(cls, v, info):
        start = info.data.get("start")
        if start is None:
            return v
        n = month_index(v) - month_index(start) + 1
        if n < 1:
            raise ValueError(f"end {v} is before start {start}")
        if n > 12 * 40:
            raise ValueError(f"horizon of {n} months is longer than 40 years")
        return v


@dataclass(frozen=True)
class Scenario:
    """A fully resolved scenario: no ``extends``, every event complete and validated."""
    header: ScenarioHeader
    parameters: dict[str, Any]
    events: tuple[Any, ...]
    origin: str = "<memory>"
    lineage: tuple[str, ...] = field(default=())
    # from an upload (load_scenario_text): files it names resolve inside scenarios/ only
    uploaded: bool = False

    @property
    def name(self) -> str:
        return self.header.name

    @property
    def months(self) -> list[str]:
        return month_range(self.header.start, self.header.end)

    def event(self, eid: str):
        for e in self.events:
            if e.id == eid:
                return e
        raise KeyError(eid)

    def to_dict(self) -> dict[str, Any]:
        return {
            "scenario": self.header.model_dump(exclude_none=True),
            "parameters": dict(sorted(self.parameters.items())),
            "events": [e.model_dump(exclude_none=True) for e in self.events],
        }

    def to_toml(self) -> str:
        doc = tomlkit.document()
        doc.add(tomlkit.comment(f"Resolved ChipShift scenario (from {' <- '.join(self.lineage) or self.origin})."))
        doc.add(tomlkit.comment("`python -m sim run` on this file reproduces the run."))
        d = self.to_dict()
        sc = tomlkit.table()
        for k, v in d["scenario"].items():
            sc.add(k, v)
        doc.add("scenario", sc)
        pt = tomlkit.table()
        for k, v in d["parameters"].items():
            pt.add(tomlkit.key(k), v)  # quoted dotted key: one flat name per line
        doc.add("parameters", pt)
        aot = tomlkit.aot()
        for e in d["events"]:
            t = tomlkit.table()
            for k, v in e.items():
                t.add(k, v)
            aot.append(t)
        doc.add("events", aot)
        return tomlkit.dumps(doc)

    def parameter_sets_file(self) -> Path | None:
        """The declared parameter-sets file (``scenario.parameter_sets``), resolved; None if none."""
        if self.header.parameter_sets is None:
            return None
        return resolve_parameter_sets(self.header.parameter_sets, self.origin, self.uploaded)

    def load_parameter_sets(self) -> list[dict[str, float]]:
        """The accepted parameter sets (one dict per row; validated when the scenario was loaded)."""
        path = self.parameter_sets_file()
        if path is None:
            return []
        rows, problems = _read_parameter_sets(path)
        if problems:
            raise ScenarioError(problems)
        return rows

    def digest(self) -> str:
        """Content hash of the resolved scenario (independent of where it was loaded from)."""
        import json

        return hashlib.sha256(json.dumps(self.to_dict(), sort_keys=True, default=str).encode()).hexdigest()

    def with_changes(self, parameters: dict[str, Any] | None = None, events: dict[str, dict] | None = None,
                     remove: list[str] | None = None, header: dict[str, Any] | None = None) -> Scenario:
        """A new validated scenario with parameter overrides, event field changes (by id) and removals."""
        raw = self.to_dict()
        if header:
            raw["scenario"].update(header)
        raw["parameters"].update(parameters or {})
        rm = set(remove or [])
        evs = []
        for e in raw["events"]:
            if e["id"] in rm:
                continue
            if events and e["id"] in events:
                e = {**e, **events[e["id"]]}
            evs.append(e)
        raw["events"] = evs
        problems: list[tuple[str, str, str]] = []
        for eid in list(rm) + list((events or {}).keys()):
            if eid not in {e.id for e in self.events}:
                problems.append((self.origin, f"events.{eid}", "unknown event id"))
        if problems:
            raise ScenarioError(problems)
        return _validate(raw, self.origin, self.lineage, self.uploaded)


# ---------------------------------------------------------------- loading

def _flatten(d: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    out: dict[str, Any] = {}
    for k, v in d.items():
        key = f"{prefix}{k}"
        if isinstance(v, dict):
            out.update(_flatten(v, key + "."))
        else:
            out[key] = v
    return out


def find_scenario(name_or_path: str | Path, base_dir: Path | None = None) -> Path:
    """A command-line argument: a path to a scenario file, or the name of a shipped scenario.

    (Names and paths written *inside* files go through ``locate_file`` / ``locate_scenario``.)"""
    p = Path(name_or_path)
    if p.suffix == ".toml" or p.exists():
        if not p.is_absolute() and base_dir is not None and not p.exists():
            p = base_dir / p
        return p
    return SCENARIO_DIR / f"{name_or_path}.toml"


class PathRefused(ValueError):
    """A path written in a scenario or grid file that may not be followed (the reason is the message)."""


def display_path(p: Path | str) -> str:
    """How a file is named in messages: relative to the project for project files, else as given."""
    try:
        return Path(p).resolve().relative_to(PROJECT_DIR).as_posix()
    except (ValueError, OSError):
        return str(p)


def _within(p: Path, root: Path) -> bool:
    try:
        Path(os.path.realpath(p)).relative_to(os.path.realpath(root))
        return True
    except ValueError:
        return False


def locate_file(value: str, base_dir: str | Path | None, uploaded: bool = False) -> Path:
    """Where a relative path written in a scenario or grid file points; raises PathRefused.

    The path must be relative (no drive, no leading ``/`` or ``~``) and must not climb (``..``). It is
    looked up beside the file that names it (local files only: ``base_dir``, that file's folder, and below) and then
    in the project's ``scenarios/`` folder. Symlinks are followed and the real target must stay inside
    the folder the path was looked up in. A file named by an upload (``uploaded``) is looked up in
    ``scenarios/`` only: an upload has no folder of its own on the server.
    """
    if not isinstance(value, str) or not value or "\0" in value:
        raise PathRefused("must be a relative path")
    if "\\" in value:
        raise PathRefused("must use '/' as the folder separator")
    pp = PurePosixPath(value)
    if pp.is_absolute() or value.startswith("~") or re.match(r"^[A-Za-z]:", value):
        raise PathRefused("must be a path relative to the file, not an absolute path")
    if ".." in pp.parts:
        raise PathRefused("must not leave the file's folder ('..')")
    roots: list[Path] = []
    if base_dir is not None and not uploaded:
        roots.append(Path(base_dir))
    roots.append(SCENARIO_DIR)
    escaped = False
    for root in roots:
        cand = root / pp
        if not cand.exists():
            continue
        if not _within(cand, root):
            escaped = True  # a symlink out of the folder
            continue
        return cand
    where = "scenarios/" if uploaded or base_dir is None else "beside the file or in scenarios/"
    if escaped:
        raise PathRefused(f"is a link to a file outside the allowed folders ({where})")
    raise PathRefused(f"file not found ({where})")


def locate_scenario(ref: str, base_dir: str | Path | None, uploaded: bool = False) -> Path:
    """The scenario file that ``extends`` or a grid's ``scenario`` names: a shipped scenario's name, or
    (local files only) a ``.toml`` path relative to the naming file. Raises PathRefused."""
    if not isinstance(ref, str) or not ref:
        raise PathRefused("must be a scenario name or a relative path")
    if "/" in ref or "\\" in ref or ref.endswith(".toml"):
        if uploaded:
            raise PathRefused("an uploaded file may only name a shipped scenario "
                              f"({', '.join(list_scenarios())})")
        if not ref.endswith(".toml"):
            raise PathRefused("a scenario path must end in .toml")
        return locate_file(ref, base_dir, uploaded)
    p = SCENARIO_DIR / f"{ref}.toml"
    if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9_.\-]*", ref) or not p.is_file():
        raise PathRefused(f"not found (shipped scenarios: {', '.join(list_scenarios())})")
    if not _within(p, SCENARIO_DIR):
        raise PathRefused("is a link to a file outside scenarios/")
    return p


def _read(path: Path) -> dict[str, Any]:
    f = str(path)
    if not path.exists():
        known = ", ".join(list_scenarios())
        raise ScenarioError([(f, "-", f"file not found (scenarios under {SCENARIO_DIR}: {known})")])
    if not path.is_file():
        raise ScenarioError([(f, "-", "not a file")])
    if path.stat().st_size > MAX_FILE_BYTES:
        raise ScenarioError([(f, "-", f"file is larger than {MAX_FILE_BYTES} bytes")])
    try:
        text = path.read_bytes().decode("utf-8")
    except UnicodeDecodeError as e:
        raise ScenarioError([(f, "-", f"not UTF-8 text ({e.reason})")]) from None
    except OSError as e:
        raise ScenarioError([(f, "-", f"cannot read the file ({e.strerror})")]) from None
    return parse_text(text, f)


def parse_text(text: str, fname: str = "<text>") -> dict[str, Any]:
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as e:
        raise ScenarioError([(fname, "-", f"not valid TOML: {e}")]) from None


def _raw_chain(path: Path, seen: tuple[str, ...], uploaded: bool = False) -> tuple[dict[str, Any], tuple[str, ...]]:
    """Merge a file with its ancestors; returns the merged raw dict and the lineage of file names.
    ``uploaded``: the file is an upload, so ``extends`` may only name a shipped scenario."""
    raw = _read(path)
    f = str(path)
    if not isinstance(raw.get("scenario"), dict):
        raise ScenarioError([(f, "scenario", "missing [scenario] table")])
    unknown = set(raw) - {"scenario", "parameters", "events"}
    if unknown:
        raise ScenarioError([(f, k, "unknown top-level key (allowed: scenario, parameters, events)")
                             for k in sorted(unknown)])
    sc = dict(raw["scenario"])
    parent_name = sc.pop("extends", None)
    removes = sc.pop("remove_events", [])
    if not isinstance(removes, list) or not all(isinstance(x, str) for x in removes):
        raise ScenarioError([(f, "scenario.remove_events", "must be a list of event ids")])
    params = raw.get("parameters", {})
    if not isinstance(params, dict):
        raise ScenarioError([(f, "parameters", "must be a table")])
    params = _flatten(params)
    events = raw.get("events", [])
    if not isinstance(events, list) or not all(isinstance(e, dict) for e in events):
        raise ScenarioError([(f, "events", "must be an array of tables [[events]]")])
    problems = []
    for i, e in enumerate(events):
        if "id" not in e:
            problems.append((f, f"events[{i}]", "missing field 'id'"))
        elif not isinstance(e["id"], str):
            problems.append((f, f"events[{i}].id", f"must be a string, got {e['id']!r}"))
    if problems:
        raise ScenarioError(problems)
    ids = [e.get("id") for e in events]
    dup = sorted({x for x in ids if ids.count(x) > 1 and x is not None})
    for d in dup:
        problems.append((f, f"events.{d}", "duplicate event id in one file"))
    if problems:
        raise ScenarioError(problems)
    if parent_name is None:
        if removes:
            raise ScenarioError([(f, "scenario.remove_events", "has no parent scenario to remove events from")])
        return {"scenario": sc, "parameters": params, "events": events}, (path.name,)
    if not isinstance(parent_name, str):
        raise ScenarioError([(f, "scenario.extends", f"must be a scenario name or path, got {parent_name!r}")])
    try:
        ppath = locate_scenario(parent_name, path.parent, uploaded)
    except PathRefused as e:
        raise ScenarioError([(f, "scenario.extends", f"parent scenario {parent_name!r}: {e}")]) from None
    key = str(ppath.resolve())
    if key in seen:
        raise ScenarioError([(f, "scenario.extends", f"circular inheritance through {ppath.name}")])
    parent, lineage = _raw_chain(ppath, seen + (key,))
    merged_sc = {**parent["scenario"], **sc}
    merged_params = {**parent["parameters"], **params}
    pevents = {e["id"]: e for e in parent["events"]}
    bad_rm = [x for x in removes if x not in pevents]
    if bad_rm:
        raise ScenarioError([(f, "scenario.remove_events", f"unknown event id(s) {bad_rm} in parent {parent_name!r}")])
    for x in removes:
        del pevents[x]
    for e in events:
        pevents[e["id"]] = {**pevents.get(e["id"], {}), **e}
    return ({"scenario": merged_sc, "parameters": merged_params, "events": list(pevents.values())},
            lineage + (path.name,))


def _fmt_loc(loc: tuple) -> str:
    parts = []
    for x in loc:
        if isinstance(x, int):
            parts.append(f"[{x}]")
        else:
            parts.append(("." if parts else "") + str(x))
    return "".join(parts)


def resolve_parameter_sets(value: str, origin: str, uploaded: bool = False) -> Path | None:
    """A parameter-sets path: relative to the scenario file (falling back to the shipped scenarios
    folder, e.g. for a resolved copy of a scenario in a run folder); None if not found or not allowed
    (see ``locate_file``: never absolute, never ``..``, inside scenarios/ for uploads)."""
    try:
        return locate_file(value, Path(origin).parent, uploaded)
    except PathRefused:
        return None


def _read_parameter_sets(path: Path) -> tuple[list[dict[str, float]], list[tuple[str, str, str]]]:
    try:
        st = path.stat()
    except OSError as e:
        return [], [(display_path(path), "-", f"cannot read the file ({e.strerror})")]
    return _read_parameter_sets_cached(str(path), st.st_mtime_ns, st.st_size)


def _is_number(x: str) -> float | None:
    try:
        v = float(x)
    except ValueError:
        return None
    return v


@lru_cache(maxsize=16)
def _read_parameter_sets_cached(path: str, _mtime: int, _size: int):
    """Rows of a parameter-sets CSV and the problems found: only known numeric parameters as
    columns, every value a number within the parameter's bounds.

    Problems name the file, the row and the column and say why, but never quote the file's text: a
    mistaken path must not show what another file holds."""
    import csv
    import io

    f = display_path(path)
    problems: list[tuple[str, str, str]] = []
    rows: list[dict[str, float]] = []
    p = Path(path)
    if not p.is_file():
        return [], [(f, "-", "not a regular file")]
    try:
        with open(p, "rb") as fh:
            data = fh.read(MAX_FILE_BYTES + 1)
    except OSError as e:
        return [], [(f, "-", f"cannot read the file ({e.strerror})")]
    if len(data) > MAX_FILE_BYTES:
        return [], [(f, "-", f"file is larger than {MAX_FILE_BYTES} bytes")]
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        return [], [(f, "-", "not UTF-8 text")]
    if "\0" in text:
        return [], [(f, "-", "not a CSV text file (holds NUL characters)")]
    reader = csv.reader(io.StringIO(text, newline=""))
    try:
        header = next(reader, None)
        if not header:
            return [], [(f, "-", "empty file (need a header row of parameter names)")]
        cols = [c.strip() for c in header]

        def col(j: int) -> str:  # a column by number, and by name only if the name is a known parameter
            return f"column {j + 1}" + (f" ({cols[j]})" if cols[j] in PARAMS else "")

        for j, c in enumerate(cols):
            prm = PARAMS.get(c)
            if prm is None:
                problems.append((f, f"header, column {j + 1}", "unknown parameter name"))
            elif prm.kind == "bool":
                problems.append((f, f"header, {col(j)}", "only numeric parameters can vary between parameter sets"))
        if len(set(cols)) != len(cols):
            problems.append((f, "header", "duplicate column names"))
        for i, r in enumerate(reader, start=1):
            if not any(x.strip() for x in r):
                continue
            if len(r) != len(cols):
                problems.append((f, f"row {i}", f"has {len(r)} values for {len(cols)} columns"))
                continue
            row = {}
            for j, (c, x) in enumerate(zip(cols, r)):
                v = _is_number(x)
                if v is None:
                    problems.append((f, f"row {i}, {col(j)}", "not a number"))
                    continue
                prm = PARAMS.get(c)
                if prm is not None and prm.kind != "bool":
                    if prm.kind == "int" and math.isfinite(v) and v == int(v):
                        v = int(v)
                    reason = prm.check(v)
                    if reason:
                        problems.append((f, f"row {i}, {col(j)}", reason))
                row[c] = v
            rows.append(row)
            if len(problems) >= 50:
                problems.append((f, "-", "... (more problems not shown)"))
                break
    except csv.Error:
        return [], [(f, f"row {reader.line_num}", "not a valid CSV row")]
    if not rows and not problems:
        problems.append((f, "-", "no parameter sets (only a header row)"))
    return rows, problems


def parameter_problems(params: dict[str, Any], fname: str) -> list[tuple[str, str, str]]:
    """(file, key, reason) for every unknown or out-of-bounds parameter override, and for the parameters
    checked against each other (``CROSS_CHECKED_PARAMETERS``)."""
    problems = []
    for k, v in params.items():
        p = PARAMS.get(k)
        if p is None:
            close = [n for n in PARAMS if n.split(".")[-1] == k.split(".")[-1]][:3]
            hint = f" (did you mean {', '.join(close)}?)" if close else ""
            problems.append((fname, f"parameters.{k}", f"unknown parameter{hint}"))
            continue
        reason = p.check(v)
        if reason:
            problems.append((fname, f"parameters.{k}", reason))
    nests = [params.get(k, PARAMS[k].default) for k in CROSS_CHECKED_PARAMETERS]
    if all(PARAMS[k].check(v) is None for k, v in zip(CROSS_CHECKED_PARAMETERS, nests)) \
            and nests[0] > nests[1]:
        problems.append((fname, "parameters.choice.nest_product", "must not exceed choice.nest_vendor"))
    return problems


def check_event(e: dict[str, Any], fname: str, i: int = 0) -> tuple[Any, list[tuple[str, str, str]]]:
    """One event as written (a dict): (the validated event, []) or (None, its problems). Events are
    checked one by one: no check looks at two events."""
    eid = e.get("id", f"[{i}]")
    if "kind" not in e:
        return None, [(fname, f"events.{eid}.kind", f"missing; one of {sorted(EVENT_KINDS)}")]
    if not isinstance(e["kind"], str) or e["kind"] not in EVENT_KINDS:
        return None, [(fname, f"events.{eid}.kind", f"unknown kind {e['kind']!r}; one of {sorted(EVENT_KINDS)}")]
    try:
        return EVENT_ADAPTER.validate_python(e), []
    except ValidationError as err:
        problems = []
        for x in err.errors():
            loc = [p for p in x["loc"] if p != e["kind"]]
            key = _fmt_loc(tuple(loc))
            msg = "unknown key" if x["type"] == "extra_forbidden" else x["msg"]
            msg = msg.removeprefix("Value error, ")
            problems.append((fname, f"events.{eid}" + (f".{key}" if key else ""), msg))
        return None, problems


def _validate(raw: dict[str, Any], fname: str, lineage: tuple[str, ...] = (), uploaded: bool = False) -> Scenario:
    problems: list[tuple[str, str, str]] = []
    header = None
    try:
        header = ScenarioHeader(**raw["scenario"])
    except ValidationError as e:
        for err in e.errors():
            loc = _fmt_loc(err["loc"]) or "-"
            msg = "unknown key" if err["type"] == "extra_forbidden" else err["msg"]
            problems.append((fname, f"scenario.{loc}", msg.removeprefix("Value error, ")))
    except TypeError as e:
        problems.append((fname, "scenario", str(e)))
    if header is not None and header.parameter_sets is not None:
        try:
            ps = locate_file(header.parameter_sets, Path(fname).parent, uploaded)
        except PathRefused as e:
            problems.append((fname, "scenario.parameter_sets", str(e)))
        else:
            problems.extend(_read_parameter_sets(ps)[1])
    params = raw.get("parameters", {})
    problems.extend(parameter_problems(params, fname))
    events = []
    for i, e in enumerate(raw.get("events", [])):
        ev, probs = check_event(e, fname, i)
        problems.extend(probs)
        if ev is not None:
            events.append(ev)
    if problems:
        raise ScenarioError(problems)
    events.sort(key=lambda ev: (month_index(ev.effective), ev.id))
    return Scenario(header, dict(sorted(params.items())), tuple(events), fname, lineage, uploaded)


def load_scenario(name_or_path: str | Path) -> Scenario:
    """Load, merge with its parents and validate; raises ScenarioError with every problem found."""
    path = find_scenario(name_or_path)
    raw, lineage = _raw_chain(path, (str(path.resolve()),))
    return _validate(raw, str(path), lineage)


def load_scenario_text(text: str, fname: str = "<upload>") -> Scenario:
    """Validate scenario text (e.g. an upload). ``extends`` may name a shipped scenario only."""
    if len(text.encode()) > MAX_FILE_BYTES:
        raise ScenarioError([(fname, "-", f"larger than {MAX_FILE_BYTES} bytes")])
    raw = parse_text(text, fname)
    import tempfile

    with tempfile.TemporaryDirectory() as d:
        p = Path(d) / "upload.toml"
        p.write_text(text, encoding="utf-8")
        ext = raw.get("scenario", {}).get("extends") if isinstance(raw.get("scenario"), dict) else None
        if isinstance(ext, str) and ("/" in ext or "\\" in ext or ext.endswith(".toml")):
            raise ScenarioError([(fname, "scenario.extends", "an uploaded scenario may only extend a shipped "
                                  f"scenario by name ({', '.join(list_scenarios())})")])
        try:
            merged, lineage = _raw_chain(p, (str(p.resolve()),), uploaded=True)
        except ScenarioError as e:
            raise ScenarioError([(fname if f == str(p) else f, k, r) for f, k, r in e.problems]) from None
    return _validate(merged, fname, lineage, uploaded=True)


def list_scenarios() -> list[str]:
    return sorted(p.stem for p in SCENARIO_DIR.glob("*.toml"))

