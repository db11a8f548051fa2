"""Which rule moved the outcome: Shapley attribution of the difference between two scenarios.

The differences between a scenario and a base scenario are changes: events present in one and not the
other, events with the same id and different fields, and parameters set differently. Changes are put in
named groups (default: one group per change; ``--group NAME=id1,id2`` or a grouping file such as
``scenarios/groups/history.toml`` merge them). A coalition of groups is the base scenario with those
groups' changes made; v(S) is the outcome of coalition S, mean over seeds. Each group's Shapley value is
its marginal contribution v(S + g) - v(S) averaged over every order in which the groups can be added:
contributions sum to v(all) - v(none) = outcome(scenario) - outcome(base) exactly, and two groups that
change the outcome identically get the same share.

Exact for up to ``EXACT_MAX`` groups (2^G coalitions); beyond that, antithetic pairs of random orders
(each order and its reverse) with a standard error. Every coalition is run on the same seeds (common
random numbers), the seeds ``python -m sim run SCENARIO --seeds N`` uses, so the total equals the
difference of two plain runs. ``conf`` is the half-width of a 95% interval: seed noise (the spread of the
per-seed Shapley values) and, when orders are sampled, the sampling error, added in quadrature.
"""

from __future__ import annotations

import itertools
import math
import tomllib
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import pandas as pd

from sim.analysis.evaluate import evaluate, outcome_name
from sim.analysis.results import AnalysisError, write_json
from sim.experiments.summarize import OutcomeError
from sim.model.params import PARAMS
from sim.model.scenario import SCENARIO_DIR, Scenario, ScenarioError

EXACT_MAX = 10
GROUP_DIR = SCENARIO_DIR / "groups"
COLUMNS = ["group", "events", "contribution", "conf"]
TOTAL = "total"
Z95 = 1.959963984540054
PARAM = "parameter:"


@dataclass(frozen=True)
class Change:
    key: str          # event id, or "parameter:NAME"
    kind: str         # added | removed | changed | parameter
    label: str        # readable name


@dataclass(frozen=True)
class Group:
    name: str
    keys: tuple[str, ...]


@dataclass
class Attribution:
    table: pd.DataFrame               # COLUMNS, groups then the total row
    outcome: str
    base_value: float                 # mean over seeds
    target_value: float
    method: str                       # exact | sampled
    coalitions: pd.DataFrame          # coalition, size, seed, value
    notes: list[str]


def short_label(ev) -> str:
    """A readable name for an event: its label up to the first colon or parenthesis (else its id)."""
    text = (getattr(ev, "label", "") or "").split(":")[0].split(" (")[0].strip()
    return text[:48] if text else ev.id


def differences(target: Scenario, base: Scenario) -> list[Change]:
    """Every change that turns ``base`` into ``target``, in a fixed order (by month, then id)."""
    if (target.header.start, target.header.end) != (base.header.start, base.header.end):
        raise AnalysisError(f"the scenarios have different horizons ({target.header.start} to {target.header.end} "
                            f"vs {base.header.start} to {base.header.end}); give them the same start and end")
    tev = {e.id: e for e in target.events}
    bev = {e.id: e for e in base.events}
    out: list[tuple[str, Change]] = []
    for eid, e in tev.items():
        if eid not in bev:
            out.append((e.effective, Change(eid, "added", short_label(e))))
        elif e.model_dump() != bev[eid].model_dump():
            out.append((e.effective, Change(eid, "changed", short_label(e) + " (changed)")))
    for eid, e in bev.items():
        if eid not in tev:
            out.append((e.effective, Change(eid, "removed", "no " + short_label(e))))
    changes = [c for _, c in sorted(out, key=lambda t: (t[0], t[1].key))]
    for k in sorted(set(target.parameters) | set(base.parameters)):
        if target.parameters.get(k) != base.parameters.get(k):
            changes.append(Change(PARAM + k, "parameter", k))
    return changes


def response_notes(target: Scenario, base: Scenario, changes: list[Change]) -> list[str]:
    """A note when China's measures that answer US controls (``responds_to_us``) are in both scenarios while US
    rules are among the changes: such a measure binds only once a US rule has tightened, so its effect is
    credited to the US groups that set it off (docs/ODD.md 7.11a)."""
    tev, bev = {e.id: e for e in target.events}, {e.id: e for e in base.events}
    shared = [i for i, e in tev.items() if e.responds_to_us and i in bev and bev[i].responds_to_us]
    us = [c for c in changes if c.kind in ("added", "removed", "changed")
          and (tev.get(c.key) or bev.get(c.key)).actor == "US"]
    on = [bool(sc.parameters.get("china.reacts_to_us", PARAMS["china.reacts_to_us"].default)) for sc in (target, base)]
    if not shared or not us or not any(on):
        return []
    return [f"{len(shared)} of China's measures in both scenarios answer US controls (responds_to_us) and bind only "
            "once a US rule has tightened, so their effect is credited to the US groups that set them off; to "
            "split the two sides, compare with a base that also removes them, or set china.reacts_to_us = false "
            "in both (docs/ODD.md 7.11a)."]


def read_groups(name_or_path: str) -> dict[str, list[str]]:
    """A grouping file: ``[groups]`` with ``"Readable name" = ["event-id", ...]``; a shipped one by name."""
    p = Path(name_or_path)
    if not (p.suffix == ".toml" or p.exists()):
        p = GROUP_DIR / f"{name_or_path}.toml"
    f = str(p)
    if not p.is_file():
        known = ", ".join(sorted(x.stem for x in GROUP_DIR.glob("*.toml")))
        raise AnalysisError(f"{f}: grouping file not found (shipped: {known or 'none'})")
    try:
        raw = tomllib.loads(p.read_text(encoding="utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as e:
        raise AnalysisError(f"{f}: not a valid TOML file ({e})") from None
    g = raw.get("groups")
    if not isinstance(g, dict) or set(raw) - {"groups"}:
        raise AnalysisError(f"{f}: groups: need one [groups] table (and nothing else)")
    for k, v in g.items():
        if not isinstance(v, list) or not v or not all(isinstance(x, str) for x in v):
            raise AnalysisError(f"{f}: groups.{k}: must be a non-empty list of event ids")
    return {k: list(v) for k, v in g.items()}


def restrict_groups(named: dict[str, list[str]], known_ids: set[str]) -> dict[str, list[str]]:
    """A grouping file's groups cut to the events of the two scenarios compared: a shipped grouping (e.g.
    ``history``) names events that another pair of scenarios may not hold at all; groups left empty go."""
    out = {k: [i for i in v if i in known_ids] for k, v in named.items()}
    return {k: v for k, v in out.items() if v}


def parse_group_option(text: str) -> tuple[str, list[str]]:
    """``NAME=id1,id2`` -> (NAME, [id1, id2])."""
    name, sep, ids = text.partition("=")
    keys = [x.strip() for x in ids.split(",") if x.strip()]
    if not sep or not name.strip() or not keys:
        raise AnalysisError(f"--group {text!r}: write NAME=event-id,event-id")
    return name.strip(), keys


def make_groups(changes: list[Change], named: dict[str, list[str]] | None = None,
                known_ids: set[str] | None = None) -> list[Group]:
    """Named groups (members that do not differ are dropped, groups left empty too), then one group per
    remaining change. Unknown ids and ids in two groups are errors."""
    by_key = {c.key: c for c in changes}
    known = (known_ids or set()) | set(by_key)
    groups, taken = [], {}
    for name, keys in (named or {}).items():
        for k in keys:
            if k not in known:
                raise AnalysisError(f"group {name!r}: unknown event id {k!r} (in neither scenario)")
            if k in taken:
                raise AnalysisError(f"event {k!r} is in two groups: {taken[k]!r} and {name!r}")
            taken[k] = name
        members = tuple(k for k in keys if k in by_key)
        if members:
            groups.append(Group(name, members))
    names = {g.name for g in groups}
    for c in changes:
        if c.key not in taken:
            n = c.label if c.label not in names else f"{c.label} [{c.key}]"
            names.add(n)
            groups.append(Group(n, (c.key,)))
    return groups


def coalition(target: Scenario, base: Scenario, changes: dict[str, Change], members: set[str]) -> Scenario:
    """The base scenario with the changes in ``members`` made (validated; target's header)."""
    events = {e.id: e for e in base.events}
    params = dict(base.parameters)
    for k in sorted(members):
        c = changes[k]
        if c.kind == "parameter":
            name = k[len(PARAM):]
            if name in target.parameters:
                params[name] = target.parameters[name]
            else:
                params.pop(name, None)
        elif c.kind == "removed":
            events.pop(k, None)
        else:
            events[k] = target.event(k)
    sc = replace(target, parameters=params, events=tuple(events.values()))
    try:
        return sc.with_changes()
    except ScenarioError as e:
        raise AnalysisError(f"the changes {sorted(members)} do not make a valid scenario: {e.lines()[0]}") from None


def shapley_weights(n: int) -> list[float]:
    """w[s] = s! (n - s - 1)! / n!: the weight of a coalition of size s in a Shapley value."""
    return [math.factorial(s) * math.factorial(n - s - 1) / math.factorial(n) for s in range(n)]


def exact_shapley(v: dict[frozenset, np.ndarray], n: int) -> np.ndarray:
    """Shapley values (n, ...) from every coalition's value v[frozenset of group indices]."""
    w = shapley_weights(n)
    shape = next(iter(v.values())).shape
    phi = np.zeros((n, *shape))
    for i in range(n):
        others = [j for j in range(n) if j != i]
        for s in range(n):
            for S in itertools.combinations(others, s):
                fs = frozenset(S)
                phi[i] += w[s] * (v[fs | {i}] - v[fs])
    return phi


def sampled_orders(n: int, pairs: int, seed: int) -> list[tuple[int, ...]]:
    """``pairs`` random orders of n groups, each followed by its reverse (antithetic sampling)."""
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(pairs):
        p = tuple(int(x) for x in rng.permutation(n))
        out += [p, p[::-1]]
    return out


def order_contributions(v: dict[frozenset, np.ndarray], orders: list[tuple[int, ...]], n: int) -> np.ndarray:
    """Marginal contributions per order: (len(orders), n, ...)."""
    shape = next(iter(v.values())).shape
    out = np.zeros((len(orders), n, *shape))
    for m, order in enumerate(orders):
        S: frozenset = frozenset()
        for g in order:
            T = S | {g}
            out[m, g] = v[T] - v[S]
            S = T
    return out


def attribute(target: Scenario, base: Scenario, outcome: str, seeds: list[int], groups: list[Group] | None = None,
              permutations: int = 64, seed: int = 0, workers: int | None = None,
              progress: Callable[[int, int], None] | None = None) -> Attribution:
    """Split outcome(target) - outcome(base) among the groups of changes (see the module docstring).

    ``permutations``: number of sampled orders (rounded up to pairs) when there are more than EXACT_MAX
    groups; ``seed``: their random stream."""
    try:
        name = outcome_name(outcome, target)
    except OutcomeError as e:
        raise AnalysisError(str(e)) from None
    changes = differences(target, base)
    if not changes:
        raise AnalysisError(f"{target.name} and {base.name} do not differ: nothing to attribute")
    groups = groups or make_groups(changes)
    by_key = {c.key: c for c in changes}
    n = len(groups)
    full = frozenset(range(n))
    if n <= EXACT_MAX:
        method, orders = "exact", []
        needed = [frozenset(S) for s in range(n + 1) for S in itertools.combinations(range(n), s)]
    else:
        method, orders = "sampled", sampled_orders(n, max(1, math.ceil(permutations / 2)), seed)
        needed_set = {frozenset()}
        for order in orders:
            needed_set |= {frozenset(order[:k]) for k in range(1, n + 1)}
        needed = sorted(needed_set, key=lambda S: (len(S), sorted(S)))
    scen = []
    for S in needed:
        if not S:
            scen.append(base)
        elif S == full:
            scen.append(target)
        else:
            scen.append(coalition(target, base, by_key, {k for g in S for k in groups[g].keys}))
    vals = evaluate(scen, seeds, name, workers=workers, progress=progress)
    if np.isnan(vals).any():
        raise AnalysisError(f"outcome {name} is undefined in some runs (e.g. a crossover that never happens); "
                            "attribute a share or a sum instead")
    v = {S: vals[i] for i, S in enumerate(needed)}
    S_ = len(seeds)
    notes = []
    if method == "exact":
        phi = exact_shapley(v, n)                                    # (n, seeds)
        contrib = phi.mean(axis=1)
        se = phi.std(axis=1, ddof=1) / math.sqrt(S_) if S_ > 1 else np.zeros(n)
    else:
        per = order_contributions(v, orders, n)                      # (orders, n, seeds)
        contrib = per.mean(axis=(0, 2))
        pair_means = per.mean(axis=2).reshape(-1, 2, n).mean(axis=1)  # antithetic pairs are the draws
        se_perm = pair_means.std(axis=0, ddof=1) / math.sqrt(len(pair_means)) if len(pair_means) > 1 else \
            np.full(n, np.nan)
        seed_phi = per.mean(axis=0)                                  # (n, seeds)
        se_seed = seed_phi.std(axis=1, ddof=1) / math.sqrt(S_) if S_ > 1 else np.zeros(n)
        se = np.sqrt(se_perm ** 2 + se_seed ** 2)
        notes.append(f"{n} groups: {len(orders)} sampled orders ({len(orders) // 2} antithetic pairs), "
                     f"{len(needed)} of {2 ** n} coalitions run; largest standard error from the sampling "
                     f"{np.nanmax(se_perm):.3g}")
    notes += response_notes(target, base, changes)
    diff = v[full] - v[frozenset()]
    total = float(diff.mean())
    total_conf = Z95 * float(diff.std(ddof=1)) / math.sqrt(S_) if S_ > 1 else 0.0
    rows = [(g.name, " ".join(g.keys), float(contrib[i]), Z95 * float(se[i])) for i, g in enumerate(groups)]
    rows.append((TOTAL, " ".join(k for g in groups for k in g.keys), total, total_conf))
    table = pd.DataFrame(rows, columns=COLUMNS)
    names = [g.name for g in groups]
    coal = pd.DataFrame([(" + ".join(names[g] for g in sorted(S)) or "(base)", len(S), int(sd), float(vals[i, j]))
                         for i, S in enumerate(needed) for j, sd in enumerate(seeds)],
                        columns=["coalition", "size", "seed", "value"])
    return Attribution(table, name, float(v[frozenset()].mean()), float(v[full].mean()), method, coal, notes)


def write(result: Attribution, out: Path, target: Scenario, base: Scenario, seeds: list[int], groups: list[Group],
          command: str = "", extra: dict | None = None) -> None:
    """The attribution folder: attribution.csv, coalitions.csv, both scenarios and the groups as files, and
    manifest.json (command, seeds, outcome, method): enough to re-run it."""
    out.mkdir(parents=True, exist_ok=True)
    result.table.to_csv(out / "attribution.csv", index=False, float_format="%.10g")
    result.coalitions.to_csv(out / "coalitions.csv", index=False, float_format="%.10g")
    (out / "scenario.toml").write_text(target.to_toml(), encoding="utf-8")
    (out / "base.toml").write_text(base.to_toml(), encoding="utf-8")
    lines = ["# Event groups used by this attribution (python -m sim attribute --groups FILE)", "[groups]"]
    lines += [f'"{g.name}" = [{", ".join(chr(34) + k + chr(34) for k in g.keys)}]' for g in groups]
    (out / "groups.toml").write_text("\n".join(lines) + "\n", encoding="utf-8")
    write_json({"analysis": "attribution", "command": command, "scenario": target.name, "base": base.name,
                "scenario_sha256": target.digest(), "base_sha256": base.digest(), "outcome": result.outcome,
                "seeds": [int(s) for s in seeds], "method": result.method, "groups": {g.name: list(g.keys) for g in groups},
                "base_value": result.base_value, "scenario_value": result.target_value, "notes": result.notes,
                **(extra or {})}, out / "manifest.json")


def sentence(result: Attribution, target: str, base: str, top: int = 3) -> str:
    """'From no-controls to history, share:Nvidia:2027 moves from 39.2% to 0.0% (-39.2 points); October 2023
    rule took 39.4 points (± 0.22 points), October 2022 rule took 1.6 points ...': the ``top`` largest groups
    (by the size of their contribution), each with the direction it moved the outcome, then the rest."""
    t = result.table[result.table["group"] != TOTAL].copy()
    t = t.reindex(t["contribution"].abs().sort_values(ascending=False, kind="stable").index)
    share = result.outcome.split(":")[0] in ("share", "value_share", "compute_share")

    def amount(x: float) -> str:
        return f"{abs(x) * 100:.1f} points" if share else f"{abs(x):.4g}"

    def error(x: float) -> str:   # the half-width of the interval: two significant digits, at least one decimal
        v = abs(x) * 100 if share else abs(x)
        d = max(1, 1 - math.floor(math.log10(v))) if v > 0 else 1
        return f"{v:.{d}f}" + (" points" if share else "")

    def level(x: float) -> str:
        return f"{x:.1%}" if share else f"{x:.4g}"

    parts = []
    for r in t.head(top).itertuples():
        verb = "took" if r.contribution < 0 else "added"
        parts.append(f"{r.group} {verb} {amount(r.contribution)} (± {error(r.conf)})")
    rest = len(t) - top
    if rest > 0:
        left = float(t["contribution"].iloc[top:].sum())
        parts.append(f"the other {rest} group{'s' if rest > 1 else ''} {'+' if left >= 0 else '-'}{amount(left)} "
                     "together")
    total = result.target_value - result.base_value
    return (f"From {base} to {target}, {result.outcome} moves from {level(result.base_value)} to "
            f"{level(result.target_value)} ({'+' if total >= 0 else '-'}{amount(total)}); " + ", ".join(parts) + ".")
