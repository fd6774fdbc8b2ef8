"""The admin dashboard in a real browser, against a real daemon, real workers and the simulator.

Sign in (a wrong key is refused clearly), create two clients, see both reach "QR ready", check the
QR shown decodes to the API's payload, scan it and watch the card turn connected without a reload,
restart one and watch it come back, delete one after confirming; screenshots at desktop and phone
width go to $WAMC_TEST_ARTIFACTS.
"""

from __future__ import annotations

import io
from typing import Any

import zxingcpp
from PIL import Image
from playwright.async_api import Browser, Page, expect

from tests.e2e.conftest import PHONE, artifacts_dir, open_dashboard, sign_in
from tests.support import Daemon, wait_for

PHONE_A = "5511900000101"
PHONE_X = "5511988880000"
SLOW = 90_000  # ms: a worker with its Chromium starting on a loaded 2-core machine


def card(page: Page, client: str) -> Any:
    return page.locator(f'li.card[data-id="{client}"]')


async def shot(page: Page, name: str) -> None:
    await page.screenshot(path=str(artifacts_dir() / f"dashboard-{name}.png"))


async def api_qr(daemon: Daemon, client: str) -> str | None:
    code, body = await daemon.call("GET", f"/api/clients/{client}/qr?format=json")
    return body["qr"] if code == 200 else None


async def shown_qr_payload(page: Page) -> str | None:
    img = page.locator("#qr-img")
    if not await img.is_visible():
        return None
    png = await img.screenshot()
    found = zxingcpp.read_barcodes(Image.open(io.BytesIO(png)).convert("L"))
    return found[0].text if found else None


async def test_dashboard_end_to_end(browser: Browser, daemon: Daemon, sim_http: Any) -> None:
    page = await open_dashboard(browser, daemon)
    # /admin/ leads to /admin/instances, which asks for the key.
    assert page.url.endswith("/admin/instances")
    await expect(page.locator("#signin-key")).to_be_visible()

    # A wrong key is refused with a clear message, and nothing is shown.
    await sign_in(page, "not-the-key")
    error = page.locator("#signin-error")
    await expect(error).to_contain_text("Wrong API key")
    await expect(error).to_contain_text("401")
    await expect(page.locator("#app")).to_be_hidden()
    await shot(page, "signin-refused")

    await sign_in(page)
    await expect(page.locator("#app")).to_be_visible()
    await expect(page.locator("#conn")).to_have_attribute("data-live", "1")
    await expect(page.locator("#empty")).to_contain_text("No clients yet")
    assert await page.evaluate("sessionStorage.getItem('wamc.apiKey')") is not None
    await page.evaluate("window.__noReload = true")

    # The create form validates ids as the API does, before calling it.
    await page.fill("#create-id", "bad.id")
    await page.click("#create-form button[type=submit]")
    await expect(page.locator("#create-error")).to_contain_text("letters, digits")
    code, _ = await daemon.call("GET", "/api/clients/bad.id/status")
    assert code == 400

    for client in ("acme", "shop_2"):
        await page.fill("#create-id", client)
        await page.click("#create-form button[type=submit]")
        await expect(card(page, client)).to_be_visible()
    await expect(page.locator('[data-total="all"]')).to_have_text("2")

    for client in ("acme", "shop_2"):
        await expect(card(page, client).locator(".badge")).to_have_text("QR ready", timeout=SLOW)
    await expect(page.locator('[data-total="qr"]')).to_have_text("2")
    await shot(page, "desktop-qr-ready")

    # The QR shown decodes to the payload the API returns (rotation frozen for this step).
    code, body = await sim_http.call("POST", "/control/qr-rotation", json={"frozen": True})
    assert code == 200 and body["frozen"] is True, body
    await card(page, "acme").locator('button[data-act="qr"]').click()
    dialog = page.locator("#qr-dialog")
    await expect(dialog).to_be_visible()
    await expect(page.locator("#qr-img")).to_be_visible()

    async def same_payload() -> str | None:
        expected = await api_qr(daemon, "acme")
        shown = await shown_qr_payload(page)
        return shown if shown and shown == expected else None

    payload = await wait_for(same_payload, timeout=30, what="the shown QR to match the API's")
    await shot(page, "desktop-qr-dialog")

    # The phone scans it: the dialog closes itself and the card turns connected, no reload.
    events_before = await page.evaluate("window.wamcDashboard.events")
    await sim_http.scan(payload, PHONE_A)
    acme = card(page, "acme")
    await expect(acme.locator(".badge")).to_have_text("Connected", timeout=SLOW)
    await expect(dialog).to_be_hidden()
    await expect(acme.locator('[data-f="me"]')).to_have_text(f"+{PHONE_A}")
    await expect(page.locator('[data-total="connected"]')).to_have_text("1")
    assert await page.evaluate("window.__noReload") is True
    assert await page.evaluate("window.wamcDashboard.events") > events_before
    # Memory and CPU of the worker's tree (with Chromium) arrive with the next poll.
    await expect(acme.locator('[data-f="memory"]')).to_contain_text("MB", timeout=20_000)
    await expect(acme.locator('[data-f="cpu"]')).to_contain_text("%")
    await shot(page, "desktop-connected")

    # Details: a live incoming message, a test message sent, the log tail.
    await acme.locator('button[data-act="details"]').click()
    detail = page.locator("#detail-dialog")
    await expect(detail).to_be_visible()
    await expect(page.locator("#detail-logs")).to_contain_text("state")
    await sim_http.deliver(PHONE_A, PHONE_X, "hello from the phone")
    await expect(page.locator("#detail-messages")).to_contain_text(
        "hello from the phone", timeout=30_000
    )
    await page.fill("#send-to", f"+{PHONE_X}")
    await page.fill("#send-text", "test from the dashboard")
    await page.click("#send-form button[type=submit]")
    await expect(page.locator("#send-result")).to_contain_text("Sent to", timeout=30_000)
    sent = await sim_http.sent(PHONE_A)
    assert [m["body"] for m in sent] == ["test from the dashboard"]
    await expect(page.locator("#detail-messages")).to_contain_text("test from the dashboard")
    await shot(page, "desktop-details")
    await page.keyboard.press("Escape")
    await expect(detail).to_be_hidden()
    await expect(acme.locator('[data-f="last_message"]')).not_to_have_text("—")

    # Restart: the card shows progress, leaves "Connected" and comes back with a new worker.
    old_pid = (await daemon.status("acme"))["pid"]
    await page.evaluate(
        """() => {
            const badge = document.querySelector('li.card[data-id="acme"] .badge');
            window.__acmeStates = [];
            new MutationObserver(() => window.__acmeStates.push(badge.textContent))
                .observe(badge, {childList: true, characterData: true, subtree: true});
        }"""
    )
    await acme.locator('button[data-act="restart"]').click()
    await expect(acme.locator(".progress")).to_contain_text("Restart")

    async def restarted() -> dict[str, Any] | None:
        st = await daemon.status("acme")
        return st if st["state"] == "connected" and st["pid"] not in (None, old_pid) else None

    await wait_for(restarted, timeout=90, what="acme to restart and reconnect")
    await expect(acme.locator(".badge")).to_have_text("Connected", timeout=SLOW)
    seen = await page.evaluate("window.__acmeStates")
    assert "Starting" in seen and seen[-1] == "Connected", seen
    assert await page.evaluate("window.__noReload") is True

    # Delete asks first: cancel keeps the client, confirming deletes it.
    shop = card(page, "shop_2")
    await shop.locator('button[data-act="delete"]').click()
    confirm = page.locator("#confirm-dialog")
    await expect(confirm).to_be_visible()
    await expect(confirm).to_contain_text("shop_2")
    await page.click("#confirm-cancel")
    await expect(confirm).to_be_hidden()
    await expect(shop).to_be_visible()
    assert (await daemon.status("shop_2"))["id"] == "shop_2"
    await shop.locator('button[data-act="delete"]').click()
    await page.click("#confirm-ok")
    await expect(shop).to_have_count(0, timeout=60_000)
    code, body = await daemon.call("GET", "/api/clients/shop_2/status")
    assert code == 404 and body["code"] == "client_not_found"
    await expect(page.locator('[data-total="all"]')).to_have_text("1")

    # Disconnect stops it; a send is then refused and the API's reason is shown.
    await acme.locator('button[data-act="disconnect"]').click()
    await expect(acme.locator(".badge")).to_have_text("Stopped", timeout=SLOW)
    await expect(acme.locator('button[data-act="connect"]')).to_be_enabled()
    await shot(page, "desktop-main")
    await acme.locator('button[data-act="details"]').click()
    await page.fill("#send-to", f"+{PHONE_X}")
    await page.fill("#send-text", "while stopped")
    await page.click("#send-form button[type=submit]")
    await expect(page.locator("#send-result")).to_contain_text("Not sent")
    await expect(page.locator("#send-result")).to_contain_text("not connected")
    await page.keyboard.press("Escape")

    # Phone width, dark mode: the same page, signed in from a fresh tab.
    phone = await open_dashboard(
        browser, daemon, viewport=PHONE, is_mobile=True, has_touch=True, color_scheme="dark"
    )
    await sign_in(phone)
    await expect(phone.locator("#conn")).to_have_attribute("data-live", "1")
    light_bg = await page.evaluate("getComputedStyle(document.body).backgroundColor")
    dark_bg = await phone.evaluate("getComputedStyle(document.body).backgroundColor")
    assert light_bg != dark_bg, (light_bg, dark_bg)
    await expect(card(phone, "acme").locator(".badge")).to_have_text("Stopped")
    width = await phone.evaluate("document.documentElement.scrollWidth")
    assert width <= PHONE["width"], f"the page scrolls sideways at phone width ({width}px)"
    await shot(phone, "phone-main")
    await card(phone, "acme").locator('button[data-act="details"]').click()
    await expect(phone.locator("#detail-dialog")).to_be_visible()
    await expect(phone.locator("#detail-messages")).to_contain_text("hello from the phone")
    await shot(phone, "phone-details")
    await phone.context.close()


async def test_connection_lost_and_back(browser: Browser, daemon: Daemon) -> None:
    code, _ = await daemon.call("POST", "/api/clients/solo/disconnect")
    assert code == 404  # nothing exists yet
    page = await open_dashboard(browser, daemon)
    await sign_in(page)
    await expect(page.locator("#conn")).to_have_attribute("data-live", "1")

    await daemon.stop()
    banner = page.locator("#banner")
    await expect(banner).to_be_visible(timeout=30_000)
    await expect(banner).to_contain_text("Connection lost")
    await expect(page.locator("#conn")).to_have_text("Connection lost")
    await shot(page, "desktop-connection-lost")

    # While it was away, a client appeared (created by the restarted daemon's API).
    await daemon.start()
    code, _ = await daemon.call("POST", "/api/clients/solo/connect")
    assert code == 202
    await expect(banner).to_be_hidden(timeout=30_000)
    await expect(page.locator("#conn")).to_have_attribute("data-live", "1")
    await expect(card(page, "solo")).to_be_visible(timeout=30_000)

    # Keyboard: Tab reaches the create form, the filters and every card's controls.
    await page.evaluate("document.activeElement && document.activeElement.blur()")
    reached = []
    for _ in range(40):
        await page.keyboard.press("Tab")
        reached.append(
            await page.evaluate(
                "(() => { const e = document.activeElement;"
                " return e.id || e.getAttribute('aria-label') || e.className; })()"
            )
        )
    await page.focus(".skip")
    await expect(page.locator(".skip")).to_be_in_viewport()
    assert "create-id" in reached and "search" in reached, reached
    assert "Restart solo" in reached, reached


async def test_qr_view_follows_rotation(browser: Browser, make_daemon: Any) -> None:
    """With WhatsApp rotating its code every few seconds, the open QR view follows by itself."""
    from wamc.simulator import Simulator

    sim = Simulator(host="127.0.0.1", port=0, qr_first_ttl=3.0, qr_ttl=3.0, max_qr_codes=40)
    await sim.start()
    try:
        d = await make_daemon(sim=sim)
        page = await open_dashboard(browser, d)
        await sign_in(page)
        await page.fill("#create-id", "rot")
        await page.click("#create-form button[type=submit]")
        await expect(card(page, "rot").locator(".badge")).to_have_text("QR ready", timeout=SLOW)
        await card(page, "rot").locator('button[data-act="qr"]').click()
        first = await wait_for(lambda: shown_qr_payload(page), timeout=30, what="a QR shown")

        async def rotated() -> str | None:
            shown = await shown_qr_payload(page)
            if not shown or shown == first:
                return None
            return shown if shown == await api_qr(d, "rot") else None

        second = await wait_for(rotated, timeout=30, what="the shown QR to follow the rotation")
        assert second != first
        await expect(page.locator("#qr-dialog")).to_be_visible()
        await d.close()  # before its simulator goes
    finally:
        await sim.stop()
