"""Headless Chromium for the console tests (Playwright, Debian's /usr/bin/chromium: no browser download).

`browser` is one Chromium per session with its own temporary HOME; `console` opens a fresh browser context
(its own cookies, so its own login) on the live server for each user a test needs.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

import pytest

from tests.conftest import DEMO_PASSWORD

CHROMIUM = os.environ.get("CHROMIUM_PATH", "/usr/bin/chromium")
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync",
                 "--no-first-run", "--disable-quic"]
TIMEOUT_MS = 15_000


# Module scope: Playwright's sync API keeps an asyncio loop marked running in the main thread while it is
# open, which would break every later test that runs asyncio (the device receivers) in this process.
@pytest.fixture(scope="module")
def browser(tmp_path_factory: pytest.TempPathFactory) -> Iterator[object]:
    from playwright.sync_api import sync_playwright

    home = tmp_path_factory.mktemp("chromium-home")
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True,
                                              env={**os.environ, "HOME": str(home)})
        try:
            yield chromium
        finally:
            chromium.close()


@dataclass
class Console:
    """One user's browser tab, with the page errors it raised (uncaught exceptions fail the test)."""

    page: object
    errors: list[str] = field(default_factory=list)

    def log_in(self, username: str, password: str = DEMO_PASSWORD) -> None:
        """Through the login form, with the keyboard only: type, Tab, type, Enter."""
        from playwright.sync_api import expect

        self.page.goto("/login")
        expect(self.page.locator("#username")).to_be_focused()  # autofocus
        self.page.keyboard.type(username)
        self.page.keyboard.press("Tab")
        self.page.keyboard.type(password)
        with self.page.expect_navigation():
            self.page.keyboard.press("Enter")


@pytest.fixture
def console(browser: object, live_server: object) -> Iterator[Callable[..., Console]]:
    contexts = []

    def open_console(**options: object) -> Console:
        context = browser.new_context(base_url=live_server.url, locale="zh-CN", timezone_id="Asia/Shanghai",
                                      **options)
        context.set_default_timeout(TIMEOUT_MS)
        contexts.append(context)
        tab = Console(context.new_page())
        tab.page.on("pageerror", lambda error: tab.errors.append(str(error)))
        return tab

    yield open_console
    for context in contexts:
        context.close()
