"""The event bus: everything that leaves the daemon is an event, written to the log first, then
delivered (names and payloads: :mod:`wamc.events.catalog`).

``seq`` is assigned by the daemon when it writes the event to the ``events`` table (daemon events
are kept under client ``""`` and carry ``"client": null``). Consumers resume from the last
``seq`` they saw per client (``/ws?since=acme:41``) and deduplicate on ``id``.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from loguru import logger

from wamc.storage import Database
from wamc.storage import events as event_log
from wamc.timeutil import utc_now_iso

# A sink runs in the event's own transaction, before any fan-out (the webhook outbox is one).
# It must not commit.
Sink = Callable[[dict[str, Any]], Awaitable[None]]


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
    def __init__(self, db: Database, queue_size: int) -> None:
        """``queue_size``: events a subscriber may fall behind before it is dropped
        (``Settings.ws_queue_size``)."""
        self.db = db
        self.queue_size = max(1, queue_size)
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
            ev: dict[str, Any] = {
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
