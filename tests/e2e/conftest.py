"""Browser tests: real Chromium (Debian's package at /usr/bin/chromium, driven by Playwright
through `executable_path`) against a real `dataops serve --demo` process.

`scripts/ensure-chromium` installs the browser. When it is missing the e2e tests fail
under CI=true and are skipped (with the reason) everywhere else.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.conftest import ADMIN_EMAIL, ADMIN_PASSWORD, ServedPortal, login

CHROMIUM = Path(os.environ.get("DATAOPS_CHROMIUM", "/usr/bin/chromium"))
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
SCREENSHOTS = Path(__file__).parent / "screenshots"
HTTP_ERROR = re.compile(r"Failed to load resource: the server responded with a status of (\d+)")


def _missing_browser(reason: str) -> None:
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(f"{reason} (CI=true: browser tests must run; see scripts/ensure-chromium)")
    pytest.skip(f"{reason}; run scripts/ensure-chromium to install it")


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    """Module-scoped: Playwright's sync API keeps an asyncio loop running in this thread
    while it is open, which would break asyncio.run() in tests collected after these."""
    if not CHROMIUM.exists():
        _missing_browser(f"Chromium is not installed at {CHROMIUM}")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        _missing_browser("Playwright for Python is not installed in this environment")
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


@pytest.fixture
def demo(tmp_path: Path) -> Iterator[ServedPortal]:
    """A fresh `dataops serve --demo` per test: tests change the demo data."""
    portal = ServedPortal(tmp_path, "--demo")
    yield portal
    portal.stop()


@pytest.fixture
def admin_api(demo: ServedPortal) -> Iterator[httpx.Client]:
    """The admin's API client, for arranging data and checking the server's view."""
    with demo.client() as client:
        login(client, ADMIN_EMAIL, ADMIN_PASSWORD)
        yield client


@dataclass
class DemoData:
    bundle: dict[str, Any]
    tasks: dict[str, dict[str, Any]]  # by templateTaskRef


@pytest.fixture
def demo_data(admin_api: httpx.Client) -> DemoData:
    bundles = admin_api.get("/work/api/bundles").json()["items"]
    assert len(bundles) == 1, bundles
    bundle = bundles[0]
    tasks = admin_api.get("/work/api/tasks", params={"bundleId": bundle["id"]}).json()["items"]
    return DemoData(bundle, {t["templateTaskRef"]: t for t in tasks})


@dataclass
class UI:
    """One browser context on the served portal, watching for console and page errors."""

    page: Any
    base_url: str
    errors: list[str] = field(default_factory=list)
    http_errors: list[tuple[int, str]] = field(default_factory=list)
    allowed: list[tuple[int, str]] = field(default_factory=list)
    checked: bool = False

    def allow_http(self, status: int, url_part: str) -> None:
        """An HTTP error the test provokes on purpose (Chromium logs every failed
        request as a console error)."""
        self.allowed.append((status, url_part))

    def goto(self, path: str) -> None:
        self.page.goto(self.base_url + path)

    def login(self, email: str = ADMIN_EMAIL, password: str = ADMIN_PASSWORD) -> None:
        self.page.get_by_label("Email").fill(email)
        self.page.get_by_label("Password").fill(password)
        self.page.get_by_role("button", name="Log in").click()
        self.page.get_by_role("button", name="Log out").wait_for()

    def screenshot(self, name: str) -> None:
        SCREENSHOTS.mkdir(exist_ok=True)
        self.page.screenshot(path=str(SCREENSHOTS / f"{name}.png"), full_page=True)

    def unexpected(self) -> list[str]:
        problems = list(self.errors)
        for status, url in self.http_errors:
            if not any(status == s and part in url for s, part in self.allowed):
                problems.append(f"HTTP {status} from {url}")
        return problems

    def assert_clean(self) -> None:
        """No JavaScript errors, no uncaught exceptions, no unexpected failed requests."""
        self.checked = True
        assert self.unexpected() == []


def watch(page: Any, base_url: str) -> UI:
    """Wrap a page, recording console errors, page errors and failed requests."""
    view = UI(page, base_url)
    # Before login the session probe is refused: the expected way to find out.
    view.allow_http(401, "/auth/session")

    def on_console(message: Any) -> None:
        if message.type != "error":
            return
        match = HTTP_ERROR.search(message.text)
        if match:
            view.http_errors.append((int(match.group(1)), message.location.get("url", "")))
        else:
            view.errors.append(f"console error: {message.text}")

    page.on("console", on_console)
    page.on("pageerror", lambda error: view.errors.append(f"page error: {error}"))
    return view


def new_page(browser: Any, width: int = 1280) -> Any:
    """A page in a fresh browser context (its own cookies) `width` px wide."""
    context = browser.new_context(viewport={"width": width, "height": 900})
    context.set_default_timeout(10_000)
    return context.new_page()


@pytest.fixture
def ui(browser: Any, demo: ServedPortal) -> Iterator[UI]:
    page = new_page(browser)
    view = watch(page, demo.base_url)
    yield view
    page.context.close()
    if not view.checked:
        assert view.unexpected() == []
