"""Lessons for the Teach page: presets, checkpoints and the step-through narrative (no streamlit import)."""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

from sim.engine import ensemble as E
from sim.model.scenario import Scenario
from sim.ui.settings import Settings


@dataclass(frozen=True)
class Lesson:
    id: str
    title: str
    question: str
    scenario: str
    last_month: str | None = None  # rules effective after this month are switched off

    def settings(self, base: Scenario, seeds: int) -> Settings:
        off = tuple(e.id for e in base.events if self.last_month and e.effective > self.last_month)
        return Settings(scenario=self.scenario, off=off, seeds=seeds)


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


def verdict(cp: Checkpoint, guess, model) -> str:
    if cp.kind == "share":
        d = guess - model
        close = abs(d) <= 0.05
        return (f"Your guess {guess:.0%}, the model {model:.0%} ({100 * d:+.0f} points). "
                + ("Close!" if close else "Why might the model differ from your intuition?"))
    same = str(guess) == str(model)
    return f"Your guess: {guess}. The model: {model}. " + ("Spot on!" if same else "What drives the difference?")


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


def narrative(sc: Scenario, ens: E.Ensemble, month: str) -> list[str]:
    """Short paragraphs for a month: rules announced or taking effect, model-made events, and the market."""
    from sim.ui.explain import event_story

    out = []
    for e in sc.events:
        if e.effective == month:
            out.append(event_story(e))
        elif e.announced == month:
            out.append(f"**Announced: {e.actor}: {e.label or e.id}** (binding from {e.effective}). Buyers who expect "
                       "the rule pull orders forward.")
    for m, eid in E.events_applied(ens, 0):
        if m == month and eid not in {e.id for e in sc.events}:
            out.append(f"**In the model:** {eid.replace('-', ' ')} (the model's own reaction this month).")
    st = month_state(ens, month)
    if st:
        def ch(x):
            return f"{100 * x:+.0f} points over 3 months"
        out.append(f"**The market in {month}:** Nvidia {st['Nvidia']:.0%} of cards ({ch(st['Nvidia_change'])}), "
                   f"Huawei {st['Huawei']:.0%} ({ch(st['Huawei_change'])}), all domestic vendors "
                   f"{st['Domestic']:.0%}. Unopened stockpiles: {st['stockpile'] / 1e3:,.0f} thousand cards.")
    return out


def rule_months(sc: Scenario) -> list[str]:
    months = set(sc.months)
    return sorted({e.effective for e in sc.events if e.effective in months} |
                  {e.announced for e in sc.events if e.announced in months})
