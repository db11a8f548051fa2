"""Words for the decision trace and for rule events (no streamlit import)."""

from __future__ import annotations

import re
from urllib.parse import urlsplit

import pandas as pd

from sim.engine.runs import TRACE_TERMS

TERM_WORDS = {
    "performance": "performance per card for this work",
    "price": "cost per unit of compute (price, energy, levies, subsidies)",
    "switching": "the cost of switching away from CUDA",
    "risk": "the expected risk that foreign supply is cut",
    "policy": "Chinese policy (guidance, blocks, pressure on foreign vendors)",
}

def switch_story(terms: pd.DataFrame, buyer: str, tier: str, window: int = 12) -> str:
    """A short account of the biggest move towards (or away from) domestic chips in one buyer's tier.

    terms: columns date, the TRACE_TERMS (domestic minus foreign) and domestic_share (sim.ui.ensemble)."""
    if terms.empty:
        return "No decisions were recorded."
    share = terms["domestic_share"].to_numpy()
    n = len(share)
    if n <= window:
        return "The horizon is too short to describe a switch."
    change = share[window:] - share[:-window]
    i = int(abs(change).argmax()) + window
    j = i - window
    d0, d1 = pd.Timestamp(terms["date"].iloc[j]), pd.Timestamp(terms["date"].iloc[i])
    delta = share[i] - share[j]
    if abs(delta) < 0.02:
        return (f"{buyer}'s {tier.replace('_', ' ')} work hardly moves: the domestic share stays near "
                f"{share.mean():.0%} over the whole horizon.")
    direction = "towards domestic chips" if delta > 0 else "back towards foreign chips"
    moves = {t: float(terms[t].iloc[i] - terms[t].iloc[j]) for t in TRACE_TERMS}
    ranked = sorted(moves.items(), key=lambda kv: -abs(kv[1]))
    drivers = [(t, v) for t, v in ranked if abs(v) > 1e-6][:3]
    words = []
    for t, v in drivers:
        side = "domestic" if v > 0 else "foreign"
        words.append(f"{TERM_WORDS[t]} ({'+' if v > 0 else '−'}{abs(v):.2f}, favouring {side})")
    why = "; ".join(words) if words else "no utility term changed (floors and caps did the work)"
    unc = terms["domestic_share_unconstrained"].to_numpy()
    floor_note = ""
    if share[i] - unc[i] > 0.05:
        floor_note = (f" Policy floors or blocks did part of the work: by choice alone the domestic share "
                      f"would have been {unc[i]:.0%}.")
    return (f"Biggest move: between {d0:%b %Y} and {d1:%b %Y}, {buyer}'s {tier.replace('_', ' ')} work moved "
            f"{direction}, from {share[j]:.0%} to {share[i]:.0%} domestic. What changed most in the utility "
            f"comparison (domestic minus foreign): {why}.{floor_note}")


def event_story(e, note: str | None = None) -> str:
    """One paragraph for a rule event (an object with actor, label, kind, announced, effective, source).
    With ``note`` (e.g. "1") the source is a footnote mark ``[1]`` (its text from ``source_markdown``);
    without, the source is written out in plain words."""
    what = (e.words or e.kind)
    ann = f" Announced {e.announced}, binding from {e.effective}." if e.announced != e.effective else ""
    if note is not None:
        src = f" [{note}]"
    else:
        src = f" Source: {source_markdown(e.source)}" if getattr(e, "source", "") else ""
    return f"**{e.actor}: {e.label or e.id}.**{src} {what}{ann}"


_URL = re.compile(r"https?://[^\s;,)]+")
_NOT_FOUND = re.compile(r"^(?P<what>.*?)\s*NOT FOUND,?\s*assumption\.?$", re.IGNORECASE)


def _domain(url: str) -> str:
    host = urlsplit(url).netloc.lower()
    return host[4:] if host.startswith("www.") else host


def source_markdown(source: str) -> str:
    """A rule's source as readable Markdown: every web address becomes a link named by its site, and an
    "X NOT FOUND, assumption" note says in words that the model assumes the value."""
    parts = []
    for raw in re.split(r"\s*;\s*", source or ""):
        part = raw.strip()
        if not part:
            continue
        m = _NOT_FOUND.match(part)
        if m:
            what = m.group("what").strip() or "the value"
            parts.append(f"{what[0].upper() + what[1:]}: no published figure found; the model assumes one")
            continue
        part = _URL.sub(lambda u: f"[{_domain(u.group(0))}]({u.group(0)})", part)
        part = re.sub(r"(\S) (\[[^\]]+\]\(http)", r"\1, \2", part)   # "WSGR https://…" -> "WSGR, [wsgr.com](…)"
        parts.append(part)
    text = "; ".join(parts)
    return text + ("." if text and not text.endswith(".") else "")
