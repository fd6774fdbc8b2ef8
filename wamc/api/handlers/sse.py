"""``GET /api/events``: the event stream as Server-Sent Events, for consumers without
WebSocket (the shared rules: ``feed.py``). Each event's SSE id is the stream position so far
(``acme:41,shop_2:7``), so the ``Last-Event-ID`` of an automatic reconnect resumes every client
without a gap. An endless stream: the schemathesis run excludes it."""

from __future__ import annotations

import asyncio
import contextlib
import json
from typing import Any

from aiohttp import web

from wamc.api.handlers.feed import (
    ENDED_CLOSE_TIMEOUT,
    HEARTBEAT,
    SEND_TIMEOUT,
    SLOW_REASON,
    registered,
    stream_params,
)
from wamc.api.keys import BUS, METRICS
from wamc.api.middleware import secure_headers
from wamc.api.streams import GOING_AWAY, Stream
from wamc.events import Subscriber


async def server_sent_events(request: web.Request) -> web.StreamResponse:
    """Same ``clients``, ``events`` and ``since`` as ``/ws``; ``Last-Event-ID`` resumes too."""
    last_id = request.headers.get("Last-Event-ID", "")
    clients, events, since = stream_params(request, last_id or None)
    with registered(request, "sse") as entry:
        return await _server_sent_events(request, entry, clients, events, since)


class _Writer:
    """Writes SSE frames one at a time, each bounded by SEND_TIMEOUT."""

    def __init__(self, request: web.Request, resp: web.StreamResponse, since: dict[str, int]):
        self.request, self.resp = request, resp
        self.position = dict(since)
        self.lock = asyncio.Lock()

    async def write(self, chunk: str) -> None:
        async with self.lock:
            await asyncio.wait_for(self.resp.write(chunk.encode()), SEND_TIMEOUT)

    async def send(self, ev: dict[str, Any]) -> None:
        if ev["client"] is not None:
            self.position[ev["client"]] = ev["seq"]
        sse_id = ",".join(f"{c}:{n}" for c, n in sorted(self.position.items()))
        data = json.dumps(ev, separators=(",", ":"))
        await self.write(f"id: {sse_id}\nevent: {ev['event']}\ndata: {data}\n\n")

    async def keepalive(self) -> None:
        # aiohttp does not cancel a handler whose client left: notice it here within a second.
        request = self.request
        waited = 0.0
        while request.transport is not None and not request.transport.is_closing():
            await asyncio.sleep(1.0)
            waited += 1.0
            if waited >= HEARTBEAT:
                waited = 0.0
                await self.write(": ping\n\n")


def _final(entry: Stream, sub: Subscriber) -> tuple[str, str, float] | None:
    """The last frame of a stream the daemon ends: (event, data, how long to try)."""
    if entry.ended.is_set():
        name = "shutdown" if entry.code == GOING_AWAY else "error"
        return (name, entry.reason, ENDED_CLOSE_TIMEOUT)
    if sub.overflowed:
        return ("error", SLOW_REASON, 5.0)
    return None


async def _server_sent_events(
    request: web.Request,
    entry: Stream,
    clients: frozenset[str] | None,
    events: frozenset[str] | None,
    since: dict[str, int],
) -> web.StreamResponse:
    bus = request.app[BUS]
    resp = web.StreamResponse(
        headers={
            "Content-Type": "text/event-stream",
            "Cache-Control": "no-store",
            "X-Accel-Buffering": "no",
        }
    )
    secure_headers(request, resp)
    await resp.prepare(request)
    sub = bus.subscribe(clients, events)
    writer = _Writer(request, resp, since)
    sent_live = request.app[METRICS].streamed
    tasks = [
        asyncio.create_task(bus.follow(sub, since, events, writer.send, sent_live)),
        asyncio.create_task(writer.keepalive()),
        asyncio.create_task(sub.overflow.wait()),
        asyncio.create_task(entry.ended.wait()),
    ]
    try:
        await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
        final = _final(entry, sub)
        if final is not None:
            tasks[0].cancel()  # no event after the final one
            frame = f"event: {final[0]}\ndata: {final[1]}\n\n"
            with contextlib.suppress(Exception):
                await asyncio.wait_for(writer.write(frame), final[2])
    finally:
        bus.unsubscribe(sub)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
    return resp
