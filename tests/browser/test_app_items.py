"""Issue 12 ("The app, second pass") item by item, in headless Chromium against the real app: what a
strategist, a teacher and a researcher see, measured from the rendered page (text, boxes, colours).

Screenshots go to the ``shots`` folder (CHIPSHIFT_SCREENSHOTS=docs/img writes the pictures of docs/APP.md).
"""

from __future__ import annotations

import re

import pytest
from browser_helpers import (
    LEAVES,
    LOAD_TIMEOUT,
    boxes_of,
    chart,
    contrasts,
    each_screen,
    ink_overlaps,
    mark_texts,
    metrics,
    overlap,
    overlapping,
    query,
    shot,
    visible_boxes,
    wait_changed,
    wait_for_text,
    wait_layout,
    wait_ready,
    wait_settled,
    wait_until,
)
from playwright.sync_api import expect

from sim import charts

pytestmark = pytest.mark.browser

H20_RULE = "us-2025-04-h20-licence"
RULE_LINE = re.compile(r"^(\d+) · (\d{4}-\d{2}) · (US|China) · (.+)$")
CELL = re.compile(r"^\d+(\.\d)?% \(\d+(\.\d)?–\d+(\.\d)?%\)$")  # "55% (48–62%)"
RAW_FLOAT = re.compile(r"\d\.\d{4,}")


def rule_list(page) -> dict[str, str]:
    """The rule list beside the chart as shown: mark number -> the line's text."""
    out = {}
    for t in page.locator("[data-testid=stCheckbox] label").all_inner_texts():
        m = RULE_LINE.match(" ".join(t.split()))
        if m:
            out[m.group(1)] = m.group(0)
    return out


def tooltip(page):
    return page.locator("#vg-tooltip-element.visible")


def point_at(page, x: float, y: float):
    """Move the pointer to (x, y) as a hand does (several small moves, then a last 1 px one) and return the
    tooltip; a tooltip follows pointer moves, so a single jump can arrive while the chart redraws."""
    tip = tooltip(page)
    for attempt in range(5):
        page.mouse.move(x - 6 - attempt, y, steps=6)
        page.mouse.move(x, y, steps=3)
        try:
            expect(tip).to_be_visible(timeout=3_000)
            return tip
        except AssertionError:
            continue
    expect(tip).to_be_visible()
    return tip


def plot_box(page, i: int = 0) -> dict:
    """The plot area of a share chart (scrolled into view): the box of its crosshair rules (one per month,
    full height)."""
    chart(page, i).scroll_into_view_if_needed()
    return chart(page, i).locator("g.crosshair_marks").bounding_box()


# ---------------------------------------------------------------- 1. rule marks


def test_1_each_rule_has_its_own_mark_staggered_with_the_key_beside_and_a_name_on_hover(page, app_url, shots):
    page.goto(app_url + "/explore?seeds=5")
    wait_ready(page)
    nums = mark_texts(chart(page), "rule_numbers")
    values = [n["text"] for n in nums]
    assert sorted(values, key=int) == [str(i) for i in range(1, len(values) + 1)], values   # each number once
    assert len(values) >= 20
    assert overlapping(nums) == [], "rule numbers overlap"
    # the key: the numbered list beside the chart, visible without opening anything
    key = rule_list(page)
    assert set(key) == set(values)
    c = chart(page).bounding_box()
    first = page.locator("[data-testid=stCheckbox]").filter(has_text=re.compile(r"^1 · ")).first
    expect(first).to_be_visible()
    b = first.bounding_box()
    assert b["x"] >= c["x"] + c["width"] - 1 and b["y"] < c["y"] + c["height"], (b, c)
    # hovering a mark names the rule and its date
    three = RULE_LINE.match(key["3"])
    b3 = chart(page).locator("g.rule_numbers_marks text").filter(has_text=re.compile(r"^3$")).bounding_box()
    point_at(page, b3["x"] + b3["width"] / 2, b3["y"] + b3["height"] / 2)
    expect(tooltip(page)).to_contain_text(three.group(4).split(":")[0])   # the list sets ">=" as "≥"
    expect(tooltip(page)).to_contain_text(three.group(2))
    shot(chart(page), shots, "rule-marks")


# ---------------------------------------------------------------- 2. what changed


def test_2_what_changed_previous_result_run_history_and_compare_a_and_b(page, app_url, shots):
    page.goto(app_url + "/explore?seeds=5")
    wait_ready(page)
    before = metrics(page)
    expect(page.get_by_text(re.compile("What changed: nothing yet"))).to_be_visible()
    box = page.locator("[data-testid=stCheckbox]").filter(has_text="Licence required for H20")
    box.locator("label").click()
    expect(page).to_have_url(re.compile(rf"off={H20_RULE}"), timeout=LOAD_TIMEOUT)
    wait_ready(page)
    wait_changed(lambda: metrics(page), before)
    panel = page.locator(".st-key-what_changed")
    expect(panel).to_be_visible(timeout=LOAD_TIMEOUT)
    text = panel.inner_text()
    assert "What changed" in text and "as shipped" in text
    assert "You changed" in text and "Licence required for H20" in text and "switched off" in text.lower()
    assert "What moved" in text and "When and why" in text
    assert re.search(r"Nvidia[^\n]*\d+%[^\n]*→[^\n]*\d+%", text), text       # a headline number, before → after
    # under the headline numbers
    assert panel.bounding_box()["y"] > page.locator("[data-testid=stMetric]").first.bounding_box()["y"]
    shot(panel, shots, "what-changed")
    # the previous result drawn faintly, named in the chart and under it
    expect(chart(page).locator("g.previous_marks path").first).to_be_attached()
    assert chart(page).locator("g.previous_marks path").count() >= 9
    expect(page.get_by_text(re.compile(r"Faint dotted lines on the chart: your previous result"))).to_be_visible()
    # the run history keeps both results; Compare picks A and B from it
    page.get_by_text(re.compile(r"^Run history \(2\)$")).click()
    expect(page.get_by_text(re.compile(r"^Run 1"))).to_be_visible()
    page.get_by_role("link", name="Compare").click()
    wait_for_text(page, "What differs")
    for which, name in (("A", r"^Run 1: "), ("B", r"^Run 2: ")):
        box = page.get_by_role("combobox", name=which, exact=True)
        box.click()
        page.get_by_role("option", name=re.compile(name)).click()
        expect(box).to_have_value(re.compile(name), timeout=LOAD_TIMEOUT)
        wait_settled(page)
    table = page.locator(".st-key-cmp_table, [data-testid=stDataFrame]").last
    expect(table).to_be_visible()
    expect(page.get_by_text("A and B are the same scenario")).to_have_count(0)


def test_2_which_change_moved_it_splits_a_headline_number_among_the_changes(page, app_url):
    """With two changes (a parameter and a rule), the panel says why and that the split is below; *Split it
    among the changes* runs the combinations and shows each change's part, parts adding up to the total."""
    page.goto(app_url + f"/explore?seeds=5&off={H20_RULE}&choice.switching_scale=2.5")
    wait_ready(page)
    panel = page.locator(".st-key-what_changed").inner_text()
    assert "There are 2 changes; which one moved a number is split below." in panel
    assert "In the buyers' choice" in panel   # the Buyers page's decomposition of utility terms
    box = page.get_by_role("combobox", name="Which change moved")
    expect(box).to_have_value("Nvidia 2025")   # the headline number that moved most
    page.get_by_role("button", name="Split it among the changes").click()
    table = page.locator("[data-testid=stDataFrame]")
    expect(table).to_be_visible(timeout=LOAD_TIMEOUT)
    cells = table.locator("[role=gridcell]")   # the grid's cells as the page gives them to screen readers
    expect(cells).to_have_count(9)
    wait_settled(page)
    got = cells.all_inner_texts()
    rows = [got[i:i + 3] for i in range(0, len(got), 3)]
    assert [r[0] for r in rows] == ["Cost of switching away from CUDA 2.5", "no Licence required for H20 and MI308",
                                    "all changes together"], rows
    points = [float(r[1].replace("−", "-")) for r in rows]
    assert abs(points[0] + points[1] - points[2]) <= 0.11, points   # the parts add up (shown to 0.1)
    assert all(r[2].startswith("± ") for r in rows)
    expect(page.get_by_text(re.compile(r"^Nvidia 2025, share points against the scenario as shipped"))).to_be_visible()


# ---------------------------------------------------------------- 3. words, not code names


def test_3_plain_words_runs_not_seeds_initial_explained_rules_beside_the_chart(page, app_url):
    page.goto(app_url + "/explore?seeds=5")
    wait_ready(page)
    side = page.locator("[data-testid=stSidebar]")
    text = side.inner_text()
    expect(side.get_by_text("Smuggled cards per year", exact=True)).to_be_visible()
    from sim.labels import by_group

    n_us = len(by_group()["US controls and smuggling"])   # the first group, with its size
    expect(side.get_by_role("combobox", name="Parameters")).to_have_value(f"US controls and smuggling ({n_us})")
    assert "grey.per_year" not in text and not re.search(r"\bgrey \(\d+\)", text)
    assert not re.search(r"\b[a-z_]+\.[a-z_]+\b", text), "a dotted parameter name in the sidebar"
    # the dotted name is in the help text
    side.get_by_role("button", name="Help for Smuggled cards per year").hover()
    expect(page.locator("[data-testid=stTooltipContent]")).to_contain_text("grey.per_year")
    # "runs", not "seeds", anywhere on the page
    body = page.locator("body").inner_text()
    assert not re.search(r"\bseeds?\b", body, re.I), re.findall(r".{30}\bseeds?\b.{30}", body, re.I)
    assert "Runs in the ensemble" in body
    # "initial" in the observed-data legend is explained, in the legend and under the chart
    assert "observed, start of the run" in chart(page).locator("svg text").all_text_contents()
    expect(page.get_by_text(re.compile(r"squares are observed shares at the start.*\"initial\" in the data file"))
           ).to_be_visible()
    # ticking a rule leaves the chart where it is
    y0 = chart(page).bounding_box()["y"]
    page.locator("[data-testid=stCheckbox]").filter(has_text="Oct-2023 rule").locator("label").click()
    expect(page).to_have_url(re.compile(r"off=us-2023-10-tpp-rule"), timeout=LOAD_TIMEOUT)
    wait_ready(page)
    assert abs(chart(page).bounding_box()["y"] - y0) < 2


# ---------------------------------------------------------------- 4. Teach


def _month(page) -> str:
    return page.locator("[data-testid=stSlider]").filter(has_text="Month").locator(
        "[data-testid=stSliderThumbValue]").inner_text()


@pytest.mark.parametrize("width", [1100, 1500])
def test_4_teach_guess_reveal_steps_title_buttons_and_sources(browser, app_url, shots, width):
    ctx = browser.new_context(viewport={"width": width, "height": 1400})
    page = ctx.new_page()
    page.set_default_timeout(90_000)
    try:
        page.goto(app_url + "/teach?lesson=tightening-2023&seeds=5&month=2023-10")
        wait_for_text(page, "Step through, month by month")
        expect(chart(page)).to_be_visible()
        # a reveal needs a guess
        card = page.locator(".st-key-cp-nvidia-2025")
        reveal = card.get_by_role("button", name="Reveal")
        expect(reveal).to_be_disabled()
        guess = card.get_by_role("spinbutton")
        guess.fill("30")
        guess.press("Enter")
        # one Reveal button, enabled (read in one call: a rerun may show the old button beside the new one)
        wait_until(lambda: reveal.evaluate_all("els => els.map(e => !e.disabled)") == [True], LOAD_TIMEOUT / 1000,
                   "Reveal enabled")
        wait_settled(page)
        reveal.click()
        said = card.get_by_text(re.compile(r"^The model says"))
        expect(said).to_be_visible(timeout=LOAD_TIMEOUT)
        # one wording: the model's answer against the guess, said once
        t = said.inner_text()
        assert re.match(r"The model says \d+%: (\d+ points? (above|below) your guess of 30%|the same as your guess)", t), t
        assert "pts" not in card.inner_text() and not re.search(r"\([+-−]\d+ points?\)", card.inner_text())
        other = page.locator(".st-key-cp-passing-year").get_by_role("button", name="Reveal")
        expect(other).to_be_disabled()

        # the chart title is not hidden by the slider row; the buttons show their whole labels (measured once
        # the page has finished its rerun: mid-rerun the rows still move)
        wait_settled(page)
        title = chart(page).locator("svg text").filter(has_text="Up to 2023-10").first
        expect(title).to_be_visible()
        tb = title.bounding_box()
        row = page.locator(".st-key-teach-steps").bounding_box()
        sl = page.locator("[data-testid=stSlider]").filter(has_text="Month").bounding_box()
        assert not overlap(tb, row) and not overlap(tb, sl) and tb["y"] > sl["y"] + sl["height"] - 1
        for name in ("Previous rule", "Next rule"):
            p = page.get_by_role("button", name=name).locator("p")
            expect(p).to_have_text(name)
            assert p.evaluate("e => e.scrollWidth <= e.clientWidth + 1"), f"{name} is cut short"

        # sources are footnotes (links named by their site), never raw addresses or "NOT FOUND"
        narrative = page.locator("[data-testid=stColumn]").filter(has_text="The market in 2023-10").last
        text = narrative.inner_text()
        assert "http" not in text and "NOT FOUND" not in text, text
        assert "[1]" in text and "Sources" in text
        link = narrative.locator("a[href^=http]").first
        expect(link).to_have_text(re.compile(r"^[a-z0-9.-]+\.[a-z]{2,}$"))
        # buying ahead of the rule, in the month it matters
        assert "Buying ahead" in text and "Oct-2023 rule" in text
        if width == 1500:
            page.mouse.move(1, 1)   # no tooltip of the button just pressed in the picture
            expect(page.locator("[data-testid=stTooltipContent]")).to_have_count(0)
            shot(page.locator("[data-testid=stMain]"), shots, "teach")

        # 'Next rule' after the last rule: even steps to the end
        seen = [_month(page)]
        while seen[-1] != "2030-12" and len(seen) < 30:
            page.get_by_role("button", name="Next rule").click()
            seen.append(wait_changed(lambda: _month(page), seen[-1]))
            wait_settled(page)
        after = [m for m in seen if m >= "2023-11"]
        idx = [int(m[:4]) * 12 + int(m[5:]) for m in after]
        gaps = [b - a for a, b in zip(idx, idx[1:])]
        assert after[-1] == "2030-12" and gaps and max(gaps) <= 12 and max(gaps) - min(gaps) <= 1, (after, gaps)
        assert "Buying ahead" not in page.locator("[data-testid=stMain]").inner_text()
    finally:
        ctx.close()


# ---------------------------------------------------------------- 5. projector and phone


def assert_legible(page, svg_root: str, svg_min: int, html_min: int) -> None:
    """Every chart text under ``svg_root`` at least 14 px, and every text of the page at 4.5:1 or more against
    what is painted under it (both as rendered)."""
    svg = contrasts(page, svg_root, svg_only=True)
    assert len(svg) > svg_min, len(svg)
    small = [t for t in svg if t["size"] < 14]
    low = [t for t in svg if t["ratio"] < 4.5]
    assert not small, small[:5]
    assert not low, low[:5]
    html = contrasts(page, "body")
    low = [t for t in html if t["ratio"] < 4.5]
    assert len(html) > html_min and not low, low[:5]


def test_5_text_is_large_enough_and_meets_wcag_aa_contrast(page, app_url):
    page.set_viewport_size({"width": 1500, "height": 2600})   # the whole page in view: colours under each text
    page.goto(app_url + "/explore?seeds=5")
    wait_ready(page)
    assert_legible(page, "[data-testid=stVegaLiteChart]", 40, 60)


@pytest.mark.parametrize("path, charts_shown", [("/compare?seeds=5&compare=no-controls", 3), ("/buyers?seeds=5", 9),
                                                ("/teach?seeds=5&lesson=tightening-2023&month=2024-06", 1)])
def test_5_the_other_pages_charts_and_text_are_as_legible(page, app_url, path, charts_shown):
    page.set_viewport_size({"width": 1500, "height": 2600})
    page.goto(app_url + path)
    expect(page.locator("[data-testid=stVegaLiteChart]")).to_have_count(charts_shown, timeout=LOAD_TIMEOUT)
    wait_settled(page)
    wait_layout(page)
    assert_legible(page, "[data-testid=stMain]", 30, 40)


def test_5_presentation_mode_full_width_large_type_legend_below(page, app_url, shots):
    page.set_viewport_size({"width": 1400, "height": 1100})
    page.goto(app_url + "/explore?seeds=5")
    wait_ready(page)
    page.get_by_text("Presentation mode").click()
    expect(page).to_have_url(re.compile(r"present=1"), timeout=LOAD_TIMEOUT)
    wait_ready(page)
    expect(page.locator("[data-testid=stSidebar]")).to_be_hidden()
    c = chart(page).bounding_box()
    assert c["width"] >= 0.85 * 1400 - 100, c                          # full width (page margins aside)
    value = page.locator("[data-testid=stMetricValue] p").first
    assert float(value.evaluate("e => parseFloat(getComputedStyle(e).fontSize)")) >= 48
    sizes = [t["size"] for t in mark_texts(chart(page), "rule_numbers")]
    assert min(sizes) >= 20
    axis = chart(page).locator("g.role-axis-label text").evaluate_all("els => els.map(e => parseFloat(getComputedStyle(e).fontSize))")
    assert axis and min(axis) >= 20
    legend = chart(page).locator("g.role-legend").first.bounding_box()
    plot = plot_box(page)
    assert legend["y"] >= plot["y"] + plot["height"], (legend, plot)   # the legend below the plot
    # the rule list is under the chart, not beside it
    rules = page.get_by_text("Rules on the chart: switch off or move")
    wait_until(lambda: rules.bounding_box()["y"] > chart(page).bounding_box()["y"] + chart(page).bounding_box()["height"] - 1,
               30, "the rule list under the chart")
    shot(page, shots, "presentation")
    # a link opens it in presentation mode
    assert query(page)["present"] == ["1"]


def test_5_phone_layout_at_390_px(phone, app_url, shots):
    page = phone
    page.goto(app_url + "/explore?seeds=5")
    wait_ready(page)
    shot(page, shots, "phone")              # the first screen (for the docs, and to look at when this fails)
    # nothing runs off the side
    assert page.evaluate("document.documentElement.scrollWidth") <= 390
    # headline numbers two to a row, none overlapping
    m = boxes_of(page.locator("[data-testid=stMetric]"))
    assert len(m) == 6 and overlapping(m) == []
    assert len({round(b["y"]) for b in m}) == 3, m
    assert all(b["x"] + b["width"] <= 390 for b in m)
    # the page's blocks do not overlap one another: their boxes...
    blocks = [b for b in visible_boxes(page.locator(LEAVES)) if b["height"] > 0]
    assert overlapping(blocks, tol=1.0) == []
    # ... nor what they paint, compared on screenshots window by window down the page (each block drawn
    # alone: no pixel is painted by two blocks)
    drawn = 0
    for y in each_screen(page):
        shared, n = ink_overlaps(page, LEAVES)
        assert shared == {}, (y, shared)
        drawn += n
    assert drawn >= 30
    # the chart: inside the screen, numbers apart, the legend well under half the chart
    ch = chart(page)
    ch.scroll_into_view_if_needed()
    cb = ch.bounding_box()
    assert cb["x"] >= 0 and cb["x"] + cb["width"] <= 391
    nums = mark_texts(ch, "rule_numbers")
    assert len(nums) >= 20 and overlapping(nums) == []
    assert all(0 <= n["x"] and n["x"] + n["width"] <= 391 for n in nums)
    legend_labels = ch.locator("g.role-legend text").evaluate_all(
        "els => els.map(e => { const r = e.getBoundingClientRect(); return {text: e.textContent, x: r.x, y: r.y, "
        "width: r.width, height: r.height}; })")
    assert overlapping(legend_labels) == []
    legend = ch.locator("g.role-legend")
    top = min(legend.nth(i).bounding_box()["y"] for i in range(legend.count()))
    bottom = max(legend.nth(i).bounding_box()["y"] + legend.nth(i).bounding_box()["height"] for i in range(legend.count()))
    assert (bottom - top) / cb["height"] < 0.33, (bottom - top, cb["height"])
    plot = plot_box(page)
    assert plot["height"] >= 300
    # the rule numbers and the legend's words, compared on screenshots: no two paint the same pixel
    ch.scroll_into_view_if_needed()
    shared, n = ink_overlaps(page, "[data-testid=stVegaLiteChart] g.rule_numbers_marks text")
    assert n >= 20 and shared == {}, shared
    shared, n = ink_overlaps(page, "[data-testid=stVegaLiteChart] g.role-legend text")
    assert n >= 12 and shared == {}, shared
    shot(ch, shots, "phone-chart")


# ---------------------------------------------------------------- 6. hover


def test_6_crosshair_lists_every_vendor_formatted(page, app_url, shots):
    page.goto(app_url + "/explore?seeds=5")
    wait_ready(page)
    plot = plot_box(page)
    months = []
    for fx, fy in ((0.5, 0.8), (0.75, 0.9), (0.3, 0.95)):   # low in the plot: over the bands
        tip = point_at(page, plot["x"] + fx * plot["width"], plot["y"] + fy * plot["height"])
        expect(tip).to_contain_text("middle 90% of runs")
        rows = [r.split("\t") for r in tip.inner_text().split("\n") if "\t" in r]
        cells = {k.strip(): v.strip() for k, v in rows if v.strip()}
        if not cells:   # rows can come as pairs of lines
            lines = [x.strip() for x in tip.inner_text().split("\n") if x.strip()]
            cells = dict(zip(lines[::2], lines[1::2]))
        for v in ("Nvidia", "AMD", "Huawei", "Cambricon", "T-Head", "Kunlunxin", "Hygon", "OtherDomestic", "Domestic"):
            assert CELL.match(cells.get(v, "")), (v, cells)
        assert not RAW_FLOAT.search(tip.inner_text())
        months.append(cells["Month"][:7])
        # the crosshair itself is drawn at that month
        assert chart(page).locator("g.crosshair_marks path[stroke-opacity='0.7'], g.crosshair_marks line[stroke-opacity='0.7']"
                                   ).count() + chart(page).locator("g.crosshair_marks [opacity='0.7']").count() >= 1
    assert len(set(months)) == 3, months
    shot(chart(page), shots, "crosshair")


# ---------------------------------------------------------------- 7. links


def test_7_explore_path_and_a_warning_for_every_value_a_link_replaces_or_ignores(page, app_url):
    bad = {"buyer": "Nobody", "tier": "warp", "month": "banana", "compare": "saved:ghost", "lesson": "nope",
           "grid": "ghost", "basis": "weird", "present": "maybe", "seeds": "4", "off": "no-such-rule",
           "hoarding.strength": "99", "not.a.parameter": "1"}
    url = app_url + "/explore?scenario=no-controls&" + "&".join(f"{k}={v}" for k, v in bad.items())
    page.goto(url)
    wait_ready(page)
    expect(page.get_by_text("Page not found")).to_have_count(0)
    assert page.url.startswith(app_url + "/explore?")
    expect(page.get_by_role("combobox", name="Scenario")).to_have_value("no-controls")
    warn = page.locator("[data-testid=stAlert]").filter(has_text="Some settings in the link were not used")
    expect(warn).to_be_visible()
    text = warn.inner_text()
    for k, v in bad.items():
        assert f"{k}:" in text and v in text, (k, text)
    # what remains in the link is valid
    q = query(page)
    assert q["scenario"] == ["no-controls"] and q.get("seeds") == ["5"]
    for k in ("buyer", "tier", "month", "compare", "lesson", "grid", "basis", "present", "off", "hoarding.strength"):
        assert k not in q, (k, q)


# ---------------------------------------------------------------- 8. grid results


def test_8_grid_results_from_no_grid_to_a_small_grid_run_here(page, browser, app_url, shots):
    page.set_viewport_size({"width": 1400, "height": 1600})
    page.goto(app_url + "/grid-results")
    wait_for_text(page, "No grid results under outputs/ yet")
    table = page.locator("[data-testid=stTable]")
    expect(table).to_contain_text("mandate-x-power-subsidy")
    rows = table.locator("tbody tr").all_inner_texts()
    assert len(rows) == 5
    for r in rows:
        cells = [c.strip() for c in r.split("\t")]
        points, reps, runs = (int(x.replace(",", "")) for x in cells[3:6])
        assert runs == points * reps and cells[6].startswith("about") and cells[7].startswith("about"), cells
    shot(page.locator("[data-testid=stMain]"), shots, "grid-files")
    # a small grid from the page: one run per design point, with a progress bar
    expect(page.get_by_role("combobox", name="Grid file")).to_have_value(re.compile("mandate-x-power-subsidy"))
    expect(page.get_by_role("spinbutton", name="Runs per design point")).to_have_value("1")
    page.get_by_role("button", name="Run this grid here").click()
    bar = page.locator("[data-testid=stProgress]")
    expect(bar).to_be_visible(timeout=LOAD_TIMEOUT)
    expect(page.get_by_text(re.compile(r"Running mandate-x-power-subsidy: \d+ of 40 runs"))).to_be_visible()
    # done: the folder opens, and lives in the link
    expect(page).to_have_url(re.compile(r"grid=mandate-x-power-subsidy-1-per-point"), timeout=LOAD_TIMEOUT)
    wait_for_text(page, "Outcome over two axes")
    expect(page.get_by_text("40 of 40 runs finished")).to_be_visible()
    expect(page.locator("[data-testid=stVegaLiteChart]")).to_have_count(3, timeout=LOAD_TIMEOUT)
    wait_settled(page)
    # plain outcome names, nowhere a raw one
    expect(page.get_by_role("combobox", name="Outcome")).to_have_value(re.compile(r"^Nvidia's share of cards in \d{4}$"))
    main = page.locator("[data-testid=stMain]").inner_text()
    assert not re.search(r"\b(share|crossover):\w+", main)
    # heatmap labels readable on every cell: rendered label colour against the rendered cell colour
    heat = chart(page, 0)
    heat.scroll_into_view_if_needed()
    pairs = heat.locator("svg").evaluate("""svg => [...svg.querySelectorAll('g.heat_labels_marks text')].map(t => {
        const r = t.getBoundingClientRect();
        const cell = document.elementsFromPoint(r.x + r.width / 2, r.y + r.height / 2)
            .find(e => e.tagName === 'path' && e.closest('g.heat_cells_marks'));
        return {text: t.textContent, ink: getComputedStyle(t).fill, cell: cell ? getComputedStyle(cell).fill : null}; })""")
    assert len(pairs) >= 20 and all(p["cell"] for p in pairs), pairs[:3]

    def hexed(rgb: str) -> str:
        return "#" + "".join(f"{int(x):02x}" for x in re.findall(r"\d+", rgb)[:3])

    low = [p for p in pairs if charts.contrast(hexed(p["ink"]), hexed(p["cell"])) < 4.5]
    assert not low, low[:3]
    cells = {hexed(p["cell"]) for p in pairs}
    if len(cells) > 1:   # an outcome that moves over the grid spans the steps, dark cells among them
        assert cells >= {charts.HEAT_COLORS[0]}, cells
    # the path panels: a legend, and the vendors' colours of every other chart
    paths = chart(page, 1)
    paths.scroll_into_view_if_needed()
    legend = " ".join(paths.locator("g.role-legend text").all_text_contents())
    assert "Vendor" in legend and "Nvidia" in legend and "Huawei" in legend and "Domestic" in legend
    strokes = set(paths.locator("g.mark-line path").evaluate_all("els => els.map(e => getComputedStyle(e).stroke)"))
    want = {hexed_rgb for hexed_rgb in (charts.ENTITY_COLORS[e].lower() for e in ("Nvidia", "Huawei", "Domestic"))}
    assert {hexed(s) for s in strokes} == want, strokes
    shot(page.locator("[data-testid=stMain]"), shots, "grid-results")
    # the link reopens the same folder in a new session
    other = browser.new_context(viewport={"width": 1400, "height": 1200})
    try:
        p2 = other.new_page()
        p2.goto(page.url)
        wait_for_text(p2, "Outcome over two axes")
        expect(p2.get_by_role("combobox", name="Results folder (under outputs/)")).to_have_value(
            "mandate-x-power-subsidy-1-per-point")
    finally:
        other.close()
