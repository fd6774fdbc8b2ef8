"""Supervision: one loop per client keeps its worker following the desired state.

Spawns take a start slot (at most ``start_concurrency`` browsers booting at once); crashes back
off; the watchdog kills workers silent past the heartbeat timeout; the recycler restarts browsers
past their memory ceiling or age at a quiet moment."""

from __future__ import annotations

import asyncio
import contextlib
import functools
import time
from collections.abc import Callable, Coroutine
from typing import Any

from loguru import logger

from wamc.config import Settings
from wamc.daemon.backend import Backend, NoCapacity, WorkerHandle
from wamc.daemon.inbox import STOP_REQUEST, new_secret
from wamc.daemon.launch import launch_options
from wamc.daemon.link import Transport
from wamc.daemon.profiles.backup import ProfileBackup
from wamc.daemon.recycle import (
    RECYCLE,
    RESTART_REQUESTED,
    restart_cause,
)
from wamc.daemon.registry import DESIRED_RUNNING, Client, Registry, client_log
from wamc.errors import Refused
from wamc.states import ClientState
from wamc.storage import clients as client_rows
from wamc.storage.clients import ClientRow
from wamc.wire.curve import worker_keys
from wamc.wire.process import EXIT_ROOT_REFUSED, ROOT_REFUSED

NO_CAPACITY = "no_capacity"  # last_error of a client no node has a slot for

# Told of every exit of a worker meant to keep running: (client, cause of recycle.RESTART_CAUSES).
ExitListener = Callable[[Client, str], None]


class Supervisor:
    def __init__(self, registry: Registry, backend: Backend, link: Transport) -> None:
        self.registry = registry
        self.settings: Settings = registry.settings
        self.backend = backend
        self.link = link
        self.closing = False
        self.start_slots = asyncio.Semaphore(self.settings.start_concurrency)
        self._tasks: set[asyncio.Task[Any]] = set()
        self.exit_listeners: list[ExitListener] = []
        # Issue 14: snapshots and restores, on the host the profile lives on (the backend's site).
        self.profiles = ProfileBackup(self.settings, site=getattr(backend, "profile_site", None))
        self.waiting: set[Client] = set()  # stopped with no_capacity until a slot frees
        # Counts "a slot may have freed" calls: a start that found no slot retries at once when
        # one freed while it was deciding (no lost wake-up between the refusal and the wait).
        self.capacity_epoch = 0
        # A placing backend says when a slot may have freed (a backend without the list, e.g.
        # a test's, places nothing).
        getattr(backend, "capacity_listeners", []).append(self._capacity_freed)

    # --- start of the daemon ---------------------------------------------------------------------
    async def load(self) -> None:
        """The stored clients, adopting the workers a previous daemon left running."""
        for client, row in await self.registry.load():
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
        client.curve_public = row.worker_curve_public
        # Its connection id follows from its boot, and the handshake proves the secret: it may
        # be spoken to at once, before it says hello to this daemon.
        client.route = f"{client.id}.{row.boot}" if row.boot else None
        client.hello_due = client.route is not None  # for the welcome: replay and backfill view
        client.delivered = row.delivered_dn
        client.browser_pid = row.browser_pid
        client.last_seen = time.monotonic()
        # The same process: its uptime counts from its start, not from this daemon's.
        client.started_mono = time.monotonic() - max(0.0, time.time() - row.worker_started)
        self.registry.restore_state(client, row.state, row.state_since)
        client_log(client).info(
            "adopted running worker (pid {}, state {})", handle.pid, client.state
        )

    async def restore(self) -> None:
        """Start what should run; stop adopted workers of clients that should not."""
        for client in self.registry.clients.values():
            if client.desired == DESIRED_RUNNING or client.handle is not None:
                self.ensure_runner(client)

    # --- the per-client loop ---------------------------------------------------------------------
    def ensure_runner(self, client: Client) -> None:
        if self.closing:
            return
        if client.task is None or client.task.done():
            client.task = asyncio.create_task(
                self._supervise(client), name=f"supervise:{client.id}"
            )
            client.task.add_done_callback(functools.partial(self._supervision_ended, client))
        else:
            client.wake.set()

    def _supervision_ended(self, client: Client, task: asyncio.Task[None]) -> None:
        if not task.cancelled() and task.exception() is not None:
            exc = task.exception()
            client_log(client).opt(exception=exc).error("supervision crashed: {}", exc)
            if not self.closing and client.id in self.registry.clients:  # never left unwatched
                asyncio.get_running_loop().call_later(1.0, self.ensure_runner, client)

    async def _supervise(self, client: Client) -> None:
        """Keep the observed state following the desired one, with backoff on crashes."""
        while not self.closing:
            client.wake.clear()
            if client.desired != DESIRED_RUNNING:
                if client.handle is not None:
                    await self.stop_worker(client)
                await self.registry.set_state(client, ClientState.STOPPED, client.stop_reason)
                client.stop_reason = None
                return
            if client.state == ClientState.FAILED and client.backoff.exhausted():
                return
            delay = client.backoff.delay()
            if delay:
                client_log(client).info("restarting in {:.1f}s", delay)
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(client.wake.wait(), delay)
                if client.desired != DESIRED_RUNNING:
                    continue
            await self._run_worker(client)

    async def _spawn(self, client: Client) -> WorkerHandle | None:
        """Start a worker, at most ``start_concurrency`` browsers booting at once."""
        await self.registry.set_state(client, ClientState.STARTING)
        client.settled.clear()
        await self.start_slots.acquire()
        if client.desired != DESIRED_RUNNING or self.closing:
            self.start_slots.release()
            return None
        try:
            await self.profiles.before_start(client)  # no profile on disk: the newest snapshot
        except BaseException:  # cancelled (deleted): the slot is not lost
            self.start_slots.release()
            raise
        secret, client.secret_hash = new_secret()
        client.curve_public = worker_keys(secret)[0].decode()
        epoch = self.capacity_epoch
        try:
            launch = await launch_options(self.registry.store, client.id)
            async with self.profiles.hold(client.id):  # a spawn may restore on its node (Ray)
                handle = await self.backend.start(client.id, secret, launch)
        except NoCapacity:
            self.start_slots.release()
            await self._wait_for_capacity(client, epoch)
            return None
        except (OSError, Refused) as exc:
            self.start_slots.release()
            client.last_error = f"cannot start worker: {exc}"
            client_log(client).error(client.last_error)
            client.backoff.record_failure()
            return None
        self.profiles.spawned(client, handle.restore)  # what its node restored (Ray)
        if handle.secret_hash and handle.curve_public:  # made on the worker's own node
            client.secret_hash, client.curve_public = handle.secret_hash, handle.curve_public
        if client.last_error == NO_CAPACITY:
            client.last_error = None
        self._background(self._release_slot_when_settled(client))
        client.handle = handle
        client.boot = None
        client.route = None
        client.delivered = 0
        client.browser_pid = None
        client.last_seen = time.monotonic()
        client.started_mono = time.monotonic()
        await client_rows.update(
            self.registry.store,
            client.id,
            **handle.state(),
            boot=None,
            browser_pid=None,
            delivered_dn=0,
            worker_secret_hash=client.secret_hash,
            worker_curve_public=client.curve_public,
        )
        client_log(client).info("worker started (pid {})", handle.pid)
        return handle

    async def _wait_for_capacity(self, client: Client, epoch: int) -> None:
        """No node has a free slot: stopped, desired state kept, placed when one frees.
        ``epoch``: ``capacity_epoch`` when the start began; a slot freed since is not waited for."""
        if client.last_error != NO_CAPACITY:
            client_log(client).warning("no free slot on any node: waiting for one")
        client.last_error = NO_CAPACITY
        self.waiting.add(client)
        try:
            await self.registry.set_state(client, ClientState.STOPPED, NO_CAPACITY)
            if self.capacity_epoch == epoch:
                await client.wake.wait()
        finally:
            self.waiting.discard(client)

    def _capacity_freed(self) -> None:
        self.capacity_epoch += 1
        for client in list(self.waiting):
            client.wake.set()

    def _background(self, coro: Coroutine[Any, Any, Any]) -> asyncio.Task[Any]:
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
        client.kill_reason = None
        handle = client.handle  # adopted from a previous daemon
        if handle is None:
            handle = await self._spawn(client)
            if handle is None:
                return
        code = await self._watch(client, handle)
        await self.backend.end_browser(client.id, client.browser_pid)  # never left behind
        await self._worker_exited(client, code)

    async def _watch(self, client: Client, handle: WorkerHandle) -> int:
        """Until the worker exits: stop it when it should no longer run. Its exit code."""
        exit_task = asyncio.create_task(self.backend.wait(handle))
        wake_task = asyncio.create_task(client.wake.wait())
        try:
            while True:
                done, _ = await asyncio.wait(
                    {exit_task, wake_task}, return_when=asyncio.FIRST_COMPLETED
                )
                if exit_task in done:
                    return exit_task.result()
                client.wake.clear()
                wake_task = asyncio.create_task(client.wake.wait())
                if client.desired != DESIRED_RUNNING or client.kill_reason:
                    await self.stop_worker(client)
        finally:
            wake_task.cancel()

    async def _worker_exited(self, client: Client, code: int) -> None:
        recycled = (client.kill_reason or "").startswith(RECYCLE)
        expected = (
            self.closing  # wamc shutdown: every worker is being stopped
            or client.desired != DESIRED_RUNNING
            or client.kill_reason == RESTART_REQUESTED
            or recycled
        )
        if recycled:
            client.restarts += 1
            await self.registry.analytics.restarted(client.id)
        if not self.closing and client.desired == DESIRED_RUNNING:
            self._tell_exit(client, restart_cause(client.kill_reason, code))
        # Gone before anything reports it: a status showing the new state never shows its pid.
        client.handle = None
        client.boot = None
        client.route = None
        client.browser_pid = None
        client.started_mono = None
        if expected:
            client_log(client).info("worker exited (code {})", code)
        else:
            await self._worker_died(client, code)
        client.settled.set()
        await client_rows.update(
            self.registry.store,
            client.id,
            worker_pid=None,
            worker_started=None,
            browser_pid=None,
            boot=None,
            restarts=client.restarts,
        )

    def _tell_exit(self, client: Client, cause: str) -> None:
        for listener in self.exit_listeners:
            try:
                listener(client, cause)
            except Exception:
                logger.exception("worker exit listener failed")

    async def _worker_died(self, client: Client, code: int) -> None:
        """An exit nobody asked for: count it, and retry, back off or give up."""
        reason = client.kill_reason or f"worker exited with code {code}"
        if code == EXIT_ROOT_REFUSED:  # no retry helps: say why at once
            reason = ROOT_REFUSED
        client.last_error = reason
        client.restarts += 1
        await self.registry.analytics.restarted(client.id)
        client.backoff.record_failure()
        client_log(client).warning("worker died: {}", reason)
        if code == EXIT_ROOT_REFUSED:
            client.backoff.give_up()
            await self.registry.set_state(client, ClientState.FAILED, reason)
        elif client.backoff.exhausted():
            failures = len(client.backoff.failures)
            await self.registry.set_state(
                client, ClientState.FAILED, f"{failures} failures in a short time; last: {reason}"
            )
        else:
            await self.registry.set_state(client, ClientState.STARTING, reason)

    async def stop_worker(self, client: Client) -> None:
        handle = client.handle
        if handle is None:
            return
        client_log(client).info("stopping worker (pid {})", handle.pid)
        linked = client.state == ClientState.CONNECTED
        async with self.profiles.hold(
            client.id
        ):  # no new worker on the profile before its snapshot
            asked = self.link.send_to(client, STOP_REQUEST)
            outcome = await self.backend.stop(
                handle, self.settings.stop_timeout, client.browser_pid, asked
            )
            client.stop_outcome = outcome
            await client_rows.update(self.registry.store, client.id, stop_outcome=outcome)
            # Clean: a snapshot, on the node the profile lives on.
            await self.profiles.after_stop(client, outcome, linked, handle.node)

    async def cancel(self, client: Client) -> None:
        """End the client's loop (its worker is left as it is)."""
        if client.task is not None:
            client.task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await client.task

    # --- end of the daemon -----------------------------------------------------------------------
    async def detach_all(self) -> None:
        """Daemon exit that keeps the workers: they wait (grace period) for the next daemon."""
        self.closing = True
        await self._cancel_all()
        clients = self.registry.clients.values()
        live = sum(1 for c in clients if c.handle is not None)
        logger.info("daemon exiting: {} workers left running for the next daemon to adopt", live)

    async def stop_all(self) -> None:
        self.closing = True
        running = [c for c in self.registry.clients.values() if c.handle is not None]
        await asyncio.gather(*(self.stop_worker(c) for c in running), return_exceptions=True)
        await self._cancel_all()

    async def _cancel_all(self) -> None:
        clients = self.registry.clients.values()
        for client in clients:
            if client.task is not None:
                client.task.cancel()
        await asyncio.gather(*(c.task for c in clients if c.task), return_exceptions=True)
