"""The WebSocket event stream with real consumers: filters, resume across a daemon restart without a
gap or a duplicate, and a stalled consumer dropped while another keeps its latency."""

from __future__ import annotations

import asyncio
import json
import secrets
import socket
import statistics
import time
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from tests.support import API_KEY, Daemon, wait_for

PHONE_A = "5511900000101"
PHONE_B = "5511900000102"
CONTACT = "5511955554444"
UPGRADE = {
    "Connection": "Upgrade",
    "Upgrade": "websocket",
    "Sec-WebSocket-Version": "13",
    "Sec-WebSocket-Key": "dGhlIHNhbXBsZSBub25jZQ==",
}


def small_receive_buffer(addr_info: Any) -> socket.socket:
    """A client socket with a tiny receive buffer: it stops accepting data as soon as it stalls."""
    family, type_, proto, _, _ = addr_info
    sock = socket.socket(family=family, type=type_, proto=proto)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    return sock


class Consumer:
    """A real WebSocket consumer; ``stalled`` ones connect and then do not read until resumed."""

    def __init__(self, daemon: Daemon, query: str = "", stalled: bool = False) -> None:
        self.daemon = daemon
        self.query = query
        self.stalled = stalled
        self.events: list[dict[str, Any]] = []
        self.received_at: dict[str, float] = {}  # message id -> monotonic time of arrival
        self.close_code: int | None = None
        self.close_reason: str = ""
        self.closed = asyncio.Event()
        self.resume = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._ready = asyncio.Event()

    async def __aenter__(self) -> Consumer:
        self._task = asyncio.create_task(self._run())
        await asyncio.wait_for(self._ready.wait(), 15)
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self._task is not None
        self._task.cancel()
        await asyncio.gather(self._task, return_exceptions=True)

    async def _run(self) -> None:
        connector = aiohttp.TCPConnector(
            socket_factory=small_receive_buffer if self.stalled else None
        )
        url = f"{self.daemon.base}/ws?{self.query}"
        try:
            async with (
                aiohttp.ClientSession(connector=connector) as s,
                s.ws_connect(
                    url, headers={"X-Api-Key": API_KEY}, compress=0 if self.stalled else 15
                ) as ws,
            ):
                self._ready.set()
                if self.stalled:
                    await self.resume.wait()
                while True:
                    msg = await ws.receive()
                    if msg.type == aiohttp.WSMsgType.TEXT:
                        ev = json.loads(msg.data)
                        self.events.append(ev)
                        if ev["event"] == "message":
                            self.received_at.setdefault(ev["data"]["id"], time.monotonic())
                        continue
                    if msg.type == aiohttp.WSMsgType.CLOSE:
                        self.close_code, self.close_reason = msg.data, msg.extra or ""
                    elif self.close_code is None:
                        self.close_code = ws.close_code
                    break
        finally:
            self.closed.set()

    def of(self, client: str | None = None, event: str | None = None) -> list[dict[str, Any]]:
        return [
            e
            for e in self.events
            if (client is None or e["client"] == client) and (event is None or e["event"] == event)
        ]

    def message_ids(self, client: str | None = None) -> list[str]:
        return [e["data"]["id"] for e in self.of(client, "message")]


@pytest.fixture
async def ws_daemon(make_daemon: Any) -> Daemon:
    return await make_daemon({"WAMC_WS_QUEUE_SIZE": "16"})


async def test_retention_keeps_each_clients_newest_event(tmp_path: Path) -> None:
    from wamc.storage import Database
    from wamc.storage import events as event_log

    store = Database(tmp_path / "events.db")
    await store.open()

    async def append(client: str, event_id: str, timestamp: str) -> int:
        ev = {"client": client, "id": event_id, "event": "message", "timestamp": timestamp}
        ev["data"] = {}
        await event_log.append(store, ev)
        return int(ev["seq"])

    try:
        for client, n in (("old", 3), ("busy", 4)):
            for i in range(n):
                await append(client, f"{client}{i}", "2020-01-01T00:00Z")
        await append("busy", "fresh", "2030-01-01T00:00:00.000Z")
        assert await event_log.prune(store, "2025-01-01T00:00:00.000Z") == 6
        assert [e["seq"] for e in await event_log.since(store, "old", 0, 10)] == [3]
        assert [e["id"] for e in await event_log.since(store, "busy", 0, 10)] == ["fresh"]
        # seq numbers continue after pruning; a resume from an old point starts at what is kept.
        assert await append("old", "next", "2030-01-01T00:00Z") == 4
        assert [e["seq"] for e in await event_log.since(store, "old", 1, 10)] == [3, 4]
    finally:
        await store.close()


async def test_filters_and_contiguous_sequence(daemon: Daemon, sim_http: Any) -> None:
    # Bad filters are refused before the upgrade, as problem+json.
    for query, field in (
        ("events=message,bogus", "events"),
        ("since=acme:x", "since"),
        ("clients=acme&since=shop_2:3", "since"),
        ("clients=no%20spaces", "clients"),
    ):
        code, body = await daemon.call("GET", f"/ws?{query}", headers=UPGRADE)
        assert code == 400 and body["code"] == "invalid_parameter", (query, body)
        assert body["field"] == field

    async with (
        Consumer(daemon) as everything,
        Consumer(daemon, "clients=acme&events=message") as acme_messages,
        Consumer(daemon, "clients=*&events=client.state") as states,
    ):
        await daemon.connect_scanned(sim_http, "acme", PHONE_A)
        await daemon.connect_scanned(sim_http, "shop_2", PHONE_B)
        to_acme = [await sim_http.deliver(PHONE_A, CONTACT, f"a{i}") for i in range(3)]
        to_shop = [await sim_http.deliver(PHONE_B, CONTACT, f"b{i}") for i in range(2)]
        await wait_for(
            lambda: set(to_acme + to_shop) <= set(everything.message_ids()),
            30,
            what="all messages on the unfiltered stream",
        )
        await wait_for(
            lambda: set(to_acme) <= set(acme_messages.message_ids()), 10, what="acme's messages"
        )

        # Filtered: only acme's messages, in the order they were delivered.
        assert {(e["client"], e["event"]) for e in acme_messages.events} == {("acme", "message")}
        assert acme_messages.message_ids() == to_acme
        assert {e["event"] for e in states.events} == {"client.state"}
        assert {e["client"] for e in states.events} == {"acme", "shop_2"}
        assert [e["data"]["state"] for e in states.of("acme")][-1] == "connected"

        # One event model, ids unique, seq contiguous per client with nothing missing.
        for ev in everything.events:
            assert set(ev) == {"id", "seq", "client", "event", "timestamp", "data"}
        assert len({e["id"] for e in everything.events}) == len(everything.events)
        for client in ("acme", "shop_2"):
            seqs = [e["seq"] for e in everything.of(client)]
            assert seqs == list(range(1, len(seqs) + 1)), (client, seqs)
        # The filtered stream shows the same seq numbers as the full one.
        full = {e["id"]: e["seq"] for e in everything.events}
        assert all(full[e["id"]] == e["seq"] for e in acme_messages.events)

        # Deleting a client and creating it again does not restart its seq: a consumer that
        # resumes with an old position skips nothing of the new client.
        last = everything.of("shop_2")[-1]["seq"]
        code, _ = await daemon.call("DELETE", "/api/clients/shop_2")
        assert code == 202
        code, _ = await daemon.call("POST", "/api/clients/shop_2/connect")
        assert code == 202

        def recreated() -> bool:
            # (events of shop_2 may still have been on their way when ``last`` was read)
            shop = everything.of("shop_2")
            deleted = [e["seq"] for e in shop if e["event"] == "client.deleted"]
            return bool(deleted) and any(
                e["event"] == "client.state" and e["seq"] > deleted[0] for e in shop
            )

        await wait_for(recreated, 30, what="shop_2 created again")
        shop = everything.of("shop_2")
        deleted = [e["seq"] for e in shop if e["event"] == "client.deleted"]
        assert len(deleted) == 1 and deleted[0] > last, (deleted, last)
        assert [e["seq"] for e in shop] == list(range(1, shop[-1]["seq"] + 1))


async def test_resume_across_restart_without_gap_or_duplicate(
    ws_daemon: Daemon, sim_http: Any
) -> None:
    daemon = ws_daemon
    await daemon.connect_scanned(sim_http, "acme", PHONE_A)
    async with Consumer(daemon, "clients=acme") as first:
        seen = [await sim_http.deliver(PHONE_A, CONTACT, f"before {i}") for i in range(3)]
        await wait_for(lambda: set(seen) <= set(first.message_ids()), 30, what="first messages")
    first_seqs = [e["seq"] for e in first.events]
    last_seq = first_seqs[-1]
    assert first_seqs == list(range(first_seqs[0], last_seq + 1))

    # Missed while nobody listens: some before the restart, some after.
    missed = [await sim_http.deliver(PHONE_A, CONTACT, f"missed {i}") for i in range(2)]

    async def stored(ids: list[str]) -> bool:
        code, body = await daemon.call("GET", f"/api/clients/acme/chats/{CONTACT}@c.us/messages")
        return code == 200 and set(ids) <= {m["id"] for m in body["messages"]}

    await wait_for(lambda: stored(missed), 30, what="missed messages stored")
    await daemon.stop()
    await daemon.start()
    await daemon.wait_state("acme", "connected")
    missed.append(await sim_http.deliver(PHONE_A, CONTACT, "missed after restart"))
    await wait_for(lambda: stored(missed), 30, what="the message after the restart stored")

    # Resume while new messages keep arriving: the replay/live seam must not lose or repeat.
    async def keep_delivering() -> list[str]:
        return [await sim_http.deliver(PHONE_A, CONTACT, f"live {i}") for i in range(4)]

    feeder = asyncio.create_task(keep_delivering())
    async with Consumer(daemon, f"clients=acme&since=acme:{last_seq}") as resumed:
        live = await feeder
        await wait_for(
            lambda: set(missed + live) <= set(resumed.message_ids()),
            30,
            what="every missed and live message on the resumed stream",
        )
        seqs = [e["seq"] for e in resumed.events]
        assert seqs == list(range(last_seq + 1, last_seq + 1 + len(seqs))), seqs
        assert resumed.message_ids() == missed + live
        assert not set(seen) & set(resumed.message_ids())

    # The log agrees: a full replay from 0 shows the same events under the same seq numbers.
    async with Consumer(daemon, "clients=acme&since=acme:0") as replay:
        await wait_for(lambda: len(replay.events) >= seqs[-1], 15, what="the full replay")
        by_seq = {e["seq"]: e["id"] for e in replay.events}
        assert [e["seq"] for e in replay.events] == list(range(1, len(replay.events) + 1))
        assert all(by_seq[e["seq"]] == e["id"] for e in first.events + resumed.events)


async def test_stalled_consumer_is_dropped_and_others_keep_their_latency(
    ws_daemon: Daemon, sim_http: Any
) -> None:
    daemon = ws_daemon  # WAMC_WS_QUEUE_SIZE=16
    await daemon.connect_scanned(sim_http, "acme", PHONE_A)
    async with (
        Consumer(daemon, "events=message") as fast,
        Consumer(daemon, "events=message", stalled=True) as stalled,
    ):

        async def deliver_and_time(body: str) -> float:
            started = time.monotonic()
            mid = await sim_http.deliver(PHONE_A, CONTACT, body)
            await wait_for(lambda: mid in fast.received_at, 30, interval=0.005, what=mid)
            return fast.received_at[mid] - started

        def dropped() -> bool:
            log = daemon.home / "logs" / "wamc.log"
            return "event consumer too slow" in log.read_text(errors="replace")

        baseline = [await deliver_and_time(f"warm-up {i}") for i in range(5)]
        # 16 kB messages until the stalled consumer's buffers and queue overflow (kernel buffers
        # vary), then some more: the fast consumer must not notice any of it.
        during: list[float] = []
        while not dropped() and len(during) < 400:
            during += [await deliver_and_time(f"{i} {secrets.token_hex(8000)}") for i in range(10)]
        assert dropped(), "the stalled consumer was never dropped"
        during += [await deliver_and_time(f"after {i}") for i in range(10)]
        total = len(baseline) + len(during)
        assert len(fast.message_ids()) == total  # the fast consumer got everything

        stalled.resume.set()
        await asyncio.wait_for(stalled.closed.wait(), 30)
        assert stalled.close_code == 1008, (stalled.close_code, stalled.close_reason)
        assert stalled.close_reason == "consumer too slow"
        assert len(stalled.message_ids()) < total
        # What it did get is a prefix of the stream: nothing skipped before the cut.
        assert stalled.message_ids() == fast.message_ids()[: len(stalled.message_ids())]
        assert fast.close_code is None

        p50_base, p50_during = statistics.median(baseline), statistics.median(during)
        assert p50_during < max(3 * p50_base, p50_base + 0.5), (p50_base, p50_during)
        assert max(during) < 5.0, max(during)
