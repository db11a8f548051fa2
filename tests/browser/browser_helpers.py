"""Small helpers for driving the app in a real browser."""

from __future__ import annotations

from urllib.parse import parse_qs, urlparse

from playwright.sync_api import Page, expect

LOAD_TIMEOUT = 90_000


def wait_ready(page: Page) -> None:
    """Wait until the page has finished its run (headline numbers drawn, no run in progress)."""
    # the headline metric's label (the 'what changed' panel can repeat the words in a list item)
    expect(page.locator("[data-testid=stMetricLabel]").filter(has_text="Huawei passes Nvidia")
           ).to_be_visible(timeout=LOAD_TIMEOUT)
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


def open_group(page: Page, group: str, timeout_s: float = 60.0) -> None:
    """Show one group of parameter controls in the sidebar: pick ``group`` (a name of sim.labels.GROUPS) in
    the "Parameters" list. Picking reruns the page, so retry until the list shows the group."""
    import re
    import time

    box = page.locator("[data-testid=stSidebar]").get_by_role("combobox", name="Parameters")
    # options read "GROUP (n)", with " · changed" when one of its parameters differs from the scenario
    pattern = re.compile(rf"^{re.escape(group)} \(\d+\)")
    option = page.get_by_role("option", name=pattern)
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            if pattern.match(box.input_value(timeout=2000)):
                return
            box.click(timeout=2000)
            option.first.click(timeout=2000)
            expect(box).to_have_value(pattern, timeout=5000)
            return
        except Exception:  # noqa: BLE001 - the page was still rerunning: close the list and retry
            page.keyboard.press("Escape")
        time.sleep(0.2)
    raise AssertionError(f"parameter group {group!r} not found")
