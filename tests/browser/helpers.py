"""Small helpers for driving the app in a real browser."""

from __future__ import annotations

from urllib.parse import parse_qs, urlparse

from playwright.sync_api import Page, expect

LOAD_TIMEOUT = 90_000


def wait_ready(page: Page) -> None:
    """Wait until the page has finished its run (headline numbers drawn, no run in progress)."""
    expect(page.get_by_text("Huawei passes Nvidia")).to_be_visible(timeout=LOAD_TIMEOUT)
    expect(page.locator("[data-testid=stVegaLiteChart]").first).to_be_visible(timeout=LOAD_TIMEOUT)
    expect(page.locator("[data-testid=stStatusWidget]")).to_have_count(0, timeout=LOAD_TIMEOUT)


def metrics(page: Page) -> list[str]:
    return page.locator("[data-testid=stMetricValue]").all_inner_texts()


def query(page: Page) -> dict[str, list[str]]:
    return parse_qs(urlparse(page.url).query)


def slider(page: Page, label: str):
    return page.locator("[data-testid=stSlider]").filter(has_text=label).locator("input[type=range]")


def chart_png(page: Page) -> bytes:
    return page.locator("[data-testid=stVegaLiteChart]").first.screenshot()


def wait_changed(read, before, timeout_s: float = 90.0):
    """Poll ``read()`` until it differs from ``before``; returns the new value (fails after the timeout)."""
    import time

    deadline = time.monotonic() + timeout_s
    now = read()
    while now == before and time.monotonic() < deadline:
        time.sleep(0.1)
        now = read()
    assert now != before, f"still {before!r} after {timeout_s} s"
    return now
