"""The client records: desired vs observed state, and the one place the observed state changes.

``set_state`` enforces the table of wamc/states.py: an illegal transition is a bug of ours, so it
is logged as one and refused (the record keeps its state)."""

from __future__ import annotations

import asyncio
import contextlib
import copy
import time
from dataclasses import dataclass, field
from typing import Any, cast

import msgspec
from loguru import logger

from wamc import events as E
from wamc.config import Settings
from wamc.daemon.analytics import Analytics
from wamc.daemon.backend import Backoff, StopOutcome, WorkerHandle
from wamc.daemon.resources import client_usage
from wamc.errors import Refused
from wamc.events import EventBus
from wamc.states import ClientState, can_transition
from wamc.storage import Database
from wamc.storage import clients as client_rows
from wamc.storage import messages as message_rows
from wamc.storage.client_settings import ClientSettings, Retention, effective_retention
from wamc.storage.clients import ClientRow
from wamc.timeutil import iso_from_unix, utc_now_iso

USAGE_REUSE = 0.25  # seconds a status reuses the usage it read (same processes)
DESIRED_RUNNING = "running"
DESIRED_STOPPED = "stopped"


@dataclass(eq=False)
class Client:
    id: str
    created_at: str
    desired: str
    backoff: Backoff
    state: ClientState = ClientState.STOPPED
    since: str = field(default_factory=utc_now_iso)
    me: str | None = None
    last_error: str | None = None
    qr: str | None = None
    qr_at: str | None = None
    restarts: int = 0
    handle: WorkerHandle | None = None
    browser_pid: int | None = None
    boot: str | None = None
    delivered: int = 0
    last_seen: float = 0.0
    started_mono: float | None = None
    task: asyncio.Task[None] | None = None
    wake: asyncio.Event = field(default_factory=asyncio.Event)
    settled: asyncio.Event = field(default_factory=asyncio.Event)  # left STARTING
    kill_reason: str | None = None
    stop_reason: str | None = None  # why the client stopped by itself (qr_timeout)
    inflight: int = 0  # requests (sends) running in its worker
    last_message_at: str | None = None  # newest message stored (its WhatsApp timestamp)
    secret_hash: str | None = None  # of the secret its worker got at spawn (proves its hello)
    curve_public: str | None = None  # its worker's Curve key (derived from that secret; TCP)
    route: str | None = None  # the proven worker's connection (ZeroMQ routing id)
    hello_due: bool = False  # adopted: spoken to at once, but asked to say hello (full welcome)
    bad_frames: int = 0  # frames refused (undecodable, invalid, wrong secret)
    dead_events: int = 0  # events acknowledged but not applied
    stop_outcome: StopOutcome | None = None  # how the last stop ended: clean | term | kill
    retention: Retention | None = None  # effective retention days (wamc/daemon/retention.py)
    page_crashes: int = 0  # page (renderer) crashes its workers reported since the daemon started
    page_crashes_reported: int = 0  # the current worker's own count (in its heartbeats)
    accounted_at: float | None = None  # analytics: wall time its uptime is accounted up to
    profile: dict[str, Any] | None = None  # profile store: last snapshot, last restore
    _status_cache: tuple[tuple[Any, ...], bytes] | None = field(default=None, repr=False)
    _uptime: float = field(default=-1.0, repr=False)  # the last uptime_seconds shown
    _usage_memo: tuple[float, tuple[Any, ...], dict[str, Any]] | None = field(
        default=None, repr=False
    )

    @property
    def pid(self) -> int | None:
        return self.handle.pid if self.handle else None

    def usage(self) -> dict[str, Any]:
        """Memory and CPU of its tree: read here, or (a worker on another node) as its agent
        last reported them; never a local pid's figures for a remote process."""
        if self.handle is not None and self.handle.node is not None:
            got = self.handle.usage or {}
            return {"memory_bytes": got.get("memory_bytes"), "cpu_percent": got.get("cpu_percent")}
        return client_usage(self.pid, self.browser_pid)

    def note_page_crashes(self, reported: int) -> None:
        """A heartbeat's count (since that worker started): add what is new."""
        if reported > self.page_crashes_reported:
            self.page_crashes += reported - self.page_crashes_reported
        self.page_crashes_reported = reported

    def _status_values(self) -> tuple[Any, ...]:
        """Everything ``status`` shows, in ``STATUS_FIELDS`` order (the cache key too)."""
        handle = self.handle
        connected = self.state == ClientState.CONNECTED
        started = self.started_mono
        retention = self.retention  # flat: its fields are its dump (tests/unit/test_status_body)
        now = time.monotonic()
        uptime = None
        if started is not None and handle:
            # round(x, 1) is the one-decimal value nearest x: the last one while x is within
            # 0.0499 of it (tests/unit/test_status_body), without round's cost per request.
            seconds = now - started
            uptime = self._uptime
            if not -0.0499 < seconds - uptime < 0.0499 or seconds >= 1e8:
                uptime = self._uptime = round(seconds, 1)
        memo = self._usage_memo  # _recent_usage's check, inline: a call less per request
        if (
            memo is not None
            and now - memo[0] < USAGE_REUSE
            and memo[1] == (handle, self.browser_pid)
        ):
            usage = memo[2]
        else:
            usage = self._recent_usage(now)
        return (
            self.id, str(self.state), self.desired, self.since,
            handle.pid if handle else None, self.browser_pid, self.me if connected else None,
            self.last_error, self.restarts,
            uptime,
            self.created_at, self.last_message_at, self.bad_frames, self.dead_events,
            self.stop_outcome, handle.node if handle else None,
            retention.__dict__ if retention else None,  # live: status_body keeps a copy
            self.profile, usage["memory_bytes"], usage["cpu_percent"],
        )  # fmt: skip

    def _recent_usage(self, now: float) -> dict[str, Any]:
        """``usage``, read again at most every ``USAGE_REUSE`` seconds for the same processes
        (its figures are the sampler's, up to its ttl old anyway: wamc/daemon/resources.py)."""
        memo = self._usage_memo
        key = (self.handle, self.browser_pid)
        if memo is not None and now - memo[0] < USAGE_REUSE and memo[1] == key:
            return memo[2]
        usage = self.usage()  # memory and CPU of the whole tree
        self._usage_memo = (now, key, usage)
        return usage

    def status(self) -> dict[str, Any]:
        return _status_dict(self._status_values())

    def status_body(self) -> bytes:
        """``status`` as JSON bytes, encoded again only when a value in it changed: the last
        answer is kept with a copy of every value it was made of (the retention and the
        profile, changed in place, copied), and served while all of them are equal (never
        stale)."""
        values = self._status_values()
        cached = self._status_cache
        if cached is not None and cached[0] == values:
            return cached[1]
        body = _encode(_status_dict(values))
        kept = list(values)  # the values changed in place, as copies: the retention, the profile
        if kept[RETENTION_AT] is not None:
            kept[RETENTION_AT] = dict(kept[RETENTION_AT])  # flat: numbers
        if kept[PROFILE_AT] is not None:
            kept[PROFILE_AT] = copy.deepcopy(kept[PROFILE_AT])
        self._status_cache = (tuple(kept), body)
        return body


STATUS_FIELDS = (
    "id", "state", "desired", "since", "pid", "browser_pid", "me", "last_error", "restarts",
    "uptime_seconds", "created_at", "last_message_at", "bad_frames", "dead_events",
    "stop_outcome", "node", "retention", "profile", "memory_bytes", "cpu_percent",
)  # fmt: skip
RETENTION_AT = STATUS_FIELDS.index("retention")
PROFILE_AT = STATUS_FIELDS.index("profile")
_encode = msgspec.json.Encoder().encode


def _status_dict(values: tuple[Any, ...]) -> dict[str, Any]:
    status = dict(zip(STATUS_FIELDS, values, strict=True))
    retention = values[RETENTION_AT]
    status["retention"] = dict(retention) if retention is not None else None
    return status


def client_log(client: Client) -> Any:
    return logger.bind(client=client.id)


class Registry:
    """Every client's record, in memory and in the database."""

    def __init__(self, settings: Settings, store: Database, bus: EventBus) -> None:
        self.settings = settings
        self.store = store
        self.bus = bus
        self.clients: dict[str, Client] = {}
        self.analytics = Analytics(store, settings.stats_interval)

    def new_backoff(self) -> Backoff:
        s = self.settings
        return Backoff(
            s.restart_backoff_base,
            s.restart_backoff_max,
            s.max_fast_failures,
            s.fast_failure_window,
        )

    def new_client(self, client_id: str, created_at: str) -> Client:
        return Client(
            id=client_id,
            created_at=created_at,
            desired=DESIRED_RUNNING,
            backoff=self.new_backoff(),
            retention=effective_retention(self.settings, ClientSettings()),
        )

    async def load(self) -> list[tuple[Client, ClientRow]]:
        """The stored clients, as records; each with its row (for adopting its worker)."""
        last_message = await message_rows.last_message_times(self.store)
        loaded = []
        for row in await client_rows.all_clients(self.store):
            client = Client(
                id=row.id,
                created_at=row.created_at,
                desired=row.desired,
                backoff=self.new_backoff(),
                me=row.me,
                restarts=row.restarts,
            )
            client.last_message_at = iso_from_unix(last_message.get(row.id))
            if row.stop_outcome in ("clean", "term", "kill"):
                client.stop_outcome = cast(StopOutcome, row.stop_outcome)
            self.clients[row.id] = client
            loaded.append((client, row))
        return loaded

    def get(self, client_id: str) -> Client:
        client = self.clients.get(client_id)
        if client is None:
            raise Refused("client_not_found", f"no client {client_id!r}")
        return client

    async def set_desired(self, client: Client, desired: str) -> None:
        if client.desired != desired:
            await self.analytics.account(client)  # the time so far, under the old desire
            client.desired = desired
            await client_rows.set_desired(self.store, client.id, desired)

    def restore_state(self, client: Client, stored: str, since: str | None) -> None:
        """The state a previous daemon recorded for a worker now adopted (not a transition),
        with the time it began."""
        with contextlib.suppress(ValueError):
            client.state = ClientState(stored)
            client.since = since or client.since

    async def set_state(self, client: Client, new: ClientState, reason: str | None = None) -> None:
        """Move the observed state along the table (stored, published); refuse anything else."""
        old = client.state
        if new == old:
            return
        if not can_transition(old, new):
            client_log(client).error("bug: illegal state transition {} -> {} refused", old, new)
            return
        await self.analytics.account(client)  # the time so far, in the old state
        client.state = new
        client.since = utc_now_iso()
        if new != ClientState.STARTING:
            client.settled.set()
        await client_rows.update(self.store, client.id, state=str(new), state_since=client.since)
        if new != ClientState.QR:
            client.qr = None
        if new == ClientState.FAILED and reason:
            client.last_error = reason
        client_log(client).info("state {} -> {}{}", old, new, f" ({reason})" if reason else "")
        await self.bus.publish(
            client.id,
            E.CLIENT_STATE,
            {"state": str(new), "previous": str(old), "reason": reason, "me": client.me},
        )
