"""Lessons for the Teach page: presets, checkpoints and the step-through narrative (no streamlit import)."""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

from sim.engine import ensemble as E
from sim.model import rules as _rules
from sim.model.scenario import Scenario
from sim.ui.settings import BANDS_DEFAULT, Settings


@dataclass(frozen=True)
class Lesson:
    id: str
    title: str
    question: str
    scenario: str
    last_month: str | None = None  # rules effective after this month are switched off

    def settings(self, base: Scenario, seeds: int, bands: str = BANDS_DEFAULT) -> Settings:
        off = tuple(e.id for e in base.events if self.last_month and e.effective > self.last_month)
        return Settings(scenario=self.scenario, off=off, seeds=seeds, bands=bands)


LESSONS: tuple[Lesson, ...] = (
    Lesson("rules-2022", "2022 rules only",
           "What if Washington had stopped after the October 2022 rule, and Beijing had done nothing?",
           "history", "2022-12"),
    Lesson("tightening-2023", "2023 tightening",
           "The October 2023 rule closed the A800/H800 gap. How far does that alone move buyers?",
           "history", "2023-12"),
    Lesson("history", "As it happened",
           "Every rule from 2022 to early 2026, replayed. Where does the market settle?", "history"),
    Lesson("full-decoupling", "Full decoupling",
           "From 2026 both sides cut all foreign supply. Can domestic vendors fill the gap?", "full-decoupling"),
    Lesson("us-reopens", "US reopens",
           "The H200 opening works and China lets the chips in. Does Nvidia win its market back?", "us-reopens"),
)
LESSON_IDS = tuple(x.id for x in LESSONS)


def lesson(lid: str) -> Lesson:
    for x in LESSONS:
        if x.id == lid:
            return x
    return LESSONS[0]


@dataclass(frozen=True)
class Checkpoint:
    id: str
    question: str
    kind: str  # "share" or "year"
    observed: str = ""


CHECKPOINTS: tuple[Checkpoint, ...] = (
    Checkpoint("nvidia-2025", "What share of the cards delivered in China in 2025 will be Nvidia's?", "share",
               "Observed (IDC): about 55% (range 48-62%)."),
    Checkpoint("domestic-2027", "What share of the cards delivered in 2027 will be domestic (Huawei and the other "
               "Chinese vendors)?", "share", "Analysts' forecasts for 2027: 55% (Bernstein) to 82% (Morgan Stanley)."),
    Checkpoint("passing-year", "In which year will Huawei first deliver more cards than Nvidia in a month?", "year",
               "Observed: Nvidia still led in 2025 by units (IDC)."),
)
NOT_BY = "not by 2030"


def answer(cp: Checkpoint, ens: E.Ensemble) -> float | str:
    """The model's answer to a checkpoint (a share, or a year / NOT_BY)."""
    if cp.id == "passing-year":
        m = E.passing_month(ens, "unit_share")
        return str(m.year) if m is not None else NOT_BY
    ann = E.annual(ens, "unit_share", ("Nvidia", "Domestic"))
    year, ent = (2025, "Nvidia") if cp.id == "nvidia-2025" else (2027, "Domestic")
    return float(ann.loc[year, ent]) if year in ann.index else float("nan")


def compare_words(cp: Checkpoint, guess, model) -> str:
    """The model's answer set against the guess, in one wording (used for every reveal): "The model says
    45%: 11 points above your guess of 34%."."""
    if cp.kind == "share":
        d = round(100 * (model - guess))
        if d == 0:
            rel = "the same as your guess"
        else:
            rel = (f"{abs(d)} point{'s' if abs(d) != 1 else ''} {'above' if d > 0 else 'below'} your guess of "
                   f"{guess:.0%}")
        return f"The model says {model:.0%}: {rel}."
    g, m = str(guess), str(model)
    if g == m:
        return f"The model says {m}: the same as your guess."
    if NOT_BY in (g, m):
        return f"The model says {m}; your guess was {g}."
    d = int(m) - int(g)
    years = f"{abs(d)} year{'s' if abs(d) != 1 else ''}"
    return f"The model says {m}: {years} {'later' if d > 0 else 'earlier'} than your guess."


def verdict(cp: Checkpoint, guess, model) -> str:
    """The reveal: ``compare_words`` and a prompt to discuss."""
    if cp.kind == "share":
        close = abs(guess - model) <= 0.05
        return compare_words(cp, guess, model) + (" Close!" if close else " Why might the model differ from your "
                                                                          "intuition?")
    same = str(guess) == str(model)
    return compare_words(cp, guess, model) + (" Spot on!" if same else " What drives the difference?")


def month_state(ens: E.Ensemble, month: str) -> dict:
    """The model's market at a month (mean over seeds): unit shares and their change over 3 months."""
    months = pd.DatetimeIndex(ens.months).strftime("%Y-%m").tolist()
    if month not in months:
        return {}
    t = months.index(month)
    t0 = max(0, t - 3)
    out = {"month": month}
    for e in ("Nvidia", "Huawei", "Domestic"):
        x = ens.series(e, "unit_share").mean(axis=0)
        out[e] = float(x[t])
        out[f"{e}_change"] = float(x[t] - x[t0])
    out["stockpile"] = float(sum(ens.series(b, "stockpile_units").mean(axis=0)[t] for b in _buyers()))
    return out


def _buyers():
    from sim.model.ids import BUYERS

    return BUYERS


def _kind(cls) -> str:
    return cls.model_fields["kind"].annotation.__args__[0]


# kinds of rule that can cut foreign supply: those that say when they restrict, and China's import blocks
RESTRICTING = tuple(_kind(c) for c in _rules.EVENT_TYPES
                    if c.restricts is not _rules._Event.restricts or c is _rules.ImportBlock)
BUYING_AHEAD_MIN = 0.10   # buying ahead is explained in months when it is at least this share of deliveries


@dataclass(frozen=True)
class Narrative:
    """The step-through text for a month: paragraphs (Markdown, sources marked [1], [2], ...) and the
    footnotes they point to (number, Markdown)."""
    paragraphs: list[str]
    notes: list[tuple[str, str]]


def buying_ahead(sc: Scenario, ens: E.Ensemble, month: str) -> str | None:
    """A paragraph on cards bought ahead of a rule, for a month in which buying ahead is at least
    BUYING_AHEAD_MIN of the legal deliveries (mean over runs); None otherwise."""
    rec = ens.records
    if rec is None or month not in rec.months:
        return None
    t = rec.months.index(month)
    hoard = float(rec.hoard[:, t, :].sum(axis=1).mean())
    legal = [i for i in range(len(rec.product_ids)) if i != rec.grey]
    total = float(rec.product[:, t, legal, 0].sum(axis=1).mean())
    if total <= 0 or hoard < BUYING_AHEAD_MIN * total:
        return None
    before = [e for e in sc.events if e.announced <= month and e.kind in RESTRICTING]
    coming = [e for e in before if e.effective > month]
    trigger = (coming or sorted(before, key=lambda e: e.announced))[-1] if before else None
    if trigger is None:
        why = "buyers expect foreign supply to be cut"
    elif trigger.effective > month:
        why = (f"{trigger.actor} announced *{trigger.label or trigger.id}* in {trigger.announced}, binding only from "
               f"{trigger.effective}, so buyers order the chips it will stop while they still can")
    else:
        why = (f"since *{trigger.label or trigger.id}* ({trigger.actor}, announced {trigger.announced}) buyers "
               "expect foreign supply to be cut again, and keep ordering chips at risk while they still can")
    stock = float(sum(ens.series(b, "stockpile_units").mean(axis=0)[t] for b in _buyers()))
    return (f"**Buying ahead.** {hoard / 1e3:,.0f} thousand of this month's {total / 1e3:,.0f} thousand cards "
            f"({hoard / total:.0%}) were bought early, not for use now: {why}. These cards go into unopened "
            f"stockpiles ({stock / 1e3:,.0f} thousand cards now) and are put to work over the following months.")


def _product_name(pid: str) -> str:
    from sim.model.params import load_catalogue

    return load_catalogue().get(pid, {}).get("name", pid.replace("_", " "))


def narrative(sc: Scenario, ens: E.Ensemble, month: str) -> Narrative:
    """Short paragraphs for a month: rules announced or taking effect (sources as footnotes), buying
    ahead of a rule when it matters, model-made events, and the market."""
    from sim.ui.explain import event_story, source_markdown

    out, notes = [], []

    def note(e) -> str | None:
        if not getattr(e, "source", ""):
            return None
        notes.append((str(len(notes) + 1), source_markdown(e.source)))
        return notes[-1][0]

    covered = E.block_coverage(ens, 0)
    for e in E.events_taken(ens, sc.events):   # China's responses only if and when they took effect
        if e.effective == month:
            out.append(event_story(e, note=note(e)))
            if covered.get(e.id) and getattr(e, "_class_fields", lambda: {})():
                out.append(f"**It names a class of chips**, so it covers parts launched later too; by the end of "
                           f"the run: {', '.join(_product_name(x) for x in covered[e.id])}.")
        elif e.announced == month:
            n = note(e)
            out.append(f"**Announced: {e.actor}: {e.label or e.id}.**{f' [{n}]' if n else ''} Binding from "
                       f"{e.effective}. Until then buyers can still get the chips it will stop, and those who "
                       "expect it order ahead.")
    ahead = buying_ahead(sc, ens, month)
    if ahead:
        out.append(ahead)
    for m, eid in E.events_applied(ens, 0):
        if m == month and eid not in {e.id for e in sc.events}:
            out.append(f"**In the model:** {eid.replace('-', ' ')} (the model's own reaction this month).")
    st = month_state(ens, month)
    if st:
        def ch(x):
            d = round(100 * x)
            return f"{d:+d} point{'' if abs(d) == 1 else 's'} over 3 months"
        out.append(f"**The market in {month}:** Nvidia {st['Nvidia']:.0%} of cards ({ch(st['Nvidia_change'])}), "
                   f"Huawei {st['Huawei']:.0%} ({ch(st['Huawei_change'])}), all domestic vendors "
                   f"{st['Domestic']:.0%}. Unopened stockpiles: {st['stockpile'] / 1e3:,.0f} thousand cards.")
    return Narrative(out, notes)


def rule_months(sc: Scenario) -> list[str]:
    months = set(sc.months)
    return sorted({e.effective for e in sc.events if e.effective in months} |
                  {e.announced for e in sc.events if e.announced in months})


STEP_EVERY = 12  # months: the longest step of "Next rule" / "Previous rule"


def step_stops(months: list[str], marks: list[str], every: int = STEP_EVERY) -> list[str]:
    """The months "Previous rule" / "Next rule" stop at: every rule month, the first and last month, and
    even steps of at most ``every`` months across longer gaps (after the last rule too)."""
    idx = {m: i for i, m in enumerate(months)}
    stops = sorted({0, len(months) - 1} | {idx[m] for m in marks if m in idx})
    out = []
    for a, b in zip(stops, stops[1:]):
        out.append(a)
        gap = b - a
        if gap > every:
            n = -(-gap // every)
            out += [a + round(gap * k / n) for k in range(1, n)]
    out.append(stops[-1])
    return [months[i] for i in sorted(set(out))]


def step(months: list[str], marks: list[str], current: str, direction: int) -> str:
    """The next (direction > 0) or previous stop from ``current``."""
    stops = step_stops(months, marks)
    if direction > 0:
        nxt = [m for m in stops if m > current]
        return nxt[0] if nxt else months[-1]
    prv = [m for m in stops if m < current]
    return prv[-1] if prv else months[0]
