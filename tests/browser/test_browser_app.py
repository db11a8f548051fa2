"""The app in headless Chromium: load, move a slider, switch a rule off, share a link, upload a broken file,
and several sessions at once."""

from __future__ import annotations

import re

import pytest
from browser_helpers import (
    LOAD_TIMEOUT,
    chart_png,
    metrics,
    open_group,
    query,
    slider,
    wait_changed,
    wait_ready,
)
from playwright.sync_api import expect

from sim import labels

pytestmark = pytest.mark.browser

TPP_RULE = "us-2023-10-tpp-rule"
SWITCHING = "choice.switching_scale"  # shown under its plain label, in its group (sim/labels.py)


def test_explore_loads_with_history(page, app_url):
    page.goto(app_url + "/")
    wait_ready(page)
    expect(page.get_by_role("combobox", name="Scenario")).to_have_value("history")
    assert query(page)["scenario"] == ["history"]
    assert len(metrics(page)) == 6
    expect(page.locator("[data-testid=stVegaLiteChart] canvas, [data-testid=stVegaLiteChart] svg").first
           ).to_be_visible()


def test_slider_redraws_the_chart(page, app_url):
    page.goto(app_url + "/?seeds=5")
    wait_ready(page)
    open_group(page, labels.group(SWITCHING))
    s = slider(page, labels.label(SWITCHING))
    expect(s).not_to_have_value("0")
    before_png, before_metrics = chart_png(page), metrics(page)
    s.focus()
    s.press("Home")
    expect(page).to_have_url(re.compile(r"choice\.switching_scale=0(&|$)"), timeout=LOAD_TIMEOUT)
    wait_ready(page)
    expect(s).to_have_value("0")
    wait_changed(lambda: metrics(page), before_metrics)
    wait_changed(lambda: chart_png(page), before_png)


def test_switching_a_rule_off(page, app_url):
    page.goto(app_url + "/?seeds=5")
    wait_ready(page)
    before = metrics(page)
    # the numbered rules are listed beside the chart, no expander to open
    expect(page.get_by_text("Rules on the chart", exact=True)).to_be_visible()
    box = page.locator("[data-testid=stCheckbox]").filter(has_text="Oct-2023 rule")
    box.locator("label").click()
    expect(page).to_have_url(re.compile(rf"off={TPP_RULE}"), timeout=LOAD_TIMEOUT)
    wait_ready(page)
    expect(box.locator("input")).not_to_be_checked()
    wait_changed(lambda: metrics(page), before)
    # ticking a rule does not scroll the chart away: the list stands to the right of it
    chart = page.locator("[data-testid=stVegaLiteChart]").first.bounding_box()
    rules = box.bounding_box()
    assert rules["x"] >= chart["x"] + chart["width"] - 1, (rules, chart)


def test_shared_url_reproduces_the_view(page, browser, app_url):
    url = (app_url + "/?scenario=no-controls&seeds=5&choice.switching_scale=2.5&off=cn-2025-01-guidance-30"
           "&basis=value_share")
    page.goto(url)
    wait_ready(page)
    expect(page.get_by_role("combobox", name="Scenario")).to_have_value("no-controls")
    expect(page.get_by_text("Nvidia 2025 (value)")).to_be_visible()
    shared = page.url
    first = metrics(page)
    other = browser.new_context(viewport={"width": 1500, "height": 1100})
    try:
        p2 = other.new_page()
        p2.set_default_timeout(60_000)
        p2.goto(shared)
        wait_ready(p2)
        assert metrics(p2) == first
        assert query(p2) == query(page)
        open_group(p2, labels.group(SWITCHING))
        expect(slider(p2, labels.label(SWITCHING))).to_have_value("2.5")
        # the rule switched off in the link is unticked in the list beside the chart
        box = p2.locator("[data-testid=stCheckbox]").filter(has_text="Beijing advises")
        expect(box.locator("input")).not_to_be_checked()
    finally:
        other.close()


def test_broken_upload_shows_the_cli_errors(page, app_url, tmp_path):
    bad = tmp_path / "broken.toml"
    bad.write_text('[scenario]\nname = "x"\nstart = 2023\n[parameters]\n"choice.switching_scale" = 99\n')
    page.goto(app_url + "/?seeds=5")
    wait_ready(page)
    page.get_by_text("Upload a scenario file").click()
    page.locator("[data-testid=stFileUploader] input[type=file]").set_input_files(str(bad))
    err = page.locator("[data-testid=stAlert]").filter(has_text="was not accepted")
    expect(err).to_contain_text("broken.toml: parameters.choice.switching_scale:", timeout=LOAD_TIMEOUT)
    expect(err).to_contain_text("broken.toml: scenario.start:")
    assert query(page)["scenario"] == ["history"]


def test_five_sessions_keep_their_own_settings(browser, app_url):
    settings = [("history", "2.0"), ("no-controls", "3.0"), ("full-decoupling", "1.5"), ("us-reopens", "4.5"),
                ("escalation", "0.5")]
    contexts = [browser.new_context(viewport={"width": 1400, "height": 1000}) for _ in settings]
    try:
        pages = [c.new_page() for c in contexts]
        for pg, (sc, v) in zip(pages, settings):
            pg.set_default_timeout(90_000)
            pg.goto(f"{app_url}/?scenario={sc}&seeds=5&choice.switching_scale={v}")
        for pg in pages:
            wait_ready(pg)
        seen = []
        for pg, (sc, v) in zip(pages, settings):
            expect(pg.get_by_role("combobox", name="Scenario")).to_have_value(sc)
            q = query(pg)
            assert q["scenario"] == [sc] and float(q["choice.switching_scale"][0]) == float(v)
            seen.append(tuple(metrics(pg)))
        assert len(set(seen)) > 1
        # one session changes a rule; the others keep theirs
        pages[0].locator("[data-testid=stCheckbox]").filter(has_text="Oct-2023 rule").locator("label").click()
        expect(pages[0]).to_have_url(re.compile(rf"off={TPP_RULE}"), timeout=LOAD_TIMEOUT)
        wait_ready(pages[0])
        for pg, (sc, v), m in list(zip(pages, settings, seen))[1:]:
            pg.reload()
            wait_ready(pg)
            assert "off" not in query(pg)
            assert query(pg)["scenario"] == [sc]
            assert tuple(metrics(pg)) == m
    finally:
        for c in contexts:
            c.close()
