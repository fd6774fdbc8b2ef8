"""The dashboard's analytics view in a real browser, against a real daemon.

The daemon starts on a database of an earlier release holding message history (so its upgrade
aggregates it), then a send is refused live (the client is stopped): the view's tiles, the
bars of today's bucket, the per-client table and one client's view show exactly those numbers,
per day and per hour, in light and dark, and fit a phone's width.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from playwright.async_api import Browser, Page, expect

from tests.e2e.conftest import PHONE, artifacts_dir, open_dashboard, sign_in
from tests.support import Daemon
from tests.support.old_database import old_database

DAY = 86400


def history(home: Path, now: float) -> str:
    """An earlier release's database: two stopped clients and their messages; today's bucket."""
    today = int(now // DAY) * DAY
    t = max(today, int(now) - 60)  # today, and not in the future
    messages = [
        *[("acme", 0, t)] * 4,
        *[("acme", 1, t)] * 2,
        *[("acme", 0, today - 3 * DAY + 100)] * 5,
        ("shop_2", 0, t),
        *[("shop_2", 1, today - DAY + 100)] * 2,
    ]
    path = home / "sessions" / ".wamc" / "wamc.db"
    path.parent.mkdir(parents=True)
    old_database(path, messages, stopped_clients=("acme", "shop_2"))
    return time.strftime("%Y-%m-%dT00:00:00Z", time.gmtime(today))


async def tiles(page: Page) -> dict[str, str]:
    return await page.evaluate(
        "Object.fromEntries([...document.querySelectorAll('#an-tiles .an-tile')]"
        ".map(t => [t.dataset.k, t.querySelector('dd').textContent]))"
    )


async def bar(page: Page, key: str, start: str) -> str | None:
    """The value a bar of today's bucket shows (None: no bar, i.e. zero)."""
    found = page.locator(f'.an-bar[data-k="{key}"][data-start="{start}"]')
    return await found.first.get_attribute("data-v") if await found.count() else None


async def test_analytics_view_shows_the_numbers(
    browser: Browser, tmp_path: Path, simulator: Any
) -> None:
    d = Daemon(tmp_path / "home", simulator)
    today = history(d.home, time.time())
    await d.start()
    try:
        code, body = await d.call(
            "POST", "/api/clients/acme/send-message", json={"to": "5511988887777", "text": "x"}
        )
        assert code == 409 and body["code"] == "not_connected", body
        await check_view(browser, d, today)
    finally:
        await d.close()


async def check_view(browser: Browser, d: Daemon, today: str) -> None:
    page = await open_dashboard(browser, d)
    errors: list[str] = []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    await sign_in(page)
    await page.click("#analytics-open")
    view = page.locator("#analytics")
    await expect(view).to_be_visible()
    await expect(page.locator("#cards")).to_be_hidden()  # the view replaces the client list
    await expect(page.locator("#an-title")).to_have_text("Analytics · all clients")
    await expect(page.locator("#an-tiles .an-tile")).to_have_count(5)
    assert await tiles(page) == {
        "messages_in": "10",
        "messages_out": "4",
        "send_failures": "1",
        "restarts": "0",
        "uptime_percent": "—",  # never desired running
    }
    assert len(await page.locator("#an-messages .an-hit").all()) == 30  # 30 days
    assert (await bar(page, "messages_in", today), await bar(page, "messages_out", today)) == (
        "5",
        "2",
    )
    assert await bar(page, "send_failures", today) == "1"
    hit = page.locator(f'#an-messages .an-hit[data-start="{today}"] title')
    assert (await hit.text_content() or "").endswith(": In 5, Out 2")
    acme_row = page.locator('#an-clients tr[data-client="acme"] td')
    await expect(acme_row).to_have_text(["9", "2", "1", "0", "—"])
    await page.screenshot(path=str(artifacts_dir() / "analytics-overall.png"), full_page=True)

    # One client: its row leads to its view; per hour the totals stay, lines replace bars.
    await page.click('#an-clients tr[data-client="acme"]')
    await expect(page.locator("#an-title")).to_have_text("Analytics · acme")
    assert page.url.endswith("#analytics/acme")
    await expect(page.locator("#an-tiles .messages_in dd")).to_have_text("9")
    await expect(page.locator("#an-clients-box")).to_be_hidden()
    assert (await bar(page, "messages_in", today), await bar(page, "messages_out", today)) == (
        "4",
        "2",
    )
    await page.click('[data-bucket="hour"]')
    await expect(page.locator("#an-messages path.an-line.an-in")).to_have_count(1)
    await expect(page.locator("#an-tiles .messages_out dd")).to_have_text("2")
    hours = await page.locator("#an-messages .an-hit").count()
    assert 29 * 24 < hours <= 30 * 24

    # Back to the list, and a card's Stats button opens that client's view.
    await page.click("#an-back")
    await expect(page.locator("#cards")).to_be_visible()
    await page.locator('li.card[data-id="shop_2"] button[data-analytics]').click()
    await expect(page.locator("#an-title")).to_have_text("Analytics · shop_2")
    await page.click('[data-bucket="day"]')
    await expect(page.locator("#an-tiles .messages_in dd")).to_have_text("1")
    await expect(page.locator("#an-tiles .messages_out dd")).to_have_text("2")
    light_fill = await page.locator(".an-bar.an-in").first.evaluate("e => getComputedStyle(e).fill")
    assert errors == []

    # Dark theme and phone width: the theme's colours, nothing wider than the screen.
    dark = await open_dashboard(browser, d, PHONE, color_scheme="dark")
    await dark.goto(d.base + "/admin/instances#analytics/acme")
    await sign_in(dark)
    await expect(dark.locator("#an-tiles .messages_in dd")).to_have_text("9")
    dark_fill = await dark.locator(".an-bar.an-in").first.evaluate("e => getComputedStyle(e).fill")
    assert (light_fill, dark_fill) == ("rgb(11, 122, 90)", "rgb(37, 167, 125)")  # --accent
    width = await dark.evaluate("document.documentElement.scrollWidth")
    assert width <= PHONE["width"], width
    await dark.screenshot(path=str(artifacts_dir() / "analytics-phone-dark.png"), full_page=True)
