"""The browser tests' framework: the real app under uvicorn, driven by Debian's Chromium.

- `live_home` (module): a private copy of the shared replayed city (`web_city`), because the
  flows write (visits, exports, logins).
- `live_server` (module): uvicorn serving `create_app(live_home)` on a free localhost port, in a
  background thread; `.url` is its base address. Stopped (and joined) after the module.
- `browser` (session): Chromium launched through Playwright's Python client, using the
  system's browser (`$LIFESIGN_TEST_CHROMIUM`, default /usr/bin/chromium) — never a downloaded
  one. Skipped with the reason when Chromium is absent, unless `CI=true`: then it fails, like
  the PostgreSQL fixture.
- `page` (function): a fresh browser context and page (desktop size, zh-CN); `phone_page`: a
  phone-sized one (390×844, touch).
- `login(page, key)`: logs a demo user in through the login form.
- `shot(page, name)`: saves a full-page screenshot to test-artifacts/screenshots/<name>.png
  (the folder is created here, and ignored by git) and returns its path.
"""

from __future__ import annotations

import os
import shutil
import socket
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from lifesign.config import Settings, load_settings
from lifesign.web.demo_accounts import DemoLogin

CHROMIUM_ENV = "LIFESIGN_TEST_CHROMIUM"
DEFAULT_CHROMIUM = "/usr/bin/chromium"
# No GPU, no network calls of its own (updates, sync, QUIC probes): a quiet headless browser
# that works as root inside a container.
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
REPO_ROOT = Path(__file__).resolve().parents[3]
SCREENSHOTS = REPO_ROOT / "test-artifacts" / "screenshots"
DESKTOP = {"width": 1280, "height": 900}
PHONE = {"width": 390, "height": 844}
SERVER_START_SECONDS = 30.0


def _in_ci() -> bool:
    return os.environ.get("CI", "").lower() in ("1", "true", "yes")


def chromium_path() -> str:
    return os.environ.get(CHROMIUM_ENV, DEFAULT_CHROMIUM)


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def copy_home(source: Settings, target: Path) -> Settings:
    """A private copy of a home: the lake and secrets by file, the database through SQLite's
    backup (the WAL may hold committed pages a file copy would miss)."""
    shutil.copytree(source.home, target, ignore=shutil.ignore_patterns("*.db-wal", "*.db-shm"))
    reader = sqlite3.connect(source.home / "lifesign.db")
    writer = sqlite3.connect(target / "lifesign.db")
    try:
        reader.backup(writer)
    finally:
        reader.close()
        writer.close()
    return load_settings(home=target, database_url=f"sqlite:///{target / 'lifesign.db'}")


@pytest.fixture(scope="module")
def live_home(web_city: Settings, tmp_path_factory: pytest.TempPathFactory) -> Settings:
    return copy_home(web_city, tmp_path_factory.mktemp("live") / "home")


@dataclass
class LiveServer:
    url: str
    settings: Settings
    app: Any


@pytest.fixture(scope="module")
def live_server(live_home: Settings) -> Iterator[LiveServer]:
    import uvicorn

    from lifesign.web.app import create_app

    app = create_app(live_home)
    port = _free_port()
    config = uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="off")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, name="uvicorn-browser-tests", daemon=True)
    thread.start()
    deadline = time.monotonic() + SERVER_START_SECONDS
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError(f"uvicorn did not start on port {port}")
        time.sleep(0.05)
    try:
        yield LiveServer(f"http://127.0.0.1:{port}", live_home, app)
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        app.state.engine.dispose()


@pytest.fixture(scope="session")
def browser() -> Iterator[Any]:
    executable = chromium_path()
    if not Path(executable).exists():
        message = (
            f"Chromium not found at {executable} (set ${CHROMIUM_ENV}, or apt install chromium)"
        )
        if _in_ci():
            pytest.fail(message + " — required when CI=true")
        pytest.skip(message)
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=executable, args=CHROMIUM_ARGS)
        try:
            yield launched
        finally:
            launched.close()


def _context(browser: Any, server: LiveServer, **options: Any) -> Any:
    context = browser.new_context(base_url=server.url, locale="zh-CN", **options)
    context.set_default_timeout(15_000)
    return context


@pytest.fixture
def page(browser: Any, live_server: LiveServer) -> Iterator[Any]:
    context = _context(browser, live_server, viewport=DESKTOP)
    try:
        yield context.new_page()
    finally:
        context.close()


@pytest.fixture
def phone_page(browser: Any, live_server: LiveServer) -> Iterator[Any]:
    context = _context(
        browser, live_server, viewport=PHONE, device_scale_factor=2, is_mobile=True, has_touch=True
    )
    try:
        yield context.new_page()
    finally:
        context.close()


@pytest.fixture
def login(users: dict[str, DemoLogin]) -> Callable[[Any, str], None]:
    """`login(page, "worker")`: log that demo user in through the form."""

    def log_in(page: Any, key: str) -> None:
        account = users[key]
        page.goto("/login")
        page.fill("input[name=username]", account.username)
        page.fill("input[name=password]", account.password)
        page.click("form button[type=submit]")
        page.wait_for_load_state("networkidle")
        assert "/login" not in page.url, f"login of {key} failed: still on {page.url}"

    return log_in


def save_screenshot(page: Any, name: str) -> Path:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    return path


@pytest.fixture
def shot() -> Callable[[Any, str], Path]:
    """`shot(page, "overview")`: a full-page screenshot in test-artifacts/screenshots/."""
    return save_screenshot
