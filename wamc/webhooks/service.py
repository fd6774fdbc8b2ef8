"""Webhooks: signed, retried, durable delivery of events to HTTP endpoints.

* Configuration lives in the ``webhooks`` table (global ones have ``client`` NULL).
* Every event a webhook wants is put in ``webhook_outbox`` in the same transaction that writes
  the event to the log (an :class:`wamc.events.EventBus` sink), so nothing is lost to a crash or a
  restart. A *lane* per (webhook, client) delivers its outbox rows one at a time, oldest first:
  in order per (endpoint, client), at least once. Receivers dedupe on ``X-Wamc-Event-Id``.
* A failed attempt (network error, timeout, 5xx, 408, 429) is retried with exponential backoff
  and jitter; any other non-2xx answer (4xx, or a redirect: they are not followed) is final.
  After the last attempt the row is *dead*: listed by the API and re-deliverable.
* Every attempt is logged in ``webhook_deliveries`` with its HTTP status and latency.
* Signature: ``X-Wamc-Signature: sha256=<hex HMAC-SHA256(secret, "<X-Wamc-Timestamp>.<body>")>``
  with ``X-Wamc-Timestamp`` in unix seconds.
* Destinations are http(s) only, and every address that is not globally routable is refused
  (also when a name resolves to one at delivery time) unless ``WAMC_WEBHOOK_ALLOW_PRIVATE=1``;
  IPv6 forms that tunnel an IPv4 address are judged by that address.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import hmac
import ipaddress
import json
import os
import random
import re
import secrets
import socket
import time
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import aiohttp
from aiohttp.abc import AbstractResolver
from aiohttp.resolver import DefaultResolver
from loguru import logger
from pydantic import BaseModel, ConfigDict, Field, field_validator
from yarl import URL

from wamc import __version__
from wamc.errors import ApiError
from wamc.events.bus import EVENT_NAMES, EventBus
from wamc.storage import Database
from wamc.storage import webhooks as rows
from wamc.storage.webhooks import DEAD, DELIVERED, RETRY, AttemptResult, OutboxRow
from wamc.timeutil import utc_now_iso

ALLOW_PRIVATE_ENV = "WAMC_WEBHOOK_ALLOW_PRIVATE"
SIGNATURE_HEADER = "X-Wamc-Signature"
MAX_LOG_ROWS = 50_000  # delivery log rows kept (all webhooks)
MAX_DONE_ROWS = 50_000  # delivered outbox rows kept
SCAN_INTERVAL = 5.0
# A pending row older than its hook's retry span (doubled, at least this) is dead-lettered: it
# stays visible and re-deliverable, never silently dropped.
PENDING_HORIZON_FLOOR = 24 * 3600.0
DEAD_RETENTION = 30 * 86400.0  # dead letters older than this are pruned (only they, by age)
RESPONSE_READ_LIMIT = 16 * 1024

HEADER_NAME = re.compile(r"^[A-Za-z0-9!#$%&'*+.^_`|~-]{1,64}$")
RESERVED_HEADERS = frozenset(
    {"host", "content-length", "content-type", "transfer-encoding", "connection", "user-agent"}
)
CGNAT = ipaddress.ip_network("100.64.0.0/10")


def allow_private_from_env() -> bool:
    return os.environ.get(ALLOW_PRIVATE_ENV, "") == "1"


def sign(secret: str, timestamp: str, body: bytes) -> str:
    mac = hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256)
    return "sha256=" + mac.hexdigest()


# --- destinations ---------------------------------------------------------------------------------
NAT64 = ipaddress.ip_network("64:ff9b::/96")
# IPv6 ranges refused outright: site-local (deprecated, still routed inside some networks),
# IPv4-compatible (deprecated ``::a.b.c.d``), IPv4-translated (SIIT) and local-use NAT64.
REFUSED_V6 = tuple(
    ipaddress.ip_network(net) for net in ("fec0::/10", "::/96", "::ffff:0:0:0/96", "64:ff9b:1::/48")
)


def embedded_ipv4(ip: ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    """The IPv4 address an IPv6 one carries (IPv4-mapped, 6to4, Teredo client, NAT64)."""
    if ip.ipv4_mapped is not None:
        return ip.ipv4_mapped
    if ip.sixtofour is not None:
        return ip.sixtofour
    if ip.teredo is not None:
        return ip.teredo[1]
    if ip in NAT64:
        return ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
    return None


def blocked_address(raw: str) -> bool:
    """True for addresses a webhook may not reach by default: anything not globally routable.

    Addresses that tunnel IPv4 (``::ffff:a.b.c.d``, 6to4 ``2002::/16``, Teredo, NAT64) are judged
    by the IPv4 address inside, so ``2002:7f00:1::`` is loopback; the ranges in
    :data:`REFUSED_V6` are refused whatever they carry."""
    try:
        ip: ipaddress.IPv4Address | ipaddress.IPv6Address = ipaddress.ip_address(
            raw.split("%", 1)[0]
        )
    except ValueError:
        return True
    if isinstance(ip, ipaddress.IPv6Address):
        if any(ip in net for net in REFUSED_V6):
            return True
        inner = embedded_ipv4(ip)
        if inner is not None:
            ip = inner
    return (
        not ip.is_global
        or ip.is_multicast
        or (isinstance(ip, ipaddress.IPv4Address) and ip in CGNAT)
    )


def _ip_literal(host: str) -> bool:
    try:
        ipaddress.ip_address(host.strip("[]"))
        return True
    except ValueError:
        return False


def check_url(raw: str, allow_private: bool) -> str:
    """Validate a destination: absolute http(s), no credentials, not private (unless allowed)."""
    try:
        url = URL(raw)
    except (ValueError, TypeError):
        raise ApiError("invalid_field", "url is not a valid URL", field="url") from None
    if url.scheme not in ("http", "https") or not url.host or not url.is_absolute():
        raise ApiError("invalid_field", "url must be an absolute http(s) URL", field="url")
    if url.user or url.password:
        raise ApiError("invalid_field", "put credentials in headers, not in the url", field="url")
    host = url.host.lower().rstrip(".")
    if not allow_private and (
        host == "localhost"
        or host.endswith(".localhost")
        or (_ip_literal(host) and blocked_address(host.strip("[]")))
    ):
        raise ApiError(
            "webhook_url_refused",
            f"{host} is a private, loopback or link-local address "
            f"(set {ALLOW_PRIVATE_ENV}=1 to allow)",
            field="url",
        )
    return str(url)


async def check_resolves_public(raw: str) -> None:
    """At configuration time: refuse a name that resolves to a blocked address."""
    host = URL(raw).host or ""
    if _ip_literal(host):
        return
    try:
        infos = await asyncio.get_running_loop().getaddrinfo(host, None, type=socket.SOCK_STREAM)
    except OSError:
        return  # may resolve later; every delivery checks again
    if any(blocked_address(str(info[4][0])) for info in infos):
        raise ApiError(
            "webhook_url_refused",
            f"{host} resolves to a private, loopback or link-local address "
            f"(set {ALLOW_PRIVATE_ENV}=1 to allow)",
            field="url",
        )


class PublicOnlyResolver(AbstractResolver):
    """Resolves like aiohttp's default but drops blocked addresses (no DNS-rebinding tricks)."""

    def __init__(self) -> None:
        self._inner = DefaultResolver()

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> list[Any]:
        infos = await self._inner.resolve(host, port, family)
        allowed = [i for i in infos if not blocked_address(str(i["host"]))]
        if not allowed:
            raise OSError(f"{host} resolves only to private, loopback or link-local addresses")
        return allowed

    async def close(self) -> None:
        await self._inner.close()


# --- configuration ---------------------------------------------------------------------------------
class RetryPolicy(BaseModel):
    model_config = ConfigDict(extra="forbid")

    max_attempts: int = Field(default=10, ge=1, le=50)
    backoff_base: float = Field(default=2.0, ge=0.01, le=3600)
    backoff_max: float = Field(default=900.0, ge=0.01, le=86400)


class WebhookIn(BaseModel):
    """POST body (every field) and PATCH body (any subset)."""

    model_config = ConfigDict(extra="forbid")

    url: str = Field(min_length=1, max_length=2048)
    events: list[str] | None = Field(
        default=None, description="event names to send; null or absent: all"
    )
    secret: str | None = Field(
        default=None, min_length=16, max_length=256, description="generated when absent"
    )
    headers: dict[str, str] = Field(default_factory=dict)
    retry: RetryPolicy = Field(default_factory=RetryPolicy)
    timeout: float = Field(default=10.0, gt=0, le=60)
    enabled: bool = True

    @field_validator("events")
    @classmethod
    def _events(cls, v: list[str] | None) -> list[str] | None:
        if v is None:
            return None
        unknown = sorted(set(v) - EVENT_NAMES)
        if unknown:
            raise ValueError(
                f"unknown event {unknown[0]!r}; known: {', '.join(sorted(EVENT_NAMES))}"
            )
        if not v:
            raise ValueError("give at least one event name, or null for all")
        return sorted(set(v))

    @field_validator("headers")
    @classmethod
    def _headers(cls, v: dict[str, str]) -> dict[str, str]:
        if len(v) > 20:
            raise ValueError("at most 20 custom headers")
        for name, value in v.items():
            if not HEADER_NAME.match(name):
                raise ValueError(f"{name[:64]!r} is not a valid header name")
            if name.lower() in RESERVED_HEADERS or name.lower().startswith("x-wamc-"):
                raise ValueError(f"header {name!r} is set by wamc")
            if len(value) > 1024 or any(c in value for c in "\r\n\0"):
                raise ValueError(f"invalid value for header {name!r}")
        return v


@dataclass
class Webhook:
    id: str
    client: str | None
    url: str
    events: frozenset[str] | None
    secret: str
    headers: dict[str, str]
    max_attempts: int
    backoff_base: float
    backoff_max: float
    timeout: float
    enabled: bool
    created_at: str

    @classmethod
    def from_row(cls, r: rows.WebhookRow) -> Webhook:
        return cls(
            id=r.id,
            client=r.client,
            url=r.url,
            events=frozenset(r.events) if r.events is not None else None,
            secret=r.secret,
            headers=r.headers,
            max_attempts=r.max_attempts,
            backoff_base=r.backoff_base,
            backoff_max=r.backoff_max,
            timeout=r.timeout,
            enabled=r.enabled,
            created_at=r.created_at,
        )

    def row(self) -> rows.WebhookRow:
        return rows.WebhookRow(
            id=self.id,
            client=self.client,
            url=self.url,
            events=sorted(self.events) if self.events is not None else None,
            secret=self.secret,
            headers=self.headers,
            max_attempts=self.max_attempts,
            backoff_base=self.backoff_base,
            backoff_max=self.backoff_max,
            timeout=self.timeout,
            enabled=self.enabled,
            created_at=self.created_at,
        )

    def matches(self, ev: dict[str, Any]) -> bool:
        if self.client is not None and ev["client"] != self.client:
            return False
        return self.events is None or ev["event"] in self.events

    def backoff(self, attempt: int) -> float:
        """Delay before the attempt after ``attempt``: exponential, capped, jittered (50-100%)."""
        ceiling = min(self.backoff_max, self.backoff_base * (2 ** min(attempt - 1, 30)))
        return ceiling * (0.5 + random.random() / 2)  # noqa: S311 - jitter, not crypto

    def retry_horizon(self) -> float:
        """Seconds after which a still-pending row can no longer be a retry in progress."""
        span = sum(
            min(self.backoff_max, self.backoff_base * (2 ** min(a - 1, 30)))
            for a in range(1, self.max_attempts)
        )
        return max(PENDING_HORIZON_FLOOR, 2 * (span + self.max_attempts * self.timeout))

    def view(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "client": self.client,
            "url": self.url,
            "events": sorted(self.events) if self.events is not None else None,
            "headers": {name: "***" for name in self.headers},  # values may be credentials
            "retry": {
                "max_attempts": self.max_attempts,
                "backoff_base": self.backoff_base,
                "backoff_max": self.backoff_max,
            },
            "timeout": self.timeout,
            "enabled": self.enabled,
            "created_at": self.created_at,
        }


@dataclass
class Attempt:
    code: int | None
    error: str | None
    latency_ms: float
    retry_after: float | None = None


@dataclass
class _Stats:
    delivered: int = 0
    failed: int = 0
    started: float = field(default_factory=time.monotonic)


# --- the service ----------------------------------------------------------------------------------
class WebhookService:
    def __init__(
        self,
        db: Database,
        bus: EventBus,
        allow_private: bool | None = None,
        concurrency: int = 64,
    ) -> None:
        self.db = db
        self.bus = bus
        self.allow_private = allow_private_from_env() if allow_private is None else allow_private
        self.hooks: dict[str, Webhook] = {}
        self.lanes: dict[tuple[str, str], asyncio.Task[None]] = {}
        self.attempting: set[tuple[str, str]] = set()
        self.dirty: set[tuple[str, str]] = set()
        self.full_scan = True
        self.wake = asyncio.Event()
        self.stopping = False
        self.stats = _Stats()
        self._slots = asyncio.Semaphore(concurrency)
        self._task: asyncio.Task[None] | None = None
        self._session: aiohttp.ClientSession | None = None

    async def start(self) -> None:
        for r in await rows.load_hooks(self.db):
            self.hooks[r.id] = Webhook.from_row(r)
        resolver = None if self.allow_private else PublicOnlyResolver()
        connector = aiohttp.TCPConnector(limit=100, limit_per_host=16, resolver=resolver)
        self._session = aiohttp.ClientSession(
            connector=connector, trust_env=False, auto_decompress=False
        )
        self.bus.add_sink(self.enqueue)
        self._task = asyncio.create_task(self._run(), name="webhooks")
        if self.allow_private:
            logger.warning("webhooks may reach private addresses ({}=1)", ALLOW_PRIVATE_ENV)

    async def stop(self, grace: float = 5.0) -> None:
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

    # --- outbox --------------------------------------------------------------------------------
    async def enqueue(self, ev: dict[str, Any]) -> None:
        """EventBus sink: runs in the event's transaction, before any delivery."""
        hooks = [h for h in self.hooks.values() if h.enabled and h.matches(ev)]
        if not hooks:
            return
        key = ev["client"] or ""
        body = json.dumps(ev, separators=(",", ":"), ensure_ascii=False)
        await rows.enqueue(self.db, [h.id for h in hooks], ev, body, time.time(), utc_now_iso())
        self.dirty.update((h.id, key) for h in hooks)
        self.wake.set()

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
                    await self._prune()
                for key in keys:
                    hook = self.hooks.get(key[0])
                    if hook is None or not hook.enabled:
                        continue
                    if key in self.lanes:
                        # Its lane may be about to finish without seeing the new rows: it looks
                        # at ``dirty`` when it exits.
                        self.dirty.add(key)
                    else:
                        self.lanes[key] = asyncio.create_task(self._lane(key))
            except asyncio.CancelledError:
                raise
            except Exception:
                logger.exception("webhook dispatcher error")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.wake.wait(), SCAN_INTERVAL)

    async def _prune(self, now: float | None = None) -> None:
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

    async def _lane(self, key: tuple[str, str]) -> None:
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
        ts = str(int(time.time()))
        headers = {
            **hook.headers,
            "Content-Type": "application/json",
            "User-Agent": f"wamc/{__version__}",
            "X-Wamc-Event-Id": row.event_id,
            "X-Wamc-Event": row.event,
            "X-Wamc-Webhook-Id": hook.id,
            "X-Wamc-Attempt": str(attempt),
            "X-Wamc-Timestamp": ts,
            SIGNATURE_HEADER: sign(hook.secret, ts, body),
        }
        started = time.monotonic()
        assert self._session is not None
        try:
            host = URL(hook.url).host or ""
            if not self.allow_private and _ip_literal(host) and blocked_address(host.strip("[]")):
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
        result = AttemptResult(
            attempt, outcome, code, error, res.latency_ms, utc_now_iso(), next_at
        )
        await rows.record_attempt(self.db, row, result)
        log = logger.bind(client=row.client or None)
        if outcome == DELIVERED:
            self.stats.delivered += 1
            log.debug("webhook {} delivered event {} ({})", hook.id, row.event_id, code)
        else:
            self.stats.failed += 1
            log.warning(
                "webhook {} attempt {} for event {} failed: {}{}",
                hook.id,
                attempt,
                row.event_id,
                error,
                " (dead-lettered)" if outcome == DEAD else "",
            )

    # --- configuration API -------------------------------------------------------------------
    async def create(self, client: str | None, spec: WebhookIn) -> tuple[Webhook, str]:
        url = check_url(spec.url, self.allow_private)
        if not self.allow_private:
            await check_resolves_public(url)
        secret = spec.secret or "whsec_" + secrets.token_urlsafe(32)
        hook = Webhook(
            id="wh_" + uuid.uuid4().hex[:20],
            client=client,
            url=url,
            events=frozenset(spec.events) if spec.events is not None else None,
            secret=secret,
            headers=dict(spec.headers),
            max_attempts=spec.retry.max_attempts,
            backoff_base=spec.retry.backoff_base,
            backoff_max=max(spec.retry.backoff_max, spec.retry.backoff_base),
            timeout=spec.timeout,
            enabled=spec.enabled,
            created_at=utc_now_iso(),
        )
        await self._save(hook)
        self.hooks[hook.id] = hook
        logger.info(
            "webhook {} created for {}", hook.id, f"client {client}" if client else "all clients"
        )
        return hook, secret

    async def update(self, wid: str, changes: dict[str, Any]) -> Webhook:
        hook = self.get(wid)
        merged = WebhookIn.model_validate(
            {
                "url": hook.url,
                "events": sorted(hook.events) if hook.events is not None else None,
                "headers": hook.headers,
                "retry": {
                    "max_attempts": hook.max_attempts,
                    "backoff_base": hook.backoff_base,
                    "backoff_max": hook.backoff_max,
                },
                "timeout": hook.timeout,
                "enabled": hook.enabled,
                **changes,
            }
        )
        if "url" in changes:
            hook.url = check_url(merged.url, self.allow_private)
            if not self.allow_private:
                await check_resolves_public(hook.url)
        hook.events = frozenset(merged.events) if merged.events is not None else None
        if merged.secret:
            hook.secret = merged.secret
        hook.headers = dict(merged.headers)
        hook.max_attempts = merged.retry.max_attempts
        hook.backoff_base = merged.retry.backoff_base
        hook.backoff_max = max(merged.retry.backoff_max, merged.retry.backoff_base)
        hook.timeout = merged.timeout
        hook.enabled = merged.enabled
        await self._save(hook)
        self.full_scan = True
        self.wake.set()
        return hook

    async def _save(self, hook: Webhook) -> None:
        await rows.save_hook(self.db, hook.row())

    def get(self, wid: str) -> Webhook:
        hook = self.hooks.get(wid)
        if hook is None:
            raise ApiError("webhook_not_found", f"no webhook {wid[:80]!r}")
        return hook

    def listing(self, client: str | None = None, scoped: bool = False) -> list[Webhook]:
        hooks = sorted(self.hooks.values(), key=lambda h: h.created_at)
        return [h for h in hooks if not scoped or h.client == client]

    async def delete(self, wid: str) -> None:
        self.get(wid)
        del self.hooks[wid]
        for key, lane in list(self.lanes.items()):
            if key[0] == wid and key not in self.attempting:
                lane.cancel()
        await rows.delete_hook(self.db, wid)
        logger.info("webhook {} deleted", wid)

    async def delete_client(self, client: str) -> int:
        """A deleted client's webhooks go with their outbox and dead letters: a client created
        later under the same id must not send to the old owner's URL."""
        gone = [h.id for h in self.hooks.values() if h.client == client]
        for wid in gone:
            await self.delete(wid)
        return len(gone)

    async def counts(self, wid: str) -> dict[str, int]:
        return await rows.counts(self.db, wid)

    async def deliveries(self, wid: str, limit: int) -> list[dict[str, Any]]:
        self.get(wid)
        return await rows.deliveries(self.db, wid, limit)

    async def dead_letters(self, wid: str, limit: int) -> list[dict[str, Any]]:
        self.get(wid)
        return await rows.dead_letters(self.db, wid, limit)

    async def redeliver(self, wid: str, ids: list[int] | None) -> int:
        """Put dead letters (all, or those ``ids``) back in the outbox with fresh attempts."""
        self.get(wid)
        n = await rows.redeliver(self.db, wid, ids, time.time())
        if n:
            self.full_scan = True
            self.wake.set()
            logger.info("webhook {}: {} dead letter(s) queued again", wid, n)
        return n


def _iso(unix: float) -> str:
    """Same format as ``utc_now_iso`` (milliseconds): string order is time order."""
    return (
        datetime.fromtimestamp(unix, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
    )


def _ms(started: float) -> float:
    return (time.monotonic() - started) * 1000
