"""Pieces shared by several pages: page set-up, headline numbers, main chart, downloads."""

from __future__ import annotations

import io
import threading
from collections import OrderedDict

import altair as alt
import numpy as np
import pandas as pd
import streamlit as st

from sim import charts
from sim.calibration import observed
from sim.engine import ensemble as E
from sim.model.ids import VENDORS
from sim.model.scenario import Scenario, ScenarioError
from sim.ui import diff, history, state, whatchanged
from sim.ui.settings import (
    BASES,
    BASIS_LABELS,
    BASIS_WORDS,
    PAIRED,
    Settings,
    band_sets,
    custom_scenario,
    runs_words,
    scenario_file_name,
    with_pair,
)


def syncing_url(draw):
    """A page's render(): draw it, then write the settings into the URL. The URL changes only once the
    results are drawn, so a copied link never runs ahead of the page."""
    def render() -> None:
        try:
            with state.drawing():   # other sessions' background seeds wait while this page draws
                draw()
        finally:
            state.sync_url()
        state.finish_pending()

    render.__doc__ = draw.__doc__
    return render

MAIN_ENTITIES = list(VENDORS) + ["Domestic"]


def page_start(page: str) -> tuple[Scenario, Settings] | None:
    """Read the URL on the first run, show URL problems; returns the base scenario and the settings.

    Widgets are re-seeded from the settings whenever the page changes: Streamlit gives a widget on a new
    page its default value even when a widget with the same key existed on the previous page."""
    state.init()
    st.html(BASE_CSS)
    st.session_state.pop("_pending", None)   # previews left by a run that was stopped are not finished
    if st.session_state.get("_page") != page:
        state.clear_widgets(state.WIDGET_PREFIXES)
        st.session_state["_page"] = page
    state.warm()
    state.show_url_problems()
    s = state.settings()
    try:
        base = state.base_scenario(s.scenario)
    except ScenarioError as e:
        st.error("\n".join(e.lines()))
        state.set_settings(Settings())
        base = state.base_scenario("history")
    return base, state.settings()


# Every page: text at least WCAG AA contrast (4.5:1) and a layout that works on a 390 px phone.
BASE_CSS = """
<style>
/* Streamlit draws captions and navigation icons at 60% opacity (about 3.9:1 on white): darker here */
[data-testid="stCaptionContainer"] { opacity: 0.86 !important; }
[data-testid="stTopNavLink"] [data-testid="stIconMaterial"],
[data-testid="stSidebarNavLink"] [data-testid="stIconMaterial"] { color: inherit !important; }
/* headline labels wrap rather than end in "…" */
[data-testid="stMetricLabel"] .stMarkdownEllipsis, [data-testid="stMetricLabel"] p { white-space: normal !important;
  overflow: visible !important; text-overflow: clip !important; }
/* a phone: headline numbers two to a row instead of one under another */
@media (max-width: 640px) {
  .st-key-headline [data-testid="stHorizontalBlock"] { flex-direction: row !important; flex-wrap: wrap !important;
    row-gap: 0.75rem; }
  .st-key-headline [data-testid="stColumn"] { flex: 1 1 calc(50% - 1rem) !important;
    min-width: calc(50% - 1rem) !important; max-width: calc(50% - 0.5rem) !important; }
  .st-key-headline [data-testid="stMetricValue"] p { font-size: 1.9rem !important; }
}
</style>
"""


def run_current(what: str = "") -> E.Ensemble | None:
    s = state.settings()
    try:
        ens = state.ensemble(s, what)
    except ScenarioError as e:
        st.error("These settings do not make a valid scenario:\n\n" + "\n".join(f"- `{x}`" for x in e.lines()))
        return None
    except state.OverBudget as e:
        st.warning(str(e), icon=":material/speed:")
        return None
    if state.is_preview(ens, s):
        st.caption(f":material/hourglass_top: Preview from the first {ens.n_runs} of {s.seeds} runs; the full "
                   "ensemble replaces it in a moment.")
    return ens


def pct(x: float | None) -> str:
    return "–" if x is None or pd.isna(x) else f"{100 * x:.0f}%"


def beside(ens: E.Ensemble, basis: str) -> dict[str, str]:
    """The headline shares on the other bases of ``with_pair(basis)``, in words ("24% of compute"), by key
    ("Nvidia_2025"): shown under each headline number, so cards and compute are always read together."""
    others = [E.headline(ens, b) for b in with_pair(basis)[1:]]
    out = {k: " · ".join(f"{pct(h[k])} of {BASIS_WORDS[h['metric']]}" for h in others)
           for k in ("Nvidia_2025", "Huawei_2025", "Nvidia_2027", "Huawei_2027")}
    out["passing"] = " · ".join(f"{diff.month_text(h['passing'])} in {BASIS_WORDS[h['metric']]}" for h in others)
    return out


def month_shares(ens: E.Ensemble, month: str, entities=("Nvidia", "Huawei", "Domestic")) -> str:
    """Each entity's share of the cards and of the compute delivered in ``month`` (YYYY-MM; mean of the runs),
    in words."""
    t = int(np.searchsorted(ens.months, np.datetime64(month + "-01", "us")))
    parts = [f"{e} " + ", ".join(f"{pct(ens.series(e, b).mean(axis=0)[t])} of {BASIS_WORDS[b]}" for b in PAIRED)
             for e in entities]
    return f"In {month}: " + " · ".join(parts) + "."


def headline_metrics(ens: E.Ensemble, basis: str, key: str = "hl") -> dict:
    h = E.headline(ens, basis)
    also = beside(ens, basis)
    # keyed: on a phone the numbers stand two to a row (BASE_CSS)
    cols = st.container(key="headline" if key == "hl" else f"headline-{key}").columns(6)
    unit = BASIS_LABELS[basis].split(" ")[0]
    how = ("Annual share (sum over the year, mean of the runs). Under it: the same share of "
           + " and of ".join(BASIS_WORDS[b] for b in with_pair(basis)[1:]) + ".")
    for col, k in zip(cols, ("Nvidia_2025", "Huawei_2025", "Nvidia_2027", "Huawei_2027")):
        vendor, year = k.split("_")
        col.metric(f"{vendor} {year} ({unit})", pct(h[k]), also[k], delta_color="off", delta_arrow="off", help=how)
    cols[4].metric("Huawei passes Nvidia", diff.month_text(h["passing"]), also["passing"], delta_color="off",
                   delta_arrow="off",
                   help="First month Huawei's share (summed over the runs) is above Nvidia's and stays above for "
                        "three months. Under it: the same on the other basis.")
    cols[5].metric("Compute gap 2027", pct(h["gap_2027"]), help="Share of the compute buyers want that is not "
                   "installed (1 − installed / wanted), mean over 2027 and the runs.")
    return h


def numbers(base: Scenario) -> dict[str, str]:
    """Rule mark numbers from the base scenario: a rule keeps its number when it is moved or switched off."""
    m = base.months
    return charts.rule_numbers(base.events, m[0], m[-1])


_CHARTS: OrderedDict = OrderedDict()
_CHARTS_LOCK = threading.Lock()
CHART_CACHE = 24


def main_chart(ens: E.Ensemble, sc: Scenario, basis: str, show_observed: bool, title: str = "",
               height: int = 460, now=None, upto=None, legend: str = "bottom", prev: pd.DataFrame | None = None,
               nums: dict[str, str] | None = None, size: str | None = None) -> dict:
    """The main share chart as a Vega-Lite dict with its data as Arrow bytes, cached server-wide by its
    inputs (the same ensemble object, scenario content and view), so a redraw of a result already shown
    costs no chart building. Streamlit copies the spec before changing it, so a cached spec stays intact."""
    size = size or ("present" if state.view().present else "normal")
    key = (id(ens), sc.digest(), basis, show_observed, title, height, str(now), str(upto), legend,
           id(prev) if prev is not None else None, tuple(sorted((nums or {}).items())), size)
    with _CHARTS_LOCK:
        hit = _CHARTS.get(key)
        if hit is not None and hit[0] is ens and hit[1] is prev:
            _CHARTS.move_to_end(key)
            return hit[2]
    spec = _main_chart(ens, sc, basis, show_observed, title, height, now, upto, legend, prev, nums, size)
    if "datasets" in spec:
        from streamlit import dataframe_util

        spec = {**spec, "datasets": {k: v if isinstance(v, bytes) else dataframe_util.convert_anything_to_arrow_bytes(v)
                                     for k, v in spec["datasets"].items()}}
    with _CHARTS_LOCK:
        _CHARTS[key] = (ens, prev, spec)   # the objects are kept, so their ids cannot be reused meanwhile
        while len(_CHARTS) > CHART_CACHE:
            _CHARTS.popitem(last=False)
    return spec


def _main_chart(ens, sc, basis, show_observed, title, height, now, upto, legend, prev, nums, size) -> dict:
    bands = E.share_bands(ens, basis, MAIN_ENTITIES)
    if upto is not None:
        bands = bands[bands["date"] <= upto]
        if prev is not None:
            prev = prev[prev["date"] <= upto]
    months = sc.months
    ev = charts.events_frame(E.events_taken(ens, sc.events), months[0], months[-1], numbers=nums)
    obs = observed.points(basis, MAIN_ENTITIES) if show_observed else None
    if obs is not None and upto is not None:
        obs = obs[obs["date_end"] <= upto]  # nothing from the future while stepping through
    dom = (pd.Timestamp(months[0] + "-01").isoformat(), pd.Timestamp(months[-1] + "-01").isoformat())
    return charts.share_spec(bands, basis, ev, obs, title=title, height=height, now=now, x_domain=dom, legend=legend,
                             prev=prev, size=size)


def show_chart(spec: dict, key: str) -> None:
    # the chart carries its own legible configuration (sim.charts.theme), not Streamlit's theme
    st.vega_lite_chart(spec=spec, width="stretch", key=key, theme=None)


def show_altair(chart, key: str, **kw) -> None:
    size = "present" if state.view().present else "normal"
    st.altair_chart(charts.themed(chart, size), width=kw.pop("width", "stretch"), key=key, theme=None, **kw)


SPREAD_YEAR = 2028   # the projection year whose spread the band caption gives in words


def band_words(ens: E.Ensemble) -> str:
    """What the band is: the middle 90% of the runs, and what varies between them."""
    if ens.n_sets:
        used = "" if ens.n_runs >= ens.n_sets else f"; these runs use the first {ens.n_runs} sets"
        return (f"middle 90% of {ens.n_runs} runs, each with its own random draws and one of {ens.n_sets} accepted "
                f"parameter sets (calibration and forward-looking assumptions{used})")
    return f"middle 90% of {ens.n_runs} runs (random draws only)"


def spread_words(ens: E.Ensemble, basis: str, year: int = SPREAD_YEAR) -> str:
    """How uncertain ``year`` is, in words: the 5–95% range of Nvidia's and the domestic vendors' annual
    share over the runs ("" when the runs end before that year)."""
    sp = E.annual_spread(ens, year, basis, ("Nvidia", "Domestic"))
    if not sp:
        return ""
    names = {"Nvidia": "Nvidia", "Domestic": "domestic vendors"}
    parts = [f"{names[e]} {pct(lo)}" + ("" if pct(lo) == pct(hi) else f"–{pct(hi)}") for e, (lo, hi) in sp.items()]
    size = E.annual_total_spread(ens, year, "units")
    market = "" if size is None else (f", in a market of {size[0] / 1e6:.1f}–{size[1] / 1e6:.1f} million cards"
                                       if round(size[0] / 1e5) != round(size[1] / 1e5)
                                       else f", in a market of {size[0] / 1e6:.1f} million cards")
    return f"In {year}, 90% of the runs give {' and '.join(parts)} of {BASIS_WORDS[basis]} (annual share){market}."


def band_caption(ens: E.Ensemble, show_observed: bool, basis: str = "unit_share") -> None:
    """What the lines, the band and the observed points mean, in words on the page."""
    txt = (f"**Band:** {band_words(ens)}. {spread_words(ens, basis)} **Lines** are the mean of the runs of the "
           "model. The shaded band around a line is the range of the middle 90% of the runs (5th to 95th "
           "percentile): the spread of the model's outcomes, not a forecast error.")
    if show_observed:
        txt += (" **Observed data:** circles are observed shares the model is fitted to; squares are observed "
                "shares at the start, which the runs begin from (\"initial\" in the data file); triangles are "
                "analysts' forecasts. A horizontal bar spans the period a figure covers, a vertical bar its "
                "low–high range.")
    st.caption(txt)


def rules_caption(sc: Scenario, nums: dict[str, str] | None = None) -> None:
    """The numbered rules as a plain list (for pages without the rule panel)."""
    months = sc.months
    ev = charts.events_frame(sc.events, months[0], months[-1], numbers=nums)
    lines = charts.events_legend(ev)
    if lines:
        st.markdown("**Rules on the chart**\n\n" + "\n".join(f"- {x}" for x in lines))


def basis_picker(key: str = "v:basis") -> str:
    v = state.view()
    if key not in st.session_state:
        st.session_state[key] = v.basis
    b = st.segmented_control("Share of", BASES, key=key, format_func=lambda x: BASIS_LABELS[x],
                             help="Units: cards delivered. Value: sales in US$. Compute: A100-equivalents "
                                  "(dense BF16).") or v.basis
    if b != v.basis:
        state.set_view(basis=b)
    return b


def observed_toggle(key: str = "v:observed") -> bool:
    v = state.view()
    if key not in st.session_state:
        st.session_state[key] = v.observed
    o = st.toggle("Observed data", key=key, help="Points with ranges from data/calibration_targets.csv "
                  "(annual figures drawn across their year; triangles are analysts' forecasts).")
    if o != v.observed:
        state.set_view(observed=o)
    return o


def downloads(ens: E.Ensemble, base: Scenario, s: Settings, chart: dict | alt.TopLevelMixin, key: str = "dl") -> None:
    """Results (CSV, Parquet), the settings as a scenario TOML, and the chart (PNG, SVG). Files are made
    only when a button is pressed."""
    stem = scenario_file_name(s, base).removesuffix(".toml")

    def csv() -> bytes:
        return ens.timeseries().to_csv(index=False).encode("utf-8")

    def parquet() -> bytes:
        buf = io.BytesIO()
        ens.timeseries().to_parquet(buf, index=False)
        return buf.getvalue()

    def toml() -> str:
        sc = custom_scenario(base, s).with_changes(header={"replicates": s.seeds})
        return reproduce_note(base, s, f"{stem}.toml") + sc.to_toml()

    def png() -> bytes:
        return charts.to_image(chart, "png")

    def svg() -> bytes:
        return charts.to_image(chart, "svg")

    # one row of buttons that wraps on a narrow screen
    c = [st.container(horizontal=True, key=f"{key}:row")] * 5
    c[0].download_button("Results CSV", csv, f"{stem}-timeseries.csv", "text/csv", key=f"{key}:csv",
                         on_click="ignore", icon=":material/download:")
    c[1].download_button("Results Parquet", parquet, f"{stem}-timeseries.parquet", "application/octet-stream",
                         key=f"{key}:parquet", on_click="ignore", icon=":material/download:")
    c[2].download_button("Scenario TOML", toml, f"{stem}.toml", "application/toml", key=f"{key}:toml",
                         on_click="ignore", icon=":material/download:",
                         help="The current settings as a scenario file; its first lines give the command that "
                              "reproduces the run (`python -m sim run FILE`, with `--parameter-sets` when the bands "
                              "carry parameter uncertainty).")
    c[3].download_button("Chart PNG", png, f"{stem}-chart.png", "image/png", key=f"{key}:png", on_click="ignore",
                         icon=":material/image:")
    c[4].download_button("Chart SVG", svg, f"{stem}-chart.svg", "image/svg+xml", key=f"{key}:svg",
                         on_click="ignore", icon=":material/image:")


def reproduce_command(base: Scenario, s: Settings, fname: str) -> str:
    """The command line that reruns these settings saved as ``fname``, bands included."""
    cmd = f"python -m sim run {fname} --seeds {s.seeds}"
    if band_sets(base, s):
        cmd += " --parameter-sets"
        if s.params:
            cmd += " --keep " + ",".join(k for k, _ in s.params)
    return cmd


def reproduce_note(base: Scenario, s: Settings, fname: str) -> str:
    """TOML comment lines for a downloaded scenario: what the app's bands carried and how to rerun it."""
    sets = band_sets(base, s)
    if sets:
        f = base.header.parameter_sets
        what = (f"runs and parameter uncertainty (run r uses accepted parameter set r mod {len(sets)} of {f}; "
                f"your changed parameters keep their values)")
    else:
        what = "runs only (seed noise; every run uses this file's values)"
    return f"# Bands in the app: {what}.\n# Reproduce: {reproduce_command(base, s, fname)}\n"


def settings_summary(base: Scenario, s: Settings) -> str:
    parts = [f"**{state.scenario_label(s.scenario)}**", runs_words(base, s)]
    if s.params:
        parts.append(f"{len(s.params)} parameter(s) changed")
    if s.off:
        parts.append(f"{len(s.off)} rule(s) off")
    if s.moved:
        parts.append(f"{len(s.moved)} rule(s) moved")
    return " · ".join(parts)


# ---------------------------------------------------------------- presentation mode

PRESENT_CSS = """
<style>
section[data-testid="stSidebar"], [data-testid="stSidebarCollapsedControl"], [data-testid="stExpandSidebarButton"]
  { display: none !important; }
[data-testid="stMainBlockContainer"] { max-width: 100% !important; padding-left: 2rem; padding-right: 2rem; }
[data-testid="stMetricValue"], [data-testid="stMetricValue"] p { font-size: 3.4rem !important;
  line-height: 1.15 !important; }
[data-testid="stMetricLabel"] p { font-size: 1.35rem !important; }
[data-testid="stMarkdownContainer"] p, [data-testid="stMarkdownContainer"] li { font-size: 1.3rem; }
[data-testid="stCaptionContainer"], [data-testid="stCaptionContainer"] p { font-size: 1.15rem !important; }
</style>
"""


def page_title(title: str) -> bool:
    """The page title with the presentation-mode switch beside it; returns whether presentation mode is on.
    Presentation mode (``present=1`` in the link): no sidebar, a full-width chart, large type, legend below."""
    v = state.view()
    if "v:present" not in st.session_state:
        st.session_state["v:present"] = v.present
    left, right = st.columns([4, 1.2], vertical_alignment="bottom")
    with left:
        st.title(title)
    with right:
        on = st.toggle("Presentation mode", key="v:present", help="For a projector: hides the sidebar and draws "
                       "the chart full width with large type. Kept in the link (present=1).")
    if on != v.present:
        state.set_view(present=on)
    if on:
        st.html(PRESENT_CSS)
    return on


# ---------------------------------------------------------------- what changed, run history


def history_label(base: Scenario, s: Settings) -> str:
    return whatchanged.short_label(base, s, state.scenario_label(s.scenario))


WHAT_CHANGED_HEIGHT = 200  # px: one height before and after a change, so the chart below never jumps


def what_changed(base: Scenario, s: Settings, ens: E.Ensemble, basis: str, prev: dict | None = None):
    """Under the headline numbers, in a box of one height (longer text scrolls inside it): what the
    current changes moved against the scenario as shipped, and why. Returns the story (None without
    changes) for ``attribution_box``."""
    name = state.scenario_label(s.scenario)
    with st.container(border=True, key="what_changed", height=WHAT_CHANGED_HEIGHT):
        if not s.n_changes:
            st.markdown(f"**What changed:** nothing yet. Showing **{name}** as shipped. Change a parameter in the "
                        "sidebar or switch off a rule beside the chart: this space then says what moved against the "
                        "scenario as shipped, and why.")
            st.caption("**Reading the chart.** Each line is a vendor's share, the mean of the model's runs; the "
                       "shaded band around it holds the middle 90% of the runs. Numbered vertical lines are rules "
                       "(listed, with their names, beside the chart). Point at the chart to read every vendor's "
                       "share in a month.")
            return None
        # the scenario as shipped on the same seeds as the result shown (a preview is set against a preview)
        base_s = Settings(scenario=s.scenario, seeds=ens.n_runs, bands=s.bands)
        try:
            e0 = state.ensemble(base_s, f"{name} as shipped", preview=False)
        except (ScenarioError, state.OverBudget) as e:
            st.error("\n".join(e.lines()))
            return None
        story = whatchanged.explain(base, s, e0, ens, basis)
        st.markdown(f"**What changed** against *{name}* as shipped ({ens.n_runs} runs each, "
                    f"{'the same random draws' if story.paired else 'different random draws'}; shares of "
                    f"{BASIS_WORDS[basis]})")
        left, mid, right = st.columns([1, 1.1, 1.4], gap="medium")
        with left:
            st.markdown("**You changed**\n" + "\n".join(f"- {c}" for c in story.changes))
        with mid:
            pa, pb = story.passing
            moved = [m.text() for m in story.moves]
            if pa != pb:
                moved.append(f"Huawei passes Nvidia: {pa} → {pb}")
            st.markdown("**What moved**\n" + "\n".join(f"- {m}" for m in moved))
        with right:
            st.markdown("**When and why**\n\n" + story.when + "\n" + "\n".join(f"- {w}" for w in story.why))
        notes = []
        if prev is not None:
            notes.append(f"Faint dotted lines on the chart: your previous result ({prev['label']}).")
        if len(story.changes) > 1:
            notes.append("Several changes: *Which change moved it?* under the chart splits a headline number among "
                         "them.")
        if notes:
            st.caption(" ".join(notes))
    return story


def attribution_box(base: Scenario, s: Settings, ens: E.Ensemble, basis: str, story) -> None:
    """With several changes: split a headline number among them (under the chart, on request)."""
    if story is None or len(story.changes) < 2:
        return
    with st.expander("Which change moved it? Split a headline number among your changes", expanded=True):
        _attribution(base, s, ens, basis, story)


def _attribution(base: Scenario, s: Settings, ens: E.Ensemble, basis: str, story) -> None:
    """Which change moved a headline number: Shapley attribution over the changes, on the same seeds, run
    on request (2^changes scenarios)."""
    from sim.analysis import attribution as A
    from sim.analysis.results import AnalysisError

    names = whatchanged.outcome_names(basis)
    nice = {n: m.label for n, m in zip(names, story.moves)}
    c1, c2 = st.columns([2, 1.2], vertical_alignment="bottom")
    with c1:
        if st.session_state.get("w:attr_outcome") not in names:
            st.session_state["w:attr_outcome"] = whatchanged.largest_move(story, basis)
        outcome = st.selectbox("Which change moved", names, key="w:attr_outcome", format_func=nice.get)
    key = (s, outcome)
    with c2:
        go = st.button("Split it among the changes", key="w:attr_go", icon=":material/call_split:",
                       help=f"Shapley attribution: runs the {2 ** len(story.changes)} combinations of your changes "
                            f"on the same {s.seeds} random draws; each change gets its average contribution.")
    done = st.session_state.setdefault("_attributions", {})
    if go and key not in done:
        bar = st.progress(0.0, text="Running the combinations of changes…")
        try:
            target = state.current_scenario()
            state.check_budget(target, len(ens.seeds) * 2 ** len(story.changes), analysis=True)
            # in this process, as batches of runs (no worker processes under the app)
            # on this session's turn of the compute slots, giving way to others between batches
            res = state.analysis_run(
                lambda step: A.attribute(target, base, outcome, list(ens.seeds),
                                         groups=whatchanged.attribution_groups(base, s, target), workers=1,
                                         progress=step),
                progress=lambda d, t: bar.progress(d / t, text=f"Combination {d} of {t}…"))
        except (AnalysisError, state.OverBudget) as e:
            bar.empty()
            st.error(str(e))
            return
        bar.empty()
        done[key] = res
    res = done.get(key)
    if res is not None:
        st.dataframe(whatchanged.attribution_table(res), hide_index=True, key="attr_table")
        st.caption(f"{nice[outcome]}, share points against the scenario as shipped. Each change's part is its "
                   "average effect over every order in which the changes could be made (Shapley); the parts add "
                   "up to the total. ± is a 95% interval from the spread over the runs."
                   + (" The combinations run on the same random draws with the scenario's own parameter values, "
                      "not the accepted parameter sets of the bands, so the total can differ from the move shown "
                      "above." if ens.n_sets else ""))


def run_history_box(s: Settings) -> None:
    runs = history.entries()
    with st.expander(f"Run history ({len(runs)})"):
        st.caption(f"The last {history.MAX_RUNS} results of this session, newest first. Compare can set any of them "
                   "as A or B.")
        for x in runs:
            cur = " (shown)" if x["settings"] == s else ""
            st.markdown(f"- **Run {x['id']}**{cur}: {x['label']}")
