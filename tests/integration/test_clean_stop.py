"""Clean stops: a stop asks the worker, which closes Chromium itself so the profile is flushed.

The simulator's page keeps its login the way WhatsApp Web keeps part of its own: in storage the
browser writes to disk lazily. A graceful close flushes it; a SIGKILLed browser loses it. So a
client stopped a second after linking comes back connected only if its stop was clean, and the
negative control (the browser SIGKILLed instead) proves the simulator can tell the difference.
"""

from __future__ import annotations

import os
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psutil
import pytest

from tests.support import Daemon, wait_for
from wamc.config import Settings
from wamc.storage import Database
from wamc.storage import clients as client_rows

PHONE = "5511900001111"


async def link_then(daemon: Daemon, sim_http: Any, client: str, kill_browser: bool) -> float:
    """Link ``client``; within a second kill its browser (or not), then stop it.

    Returns the seconds from "connected" seen to the stop requested."""
    st = await daemon.connect_scanned(sim_http, client, PHONE)
    seen = time.monotonic()
    if kill_browser:
        os.killpg(st["browser_pid"], signal.SIGKILL)
    code, body = await daemon.call("POST", f"/api/clients/{client}/disconnect")
    assert code in (200, 202), body
    elapsed = time.monotonic() - seen
    await daemon.wait_state(client, "stopped")
    return elapsed


async def reconnect_outcome(daemon: Daemon, client: str) -> str:
    """Connect again; the first of connected / qr the client reaches."""
    code, body = await daemon.call("POST", f"/api/clients/{client}/connect")
    assert code == 202, body

    async def probe() -> str | None:
        state = (await daemon.status(client))["state"]
        return state if state in ("connected", "qr") else None

    return await wait_for(probe, timeout=60, what=f"{client} connected or at a QR")


async def test_disconnect_right_after_linking_keeps_the_session(
    daemon: Daemon, sim_http: Any
) -> None:
    elapsed = await link_then(daemon, sim_http, "clean", kill_browser=False)
    assert elapsed < 1.0
    st = await daemon.status("clean")
    assert st["stop_outcome"] == "clean"
    log = (daemon.home / "logs" / "wamc.log").read_text()
    assert "worker stopped cleanly" in log and "escalated" not in log
    await daemon.stop()
    await daemon.start()
    assert (await daemon.status("clean"))["stop_outcome"] == "clean"  # kept in the store
    assert await reconnect_outcome(daemon, "clean") == "connected"


async def test_negative_control_browser_sigkilled_right_after_linking_loses_it(
    daemon: Daemon, sim_http: Any
) -> None:
    elapsed = await link_then(daemon, sim_http, "killed", kill_browser=True)
    assert elapsed < 1.0
    assert await reconnect_outcome(daemon, "killed") == "qr"


async def test_sigterm_to_the_worker_takes_the_same_graceful_path(
    daemon: Daemon, sim_http: Any
) -> None:
    """A worker SIGTERMed by someone else (an operator, supervisord) also flushes the profile:
    it exits, the daemon restarts it, and the session is still there."""
    st = await daemon.connect_scanned(sim_http, "termed", PHONE)
    os.kill(st["pid"], signal.SIGTERM)

    async def back() -> str | None:
        s = await daemon.status("termed")
        if s["pid"] in (None, st["pid"]):
            return None
        return s["state"] if s["state"] in ("connected", "qr") else None

    assert await wait_for(back, timeout=60, what="a new worker connected or at a QR") == "connected"


def alive(pid: int | None) -> bool:
    try:
        return bool(pid) and psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.Error:
        return False


async def test_a_worker_that_ignores_the_stop_is_escalated_to_kill(
    make_daemon: Any, sim_http: Any
) -> None:
    d = await make_daemon({"WAMC_STOP_TIMEOUT": "1", "WAMC_HEARTBEAT_TIMEOUT": "60"})
    st = await d.connect_scanned(sim_http, "deaf", PHONE)
    os.kill(st["pid"], signal.SIGSTOP)  # hears neither the stop frame nor the SIGTERM
    began = time.monotonic()
    code, body = await d.call("POST", "/api/clients/deaf/disconnect")
    assert code in (200, 202), body
    stopped = await d.wait_state("deaf", "stopped", timeout=30)
    assert time.monotonic() - began >= 1.0  # the stop timeout came first
    assert stopped["stop_outcome"] == "kill"
    assert not alive(st["pid"]) and not alive(st["browser_pid"])
    log = (d.home / "logs" / "wamc.log").read_text()
    assert "SIGTERM to the worker (escalated)" in log
    assert "SIGKILL to its group and browser (escalated)" in log


@pytest.fixture
def innocents() -> Iterator[list[subprocess.Popen[bytes]]]:
    procs = [
        subprocess.Popen(["sleep", "300"], start_new_session=True),  # noqa: S607
        subprocess.Popen(["sleep", "301"], start_new_session=True),  # noqa: S607
    ]
    yield procs
    for p in procs:
        p.kill()
        p.wait()


async def test_stale_pids_in_the_database_spare_innocent_processes(
    tmp_path: Path, simulator: Any, innocents: list[subprocess.Popen[bytes]]
) -> None:
    """After a reboot the stored worker and browser pids can be anyone's: the daemon's adopt
    path must not signal them."""
    worker, browser = innocents
    home = tmp_path / "home"
    home.mkdir()
    store = Database(Settings(home=home).db_path)
    await store.open()
    await client_rows.add(store, "acme", "2026-01-01T00:00:00.000Z")
    await client_rows.set_desired(store, "acme", "stopped")
    await client_rows.update(
        store,
        "acme",
        state="connected",
        worker_pid=worker.pid,
        worker_started=psutil.Process(worker.pid).create_time(),
        browser_pid=browser.pid,
        boot="b",
    )
    await store.close()
    d = Daemon(home, simulator)
    try:
        await d.start()
        st = await d.wait_state("acme", "stopped")
        assert st["pid"] is None
        assert (await d.status("acme"))["state"] == "stopped"
        assert worker.poll() is None and browser.poll() is None
    finally:
        await d.close()
    assert worker.poll() is None and browser.poll() is None


async def test_worker_sigkilled_right_after_linking_its_browser_closes_itself(
    daemon: Daemon, sim_http: Any
) -> None:
    """A worker that dies hard leaves Chromium with a closed DevTools pipe: Chromium shuts itself down
    (flushing the profile) and the daemon lets it, rather than SIGKILLing it at once."""
    st = await daemon.connect_scanned(sim_http, "orphan", PHONE)
    os.kill(st["pid"], signal.SIGKILL)
    code, body = await daemon.call("POST", "/api/clients/orphan/disconnect")
    assert code in (200, 202), body
    await daemon.wait_state("orphan", "stopped")
    assert await reconnect_outcome(daemon, "orphan") == "connected"
    assert "outlived its worker" not in (daemon.home / "logs" / "wamc.log").read_text()
