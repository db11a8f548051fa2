"""Session state, the URL, cached runs and uploaded scenarios (the only stateful part of the app).

Every browser session has its own ``st.session_state``: settings, view and saved snapshots live there and
in the session's URL, never in module globals, so sessions never see each other's settings. Results are
cached server-wide by their inputs (a sorted, hashable key), which is safe to share: equal inputs give
equal results.
"""

from __future__ import annotations

import hashlib
import threading
from collections import OrderedDict
from dataclasses import replace

import streamlit as st

from sim.engine import ensemble as E
from sim.model.calendar import month_index, month_str
from sim.model.scenario import (
    SCENARIO_DIR,
    Scenario,
    ScenarioError,
    list_scenarios,
    load_scenario,
    load_scenario_text,
)
from sim.ui.settings import (
    DEFAULT_SCENARIO,
    UPLOAD_PREFIX,
    Settings,
    View,
    apply,
    from_query,
    to_query,
)
from sim.ui.teach_content import LESSON_IDS

MAX_UPLOAD_BYTES = 1_000_000  # same limit as scenario files read by the command line
_UPLOAD_SLOTS = 64


# ---------------------------------------------------------------- scenarios


@st.cache_resource
def _upload_store() -> tuple[OrderedDict, threading.Lock]:
    """Uploaded scenario texts by content digest (bounded). A link can name an upload by digest only."""
    return OrderedDict(), threading.Lock()


def store_upload(text: str) -> str:
    key = UPLOAD_PREFIX + hashlib.sha256(text.encode("utf-8")).hexdigest()[:16]
    store, lock = _upload_store()
    with lock:
        store[key] = text
        store.move_to_end(key)
        while len(store) > _UPLOAD_SLOTS:
            store.popitem(last=False)
    return key


def upload_text(key: str) -> str | None:
    store, lock = _upload_store()
    with lock:
        return store.get(key)


def _scenario_version() -> float:
    return sum(p.stat().st_mtime for p in SCENARIO_DIR.glob("*.toml"))


@st.cache_data(max_entries=32, show_spinner=False)
def _load_base(name: str, version: float) -> Scenario:
    if name.startswith(UPLOAD_PREFIX):
        text = upload_text(name)
        if text is None:
            raise ScenarioError([(name, "-", "this uploaded scenario is no longer on the server; upload it again")])
        return load_scenario_text(text, "upload.toml")
    return load_scenario(name)


def base_scenario(name: str) -> Scenario:
    return _load_base(name, _scenario_version())


def validate_upload(data: bytes, fname: str) -> Scenario:
    """Check an uploaded file exactly as the command line would (size, UTF-8, TOML, schema). Never runs
    or unpickles anything."""
    if len(data) > MAX_UPLOAD_BYTES:
        raise ScenarioError([(fname, "-", f"file is larger than {MAX_UPLOAD_BYTES} bytes")])
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as e:
        raise ScenarioError([(fname, "-", f"not UTF-8 text ({e.reason})")]) from None
    return load_scenario_text(text, fname)


def scenario_label(name: str) -> str:
    if name.startswith(UPLOAD_PREFIX):
        up = st.session_state.get("upload_names", {}).get(name)
        return f"Uploaded: {up}" if up else f"Uploaded scenario ({name[len(UPLOAD_PREFIX):][:8]})"
    return name


# ---------------------------------------------------------------- settings in the session and the URL


def init() -> None:
    """Read settings from the URL on the session's first run."""
    ss = st.session_state
    if "settings" in ss:
        return
    q = {k: st.query_params.get_all(k) for k in st.query_params.keys()}
    known = list_scenarios()
    first = from_query(q, known)
    # the first pass only finds the base scenario; everything else is checked against it below
    name, problems = first.settings.scenario, [p for p in first.problems if p.startswith("scenario:")]
    try:
        base = base_scenario(name)
    except ScenarioError as e:
        problems += e.lines()
        name = DEFAULT_SCENARIO
        base = base_scenario(name)
    parsed = from_query({**q, "scenario": [name]}, known, base, lessons=LESSON_IDS)
    ss["settings"] = parsed.settings
    ss["view"] = parsed.view
    ss["url_problems"] = list(dict.fromkeys(problems + parsed.problems))
    ss["saved"] = {}
    ss["upload_names"] = {}


def settings() -> Settings:
    return st.session_state["settings"]


def view() -> View:
    return st.session_state["view"]


def set_settings(s: Settings) -> None:
    st.session_state["settings"] = s


def set_view(**changes) -> None:
    st.session_state["view"] = replace(st.session_state["view"], **changes)


def sync_url() -> None:
    """Write the current settings and view into the URL (only when they changed)."""
    want = to_query(settings(), view())
    have = {k: st.query_params.get_all(k) for k in st.query_params.keys()}
    norm = {k: (v if isinstance(v, list) else [v]) for k, v in want.items()}
    if have != norm:
        st.query_params.from_dict(want)


def show_url_problems() -> None:
    probs = st.session_state.get("url_problems") or []
    if probs:
        st.warning("Some settings in the link were not used:\n\n" + "\n".join(f"- {p}" for p in probs))
        st.session_state["url_problems"] = []


KEEP = ("w:upload",)  # the uploader keeps its file; the upload is processed once by file id
WIDGET_PREFIXES = ("p:", "on:", "mo:", "w:", "v:", "g:")


def clear_widgets(prefixes=("p:", "on:", "mo:", "w:scenario", "w:seeds")) -> None:
    for k in list(st.session_state.keys()):
        if isinstance(k, str) and k.startswith(prefixes) and k not in KEEP:
            del st.session_state[k]


# ---------------------------------------------------------------- runs


@st.cache_data(max_entries=16, show_spinner=False)
def _ensemble(scenario: str, params: tuple, off: tuple, moved: tuple, seeds: int, version: float) -> E.Ensemble:
    s = Settings(scenario, params, off, moved, seeds)
    sc = apply(_load_base(scenario, version), s)
    return E.run_ensemble(sc, seeds)


def ensemble(s: Settings, what: str = "") -> E.Ensemble:
    """The seed ensemble for these settings (cached by input; computed once per distinct input)."""
    msg = f"Running {s.seeds} seeds{' for ' + what if what else ''}…"
    with st.spinner(msg, show_time=True):
        return _ensemble(s.scenario, s.params, s.off, s.moved, s.seeds, _scenario_version())


def current_scenario() -> Scenario:
    return apply(base_scenario(settings().scenario), settings())


def warm() -> None:
    """Load the model's compiled kernels once per server process, so the first run does not pay for it."""
    _warm_model()


@st.cache_resource(show_spinner=False)
def _warm_model() -> bool:
    sc = base_scenario(DEFAULT_SCENARIO)
    E.run_ensemble(sc.with_changes(header={"end": month_str(month_index(sc.header.start) + 1)}), 1)
    return True
