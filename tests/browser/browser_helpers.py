"""Small helpers for driving the app in a real browser."""

from __future__ import annotations

import io
from urllib.parse import parse_qs, urlparse

import numpy as np
from playwright.sync_api import Page, expect

LOAD_TIMEOUT = 180_000   # a loaded 2-core machine: the first run of a server also loads the model's kernels


def wait_settled(page: Page, quiet_s: float = 1.0, timeout_s: float = LOAD_TIMEOUT / 1000) -> None:
    """Wait until no run is in progress and none starts for ``quiet_s`` (a page draws a preview, then
    reruns itself with the full ensemble: the status widget can be absent for a moment in between)."""
    import time

    deadline = time.monotonic() + timeout_s
    status = page.locator("[data-testid=stStatusWidget]")
    quiet_since = None
    while time.monotonic() < deadline:
        if status.count() == 0 and page.get_by_text("Preview from the first").count() == 0:
            quiet_since = quiet_since or time.monotonic()
            if time.monotonic() - quiet_since >= quiet_s:
                return
        else:
            quiet_since = None
        time.sleep(0.1)
    raise AssertionError(f"the page was still running after {timeout_s:.0f} s")


def wait_until(check, timeout_s: float = 30.0, what: str = "condition"):
    """Poll ``check()`` until it returns a true value (returned); fails after the timeout."""
    import time

    deadline = time.monotonic() + timeout_s
    while True:
        got = check()
        if got:
            return got
        if time.monotonic() > deadline:
            raise AssertionError(f"{what}: not met within {timeout_s:.0f} s")
        time.sleep(0.1)


def wait_layout(page: Page, quiet_s: float = 0.6, timeout_s: float = 30.0) -> None:
    """Wait until the charts stop moving and resizing (Vega draws after the page's run has ended)."""
    import time

    def boxes():
        return page.locator("[data-testid=stVegaLiteChart]").evaluate_all(
            "els => els.map(e => { const r = e.getBoundingClientRect(); "
            "return [Math.round(r.x), Math.round(r.y), Math.round(r.width), Math.round(r.height)]; })")

    deadline = time.monotonic() + timeout_s
    last, since = boxes(), time.monotonic()
    while time.monotonic() < deadline:
        time.sleep(0.1)
        now = boxes()
        if now != last:
            last, since = now, time.monotonic()
        elif time.monotonic() - since >= quiet_s:
            return
    raise AssertionError("the charts kept moving")


def wait_ready(page: Page) -> None:
    """Wait until Explore has finished its run (headline numbers and chart drawn from the full ensemble, no
    run in progress)."""
    # the headline metric's label (the 'what changed' panel can repeat the words in a list item)
    expect(page.locator("[data-testid=stMetricLabel]").filter(has_text="Huawei passes Nvidia")
           ).to_be_visible(timeout=LOAD_TIMEOUT)
    expect(page.locator("[data-testid=stVegaLiteChart]").first).to_be_visible(timeout=LOAD_TIMEOUT)
    expect(page.locator("[data-testid=stStatusWidget]")).to_have_count(0, timeout=LOAD_TIMEOUT)
    wait_settled(page)
    wait_layout(page)


def wait_for_text(page: Page, text: str) -> None:
    """Wait until ``text`` is visible and the page has stopped running."""
    expect(page.get_by_text(text).first).to_be_visible(timeout=LOAD_TIMEOUT)
    wait_settled(page)
    wait_layout(page)


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


# ---------------------------------------------------------------- what is drawn: boxes, colours, contrast


def chart(page: Page, i: int = 0):
    return page.locator("[data-testid=stVegaLiteChart]").nth(i)


def mark_texts(chart_locator, mark: str) -> list[dict]:
    """The SVG text items of a named chart mark (``sim.charts`` names them, e.g. "rule_numbers"): text,
    box, fill and font size as rendered."""
    return chart_locator.locator(f"g.{mark}_marks text").evaluate_all(
        """els => els.map(e => { const r = e.getBoundingClientRect(); const cs = getComputedStyle(e);
              return {text: e.textContent, x: r.x, y: r.y, width: r.width, height: r.height,
                      fill: cs.fill, size: parseFloat(cs.fontSize)}; })""")


def boxes_of(locator) -> list[dict]:
    return locator.evaluate_all("els => els.map(e => { const r = e.getBoundingClientRect(); "
                                "return {text: (e.innerText || e.textContent || '').trim(), x: r.x, y: r.y, "
                                "width: r.width, height: r.height}; })")


def visible_boxes(locator) -> list[dict]:
    """Boxes of the elements as far as they can be seen: clipped by every scrolling or clipping ancestor
    (a list in a scroll box shows only its window); elements scrolled out of such a box are left out."""
    return locator.evaluate_all("""els => els.map(e => {
        let r = e.getBoundingClientRect(); let x0 = r.left, y0 = r.top, x1 = r.right, y1 = r.bottom;
        for (let a = e.parentElement; a; a = a.parentElement) {
          const cs = getComputedStyle(a);
          if (cs.overflowX !== 'visible' || cs.overflowY !== 'visible') {
            const q = a.getBoundingClientRect();
            if (cs.overflowX !== 'visible') { x0 = Math.max(x0, q.left); x1 = Math.min(x1, q.right); }
            if (cs.overflowY !== 'visible') { y0 = Math.max(y0, q.top); y1 = Math.min(y1, q.bottom); }
          }
        }
        return {text: (e.innerText || '').trim().slice(0, 60), x: x0, y: y0, width: Math.max(0, x1 - x0),
                height: Math.max(0, y1 - y0)}; })""")


def overlap(a: dict, b: dict, tol: float = 0.5) -> bool:
    """Do two boxes (x, y, width, height) overlap by more than ``tol`` px both ways?"""
    return (min(a["x"] + a["width"], b["x"] + b["width"]) - max(a["x"], b["x"]) > tol and
            min(a["y"] + a["height"], b["y"] + b["height"]) - max(a["y"], b["y"]) > tol)


def overlapping(boxes: list[dict], tol: float = 0.5) -> list[tuple[str, str]]:
    boxes = [b for b in boxes if b["width"] > 0 and b["height"] > 0]
    return [(a.get("text", ""), b.get("text", "")) for i, a in enumerate(boxes) for b in boxes[i + 1:]
            if overlap(a, b, tol)]


# Text colour against what is painted under it, both as rendered: the colours of the elements under the
# text's centre (document.elementsFromPoint), composited with their opacities, and WCAG 2 relative luminance.
CONTRAST_JS = r"""
(root, svgOnly) => {
  const parse = c => { const m = (c || '').match(/rgba?\(([^)]+)\)/); if (!m) return null;
    const p = m[1].split(/[ ,\/]+/).filter(Boolean).map(Number);
    return {r: p[0], g: p[1], b: p[2], a: p.length > 3 ? p[3] : 1}; };
  const lum = c => { const f = v => { v /= 255; return v <= 0.03928 ? v / 12.92 : Math.pow((v + 0.055) / 1.055, 2.4); };
    return 0.2126 * f(c.r) + 0.7152 * f(c.g) + 0.0722 * f(c.b); };
  const over = (t, b) => ({r: t.r * t.a + b.r * (1 - t.a), g: t.g * t.a + b.g * (1 - t.a), b: t.b * t.a + b.b * (1 - t.a), a: 1});
  const opacity = el => { let o = 1; for (let e = el; e && e.nodeType === 1; e = e.parentElement)
      o *= Number(getComputedStyle(e).opacity);
    if (el instanceof SVGElement) o *= Number(getComputedStyle(el).fillOpacity || 1);
    return o; };
  const paint = e => { const cs = getComputedStyle(e);
    if (e instanceof SVGElement) { if (['text', 'g', 'svg', 'tspan'].includes(e.tagName)) return null;
      const f = parse(cs.fill); if (!f || cs.fill === 'none') return null;
      return {...f, a: f.a * opacity(e)}; }
    const c = parse(cs.backgroundColor); return c && c.a > 0 ? {...c, a: c.a * Number(cs.opacity)} : null; };
  const under = (el, x, y) => { const stack = [];
    for (const e of document.elementsFromPoint(x, y)) { if (e === el || el.contains(e)) continue;
      const c = paint(e); if (c && c.a > 0.001) { stack.push(c); if (c.a >= 0.999) break; } }
    let col = {r: 255, g: 255, b: 255, a: 1};
    for (let i = stack.length - 1; i >= 0; i--) col = over(stack[i], col);
    return col; };
  const out = [];
  const items = [];
  if (svgOnly) { root.querySelectorAll('svg text').forEach(t => items.push([t, t.textContent])); }
  else { const w = document.createTreeWalker(root, NodeFilter.SHOW_TEXT);
    while (w.nextNode()) { const n = w.currentNode; if (n.parentElement && !n.parentElement.closest('svg'))
      items.push([n.parentElement, n.textContent]); } }
  for (const [el, raw] of items) {
    const text = (raw || '').trim(); if (!text) continue;
    const r = el.getBoundingClientRect(); if (r.width < 1 || r.height < 1) continue;
    const cs = getComputedStyle(el);
    if (cs.visibility === 'hidden' || cs.display === 'none') continue;
    const op = opacity(el); if (op < 0.01) continue;                 // not drawn (e.g. shown on hover only)
    if (el.closest('[data-testid=stIconMaterial]')) continue;       // icon ligatures beside a label
    if (el.closest('[disabled], [aria-disabled=true]')) continue;   // WCAG exempts inactive controls
    const cx = Math.min(Math.max(r.x + r.width / 2, 0), innerWidth - 1), cy = Math.min(Math.max(r.y + r.height / 2, 0), innerHeight - 1);
    const bg = under(el, cx, cy);
    let fg = parse(el instanceof SVGElement ? cs.fill : cs.color); if (!fg) continue;
    fg = over({...fg, a: fg.a * op}, bg);
    const l1 = lum(fg), l2 = lum(bg);
    out.push({text: text.slice(0, 60), ratio: (Math.max(l1, l2) + 0.05) / (Math.min(l1, l2) + 0.05),
              size: parseFloat(cs.fontSize), color: el instanceof SVGElement ? cs.fill : cs.color,
              where: (el.closest('[data-testid]') || {dataset: {}}).dataset.testid || ''});
  }
  return out;
}
"""


def contrasts(page: Page, root_selector: str = "body", svg_only: bool = False) -> list[dict]:
    """Every visible text under ``root_selector`` in the current viewport's layout with its rendered
    contrast ratio against what is painted under it. Items outside the viewport are measured after
    scrolling them into view by the caller (elementsFromPoint sees only the viewport)."""
    return page.locator(root_selector).first.evaluate(CONTRAST_JS, svg_only)


def shot(target, shots_dir, name: str) -> bytes:
    """A screenshot of the page's window or of an element, saved as ``shots_dir/name.png``; returns the PNG
    bytes. An element is shot without the page's top bar, which would cover the top of a tall element."""
    path = str(shots_dir / f"{name}.png")
    if isinstance(target, Page):
        return target.screenshot(path=path)
    return target.screenshot(path=path, style="[data-testid=stHeader] { visibility: hidden; }")


# ---------------------------------------------------------------- overlap measured on screenshots

# the page's smallest blocks: element containers holding no other element container
LEAVES = "[data-testid=stMain] [data-testid=stElementContainer]:not(:has([data-testid=stElementContainer]))"
_ALONE = "{sel}:not([data-ink-on]), {sel}:not([data-ink-on]) * {{ visibility: hidden !important; }}"


def _pixels(page: Page, clip: dict | None = None) -> np.ndarray:
    from PIL import Image

    png = page.screenshot(clip=clip, scale="css")
    return np.asarray(Image.open(io.BytesIO(png)).convert("RGB")).astype(np.int16)


def _next_frame(page: Page) -> None:
    page.evaluate("() => new Promise(r => requestAnimationFrame(() => requestAnimationFrame(r)))")


def ink_overlaps(page: Page, selector: str, threshold: int = 48, margin: int = 40) -> tuple[dict, int]:
    """Where the items matching ``selector`` (not nested in one another) paint the same pixels, measured on
    screenshots of the current window: each item is drawn alone (the others hidden with ``visibility``, so
    nothing moves), and its ink is where that screenshot differs from one with none of them drawn (within
    ``margin`` px of its box, so text spilling out of its box counts). Returns {(text a, text b): shared
    pixels} and how many items drew something."""
    style = page.add_style_tag(content=_ALONE.format(sel=selector))
    try:
        _next_frame(page)
        blank = _pixels(page)
        h, w, _ = blank.shape
        owner = np.full((h, w), -1, dtype=np.int32)
        items = page.locator(selector)
        found = items.evaluate_all("""els => els.map(e => { const r = e.getBoundingClientRect();
            return {text: (e.innerText || e.textContent || '').trim().replace(/\\s+/g, ' ').slice(0, 40),
                    box: [r.left, r.top, r.right, r.bottom]}; })""")
        shared: dict = {}
        drawn = 0
        for i, item in enumerate(found):
            x0, y0, x1, y1 = item["box"]
            a0, b0 = max(0, int(x0) - margin), max(0, int(y0) - margin)
            a1, b1 = min(w, int(x1) + margin + 1), min(h, int(y1) + margin + 1)
            if x1 - x0 < 1 or y1 - y0 < 1 or a1 - a0 < 2 or b1 - b0 < 2:
                continue
            items.nth(i).evaluate("e => e.setAttribute('data-ink-on', '')")
            _next_frame(page)
            alone = _pixels(page, {"x": a0, "y": b0, "width": a1 - a0, "height": b1 - b0})
            items.nth(i).evaluate("e => e.removeAttribute('data-ink-on')")
            hh, ww = alone.shape[:2]
            ink = np.zeros((h, w), dtype=bool)
            ink[b0:b0 + hh, a0:a0 + ww] = np.abs(alone - blank[b0:b0 + hh, a0:a0 + ww]).max(axis=2) > threshold
            if not ink.any():
                continue
            drawn += 1
            under = owner[ink]
            for j, n in zip(*np.unique(under[under >= 0], return_counts=True)):
                pair = (found[j]["text"], item["text"])
                shared[pair] = shared.get(pair, 0) + int(n)
            owner[ink] = i
        return shared, drawn
    finally:
        style.evaluate("e => e.remove()")


def each_screen(page: Page, step: float = 0.8):
    """Scroll the main area from top to bottom, a window at a time (overlapping by a fifth); yields the
    scroll position at each stop."""
    import time

    main = page.locator("[data-testid=stMain]")
    total, height = main.evaluate("e => [e.scrollHeight, e.clientHeight]")
    y = 0
    while True:
        main.evaluate(f"e => {{ e.scrollTop = {y}; }}")
        time.sleep(0.2)
        yield y
        if y + height >= total:
            break
        y += int(height * step)
    main.evaluate("e => { e.scrollTop = 0; }")
