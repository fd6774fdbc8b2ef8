"""The heavy simulator page (`--weight heavy`) under a real worker, unchanged.

A real daemon and worker (headless Chromium) connect to a heavy-page simulator: the QR is
scanned, a message is delivered and read back through the API; the page really is heavy (its
bundle, its 20,000 messages in IndexedDB and memory, its heap), grows with that message, and
keeps its account through IndexedDB when the worker restarts and the page loads again.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest

from tests.support import Daemon, SimControl, wait_for
from wamc.simulator import Simulator
from wamc.simulator.heavy import MODEL

PHONE = "5511900031001"
CONTACT = "5511988831999"
MB = 1_000_000


@pytest.fixture
async def heavy_sim() -> AsyncIterator[Simulator]:
    sim = Simulator(host="127.0.0.1", port=0, weight="heavy")
    await sim.start()
    try:
        yield sim
    finally:
        await sim.stop()


async def page_report(ctl: SimControl, since: float, **want: Any) -> dict[str, Any]:
    """The heavy page's newest report for PHONE received after ``since`` matching ``want``."""

    async def probe() -> dict[str, Any] | None:
        code, body = await ctl.call("GET", "/control/heavy")
        assert code == 200, body
        for page in body["pages"]:
            fresh = page["phone"] == PHONE and page["received_at"] > since
            if fresh and all(page.get(k) == v for k, v in want.items()):
                return {**page, "bundle_bytes": body["bundle_bytes"]}
        return None

    return await wait_for(probe, timeout=180, interval=0.5, what=f"a heavy-page report {want}")


async def test_worker_on_heavy_page(make_daemon: Any, heavy_sim: Simulator) -> None:
    d: Daemon = await make_daemon(sim=heavy_sim)
    async with aiohttp.ClientSession() as http:
        ctl = SimControl(heavy_sim, http)
        code, body = await d.call("POST", "/api/clients/heavy/connect")
        assert code == 202, body
        await ctl.scan(await d.qr("heavy", timeout=180), PHONE)
        st = await d.wait_state("heavy", "connected", timeout=180)
        assert st["me"] == f"{PHONE}@c.us"

        t_deliver = time.time()
        sent = await ctl.post(
            "/control/messages", {"to": PHONE, "from": CONTACT, "body": "heavy hello"}
        )

        async def stored() -> list[dict[str, Any]] | None:
            code, hist = await d.call("GET", f"/api/clients/heavy/chats/{CONTACT}@c.us/messages")
            return hist["messages"] if code == 200 and hist["messages"] else None

        msgs = await wait_for(stored, timeout=60, what="the message through the API")
        assert [(m["id"], m["body"]) for m in msgs] == [(sent["id"], "heavy hello")]

        # The page holds the whole account plus that message, in IndexedDB and in memory.
        grown = MODEL.messages + 1
        page = await page_report(ctl, t_deliver, idb_messages=grown, model_messages=grown)
        assert page["idb_chats"] == page["model_chats"] == MODEL.chats + 1  # a new chat
        assert page["modules"] == MODEL.modules
        assert page["bundle_bytes"] >= 5 * MB
        assert page["dom_nodes"] >= 2000  # the chat list's rows
        # Bucketed by Chromium and read once, at the end of the first load; a light page is ~5 MB.
        assert page["heap_used"] is not None and page["heap_used"] >= 40 * MB, page

        # The account survives a reload through IndexedDB: no second seeding, nothing lost.
        t_restart = time.time()
        code, body = await d.call("POST", "/api/clients/heavy/restart")
        assert code == 202, body
        await d.wait_state("heavy", "connected", timeout=180)
        again = await page_report(ctl, t_restart, seeded=False)
        assert again["profile"] == page["profile"]
        assert again["idb_messages"] == again["model_messages"] == grown
