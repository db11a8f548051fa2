"""The session's run history: the settings of each result shown on Explore, newest last (at most
``MAX_RUNS``), with their mean share lines so that the previous result can be drawn faintly without
running it again. Compare picks A and B from it (as AnyLogic Cloud keeps past runs of a model)."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from sim.engine import ensemble as E
from sim.ui.settings import BASES, Settings

MAX_RUNS = 12
PREFIX = "run:"


def _store() -> list[dict]:
    return st.session_state.setdefault("run_history", [])


def record(s: Settings, label: str, ens: E.Ensemble, entities) -> None:
    """Add the result of ``s`` (unless it is already the newest entry)."""
    h = _store()
    if h and h[-1]["settings"] == s:
        if h[-1].get("runs", ens.n_runs) < ens.n_runs:   # a preview, now complete: keep its place
            h[-1]["lines"] = {b: E.share_bands(ens, b, entities)[["date", "entity", "mean"]] for b in BASES}
            h[-1]["runs"] = ens.n_runs
        return
    n = st.session_state.get("run_counter", 0) + 1
    st.session_state["run_counter"] = n
    lines = {b: E.share_bands(ens, b, entities)[["date", "entity", "mean"]] for b in BASES}
    h[:] = [x for x in h if x["settings"] != s][-(MAX_RUNS - 1):] + [
        {"id": n, "settings": s, "label": label, "lines": lines, "runs": ens.n_runs}]


def entries() -> list[dict]:
    """Newest first."""
    return list(reversed(_store()))


def previous(s: Settings) -> dict | None:
    """The entry shown before the result of ``s`` (when ``s`` is the newest entry)."""
    h = _store()
    if len(h) >= 2 and h[-1]["settings"] == s:
        return h[-2]
    return None


def get(key: str) -> dict | None:
    """The entry named ``run:N`` (None if it is not, or no longer, in this session's history)."""
    if not key.startswith(PREFIX):
        return None
    try:
        n = int(key[len(PREFIX):])
    except ValueError:
        return None
    for x in _store():
        if x["id"] == n:
            return x
    return None


def prev_lines(s: Settings, basis: str) -> pd.DataFrame | None:
    p = previous(s)
    return p["lines"][basis] if p is not None else None
