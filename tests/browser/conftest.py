"""Fixtures for real-browser tests: the app served by `streamlit run` and headless Debian Chromium."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest
from playwright.sync_api import expect

# a loaded 2-core machine: assertions wait up to 30 s for the page (Playwright's default is 5 s)
expect.set_options(timeout=30_000)

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = os.environ.get("CHIPSHIFT_CHROMIUM", "/usr/bin/chromium")
ARGS = ["--disable-gpu", "--disable-background-networking", "--disable-component-update", "--disable-sync",
        "--no-first-run", "--disable-quic"]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_app(app: Path, env: dict | None = None, log: Path | None = None):
    """Start `streamlit run` on a free localhost port; returns (process, url) once healthy."""
    port = _free_port()
    out = open(log, "wb") if log else subprocess.DEVNULL  # noqa: SIM115 - closed right after the fork
    try:
        proc = _popen(app, port, env, out)
    finally:
        if log:
            out.close()
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"streamlit exited with code {proc.returncode}")
        try:
            with urllib.request.urlopen(url + "/_stcore/health", timeout=2) as r:
                if r.read().strip() == b"ok":
                    return proc, url
        except OSError:
            time.sleep(0.2)
    stop_app(proc)
    raise RuntimeError("streamlit did not become healthy within 60 s")


def _popen(app: Path, port: int, env: dict | None, out):
    return subprocess.Popen(
        [sys.executable, "-m", "streamlit", "run", str(app), "--server.port", str(port),
         "--server.address", "127.0.0.1", "--server.headless", "true", "--server.fileWatcherType", "none",
         "--browser.gatherUsageStats", "false"],
        cwd=str(app.parent), env={**os.environ, **(env or {})}, stdout=out, stderr=subprocess.STDOUT,
        start_new_session=True)


def stop_app(proc: subprocess.Popen) -> None:
    proc.terminate()
    try:
        proc.wait(timeout=15)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(timeout=10)


@pytest.fixture(scope="session")
def outputs_dir(tmp_path_factory) -> Path:
    """The app's outputs folder for this test session (grid results), empty at the start."""
    return tmp_path_factory.mktemp("outputs")


@pytest.fixture(scope="session")
def app_url(tmp_path_factory, outputs_dir):
    log = tmp_path_factory.mktemp("server") / "streamlit.log"
    proc, url = start_app(ROOT / "app.py", env={"CHIPSHIFT_OUTPUTS": str(outputs_dir)}, log=log)
    yield url
    stop_app(proc)


@pytest.fixture(scope="session")
def shots(tmp_path_factory) -> Path:
    """Where the tests save their screenshots: ``CHIPSHIFT_SCREENSHOTS`` (e.g. docs/img, for the pictures in
    docs/APP.md), else a temporary folder."""
    where = os.environ.get("CHIPSHIFT_SCREENSHOTS")
    d = (ROOT / where) if where and not Path(where).is_absolute() else Path(where) if where else \
        tmp_path_factory.mktemp("screenshots")
    d.mkdir(parents=True, exist_ok=True)
    return d


@pytest.fixture(scope="session")
def analysis_app_url(tmp_path_factory):
    """The app with its outputs root on small made-up grid results folders (tests/analysis_synthetic.py)."""
    from analysis_synthetic import make_outputs

    root = make_outputs(tmp_path_factory.mktemp("analysis") / "outputs")
    log = tmp_path_factory.mktemp("server-analysis") / "streamlit.log"
    proc, url = start_app(ROOT / "app.py", env={"CHIPSHIFT_OUTPUTS": str(root)}, log=log)
    yield url
    stop_app(proc)


@pytest.fixture(scope="session")
def browser():
    if not Path(CHROMIUM).exists() and shutil.which("chromium") is None:
        pytest.fail(f"Chromium not found at {CHROMIUM} (install Debian's 'chromium' package)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=ARGS)
        yield b
        b.close()


@pytest.fixture
def page(browser):
    ctx = browser.new_context(viewport={"width": 1500, "height": 1100})
    pg = ctx.new_page()
    pg.set_default_timeout(90_000)
    yield pg
    ctx.close()


@pytest.fixture
def phone(browser):
    """A 390 px wide phone screen (iPhone 12-15 size) with touch."""
    ctx = browser.new_context(viewport={"width": 390, "height": 844}, device_scale_factor=2, is_mobile=True,
                              has_touch=True)
    pg = ctx.new_page()
    pg.set_default_timeout(90_000)
    yield pg
    ctx.close()
