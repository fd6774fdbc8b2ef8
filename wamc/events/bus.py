"""Everything that leaves the daemon is an event: written to the log first, then delivered.

One event model for the WebSocket, webhooks and anything else::

    {"id": "<32 hex, globally unique>", "seq": <per client, contiguous from 1>,
     "client": "<client id>" | null, "event": "<name>", "timestamp": "<ISO 8601 UTC>",
     "data": {...}}

``seq`` is assigned by the daemon when it writes the event to the ``events`` table (daemon events
are kept under client ``""`` and carry ``"client": null``). Consumers resume from the last
``seq`` they saw per client (``/ws?since=acme:41``) and deduplicate on ``id``.

The public event names, and the wa-js events (``WPP.on(...)``) they come from, are listed in
:data:`EVENTS` below: this is the one place where they are documented.
"""

from __future__ import annotations

import asyncio
import os
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from loguru import logger

from wamc.events.retention import prune_hourly
from wamc.storage import Database
from wamc.storage import events as event_log
from wamc.timeutil import utc_now_iso

CLIENT_STATE = "client.state"
CLIENT_QR = "client.qr"
CLIENT_DELETED = "client.deleted"
MESSAGE = "message"
MESSAGE_ACK = "message.ack"
MESSAGE_REVOKED = "message.revoked"
MESSAGE_EDITED = "message.edited"
MESSAGE_REACTION = "message.reaction"
CHAT_UNREAD = "chat.unread"
PRESENCE = "presence"
CALL = "call"
DAEMON_STARTED = "daemon.started"


@dataclass(frozen=True)
class EventSpec:
    name: str
    source: str  # the wa-js event (WPP.on name) or the daemon's own
    data: str  # the shape of ``data``


EVENTS: dict[str, EventSpec] = {
    s.name: s
    for s in (
        EventSpec(
            CLIENT_STATE,
            "conn.* (authenticated, main_ready, logout, stream_mode_changed …) + supervision",
            "{state, previous, reason, me}",
        ),
        EventSpec(CLIENT_QR, "conn.auth_code_change", "{qr}: the QR payload (fullCode)"),
        EventSpec(CLIENT_DELETED, "daemon (DELETE /api/clients/{id})", "{}"),
        EventSpec(
            MESSAGE,
            "chat.new_message (and messages found by backfill after a reconnect)",
            "{id, chat_id, from_me, from, to, body, type, timestamp, ack, backfill}",
        ),
        EventSpec(MESSAGE_ACK, "chat.msg_ack_change", "{ids, ack, chat_id}"),
        EventSpec(
            MESSAGE_REVOKED,
            "chat.msg_revoke",
            "{id, chat_id, from_me, from, revoked_by, type}: id of the revoked message",
        ),
        EventSpec(
            MESSAGE_EDITED, "chat.msg_edited", "{id, chat_id, from_me, from, body, edited_at}"
        ),
        EventSpec(
            MESSAGE_REACTION,
            "chat.new_reaction",
            "{id, chat_id, sender, reaction ('' = removed), reaction_id, timestamp}",
        ),
        EventSpec(CHAT_UNREAD, "chat.unread_count_changed", "{chat_id, unread}"),
        EventSpec(
            PRESENCE,
            "chat.presence_change",
            "{chat_id, id, state, is_online, is_group, participants?}",
        ),
        EventSpec(CALL, "call.incoming_call", "{id, from, is_video, is_group, timestamp}"),
        EventSpec(DAEMON_STARTED, "daemon (client is null)", "{version, pid}"),
    )
}
EVENT_NAMES = frozenset(EVENTS)
# wa-js event -> public event name (the worker bridge forwards these).
WAJS_EVENTS: dict[str, str] = {
    "conn.auth_code_change": CLIENT_QR,
    "chat.new_message": MESSAGE,
    "chat.msg_ack_change": MESSAGE_ACK,
    "chat.msg_revoke": MESSAGE_REVOKED,
    "chat.msg_edited": MESSAGE_EDITED,
    "chat.new_reaction": MESSAGE_REACTION,
    "chat.unread_count_changed": CHAT_UNREAD,
    "chat.presence_change": PRESENCE,
    "call.incoming_call": CALL,
}

DEFAULT_QUEUE_SIZE = 1000
# A sink runs in the event's own transaction, before any fan-out (the webhook outbox is one).
# It must not commit.
Sink = Callable[[dict[str, Any]], Awaitable[None]]


RETENTION_ENV = "WAMC_EVENT_RETENTION_DAYS"
DEFAULT_RETENTION_DAYS = 30.0


def retention_days_from_env() -> float:
    """Days of event log kept for resuming (``0``: forever)."""
    try:
        return max(0.0, float(os.environ.get(RETENTION_ENV, DEFAULT_RETENTION_DAYS)))
    except ValueError:
        return DEFAULT_RETENTION_DAYS


async def retention_loop(db: Database, days: float | None = None) -> None:
    """Prune the event log hourly: events older than the retention go, each client's newest
    stays (seq numbers never restart). A resume point older than that replays from the oldest
    event kept: consumers see the jump in ``seq``."""
    days = retention_days_from_env() if days is None else days
    await prune_hourly("event log", days, lambda before: event_log.prune(db, before))


def queue_size_from_env() -> int:
    try:
        return max(1, int(os.environ.get("WAMC_WS_QUEUE_SIZE", DEFAULT_QUEUE_SIZE)))
    except ValueError:
        return DEFAULT_QUEUE_SIZE


@dataclass(eq=False)
class Subscriber:
    queue: asyncio.Queue[dict[str, Any]]
    clients: frozenset[str] | None  # None = all
    events: frozenset[str] | None
    overflowed: bool = False
    overflow: asyncio.Event = field(default_factory=asyncio.Event)

    def wants(self, ev: dict[str, Any]) -> bool:
        if (
            self.clients is not None
            and ev["client"] is not None
            and ev["client"] not in self.clients
        ):
            return False
        return self.events is None or ev["event"] in self.events


class EventBus:
    def __init__(self, db: Database, queue_size: int | None = None) -> None:
        self.db = db
        self.queue_size = queue_size or queue_size_from_env()
        self.subscribers: set[Subscriber] = set()
        self.sinks: list[Sink] = []

    def add_sink(self, sink: Sink) -> None:
        self.sinks.append(sink)

    async def publish(self, client: str | None, name: str, data: dict[str, Any]) -> dict[str, Any]:
        """Log the event in the caller's transaction (or its own); fan it out once committed.

        Writers take turns (the store's transaction), so seq order == commit order == fan-out
        order, and an event whose transaction rolls back reaches nobody.
        """
        async with self.db.transaction() as tx:
            ev = {
                "id": uuid.uuid4().hex,
                "seq": 0,
                "client": client,
                "event": name,
                "timestamp": utc_now_iso(),
                "data": data,
            }
            ev["seq"] = await event_log.append(
                self.db, client, ev["id"], name, ev["timestamp"], data
            )
            for sink in self.sinks:
                try:
                    await sink(ev)
                except Exception:
                    logger.exception("event sink failed for {} {}", name, ev["id"])
            tx.after_commit.append(lambda: self._fan_out(ev))
        return ev

    def _fan_out(self, ev: dict[str, Any]) -> None:
        for sub in list(self.subscribers):
            if not sub.wants(ev):
                continue
            try:
                sub.queue.put_nowait(ev)
            except asyncio.QueueFull:
                # Never wait for a consumer: drop it, its owner closes the connection.
                sub.overflowed = True
                sub.overflow.set()
                self.subscribers.discard(sub)
                logger.warning(
                    "event consumer too slow ({} events queued): disconnecting it",
                    self.queue_size,
                )

    def subscribe(
        self, clients: frozenset[str] | None, events: frozenset[str] | None
    ) -> Subscriber:
        sub = Subscriber(asyncio.Queue(self.queue_size), clients, events)
        self.subscribers.add(sub)
        return sub

    def unsubscribe(self, sub: Subscriber) -> None:
        self.subscribers.discard(sub)
