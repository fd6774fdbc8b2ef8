"""WebSocket event stream ``/ws``: filtered, resumable, with a bounded queue per connection
(the shared rules: ``feed.py``). Close codes: 1001 the daemon is stopping; 1008 the token was
revoked, its client deleted, or the consumer read too slowly."""

from __future__ import annotations

import asyncio
import contextlib
import json
import socket
from typing import Any

from aiohttp import WSCloseCode, web
from loguru import logger

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

ABORT_AFTER_CLOSE = 60.0
SOCKET_SEND_BUFFER = 256 * 1024


async def websocket(request: web.Request) -> web.StreamResponse:
    clients, events, since = stream_params(request)
    with registered(request, "ws") as entry:
        return await _websocket(request, entry, clients, events, since)


async def _prepared(request: web.Request) -> web.WebSocketResponse:
    ws = web.WebSocketResponse(heartbeat=HEARTBEAT, max_msg_size=64 * 1024, writer_limit=64 * 1024)
    sock = request.transport.get_extra_info("socket") if request.transport else None
    if sock is not None:
        # A fixed kernel buffer (no autotuning to megabytes): a consumer that stops reading is
        # noticed by its queue after a bounded amount of data, not after the kernel's limit.
        with contextlib.suppress(OSError):
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, SOCKET_SEND_BUFFER)
    secure_headers(request, ws)
    await ws.prepare(request)
    return ws


async def _websocket(
    request: web.Request,
    entry: Stream,
    clients: frozenset[str] | None,
    events: frozenset[str] | None,
    since: dict[str, int],
) -> web.StreamResponse:
    ws = await _prepared(request)
    bus = request.app[BUS]
    sub = bus.subscribe(clients, events)  # before the replay: nothing published meanwhile is lost
    log = logger.bind(peer=request.remote)
    log.info(
        "websocket consumer connected (clients={}, events={}, resume={})",
        ",".join(sorted(clients)) if clients else "*",
        ",".join(sorted(events)) if events else "*",
        len(since),
    )
    session = _Session(request, ws, entry, sub, log)
    sent_live = request.app[METRICS].streamed
    sender = asyncio.create_task(bus.follow(sub, since, events, session.send, sent_live))
    watcher = asyncio.create_task(session.guard(sender))
    try:
        async for _msg in ws:
            pass  # input is ignored (commands over the socket are not implemented yet)
    finally:
        bus.unsubscribe(sub)
        sender.cancel()
        if not session.closing:
            watcher.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await sender
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await watcher
    return ws


class _Session:
    """One consumer's socket: sends events, and closes it when it must."""

    def __init__(
        self,
        request: web.Request,
        ws: web.WebSocketResponse,
        entry: Stream,
        sub: Subscriber,
        log: Any,
    ) -> None:
        self.request, self.ws, self.entry, self.sub, self.log = request, ws, entry, sub, log
        self.closing = False

    async def send(self, ev: dict[str, Any]) -> None:
        text = json.dumps(ev, separators=(",", ":"))
        await asyncio.wait_for(self.ws.send_str(text), SEND_TIMEOUT)

    async def guard(self, sender: asyncio.Task[None]) -> None:
        """Close the socket when the bus dropped this consumer, a send stalled, or the daemon
        ended the stream (token revoked, client deleted, shutdown)."""
        overflow = asyncio.create_task(self.sub.overflow.wait())
        ended = asyncio.create_task(self.entry.ended.wait())
        try:
            done, _ = await asyncio.wait(
                {overflow, ended, sender}, return_when=asyncio.FIRST_COMPLETED
            )
        finally:
            overflow.cancel()
            ended.cancel()
        if self.entry.ended.is_set():
            sender.cancel()
            self.log.info("websocket consumer closed ({}): {}", self.entry.code, self.entry.reason)
            await self.close(self.entry.code, self.entry.reason, ENDED_CLOSE_TIMEOUT)
            return
        if sender in done and not sender.cancelled():
            exc = sender.exception()
            if isinstance(exc, TimeoutError):
                self.sub.overflowed = True
            elif exc is not None and not isinstance(exc, ConnectionError | RuntimeError):
                self.log.opt(exception=exc).error("websocket event pump failed")
        sender.cancel()
        if self.sub.overflowed:
            self.log.warning("websocket consumer too slow: closing it")
            await self.close(WSCloseCode.POLICY_VIOLATION, SLOW_REASON)
        elif not self.ws.closed:
            await self.close(WSCloseCode.INTERNAL_ERROR, "event stream failed")

    async def close(self, code: int, reason: str, timeout: float = 15.0) -> None:
        self.closing = True
        transport = self.request.transport
        with contextlib.suppress(Exception):
            msg = reason.encode()[:120]  # a close reason is at most 123 bytes
            await asyncio.wait_for(self.ws.close(code=code, message=msg, drain=False), timeout)
        if transport is not None:
            # A consumer that never reads again cannot hold its socket (and buffer) forever.
            after = 0.0 if code == GOING_AWAY else ABORT_AFTER_CLOSE
            asyncio.get_running_loop().call_later(after, transport.abort)
