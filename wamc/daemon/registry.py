"""The client registry: desired vs observed state, worker supervision and worker frames."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import hmac
import json
import secrets
import shutil
import time
from dataclasses import dataclass, field
from typing import Any

import msgspec
from loguru import logger

from wamc import events as E
from wamc.config import Settings
from wamc.errors import ApiError
from wamc.events import EventBus
from wamc.ingest import ingest
from wamc.owned import is_client_browser
from wamc.privilege import EXIT_ROOT_REFUSED, ROOT_REFUSED
from wamc.recycle import recycle_reason
from wamc.states import RUNNING_STATES, ClientState, can_transition
from wamc.storage import Database
from wamc.storage import clients as client_rows
from wamc.storage import events as event_log
from wamc.storage import messages as message_rows
from wamc.storage.clients import ClientRow
from wamc.supervisor import Backend, Backoff, StopOutcome, WorkerHandle
from wamc.timeutil import iso_from_unix, utc_now_iso
from wamc.transport import Transport
from wamc.wire import commands as C
from wamc.wire import events as W
from wamc.wire import frames as F

RECYCLE = "recycle: "
DESIRED_RUNNING = "running"
DESIRED_STOPPED = "stopped"
STOP_REQUEST = F.Request(id="stop", cmd=C.STOP, timeout=5.0)
DEAD_PAYLOAD_SHOWN = 16 * 1024


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
    route: str | None = None  # the proven worker's connection (ZeroMQ routing id)
    bad_frames: int = 0  # frames refused (undecodable, invalid, wrong secret)
    dead_events: int = 0  # events acknowledged but not applied
    stop_outcome: StopOutcome | None = None  # how the last stop ended: clean | term | kill

    @property
    def pid(self) -> int | None:
        return self.handle.pid if self.handle else None

    def status(self) -> dict[str, Any]:
        from wamc.metrics import client_usage  # memory_bytes, cpu_percent of the whole tree

        return {
            "id": self.id,
            "state": str(self.state),
            "desired": self.desired,
            "since": self.since,
            "pid": self.pid,
            "browser_pid": self.browser_pid,
            "me": self.me if self.state == ClientState.CONNECTED else None,
            "last_error": self.last_error,
            "restarts": self.restarts,
            "uptime_seconds": round(time.monotonic() - self.started_mono, 1)
            if self.started_mono is not None and self.handle
            else None,
            "created_at": self.created_at,
            "last_message_at": self.last_message_at,
            "bad_frames": self.bad_frames,
            "dead_events": self.dead_events,
            "stop_outcome": self.stop_outcome,
            **client_usage(self.pid, self.browser_pid),
        }


class ClientManager:
    def __init__(
        self,
        settings: Settings,
        store: Database,
        bus: EventBus,
        backend: Backend,
        transport: Transport,
    ) -> None:
        self.settings = settings
        self.store = store
        self.bus = bus
        self.backend = backend
        self.transport = transport
        self.clients: dict[str, Client] = {}
        self.closing = False
        self.start_slots = asyncio.Semaphore(settings.start_concurrency)
        self._tasks: set[asyncio.Task[Any]] = set()
        self._last_answer: dict[tuple[str, str], float] = {}

    def _new_backoff(self) -> Backoff:
        s = self.settings
        return Backoff(
            s.restart_backoff_base,
            s.restart_backoff_max,
            s.max_fast_failures,
            s.fast_failure_window,
        )

    async def load(self) -> None:
        last_message = await message_rows.last_message_times(self.store)
        for row in await client_rows.all_clients(self.store):
            client = Client(
                id=row.id,
                created_at=row.created_at,
                desired=row.desired,
                backoff=self._new_backoff(),
                me=row.me,
                restarts=row.restarts,
            )
            client.last_message_at = iso_from_unix(last_message.get(row.id))
            if row.stop_outcome in ("clean", "term", "kill"):
                client.stop_outcome = row.stop_outcome
            self.clients[row.id] = client
            self._adopt(client, row)

    def _adopt(self, client: Client, row: ClientRow) -> None:
        """Take over a worker a previous daemon left running: same process, same browser."""
        if not (row.worker_pid and row.worker_started):
            return
        handle = self.backend.adopt(client.id, row.worker_pid, row.worker_started)
        if handle is None:
            # Its worker is gone: no orphan Chromium, but only if the pid is still its Chromium.
            self.backend.kill_browser(client.id, row.browser_pid)
            return
        client.handle = handle
        client.boot = row.boot
        client.secret_hash = row.worker_secret_hash
        client.delivered = row.delivered_dn
        client.browser_pid = row.browser_pid
        client.last_seen = time.monotonic()
        client.started_mono = time.monotonic()
        with contextlib.suppress(ValueError):
            client.state = ClientState(row.state)
        self.log(client).info("adopted running worker (pid {}, state {})", handle.pid, client.state)

    async def restore(self) -> None:
        """Start what should run; stop adopted workers of clients that should not."""
        for client in self.clients.values():
            if client.desired == DESIRED_RUNNING or client.handle is not None:
                self._ensure_runner(client)

    def get(self, client_id: str) -> Client:
        client = self.clients.get(client_id)
        if client is None:
            raise ApiError("client_not_found", f"no client {client_id!r}")
        return client

    def log(self, client: Client) -> Any:
        return logger.bind(client=client.id)

    # --- state ---------------------------------------------------------------------------------
    async def set_state(self, client: Client, new: ClientState, reason: str | None = None) -> None:
        old = client.state
        if new == old:
            return
        if not can_transition(old, new):
            self.log(client).warning("ignoring illegal transition {} -> {}", old, new)
            return
        client.state = new
        client.since = utc_now_iso()
        if new != ClientState.STARTING:
            client.settled.set()
        await client_rows.update(self.store, client.id, state=str(new))
        if new != ClientState.QR:
            client.qr = None
        if new in (ClientState.FAILED,) and reason:
            client.last_error = reason
        self.log(client).info("state {} -> {}{}", old, new, f" ({reason})" if reason else "")
        await self.bus.publish(
            client.id,
            E.CLIENT_STATE,
            {"state": str(new), "previous": str(old), "reason": reason, "me": client.me},
        )

    # --- control operations (all idempotent) -------------------------------------------------------
    async def connect(self, client_id: str) -> tuple[Client, bool]:
        client = self.clients.get(client_id)
        created = client is None
        if client is None:
            limit = self.settings.max_clients
            if limit and len(self.clients) >= limit:
                raise ApiError("client_limit", f"this gateway is limited to {limit} clients")
            now = utc_now_iso()
            client = Client(
                id=client_id, created_at=now, desired=DESIRED_RUNNING, backoff=self._new_backoff()
            )
            self.clients[client_id] = client  # before the await: the limit holds under races
            try:
                await client_rows.add(self.store, client_id, now)
            except BaseException:
                self.clients.pop(client_id, None)
                raise
            self.log(client).info("client created")
        if client.desired != DESIRED_RUNNING:
            client.desired = DESIRED_RUNNING
            await client_rows.set_desired(self.store, client_id, DESIRED_RUNNING)
        if client.state == ClientState.FAILED:
            client.backoff.reset()
        if client.state in (ClientState.STOPPED, ClientState.FAILED) and not self.closing:
            await self.set_state(client, ClientState.STARTING)
        self._ensure_runner(client)
        return client, created

    async def disconnect(self, client_id: str) -> Client:
        client = self.get(client_id)
        if client.desired != DESIRED_STOPPED:
            client.desired = DESIRED_STOPPED
            await client_rows.set_desired(self.store, client_id, DESIRED_STOPPED)
        client.wake.set()
        self._ensure_runner(client)
        return client

    async def restart(self, client_id: str) -> Client:
        client = self.get(client_id)
        if client.desired != DESIRED_RUNNING:
            client.desired = DESIRED_RUNNING
            await client_rows.set_desired(self.store, client_id, DESIRED_RUNNING)
        client.backoff.reset()
        if client.handle is not None:
            client.kill_reason = "restart requested"
            await self._stop_worker(client)
        client.wake.set()
        self._ensure_runner(client)
        return client

    async def logout(self, client_id: str) -> Client:
        client = self.get(client_id)
        if client.state == ClientState.CONNECTED or (
            client.state == ClientState.DISCONNECTED and client.handle
        ):
            await self.request(client, C.LOGOUT, {}, timeout=self.settings.request_timeout)
        elif client.handle is None:
            self.wipe_profile(client)
        client.me = None
        await client_rows.set_me(self.store, client.id, None)
        return client

    async def delete(self, client_id: str) -> None:
        client = self.get(client_id)
        client.desired = DESIRED_STOPPED
        client.wake.set()
        if client.task is not None:
            client.task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await client.task
        await self._stop_worker(client)
        client.settled.set()  # a start slot it held is free at once
        del self.clients[client_id]
        await client_rows.delete(self.store, client_id)
        shutil.rmtree(self.settings.client_dir(client_id), ignore_errors=True)
        self.log(client).info("client deleted with its data")
        await self.bus.publish(client_id, E.CLIENT_DELETED, {})

    def wipe_profile(self, client: Client) -> None:
        shutil.rmtree(self.settings.client_dir(client.id) / "profile", ignore_errors=True)
        self.log(client).info("session wiped: the next connect shows a QR")

    async def request(
        self,
        client: Client,
        cmd: str,
        args: dict[str, Any],
        timeout: float,
        result_type: Any = Any,
    ) -> Any:
        """A command to the client's worker; its result decoded as ``result_type``."""
        if client.handle is None or client.route is None:
            raise ApiError("worker_unavailable", f"client {client.id} has no running worker")
        client.inflight += 1
        try:
            raw = await self.transport.request(client.route, cmd, args, timeout)
            return F.decode_raw(raw, result_type)
        except F.WireError as exc:
            self.log(client).warning("{} answered with the wrong shape: {}", cmd, exc)
            raise ApiError(
                "whatsapp_error", f"the worker's answer to {cmd} had the wrong shape"
            ) from None
        except C.RemoteError as exc:
            code = exc.code if exc.code in C.PASSTHROUGH_ERRORS else "whatsapp_error"
            raise ApiError(code, exc.message) from None
        finally:
            client.inflight -= 1

    # --- supervision -------------------------------------------------------------------------------
    def _ensure_runner(self, client: Client) -> None:
        if self.closing:
            return
        if client.task is None or client.task.done():
            client.task = asyncio.create_task(
                self._supervise(client), name=f"supervise:{client.id}"
            )
            client.task.add_done_callback(lambda t, c=client: self._supervision_ended(c, t))
        else:
            client.wake.set()

    def _supervision_ended(self, client: Client, task: asyncio.Task[None]) -> None:
        if not task.cancelled() and task.exception() is not None:
            exc = task.exception()
            self.log(client).opt(exception=exc).error("supervision crashed: {}", exc)
            if not self.closing and client.id in self.clients:  # never leave a client unwatched
                asyncio.get_running_loop().call_later(1.0, self._ensure_runner, client)

    async def _supervise(self, client: Client) -> None:
        """Keep the observed state following the desired one, with backoff on crashes."""
        log = self.log(client)
        while not self.closing:
            client.wake.clear()
            if client.desired != DESIRED_RUNNING:
                if client.handle is not None:
                    await self._stop_worker(client)
                await self.set_state(client, ClientState.STOPPED, client.stop_reason)
                client.stop_reason = None
                return
            if client.state == ClientState.FAILED and client.backoff.exhausted():
                return
            delay = client.backoff.delay()
            if delay:
                log.info("restarting in {:.1f}s", delay)
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(client.wake.wait(), delay)
                if client.desired != DESIRED_RUNNING:
                    continue
            await self._run_worker(client)

    async def _spawn(self, client: Client) -> WorkerHandle | None:
        """Start a worker, at most ``start_concurrency`` browsers booting at once."""
        log = self.log(client)
        await self.set_state(client, ClientState.STARTING)
        client.settled.clear()
        await self.start_slots.acquire()
        if client.desired != DESIRED_RUNNING or self.closing:
            self.start_slots.release()
            return None
        secret, client.secret_hash = new_secret()
        try:
            handle = await self.backend.start(client.id, secret)
        except OSError as exc:
            self.start_slots.release()
            client.last_error = f"cannot start worker: {exc}"
            log.error(client.last_error)
            client.backoff.record_failure()
            return None
        self._background(self._release_slot_when_settled(client))
        client.handle = handle
        client.boot = None
        client.route = None
        client.delivered = 0
        client.browser_pid = None
        client.last_seen = time.monotonic()
        client.started_mono = time.monotonic()
        await client_rows.update(
            self.store,
            client.id,
            **handle.state(),
            boot=None,
            browser_pid=None,
            delivered_dn=0,
            worker_secret_hash=client.secret_hash,
        )
        log.info("worker started (pid {})", handle.pid)
        return handle

    def _background(self, coro: Any) -> asyncio.Task[Any]:
        """A task kept referenced until done (the loop holds only weak references)."""
        task = asyncio.create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    async def _release_slot_when_settled(self, client: Client) -> None:
        try:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(client.settled.wait(), self.settings.start_slot_timeout)
        finally:
            self.start_slots.release()

    async def _run_worker(self, client: Client) -> None:
        log = self.log(client)
        client.kill_reason = None
        handle = client.handle  # adopted from a previous daemon
        if handle is None:
            handle = await self._spawn(client)
            if handle is None:
                return
        exit_task = asyncio.create_task(self.backend.wait(handle))
        wake_task = asyncio.create_task(client.wake.wait())
        try:
            while True:
                done, _ = await asyncio.wait(
                    {exit_task, wake_task}, return_when=asyncio.FIRST_COMPLETED
                )
                if exit_task in done:
                    break
                client.wake.clear()
                wake_task = asyncio.create_task(client.wake.wait())
                if client.desired != DESIRED_RUNNING or client.kill_reason:
                    await self._stop_worker(client)
        finally:
            wake_task.cancel()
        code = exit_task.result()
        await self.backend.end_browser(client.id, client.browser_pid)  # never left behind
        recycled = (client.kill_reason or "").startswith(RECYCLE)
        expected = (
            self.closing  # wamc shutdown: every worker is being stopped
            or client.desired != DESIRED_RUNNING
            or client.kill_reason == "restart requested"
            or recycled
        )
        if recycled:
            client.restarts += 1
        if expected:
            log.info("worker exited (code {})", code)
        else:
            reason = client.kill_reason or f"worker exited with code {code}"
            if code == EXIT_ROOT_REFUSED:  # no retry helps: say why at once
                reason = ROOT_REFUSED
            client.last_error = reason
            client.restarts += 1
            client.backoff.record_failure()
            log.warning("worker died: {}", reason)
            if code == EXIT_ROOT_REFUSED:
                client.backoff.give_up()
                await self.set_state(client, ClientState.FAILED, reason)
            elif client.backoff.exhausted():
                failures = len(client.backoff.failures)
                await self.set_state(
                    client,
                    ClientState.FAILED,
                    f"{failures} failures in a short time; last: {reason}",
                )
            else:
                await self.set_state(client, ClientState.STARTING, reason)
        client.handle = None
        client.boot = None
        client.route = None
        client.browser_pid = None
        client.started_mono = None
        client.settled.set()
        await client_rows.update(
            self.store,
            client.id,
            worker_pid=None,
            worker_started=None,
            browser_pid=None,
            boot=None,
            restarts=client.restarts,
        )

    async def _stop_worker(self, client: Client) -> None:
        handle = client.handle
        if handle is None:
            return
        self.log(client).info("stopping worker (pid {})", handle.pid)
        asked = self.send(client, STOP_REQUEST)
        outcome = await self.backend.stop(
            handle, self.settings.stop_timeout, client.browser_pid, asked
        )
        client.stop_outcome = outcome
        await client_rows.update(self.store, client.id, stop_outcome=outcome)

    async def detach_all(self) -> None:
        """Daemon exit that keeps the workers: they wait (grace period) for the next daemon."""
        self.closing = True
        for client in self.clients.values():
            if client.task is not None:
                client.task.cancel()
        await asyncio.gather(
            *(c.task for c in self.clients.values() if c.task), return_exceptions=True
        )
        live = sum(1 for c in self.clients.values() if c.handle is not None)
        logger.info("daemon exiting: {} workers left running for the next daemon to adopt", live)

    async def stop_all(self) -> None:
        self.closing = True
        running = [c for c in self.clients.values() if c.handle is not None]
        await asyncio.gather(*(self._stop_worker(c) for c in running), return_exceptions=True)
        for client in self.clients.values():
            if client.task is not None:
                client.task.cancel()
        await asyncio.gather(
            *(c.task for c in self.clients.values() if c.task), return_exceptions=True
        )

    async def recycler(self) -> None:
        """Restart browsers past the memory ceiling or the recycle age, at a quiet moment."""
        from wamc.metrics import client_usage

        s = self.settings
        while True:
            await asyncio.sleep(s.recycle_check_interval)
            for client in list(self.clients.values()):
                if (
                    client.handle is None
                    or client.kill_reason
                    or client.state != ClientState.CONNECTED
                ):
                    continue
                usage = client_usage(client.pid, client.browser_pid)
                uptime = time.monotonic() - client.started_mono if client.started_mono else None
                reason = recycle_reason(
                    usage.get("memory_bytes"),
                    s.memory_limit_mb,
                    uptime,
                    s.recycle_hours,
                    client.inflight,
                )
                if reason:
                    self.log(client).warning("recycling the browser ({}), session kept", reason)
                    client.kill_reason = RECYCLE + reason
                    client.wake.set()

    async def watchdog(self) -> None:
        """Heartbeats to every worker; a worker silent past the timeout is killed and restarted."""
        interval = self.settings.heartbeat_interval
        frame = F.Heartbeat()
        while True:
            await asyncio.sleep(interval)
            now = time.monotonic()
            for client in list(self.clients.values()):
                if client.handle is None:
                    continue
                self.send(client, frame)
                if (
                    now - client.last_seen > self.settings.heartbeat_timeout
                    and client.kill_reason is None
                ):
                    client.kill_reason = f"no heartbeat for {now - client.last_seen:.0f}s"
                    self.log(client).warning("worker unresponsive: killing it")
                    self.backend.kill(client.handle, client.browser_pid)

    # --- frames from workers ---------------------------------------------------------------------
    async def on_frame(self, route: str, frame: F.WorkerFrame) -> None:
        """A validated frame from the connection ``route`` (``<client id>.<boot>``). Until that
        connection has proven it is the worker we spawned (pid and secret in its hello), nothing
        it sends is acted on; taking over a client's id gains a peer nothing."""
        client_id = route.split(".", 1)[0]
        client = self.clients.get(client_id)
        if client is None:
            if self._limited(("stop", route)):
                logger.bind(client=client_id).warning(
                    "frame from an unknown client's worker: telling it to stop"
                )
                self.transport.send(route, STOP_REQUEST)
            return
        if isinstance(frame, F.Hello):
            await self._on_hello(client, route, frame)
            return
        if route != client.route:
            if self._limited(("who", route)):
                self.transport.send(route, F.Who())
            return
        client.last_seen = time.monotonic()
        if isinstance(frame, F.Heartbeat):
            bpid = frame.browser_pid
            if bpid and bpid != client.browser_pid and self._is_browser(client, bpid):
                client.browser_pid = bpid
                await client_rows.update(self.store, client.id, browser_pid=bpid)
        elif isinstance(frame, F.Event):
            await self._on_event(client, frame)

    def on_bad_frame(self, route: str, reason: str, oversize: bool) -> None:
        """Counted per client; a proven worker over the frame cap is restarted."""
        client = self.clients.get(route.split(".", 1)[0])
        if client is None or route != client.route:
            return  # counted by the transport only: a stranger cannot blame a client
        client.bad_frames += 1
        if oversize and client.kill_reason is None:
            self.log(client).error("worker sent a frame over the size cap: restarting it")
            client.kill_reason = "frame over the size cap"
            client.wake.set()

    def authenticate(self, route: str, secret: str) -> bool:
        """May the connection ``route`` (``<client>.<boot>``) in? Only with the secret given to
        that client's current worker at spawn."""
        client = self.clients.get(route.split(".", 1)[0])
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
                self.log(client).warning(
                    "hello refused (pid {}): not the worker this daemon started", hello.pid
                )
            return
        client.last_seen = time.monotonic()
        client.route = route
        if hello.boot != client.boot:
            client.boot = hello.boot
            client.delivered = 0
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
        self.send(client, F.Welcome(acked=client.delivered, newest=newest))

    def send(self, client: Client, frame: F.Frame) -> bool:
        """To the client's proven worker connection; False when there is none."""
        return client.route is not None and self.transport.send(client.route, frame)

    async def _on_event(self, client: Client, ev: F.Event) -> None:
        if ev.dn <= client.delivered:
            self.send(client, F.Ack(dn=client.delivered))  # a replay: stored
            return
        if ev.dn != client.delivered + 1:
            # A gap: ask for a replay, at most once a second (the worker resends its outbox).
            if self._limited(("replay", client.id)):
                self.send(client, F.Welcome(acked=client.delivered))
            return
        try:
            payload = W.parse_payload(ev.name, ev.data)
            async with self.store.transaction():
                await self._apply_event(client, payload)
                await client_rows.update(self.store, client.id, delivered_dn=ev.dn)
        except Exception as exc:  # a bad shape, or a failure while storing: never retried
            await self._dead_event(client, ev, exc)
        client.delivered = ev.dn
        self.send(client, F.Ack(dn=ev.dn))

    async def _dead_event(self, client: Client, ev: F.Event, exc: Exception) -> None:
        reason = str(exc) if isinstance(exc, W.PayloadError) else f"{type(exc).__name__}: {exc}"
        client.dead_events += 1
        if self._limited(("dead", client.id), 5.0):
            self.log(client).warning("event {} #{} not applied: {}", ev.name, ev.dn, reason[:200])
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
            self.log(client).exception("cannot record dead event #{}", ev.dn)

    async def _apply_event(self, client: Client, payload: W.Payload) -> None:
        if isinstance(payload, W.StateData):
            await self._apply_state(client, payload)
        elif isinstance(payload, W.QrData):
            client.qr = payload.qr
            client.qr_at = utc_now_iso()
            if client.state != ClientState.QR:
                await self.set_state(client, ClientState.QR)
            await self.bus.publish(client.id, E.CLIENT_QR, {"qr": payload.qr})
        elif isinstance(payload, W.DroppedData):
            raise W.PayloadError(f"the worker dropped {payload.name}: {payload.reason}")
        else:
            await ingest(self.store, self.bus, client, payload)

    async def _apply_state(self, client: Client, data: W.StateData) -> None:
        if data.me and data.me != client.me:
            client.me = data.me
            await client_rows.set_me(self.store, client.id, data.me)
        try:
            new = ClientState(data.state)
        except ValueError:
            raise W.PayloadError(f"state: unknown state {data.state[:32]!r}") from None
        if data.error:
            client.last_error = data.error[:300]
        if new == ClientState.FAILED:
            client.kill_reason = client.last_error
            return  # the worker exits; supervision decides
        if new == ClientState.STOPPED and data.reason == "qr_timeout":
            self.log(client).warning("QR never scanned: stopping the client (qr_timeout)")
            client.last_error = client.stop_reason = "qr_timeout"
            client.desired = DESIRED_STOPPED
            await client_rows.set_desired(self.store, client.id, DESIRED_STOPPED)
            client.wake.set()
            return
        if client.desired == DESIRED_RUNNING and new in RUNNING_STATES:
            await self.set_state(client, new, data.reason)


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
    """The payload as JSON for the operator, when small enough to show (at most 64 KiB)."""
    raw = bytes(data)
    if len(raw) > DEAD_PAYLOAD_SHOWN:
        return json.dumps({"not_shown": f"{len(raw)} bytes of msgpack"})
    try:
        shown = json.dumps(msgspec.msgpack.decode(raw), default=repr)
    except Exception:
        shown = json.dumps({"undecodable": raw[:256].hex()})
    return shown[:DEAD_PAYLOAD_SHOWN]
