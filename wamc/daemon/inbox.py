"""Worker connections: who may connect, hello/welcome, heartbeats, bad frames.

Until a connection has proven it is the worker we spawned (pid and secret in its hello), nothing
it sends is acted on: taking over a client's id gains a peer nothing. Its events go to
wamc/daemon/ingest.py, which asks :meth:`Inbox.proven` first."""

from __future__ import annotations

import hashlib
import hmac
import secrets
import time

from loguru import logger

from wamc.config import Settings
from wamc.daemon.link import Transport
from wamc.daemon.proofs import is_client_browser
from wamc.daemon.recycle import FRAME_OVERSIZE
from wamc.daemon.registry import Client, Registry, client_log
from wamc.storage import clients as client_rows
from wamc.storage import messages as message_rows
from wamc.wire import commands as C
from wamc.wire import frames as F

STOP_REQUEST = F.Request(id="stop", cmd=C.STOP, timeout=5.0)


class Inbox:
    """The link's connection sink (wamc/daemon/link.py ``FrameSink``)."""

    def __init__(self, registry: Registry, link: Transport) -> None:
        self.registry = registry
        self.settings: Settings = registry.settings
        self.store = registry.store
        self.link = link
        self._last_answer: dict[tuple[str, str], float] = {}

    def _client(self, route: str) -> Client | None:
        return self.registry.clients.get(route.split(".", 1)[0])

    def _stranger(self, route: str) -> None:
        """A worker of no client of ours (e.g. one deleted): told to stop, at most once a
        second."""
        if self.limited(("stop", route)):
            logger.bind(client=route.split(".", 1)[0]).warning(
                "frame from an unknown client's worker: telling it to stop"
            )
            self.link.send(route, STOP_REQUEST)

    def proven(self, route: str) -> Client | None:
        """The client whose proven worker connection ``route`` is, else None (a stranger is told
        to stop, a connection not yet proven to introduce itself; each answer paced)."""
        client = self._client(route)
        if client is None:
            self._stranger(route)
            return None
        if route != client.route:
            if self.limited(("who", route)):
                self.link.send(route, F.Who())
            return None
        client.last_seen = time.monotonic()
        if client.hello_due and self.limited(("who", route)):
            self.link.send(route, F.Who())  # an adopted worker: its hello gets the full welcome
        return client

    async def on_frame(self, route: str, frame: F.Hello | F.Heartbeat) -> None:
        """A validated hello or heartbeat from the connection ``route`` (``<client>.<boot>``);
        events go to wamc/daemon/ingest.py."""
        if isinstance(frame, F.Hello):
            client = self._client(route)
            if client is None:
                self._stranger(route)
            else:
                await self._on_hello(client, route, frame)
            return
        client = self.proven(route)
        if client is None:
            return
        client.note_page_crashes(frame.page_crashes)
        bpid = frame.browser_pid
        if bpid and bpid != client.browser_pid and self._is_browser(client, bpid):
            client.browser_pid = bpid
            await client_rows.update(self.store, client.id, browser_pid=bpid)

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

    def authenticate_key(self, public_key: str) -> str | None:
        """The client whose current worker's Curve key this is (TCP links), or None."""
        for client in self.registry.clients.values():
            if client.handle is not None and client.curve_public == public_key:
                return client.id
        return None

    def _stale(self, client: Client, route: str, hello: F.Hello) -> bool:
        """A hello of an older placement's worker: refused and told to stop (two browsers must
        never run one session)."""
        expected = client.handle.epoch if client.handle is not None else None
        if not stale_epoch(expected, hello.epoch):
            return False
        client.bad_frames += 1
        if self.limited(("epoch", route)):
            client_log(client).warning(
                "hello of a stale placement (epoch {}, current {}): refused, told to stop",
                hello.epoch,
                expected,
            )
            self.link.send(route, STOP_REQUEST)
        return True

    def _is_browser(self, client: Client, pid: int) -> bool:
        """A browser pid a worker reports is believed only once proven (profile, parentage).
        A worker on a Ray node: proven there, by its agent, before any signal reaches it."""
        if client.handle is not None and client.handle.node is not None:
            return True
        return is_client_browser(pid, self.settings.client_dir(client.id) / "profile", client.pid)

    def limited(self, key: tuple[str, str], interval: float = 1.0) -> bool:
        """True at most once per ``interval`` per key (answers to a flood stay bounded)."""
        now = time.monotonic()
        if now - self._last_answer.get(key, -interval) < interval:
            return False
        self._last_answer[key] = now
        if len(self._last_answer) > 4096:
            self._last_answer.clear()
        return True

    async def _on_hello(self, client: Client, route: str, hello: F.Hello) -> None:
        if self._stale(client, route, hello):
            return
        if (
            client.handle is None
            or hello.pid != client.handle.pid
            or hello.client != client.id
            or route != f"{client.id}.{hello.boot}"
            or not secret_matches(hello.secret, client.secret_hash)
        ):
            client.bad_frames += 1
            if self.limited(("hello", client.id)):
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


def stale_epoch(expected: int | None, said: int | None) -> bool:
    """A worker of an older placement (Ray backend): its epoch is not the current one."""
    return expected is not None and said != expected


def new_secret() -> tuple[str, str]:
    """A worker's secret and the hash the daemon keeps (in memory and in the database)."""
    secret = secrets.token_urlsafe(32)
    return secret, hashlib.sha256(secret.encode()).hexdigest()


def secret_matches(secret: str, secret_hash: str | None) -> bool:
    if not secret_hash:
        return False
    digest = hashlib.sha256(secret.encode()).hexdigest()
    return hmac.compare_digest(digest, secret_hash)
