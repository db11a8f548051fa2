"""A first-time user's first minute on Explore, from visible text alone (no hovering, no tooltips, no code):
they read the headline, find what a numbered rule on the chart is, and learn what the shaded band means.

Every step reads ``inner_text`` of rendered elements, which holds only text that is drawn on the page.
"""

from __future__ import annotations

import re

import pytest
from browser_helpers import chart, shot, wait_ready
from playwright.sync_api import expect

pytestmark = pytest.mark.browser


def in_view(page, locator) -> bool:
    """Drawn on the page and inside the window once scrolled to (a reader can see it)."""
    locator.scroll_into_view_if_needed()
    b = locator.bounding_box()
    vp = page.viewport_size
    return b is not None and b["width"] > 0 and b["height"] > 0 and b["x"] >= 0 and b["x"] + b["width"] <= vp["width"] + 1


def test_a_first_time_user_reads_the_headline_a_rule_and_the_band(page, app_url, shots):
    page.set_viewport_size({"width": 1366, "height": 768})   # a common laptop screen
    page.goto(app_url + "/")                                  # the address someone was given
    wait_ready(page)
    assert "/explore" in page.url
    shot(page, shots, "first-minute")                         # the first screen, as they see it

    # 1. The headline: six labelled numbers at the top, each a plain phrase with a value.
    labels = page.locator("[data-testid=stMetricLabel]").all_inner_texts()
    values = page.locator("[data-testid=stMetricValue]").all_inner_texts()
    headline = dict(zip((x.strip() for x in labels), (v.strip() for v in values)))
    assert re.fullmatch(r"\d+%", headline["Nvidia 2025 (units)"]), headline
    assert re.fullmatch(r"\d+%", headline["Huawei 2027 (units)"]), headline
    assert re.fullmatch(r"\d{4}-\d{2}|not by 2030", headline["Huawei passes Nvidia"]), headline
    # every label is shown whole, not cut short with "…"
    cut = page.locator("[data-testid=stMetricLabel] p").evaluate_all(
        "els => els.filter(e => e.scrollWidth > e.clientWidth + 1).map(e => e.textContent)")
    assert cut == [], cut
    first = page.locator("[data-testid=stMetric]").first
    assert in_view(page, first)
    assert first.bounding_box()["y"] < 768, "the headline is not on the first screen"
    # the chart says what it shows, in words
    title = chart(page).locator("svg text").all_text_contents()
    assert "Share by vendor: history" in title

    # 2. A rule's name: a number above the chart's rule lines is listed, with its name, beside the chart.
    numbers = [t for t in chart(page).locator("g.rule_numbers_marks text").all_text_contents() if t.strip()]
    assert "3" in numbers
    key = page.get_by_text("Rules on the chart", exact=True)
    expect(key).to_be_visible()
    entry = page.locator("[data-testid=stCheckbox] label").filter(has_text=re.compile(r"^\s*3 · "))
    assert in_view(page, entry)
    line = " ".join(entry.inner_text().split())
    m = re.match(r"^3 · (\d{4}-\d{2}) · (US|China) · (.+)$", line)
    assert m, line
    assert "Oct-2023 rule" in m.group(3) and m.group(1) == "2023-11"

    # 3. The band's meaning: said on the chart and under it, in plain words.
    assert any("Band: middle 90% of runs (5–95%)." in t for t in title), title
    caption = page.locator("[data-testid=stCaptionContainer]").filter(has_text=re.compile("The shaded band")).first
    assert in_view(page, caption)
    words = caption.inner_text()
    assert "middle 90%" in words and "not a forecast error" in words and "runs of the model" in words
