"""The app's current settings: one frozen, hashable, order-normalised value.

Settings name a base scenario (a shipped one, or an uploaded one by content digest), parameter
overrides, switched-off events, moved events, the ensemble size and what the bands carry. They round-trip through the
page URL (query parameters), so a copied link reproduces the same view, and they build the scenario
that is run (``Scenario.with_changes``) and downloaded as TOML. No streamlit import here.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace
from typing import Any, Collection, Mapping

from sim.model.calendar import month_index, month_str
from sim.model.ids import BUYERS, TIERS
from sim.model.params import PARAMS, Param
from sim.model.scenario import Scenario, ScenarioError

SEEDS_MIN, SEEDS_MAX, SEEDS_DEFAULT = 5, 50, 20
# What the bands carry: "sets" (each run its own seed and one of the scenario's accepted parameter sets;
# seed noise only for a scenario that declares none) or "seeds" (seed noise only). In links: bands=seeds.
BANDS = {"sets": "runs and parameter uncertainty", "seeds": "runs only"}
BANDS_DEFAULT = "sets"
DEFAULT_SCENARIO = "history"
UPLOAD_PREFIX = "upload-"
BASES = ("unit_share", "value_share", "compute_share")
BASIS_LABELS = {"unit_share": "units (cards)", "value_share": "value (US$)", "compute_share": "compute (AEC)"}
# Shares of cards and of compute are always reported together: a two-die card or a cheap inference card
# moves one and not the other.
PAIRED = ("unit_share", "compute_share")
BASIS_WORDS = {"unit_share": "cards", "value_share": "sales value", "compute_share": "compute"}


def with_pair(basis: str) -> list[str]:
    """The chosen basis first, then the shares of cards and of compute not already among them."""
    return [basis] + [b for b in PAIRED if b != basis]
# Query-parameter names that are not parameter names (parameter names always contain a dot).
VIEW_KEYS = ("scenario", "seeds", "bands", "off", "move", "basis", "observed", "buyer", "tier", "compare", "compare_a",
             "lesson", "month", "present", "grid")
# Text view options: (field, default). Lists of valid values are checked by ``from_query``.
TEXT_VIEW = ("buyer", "tier", "compare", "compare_a", "lesson", "month", "grid")


def fmt_value(v: Any) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, int):
        return str(v)
    return f"{float(v):.10g}"


def parse_value(p: Param, text: str) -> Any:
    """A URL string to a parameter value; raises ValueError with a reason."""
    if p.kind == "bool":
        if text.lower() in ("true", "1", "yes", "on"):
            return True
        if text.lower() in ("false", "0", "no", "off"):
            return False
        raise ValueError(f"must be true or false, got {text!r}")
    try:
        v = float(text)
    except ValueError:
        raise ValueError(f"must be a number, got {text!r}") from None
    if not math.isfinite(v):
        raise ValueError(f"must be finite, got {text!r}")
    if p.kind == "int":
        if v != int(v):
            raise ValueError(f"must be a whole number, got {text!r}")
        v = int(v)
    reason = p.check(v)
    if reason:
        raise ValueError(reason)
    return v


@dataclass(frozen=True)
class Settings:
    """What is run. Tuples are sorted, so equal settings hash equal whatever the order of edits."""
    scenario: str = DEFAULT_SCENARIO
    params: tuple[tuple[str, Any], ...] = ()
    off: tuple[str, ...] = ()
    moved: tuple[tuple[str, str], ...] = ()
    seeds: int = SEEDS_DEFAULT
    bands: str = BANDS_DEFAULT

    def __post_init__(self):
        object.__setattr__(self, "params", tuple(sorted(dict(self.params).items())))
        object.__setattr__(self, "off", tuple(sorted(set(self.off))))
        object.__setattr__(self, "moved", tuple(sorted(dict(self.moved).items())))
        object.__setattr__(self, "seeds", int(min(SEEDS_MAX, max(SEEDS_MIN, int(self.seeds)))))
        if self.bands not in BANDS:
            raise ValueError(f"bands must be one of {', '.join(BANDS)}, got {self.bands!r}")

    @property
    def param_dict(self) -> dict[str, Any]:
        return dict(self.params)

    @property
    def moved_dict(self) -> dict[str, str]:
        return dict(self.moved)

    def with_param(self, name: str, value: Any, base_value: Any) -> Settings:
        d = self.param_dict
        if value == base_value:
            d.pop(name, None)
        else:
            d[name] = value
        return replace(self, params=tuple(d.items()))

    def with_event(self, eid: str, on: bool, month: str | None, base_month: str) -> Settings:
        off = set(self.off)
        (off.discard if on else off.add)(eid)
        mv = self.moved_dict
        if month is None or month == base_month:
            mv.pop(eid, None)
        else:
            mv[eid] = month
        return replace(self, off=tuple(off), moved=tuple(mv.items()))

    @property
    def n_changes(self) -> int:
        return len(self.params) + len(self.off) + len(self.moved)


@dataclass(frozen=True)
class View:
    """How results are shown (also in the URL, not part of what is run)."""
    basis: str = "unit_share"
    observed: bool = True
    buyer: str = "Tencent"
    tier: str = "inference"
    compare: str = "no-controls"
    compare_a: str = "current"
    lesson: str = ""
    month: str = ""
    present: bool = False
    grid: str = ""


# ---------------------------------------------------------------- building the scenario


def apply(base: Scenario, s: Settings) -> Scenario:
    """The scenario that the settings describe (validated; raises ScenarioError)."""
    ids = {e.id for e in base.events}
    unknown = [e for e in list(s.off) + [i for i, _ in s.moved] if e not in ids]
    if unknown:
        raise ScenarioError([("settings", f"events.{e}", "unknown event id in this scenario") for e in unknown])
    events: dict[str, dict] = {}
    for eid, month in s.moved:
        if eid in s.off:
            continue
        ev = base.event(eid)
        shift = month_index(month) - month_index(ev.effective)
        events[eid] = {"effective": month, "announced": month_str(month_index(ev.announced) + shift)}
    return base.with_changes(parameters=s.param_dict, events=events or None, remove=list(s.off) or None)


def band_sets(base: Scenario, s: Settings) -> list[dict[str, float]]:
    """The accepted parameter sets the runs of these settings cycle through (run r uses set r mod K): the
    base scenario's, when the bands carry parameter uncertainty and it declares some; else none."""
    return base.load_parameter_sets() if s.bands == "sets" else []


def runs_words(base: Scenario, s: Settings) -> str:
    """The ensemble in a few words: "20 runs", or "20 runs (random draws only)" when no parameter sets vary."""
    return f"{s.seeds} runs" + ("" if band_sets(base, s) else " (random draws only)")


def base_value(base: Scenario, name: str) -> Any:
    """A parameter's value in the base scenario (its override there, else the default)."""
    return base.parameters.get(name, PARAMS[name].default)


# ---------------------------------------------------------------- URL (query parameters)


def to_query(s: Settings, v: View | None = None) -> dict[str, str | list[str]]:
    """Query parameters for the settings and view; defaults are left out to keep links short."""
    q: dict[str, str | list[str]] = {"scenario": s.scenario}
    if s.seeds != SEEDS_DEFAULT:
        q["seeds"] = str(s.seeds)
    if s.bands != BANDS_DEFAULT:
        q["bands"] = s.bands
    for k, val in s.params:
        q[k] = fmt_value(val)
    if s.off:
        q["off"] = list(s.off)
    if s.moved:
        q["move"] = [f"{e}:{m}" for e, m in s.moved]
    if v is not None:
        d = View()
        for f in ("basis",) + TEXT_VIEW:
            if getattr(v, f) != getattr(d, f):
                q[f] = getattr(v, f)
        if v.observed != d.observed:
            q["observed"] = "1" if v.observed else "0"
        if v.present != d.present:
            q["present"] = "1" if v.present else "0"
    return q


@dataclass
class Parsed:
    settings: Settings
    view: View
    problems: list[str] = field(default_factory=list)


def from_query(q: Mapping[str, list[str]], known_scenarios: list[str],
               base: Scenario | None = None, lessons: Collection[str] = (),
               grids: Collection[str] | None = None) -> Parsed:
    """Settings and view from query parameters (each key maps to all its values). Bad entries are
    dropped and reported in ``problems`` ("KEY: REASON"); nothing in a URL is executed. View options are
    checked against what exists (buyers, workload tiers, months of the base scenario, shipped scenarios,
    ``lessons``, grid results folders ``grids`` by their name under outputs/); a Compare choice naming
    settings saved in a session (``saved:NAME``, ``run:N``) cannot come from a link and is reported too."""
    problems: list[str] = []

    def last(k: str) -> str | None:
        vals = q.get(k) or []
        return vals[-1] if vals else None

    scen = last("scenario") or DEFAULT_SCENARIO
    if scen not in known_scenarios and not scen.startswith(UPLOAD_PREFIX):
        problems.append(f"scenario: unknown scenario {scen!r}; showing {DEFAULT_SCENARIO!r}")
        scen = DEFAULT_SCENARIO
    seeds = SEEDS_DEFAULT
    if last("seeds") is not None:
        try:
            seeds = int(last("seeds"))
            if not SEEDS_MIN <= seeds <= SEEDS_MAX:
                problems.append(f"seeds: {seeds} is outside {SEEDS_MIN}-{SEEDS_MAX}; clipped")
        except ValueError:
            problems.append(f"seeds: not a whole number ({last('seeds')!r})")
    bands = BANDS_DEFAULT
    if last("bands") is not None:
        if last("bands") in BANDS:
            bands = last("bands")
        else:
            problems.append(f"bands: {last('bands')!r} is not one of {', '.join(BANDS)} (ignored)")
    params: dict[str, Any] = {}
    for k, vals in q.items():
        if k in VIEW_KEYS or not vals:
            continue
        p = PARAMS.get(k)
        if p is None:
            problems.append(f"{k}: unknown parameter (ignored)")
            continue
        try:
            params[k] = parse_value(p, vals[-1])
        except ValueError as e:
            problems.append(f"{k}: {e} (ignored)")
    ids = {e.id: e for e in base.events} if base is not None else None
    off = []
    for eid in q.get("off", []):
        if ids is not None and eid not in ids:
            problems.append(f"off: unknown event id {eid!r} (ignored)")
        else:
            off.append(eid)
    moved = {}
    for item in q.get("move", []):
        eid, _, month = item.rpartition(":")
        try:
            month_index(month)
        except ValueError:
            problems.append(f"move: {item!r} is not EVENT_ID:YYYY-MM (ignored)")
            continue
        if ids is not None and eid not in ids:
            problems.append(f"move: unknown event id {eid!r} (ignored)")
            continue
        moved[eid] = month
    if base is not None:  # drop overrides equal to the base value
        params = {k: v for k, v in params.items() if v != base_value(base, k)}
        moved = {k: m for k, m in moved.items() if m != ids[k].effective}
        # a rule moved outside the horizon would bind from the first month (or never): never apply it, and say so
        first, last_month = base.months[0], base.months[-1]
        for eid, m in list(moved.items()):
            if not first <= m <= last_month:
                problems.append(f"move: {eid} to {m} is outside the scenario's months ({first} to {last_month}); "
                                "the rule is switched off")
                del moved[eid]
                off.append(eid)
    s = Settings(scen, tuple(params.items()), tuple(off), tuple(moved.items()), seeds, bands)
    view = View()
    basis = last("basis")
    if basis is not None:
        if basis in BASES:
            view = replace(view, basis=basis)
        else:
            problems.append(f"basis: {basis!r} is not one of {', '.join(BASES)} (ignored)")
    for f in ("observed", "present"):
        if last(f) is not None:
            val = last(f).lower()
            if val in ("1", "true", "yes", "on", "0", "false", "no", "off"):
                view = replace(view, **{f: val in ("1", "true", "yes", "on")})
            else:
                problems.append(f"{f}: must be 1 or 0, got {last(f)!r} (ignored)")
    months = set(base.months) if base is not None else None
    compare_ok = set(known_scenarios)
    checks = {
        "buyer": (lambda x: x in BUYERS, f"unknown buyer; one of {', '.join(BUYERS)}"),
        "tier": (lambda x: x in TIERS, f"unknown workload tier; one of {', '.join(TIERS)}"),
        "month": (lambda x: _is_month(x) and (months is None or x in months),
                  "not a month YYYY-MM of the scenario" if base is None else
                  f"not a month YYYY-MM between {base.months[0]} and {base.months[-1]}"),
        "compare": (lambda x: x in compare_ok, "not a shipped scenario (settings saved in another session "
                                               "cannot travel in a link)"),
        "compare_a": (lambda x: x == "current" or x in compare_ok,
                      "not 'current' or a shipped scenario (settings saved in another session cannot travel "
                      "in a link)"),
        "lesson": (lambda x: x in lessons, f"unknown lesson; one of {', '.join(lessons)}"),
        "grid": (lambda x: grids is None or x in grids,
                 "not a grid results folder under outputs/" + (f" (there: {', '.join(sorted(grids)[:5])})"
                                                                if grids else " (there are none yet)")),
    }
    for f in TEXT_VIEW:
        val = last(f)
        if val is None:
            continue
        ok, why = checks[f]
        if f == "lesson" and not lessons:
            ok = (lambda x: True)
        if ok(val):
            view = replace(view, **{f: val})
        else:
            problems.append(f"{f}: {val!r} is {why} (ignored)" if why.startswith("not") else
                            f"{f}: {val!r}: {why} (ignored)")
    return Parsed(s, view, problems)


def _is_month(x: str) -> bool:
    try:
        month_index(x)
    except ValueError:
        return False
    return True


def scenario_file_name(s: Settings, base: Scenario) -> str:
    name = base.name if not s.n_changes else f"{base.name}-custom"
    return f"{name}.toml"


def custom_scenario(base: Scenario, s: Settings) -> Scenario:
    """The settings as a self-contained scenario (downloaded as TOML; ``python -m sim run`` accepts it)."""
    sc = apply(base, s)
    if s.n_changes:
        desc = (base.header.description + " " if base.header.description else "") + \
            f"Changed in the app: {s.n_changes} setting(s)."
        sc = sc.with_changes(header={"name": f"{base.name}-custom"[:80], "description": desc})
    return sc
