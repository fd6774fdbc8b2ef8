"""Supervision without Chromium: a fake backend and a fake link (real SQLite, real registry and
event bus) drive the per-client loop through start, crash, backoff, give-up, stop and adoption."""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from tests.support import wait_for
from wamc.config import load_settings
from wamc.daemon.backend import NoCapacity, WorkerHandle
from wamc.daemon.control import Control
from wamc.daemon.registry import Registry
from wamc.daemon.supervision import Supervisor
from wamc.events import EventBus
from wamc.states import ClientState
from wamc.storage import Database
from wamc.storage import clients as client_rows
from wamc.wire import frames as F


class FakeLink:
    def __init__(self) -> None:
        self.sent: list[tuple[str, F.Frame]] = []

    def send_to(self, peer: Any, frame: F.Frame) -> bool:
        if peer.route is None:
            return False
        self.sent.append((peer.route, frame))
        return True


class FakeBackend:
    """Processes that exist only here: ``exit(client, code)`` ends one."""

    def __init__(self) -> None:
        self.started: list[str] = []
        self.stopped: list[tuple[str, bool]] = []
        self.adopted: list[int] = []
        self.exits: dict[int, asyncio.Future[int]] = {}
        self.next_pid = 1000
        self.capacity_listeners: list[Any] = []
        self.full = 0  # starts still refused with no free slot
        self.freed_while_deciding = False  # a slot frees during the refused start

    async def start(self, client_id: str, secret: str, launch: Any = None) -> WorkerHandle:
        assert secret  # every worker gets its own secret
        if self.full:
            self.full -= 1
            if self.freed_while_deciding:
                for listener in self.capacity_listeners:
                    listener()
            raise NoCapacity
        self.next_pid += 1
        self.started.append(client_id)
        self.exits[self.next_pid] = asyncio.get_running_loop().create_future()
        return WorkerHandle(client_id, self.next_pid, started=float(self.next_pid))

    def adopt(self, client_id: str, pid: int, started: float) -> WorkerHandle | None:
        self.adopted.append(pid)
        self.exits[pid] = asyncio.get_running_loop().create_future()
        return WorkerHandle(client_id, pid, started)

    async def wait(self, handle: WorkerHandle) -> int:
        return await self.exits[handle.pid]

    def poll(self, handle: WorkerHandle) -> bool:
        return not self.exits[handle.pid].done()

    def exit(self, handle: WorkerHandle | None, code: int) -> None:
        assert handle is not None
        self.exits[handle.pid].set_result(code)

    async def stop(
        self, handle: WorkerHandle, timeout: float, browser_pid: int | None, asked: bool
    ) -> str:
        self.stopped.append((handle.client_id, asked))
        self.exit(handle, 0)
        return "clean"

    def kill(self, handle: WorkerHandle, browser_pid: int | None) -> None:
        self.exit(handle, -9)

    def kill_browser(self, client_id: str, browser_pid: int | None) -> bool:
        return False

    async def end_browser(self, client_id: str, browser_pid: int | None) -> bool:
        return False


@pytest.fixture
async def parts(tmp_path: Path) -> AsyncIterator[tuple[Registry, Supervisor, Control, FakeBackend]]:
    db = Database(tmp_path / "t.db")
    await db.open()
    settings = dataclasses.replace(
        load_settings({"WAMC_HOME": str(tmp_path)}),
        restart_backoff_base=0.01,
        restart_backoff_max=0.02,
        max_fast_failures=3,
    )
    registry = Registry(settings, db, EventBus(db, 100))
    backend, link = FakeBackend(), FakeLink()
    supervisor = Supervisor(registry, backend, link)  # type: ignore[arg-type]  # fakes
    control = Control(registry, supervisor, link)  # type: ignore[arg-type]  # the fake link
    try:
        yield registry, supervisor, control, backend
    finally:
        await supervisor.stop_all()
        await db.close()


async def test_crashes_back_off_then_fail_and_connect_tries_again(
    parts: tuple[Registry, Supervisor, Control, FakeBackend],
) -> None:
    registry, _, control, backend = parts
    client, created = await control.connect("acme")
    assert created
    await wait_for(lambda: client.handle is not None, 5, what="the first worker")
    assert client.state == ClientState.STARTING and backend.started == ["acme"]
    for n in (1, 2):
        backend.exit(client.handle, 1)
        await wait_for(lambda n=n: len(backend.started) == n + 1, 5, what=f"restart {n}")
    assert client.restarts == 2 and client.last_error == "worker exited with code 1"
    backend.exit(client.handle, 1)  # the third quick failure: given up
    await wait_for(lambda: client.state == ClientState.FAILED, 5, what="failed")
    assert len(backend.started) == 3 and "3 failures" in (client.last_error or "")
    row = {r.id: r for r in await client_rows.all_clients(registry.store)}["acme"]
    assert (row.state, row.restarts, row.worker_pid) == ("failed", 3, None)

    await control.connect("acme")  # an operator's connect starts over
    await wait_for(lambda: len(backend.started) == 4, 5, what="a fresh start")
    assert client.state == ClientState.STARTING


async def test_disconnect_asks_the_worker_to_stop_and_restart_is_not_a_crash(
    parts: tuple[Registry, Supervisor, Control, FakeBackend],
) -> None:
    _, _, control, backend = parts
    client, _ = await control.connect("acme")
    await wait_for(lambda: client.handle is not None, 5, what="the worker")
    client.route = "acme.boot1"  # as if its hello had been accepted
    await control.restart("acme")
    await wait_for(lambda: len(backend.started) == 2, 5, what="the restart")
    assert backend.stopped == [("acme", True)] and client.restarts == 0
    await control.disconnect("acme")
    await wait_for(lambda: client.state == ClientState.STOPPED, 5, what="stopped")
    assert client.handle is None and len(backend.stopped) == 2 and client.stop_outcome == "clean"


async def test_a_running_worker_left_by_a_previous_daemon_is_adopted(
    parts: tuple[Registry, Supervisor, Control, FakeBackend],
) -> None:
    registry, supervisor, _, backend = parts
    await client_rows.add(registry.store, "acme", "2026-01-01T00:00:00.000Z")
    await client_rows.update(
        registry.store,
        "acme",
        desired="running",
        state="connected",
        worker_pid=4242,
        worker_started=1.0,
        boot="b7",
        delivered_dn=9,
    )
    await supervisor.load()
    await supervisor.restore()
    client = registry.clients["acme"]
    assert backend.adopted == [4242] and backend.started == []
    assert (client.route, client.delivered, client.hello_due) == ("acme.b7", 9, True)
    assert client.state == ClientState.CONNECTED


@pytest.mark.parametrize("freed_while_deciding", [False, True])
async def test_a_client_without_a_slot_waits_and_a_freed_slot_is_never_missed(
    parts: tuple[Registry, Supervisor, Control, FakeBackend], freed_while_deciding: bool
) -> None:
    """A slot that frees between the refusal and the wait (a drain undone at that moment) must
    not leave the client waiting for a wake-up that already came."""
    _, supervisor, control, backend = parts
    backend.full, backend.freed_while_deciding = 1, freed_while_deciding
    client, _ = await control.connect("acme")
    if not freed_while_deciding:
        await wait_for(
            lambda: client in supervisor.waiting and client.state == ClientState.STOPPED,
            5,
            what="stopped, waiting for a slot",
        )
        assert client.last_error == "no_capacity"
        assert backend.started == []
        for listener in backend.capacity_listeners:
            listener()
    await wait_for(lambda: client.handle is not None, 5, what="started once a slot freed")
    assert backend.started == ["acme"] and client.last_error is None
    assert client not in supervisor.waiting
