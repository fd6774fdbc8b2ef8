"""The client owner's portal in a real browser, against a real daemon, workers and the simulator.

The admin creates an invite link from a client's details on the dashboard; the owner opens it:
the token leaves the address bar (and never reaches the server in a URL), the state shows, the
QR shown is scanned by the simulated phone and the page turns connected live, a message arrives
live, a test message reaches the simulator, a webhook is added and deleted, all without a
console error or a 4xx/5xx answer. With WAMC_PORTAL_SCREENSHOTS=1 the screenshots of the portal
(light, dark, phone width) are written to docs/ (else to $WAMC_TEST_ARTIFACTS only).
"""

from __future__ import annotations

import os
import re
from typing import Any
from urllib.parse import urlsplit

from playwright.async_api import Browser, BrowserContext, Page, Response, expect

from tests.e2e.conftest import DESKTOP, PHONE, artifacts_dir, open_dashboard, sign_in
from tests.e2e.test_dashboard import api_qr, shown_qr_payload
from tests.support import REPO, Daemon, wait_for

PHONE_A = "5511900000401"
PHONE_X = "5511988880004"
SLOW = 90_000  # ms: a worker with its Chromium starting on a loaded 2-core machine
HOOK_URL = "https://hooks.example.com/whatsapp"
# What the portal may call (its token's own client, the ticket, the stream): nothing admin-only.
ALLOWED = (
    "/portal",
    "/admin/static/app.css",
    "/admin/static/common.js",
    "/admin/static/favicon.svg",
    "/api/whoami",
    "/api/stream-tickets",
    "/ws",
    "/api/clients/acme/",
)


class Watch:
    """Every answer ≥ 400, console error and request URL of one browser context."""

    def __init__(self, context: BrowserContext) -> None:
        self.failed: list[str] = []
        self.errors: list[str] = []
        self.urls: list[str] = []
        context.on("response", self._response)
        context.on("request", lambda r: self.urls.append(r.url))
        context.on("page", self._page)
        for page in context.pages:
            self._page(page)

    def _response(self, r: Response) -> None:
        if r.status >= 400:
            self.failed.append(f"{r.request.method} {r.url} -> {r.status}")

    def _page(self, page: Page) -> None:
        page.on("console", lambda m: self.errors.append(m.text) if m.type == "error" else None)
        page.on("pageerror", lambda e: self.errors.append(str(e)))

    def check(self, base: str, token: str) -> None:
        assert self.failed == [] and self.errors == [], (self.failed, self.errors)
        assert not [u for u in self.urls if token in u], "the token went out in a URL"
        paths = [urlsplit(u).path for u in self.urls if u.startswith(base) or u.startswith("ws")]
        stray = [p for p in paths if not p.startswith(ALLOWED)]
        assert stray == [], stray


async def open_portal(
    browser: Browser, url: str, viewport: dict[str, int] = DESKTOP, **kw: Any
) -> tuple[Page, Watch]:
    context = await browser.new_context(viewport=viewport, **kw)
    watch = Watch(context)
    page = await context.new_page()
    page.set_default_timeout(30_000)
    await page.goto(url)
    await expect(page.locator("#app")).to_be_visible()
    await expect(page.locator("#conn")).to_have_attribute("data-live", "1")
    return page, watch


async def shot(page: Page, name: str, full_page: bool = False, docs: bool = True) -> None:
    await page.screenshot(path=str(artifacts_dir() / f"portal-{name}.png"), full_page=full_page)
    if docs and os.environ.get("WAMC_PORTAL_SCREENSHOTS"):
        await page.screenshot(path=str(REPO / "docs" / f"portal-{name}.png"), full_page=full_page)


async def create_invite_on_dashboard(browser: Browser, daemon: Daemon) -> str:
    admin = await open_dashboard(browser, daemon)
    watch = Watch(admin.context)
    await sign_in(admin)
    card = admin.locator('li.card[data-id="acme"]')
    await card.locator('button[data-act="details"]').click()
    await expect(admin.locator("#detail-dialog")).to_be_visible()
    await admin.click("#invite-create")
    await expect(admin.locator("#invite-result")).to_contain_text("valid until")
    url = await admin.locator("#invite-url").input_value()
    assert url.startswith(f"{daemon.base}/portal#token=wamc_"), url
    assert watch.failed == [] and watch.errors == [], (watch.failed, watch.errors)
    await admin.context.close()
    return url


async def test_portal_end_to_end(browser: Browser, daemon: Daemon, sim_http: Any) -> None:
    code, _ = await daemon.call("POST", "/api/clients/acme/connect")
    assert code == 202
    code, _ = await daemon.call("POST", "/api/clients/shop/connect")  # never seen by the portal
    assert code == 202
    url = await create_invite_on_dashboard(browser, daemon)
    token = url.split("#token=", 1)[1]
    code, tokens = await daemon.call("GET", "/api/clients/acme/tokens")
    assert [t["name"] for t in tokens["tokens"]] == ["portal invite"]

    # The token moves to this tab's sessionStorage and leaves the address bar.
    page, watch = await open_portal(browser, url)
    assert page.url == f"{daemon.base}/portal", page.url
    assert await page.evaluate("sessionStorage.getItem('wamc.portalToken')") == token
    assert await page.evaluate("location.hash") == ""
    await expect(page.locator("#client-id")).to_have_text("acme")
    await expect(page.locator("#expiry")).to_contain_text("valid until")
    assert "shop" not in await page.locator("#app").inner_text()

    # The QR shown decodes to the API's payload; the phone scans it; the page turns connected.
    await expect(page.locator("#state")).to_have_text("Waiting for the phone", timeout=SLOW)
    code, body = await sim_http.call("POST", "/control/qr-rotation", json={"frozen": True})
    assert code == 200 and body["frozen"] is True, body

    async def same_payload() -> str | None:
        shown = await shown_qr_payload(page)
        return shown if shown and shown == await api_qr(daemon, "acme") else None

    payload = await wait_for(same_payload, timeout=30, what="the shown QR to match the API's")
    await page.fill("#pair-phone", f"+{PHONE_A}")
    await page.click("#pair-form button[type=submit]")
    await expect(page.locator("#pair-result")).to_have_text(
        re.compile(r"^[A-Z0-9]{4}-?[A-Z0-9]{4}$"), timeout=30_000
    )
    await shot(page, "qr", docs=False)
    await sim_http.scan(payload, PHONE_A)
    await expect(page.locator("#state")).to_have_text("Connected", timeout=SLOW)
    await expect(page.locator("#link")).to_be_hidden()
    await expect(page.locator('[data-f="me"]')).to_have_text(f"+{PHONE_A}")

    # A message arrives live; a test message goes out through the simulated phone.
    await sim_http.deliver(PHONE_A, PHONE_X, "hello from a customer")
    await expect(page.locator("#messages")).to_contain_text("hello from a customer", timeout=30_000)
    await page.fill("#send-to", f"+{PHONE_X}")
    await page.fill("#send-text", "test from the portal")
    await page.click("#send-form button[type=submit]")
    await expect(page.locator("#send-result")).to_contain_text("Sent to", timeout=30_000)
    assert [m["body"] for m in await sim_http.sent(PHONE_A)] == ["test from the portal"]
    await expect(page.locator("#messages")).to_contain_text("test from the portal")

    # A webhook: added (its secret shown once), listed; screenshots; then deleted.
    await page.fill("#hook-url", HOOK_URL)
    await page.fill("#hook-events", "message, message.ack")
    await page.click("#hook-form button[type=submit]")
    await expect(page.locator("#hook-secret-value")).to_contain_text("whsec_")
    hook = page.locator("#hook-list li")
    await expect(hook).to_have_count(1)
    await expect(hook).to_contain_text(HOOK_URL)
    code, hooks = await daemon.call("GET", "/api/clients/acme/webhooks")
    assert [h["url"] for h in hooks["webhooks"]] == [HOOK_URL]
    await page.evaluate("document.activeElement && document.activeElement.blur()")
    await expect(page.locator("#toast")).to_be_hidden()
    await shot(page, "light", full_page=True)
    await screenshots_dark_and_phone(browser, url, page)

    await hook.locator("button", has_text="Delete").click()
    await expect(page.locator("#confirm-dialog")).to_be_visible()
    await page.click("#confirm-ok")
    await expect(hook).to_have_count(0)
    await expect(page.locator("#hooks-empty")).to_be_visible()
    code, hooks = await daemon.call("GET", "/api/clients/acme/webhooks")
    assert hooks["webhooks"] == []

    # Every portal action is in the audit log under the invite's token.
    code, audit = await daemon.call("GET", "/api/audit?limit=1000")
    mine = {e["action"] for e in audit["entries"] if e["key_id"] == tokens["tokens"][0]["id"]}
    assert {"send_message", "create_client_webhook", "delete_client_webhook"} <= mine, mine
    watch.check(daemon.base, token)

    # Revoked by the admin: the open page notices (its stream closes) and says what to do.
    code, _ = await daemon.call("DELETE", f"/api/clients/acme/tokens/{tokens['tokens'][0]['id']}")
    assert code == 200
    await expect(page.locator("#signin-error")).to_contain_text("no longer valid", timeout=30_000)
    await expect(page.locator("#app")).to_be_hidden()
    assert await page.evaluate("sessionStorage.getItem('wamc.portalToken')") is None
    await page.context.close()


async def screenshots_dark_and_phone(browser: Browser, url: str, light: Page) -> None:
    """The same page in dark mode and at phone width, each opened from the invite link."""
    dark, watch_dark = await open_portal(browser, url, color_scheme="dark")
    await expect(dark.locator("#state")).to_have_text("Connected")
    await expect(dark.locator("#hook-list li")).to_have_count(1)
    light_bg = await light.evaluate("getComputedStyle(document.body).backgroundColor")
    dark_bg = await dark.evaluate("getComputedStyle(document.body).backgroundColor")
    assert light_bg != dark_bg, (light_bg, dark_bg)
    await expect(dark.locator("#messages")).to_contain_text("test from the portal")
    await shot(dark, "dark", full_page=True)
    await dark.context.close()

    phone, watch_phone = await open_portal(
        browser, url, viewport=PHONE, is_mobile=True, has_touch=True
    )
    await expect(phone.locator("#state")).to_have_text("Connected")
    await expect(phone.locator("#messages")).to_contain_text("test from the portal")
    width = await phone.evaluate("document.documentElement.scrollWidth")
    assert width <= PHONE["width"], f"the page scrolls sideways at phone width ({width}px)"
    await shot(phone, "phone", full_page=True)
    await phone.context.close()
    token = url.split("#token=", 1)[1]
    base = url.split("/portal", 1)[0]
    watch_dark.check(base, token)
    watch_phone.check(base, token)
