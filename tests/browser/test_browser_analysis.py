"""The Analysis page in headless Chromium: a link opens a folder and a view, a chart downloads as SVG,
switching views and folders writes the link, a copied link reopens the same view, an attribution runs on
demand with progress, and a table downloads."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from browser_helpers import LOAD_TIMEOUT, query
from playwright.sync_api import Page, expect

pytestmark = pytest.mark.browser

CHART = "[data-testid=stVegaLiteChart]"


def settled(page: Page) -> None:
    expect(page.locator("[data-testid=stStatusWidget]")).to_have_count(0, timeout=LOAD_TIMEOUT)


def view(page: Page, name: str) -> None:
    page.locator("[data-testid=stButtonGroup]").get_by_role("radio", name=name, exact=True).click()
    expect(page).to_have_url(re.compile(rf"a_view={name}"), timeout=LOAD_TIMEOUT)
    settled(page)


def test_views_follow_the_link_and_write_it(page, browser, analysis_app_url):
    page.goto(analysis_app_url + "/analysis?a_dir=sobol&a_view=Sensitivity")
    expect(page.get_by_role("heading", name="Analysis")).to_be_visible(timeout=LOAD_TIMEOUT)
    expect(page.locator(CHART).first).to_be_visible(timeout=LOAD_TIMEOUT)
    expect(page.get_by_text("seed noise", exact=False).first).to_be_visible()
    settled(page)
    with page.expect_download() as dl:        # the tornado chart exports as SVG
        page.get_by_role("button", name=re.compile("Chart SVG")).click()
    assert dl.value.suggested_filename == "sensitivity-sobol.svg"
    assert Path(dl.value.path()).read_bytes().lstrip().startswith(b"<svg")

    view(page, "Discovery")
    expect(page.get_by_text("prim-1", exact=False).first).to_be_visible(timeout=LOAD_TIMEOUT)
    expect(page.locator(CHART)).to_have_count(2, timeout=LOAD_TIMEOUT)      # the box and the trade-off curve
    assert query(page)["a_dir"] == ["sobol"]

    # another folder, then the robustness view: the link keeps both
    box = page.get_by_role("combobox", name="Results folder (under outputs/)")
    box.click()
    page.get_by_role("option", name="levers", exact=True).click()
    expect(page).to_have_url(re.compile(r"a_dir=levers"), timeout=LOAD_TIMEOUT)
    settled(page)
    view(page, "Robustness")
    expect(page.locator(CHART)).to_have_count(2, timeout=LOAD_TIMEOUT)
    expect(page.get_by_text("9 policies", exact=False).or_(page.get_by_text("3 policies", exact=False)).first
           ).to_be_visible()
    q = query(page)
    assert q["a_dir"] == ["levers"] and q["a_view"] == ["Robustness"]

    # a copied link reopens the same view in a new session
    other = browser.new_context(viewport={"width": 1500, "height": 1100})
    try:
        p2 = other.new_page()
        p2.set_default_timeout(60_000)
        p2.goto(page.url)
        expect(p2.locator(CHART)).to_have_count(2, timeout=LOAD_TIMEOUT)
        expect(p2.get_by_role("combobox", name="Results folder (under outputs/)")).to_have_value("levers")
        assert query(p2)["a_view"] == ["Robustness"]
    finally:
        other.close()


def test_attribution_runs_on_demand_and_downloads(page, analysis_app_url):
    page.goto(analysis_app_url + "/analysis?a_view=Attribution&a_dir=levers&a_t_scenario=us-reopens"
              "&a_t_base=history&a_t_seeds=2")
    run = page.get_by_role("button", name=re.compile("Run attribution"))
    expect(run).to_be_visible(timeout=LOAD_TIMEOUT)
    expect(page.get_by_text("8 coalitions x 2 runs each", exact=False)).to_be_visible()
    expect(page.locator(CHART)).to_have_count(0)
    run.click()
    expect(page.get_by_text("From history to us-reopens", exact=False).first).to_be_visible(timeout=LOAD_TIMEOUT)
    expect(page.locator(CHART)).to_have_count(1)
    settled(page)
    with page.expect_download() as dl:
        page.get_by_role("button", name=re.compile("Table CSV")).click()
    assert dl.value.suggested_filename == "attribution-us-reopens-vs-history.csv"
    text = Path(dl.value.path()).read_text(encoding="utf-8")
    assert text.splitlines()[0] == "group,events,contribution,conf" and "\ntotal," in text
