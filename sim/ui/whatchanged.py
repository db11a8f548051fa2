"""What a change of settings did, in words: the changes, the headline numbers against the scenario's base
(paired over the same runs), when the difference opens and what moved with it (no streamlit import).

The "why" reads only what the runs recorded: the size of the market, the mix of cards, the other share
bases and the buyers' choice terms (the Buyers page's decomposition, averaged over buyers and kinds of
work). With one change all of the difference is its own; with several, the page splits a headline
number among them by Shapley attribution (``sim.analysis.attribution``, on the same seeds).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from sim import labels
from sim.engine import ensemble as E
from sim.model.ids import DOMESTIC_VENDORS, VENDORS
from sim.model.params import PARAMS, load_catalogue
from sim.model.records import PRODUCT_FIELDS
from sim.model.scenario import Scenario
from sim.ui.diff import month_text
from sim.ui.explain import TERM_WORDS
from sim.ui.settings import BASIS_WORDS, Settings, base_value, runs_words

HEADLINES = (("Nvidia", 2025), ("Huawei", 2025), ("Nvidia", 2027), ("Huawei", 2027), ("Domestic", 2027))
KEY_ENTITIES = ("Nvidia", "Huawei", "Domestic")


def _num(v) -> str:
    if isinstance(v, bool):
        return "on" if v else "off"
    if isinstance(v, int) or float(v).is_integer() and abs(v) >= 100:
        return f"{v:,.0f}"
    return f"{v:.3g}"


def change_lines(base: Scenario, s: Settings) -> list[str]:
    """Each change of ``s`` against its base scenario, in words (parameters by their plain label)."""
    out = []
    for k, v in s.params:
        if k in PARAMS:
            out.append(f"{labels.label(k)}: {_num(base_value(base, k))} → {_num(v)}")
    ids = {e.id: e for e in base.events}
    for eid in s.off:
        if eid in ids:
            e = ids[eid]
            out.append(f"Rule switched off: {e.label or e.id} ({e.actor}, {e.effective})")
    for eid, m in s.moved:
        if eid in ids and eid not in s.off:
            e = ids[eid]
            out.append(f"Rule moved: {e.label or e.id} ({e.actor}) from {e.effective} to {m}")
    return out


def short_label(base: Scenario, s: Settings, scenario_label: str) -> str:
    """A one-line name for a run in the history (e.g. "history · Rule switched off: …")."""
    lines = change_lines(base, s)
    if not lines:
        return f"{scenario_label} as shipped · {runs_words(base, s)}"
    first = lines[0] if len(lines[0]) <= 60 else lines[0][:59] + "…"
    more = f" (+{len(lines) - 1} more)" if len(lines) > 1 else ""
    return f"{scenario_label} · {first}{more} · {runs_words(base, s)}"


@dataclass
class Move:
    label: str
    base: float | None
    now: float | None
    delta: float | None = None     # mean over runs of the paired difference
    lo: float | None = None        # 5% and 95% of the paired differences
    hi: float | None = None

    def text(self) -> str:
        if self.base is None or self.now is None or self.delta is None:
            return f"{self.label}: –"
        rng = ""
        if self.lo is not None and self.hi is not None and self.hi - self.lo > 0.0005:
            rng = f"; 90% of runs {_pts(self.lo)} to {_pts(self.hi)}"
        return f"{self.label}: {self.base:.0%} → {self.now:.0%} ({_pts(self.delta, sign=True)} points{rng})"


def _pts(x: float, sign: bool = True) -> str:
    v = 100 * x
    if abs(v) < 0.05:
        return "0.0"
    s = f"{v:+.1f}" if sign else f"{v:.1f}"
    return s.replace("-", "−")


@dataclass
class Story:
    changes: list[str]
    moves: list[Move]
    passing: tuple[str, str]
    when: str = ""
    why: list[str] = field(default_factory=list)
    paired: bool = True

    @property
    def moved(self) -> bool:
        return any(m.delta is not None and abs(m.delta) >= 0.005 for m in self.moves) or \
            self.passing[0] != self.passing[1]


def _month(t) -> str:
    return pd.Timestamp(t).strftime("%b %Y")


def _passing(ens: E.Ensemble, basis: str) -> str:
    return month_text(E.passing_month(ens, basis))


def moves(e0: E.Ensemble, e1: E.Ensemble, basis: str) -> tuple[list[Move], bool]:
    """Headline shares before and after, with the paired difference over runs when both used the same seeds."""
    paired = e0.seeds == e1.seeds and e0.n_sets == e1.n_sets and np.array_equal(e0.months, e1.months)
    out = []
    for ent, year in HEADLINES:
        a, b = E.annual_by_run(e0, basis, ent), E.annual_by_run(e1, basis, ent)
        if year not in a.index or year not in b.index:
            out.append(Move(f"{ent} {year}", None, None))
            continue
        xa, xb = a.loc[year].to_numpy(), b.loc[year].to_numpy()
        ma, mb = float(np.nanmean(xa)), float(np.nanmean(xb))
        if paired:
            d = xb - xa
            d = d[~np.isnan(d)]
            lo, hi = (np.quantile(d, [0.05, 0.95]) if len(d) else (np.nan, np.nan))
            out.append(Move(f"{ent} {year}", ma, mb, float(np.mean(d)) if len(d) else None, float(lo), float(hi)))
        else:
            out.append(Move(f"{ent} {year}", ma, mb, mb - ma))
    return out, paired


def _window(diff: np.ndarray, floor: float = 0.01) -> tuple[int, int] | None:
    """The run of months around the largest |difference| where it stays above half of it (and ``floor``)."""
    a = np.abs(diff)
    if not len(a) or a.max() < floor:
        return None
    i = int(a.argmax())
    th = max(floor, 0.5 * a[i])
    j0 = i
    while j0 > 0 and a[j0 - 1] >= th and np.sign(diff[j0 - 1]) == np.sign(diff[i]):
        j0 -= 1
    j1 = i
    while j1 + 1 < len(a) and a[j1 + 1] >= th and np.sign(diff[j1 + 1]) == np.sign(diff[i]):
        j1 += 1
    return j0, j1


def _mean(ens: E.Ensemble, entity: str, metric: str) -> np.ndarray:
    return ens.series(entity, metric).mean(axis=0)


def explain(base: Scenario, s: Settings, e0: E.Ensemble, e1: E.Ensemble, basis: str = "unit_share") -> Story:
    """What moved between the base (e0: the scenario with no changes) and the current settings (e1)."""
    mv, paired = moves(e0, e1, basis)
    story = Story(change_lines(base, s), mv, (_passing(e0, basis), _passing(e1, basis)), paired=paired)
    # the entity whose monthly share moved most
    best = None
    for ent in KEY_ENTITIES:
        d = _mean(e1, ent, basis) - _mean(e0, ent, basis)
        if best is None or np.abs(d).max() > np.abs(best[1]).max():
            best = (ent, d)
    ent, d = best
    win = _window(d)
    if win is None:
        story.when = "No month's share moves by more than one point."
        return story
    i0, i1 = win
    months = e0.months
    sl = slice(i0, i1 + 1)
    span = _month(months[i0]) if i0 == i1 else f"{_month(months[i0])} – {_month(months[i1])}"
    word = BASIS_WORDS[basis]
    story.when = (f"The difference is largest in {span}: {ent}'s share of {word} is {_pts(abs(d[sl].mean()), False)} "
                  f"points {'higher' if d[sl].mean() > 0 else 'lower'} than in the base (month by month, mean of the "
                  "runs).")
    why = []
    # other bases over the same months
    others = []
    for b2 in BASIS_WORDS:
        if b2 == basis:
            continue
        d2 = (_mean(e1, ent, b2) - _mean(e0, ent, b2))[sl].mean()
        others.append(f"of {BASIS_WORDS[b2]} by {_pts(d2)} points")
    why.append(f"Over the same months {ent}'s share moves {' and '.join(others)}.")
    # size of the market and the card mix
    t0, t1 = _mean(e0, "Total", "units")[sl].mean(), _mean(e1, "Total", "units")[sl].mean()
    if ent in ("Nvidia", "Huawei"):
        v0, v1 = _mean(e0, ent, "units")[sl].mean(), _mean(e1, ent, "units")[sl].mean()
        c0, c1 = _mean(e0, ent, "compute")[sl].mean(), _mean(e1, ent, "compute")[sl].mean()
        sent = (f"Buyers took {_k(t1)} cards a month in all (base {_k(t0)}), {_k(v1)} of them from {ent} "
                f"(base {_k(v0)}).")
        if v0 > 0 and v1 > 0:
            p0, p1 = c0 / v0, c1 / v1
            if abs(p1 / p0 - 1) > 0.1:
                sent += (f" Each {ent} card carried {p1:.2f} A100-equivalents of compute (base {p0:.2f}): the mix "
                         f"moved to {'stronger' if p1 > p0 else 'weaker'} cards, so shares of cards and of compute "
                         "move differently.")
        why.append(sent)
    elif t0 > 0:
        why.append(f"Buyers took {_k(t1)} cards a month in all (base {_k(t0)}).")
    # the buyers' choice (the Buyers page's decomposition, market-wide)
    c_0, c_1 = E.choice_terms(e0).iloc[sl], E.choice_terms(e1).iloc[sl]
    moved = {t: float(c_1[t].mean() - c_0[t].mean()) for t in TERM_WORDS}
    ranked = [(t, v) for t, v in sorted(moved.items(), key=lambda kv: -abs(kv[1])) if abs(v) >= 0.02][:2]
    ds0, ds1 = c_0["domestic_share"].mean(), c_1["domestic_share"].mean()
    if ranked:
        words = "; ".join(f"{TERM_WORDS[t]} ({'+' if v > 0 else '−'}{abs(v):.2f}, now favouring "
                          f"{'domestic' if v > 0 else 'foreign'} chips more)" for t, v in ranked)
        why.append(f"In the buyers' choice (domestic minus foreign utility, averaged over buyers and kinds of work) "
                   f"what moved most: {words}. The domestic share of what buyers choose went from {ds0:.0%} to "
                   f"{ds1:.0%}.")
    elif abs(ds1 - ds0) >= 0.01:
        why.append(f"The buyers' utility terms hardly moved, but the domestic share of what they choose went from "
                   f"{ds0:.0%} to {ds1:.0%} (floors, blocks or what was on offer).")
    else:
        why.append("The buyers' choice between domestic and foreign chips hardly moved: the difference comes from "
                   "what was on offer (supply, licences, smuggling), not from preferences.")
    # the rules that were changed, and what such a rule does
    ids = {e.id: e for e in base.events}
    for eid in list(s.off) + [i for i, _ in s.moved if i not in s.off]:
        e = ids.get(eid)
        if e is None:
            continue
        how = "Without it" if eid in s.off else "Moved"
        why.append(f"{how}: **{e.label or e.id}** ({e.actor}, announced {e.announced}, in force from {e.effective}). "
                   f"{e.words}")
    why += responses(base, s, e0, e1)
    why += reversals(base, s, e0, e1, story, basis)
    if len(story.changes) == 1:
        why.append("There is one change, so all of the difference is due to it.")
    elif len(story.changes) > 1:
        why.append(f"There are {len(story.changes)} changes; which one moved a number is split below.")
    story.why = why
    return story


def responses(base: Scenario, s: Settings, e0: E.Ensemble, e1: E.Ensemble) -> list[str]:
    """China's responses to US controls (``responds_to_us``) that took effect in the base's first run and
    not in the changed one's, the other way round, or later (rules the user switched off or moved left out:
    the panel names those already)."""
    mine = set(s.off) | {i for i, _ in s.moved}
    resp = {e.id: e for e in base.events if e.responds_to_us and e.id not in mine}
    if not resp or not e0.events or not e1.events:
        return []

    w0 = {k: v for k, v in E.first_applied(e0).items() if k in resp}
    w1 = {k: v for k, v in E.first_applied(e1).items() if k in resp}
    names = lambda ids: "; ".join(f"**{resp[i].label}**" for i in ids)   # noqa: E731
    out = []
    gone = [i for i in resp if i in w0 and i not in w1]
    came = [i for i in resp if i in w1 and i not in w0]
    later = [i for i in resp if i in w0 and i in w1 and w1[i] > w0[i]]
    if gone:
        out.append(f"China's responses to US export controls did not happen, because no US rule that tightens "
                   f"took effect: {names(gone)}.")
    if later:
        out.append("China's responses to US export controls waited for the first US rule that tightens: "
                   + "; ".join(f"**{resp[i].label}** ({w0[i]} → {w1[i]})" for i in later) + ".")
    if came:
        out.append(f"China's measures took effect here but not in the base: {names(came)}.")
    return out


_DIRECTIONS: dict[tuple[str, int], dict[str, int]] = {}


def rule_directions(base: Scenario) -> dict[str, int]:
    """How the model reads each rule of ``base`` when it is announced: +1 tightens, -1 eases, 0 neither
    (one model run, cached per scenario content)."""
    key = (base.name, hash(base.to_toml()))
    if key not in _DIRECTIONS:
        from sim.analysis.continuity import event_directions

        if len(_DIRECTIONS) > 32:
            _DIRECTIONS.clear()
        _DIRECTIONS[key] = event_directions(base)
    return _DIRECTIONS[key]


def reversals(base: Scenario, s: Settings, e0: E.Ensemble, e1: E.Ensemble, story: Story, basis: str) -> list[str]:
    """Lines that name it when a change to a rule that restricts foreign chips moves Nvidia's share the way
    strategists do not expect (switched off or moved later, yet lower; moved earlier, yet higher), with the
    mechanism when the model shows it: the card mix, or buying ahead of the rule."""
    ids = {e.id: e for e in base.events}
    moved = s.moved_dict
    changed = [(i, None) for i in s.off] + [(i, m) for i, m in moved.items() if i not in s.off]
    out = []
    for eid, month in changed:
        e = ids.get(eid)
        if e is None or rule_directions(base).get(eid) != 1:
            continue
        expect = 1 if month is None or month > e.effective else -1   # Nvidia's share: up without it or later
        first = min(e.effective, month or e.effective)
        wrong = [m for m in story.moves if m.label.startswith("Nvidia ") and m.delta is not None
                 and m.delta * expect < -0.005 and int(m.label.split()[1]) >= int(first[:4])]
        if not wrong:
            continue
        m = wrong[0]
        year = int(m.label.split()[1])
        how = "without it" if month is None else f"moved to {month}"
        line = (f"**A reversal:** *{e.label or e.id}* restricts foreign chips, yet {how} Nvidia's {year} share of "
                f"{BASIS_WORDS[basis]} is {_pts(abs(m.delta), False)} points {'lower' if m.delta < 0 else 'higher'}.")
        out.append(line + " " + _mechanism(e0, e1, year, m.delta, basis, how))
    return out + _price_reversals(base, s, e0, e1, story, basis)


def domestic_price_parameter(name: str) -> bool:
    """A parameter that sets a domestic chip's price: ``domestic.price_markup`` or a domestic product's
    ``products.<id>.price_usd``."""
    if name == "domestic.price_markup":
        return True
    parts = name.split(".")
    if len(parts) != 3 or parts[0] != "products" or parts[2] != "price_usd":
        return False
    return load_catalogue().get(parts[1], {}).get("vendor") in DOMESTIC_VENDORS


def _price_reversals(base: Scenario, s: Settings, e0: E.Ensemble, e1: E.Ensemble, story: Story,
                     basis: str) -> list[str]:
    """A lower domestic price that raises Nvidia's share: the buyers' budget when domestic chips are rationed
    (no such reversal is left in history since the August 2025 levy stopped counting as a tightening)."""
    cheaper = [k for k, v in s.param_dict.items()
               if domestic_price_parameter(k) and float(v) < float(base_value(base, k))]
    if not cheaper:
        return []
    wrong = [m for m in story.moves if m.label.startswith("Nvidia ") and m.delta is not None and m.delta > 0.005]
    if not wrong:
        return []
    m = wrong[0]
    year = int(m.label.split()[1])
    what = ", ".join(labels.label(k) for k in cheaper)
    line = (f"**A reversal:** cheaper domestic chips ({what}), yet Nvidia's {year} share of {BASIS_WORDS[basis]} is "
            f"{_pts(m.delta, False)} points higher.")
    sel = pd.DatetimeIndex(e0.months).year == year
    d0, d1 = _mean(e0, "Domestic", "units")[sel].sum(), _mean(e1, "Domestic", "units")[sel].sum()
    n0, n1 = _mean(e0, "Nvidia", "units")[sel].sum(), _mean(e1, "Nvidia", "units")[sel].sum()
    if n1 > n0 and d1 - d0 < n1 - n0:
        return [line + (f" The mechanism is the buyers' budget: domestic chips were rationed in {year} (their makers "
                        f"sold {_k(d1)} cards against {_k(d0)}: supply, not price, set the number), so the lower "
                        f"price freed money that bought {_k(n1 - n0)} more Nvidia cards.")]
    return [line + " The model does not show a single mechanism for it here; see docs/ODD.md, 'Continuity and "
            "directions'."]


def _mechanism(e0: E.Ensemble, e1: E.Ensemble, year: int, delta: float, basis: str, how: str) -> str:
    """The card mix or buying ahead when either accounts for a move of Nvidia's share in ``year``."""
    sel = pd.DatetimeIndex(e0.months).year == year
    v0, v1 = _mean(e0, "Nvidia", "units")[sel].sum(), _mean(e1, "Nvidia", "units")[sel].sum()
    c0, c1 = _mean(e0, "Nvidia", "compute")[sel].sum(), _mean(e1, "Nvidia", "compute")[sel].sum()
    ratio = (c1 / v1) / (c0 / v0) if min(v0, v1, c0) > 0 else 1.0   # compute per Nvidia card, now / as shipped
    if basis == "unit_share" and (ratio > 1.1 if delta < 0 else ratio < 1 / 1.1):
        return (f"The mechanism is the card mix: Nvidia's cards carried {c0 / v0:.2f} A100-equivalents each in "
                f"{year} as shipped and {c1 / v1:.2f} {how}, so its count of cards moved against its compute. Shares "
                "of compute or of value show the rule's direct effect.")
    a0, a1 = bought_ahead(e0, sel, basis), bought_ahead(e1, sel, basis)
    if (a1 - a0) * delta > 0 and abs(a1 - a0) >= 0.5 * abs(delta):
        return (f"The mechanism is buying ahead: Nvidia cards that buyers bought ahead of the rules they expected "
                f"were {_pts(a1, False)} points of the {year} market with the rule {how}, against {_pts(a0, False)} "
                "as shipped; those purchases were pulled forward from later months.")
    return ("The model does not show a single mechanism for it here (neither the card mix nor buying ahead); see the "
            "buyers' choice above and docs/ODD.md, 'Continuity and directions'.")


def bought_ahead(ens: E.Ensemble, sel: np.ndarray, basis: str) -> float:
    """Nvidia's legal cards bought ahead of expected rules (the hoarding orders) in the months ``sel``, as a
    share of the market on ``basis`` (mean over the runs of the sums)."""
    r = ens.records
    f = PRODUCT_FIELDS.index(E.SHARE_BASIS[basis])
    prod = r.product[:, sel]   # (runs, months in sel, products, fields)
    units = prod[..., PRODUCT_FIELDS.index("units")]
    per_card = np.divide(prod[..., f], units, out=np.zeros_like(units), where=units > 0)
    nv = r.vendor_of == VENDORS.index("Nvidia")
    nv[r.grey] = False
    ahead = (r.hoard[:, sel][..., nv] * per_card[..., nv]).sum()
    total = ens.series("Total", E.SHARE_BASIS[basis])[:, sel].sum()
    return float(ahead / total) if total > 0 else 0.0


def _k(x: float) -> str:
    return f"{x / 1e3:,.0f}k" if abs(x) >= 1e3 else f"{x:,.0f}"


OUTCOME_PREFIX = {"unit_share": "share", "value_share": "value_share", "compute_share": "compute_share"}


def outcome_names(basis: str) -> list[str]:
    """The headline numbers as outcome names of ``sim.experiments.summarize`` (for the attribution)."""
    return [f"{OUTCOME_PREFIX[basis]}:{ent}:{year}" for ent, year in HEADLINES]


def largest_move(story: Story, basis: str) -> str:
    """The outcome name of the headline number that moved most."""
    names = outcome_names(basis)
    best = max(range(len(story.moves)), key=lambda i: abs(story.moves[i].delta or 0.0))
    return names[best]


def attribution_groups(base: Scenario, s: Settings, target: Scenario) -> list:
    """One attribution group per change of ``s``, named in plain words (as in ``change_lines``)."""
    from sim.analysis import attribution as A

    named: dict[str, list[str]] = {}
    ids = {e.id: e for e in base.events}
    for k, v in s.params:
        named[f"{labels.label(k)} {_num(v)}"] = [A.PARAM + k]
    for eid in s.off:
        if eid in ids:
            named[f"no {ids[eid].label or eid}"] = [eid]
    for eid, m in s.moved:
        if eid in ids and eid not in s.off:
            named[f"{ids[eid].label or eid} from {m}"] = [eid]
    return A.make_groups(A.differences(target, base), named)


def attribution_table(result) -> pd.DataFrame:
    """A ``sim.analysis.attribution.Attribution`` as rows change, points, 95% interval (largest first)."""
    from sim.analysis.attribution import TOTAL

    t = result.table
    body = t[t["group"] != TOTAL]
    body = body.reindex(body["contribution"].abs().sort_values(ascending=False).index)
    rows = [(g, f"{100 * c:+.1f}".replace("-", "−"), f"± {100 * w:.1f}") for g, c, w in
            zip(body["group"], body["contribution"], body["conf"])]
    tot = t[t["group"] == TOTAL].iloc[0]
    rows.append(("all changes together", f"{100 * tot['contribution']:+.1f}".replace("-", "−"),
                 f"± {100 * tot['conf']:.1f}"))
    return pd.DataFrame(rows, columns=["change", "points", "95% interval"])
