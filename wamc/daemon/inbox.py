"""Frames from workers: who may connect, hello/welcome, delivery numbers, acks, dead events.

Until a connection has proven it is the worker we spawned (pid and secret in its hello), nothing
it sends is acted on: taking over a client's id gains a peer nothing. Events are applied strictly
in delivery-number order, each acknowledged once stored; one that cannot be applied is recorded
as dead (acknowledged, never retried)."""

from __future__ import annotations

import hashlib
import hmac
import json
import secrets
import time

import msgspec
from loguru import logger

from wamc.config import Settings
from wamc.daemon.ingest import Ingest
from wamc.daemon.link import Transport
from wamc.daemon.proofs import is_client_browser
from wamc.daemon.recycle import FRAME_OVERSIZE
from wamc.daemon.registry import Client, Registry, client_log
from wamc.storage import clients as client_rows
from wamc.storage import events as event_log
from wamc.storage import messages as message_rows
from wamc.timeutil import utc_now_iso
from wamc.wire import commands as C
from wamc.wire import events as W
from wamc.wire import frames as F

STOP_REQUEST = F.Request(id="stop", cmd=C.STOP, timeout=5.0)
DEAD_PAYLOAD_SHOWN = 16 * 1024


class Inbox:
    """The link's frame sink (wamc/daemon/link.py ``FrameSink``)."""

    def __init__(self, registry: Registry, link: Transport, ingest: Ingest) -> None:
        self.registry = registry
        self.settings: Settings = registry.settings
        self.store = registry.store
        self.link = link
        self.ingest = ingest
        self._last_answer: dict[tuple[str, str], float] = {}

    def _client(self, route: str) -> Client | None:
        return self.registry.clients.get(route.split(".", 1)[0])

    async def on_frame(self, route: str, frame: F.WorkerFrame) -> None:
        """A validated frame from the connection ``route`` (``<client id>.<boot>``)."""
        client = self._client(route)
        if client is None:
            if self._limited(("stop", route)):
                logger.bind(client=route.split(".", 1)[0]).warning(
                    "frame from an unknown client's worker: telling it to stop"
                )
                self.link.send(route, STOP_REQUEST)
            return
        if isinstance(frame, F.Hello):
            await self._on_hello(client, route, frame)
            return
        if route != client.route:
            if self._limited(("who", route)):
                self.link.send(route, F.Who())
            return
        client.last_seen = time.monotonic()
        if client.hello_due and self._limited(("who", route)):
            self.link.send(route, F.Who())  # an adopted worker: its hello gets the full welcome
        if isinstance(frame, F.Heartbeat):
            client.note_page_crashes(frame.page_crashes)
            bpid = frame.browser_pid
            if bpid and bpid != client.browser_pid and self._is_browser(client, bpid):
                client.browser_pid = bpid
                await client_rows.update(self.store, client.id, browser_pid=bpid)
        elif isinstance(frame, F.Event):
            await self._on_event(client, frame)

    def on_bad_frame(self, route: str, reason: str, oversize: bool) -> None:
        """Counted per client; a proven worker over the frame cap is restarted."""
        client = self._client(route)
        if client is None or route != client.route:
            return  # counted by the link only: a stranger cannot blame a client
        client.bad_frames += 1
        if oversize and client.kill_reason is None:
            client_log(client).error("worker sent a frame over the size cap: restarting it")
            client.kill_reason = FRAME_OVERSIZE
            client.wake.set()

    def authenticate(self, route: str, secret: str) -> bool:
        """May the connection ``route`` (``<client>.<boot>``) in? Only with the secret given to
        that client's current worker at spawn."""
        client = self._client(route)
        return (
            client is not None
            and client.handle is not None
            and secret_matches(secret, client.secret_hash)
        )

    def _is_browser(self, client: Client, pid: int) -> bool:
        """A browser pid a worker reports is believed only once proven (profile, parentage)."""
        return is_client_browser(pid, self.settings.client_dir(client.id) / "profile", client.pid)

    def _limited(self, key: tuple[str, str], interval: float = 1.0) -> bool:
        """True at most once per ``interval`` per key (answers to a flood stay bounded)."""
        now = time.monotonic()
        if now - self._last_answer.get(key, -interval) < interval:
            return False
        self._last_answer[key] = now
        if len(self._last_answer) > 4096:
            self._last_answer.clear()
        return True

    async def _on_hello(self, client: Client, route: str, hello: F.Hello) -> None:
        if (
            client.handle is None
            or hello.pid != client.handle.pid
            or hello.client != client.id
            or route != f"{client.id}.{hello.boot}"
            or not secret_matches(hello.secret, client.secret_hash)
        ):
            client.bad_frames += 1
            if self._limited(("hello", client.id)):
                client_log(client).warning(
                    "hello refused (pid {}): not the worker this daemon started", hello.pid
                )
            return
        client.last_seen = time.monotonic()
        client.route = route
        client.hello_due = False
        if hello.boot != client.boot:
            client.boot = hello.boot
            client.delivered = 0
            client.page_crashes_reported = 0
        if hello.browser_pid and self._is_browser(client, hello.browser_pid):
            client.browser_pid = hello.browser_pid
        await client_rows.update(
            self.store,
            client.id,
            boot=hello.boot,
            browser_pid=client.browser_pid,
            delivered_dn=client.delivered,
        )
        newest = await message_rows.newest_per_chat(self.store, client.id)
        self.link.send_to(client, F.Welcome(acked=client.delivered, newest=newest))

    async def _on_event(self, client: Client, ev: F.Event) -> None:
        if ev.dn <= client.delivered:
            self.link.send_to(client, F.Ack(dn=client.delivered))  # a replay: stored
            return
        if ev.dn != client.delivered + 1:
            # A gap: ask for a replay, at most once a second (the worker resends its outbox).
            if self._limited(("replay", client.id)):
                self.link.send_to(client, F.Welcome(acked=client.delivered))
            return
        try:
            await self.ingest.apply(client, ev)
        except Exception as exc:  # a bad shape, or a failure while storing: never retried
            await self._dead_event(client, ev, exc)
        client.delivered = ev.dn
        self.link.send_to(client, F.Ack(dn=ev.dn))

    async def _dead_event(self, client: Client, ev: F.Event, exc: Exception) -> None:
        reason = str(exc) if isinstance(exc, W.PayloadError) else f"{type(exc).__name__}: {exc}"
        client.dead_events += 1
        if self._limited(("dead", client.id), 5.0):
            client_log(client).warning("event {} #{} not applied: {}", ev.name, ev.dn, reason[:200])
        try:
            async with self.store.transaction():
                await event_log.add_dead(
                    self.store,
                    client.id,
                    ev.dn,
                    ev.name,
                    reason,
                    dead_payload(ev.data),
                    utc_now_iso(),
                )
                await client_rows.update(self.store, client.id, delivered_dn=ev.dn)
        except Exception:
            client_log(client).exception("cannot record dead event #{}", ev.dn)


def new_secret() -> tuple[str, str]:
    """A worker's secret and the hash the daemon keeps (in memory and in the database)."""
    secret = secrets.token_urlsafe(32)
    return secret, hashlib.sha256(secret.encode()).hexdigest()


def secret_matches(secret: str, secret_hash: str | None) -> bool:
    if not secret_hash:
        return False
    digest = hashlib.sha256(secret.encode()).hexdigest()
    return hmac.compare_digest(digest, secret_hash)


def dead_payload(data: msgspec.Raw) -> str:
    """The payload as JSON for the operator, when small enough to show (at most 16 KiB)."""
    raw = bytes(data)
    if len(raw) > DEAD_PAYLOAD_SHOWN:
        return json.dumps({"not_shown": f"{len(raw)} bytes of msgpack"})
    try:
        shown = json.dumps(msgspec.msgpack.decode(raw), default=repr)
    except Exception:
        shown = json.dumps({"undecodable": raw[:256].hex()})
    return shown[:DEAD_PAYLOAD_SHOWN]
