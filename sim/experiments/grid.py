"""Grid files: schema, validation, designs, run specs and their content hashes.

A grid file (``scenarios/grids/*.toml``)::

    [grid]
    name = "ceiling-timing-x-huawei"
    description = "..."
    scenario = "history"        # a shipped scenario name, or a path relative to the grid file
    design = "factorial"        # factorial | lhs | sobol | morris
    samples = 16                # lhs: number of points; sobol: base N, a power of 2 (N*(D+2) points);
                                # morris: number of trajectories (N*(D+1) points)
    num_levels = 4              # morris only: grid levels per axis (even; default 4)
    replicates = 5              # runs per design point
    seed = 20240101             # master seed: every run's seed is derive_seed(seed, seed_index)
    seeds = "common"            # common: replicate r gets seed index r at every point (as `sim run`)
                                # independent: every run gets its own seed index (its run id)
    end = "2030-12"             # optional horizon change (start / end) of the base scenario

    [[axes]]                    # a parameter axis
    parameter = "huawei.wafer_growth"
    range = [0.1, 0.6]          # with steps = 6 (factorial) or sampled (lhs, sobol); or values = [...]
    steps = 6

    [[axes]]                    # an event-field axis, addressed by event id
    event = "us-2023-10-tpp-rule"
    field = "timing"            # any field of the event's kind; "timing" moves effective and keeps the
    range = ["2023-05", "2024-11"]   # announcement lead; month ranges take step (months, default 1)
    step = 6
    role = "lever"              # optional: lever (a decision: a buyer's strategy, a regulator's rule) or
                                # uncertainty (default: a parameter or timing nobody controls)

Every problem is reported as (file, key, reason), the way scenario files are (ScenarioError).
Nothing here runs the model.
"""

from __future__ import annotations

import hashlib
import json
import math
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from sim.engine.fingerprint import _model_sources, model_fingerprint  # noqa: F401 (re-exported)
from sim.model.calendar import month_index, month_str
from sim.model.params import PARAMS
from sim.model.scenario import (
    CROSS_CHECKED_PARAMETERS,
    SCENARIO_DIR,
    PathRefused,
    Scenario,
    ScenarioError,
    check_event,
    load_scenario,
    locate_scenario,
    parameter_problems,
)
from sim.model.seeds import derive_seed

GRID_DIR = SCENARIO_DIR / "grids"
DESIGNS = ("factorial", "lhs", "sobol", "morris")
SAMPLED = ("lhs", "sobol", "morris")
ROLES = ("uncertainty", "lever")
SEED_MODES = ("common", "independent")
MAX_RUNS = 2_000_000
MAX_PROBLEMS = 25
GRID_KEYS = {"name", "description", "scenario", "design", "samples", "num_levels", "replicates", "seed", "seeds",
             "start", "end"}
AXIS_KEYS = {"name", "parameter", "event", "field", "values", "range", "steps", "step", "role"}
# parameters that are someone's decision (may be levers): a buyer's own settings, the regulators' behaviour
LEVER_PARAMETER_PREFIXES = ("buyers.", "us.", "china.")
MONTH_FIELDS = {"announced", "effective", "timing"}
# header fields that do not change what a run computes (the run's own seed is part of the spec)
_INERT_HEADER = ("name", "description", "seed", "replicates")


@dataclass(frozen=True)
class Axis:
    """One axis: a parameter (``parameter``) or an event field (``event`` + ``field``)."""
    name: str
    parameter: str | None = None
    event: str | None = None
    field: str | None = None
    values: tuple | None = None          # explicit values (factorial; categorical for lhs/sobol)
    lo: Any = None                       # range (numbers, or months as "YYYY-MM")
    hi: Any = None
    steps: int | None = None             # numeric factorial range: number of values (linspace)
    step: int = 1                        # month factorial range: step in months
    kind: str = "float"                  # float | int | bool | month | any
    role: str = "uncertainty"            # uncertainty | lever (EMA's X and L)

    @property
    def target(self) -> str:
        return f"parameters.{self.parameter}" if self.parameter else f"events.{self.event}.{self.field}"

    def discrete(self) -> list:
        """The values of a factorial axis."""
        if self.values is not None:
            return list(self.values)
        if self.kind == "month":
            a, b = month_index(self.lo), month_index(self.hi)
            return [month_str(i) for i in range(a, b + 1, self.step)]
        xs = np.linspace(float(self.lo), float(self.hi), int(self.steps))
        return [self.cast(x) for x in xs]

    def from_unit(self, u: float):
        """Map a sample in [0, 1) to a value (lhs, sobol)."""
        u = min(max(float(u), 0.0), 1.0 - 1e-12)
        if self.values is not None:
            return self.values[int(u * len(self.values))]
        if self.kind == "month":
            a, b = month_index(self.lo), month_index(self.hi)
            return month_str(a + int(u * (b - a + 1)))
        if self.kind == "int":
            a, b = int(self.lo), int(self.hi)
            return a + int(u * (b - a + 1))
        return self.cast(float(self.lo) + u * (float(self.hi) - float(self.lo)))

    def from_units(self, us) -> list:
        """``from_unit`` of a whole column of samples at once (the same values, to the bit)."""
        u = np.minimum(np.maximum(np.asarray(us, dtype=float), 0.0), 1.0 - 1e-12)
        if self.values is not None:
            return [self.values[i] for i in (u * len(self.values)).astype(np.int64).tolist()]
        if self.kind in ("month", "int"):
            a, b = (month_index(self.lo), month_index(self.hi)) if self.kind == "month" else (int(self.lo), int(self.hi))
            idx = (a + (u * (b - a + 1)).astype(np.int64)).tolist()
            return [month_str(i) for i in idx] if self.kind == "month" else [int(i) for i in idx]
        lo, hi = float(self.lo), float(self.hi)
        return [self.cast(x) for x in (lo + u * (hi - lo)).tolist()]

    def cast(self, x):
        if self.kind == "int":
            return int(round(float(x)))
        if self.kind == "float":
            return float(round(float(x), 12))
        return x


@dataclass(frozen=True)
class Grid:
    """A validated grid: the base scenario (with any horizon change applied), axes and design."""
    name: str
    description: str
    source: str                           # grid file path
    scenario_ref: str                     # as written in the file
    base: Scenario
    axes: tuple[Axis, ...]
    design: str
    samples: int | None
    replicates: int
    seed: int
    seeds: str
    num_levels: int = 4                   # morris: grid levels per axis
    text: str = ""                        # the grid file's text (copied into results folders)
    points: tuple[dict, ...] = field(default=(), repr=False)

    @property
    def n_points(self) -> int:
        return len(self.points)

    @property
    def n_runs(self) -> int:
        return len(self.points) * self.replicates

    def sha256(self) -> str:
        return hashlib.sha256(self.text.encode()).hexdigest()

    def changes(self, point: dict) -> dict[str, Any]:
        """The Scenario.with_changes arguments of a design point."""
        return point_changes(self.base, self.axes, point)

    def scenario_at(self, point: dict) -> Scenario:
        return self.base.with_changes(**self.changes(point))

    @property
    def levers(self) -> tuple[Axis, ...]:
        return tuple(a for a in self.axes if a.role == "lever")

    @property
    def uncertainties(self) -> tuple[Axis, ...]:
        return tuple(a for a in self.axes if a.role != "lever")


# ---------------------------------------------------------------- model fingerprint


def scenario_key(sc: Scenario) -> str:
    """Hash of a resolved scenario's content that matters for a run (not its name or master seed)."""
    d = sc.to_dict()
    for k in _INERT_HEADER:
        d["scenario"].pop(k, None)
    return hashlib.sha256(json.dumps(d, sort_keys=True, default=str).encode()).hexdigest()


def spec_hash(scenario_digest: str, seed: int, fingerprint: str) -> str:
    """Content hash of a run spec: resolved scenario, seed and model version."""
    return hashlib.sha256(f"{scenario_digest}|{int(seed)}|{fingerprint}".encode()).hexdigest()[:32]




# ---------------------------------------------------------------- loading and validation


def find_grid(name_or_path: str | Path) -> Path:
    p = Path(name_or_path)
    if p.suffix == ".toml" or p.exists():
        return p
    return GRID_DIR / f"{name_or_path}.toml"


def list_grids() -> list[str]:
    return sorted(p.stem for p in GRID_DIR.glob("*.toml"))


def load_grid(name_or_path: str | Path, base: Scenario | None = None, check_points: bool = True) -> Grid:
    """Read and validate a grid file; raises ScenarioError listing every problem (file, key, reason).

    ``base``: use this resolved scenario instead of the one the file names (results folders keep theirs).
    ``check_points=False`` skips building every design point's scenario (for reading results of a grid
    that already ran; a large Sobol design takes seconds to check).
    """
    path = find_grid(name_or_path)
    f = str(path)
    if not path.is_file():
        raise ScenarioError([(f, "-", f"grid file not found (shipped grids: {', '.join(list_grids()) or 'none'})")])
    try:
        text = path.read_bytes().decode("utf-8")
    except UnicodeDecodeError as e:
        raise ScenarioError([(f, "-", f"not UTF-8 text ({e.reason})")]) from None
    return parse_grid(text, f, base_dir=path.parent, base=base, check_points=check_points)


def parse_grid(text: str, fname: str = "<grid>", base_dir: Path | None = None, base: Scenario | None = None,
               check_points: bool = True) -> Grid:
    try:
        raw = tomllib.loads(text)
    except tomllib.TOMLDecodeError as e:
        raise ScenarioError([(fname, "-", f"not valid TOML: {e}")]) from None
    problems: list[tuple[str, str, str]] = []

    def bad(key: str, reason: str) -> None:
        problems.append((fname, key, reason))

    for k in sorted(set(raw) - {"grid", "axes"}):
        bad(k, "unknown top-level key (allowed: grid, axes)")
    g = raw.get("grid")
    if not isinstance(g, dict):
        bad("grid", "missing [grid] table")
        raise ScenarioError(problems)
    for k in sorted(set(g) - GRID_KEYS):
        bad(f"grid.{k}", f"unknown key (allowed: {', '.join(sorted(GRID_KEYS))})")

    name = g.get("name")
    if not isinstance(name, str) or not name.strip() or len(name) > 80:
        bad("grid.name", "required: a non-empty string of at most 80 characters")
    desc = g.get("description", "")
    if not isinstance(desc, str):
        bad("grid.description", "must be a string")
    design = g.get("design", "factorial")
    if design not in DESIGNS:
        bad("grid.design", f"unknown design {design!r}; one of {', '.join(DESIGNS)}")
    samples = g.get("samples")
    if design == "factorial" and samples is not None:
        bad("grid.samples", "only for the lhs, sobol and morris designs (a factorial design takes every combination)")
    if design in SAMPLED:
        if not _is_int(samples) or samples < 1:
            bad("grid.samples", f"required for design {design!r}: a whole number >= 1")
        elif design == "sobol" and samples & (samples - 1):
            bad("grid.samples", f"{samples} is not a power of 2 (Sobol sequences need N = 2^k)")
        elif design == "morris" and samples < 2:
            bad("grid.samples", "design 'morris' needs at least 2 trajectories")
    num_levels = g.get("num_levels", 4)
    if "num_levels" in g and design != "morris":
        bad("grid.num_levels", "only for the morris design")
    elif not _is_int(num_levels) or not 2 <= num_levels <= 100 or num_levels % 2:
        bad("grid.num_levels", f"must be an even whole number from 2 to 100, got {num_levels!r}")
    replicates = g.get("replicates", 1)
    if not _is_int(replicates) or not 1 <= replicates <= 10000:
        bad("grid.replicates", f"must be a whole number from 1 to 10000, got {replicates!r}")
    seed = g.get("seed")
    if not _is_int(seed) or not 0 <= seed < 2**63:
        bad("grid.seed", f"required: the master seed, a whole number from 0 to 2^63-1, got {seed!r}")
    seeds = g.get("seeds", "common")
    if seeds not in SEED_MODES:
        bad("grid.seeds", f"unknown seed mode {seeds!r}; one of {', '.join(SEED_MODES)}")
    header: dict[str, Any] = {}
    for k in ("start", "end"):
        if k in g:
            if not isinstance(g[k], str):
                bad(f"grid.{k}", f"must be a quoted month string \"YYYY-MM\", got {g[k]!r}")
                continue
            try:
                month_index(g[k])
                header[k] = g[k]
            except ValueError as e:
                bad(f"grid.{k}", str(e))

    ref = g.get("scenario")
    if base is None:
        if not isinstance(ref, str) or not ref:
            bad("grid.scenario", "required: a shipped scenario name or a path to a scenario file")
        else:
            try:  # a shipped name, or a .toml path beside the grid file (never absolute, never '..')
                base = load_scenario(locate_scenario(ref, base_dir))
            except PathRefused as e:
                bad("grid.scenario", f"scenario {ref!r}: {e}")
            except ScenarioError as e:
                problems.extend(e.problems)
    if base is not None and header:
        try:
            base = base.with_changes(header=header)
        except ScenarioError as e:
            for _, k, r in e.problems:
                bad("grid." + k.removeprefix("scenario."), r)
            base = None

    axes_raw = raw.get("axes", [])
    if not isinstance(axes_raw, list) or not all(isinstance(a, dict) for a in axes_raw) or not axes_raw:
        bad("axes", "required: one or more [[axes]] tables")
        axes_raw = []
    axes: list[Axis] = []
    for i, a in enumerate(axes_raw):
        ax = _parse_axis(a, i, design, base, bad)
        if ax is not None:
            axes.append(ax)
    names = [a.name for a in axes]
    for n in sorted({x for x in names if names.count(x) > 1}):
        bad("axes", f"two axes are named {n!r}")
    targets = [(a.event, "effective" if a.field == "timing" else a.field) if a.event else a.parameter for a in axes]
    for t in sorted({str(x) for x in targets if targets.count(x) > 1}):
        bad("axes", f"two axes change the same target {t}")
    if problems:
        raise ScenarioError(problems)

    grid = Grid(name=name, description=desc, source=fname, scenario_ref=str(ref), base=base, axes=tuple(axes),
                design=design, samples=samples, replicates=replicates, seed=seed, seeds=seeds,
                num_levels=num_levels if _is_int(num_levels) else 4, text=text)
    # the design's size is arithmetic: a design too large to run is refused before anything is built
    n_points = design_size(grid)
    if n_points * replicates > MAX_RUNS:
        raise ScenarioError([(fname, "grid", f"{n_points:,} design points x {replicates} replicates = "
                              f"{n_points * replicates:,} runs is more than {MAX_RUNS:,} (the design was not built)")])
    try:
        points = make_design(grid)
    except ValueError as e:
        raise ScenarioError([(fname, "grid.design", str(e))]) from None
    assert len(points) == n_points, (len(points), n_points)
    if check_points:  # every design point must make a valid scenario (event fields, month order, ...)
        check_design_points(grid, points, bad)
    if problems:
        raise ScenarioError(problems)
    return Grid(**{**grid.__dict__, "points": tuple(points)})


def _is_int(x) -> bool:
    return isinstance(x, int) and not isinstance(x, bool)


def _is_num(x) -> bool:
    return isinstance(x, (int, float)) and not isinstance(x, bool) and math.isfinite(x)


def _parse_axis(a: dict, i: int, design: str, base: Scenario | None, bad) -> Axis | None:
    key = f"axes[{i}]"
    errors: list[str] = []

    def err(k: str, r: str) -> None:
        errors.append(k)
        bad(f"{key}.{k}" if k else key, r)

    for k in sorted(set(a) - AXIS_KEYS):
        err(k, f"unknown key (allowed: {', '.join(sorted(AXIS_KEYS))})")
    par, ev, fld = a.get("parameter"), a.get("event"), a.get("field")
    kind = "float"
    pobj = None
    if (par is None) == (ev is None):
        err("", "give either parameter = \"dotted.name\" or event = \"event-id\" with field = \"...\"")
        return None
    if par is not None:
        if fld is not None:
            err("field", "only for event axes")
        pobj = PARAMS.get(par) if isinstance(par, str) else None
        if pobj is None:
            close = [n for n in PARAMS if isinstance(par, str) and n.split(".")[-1] == par.split(".")[-1]][:3]
            err("parameter", f"unknown parameter {par!r}" + (f" (did you mean {', '.join(close)}?)" if close else
                                                             " (see `python -m sim describe`)"))
            return None
        kind = pobj.kind
    else:
        ev_obj = None
        if base is not None:
            try:
                ev_obj = base.event(ev)
            except (KeyError, TypeError):
                known = ", ".join(e.id for e in base.events)
                err("event", f"unknown event id {ev!r} in scenario {base.name!r} (known: {known})")
                return None
        if not isinstance(fld, str):
            err("field", "required for an event axis (a field of the event, or \"timing\")")
            return None
        if ev_obj is not None:
            allowed = set(type(ev_obj).model_fields) - {"id", "kind", "actor"}
            if fld != "timing" and fld not in allowed:
                err("field", f"event {ev!r} ({ev_obj.kind}) has no field {fld!r}; fields: "
                    f"{', '.join(sorted(allowed | {'timing'}))}")
                return None
        kind = "month" if fld in MONTH_FIELDS else "any"
    role = a.get("role", "uncertainty")
    if role not in ROLES:
        err("role", f"unknown role {role!r}; one of {', '.join(ROLES)}")
    elif "role" in a and role == "lever" and par is not None and not par.startswith(LEVER_PARAMETER_PREFIXES):
        err("role", f"{par} is not anyone's decision; a lever is a buyer's strategy (buyers.* parameters), a "
                    "regulator's behaviour (us.*, china.*) or a rule (an event field or timing)")
    elif "role" in a and role == "uncertainty" and ev is not None and fld not in MONTH_FIELDS:
        err("role", f"{ev}.{fld} is a rule's setting, a regulator's decision: make it role = \"lever\" (an "
                    "uncertainty is a parameter or an event's timing)")
    name = a.get("name", par if par is not None else f"{ev}.{fld}")
    if not isinstance(name, str) or not name or name in ("run", "point", "replicate", "seed", "seed_index",
                                                          "spec_hash"):
        err("name", f"must be a string other than the reserved column names, got {name!r}")
        return None
    values, lo, hi, steps, step = a.get("values"), None, None, a.get("steps"), a.get("step", 1)
    rng = a.get("range")
    if (values is None) == (rng is None):
        err("", "give either values = [...] or range = [low, high]")
        return None

    def check_value(v, where: str) -> None:
        if kind == "month":
            if not isinstance(v, str):
                err(where, f"months must be quoted strings \"YYYY-MM\", got {v!r}")
                return
            try:
                month_index(v)
            except ValueError as e:
                err(where, str(e))
        elif pobj is not None:
            r = pobj.check(v)
            if r:
                err(where, f"{par}: {r}")

    if values is not None:
        if not isinstance(values, list) or not values:
            err("values", "must be a non-empty list")
            return None
        for v in values:
            check_value(v, "values")
        if len({json.dumps(v, sort_keys=True, default=str) for v in values}) < len(values):
            err("values", "contains duplicates")
        if steps is not None or "step" in a:
            err("steps" if steps is not None else "step", "only with range = [low, high]")
    else:
        if not isinstance(rng, list) or len(rng) != 2:
            err("range", "must be [low, high]")
            return None
        lo, hi = rng
        if kind == "any":
            kind = "month" if isinstance(lo, str) else "float"
            if kind == "float" and base is not None and ev is not None:
                ann = type(base.event(ev)).model_fields[fld].annotation
                if ann is not float and "float" not in str(ann):
                    err("range", f"field {fld!r} is not a number; give values = [...]")
                    return None
        if kind == "bool":
            err("range", f"{par} is true/false; give values = [true, false]")
            return None
        check_value(lo, "range")
        check_value(hi, "range")
        if kind == "month" and not {"range"} & set(errors):
            if month_index(lo) > month_index(hi):
                err("range", f"low {lo} is after high {hi}")
            if not _is_int(step) or step < 1:
                err("step", f"must be a whole number of months >= 1, got {step!r}")
            if steps is not None:
                err("steps", "month ranges take step (months), not steps")
        elif kind != "month" and not {"range"} & set(errors):
            if not (_is_num(lo) and _is_num(hi)):
                err("range", f"must be two numbers, got {rng!r}")
            elif lo >= hi:
                err("range", f"low {lo} is not below high {hi}")
            if "step" in a:
                err("step", "numeric ranges take steps (number of values)")
            crossed = design == "factorial" or (design == "lhs" and role == "lever")
            if crossed and (not _is_int(steps) or steps < 2):
                err("steps", f"a factorial numeric range{' (a lever of an lhs design)' if design == 'lhs' else ''} "
                             f"needs steps = a whole number >= 2, got {steps!r}")
            elif not crossed and steps is not None:
                err("steps", f"not used by design {design!r} (ranges are sampled)")
    if errors:
        return None
    return Axis(name=name, parameter=par, event=ev, field=fld, values=tuple(values) if values is not None else None,
                lo=lo, hi=hi, steps=steps, step=step, kind=kind, role=role)


# ---------------------------------------------------------------- designs


def _factorial(axes) -> list[dict]:
    """Every combination, the first axis varying slowest."""
    import itertools

    names = [ax.name for ax in axes]
    return [dict(zip(names, combo)) for combo in itertools.product(*(ax.discrete() for ax in axes))]


def sampled_axes(grid: Grid) -> tuple[Axis, ...]:
    """The axes a sampled design draws (lhs: the uncertainties when levers are crossed with them; sobol and
    morris: every axis)."""
    if grid.design == "lhs" and grid.levers:
        return grid.uncertainties
    return grid.axes


def unit_sample(grid: Grid) -> np.ndarray | None:
    """The design's sample in the unit cube, one row per sampled point and one column per ``sampled_axes``
    (None for a factorial design). Sobol and Morris analyses need it in this form; it is regenerated from
    the grid file and its master seed, never stored."""
    if grid.design == "factorial":
        return None
    axes = sampled_axes(grid)
    d = len(axes)
    # the design's own random stream is spawned from the master seed past any run's seed index
    dseed = derive_seed(grid.seed, 2**31 - 1)
    problem = {"num_vars": d, "names": [a.name for a in axes], "bounds": [[0.0, 1.0]] * d}
    if grid.design == "lhs":
        from scipy.stats import qmc

        return qmc.LatinHypercube(d=d, rng=np.random.default_rng(dseed)).random(grid.samples)
    if grid.design == "morris":
        from SALib.sample import morris

        return morris.sample(problem, grid.samples, num_levels=grid.num_levels, seed=dseed % 2**32)
    from SALib.sample import sobol

    return sobol.sample(problem, grid.samples, calc_second_order=False, seed=dseed % 2**32)


def axis_size(ax: Axis) -> int:
    """How many values a factorial axis has (arithmetic: nothing is built)."""
    if ax.values is not None:
        return len(ax.values)
    if ax.kind == "month":
        return (month_index(ax.hi) - month_index(ax.lo)) // ax.step + 1
    return int(ax.steps)


def design_size(grid: Grid) -> int:
    """The number of design points ``make_design`` makes, computed from the axes alone."""
    if grid.design == "factorial":
        return math.prod(axis_size(a) for a in grid.axes)
    d = len(sampled_axes(grid))
    if grid.design == "lhs":
        return grid.samples * (math.prod(axis_size(a) for a in grid.levers) if grid.levers else 1)
    if grid.design == "morris":
        return grid.samples * (d + 1)
    return grid.samples * (d + 2)   # sobol, first-order and total indices


def _check_groups(axes: tuple[Axis, ...]) -> list[list[Axis]]:
    """Axes whose values a scenario checks together: the fields of one event, the cross-checked parameters;
    every other parameter axis alone (its values were checked against the parameter's bounds already)."""
    groups: dict[tuple, list[Axis]] = {}
    for ax in axes:
        key = ("event", ax.event) if ax.event else ("cross",) if ax.parameter in CROSS_CHECKED_PARAMETERS \
            else ("parameter", ax.parameter)
        groups.setdefault(key, []).append(ax)
    return list(groups.values())


def check_design_points(grid: Grid, points: list[dict], bad) -> None:
    """Report every design point that does not make a valid scenario, as (key, reason) through ``bad``.

    A scenario checks each event on its own and only a few parameters against each other
    (``sim.model.scenario.parameter_problems``, ``check_event``), so a point is valid when each group of
    coupled axes (``_check_groups``) is: each distinct combination of a group's values is checked once, by
    the scenario's own checks of that event or of the parameters, and reported at the first point that has
    it. A factorial design is checked in about as many checks as it has axis values."""
    from operator import itemgetter

    shown = 0
    base = grid.base
    for group in _check_groups(grid.axes):
        names = [a.name for a in group]
        eid = group[0].event
        get = itemgetter(*names) if len(names) > 1 else (lambda pt, n=names[0]: (pt[n],))
        try:
            combos = list(dict.fromkeys(map(get, points)))   # distinct, in order of first appearance
        except TypeError:   # list-valued fields: not hashable
            combos = list({json.dumps(get(pt), sort_keys=True): get(pt) for pt in points}.values())
        for combo in combos:
            sub = dict(zip(names, combo))
            ch = point_changes(base, tuple(group), sub)
            if eid is not None:
                raw = {**base.event(eid).model_dump(exclude_none=True), **ch["events"][eid]}
                probs = check_event(raw, grid.source)[1]
            elif len(group) == 1 and group[0].parameter not in CROSS_CHECKED_PARAMETERS:  # checked alone
                probs = parameter_problems(ch["parameters"], grid.source)
            else:
                probs = parameter_problems({**base.parameters, **ch["parameters"]}, grid.source)
            if probs:
                j, pt = next((j, pt) for j, pt in enumerate(points) if all(pt[a] == v for a, v in sub.items()))
                desc_pt = ", ".join(f"{a}={v}" for a, v in pt.items())
                for _, k, r in probs:
                    bad(f"axes ({k})", f"design point {j} ({desc_pt}): {r}")
                    shown += 1
                if shown >= MAX_PROBLEMS:
                    bad("axes", "... (more problems not shown)")
                    return


def make_design(grid: Grid) -> list[dict]:
    """Design points (dicts axis name -> value), in a fixed order. An lhs design with lever axes crosses
    every lever combination (outer) with the same Latin hypercube of the uncertainties (inner), so each
    policy meets the same futures."""
    if grid.design == "factorial":
        return _factorial(grid.axes)
    axes = sampled_axes(grid)
    u = unit_sample(grid)
    names = [ax.name for ax in axes]
    futures = [dict(zip(names, row)) for row in zip(*(ax.from_units(u[:, j]) for j, ax in enumerate(axes)))]
    if grid.design == "lhs" and grid.levers:
        order = [a.name for a in grid.axes]
        return [{k: {**pol, **fut}[k] for k in order} for pol in _factorial(grid.levers) for fut in futures]
    return futures


def point_changes(base: Scenario, axes: tuple[Axis, ...], point: dict) -> dict[str, Any]:
    params: dict[str, Any] = {}
    events: dict[str, dict] = {}
    for ax in axes:
        v = point[ax.name]
        if ax.parameter:
            params[ax.parameter] = v
        elif ax.field == "timing":
            e = base.event(ax.event)
            lead = month_index(e.effective) - month_index(e.announced)
            events.setdefault(ax.event, {}).update(effective=v, announced=month_str(month_index(v) - lead))
        else:
            events.setdefault(ax.event, {})[ax.field] = v
    return {"parameters": params, "events": events}


# ---------------------------------------------------------------- run specs


@dataclass(frozen=True)
class RunSpec:
    """One run of a grid: what to compute (changes to the base scenario, seed) and where it goes (run id)."""
    run: int
    point: int
    replicate: int
    seed_index: int
    seed: int
    spec_hash: str
    changes: dict = field(hash=False, compare=False)


def seed_indices(grid: Grid) -> list[int]:
    """Seed index of every run (run id order). Common mode: the replicate number at every point.
    Independent mode: the run id, moved past the end of the grid if its seed collides with an earlier one
    (seeds are 32-bit), so no two runs share a seed."""
    R, n = grid.replicates, grid.n_runs
    if grid.seeds == "common":
        idx = [r % R for r in range(n)]
        if len({derive_seed(grid.seed, i) for i in range(R)}) < R:  # pragma: no cover (1e-9 chance)
            raise ScenarioError([(grid.source, "grid.seed", "two replicates derive the same seed; pick another")])
        return idx
    idx, used, extra = [], set(), n
    for r in range(n):
        i = r
        s = derive_seed(grid.seed, i)
        while s in used:
            i, extra = extra, extra + 1
            s = derive_seed(grid.seed, i)
        used.add(s)
        idx.append(i)
    return idx


def run_specs(grid: Grid, fingerprint: str | None = None) -> list[RunSpec]:
    """Every run of the grid, run id order (run = point * replicates + replicate)."""
    fp = fingerprint or model_fingerprint()
    sidx = seed_indices(grid)
    seeds = {i: derive_seed(grid.seed, i) for i in set(sidx)}
    out = []
    R = grid.replicates
    for p, pt in enumerate(grid.points):
        ch = grid.changes(pt)
        key = scenario_key(grid.base.with_changes(**ch))
        for r in range(R):
            run = p * R + r
            s = seeds[sidx[run]]
            out.append(RunSpec(run, p, r, sidx[run], s, spec_hash(key, s, fp), ch))
    return out
