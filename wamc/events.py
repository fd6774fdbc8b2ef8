"""Everything that leaves the daemon is an event: written to the log first, then fanned out.

Public event names (mapped from worker / wa-js events):
  client.state    {state, previous, reason, me}          client state changed
  client.qr       {qr}                                    a new QR code (conn.auth_code_change)
  client.deleted  {}                                      the client and its data are gone
  message         message object (chat.new_message, and messages found by backfill)
  message.ack     {ids, ack, chat_id} (chat.msg_ack_change)
  daemon.started  {version, pid}                          client is null
"""

from __future__ import annotations

import asyncio
import uuid
from dataclasses import dataclass
from typing import Any

from loguru import logger

from wamc.store import Store
from wamc.timeutil import utc_now_iso

CLIENT_STATE = "client.state"
CLIENT_QR = "client.qr"
CLIENT_DELETED = "client.deleted"
MESSAGE = "message"
MESSAGE_ACK = "message.ack"
DAEMON_STARTED = "daemon.started"
EVENT_NAMES = frozenset(
    {CLIENT_STATE, CLIENT_QR, CLIENT_DELETED, MESSAGE, MESSAGE_ACK, DAEMON_STARTED}
)


@dataclass(eq=False)
class Subscriber:
    queue: asyncio.Queue[dict[str, Any]]
    clients: frozenset[str] | None  # None = all
    events: frozenset[str] | None
    overflowed: bool = False

    def wants(self, ev: dict[str, Any]) -> bool:
        if (
            self.clients is not None
            and ev["client"] is not None
            and ev["client"] not in self.clients
        ):
            return False
        return self.events is None or ev["event"] in self.events


class EventBus:
    def __init__(self, store: Store, queue_size: int = 1000) -> None:
        self.store = store
        self.queue_size = queue_size
        self.subscribers: set[Subscriber] = set()
        self._lock = asyncio.Lock()

    async def publish(self, client: str | None, name: str, data: dict[str, Any]) -> dict[str, Any]:
        async with self._lock:  # seq order == fan-out order
            ev = {
                "id": uuid.uuid4().hex,
                "seq": 0,
                "client": client,
                "event": name,
                "timestamp": utc_now_iso(),
                "data": data,
            }
            ev["seq"] = await self.store.append_event(client, ev["id"], name, ev["timestamp"], data)
            for sub in list(self.subscribers):
                if sub.overflowed or not sub.wants(ev):
                    continue
                try:
                    sub.queue.put_nowait(ev)
                except asyncio.QueueFull:
                    sub.overflowed = True  # the consumer is closed by its owner
                    logger.warning("event consumer too slow: disconnecting it")
            return ev

    def subscribe(
        self, clients: frozenset[str] | None, events: frozenset[str] | None
    ) -> Subscriber:
        sub = Subscriber(asyncio.Queue(self.queue_size), clients, events)
        self.subscribers.add(sub)
        return sub

    def unsubscribe(self, sub: Subscriber) -> None:
        self.subscribers.discard(sub)
