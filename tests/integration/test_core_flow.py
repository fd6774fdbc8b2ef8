"""The core promise, end to end: real daemon, real workers, real Chromium, the simulator as WhatsApp.

Two clients get their own QR, are scanned, send and receive, stay apart, survive a disconnect,
a logout and a SIGKILL of their worker.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
from typing import Any

import aiohttp
import psutil

from tests.support import API_KEY, Daemon, wait_for

PHONE_A = "5511900000001"
PHONE_B = "5511900000002"
PHONE_X = "5511988887777"  # a contact outside wamc


class EventLog:
    """A WebSocket consumer collecting events in the background."""

    def __init__(self, daemon: Daemon, query: str = "") -> None:
        self.daemon = daemon
        self.query = query
        self.events: list[dict[str, Any]] = []
        self._task: asyncio.Task[None] | None = None
        self._ready = asyncio.Event()

    async def __aenter__(self) -> EventLog:
        self._task = asyncio.create_task(self._run())
        await asyncio.wait_for(self._ready.wait(), 10)
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self._task is not None
        self._task.cancel()

    async def _run(self) -> None:
        url = f"{self.daemon.base}/ws?{self.query}"
        async with (
            aiohttp.ClientSession() as s,
            s.ws_connect(url, headers={"X-Api-Key": API_KEY}) as ws,
        ):
            self._ready.set()
            async for msg in ws:
                self.events.append(json.loads(msg.data))

    def named(self, event: str, client: str | None = None) -> list[dict[str, Any]]:
        return [
            e
            for e in self.events
            if e["event"] == event and (client is None or e["client"] == client)
        ]


async def test_two_clients_end_to_end(daemon: Daemon, sim_http: Any) -> None:
    async with EventLog(daemon) as all_events, EventLog(daemon, "clients=shop_2") as only_b:
        for client in ("acme", "shop_2"):
            code, body = await daemon.call("POST", f"/api/clients/{client}/connect")
            assert code == 202 and body["created"] is True, body
        qr_a, qr_b = await daemon.qr("acme"), await daemon.qr("shop_2")
        assert qr_a != qr_b

        # The PNG really is an image of the payload's QR code.
        code, png = await daemon.call("GET", "/api/clients/acme/qr")
        assert code == 200 and png[:8] == b"\x89PNG\r\n\x1a\n"
        code, svg = await daemon.call("GET", "/api/clients/acme/qr?format=svg")
        assert code == 200 and b"<svg" in svg

        await sim_http.scan(qr_a, PHONE_A)
        await sim_http.scan(qr_b, PHONE_B)
        st_a = await daemon.wait_state("acme", "connected")
        st_b = await daemon.wait_state("shop_2", "connected")
        assert st_a["me"] == f"{PHONE_A}@c.us" and st_b["me"] == f"{PHONE_B}@c.us"
        assert st_a["pid"] != st_b["pid"] and st_a["browser_pid"] != st_b["browser_pid"]

        # QR is only served while waiting for a scan.
        code, body = await daemon.call("GET", "/api/clients/acme/qr")
        assert code == 409 and body["code"] == "no_qr"

        # Each client sends; the simulator records the right chat and text.
        code, sent = await daemon.call(
            "POST",
            "/api/clients/acme/send-message",
            json={"to": f"+{PHONE_X}", "text": "olá from acme"},
        )
        assert code == 201, sent
        assert sent["id"] and sent["to"] == f"{PHONE_X}@c.us"
        code, sent_b = await daemon.call(
            "POST",
            "/api/clients/shop_2/send-message",
            json={"to": PHONE_X, "text": "hi from shop_2"},
        )
        assert code == 201, sent_b
        rec_a = await sim_http.sent(PHONE_A)
        rec_b = await sim_http.sent(PHONE_B)
        assert [(m["to"], m["body"]) for m in rec_a] == [(f"{PHONE_X}@c.us", "olá from acme")]
        assert [(m["to"], m["body"]) for m in rec_b] == [(f"{PHONE_X}@c.us", "hi from shop_2")]

        # An incoming message for acme: on acme's stream and history only.
        incoming_id = await sim_http.deliver(PHONE_A, PHONE_X, "incoming for acme")
        ev = await wait_for(
            lambda: [
                e for e in all_events.named("message", "acme") if e["data"]["id"] == incoming_id
            ],
            timeout=30,
            what="the incoming message event",
        )
        data = ev[0]["data"]
        assert data["body"] == "incoming for acme" and data["from_me"] is False
        assert data["chat_id"] == f"{PHONE_X}@c.us" and data["from"] == f"{PHONE_X}@c.us"
        assert set(ev[0]) >= {"client", "event", "timestamp", "data"}

        code, hist_a = await daemon.call("GET", f"/api/clients/acme/chats/{PHONE_X}@c.us/messages")
        assert code == 200
        bodies_a = [m["body"] for m in hist_a["messages"]]
        assert bodies_a[0] == "incoming for acme"  # newest first
        assert "olá from acme" in bodies_a
        code, hist_b = await daemon.call(
            "GET", f"/api/clients/shop_2/chats/{PHONE_X}@c.us/messages"
        )
        assert [m["body"] for m in hist_b["messages"]] == ["hi from shop_2"]
        assert all(e["client"] in ("shop_2", None) for e in only_b.events)
        assert not [e for e in only_b.events if e["data"].get("id") == incoming_id]

        code, chats = await daemon.call("GET", "/api/clients/acme/chats")
        assert code == 200 and f"{PHONE_X}@c.us" in [c["id"] for c in chats["chats"]]

        # Paging: limit=1 gives a cursor; the next page continues without overlap.
        code, p1 = await daemon.call(
            "GET", f"/api/clients/acme/chats/{PHONE_X}@c.us/messages?limit=1"
        )
        assert len(p1["messages"]) == 1 and p1["next_before"]
        code, p2 = await daemon.call(
            "GET",
            f"/api/clients/acme/chats/{PHONE_X}@c.us/messages?limit=1&before={p1['next_before']}",
        )
        assert code == 200 and p2["messages"][0]["id"] != p1["messages"][0]["id"]

        # disconnect → stopped; connect → connected again without a new QR.
        qr_events_before = len(all_events.named("client.qr", "acme"))
        code, _ = await daemon.call("POST", "/api/clients/acme/disconnect")
        assert code == 202
        await daemon.wait_state("acme", "stopped")
        code, _ = await daemon.call("POST", "/api/clients/acme/disconnect")  # idempotent
        assert code == 202
        code, body = await daemon.call("POST", "/api/clients/acme/connect")
        assert code == 202 and body["created"] is False
        await daemon.wait_state("acme", "connected")
        assert len(all_events.named("client.qr", "acme")) == qr_events_before

        # SIGKILL of the worker: noticed, restarted, reconnected without a QR; old Chromium gone.
        st = await daemon.status("acme")
        old_pid, old_browser = st["pid"], st["browser_pid"]
        assert old_browser and psutil.pid_exists(old_browser)
        os.kill(old_pid, signal.SIGKILL)

        async def restarted() -> dict[str, Any] | None:
            s = await daemon.status("acme")
            return s if s["state"] == "connected" and s["pid"] not in (None, old_pid) else None

        st = await wait_for(restarted, timeout=60, what="acme restarted and connected")
        assert st["restarts"] >= 1
        await wait_for(lambda: not _alive(old_browser), timeout=15, what="the old Chromium to exit")
        assert len(all_events.named("client.qr", "acme")) == qr_events_before
        # shop_2 never noticed.
        assert (await daemon.status("shop_2"))["pid"] == st_b["pid"]

        # logout → a new QR.
        code, _ = await daemon.call("POST", "/api/clients/acme/logout")
        assert code == 202
        await daemon.wait_state("acme", "qr")
        new_qr = await daemon.qr("acme")
        assert new_qr != qr_a


def _alive(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.Error:
        return False


async def test_link_by_phone_number_with_a_pairing_code(daemon: Daemon, sim_http: Any) -> None:
    """The alternative to a scan: the phone types a code that the client's page generated."""
    code, _ = await daemon.call("POST", "/api/clients/pairme/connect")
    assert code == 202
    await daemon.qr("pairme")
    path = "/api/clients/pairme/pairing-code"
    code, body = await daemon.call("POST", path, json={"phone": "no"})
    assert code == 400 and body["field"] == "phone"
    code, body = await daemon.call("POST", path, json={"phone": "+55 11 90000-0009"})
    assert code == 200, body
    assert body["expires_in"] > 0 and len(body["code"].replace("-", "")) == 8
    code, linked = await sim_http.call("POST", "/control/link-code", json={"code": body["code"]})
    assert code == 200 and linked["phone"] == "5511900000009", linked
    st = await daemon.wait_state("pairme", "connected")
    assert st["me"] == "5511900000009@c.us"
    code, body = await daemon.call("POST", path, json={"phone": "5511900000009"})
    assert code == 409 and body["code"] == "no_qr"
