"""The page boundary's pace: a page can feed the daemon only at a bounded rate. Bursts wait in a
bounded queue (sized by what the clean events hold, ``size_of``), a flood beyond it is dropped
and counted (workers/page_events.py checks each event's shape first)."""

from __future__ import annotations

import asyncio
import math
import time
from collections import deque
from collections.abc import Callable
from typing import Any

from loguru import logger

from workers.message_kinds import KIND_KEYS, parts_size


def size_of(data: dict[str, Any]) -> int:
    """Rough memory of a clean event: its texts (the only parts that can be large)."""
    parts = {k: data.get(k) for k in KIND_KEYS}  # location, contacts …: never the text
    media = data.get("media")
    nested = list(media.values()) if isinstance(media, dict) else []  # its caption, names
    texts = sum(len(v) for v in [*data.values(), *nested] if isinstance(v, str))
    return 256 + texts + parts_size(parts)


class PageGate:
    """Paces a page's events: ``rate`` per second with bursts of ``burst``; up to ``queue`` events
    (``queue_bytes`` of text) wait their turn, in order; beyond that they are dropped and counted.
    A page emitting thousands of events a second then costs the daemon at most ``rate``."""

    def __init__(
        self,
        deliver: Callable[[str, dict[str, Any]], None],
        rate: float = 100.0,
        burst: int = 500,
        queue: int = 2000,
        queue_bytes: int = 16 * 1024 * 1024,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.deliver = deliver
        self.rate = rate
        self.burst = burst
        self.queue_max = queue
        self.queue_bytes_max = queue_bytes
        self.clock = clock
        self.tokens = float(burst)
        self.stamp = clock()
        self.waiting: deque[tuple[str, dict[str, Any], int]] = deque()
        self.waiting_bytes = 0
        self.dropped = 0
        self.delivered = 0
        self._timer: asyncio.TimerHandle | None = None
        self._last_report = 0.0

    def offer(self, name: str, data: dict[str, Any]) -> bool:
        """Take a clean event: delivered now, queued, or dropped (False)."""
        size = size_of(data)
        full = len(self.waiting) >= self.queue_max
        if full or self.waiting_bytes + size > self.queue_bytes_max:
            self.dropped += 1
            self._report()
            return False
        self.waiting.append((name, data, size))
        self.waiting_bytes += size
        self.drain()
        return True

    def drain(self) -> None:
        now = self.clock()
        self.tokens = min(float(self.burst), self.tokens + (now - self.stamp) * self.rate)
        self.stamp = now
        while self.waiting and self.tokens >= 1.0:
            self.tokens -= 1.0
            name, data, size = self.waiting.popleft()
            self.waiting_bytes -= size
            self.delivered += 1
            try:
                self.deliver(name, data)
            except Exception as exc:  # one bad event must not stop the others
                logger.opt(exception=exc).error("page event {} failed", name)
        if self.waiting and self._timer is None:
            with _no_loop():
                loop = asyncio.get_running_loop()
                self._timer = loop.call_later((1.0 - self.tokens) / self.rate, self._tick)

    def _tick(self) -> None:
        self._timer = None
        self.drain()

    def close(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        self.waiting.clear()
        self.waiting_bytes = 0

    def _report(self) -> None:
        now = self.clock()
        if now - self._last_report >= 10.0:
            self._last_report = now
            logger.warning(
                "page floods events: {} dropped so far ({} waiting, {}/s allowed)",
                self.dropped,
                len(self.waiting),
                self.rate,
            )


class _no_loop:
    """Outside a running loop (unit tests) queued events wait for the next ``drain``."""

    def __enter__(self) -> None:
        return None

    def __exit__(self, exc_type: Any, exc: Any, tb: Any) -> bool:
        return exc_type is RuntimeError


class Throttled:
    """Counts something bad and logs it at most every ``every`` seconds (with the count)."""

    def __init__(self, what: str, every: float = 10.0) -> None:
        self.what = what
        self.every = every
        self.count = 0
        self._last = -math.inf

    def hit(self, detail: str) -> None:
        self.count += 1
        now = time.monotonic()
        if now - self._last >= self.every:
            self._last = now
            logger.warning("{} ({} so far): {}", self.what, self.count, detail)
