"""The open event streams (``/ws`` and ``/api/events``), by key.

One registry so that a key holds at most ``WAMC_MAX_STREAMS_PER_KEY`` streams (429
``too_many_streams`` beyond), a revoked token or a deleted client loses its streams at once
(WebSocket close 1008), and a stopping daemon ends every stream (1001; SSE: a final
``event: shutdown``) instead of waiting for consumers that never leave.

A stream handler registers itself, watches ``Stream.ended`` and closes its connection when it is
set; the registry never touches a connection itself.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from loguru import logger

from wamc.errors import Refused, Throttled
from wamc.security import Principal

GOING_AWAY = 1001
POLICY_VIOLATION = 1008
STREAM_RETRY_AFTER = 5.0


@dataclass(eq=False)
class Stream:
    principal: Principal
    kind: str  # "ws" | "sse"
    ended: asyncio.Event = field(default_factory=asyncio.Event)
    code: int = 0
    reason: str = ""

    def end(self, code: int, reason: str) -> None:
        if not self.ended.is_set():
            self.code, self.reason = code, reason
            self.ended.set()


class Streams:
    def __init__(self, max_per_key: int) -> None:
        self.max_per_key = max_per_key
        self.closing = False
        self._open: set[Stream] = set()
        self._changed = asyncio.Event()

    def count(self, key_id: str) -> int:
        return sum(1 for s in self._open if s.principal.key_id == key_id)

    def open(self, principal: Principal, kind: str) -> Stream:
        """Register a stream before its handshake answers: refused ones get a plain HTTP 429."""
        if self.closing:
            raise Refused("shutting_down", "the daemon is shutting down")
        if self.max_per_key > 0:
            n = self.count(principal.key_id)
            if n >= self.max_per_key:
                raise Throttled(
                    "too_many_streams",
                    f"this key already has {n} open event streams "
                    f"(WAMC_MAX_STREAMS_PER_KEY={self.max_per_key})",
                    STREAM_RETRY_AFTER,
                )
        stream = Stream(principal, kind)
        self._open.add(stream)
        return stream

    def close(self, stream: Stream) -> None:
        self._open.discard(stream)
        self._changed.set()

    def end_where(self, which: Callable[[Principal], bool], code: int, reason: str) -> int:
        hit = [s for s in self._open if which(s.principal)]
        for s in hit:
            s.end(code, reason)
        if hit:
            logger.info("{} event stream(s) closed: {}", len(hit), reason)
        return len(hit)

    async def shutdown(self, timeout: float) -> None:
        """End every stream and wait (bounded) until their handlers let go."""
        self.closing = True
        for s in list(self._open):
            s.end(GOING_AWAY, "server shutting down")
        deadline = time.monotonic() + timeout
        while self._open and time.monotonic() < deadline:
            self._changed.clear()
            try:
                await asyncio.wait_for(self._changed.wait(), deadline - time.monotonic())
            except TimeoutError:
                break
        if self._open:
            logger.warning("{} event stream(s) still open at shutdown", len(self._open))
