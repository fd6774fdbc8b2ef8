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

REPLAY_BATCH = 500
# Told once an event that queued webhook deliveries has committed: (client key, webhook ids).
QueuedListener = Callable[[str, list[str]], None]


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
        self.queued_listeners: list[QueuedListener] = []

    def on_queued(self, listener: QueuedListener) -> None:
        """``listener`` learns which webhooks got a new outbox row, once it is committed."""
        self.queued_listeners.append(listener)

    async def publish(self, client: str | None, name: str, data: dict[str, Any]) -> dict[str, Any]:
        """Log the event (and queue its webhook deliveries) in the caller's transaction or its
        own; fan it out once committed.

        Writers take turns (the store's transaction), so seq order == commit order == fan-out
        order, and an event whose transaction rolls back reaches nobody.
        """
        async with self.db.transaction() as tx:
            ev: dict[str, Any] = {  # stamped under the write lock: time order == seq order
                "id": uuid.uuid4().hex,
                "seq": 0,
                "client": client,
                "event": name,
                "timestamp": utc_now_iso(),
                "data": data,
            }
            hooks = await event_log.append(self.db, ev)  # sets ev["seq"], fills the outbox
            tx.after_commit.append(lambda: self._committed(ev, hooks))
        return ev

    def _committed(self, ev: dict[str, Any], hooks: list[str]) -> None:
        self._fan_out(ev)
        for listener in self.queued_listeners if hooks else ():
            try:
                listener(ev["client"] or "", hooks)
            except Exception:
                logger.exception("outbox listener failed for {}", ev["event"])

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

    async def follow(
        self,
        sub: Subscriber,
        since: dict[str, int],
        names: frozenset[str] | None,
        send: Callable[[dict[str, Any]], Awaitable[None]],
        sent_live: Callable[[str], None] | None = None,
    ) -> None:
        """Send the logged events after ``since`` (client → seq), then live events from ``sub``
        (subscribed *before* this call, so events published during the replay wait in its
        queue), skipping the ones the replay sent: no gap, no duplicate. ``sent_live`` is told
        each live event's timestamp once sent (the metrics' stored → stream latency)."""
        last: dict[str, int] = {}
        for client, after in since.items():
            cursor = after
            while True:
                batch = await event_log.since(self.db, client, cursor, REPLAY_BATCH, names)
                for ev in batch:
                    await send(ev)
                    cursor = ev["seq"]
                if len(batch) < REPLAY_BATCH:
                    break
            last[client] = max(cursor, after)
        while True:
            ev = await sub.queue.get()
            client = ev["client"]
            if client in last and ev["seq"] <= last[client]:
                continue  # already replayed from the log
            await send(ev)
            if sent_live is not None:
                sent_live(ev["timestamp"])

    def subscribe(
        self, clients: frozenset[str] | None, events: frozenset[str] | None
    ) -> Subscriber:
        sub = Subscriber(asyncio.Queue(self.queue_size), clients, events)
        self.subscribers.add(sub)
        return sub

    def unsubscribe(self, sub: Subscriber) -> None:
        self.subscribers.discard(sub)
