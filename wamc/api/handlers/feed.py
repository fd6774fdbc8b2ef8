"""What both event streams (``/ws`` and ``/api/events``) share: filters, replay, registration.

Query parameters:
  ``clients=a,b``   only these clients (``*`` or absent: all); daemon events always pass
  ``events=message,message.ack``   only these event names (see wamc/events.py)
  ``since=acme:41,shop_2:7``   first replay the logged events of acme with seq > 41 and of
                    shop_2 with seq > 7, then go live: no gap, no duplicate

Resume without a gap: the connection subscribes to the bus *before* reading the log, so live
events published meanwhile are buffered; after the replay the buffer is drained, skipping what
the replay already sent (seq <= last replayed, per client).

A consumer that lets its queue fill up is disconnected (WebSocket close 1008, reason
``consumer too slow``; SSE: a final ``event: error``); the bus never waits for anyone. A revoked
token or a deleted client ends its streams too; a stopping daemon ends every stream (1001; SSE:
a final ``event: shutdown``). Each key holds at most ``WAMC_MAX_STREAMS_PER_KEY`` streams.
"""

from __future__ import annotations

import contextlib
from collections.abc import Awaitable, Callable, Iterator
from typing import Any

from aiohttp import web

from wamc.api.keys import STREAMS
from wamc.api.middleware import principal_of, ws_clients
from wamc.api.streams import Stream
from wamc.errors import Refused
from wamc.events import EVENT_NAMES, Subscriber
from wamc.storage import Database
from wamc.storage import events as event_log
from wamc.validation import is_client_id

HEARTBEAT = 20.0
REPLAY_BATCH = 500
SEND_TIMEOUT = 30.0  # a send blocked this long means the consumer stopped reading
ENDED_CLOSE_TIMEOUT = 1.0  # a stream ended by the daemon waits this long for the close reply
SLOW_REASON = "consumer too slow"


def _csv(raw: str | None, name: str) -> frozenset[str] | None:
    if not raw or raw == "*":
        return None
    items = frozenset(x.strip() for x in raw.split(",") if x.strip())
    if name == "clients":
        bad = [c for c in items if not is_client_id(c)]
        if bad:
            raise Refused(
                "invalid_parameter", f"invalid client id in 'clients': {bad[0]!r}", field="clients"
            )
    if name == "events":
        bad = sorted(items - EVENT_NAMES)
        if bad:
            raise Refused(
                "invalid_parameter",
                f"unknown event {bad[0]!r}; known: {', '.join(sorted(EVENT_NAMES))}",
                field="events",
            )
    return items or None


def parse_since(raw: str | None) -> dict[str, int]:
    """``acme:41,shop_2:7`` → {"acme": 41, "shop_2": 7}."""
    since: dict[str, int] = {}
    if not raw:
        return since
    for part in raw.split(","):
        part = part.strip()
        if not part:
            continue
        client, sep, seq = part.rpartition(":")
        if not sep or not is_client_id(client) or not seq.isdigit() or len(seq) > 15:
            raise Refused(
                "invalid_parameter",
                f"'since' takes client:seq pairs separated by commas, not {part[:80]!r}",
                field="since",
            )
        since[client] = int(seq)
    return since


Filters = tuple[frozenset[str] | None, frozenset[str] | None, dict[str, int]]


def stream_params(request: web.Request, since_extra: str | None = None) -> Filters:
    """(clients, events, since) from the query; a client token follows only its own client."""
    clients = _csv(request.query.get("clients"), "clients")
    clients = ws_clients(request, clients)
    events = _csv(request.query.get("events"), "events")
    since = parse_since(request.query.get("since"))
    if since_extra:
        since = {**parse_since(since_extra), **since}
    if clients is not None and not set(since) <= clients:
        raise Refused(
            "invalid_parameter", "every client in 'since' must be in 'clients'", field="since"
        )
    return clients, events, since


async def stream(
    store: Database,
    sub: Subscriber,
    since: dict[str, int],
    events: frozenset[str] | None,
    send: Callable[[dict[str, Any]], Awaitable[None]],
    sent_live: Callable[[Any], None] | None = None,
) -> None:
    """Replay from the log after ``since``, then live events from ``sub`` (already subscribed),
    skipping the ones the replay sent: no gap, no duplicate. ``sent_live`` is told the
    timestamp of each live event once sent (the metrics' stored → stream latency)."""
    last: dict[str, int] = {}
    for client, after in since.items():
        cursor = after
        while True:
            batch = await event_log.since(store, client, cursor, REPLAY_BATCH, events)
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


@contextlib.contextmanager
def registered(request: web.Request, kind: str) -> Iterator[Stream]:
    """The stream counted against its key for as long as it is open."""
    principal = principal_of(request)
    assert principal is not None  # the security middleware authenticated every stream
    stream = request.app[STREAMS].open(principal, kind)  # 429 too_many_streams, 503 at shutdown
    try:
        yield stream
    finally:
        request.app[STREAMS].close(stream)
