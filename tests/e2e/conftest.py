"""Browser fixtures: Playwright driving the same headless Chromium shell the workers use."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from playwright.async_api import Browser, Page, async_playwright

from tests.support import API_KEY, REPO, Daemon
from wamc.config import load_settings

BROWSER_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking"]
DESKTOP = {"width": 1280, "height": 800}
PHONE = {"width": 390, "height": 844}


def artifacts_dir() -> Path:
    path = Path(os.environ.get("WAMC_TEST_ARTIFACTS") or REPO / "test-artifacts")
    path.mkdir(parents=True, exist_ok=True)
    return path


@pytest.fixture
async def browser() -> AsyncIterator[Browser]:
    exe = load_settings().resolved_browser_path()
    assert exe, "no headless Chromium found (scripts/setup.sh installs chromium-headless-shell)"
    async with async_playwright() as pw:
        b = await pw.chromium.launch(executable_path=exe, args=BROWSER_ARGS)
        try:
            yield b
        finally:
            await b.close()


async def open_dashboard(
    browser: Browser, daemon: Daemon, viewport: dict[str, int] = DESKTOP, **kw: Any
) -> Page:
    context = await browser.new_context(viewport=viewport, **kw)
    page = await context.new_page()
    page.set_default_timeout(30_000)
    await page.goto(daemon.base + "/admin/")
    return page


async def sign_in(page: Page, key: str = API_KEY) -> None:
    await page.fill("#signin-key", key)
    await page.click("#signin-form button[type=submit]")
