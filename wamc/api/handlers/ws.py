"""WebSocket event stream ``/ws``: filtered, resumable, with a bounded queue per connection.

Query parameters:
  ``clients=a,b``   only these clients (``*`` or absent: all); daemon events always pass
  ``events=message,message.ack``   only these event names (see wamc/events.py)
  ``since=acme:41,shop_2:7``   first replay the logged events of acme with seq > 41 and of
                    shop_2 with seq > 7, then go live: no gap, no duplicate

Resume without a gap: the connection subscribes to the bus *before* reading the log, so live
events published meanwhile are buffered; after the replay the buffer is drained, skipping what
the replay already sent (seq <= last replayed, per client).

A consumer that lets its queue fill up is disconnected with close code 1008 and the reason
``consumer too slow``; the bus never waits for anyone. A revoked token or a deleted client
closes its streams with 1008 too; a stopping daemon closes every stream with 1001 (SSE: a final
``event: shutdown``). Each key holds at most ``WAMC_MAX_STREAMS_PER_KEY`` streams.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import socket
from collections.abc import Awaitable, Callable, Iterator
from typing import Any

from aiohttp import WSCloseCode, web
from loguru import logger

from wamc.errors import ApiError
from wamc.events import EVENT_NAMES, Subscriber
from wamc.gateway.app import BUS, STORE, STREAMS
from wamc.gateway.security import principal_of, ws_clients
from wamc.gateway.streams import GOING_AWAY, Stream
from wamc.storage import Database
from wamc.storage import events as event_log
from wamc.validation import is_client_id

HEARTBEAT = 20.0
REPLAY_BATCH = 500
SEND_TIMEOUT = 30.0  # a send blocked this long means the consumer stopped reading
ABORT_AFTER_CLOSE = 60.0
ENDED_CLOSE_TIMEOUT = 1.0  # a stream ended by the daemon waits this long for the close reply
SLOW_REASON = "consumer too slow"
SOCKET_SEND_BUFFER = 256 * 1024


def _csv(raw: str | None, name: str) -> frozenset[str] | None:
    if not raw or raw == "*":
        return None
    items = frozenset(x.strip() for x in raw.split(",") if x.strip())
    if name == "clients":
        bad = [c for c in items if not is_client_id(c)]
        if bad:
            raise ApiError(
                "invalid_parameter", f"invalid client id in 'clients': {bad[0]!r}", field="clients"
            )
    if name == "events":
        bad = sorted(items - EVENT_NAMES)
        if bad:
            raise ApiError(
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
            raise ApiError(
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
        raise ApiError(
            "invalid_parameter", "every client in 'since' must be in 'clients'", field="since"
        )
    return clients, events, since


async def stream(
    store: Database,
    sub: Subscriber,
    since: dict[str, int],
    events: frozenset[str] | None,
    send: Callable[[dict[str, Any]], Awaitable[None]],
) -> None:
    """Replay from the log after ``since``, then live events from ``sub`` (already subscribed),
    skipping the ones the replay sent: no gap, no duplicate."""
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


@contextlib.contextmanager
def _registered(request: web.Request, kind: str) -> Iterator[Stream]:
    """The stream counted against its key for as long as it is open."""
    principal = principal_of(request)
    assert principal is not None  # the security middleware authenticated every stream
    stream = request.app[STREAMS].open(principal, kind)  # 429 too_many_streams, 503 at shutdown
    try:
        yield stream
    finally:
        request.app[STREAMS].close(stream)


async def websocket(request: web.Request) -> web.StreamResponse:
    clients, events, since = stream_params(request)
    with _registered(request, "ws") as registered:
        return await _websocket(request, registered, clients, events, since)


async def _websocket(
    request: web.Request,
    registered: Stream,
    clients: frozenset[str] | None,
    events: frozenset[str] | None,
    since: dict[str, int],
) -> web.StreamResponse:
    ws = web.WebSocketResponse(heartbeat=HEARTBEAT, max_msg_size=64 * 1024, writer_limit=64 * 1024)
    sock = request.transport.get_extra_info("socket") if request.transport else None
    if sock is not None:
        # A fixed kernel buffer (no autotuning to megabytes): a consumer that stops reading is
        # noticed by its queue after a bounded amount of data, not after the kernel's limit.
        with contextlib.suppress(OSError):
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, SOCKET_SEND_BUFFER)
    await ws.prepare(request)
    bus = request.app[BUS]
    store = request.app[STORE]
    sub = bus.subscribe(clients, events)  # before the replay: nothing published meanwhile is lost
    log = logger.bind(peer=request.remote)
    log.info(
        "websocket consumer connected (clients={}, events={}, resume={})",
        ",".join(sorted(clients)) if clients else "*",
        ",".join(sorted(events)) if events else "*",
        len(since),
    )

    async def send(ev: dict[str, Any]) -> None:
        await asyncio.wait_for(ws.send_str(json.dumps(ev, separators=(",", ":"))), SEND_TIMEOUT)

    async def pump() -> None:
        await stream(store, sub, since, events, send)

    async def guard() -> None:
        """Close the socket when the bus dropped this consumer, a send stalled, or the daemon
        ended the stream (token revoked, client deleted, shutdown)."""
        overflow = asyncio.create_task(sub.overflow.wait())
        ended = asyncio.create_task(registered.ended.wait())
        try:
            done, _ = await asyncio.wait(
                {overflow, ended, sender}, return_when=asyncio.FIRST_COMPLETED
            )
        finally:
            overflow.cancel()
            ended.cancel()
        if registered.ended.is_set():
            sender.cancel()
            log.info("websocket consumer closed ({}): {}", registered.code, registered.reason)
            await close(registered.code, registered.reason, ENDED_CLOSE_TIMEOUT)
            return
        if sender in done and not sender.cancelled():
            exc = sender.exception()
            if isinstance(exc, TimeoutError):
                sub.overflowed = True
            elif exc is not None and not isinstance(exc, ConnectionError | RuntimeError):
                log.opt(exception=exc).error("websocket event pump failed")
        sender.cancel()
        if sub.overflowed:
            log.warning("websocket consumer too slow: closing it")
            await close(WSCloseCode.POLICY_VIOLATION, SLOW_REASON)
        elif not ws.closed:
            await close(WSCloseCode.INTERNAL_ERROR, "event stream failed")

    closing = False

    async def close(code: int, reason: str, timeout: float = 15.0) -> None:
        nonlocal closing
        closing = True
        transport = request.transport
        with contextlib.suppress(Exception):
            msg = reason.encode()[:120]  # a close reason is at most 123 bytes
            await asyncio.wait_for(ws.close(code=code, message=msg, drain=False), timeout)
        if transport is not None:
            # A consumer that never reads again cannot hold its socket (and buffer) forever.
            after = 0.0 if code == GOING_AWAY else ABORT_AFTER_CLOSE
            asyncio.get_running_loop().call_later(after, transport.abort)

    sender = asyncio.create_task(pump())
    watcher = asyncio.create_task(guard())
    try:
        async for _msg in ws:
            pass  # input is ignored (commands over the socket are not implemented yet)
    finally:
        bus.unsubscribe(sub)
        sender.cancel()
        if not closing:
            watcher.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await sender
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await watcher
    return ws


async def server_sent_events(request: web.Request) -> web.StreamResponse:
    """``GET /api/events``: the same stream as Server-Sent Events, for consumers without
    WebSocket (an endless stream: the schemathesis run excludes it).

    Same ``clients``, ``events`` and ``since``. Each event's SSE id is the stream position so
    far (``acme:41,shop_2:7``), so the ``Last-Event-ID`` of an automatic reconnect resumes
    every client without a gap."""
    last_id = request.headers.get("Last-Event-ID", "")
    clients, events, since = stream_params(request, last_id or None)
    with _registered(request, "sse") as registered:
        return await _server_sent_events(request, registered, clients, events, since)


async def _server_sent_events(
    request: web.Request,
    registered: Stream,
    clients: frozenset[str] | None,
    events: frozenset[str] | None,
    since: dict[str, int],
) -> web.StreamResponse:
    position = dict(since)
    bus = request.app[BUS]
    store = request.app[STORE]
    resp = web.StreamResponse(
        headers={
            "Content-Type": "text/event-stream",
            "Cache-Control": "no-store",
            "X-Accel-Buffering": "no",
        }
    )
    await resp.prepare(request)
    sub = bus.subscribe(clients, events)
    lock = asyncio.Lock()

    async def write(chunk: str) -> None:
        async with lock:
            await asyncio.wait_for(resp.write(chunk.encode()), SEND_TIMEOUT)

    async def send(ev: dict[str, Any]) -> None:
        if ev["client"] is not None:
            position[ev["client"]] = ev["seq"]
        sse_id = ",".join(f"{c}:{n}" for c, n in sorted(position.items()))
        data = json.dumps(ev, separators=(",", ":"))
        await write(f"id: {sse_id}\nevent: {ev['event']}\ndata: {data}\n\n")

    async def keepalive() -> None:
        # aiohttp does not cancel a handler whose client left: notice it here within a second.
        waited = 0.0
        while request.transport is not None and not request.transport.is_closing():
            await asyncio.sleep(1.0)
            waited += 1.0
            if waited >= HEARTBEAT:
                waited = 0.0
                await write(": ping\n\n")

    tasks = [
        asyncio.create_task(stream(store, sub, since, events, send)),
        asyncio.create_task(keepalive()),
        asyncio.create_task(sub.overflow.wait()),
        asyncio.create_task(registered.ended.wait()),
    ]
    try:
        await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
        final = None
        if registered.ended.is_set():
            name = "shutdown" if registered.code == GOING_AWAY else "error"
            final = (name, registered.reason, ENDED_CLOSE_TIMEOUT)
        elif sub.overflowed:
            final = ("error", SLOW_REASON, 5.0)
        if final is not None:
            tasks[0].cancel()  # no event after the final one
            with contextlib.suppress(Exception):
                await asyncio.wait_for(write(f"event: {final[0]}\ndata: {final[1]}\n\n"), final[2])
    finally:
        bus.unsubscribe(sub)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
    return resp
