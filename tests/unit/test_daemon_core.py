"""The daemon's logic without Chromium: the registry's state table, and the ingest's delivery
numbers over a fake link (real SQLite, real event bus)."""

from __future__ import annotations

from typing import Any

import msgspec
import pytest
from loguru import logger

from wamc import events as E
from wamc.daemon.inbox import Inbox
from wamc.daemon.ingest import HANDLERS, Ingest
from wamc.daemon.registry import Client, Registry
from wamc.states import TRANSITIONS, ClientState
from wamc.storage import clients as client_rows
from wamc.storage import events as event_log
from wamc.wire import events as W
from wamc.wire import frames as F

NOW = "2026-01-01T00:00:00.000Z"


class FakeLink:
    """Records what the inbox sends."""

    def __init__(self) -> None:
        self.sent: list[F.Frame] = []

    def send(self, route: str, frame: F.Frame) -> bool:
        self.sent.append(frame)
        return True

    def send_to(self, peer: Any, frame: F.Frame) -> bool:
        return peer.route is not None and self.send(peer.route, frame)


async def added(reg: Registry, client_id: str = "acme") -> Client:
    client = reg.new_client(client_id, NOW)
    reg.clients[client_id] = client
    await client_rows.add(reg.store, client_id, NOW)
    return client


def test_no_state_lists_itself() -> None:
    assert all(state not in TRANSITIONS[state] for state in ClientState)


async def test_set_state_follows_the_table_and_refuses_the_rest(registry: Registry) -> None:
    client = await added(registry)
    sub = registry.bus.subscribe(None, frozenset({E.CLIENT_STATE}))
    errors: list[str] = []
    sink = logger.add(lambda m: errors.append(m.record["message"]), level="ERROR")
    try:
        await registry.set_state(client, ClientState.CONNECTED)  # stopped -> connected: a bug
        await registry.set_state(client, ClientState.STARTING)
        await registry.set_state(client, ClientState.STARTING)  # no transition: nothing happens
        await registry.set_state(client, ClientState.QR)
    finally:
        logger.remove(sink)
    assert errors == ["bug: illegal state transition stopped -> connected refused"]
    assert client.state == ClientState.QR
    published = [sub.queue.get_nowait()["data"] for _ in range(sub.queue.qsize())]
    assert [(p["previous"], p["state"]) for p in published] == [
        ("stopped", "starting"),
        ("starting", "qr"),
    ]
    rows = {r.id: r for r in await client_rows.all_clients(registry.store)}
    assert rows["acme"].state == "qr"


def event(dn: int, name: str, payload: Any) -> F.Event:
    return F.Event(dn=dn, name=name, data=msgspec.Raw(msgspec.msgpack.encode(payload)))


async def test_ingest_applies_in_order_acks_replays_and_records_dead_events(
    registry: Registry,
) -> None:
    client = await added(registry)
    await registry.set_state(client, ClientState.STARTING)
    client.route = "acme.boot1"
    link = FakeLink()
    inbox = Inbox(registry, link)  # type: ignore[arg-type]  # the fake link
    ingest = Ingest(registry, link, inbox)  # type: ignore[arg-type]  # the fake link
    await ingest.on_event("acme.boot1", event(2, W.STATE, {"state": "qr"}))  # a gap
    assert link.sent == [F.Welcome(acked=0)] and client.state == ClientState.STARTING
    await ingest.on_event("acme.boot1", event(1, W.STATE, {"state": "connected", "me": "551"}))
    await ingest.on_event("acme.boot1", event(1, W.STATE, {"state": "qr"}))  # a replay
    await ingest.on_event("acme.boot1", event(2, W.STATE, {"state": 7}))  # a bad shape
    assert link.sent[1:] == [F.Ack(dn=1), F.Ack(dn=1), F.Ack(dn=2)]
    assert client.state == ClientState.CONNECTED and client.me == "551"
    assert (client.delivered, client.dead_events) == (2, 1)
    dead = await event_log.dead(registry.store, "acme")
    assert [d["dn"] for d in dead] == [2]
    rows = {r.id: r for r in await client_rows.all_clients(registry.store)}
    assert rows["acme"].delivered_dn == 2
    await ingest.on_event("other.boot", event(1, W.STATE, {"state": "qr"}))  # not a client
    assert link.sent[-1] == F.Request(id="stop", cmd="stop", timeout=5.0)


def test_every_worker_event_has_one_handler_and_the_catalog_its_public_name() -> None:
    assert set(HANDLERS) == set(W.BY_NAME)
    public = [e.public for e in W.VOCABULARY if e.public is not None]
    assert len(public) == len(set(public)) and set(public) <= E.EVENT_NAMES
    assert E.EVENT_NAMES - set(public) == {E.CLIENT_DELETED, E.DAEMON_STARTED}  # the daemon's
    spec = E.EVENTS[E.MESSAGE_ACK]
    assert (spec.source, spec.data) == (W.BY_NAME[W.ACK].source, W.BY_NAME[W.ACK].data)


async def test_ingest_publishes_under_the_vocabularys_public_name(registry: Registry) -> None:
    client = await added(registry)
    sub = registry.bus.subscribe(None, frozenset(E.EVENT_NAMES))
    link = FakeLink()
    ingest = Ingest(registry, link, Inbox(registry, link))  # type: ignore[arg-type]  # the fake link
    await ingest.apply(client, event(1, W.UNREAD, {"chat_id": "1@c.us", "unread": 2}))
    await ingest.apply(client, event(2, W.CALL, {"id": "c1", "from": "2@c.us"}))
    with pytest.raises(W.PayloadError, match="the worker dropped message: too big"):
        await ingest.apply(client, event(3, W.DROPPED, {"name": "message", "reason": "too big"}))
    published = [sub.queue.get_nowait() for _ in range(sub.queue.qsize())]
    assert [(p["event"], p["data"]) for p in published] == [
        (E.CHAT_UNREAD, {"chat_id": "1@c.us", "unread": 2}),
        (
            E.CALL,
            {"id": "c1", "from": "2@c.us", "is_video": False, "is_group": False, "timestamp": None},
        ),
    ]
    rows = {r.id: r for r in await client_rows.all_clients(registry.store)}
    assert rows["acme"].delivered_dn == 2  # the dropped event's transaction rolled back
