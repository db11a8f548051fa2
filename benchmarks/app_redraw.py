"""App redraw time in a real browser: slider key press -> results drawn (the URL changes last).

Starts the app (and a trivial Streamlit + Altair page for comparison) with `streamlit run`, drives headless
Debian Chromium with Playwright and reports the median over repeated slider moves:

    python benchmarks/app_redraw.py --repeat 8

Each move of ``choice.switching_scale`` is a new input (a cache miss: the seed ensemble is computed);
moving back to a value already seen is a cache hit. The app writes the settings into the URL only after
its results are drawn, so "URL shows the new value" marks the end of a redraw.
"""

from __future__ import annotations

import argparse
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
# the slider moved: choice.switching_scale (its sidebar group and label as the app shows them)
GROUP, SLIDER_LABEL = "Software ecosystem (CUDA lock-in)", "Cost of switching away from CUDA"
ARGS = ["--disable-gpu", "--disable-background-networking", "--disable-component-update", "--disable-sync",
        "--no-first-run", "--disable-quic"]

TRIVIAL = textwrap.dedent('''
    import altair as alt, numpy as np, pandas as pd, streamlit as st
    v = st.slider("x", 0.0, 10.0, 4.0, 0.01, key="x")
    t = np.arange(108)
    d = pd.DataFrame({"t": t, "y": np.sin(t / 10 * v)})
    st.altair_chart(alt.Chart(d).mark_line().encode(x="t:Q", y="y:Q"), width="stretch")
    st.query_params["x"] = f"{v:g}"
''')


def start(app: Path, env: dict) -> tuple[subprocess.Popen, str]:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    proc = subprocess.Popen([sys.executable, "-m", "streamlit", "run", str(app), "--server.port", str(port),
                             "--server.address", "127.0.0.1", "--server.headless", "true",
                             "--server.fileWatcherType", "none", "--browser.gatherUsageStats", "false"],
                            cwd=str(app.parent), env={**os.environ, **env}, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL, start_new_session=True)
    url = f"http://127.0.0.1:{port}"
    for _ in range(300):
        try:
            with urllib.request.urlopen(url + "/_stcore/health", timeout=2) as r:
                if r.read().strip() == b"ok":
                    return proc, url
        except OSError:
            time.sleep(0.2)
    proc.kill()
    raise RuntimeError("server did not start")


def stop(proc: subprocess.Popen) -> None:
    proc.terminate()
    proc.wait(timeout=20)


def _move(page, slider, key: str, name: str) -> float:
    """Press a key on the slider; seconds until the URL shows the slider's new value."""
    t0 = time.perf_counter()
    slider.press(key)
    page.wait_for_function(
        "([n, v]) => new URLSearchParams(location.search).get(n) !== v",
        arg=[name, _url_value(page, name)], polling="raf", timeout=120_000)
    # the value changed; now wait for this exact value (the slider's current one)
    want = slider.input_value()
    page.wait_for_function(
        "([n, v]) => Number(new URLSearchParams(location.search).get(n)) === Number(v)",
        arg=[name, want], polling="raf", timeout=120_000)
    return time.perf_counter() - t0


def _url_value(page, name: str) -> str | None:
    from urllib.parse import parse_qs, urlparse

    v = parse_qs(urlparse(page.url).query).get(name)
    return v[-1] if v else None


def _open_group(page, group: str) -> None:
    """Pick a group in the sidebar's "Parameters" list; retried while the pick reruns the page."""
    import re

    box = page.locator("[data-testid=stSidebar]").get_by_role("combobox", name="Parameters")
    pattern = re.compile(rf"^{re.escape(group)} \(\d+\)")
    option = page.get_by_role("option", name=pattern)
    for _ in range(200):
        try:
            if pattern.match(box.input_value(timeout=2000)):
                return
            box.click(timeout=2000)
            option.first.click(timeout=2000)
        except Exception:  # noqa: BLE001 - still rerunning
            page.keyboard.press("Escape")
        time.sleep(0.3)
    raise RuntimeError(f"parameter group {group} not found")


def _settled(page, name: str, want: str) -> None:
    """The URL shows ``want`` and the page shows no preview and no running indicator."""
    page.wait_for_function(
        "([n, v]) => Number(new URLSearchParams(location.search).get(n)) === Number(v)",
        arg=[name, want], polling="raf", timeout=120_000)
    page.wait_for_function(
        "() => !document.body.innerText.includes('Preview from') && "
        "!document.querySelector('[data-testid=stStatusWidget] [data-testid=stStatusWidgetRunningIcon]')",
        polling=50, timeout=120_000)


def measure_app(browser, url: str, seeds: int, repeat: int) -> dict[str, float]:
    name = "choice.switching_scale"
    page = browser.new_page(viewport={"width": 1500, "height": 1100})
    page.goto(f"{url}/?seeds={seeds}")
    page.locator("[data-testid=stMetricLabel]").filter(has_text="Huawei passes Nvidia").wait_for(timeout=180_000)
    _open_group(page, GROUP)
    s = page.locator("[data-testid=stSlider]").filter(has_text=SLIDER_LABEL).locator("input[type=range]")
    s.focus()
    _move(page, s, "ArrowLeft", name)  # warm-up
    miss, full = [], []
    for _ in range(repeat):
        t0 = time.perf_counter()
        miss.append(_move(page, s, "ArrowLeft", name))          # first drawing (the preview)
        _settled(page, name, s.input_value())
        full.append(time.perf_counter() - t0)                  # the full ensemble drawn
    hit = [_move(page, s, "ArrowRight", name) for _ in range(repeat)]
    # five quick presses: how long after the last one until the page shows the final value, in full
    burst = []
    for _ in range(max(2, repeat // 2)):
        for _k in range(5):
            s.press("ArrowLeft")
            time.sleep(0.12)
        t0 = time.perf_counter()
        _settled(page, name, s.input_value())
        burst.append(time.perf_counter() - t0)
    page.close()
    return {"miss": statistics.median(miss), "full": statistics.median(full), "hit": statistics.median(hit),
            "burst": statistics.median(burst)}


def measure_trivial(browser, url: str, repeat: int) -> float:
    page = browser.new_page()
    page.goto(url + "/")
    s = page.locator("[data-testid=stSlider] input[type=range]")
    s.wait_for(state="attached", timeout=60_000)
    page.wait_for_function("() => location.search.includes('x=')", timeout=60_000)
    s.focus()
    _move(page, s, "ArrowRight", "x")
    times = [_move(page, s, "ArrowRight", "x") for _ in range(repeat)]
    page.close()
    return statistics.median(times)


def compute_only(seeds: int, repeat: int) -> float:
    """The app's computation alone for a new input: the ensemble as one batch in this process."""
    code = textwrap.dedent(f'''
        import time, statistics
        from sim import load_scenario
        from sim.engine import ensemble as E
        sc = load_scenario("history")
        E.run_ensemble(sc, {seeds})
        ts = []
        for i in range({repeat}):
            s2 = sc.with_changes(parameters={{"choice.switching_scale": 3.0 + i / 100}})
            t = time.perf_counter(); E.run_ensemble(s2, {seeds}); ts.append(time.perf_counter() - t)
        print(statistics.median(ts))
    ''')
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True)
    return float(out.stdout.strip().splitlines()[-1])


class Load:
    """Background CPU load: ``n`` busy processes (the "under load" condition of the goals)."""

    def __init__(self, n: int):
        self.n, self.procs = n, []

    def __enter__(self):
        self.procs = [subprocess.Popen([sys.executable, "-c", "while True: pass"]) for _ in range(self.n)]
        return self

    def __exit__(self, *exc):
        for p in self.procs:
            p.kill()
            p.wait()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeat", type=int, default=8)
    ap.add_argument("--seeds", type=int, nargs="+", default=[20])
    ap.add_argument("--load", type=int, nargs="+", default=[0, 2],
                    help="background busy processes per condition (0 = idle)")
    a = ap.parse_args()
    from playwright.sync_api import sync_playwright

    rows = []
    for seeds in a.seeds:
        rows.append((f"ensemble computation alone ({seeds} seeds)", compute_only(seeds, a.repeat), None))
    with sync_playwright() as p, tempfile.TemporaryDirectory() as d:
        browser = p.chromium.launch(executable_path="/usr/bin/chromium", headless=True, args=ARGS)
        triv = Path(d) / "trivial.py"
        triv.write_text(TRIVIAL)
        for load in a.load:
            tag = "idle" if not load else f"{load} busy processes"
            with Load(load):
                proc, url = start(triv, {})
                try:
                    base = measure_trivial(browser, url, a.repeat)
                finally:
                    stop(proc)
                rows.append((f"trivial page (slider + Altair line), redraw, {tag}", base, base))
                proc, url = start(ROOT / "app.py", {})
                try:
                    for seeds in a.seeds:
                        r = measure_app(browser, url, seeds, a.repeat)
                        rows.append((f"Explore, new input, first drawing (preview), {seeds} seeds, {tag}", r["miss"], base))
                        rows.append((f"Explore, new input, full ensemble drawn, {seeds} seeds, {tag}", r["full"], base))
                        rows.append((f"Explore, cached input, {seeds} seeds, {tag}", r["hit"], base))
                        rows.append((f"Explore, 5 quick presses: settled after the last, {seeds} seeds, {tag}",
                                     r["burst"], None))
                finally:
                    stop(proc)
        browser.close()
    print("| what | median | ratio to the trivial page |\n|---|---|---|")
    for name, t, base in rows:
        ratio = f"{t / base:.1f}x" if base else ""
        print(f"| {name} | {1000 * t:.0f} ms | {ratio} |")


if __name__ == "__main__":
    main()
