"""Delivery of the webhook outbox: a *lane* per (webhook, client) delivers its rows one at a
time, oldest first — in order per (endpoint, client), at least once.

* A failed attempt (network error, timeout, 5xx, 408, 429) is retried with exponential backoff
  and jitter; any other non-2xx answer (4xx, or a redirect: they are not followed) is final.
  After the last attempt the row is *dead*: listed by the API and re-deliverable.
* Every attempt is logged in ``webhook_deliveries`` with its HTTP status and latency.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime

import aiohttp
from loguru import logger
from yarl import URL

from wamc.storage import Database
from wamc.storage import webhooks as rows
from wamc.storage.webhooks import DEAD, DELIVERED, RETRY, AttemptResult, OutboxRow
from wamc.timeutil import utc_now_iso
from wamc.webhooks.guard import PublicOnlyResolver, blocked_literal
from wamc.webhooks.models import Webhook
from wamc.webhooks.signing import delivery_headers

MAX_LOG_ROWS = 50_000  # delivery log rows kept (all webhooks)
MAX_DONE_ROWS = 50_000  # delivered outbox rows kept
SCAN_INTERVAL = 5.0
DEAD_RETENTION = 30 * 86400.0  # dead letters older than this are pruned (only they, by age)
RESPONSE_READ_LIMIT = 16 * 1024

Lane = tuple[str, str]  # (webhook id, client id or "")
# Told of every attempt once recorded (metrics): its result, with its outcome and latency.
AttemptListener = Callable[[AttemptResult], None]


@dataclass
class Attempt:
    code: int | None
    error: str | None
    latency_ms: float
    retry_after: float | None = None


@dataclass
class Stats:
    delivered: int = 0
    failed: int = 0
    started: float = field(default_factory=time.monotonic)


class Dispatcher:
    """Runs the lanes of the hooks in ``hooks`` (the service's dict, shared and kept current)."""

    def __init__(
        self, db: Database, hooks: dict[str, Webhook], allow_private: bool, concurrency: int
    ) -> None:
        self.db = db
        self.hooks = hooks
        self.allow_private = allow_private
        self.lanes: dict[Lane, asyncio.Task[None]] = {}
        self.attempting: set[Lane] = set()
        self.dirty: set[Lane] = set()
        self.full_scan = True
        self.wake = asyncio.Event()
        self.stopping = False
        self.stats = Stats()
        self.attempt_listeners: list[AttemptListener] = []
        self._slots = asyncio.Semaphore(concurrency)
        self._task: asyncio.Task[None] | None = None
        self._session: aiohttp.ClientSession | None = None

    def start(self) -> None:
        resolver = None if self.allow_private else PublicOnlyResolver()
        connector = aiohttp.TCPConnector(limit=100, limit_per_host=16, resolver=resolver)
        self._session = aiohttp.ClientSession(
            connector=connector, trust_env=False, auto_decompress=False
        )
        self._task = asyncio.create_task(self._run(), name="webhooks")

    async def stop(self, grace: float) -> None:
        """Let attempts in flight finish (bounded), then stop; pending rows wait in the outbox."""
        self.stopping = True
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        for key, task in list(self.lanes.items()):
            if key not in self.attempting:
                task.cancel()
        lanes = list(self.lanes.values())
        if lanes:
            _, late = await asyncio.wait(lanes, timeout=grace)
            for task in late:
                task.cancel()
            await asyncio.gather(*lanes, return_exceptions=True)
        if self._session is not None:
            await self._session.close()

    def notify(self, keys: set[Lane]) -> None:
        """New outbox rows for these lanes."""
        self.dirty.update(keys)
        self.wake.set()

    def rescan(self) -> None:
        """Look at every pending lane soon (a hook changed, dead letters queued again)."""
        self.full_scan = True
        self.wake.set()

    def cancel_lanes(self, wid: str) -> None:
        """A deleted hook: its idle lanes end now, one in an attempt finishes that attempt."""
        for key, lane in list(self.lanes.items()):
            if key[0] == wid and key not in self.attempting:
                lane.cancel()

    async def _run(self) -> None:
        last_scan = 0.0
        while True:
            self.wake.clear()
            try:
                keys = set(self.dirty)
                self.dirty.clear()
                if self.full_scan or time.monotonic() - last_scan > SCAN_INTERVAL:
                    self.full_scan = False
                    last_scan = time.monotonic()
                    keys.update(await rows.pending_lanes(self.db))
                    await self.prune()
                self._open_lanes(keys)
            except asyncio.CancelledError:
                raise
            except Exception:
                logger.exception("webhook dispatcher error")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.wake.wait(), SCAN_INTERVAL)

    def _open_lanes(self, keys: set[Lane]) -> None:
        for key in keys:
            hook = self.hooks.get(key[0])
            if hook is None or not hook.enabled:
                continue
            if key in self.lanes:
                # Its lane may be about to finish without seeing the new rows: it looks at
                # ``dirty`` when it exits.
                self.dirty.add(key)
            else:
                self.lanes[key] = asyncio.create_task(self._lane(key))

    async def prune(self, now: float | None = None) -> None:
        """Bound the tables: old delivery log and delivered rows by count; pending rows past
        their retry horizon become dead letters; dead letters older than DEAD_RETENTION go."""
        now = time.time() if now is None else now
        horizons = {h.id: _iso(now - h.retry_horizon()) for h in list(self.hooks.values())}
        dead = await rows.prune(
            self.db,
            horizons,
            _iso(now),
            _iso(now - DEAD_RETENTION),
            (MAX_LOG_ROWS, MAX_DONE_ROWS),
        )
        for wid, n in dead.items():
            logger.warning(
                "webhook {}: {} pending row(s) past the retry horizon dead-lettered", wid, n
            )

    async def _lane(self, key: Lane) -> None:
        """Deliver one (webhook, client) outbox in order, one row at a time."""
        wid, client = key
        try:
            while not self.stopping:
                hook = self.hooks.get(wid)
                if hook is None or not hook.enabled:
                    return
                row = await rows.next_pending(self.db, wid, client)
                if row is None:
                    return
                wait = row.next_at - time.time()
                if wait > 0:
                    await asyncio.sleep(min(wait, 1.0))  # re-read: a redelivery may jump ahead
                    continue
                self.attempting.add(key)
                try:
                    async with self._slots:
                        await self._attempt(hook, row)
                finally:
                    self.attempting.discard(key)
        except asyncio.CancelledError:
            raise
        except Exception:
            logger.exception("webhook {} lane failed", wid)
        finally:
            self.lanes.pop(key, None)
            if key in self.dirty and not self.stopping:
                self.wake.set()

    async def _post(self, hook: Webhook, row: OutboxRow, attempt: int) -> Attempt:
        body = row.body.encode()
        headers = delivery_headers(
            hook.headers,
            hook.secret,
            hook.id,
            row.event_id,
            row.event,
            attempt,
            body,
            str(int(time.time())),
        )
        started = time.monotonic()
        assert self._session is not None
        try:
            host = URL(hook.url).host or ""
            if not self.allow_private and blocked_literal(host):
                raise OSError(f"{host} is a private address")
            async with self._session.post(
                hook.url,
                data=body,
                headers=headers,
                timeout=aiohttp.ClientTimeout(total=hook.timeout),
                allow_redirects=False,
            ) as r:
                await r.content.read(RESPONSE_READ_LIMIT)
                retry_after = None
                with contextlib.suppress(ValueError):
                    retry_after = float(r.headers.get("Retry-After", ""))
                return Attempt(r.status, None, _ms(started), retry_after)
        except TimeoutError:
            return Attempt(None, f"timed out after {hook.timeout:g}s", _ms(started))
        except (aiohttp.ClientError, OSError) as exc:
            return Attempt(None, f"{type(exc).__name__}: {exc}"[:300], _ms(started))

    async def _attempt(self, hook: Webhook, row: OutboxRow) -> None:
        attempt = row.attempts + 1
        res = await self._post(hook, row, attempt)
        result = judge(hook, attempt, res)
        await rows.record_attempt(self.db, row, result)
        for listener in self.attempt_listeners:
            try:
                listener(result)
            except Exception:
                logger.exception("webhook attempt listener failed")
        log = logger.bind(client=row.client or None)
        if result.outcome == DELIVERED:
            self.stats.delivered += 1
            log.debug("webhook {} delivered event {} ({})", hook.id, row.event_id, res.code)
        else:
            self.stats.failed += 1
            log.warning(
                "webhook {} attempt {} for event {} failed: {}{}",
                hook.id,
                attempt,
                row.event_id,
                result.error,
                " (dead-lettered)" if result.outcome == DEAD else "",
            )


def judge(hook: Webhook, attempt: int, res: Attempt) -> AttemptResult:
    """Delivered (2xx), retried later (network error, 5xx, 408, 429) or dead (anything else,
    or the last attempt)."""
    code = res.code
    if code is not None and 200 <= code < 300:
        outcome = DELIVERED
    elif code is None or code >= 500 or code in (408, 429):
        outcome = RETRY if attempt < hook.max_attempts else DEAD
    else:
        outcome = DEAD  # 4xx other than 408/429, 3xx (redirects are not followed), 1xx
    error = res.error
    if error is None and outcome != DELIVERED:
        error = f"HTTP {code}"
    next_at = None
    if outcome == RETRY:
        delay = hook.backoff(attempt)
        if code == 429 and res.retry_after:
            delay = max(delay, min(res.retry_after, hook.backoff_max))
        next_at = time.time() + delay
    return AttemptResult(attempt, outcome, code, error, res.latency_ms, utc_now_iso(), next_at)


def _iso(unix: float) -> str:
    """Same format as ``utc_now_iso`` (milliseconds): string order is time order."""
    return (
        datetime.fromtimestamp(unix, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
    )


def _ms(started: float) -> float:
    return (time.monotonic() - started) * 1000
