"""Rate limits: per key on the API, per address before sign-in, per client on outgoing messages.

- ``ApiLimiter``: a token bucket per key id (tokens: ``WAMC_API_RATE_PER_MINUTE``, burst
  ``WAMC_API_RATE_BURST``; the admin key: ``WAMC_ADMIN_RATE_PER_MINUTE``); an empty bucket
  answers 429 ``rate_limited`` with ``Retry-After``.
- ``AuthFailureLimiter``: failed sign-ins per address (``WAMC_AUTH_FAILURES_PER_MINUTE``),
  checked before any key is.
- ``SendPacer``: every send of a client waits its turn in that client's FIFO queue and is
  spaced from the previous one by ``WAMC_SEND_INTERVAL`` plus a random ``0..WAMC_SEND_JITTER``
  seconds. Sending at machine speed and regular intervals is what gets numbers banned; pacing
  with jitter reduces (does not remove) that risk. A full queue (``WAMC_SEND_QUEUE_SIZE``)
  answers 429 ``send_queue_full`` with ``Retry-After``.
"""

from __future__ import annotations

import asyncio
import functools
import ipaddress
import random
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from wamc.errors import Refused, Throttled


@dataclass
class _Bucket:
    tokens: float
    stamp: float


class ApiLimiter:
    """Token buckets per key id. The admin key (the operator, its dashboard and scripts) has its
    own, larger allowance (``WAMC_ADMIN_RATE_PER_MINUTE``)."""

    def __init__(self, per_minute: int, burst: int, admin_per_minute: int | None = None) -> None:
        admin = per_minute if admin_per_minute is None else admin_per_minute
        self.limits = {  # the burst as a float: converted once, not per request
            False: (per_minute / 60.0, float(max(1, burst))),
            True: (admin / 60.0, float(max(1, burst, admin // 6))),  # admin: ~10 s of its rate
        }
        self._buckets: dict[str, _Bucket] = {}

    def hit(self, key_id: str, now: float | None = None, admin: bool = False) -> None:
        rate, burst = self.limits[admin]
        if rate <= 0:
            return
        now = time.monotonic() if now is None else now
        b = self._buckets.get(key_id)
        if b is None:
            b = self._buckets[key_id] = _Bucket(burst, now)
        tokens = b.tokens + (now - b.stamp) * rate
        b.tokens = burst if tokens > burst else tokens  # min() without its call, per request
        b.stamp = now
        if b.tokens < 1.0:
            wait = (1.0 - b.tokens) / rate
            what = f"{round(rate * 60)} requests a minute (bursts of {burst:.0f})"
            raise Throttled("rate_limited", f"this key is limited to {what}", wait)
        b.tokens -= 1.0
        if len(self._buckets) > 10_000:  # forget idle keys (their buckets are full again)
            idle = [k for k, v in self._buckets.items() if now - v.stamp > 600]
            for k in idle:
                del self._buckets[k]


class AuthFailureLimiter:
    """Failed sign-ins per client address, counted before any key is checked: a token bucket of
    ``per_minute`` (bursts as many). An address that spent it gets 429 ``rate_limited`` for
    every call that needs a key, valid or not, until the bucket refills (guessing stays slow)."""

    MAX_ADDRESSES = 10_000

    def __init__(self, per_minute: int) -> None:
        self.rate = max(0, per_minute) / 60.0
        self.burst = float(max(1, per_minute))
        self._buckets: OrderedDict[str, _Bucket] = OrderedDict()  # least recently failed first
        # Any address with failures on record (else ``check`` has nothing to look at): an
        # attribute, read on every request; the table is trimmed, never emptied.
        self.tracking = False

    def _bucket(self, address: str, now: float) -> _Bucket:
        b = self._buckets.get(address)
        if b is None:
            b = self._buckets[address] = _Bucket(self.burst, now)
        b.tokens = min(self.burst, b.tokens + (now - b.stamp) * self.rate)
        b.stamp = now
        return b

    def check(self, address: str, now: float | None = None) -> None:
        address = address_key(address)
        if self.rate <= 0 or address not in self._buckets:
            return
        now = time.monotonic() if now is None else now
        b = self._bucket(address, now)
        if b.tokens < 1.0:
            raise Throttled(
                "rate_limited",
                "too many failed sign-ins from this address: wait before trying again",
                (1.0 - b.tokens) / self.rate,
            )

    def failed(self, address: str, now: float | None = None) -> None:
        if self.rate <= 0:
            return
        now = time.monotonic() if now is None else now
        address = address_key(address)
        b = self._bucket(address, now)
        b.tokens = max(0.0, b.tokens - 1.0)
        self.tracking = True
        self._buckets.move_to_end(address)
        while len(self._buckets) > self.MAX_ADDRESSES:  # forget the longest quiet
            self._buckets.popitem(last=False)


@functools.lru_cache(maxsize=4096)  # computed once per address, not per request
def address_key(address: str) -> str:
    """What one party controls: an IPv4 address, or an IPv6 /64 (a host hands out its whole
    /64 at will, so counting single IPv6 addresses would let it rotate past the limit)."""
    try:
        ip = ipaddress.ip_address(address.split("%", 1)[0])
    except ValueError:
        return address
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.ipv4_mapped is not None:
            return str(ip.ipv4_mapped)
        return str(ipaddress.ip_network(f"{ip}/64", strict=False))
    return str(ip)


@dataclass(eq=False)
class _Lane:
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    waiting: int = 0
    next_at: float = 0.0


class SendPacer:
    def __init__(self, interval: float, jitter: float, queue_size: int) -> None:
        self.interval = max(0.0, interval)
        self.jitter = max(0.0, jitter)
        self.queue_size = max(1, queue_size)
        self._lanes: dict[str, _Lane] = {}
        self._closing = asyncio.Event()

    def depth(self, client: str) -> int:
        lane = self._lanes.get(client)
        return lane.waiting if lane else 0

    def close(self) -> None:
        """Daemon shutdown: every send still waiting its turn answers 503 ``shutting_down``
        (it was not sent); new sends too."""
        self._closing.set()

    async def _unless_closing(
        self, aw: Awaitable[Any], undo: Callable[[], None] | None = None
    ) -> None:
        if self._closing.is_set():
            raise Refused("shutting_down", "the daemon is shutting down: nothing was sent")
        waiting = asyncio.ensure_future(aw)
        closing = asyncio.ensure_future(self._closing.wait())
        try:
            await asyncio.wait({waiting, closing}, return_when=asyncio.FIRST_COMPLETED)
        except BaseException:  # the request itself was cancelled
            _abandon(waiting, undo)
            raise
        finally:
            closing.cancel()
        if self._closing.is_set():
            _abandon(waiting, undo)
            raise Refused("shutting_down", "the daemon is shutting down: nothing was sent")
        waiting.result()

    async def run(self, client: str, send: Callable[[], Awaitable[Any]]) -> Any:
        lane = self._lanes.setdefault(client, _Lane())
        if lane.waiting >= self.queue_size:
            per_send = self.interval + self.jitter / 2 + 0.5
            raise Throttled(
                "send_queue_full",
                f"{lane.waiting} messages already wait to be sent by {client}",
                per_send * max(1, lane.waiting // 2),
            )
        lane.waiting += 1
        try:
            # FIFO: asyncio.Lock wakes waiters in order
            await self._unless_closing(lane.lock.acquire(), lane.lock.release)
            try:
                delay = lane.next_at - time.monotonic()
                if delay > 0:
                    await self._unless_closing(asyncio.sleep(delay))
                try:
                    return await send()
                finally:
                    gap = self.interval + (random.uniform(0, self.jitter) if self.jitter else 0)
                    lane.next_at = time.monotonic() + gap
            finally:
                lane.lock.release()
        finally:
            lane.waiting -= 1
            if lane.waiting == 0 and not lane.lock.locked() and lane.next_at <= time.monotonic():
                self._lanes.pop(client, None)


def _abandon(waiting: asyncio.Future[Any], undo: Callable[[], None] | None) -> None:
    """Drop a wait we no longer want; if it already completed (a lock acquired), undo it."""
    if not waiting.done():
        waiting.cancel()
    elif undo is not None and not waiting.cancelled() and waiting.exception() is None:
        undo()
