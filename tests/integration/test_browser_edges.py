"""The worker's Browser (workers/browser.py) against a real Chromium, at the edges the simulator
does not reach: WhatsApp unreachable, the page opening another page, two closes at once."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from tests.support import wait_for
from wamc.config import Settings
from workers.browser import Browser, BrowserError


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
async def browser_at(tmp_path: Path) -> AsyncIterator[Any]:
    made: list[Browser] = []
    wajs = tmp_path / "wa.js"
    wajs.write_text("window.WPP = window.WPP || {};\n")

    async def make(url: str) -> Browser:
        events: list[tuple[str, dict[str, Any]]] = []
        b = Browser(
            tmp_path / f"profile{len(made)}",
            url,
            wajs,
            Settings().resolved_browser_path(),
            lambda n, d: events.append((n, d)),
        )
        made.append(b)
        await b.start()
        return b

    yield make
    for b in made:
        await b.close()


async def test_unreachable_whatsapp_fails_the_open_without_a_navigation_storm(
    browser_at: Any,
) -> None:
    browser = await browser_at(f"http://127.0.0.1:{free_port()}/")
    for _ in range(2):  # the caller's retries: each one fails cleanly
        with pytest.raises(BrowserError, match="ERR_CONNECTION_REFUSED"):
            await asyncio.wait_for(browser.open(), 30)
    assert browser.went_away.count == 0  # the error page is not "another origin" to go back from
    assert not browser.closed.is_set()


async def test_a_popup_is_closed_and_two_closes_at_once_stay_graceful(
    browser_at: Any, sim_http: Any
) -> None:
    browser = await browser_at(sim_http.base.rstrip("/") + "/")
    await browser.open()
    assert browser.conn is not None
    before = await browser.conn.send("Target.getTargets")
    await browser.conn.send(
        "Runtime.evaluate", {"expression": "window.open('/', '_blank'); 1"}, browser.session
    )

    async def popup_closed() -> bool:
        assert browser.conn is not None
        infos = (await browser.conn.send("Target.getTargets"))["targetInfos"]
        return browser.extra_pages.count == 1 and [t["type"] for t in infos].count("page") == 1

    await wait_for(popup_closed, 20, what="the popup closed")
    assert sum(1 for t in before["targetInfos"] if t["type"] == "page") == 1
    first, second = await asyncio.gather(browser.close(), browser.close())
    assert first is True and second is True  # the second waited for the first: no SIGKILL
    assert browser.proc is not None and browser.proc.returncode is not None
