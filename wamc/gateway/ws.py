"""WebSocket event stream: JSON events, filtered by client and event name."""

from __future__ import annotations

import asyncio
import contextlib

from aiohttp import WSCloseCode, web
from loguru import logger

from wamc.errors import ApiError
from wamc.gateway.app import BUS
from wamc.validation import CLIENT_ID


def _csv(raw: str | None, name: str) -> frozenset[str] | None:
    if not raw or raw == "*":
        return None
    items = frozenset(x.strip() for x in raw.split(",") if x.strip())
    if name == "clients":
        bad = [c for c in items if not CLIENT_ID.match(c)]
        if bad:
            raise ApiError(
                "invalid_parameter", f"invalid client id in 'clients': {bad[0]!r}", field="clients"
            )
    return items or None


async def websocket(request: web.Request) -> web.WebSocketResponse:
    clients = _csv(request.query.get("clients"), "clients")
    events = _csv(request.query.get("events"), "events")
    ws = web.WebSocketResponse(heartbeat=20.0, max_msg_size=64 * 1024)
    await ws.prepare(request)
    bus = request.app[BUS]
    sub = bus.subscribe(clients, events)
    logger.info(
        "websocket consumer connected (clients={})", ",".join(sorted(clients)) if clients else "*"
    )

    async def pump() -> None:
        while True:
            ev = await sub.queue.get()
            await ws.send_json(ev)
            if sub.overflowed and sub.queue.empty():
                await ws.close(code=WSCloseCode.POLICY_VIOLATION, message=b"consumer too slow")
                return

    sender = asyncio.create_task(pump())
    try:
        async for _msg in ws:
            pass  # commands over the socket come later; input is ignored
    finally:
        sender.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await sender
        bus.unsubscribe(sub)
    return ws
