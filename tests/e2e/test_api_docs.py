"""Swagger UI at /api-docs renders the live OpenAPI document in headless Chromium, offline (every
asset from the daemon itself), lists the operations, and "Authorize" + "Try it out" call the API
with the key. A screenshot goes to $WAMC_TEST_ARTIFACTS (or test-artifacts/)."""

from __future__ import annotations

import re

from playwright.async_api import Browser, expect

from tests.e2e.conftest import DESKTOP, artifacts_dir
from tests.support import API_KEY, Daemon


async def test_swagger_ui_lists_operations_and_calls_the_api(
    browser: Browser, daemon: Daemon
) -> None:
    context = await browser.new_context(viewport=DESKTOP)
    page = await context.new_page()
    page.set_default_timeout(30_000)
    requested: list[str] = []
    problems: list[str] = []
    page.on("request", lambda r: requested.append(r.url))
    page.on("console", lambda m: problems.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: problems.append(str(e)))

    resp = await page.goto(daemon.base + "/api-docs")
    assert resp is not None and resp.status == 200
    assert "script-src 'self'" in resp.headers["content-security-policy"]
    await expect(page.locator(".swagger-ui .info .title")).to_contain_text("wamc")
    ops = page.locator(".opblock")
    await expect(ops.first).to_be_visible()
    code, doc = await daemon.call("GET", "/openapi.json")
    assert code == 200
    documented = sum(len(item) for item in doc["paths"].values())
    await expect(ops).to_have_count(documented)
    summaries = await page.locator(".opblock-summary-description").all_inner_texts()
    for expected in ("Send a text message", "Create an API token for one client", "List clients"):
        assert expected in summaries, summaries
    paths = await page.locator(".opblock-summary-path").all_inner_texts()
    assert "/api/clients/{id}/send-message" in [p.replace("\u200b", "") for p in paths]
    await page.screenshot(path=str(artifacts_dir() / "api-docs.png"), full_page=True)

    # Authorize with the key, then "Try it out" on GET /api/clients: the call carries the key.
    await page.click("button.authorize")
    dialog = page.locator(".dialog-ux")
    await dialog.locator("input").first.fill(API_KEY)
    await dialog.locator("button.authorize").first.click()
    await dialog.locator("button.close-modal").click()
    op = page.locator("#operations-clients-list_clients")
    await op.locator(".opblock-summary").click()
    await op.locator("button.try-out__btn").click()
    await op.locator("button.execute").click()
    status = op.locator(".live-responses-table tr.response .response-col_status").first
    await expect(status).to_have_text(re.compile(r"^\s*200"))
    body = op.locator(".live-responses-table .response-col_description pre").first
    await expect(body).to_contain_text('"clients"')
    await page.screenshot(path=str(artifacts_dir() / "api-docs-try-it-out.png"))

    # Offline: nothing was fetched from anywhere but the daemon; no CSP or script error.
    assert requested and all(u.startswith(daemon.base) for u in requested), requested
    assert not problems, problems
    await context.close()
