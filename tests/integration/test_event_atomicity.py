"""One transaction per worker event, and start slots that never outlive their client."""

from __future__ import annotations

import asyncio
import time
from typing import Any

from tests.integration.test_events_ws import Consumer
from tests.support import Daemon, wait_for
from wamc.daemon.faults import CRASH_EXIT_CODE

PHONE = "5511900000401"
CONTACT = "5511955558888"


async def test_crash_between_store_and_publish_publishes_once(
    make_daemon: Any, sim_http: Any
) -> None:
    """The daemon dies right after storing a message, before publishing it: the message row and
    its event commit together or not at all, so the worker's replay to the next daemon stores
    and publishes it exactly once."""
    daemon: Daemon = await make_daemon({"WAMC_FAULT_CRASH": "after_message_stored"})
    await daemon.connect_scanned(sim_http, "acme", PHONE)
    mid = await sim_http.deliver(PHONE, CONTACT, "stored, then the daemon died")
    assert daemon.proc is not None
    code = await asyncio.to_thread(daemon.proc.wait, 30)
    assert code == CRASH_EXIT_CODE, daemon.tail()

    del daemon.env["WAMC_FAULT_CRASH"]
    await daemon.start()  # adopts the worker, which replays what was never acknowledged
    async with Consumer(daemon, "clients=acme&events=message&since=acme:0") as ws:
        await wait_for(lambda: mid in ws.received_at, 60, what="the message published")
        later = await sim_http.deliver(PHONE, CONTACT, "after the restart")
        await wait_for(lambda: later in ws.received_at, 60, what="the next message")
        published = [e for e in ws.of("acme", "message") if e["data"]["id"] == mid]
    assert len(published) == 1, published
    code, page = await daemon.call("GET", f"/api/clients/acme/chats/{CONTACT}@c.us/messages")
    assert code == 200
    assert [m["id"] for m in page["messages"]].count(mid) == 1


async def test_deleting_a_starting_client_frees_its_start_slot(make_daemon: Any) -> None:
    """One browser boots at a time; a client deleted while it boots must not keep the slot
    until the slot timeout (60 s): the next client shows its QR at once."""
    daemon: Daemon = await make_daemon({"WAMC_START_CONCURRENCY": "1"})
    code, _ = await daemon.call("POST", "/api/clients/doomed/connect")
    assert code == 202
    await wait_for(
        lambda: _spawned_and_starting(daemon, "doomed"), 30, interval=0.02, what="doomed booting"
    )
    code, _ = await daemon.call("DELETE", "/api/clients/doomed")
    assert code == 202
    started = time.monotonic()
    code, _ = await daemon.call("POST", "/api/clients/next/connect")
    assert code == 202
    await daemon.qr("next", timeout=30)
    assert time.monotonic() - started < 30


async def _spawned_and_starting(daemon: Daemon, client: str) -> bool:
    status = await daemon.status(client)
    return status["pid"] is not None and status["state"] == "starting"
