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
import time
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
    band_sets,
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
    from sim.ui.folders import outputs_root, result_folders

    parsed = from_query({**q, "scenario": [name]}, known, base, lessons=LESSON_IDS,
                        grids=list(result_folders(outputs_root())) if q.get("grid") else None)
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


def clear_widgets(prefixes=("p:", "on:", "mo:", "w:scenario", "w:seeds", "w:bands")) -> None:
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
# Requests compute in the page's own process, and a model run holds the interpreter lock for most of its
# time: a second thread computing at once adds no throughput but slows every page. So by default one
# request computes at a time, slice by slice in arrival order (tests/test_app_sharing.py).
COMPUTE_SLOTS = max(1, int(os.environ.get("CHIPSHIFT_APP_COMPUTE_SLOTS", "1")))
# Seeds past a request's preview are background work: they give way to other sessions' requests at once
# (between two months) and to other sessions' pages being drawn for at most this many seconds per request,
# so a large request slows other people's pages little and still finishes.
YIELD_S = 3.0


class OverBudget(Exception):
    """A request larger than one session may ask of the shared server."""

    def lines(self) -> list[str]:
        return [str(self)]


class _RunCache:
    """Ensembles by input key (LRU, bounded in bytes, thread-safe) and the server's compute slots.

    Fair sharing: a request takes a slot per slice of SLICE_SEEDS seeds and gives it back between
    slices; waiting requests are served first come, first served; a session holds at most one slot at a
    time (a page still finishing a superseded run, or a second request of the same session, waits behind
    the other sessions). The seeds past a request's preview are background work: a background slice
    gives its slot up at the next month when another session's request is waiting (``should_pause``),
    and waits while another session draws a page, for at most YIELD_S per request in all. So a large
    request cannot starve a small one, nor slow another session's page for long."""

    def __init__(self, max_bytes: float, slots: int):
        self._d: OrderedDict = OrderedDict()
        self._size: dict = {}
        self._lock = threading.Lock()
        self.max_bytes = max_bytes
        self.slots = max(1, slots)
        self._queue: list[object] = []          # waiting tickets, in arrival order
        self._owner: dict[object, object] = {}  # ticket -> session (waiting or holding a slot)
        self._holding: dict[object, int] = {}   # session -> slots held
        self._pages: dict[object, int] = {}     # session -> pages being drawn now
        self._bg_since: dict[object, float] = {}  # background ticket waiting -> since when
        self._bg_spent: dict[object, float] = {}  # background ticket -> seconds it has yielded so far
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

    @property
    def busy(self) -> int:
        with self._cv:
            return sum(self._holding.values())

    def background_holding(self) -> int:
        """Slots held now by background slices (the seeds past a request's preview)."""
        with self._cv:
            return sum(1 for t in self._bg_spent if t not in self._bg_since and t not in self._queue
                       and self._holding.get(self._owner.get(t, t)))

    def _drawing_elsewhere(self, owner: object) -> bool:
        return any(n > 0 and sess is not owner for sess, n in self._pages.items())

    def _yields(self, t: object, now: float) -> bool:
        """A waiting background ticket lets other sessions' pages draw first, within its YIELD_S."""
        since = self._bg_since.get(t)
        if since is None or self._bg_spent.get(t, 0.0) + now - since > YIELD_S:
            return False
        return self._drawing_elsewhere(self._owner[t])

    def _next(self) -> object | None:
        """The ticket served next: the first in arrival order whose session holds no slot and that does not
        yield to another session's page."""
        if sum(self._holding.values()) >= self.slots:
            return None
        now = time.monotonic()
        return next((t for t in self._queue if not self._holding.get(self._owner[t]) and not self._yields(t, now)),
                    None)

    def acquire(self, ticket: object, timeout: float, session: object | None = None,
                background: bool = False) -> bool:
        """Take a compute slot for ``session`` (default: the ticket itself) in arrival order; False if none
        came free within ``timeout`` (the ticket keeps its place in the queue until ``leave``)."""
        with self._cv:
            if ticket not in self._queue:
                self._queue.append(ticket)
                self._owner[ticket] = ticket if session is None else session
                if background:
                    self._bg_since[ticket] = time.monotonic()
            ok = self._cv.wait_for(lambda: self._next() is ticket, timeout)
            if ok:
                self._queue.remove(ticket)
                since = self._bg_since.pop(ticket, None)
                if since is not None:
                    self._bg_spent[ticket] = self._bg_spent.get(ticket, 0.0) + time.monotonic() - since
                owner = self._owner[ticket]
                self._holding[owner] = self._holding.get(owner, 0) + 1
                self._cv.notify_all()
            return ok

    def should_pause(self, ticket: object) -> bool:
        """Whether a background slice holding a slot should give it up now: another session's request
        (not background work) is waiting for one, or another session is drawing a page and this request
        has yielded less than YIELD_S so far."""
        with self._cv:
            owner = self._owner.get(ticket, ticket)
            if any(self._owner[t] is not owner and t not in self._bg_since and not self._holding.get(self._owner[t])
                   for t in self._queue):
                return True
            return self._bg_spent.get(ticket, 0.0) < YIELD_S and self._drawing_elsewhere(owner)

    def leave(self, ticket: object) -> None:
        """The request is over (or was stopped): drop it from the queue."""
        with self._cv:
            self._bg_since.pop(ticket, None)
            self._bg_spent.pop(ticket, None)
            if ticket in self._queue:
                self._queue.remove(ticket)
            self._owner.pop(ticket, None)
            self._cv.notify_all()

    def release(self, ticket: object) -> None:
        """Give back the slot that ``ticket`` holds."""
        with self._cv:
            owner = self._owner.get(ticket, ticket)
            n = self._holding.get(owner, 0) - 1
            if n > 0:
                self._holding[owner] = n
            else:
                self._holding.pop(owner, None)
            if ticket not in self._queue and ticket not in self._bg_spent:
                self._owner.pop(ticket, None)
            self._cv.notify_all()

    def page_started(self, session: object) -> None:
        with self._cv:
            self._pages[session] = self._pages.get(session, 0) + 1

    def page_ended(self, session: object) -> None:
        with self._cv:
            n = self._pages.get(session, 0) - 1
            if n > 0:
                self._pages[session] = n
            else:
                self._pages.pop(session, None)
            self._cv.notify_all()


@st.cache_resource(show_spinner=False)
def _runs() -> _RunCache:
    return _RunCache(CACHE_MB * 2**20, COMPUTE_SLOTS)


def _key(s: Settings, seeds: int, sets: list[dict] | None = None) -> tuple:
    """The cache key of the first ``seeds`` runs of these settings. The bands enter as what the runs use:
    the accepted parameter ``sets`` (default: those of the settings, ``band_sets``), or none."""
    if sets is None:
        sets = band_sets(base_scenario(s.scenario), s)
    bands = ("sets", hash(tuple(tuple(sorted(x.items())) for x in sets))) if sets else "seeds"
    return (s.scenario, s.params, s.off, s.moved, bands, int(seeds), _scenario_version())


def check_budget(sc: Scenario, seeds: int, analysis: bool = False) -> None:
    """Refuse a request of more run-months than one session may ask of the server (``OverBudget``)."""
    months = len(sc.months)
    limit = MAX_ANALYSIS_RUN_MONTHS if analysis else MAX_RUN_MONTHS
    if seeds * months > limit:
        how = ("fewer changes or runs here, or `python -m sim attribute`" if analysis else
               "fewer runs or a shorter horizon here, or `python -m sim run`")
        raise OverBudget(f"{seeds:,} runs of {months} months ({seeds * months:,} run-months) is more than this "
                         f"server runs for one request ({limit:,} run-months). Use {how}.")


def _session_id() -> object:
    """This browser session's id (one compute slot at a time per session); a fresh object outside one."""
    from streamlit.runtime.scriptrunner import get_script_run_ctx

    ctx = get_script_run_ctx()
    return ctx.session_id if ctx is not None else object()


class drawing:
    """``with state.drawing():`` around a page's drawing: background slices of other sessions' large
    requests wait until it is drawn (``_RunCache``)."""

    def __enter__(self):
        self.session = _session_id()
        _runs().page_started(self.session)
        return self

    def __exit__(self, *exc) -> None:
        _runs().page_ended(self.session)


class Slot:
    """This session's turn on the server's compute slots (``_RunCache``), for one request::

        slot = Slot(box)
        slot.take(background=False)   # waits in arrival order; ``box`` says so while it waits
        ... compute, calling slot.checkpoint() between pieces of background work ...
        slot.give()
        slot.close()                  # the request is over (always: use try/finally)
    """

    def __init__(self, box=None):
        self.runs = _runs()
        self.box = box
        self.ticket = object()
        self.session = _session_id()
        self.held = False
        self.t0 = time.perf_counter()

    def take(self, background: bool) -> None:
        while not self.runs.acquire(self.ticket, timeout=0.25, session=self.session, background=background):
            if self.box is not None:
                self.box.caption(f"Waiting for the server: other runs are ahead "
                                 f"({time.perf_counter() - self.t0:.0f} s)…")
        self.held = True

    def give(self) -> None:
        if self.held:
            self.held = False
            self.runs.release(self.ticket)

    def checkpoint(self) -> None:
        """Between two pieces of background work: let another session's request or page go first."""
        if self.held and self.runs.should_pause(self.ticket):
            self.give()
            self.take(background=True)

    def close(self) -> None:
        self.give()
        self.runs.leave(self.ticket)


def _compute(sc: Scenario, n: int, first_seed: int, label: str, sets: list[dict] | None = None,
             keep: tuple[str, ...] = ()) -> E.Ensemble:
    """Run seeds first_seed .. first_seed + n - 1 (with the accepted parameter ``sets`` and the user's
    parameters ``keep``: ``run_ensemble``) in this session's script thread, slice by slice, each
    slice in a compute slot; seeds past the preview are background work, which pauses between months for
    other sessions (``_RunCache``). Waiting for a slot and every progress update are points where
    Streamlit stops a run whose input has been superseded."""
    box = st.empty()
    t0 = time.perf_counter()
    bar = None
    parts = []
    slot = Slot(box)
    try:
        for lo in range(first_seed, first_seed + n, SLICE_SEEDS):
            k = min(SLICE_SEEDS, first_seed + n - lo)
            background = lo >= PREVIEW_SEEDS
            if not slot.held:
                bar = None   # the box showed the wait
            slot.take(background)
            try:
                done_before = lo - first_seed

                def on_month(done: int, total: int, done_before=done_before, k=k, background=background) -> None:
                    nonlocal bar
                    if background and done < total:
                        slot.checkpoint()
                    if bar is None and time.perf_counter() - t0 > PROGRESS_AFTER_S:
                        bar = box.progress(0.0, text=label)
                    if bar is not None and (done % 6 == 0 or done == total):
                        bar.progress(min(1.0, (done_before + k * done / total) / n), text=label)

                parts.append(E.run_ensemble(sc, k, on_month=on_month, first_seed=lo, parameter_sets=sets,
                                            keep=keep).records)
            finally:
                slot.give()
    finally:
        slot.close()
        box.empty()
    return E.Ensemble.from_records(parts[0] if len(parts) == 1 else parts[0].concat(parts), len(sets or ()))


def analysis_run(fn, progress=None):
    """Run an analysis of the page (``fn(progress)``, e.g. an attribution) on this session's turn of the
    compute slots, as background work: it waits its turn and gives way to other sessions' requests and
    pages between its batches. ``progress(done, total)`` is passed on."""
    slot = Slot(st.empty())
    try:
        slot.take(background=True)

        def step(done: int, total: int) -> None:
            if progress is not None:
                progress(done, total)
            slot.checkpoint()

        return fn(step)
    finally:
        slot.close()
        slot.box.empty()


def ensemble(s: Settings, what: str = "", preview: bool = True) -> E.Ensemble:
    """The ensemble for these settings (cached by input; computed once per distinct input): each run its
    own seed and, when the bands carry parameter uncertainty (``Settings.bands``), one of the scenario's
    accepted parameter sets, the user's parameter changes kept.

    With ``preview`` a new input returns the first PREVIEW_SEEDS seeds at once and leaves the rest to
    ``finish_pending`` (called by the page after drawing), which redraws the page with all seeds."""
    runs = _runs()
    base = _load_base(s.scenario, _scenario_version())
    sets = band_sets(base, s)
    key = _key(s, s.seeds, sets)
    full = runs.get(key)
    if full is not None:
        return full
    sc = apply(base, s)
    check_budget(sc, s.seeds)
    keep = tuple(k for k, _ in s.params)
    first = min(s.seeds, PREVIEW_SEEDS) if preview else s.seeds
    pkey = _key(s, first, sets)
    pre = runs.get(pkey)
    if pre is None:
        label = f"Running {first} runs of the model{' for ' + what if what else ''}…"
        pre = _compute(sc, first, 0, label, sets, keep)
        runs.put(pkey, pre)
    if first == s.seeds:
        return pre
    st.session_state.setdefault("_pending", {})[key] = (sc, first, what, pkey, sets, keep)
    return pre


def is_preview(ens: E.Ensemble, s: Settings) -> bool:
    return ens.n_runs < s.seeds


def finish_pending() -> None:
    """Complete the ensembles the page drew as previews, then redraw the page with them."""
    pending = st.session_state.pop("_pending", None)
    if not pending:
        return
    runs = _runs()
    for key, (sc, first, what, pkey, sets, keep) in pending.items():
        if runs.get(key) is not None:
            continue
        pre = runs.get(pkey)
        n = key[5]
        label = f"Completing the ensemble: runs {first + 1}–{n} of {n}{' for ' + what if what else ''}…"
        rest = _compute(sc, n - first, first, label, sets, keep)
        base = pre.records if pre is not None else _compute(sc, first, 0, label, sets, keep).records
        runs.put(key, E.Ensemble.from_records(base.concat([base, rest.records]), len(sets)))
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
