"""Session state, the URL, cached runs and uploaded scenarios (the only stateful part of the app).

Every browser session has its own ``st.session_state``: settings, view and saved snapshots live there and
in the session's URL, never in module globals, so sessions never see each other's settings. Results are
cached server-wide by their inputs (a sorted, hashable key), which is safe to share: equal inputs give
equal results.
"""

from __future__ import annotations

import hashlib
import os
import threading
from collections import OrderedDict
from contextlib import contextmanager
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
    from sim.ui.outputs import result_folders

    parsed = from_query({**q, "scenario": [name]}, known, base, lessons=LESSON_IDS,
                        grids=list(result_folders()) if q.get("grid") else None)
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


# Runs are cached server-wide by their inputs in a small LRU store. A new input draws a quick preview
# from the first PREVIEW_SEEDS seeds, then the page finishes the remaining seeds (``finish_pending``) and
# redraws with the full ensemble; the full ensemble is exactly the preview's runs plus the rest (seeds
# are derived by index, and a batch equals its runs alone). Progress updates are the points where
# Streamlit stops a run whose input has been superseded, so only the latest input keeps computing.
PREVIEW_SEEDS = 5
PROGRESS_AFTER_S = 0.2   # a progress bar appears only for runs that take longer than this
# Limits of a shared server (environment variables override them; docs/SECURITY.md):
CACHE_MB = float(os.environ.get("CHIPSHIFT_APP_CACHE_MB", "512"))          # all cached ensembles together
MAX_RUN_MONTHS = int(os.environ.get("CHIPSHIFT_APP_MAX_RUN_MONTHS", "7200"))  # seeds x months per request
# analyses run on request (attribution: 2^changes scenarios x seeds) have their own, larger budget
MAX_ANALYSIS_RUN_MONTHS = int(os.environ.get("CHIPSHIFT_APP_MAX_ANALYSIS_RUN_MONTHS", "250000"))
SLICE_SEEDS = PREVIEW_SEEDS   # a request holds a compute slot for at most this many seeds at a time


class OverBudget(Exception):
    """A request larger than one session may ask of the shared server."""

    def lines(self) -> list[str]:
        return [str(self)]


class _RunCache:
    """Ensembles by input key (LRU, bounded in bytes, thread-safe) and the server's compute slots, one
    per CPU. A request takes a slot per slice of SLICE_SEEDS seeds and gives it back between slices, and
    waiting requests are served first come, first served: a long request cannot starve a short one of
    another session."""

    def __init__(self, max_bytes: float, slots: int):
        self._d: OrderedDict = OrderedDict()
        self._size: dict = {}
        self._lock = threading.Lock()
        self.max_bytes = max_bytes
        self.slots = max(1, slots)
        self._busy = 0
        self._queue: list[object] = []
        self._cv = threading.Condition()

    def get(self, key):
        with self._lock:
            if key in self._d:
                self._d.move_to_end(key)
                return self._d[key]
        return None

    def put(self, key, value) -> None:
        size = value.records.nbytes() if getattr(value, "records", None) is not None else value.values.nbytes
        with self._lock:
            self._d[key] = value
            self._size[key] = size
            self._d.move_to_end(key)
            while len(self._d) > 1 and sum(self._size.values()) > self.max_bytes:
                old, _ = self._d.popitem(last=False)
                self._size.pop(old, None)

    @property
    def nbytes(self) -> int:
        with self._lock:
            return sum(self._size.values())

    def acquire(self, ticket: object, timeout: float) -> bool:
        """Take a compute slot in arrival order; False if none came free within ``timeout``."""
        with self._cv:
            if ticket not in self._queue:
                self._queue.append(ticket)
            ok = self._cv.wait_for(lambda: self._busy < self.slots and self._queue[0] is ticket, timeout)
            if ok:
                self._queue.pop(0)
                self._busy += 1
                self._cv.notify_all()
            return ok

    def leave(self, ticket: object) -> None:
        with self._cv:
            if ticket in self._queue:
                self._queue.remove(ticket)
                self._cv.notify_all()

    def release(self) -> None:
        with self._cv:
            self._busy -= 1
            self._cv.notify_all()


@st.cache_resource(show_spinner=False)
def _runs() -> _RunCache:
    cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    return _RunCache(CACHE_MB * 2**20, cpus)


def _key(s: Settings, seeds: int) -> tuple:
    return (s.scenario, s.params, s.off, s.moved, int(seeds), _scenario_version())


@contextmanager
def compute_slot(ticket: object, waiting=None):
    """Hold one of the server's compute slots (taken in arrival order) for the block; ``waiting(seconds)``
    is called while other requests are ahead."""
    import time

    runs = _runs()
    t0 = time.perf_counter()
    try:
        while not runs.acquire(ticket, timeout=0.25):
            if waiting is not None:
                waiting(time.perf_counter() - t0)
        try:
            yield
        finally:
            runs.release()
    finally:
        runs.leave(ticket)


def check_budget(sc: Scenario, seeds: int, analysis: bool = False) -> None:
    """Refuse a request of more run-months than one session may ask of the server (``OverBudget``)."""
    months = len(sc.months)
    limit = MAX_ANALYSIS_RUN_MONTHS if analysis else MAX_RUN_MONTHS
    if seeds * months > limit:
        how = ("fewer changes or runs here, or `python -m sim attribute`" if analysis else
               "fewer runs or a shorter horizon here, or `python -m sim run`")
        raise OverBudget(f"{seeds:,} runs of {months} months ({seeds * months:,} run-months) is more than this "
                         f"server runs for one request ({limit:,} run-months). Use {how}.")


def _compute(sc: Scenario, n: int, first_seed: int, label: str) -> E.Ensemble:
    """Run seeds first_seed .. first_seed + n - 1 in this session's script thread, slice by slice, each
    slice in a compute slot. Waiting for a slot and every progress update are points where Streamlit
    stops a run whose input has been superseded."""
    import time

    runs = _runs()
    box = st.empty()
    t0 = time.perf_counter()
    bar = None
    parts = []
    ticket = object()
    try:
        for lo in range(first_seed, first_seed + n, SLICE_SEEDS):
            k = min(SLICE_SEEDS, first_seed + n - lo)
            while not runs.acquire(ticket, timeout=0.25):
                box.caption(f"Waiting for the server: other runs are ahead ({time.perf_counter() - t0:.0f} s)…")
                bar = None
            try:
                done_before = lo - first_seed

                def on_month(done: int, total: int, done_before=done_before, k=k) -> None:
                    nonlocal bar
                    if bar is None and time.perf_counter() - t0 > PROGRESS_AFTER_S:
                        bar = box.progress(0.0, text=label)
                    if bar is not None and (done % 6 == 0 or done == total):
                        bar.progress(min(1.0, (done_before + k * done / total) / n), text=label)

                parts.append(E.run_ensemble(sc, k, on_month=on_month, first_seed=lo).records)
            finally:
                runs.release()
    finally:
        runs.leave(ticket)
        box.empty()
    return E.Ensemble.from_records(parts[0] if len(parts) == 1 else parts[0].concat(parts))


def ensemble(s: Settings, what: str = "", preview: bool = True) -> E.Ensemble:
    """The seed ensemble for these settings (cached by input; computed once per distinct input).

    With ``preview`` a new input returns the first PREVIEW_SEEDS seeds at once and leaves the rest to
    ``finish_pending`` (called by the page after drawing), which redraws the page with all seeds."""
    runs = _runs()
    key = _key(s, s.seeds)
    full = runs.get(key)
    if full is not None:
        return full
    sc = apply(_load_base(s.scenario, _scenario_version()), s)
    check_budget(sc, s.seeds)
    first = min(s.seeds, PREVIEW_SEEDS) if preview else s.seeds
    pkey = _key(s, first)
    pre = runs.get(pkey)
    if pre is None:
        label = f"Running {first} runs of the model{' for ' + what if what else ''}…"
        pre = _compute(sc, first, 0, label)
        runs.put(pkey, pre)
    if first == s.seeds:
        return pre
    st.session_state.setdefault("_pending", {})[key] = (sc, first, what)
    return pre


def is_preview(ens: E.Ensemble, s: Settings) -> bool:
    return ens.n_runs < s.seeds


def finish_pending() -> None:
    """Complete the ensembles the page drew as previews, then redraw the page with them."""
    pending = st.session_state.pop("_pending", None)
    if not pending:
        return
    runs = _runs()
    for key, (sc, first, what) in pending.items():
        if runs.get(key) is not None:
            continue
        pre = runs.get(key[:4] + (first, key[5]))
        n = key[4]
        label = f"Completing the ensemble: runs {first + 1}–{n} of {n}{' for ' + what if what else ''}…"
        rest = _compute(sc, n - first, first, label)
        base = pre.records if pre is not None else _compute(sc, first, 0, label).records
        runs.put(key, E.Ensemble.from_records(base.concat([base, rest.records])))
    st.rerun()


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
