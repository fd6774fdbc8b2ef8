"""The dashboard's sign-in makes no probe that fails: no request answered 4xx/5xx, no console
error; linking by phone number is offered without one, and works (the simulator's code)."""

from __future__ import annotations

import re
from typing import Any

from playwright.async_api import Browser, Response, expect

from tests.e2e.conftest import open_dashboard, sign_in
from tests.support import Daemon

SLOW = 90_000  # ms: a worker with its Chromium starting on a loaded 2-core machine


async def test_sign_in_and_pairing_without_a_failing_probe(
    browser: Browser, daemon: Daemon, sim_http: Any
) -> None:
    code, _ = await daemon.call("POST", "/api/clients/acme/connect")
    assert code == 202
    page = await open_dashboard(browser, daemon)
    failed: list[str] = []
    requests: list[str] = []
    errors: list[str] = []

    def on_response(r: Response) -> None:
        if r.status >= 400:
            failed.append(f"{r.request.method} {r.url} -> {r.status}")

    page.on("response", on_response)
    page.on("request", lambda r: requests.append(f"{r.method} {r.url}"))
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)

    await sign_in(page)
    await expect(page.locator("#app")).to_be_visible()
    await expect(page.locator("#conn")).to_have_attribute("data-live", "1")
    card = page.locator('li.card[data-id="acme"]')
    await expect(card.locator(".badge")).to_have_text("QR ready", timeout=SLOW)

    await card.locator('button[data-act="qr"]').click()
    await expect(page.locator("#qr-img")).to_be_visible()
    form = page.locator("#pair-form")
    await expect(form).to_be_visible()
    await page.fill("#pair-phone", "+55 11 90000-0501")
    await form.locator("button[type=submit]").click()
    await expect(page.locator("#pair-result")).to_have_text(
        re.compile(r"^[A-Z0-9]{4}-?[A-Z0-9]{4}$"), timeout=30_000
    )

    assert failed == [] and errors == [], (failed, errors)
    assert not [r for r in requests if "/pairing-code" in r and not r.startswith("POST ")]
    assert [r for r in requests if r.startswith("POST ") and r.endswith("/pairing-code")]
