"""Faults, each through real processes: what breaks, which clients recover, how long it takes,
and that every message the simulator delivered is stored exactly once."""

from __future__ import annotations

import asyncio
import os
import signal
import time
from functools import partial
from typing import Any

import psutil
import pytest

from tests.support import Daemon, processes_under, session_on_disk, wait_for

CONTACT = "5511977776666"
FAST = {
    "WAMC_HEARTBEAT_INTERVAL": "0.5",
    "WAMC_HEARTBEAT_TIMEOUT": "4",
    "WAMC_WORKER_GRACE": "6",
    "WAMC_RESTART_BACKOFF_BASE": "0.3",
}


@pytest.fixture
async def fast_daemon(make_daemon: Any) -> Daemon:
    return await make_daemon(FAST)


async def history_ids(daemon: Daemon, client: str, chat: str) -> list[str]:
    ids: list[str] = []
    cursor = None
    while True:
        q = f"?limit=500&before={cursor}" if cursor else "?limit=500"
        code, body = await daemon.call("GET", f"/api/clients/{client}/chats/{chat}/messages{q}")
        assert code == 200, body
        ids += [m["id"] for m in body["messages"]]
        cursor = body["next_before"]
        if not cursor:
            return ids


def alive(pid: int | None) -> bool:
    if not pid:
        return False
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.Error:
        return False


async def wait_recovered(daemon: Daemon, client: str, old_pid: int) -> tuple[dict[str, Any], float]:
    started = time.monotonic()

    async def probe() -> dict[str, Any] | None:
        s = await daemon.status(client)
        return s if s["state"] == "connected" and s["pid"] not in (None, old_pid) else None

    st = await wait_for(probe, 60, what=f"{client} to recover")
    return st, time.monotonic() - started


async def test_browser_killed_worker_hung_and_crash_loop(
    fast_daemon: Daemon, sim_http: Any
) -> None:
    """SIGKILL of a client's Chromium and SIGSTOP of a worker: both clients come back connected
    without a QR; the other client is untouched; the dead processes do not linger."""
    d = fast_daemon
    a = await d.connect_scanned(sim_http, "acme", "5511911110001")
    b = await d.connect_scanned(sim_http, "bolt", "5511911110002")
    for c in ("acme", "bolt"):  # killed before Chromium flushed the login, it would be lost
        await wait_for(partial(session_on_disk, d.home / "sessions" / c / "profile"), 30)

    # 1. Chromium SIGKILLed: the worker sees its browser die and is replaced.
    os.killpg(a["browser_pid"], signal.SIGKILL)
    st, took = await wait_recovered(d, "acme", a["pid"])
    assert st["browser_pid"] != a["browser_pid"] and st["restarts"] == 1
    await wait_for(lambda: not alive(a["pid"]), 15, what="old acme worker gone")
    print(f"acme recovered from a killed browser in {took:.1f}s")

    # 2. Worker hung (SIGSTOP): no heartbeat → killed with its browser → restarted.
    os.kill(b["pid"], signal.SIGSTOP)
    st_b, took = await wait_recovered(d, "bolt", b["pid"])
    assert "heartbeat" in (st_b["last_error"] or "")
    await wait_for(
        lambda: not alive(b["pid"]) and not alive(b["browser_pid"]), 15, what="hung tree gone"
    )
    print(f"bolt recovered from a hang in {took:.1f}s")

    assert (await d.status("acme"))["pid"] == st["pid"]  # acme untouched by bolt's trouble
    # No QR was ever needed again: same accounts.
    assert st["me"] == a["me"] and st_b["me"] == b["me"]


async def test_crash_loop_ends_failed_and_connect_retries(make_daemon: Any) -> None:
    d = await make_daemon(
        {**FAST, "WAMC_BROWSER_PATH": "/bin/false", "WAMC_MAX_FAST_FAILURES": "3"}
    )
    code, _ = await d.call("POST", "/api/clients/doomed/connect")
    assert code == 202
    st = await d.wait_state("doomed", "failed", timeout=60)
    assert st["restarts"] == 3 and "failures" in st["last_error"]
    assert st["pid"] is None
    # failed stays failed (no more restarts) until an operator acts.
    code, again = await d.call("POST", "/api/clients/doomed/connect")
    assert code == 202 and again["state"] == "starting"


async def test_daemon_sigkill_then_new_daemon_adopts_workers(
    fast_daemon: Daemon, sim_http: Any
) -> None:
    """kill -9 of the daemon and a new one within 5 s: same worker pids, still connected, and the
    messages that arrived while no daemon ran are stored exactly once."""
    d = fast_daemon
    a = await d.connect_scanned(sim_http, "acme", "5511922220001")
    b = await d.connect_scanned(sim_http, "bolt", "5511922220002")
    await d.stop(signal.SIGKILL)
    down_ids = [
        await sim_http.deliver("5511922220001", CONTACT, f"while down {i}") for i in range(5)
    ]
    await d.start()
    for before in (a, b):
        st = await d.status(before["id"])
        assert st["pid"] == before["pid"] and st["browser_pid"] == before["browser_pid"]
        assert st["state"] == "connected"
    chat = f"{CONTACT}@c.us"
    ids = await wait_for(
        lambda: _has_all(d, "acme", chat, down_ids),
        30,
        what="messages sent while the daemon was down",
    )
    assert len(ids) == len(set(ids))
    assert (await d.status("acme"))["last_message_at"]  # known to the new daemon from the store
    # Still live both ways after adoption.
    code, sent = await d.call(
        "POST", "/api/clients/bolt/send-message", json={"to": CONTACT, "text": "after"}
    )
    assert code == 201, sent


async def _has_all(d: Daemon, client: str, chat: str, wanted: list[str]) -> list[str] | None:
    ids = await history_ids(d, client, chat)
    return ids if set(wanted) <= set(ids) else None


async def test_daemon_gone_for_good_leaves_no_orphans(fast_daemon: Daemon, sim_http: Any) -> None:
    """kill -9 and no new daemon: workers and Chromium exit after the grace period."""
    d = fast_daemon
    a = await d.connect_scanned(sim_http, "acme", "5511933330001")
    assert alive(a["browser_pid"])
    await d.stop(signal.SIGKILL)
    # Grace, then the worker's own close: up to 15 s for Chromium to exit and 5 s to reap it before
    # it kills what is left, so a loaded machine may need more than half a minute.
    await wait_for(lambda: not processes_under(d.home), 60, what="every worker and browser to exit")
    assert not alive(a["pid"]) and not alive(a["browser_pid"])


async def test_daemon_restart_under_steady_traffic_loses_nothing(
    fast_daemon: Daemon, sim_http: Any
) -> None:
    """A steady stream of incoming messages to three clients while the daemon restarts twice:
    every message appears exactly once in its client's history."""
    d = fast_daemon
    phones = {"c1": "5511944440001", "c2": "5511944440002", "c3": "5511944440003"}
    pids = {}
    for client, phone in phones.items():
        pids[client] = (await d.connect_scanned(sim_http, client, phone))["pid"]
    delivered: dict[str, list[str]] = {c: [] for c in phones}
    stop = asyncio.Event()

    async def traffic() -> None:
        i = 0
        while not stop.is_set() and i < 300:  # bounded
            for client, phone in phones.items():
                delivered[client].append(await sim_http.deliver(phone, CONTACT, f"msg {i}"))
            i += 1
            await asyncio.sleep(0.05)  # pacing of the load generator, not synchronisation

    sender = asyncio.create_task(traffic())
    for sig in (signal.SIGTERM, signal.SIGKILL):
        await wait_for(lambda: sum(map(len, delivered.values())) > 30, 30, what="traffic flowing")
        await d.stop(sig)
        await d.start()
    stop.set()
    await sender
    chat = f"{CONTACT}@c.us"
    for client in phones:
        ids = await wait_for(
            lambda c=client: _has_all(d, c, chat, delivered[c]), 60, what=f"{client} complete"
        )
        assert len(ids) == len(set(ids)) == len(delivered[client])
        assert (await d.status(client))["pid"] == pids[client]  # adopted, never restarted
    print(f"stored exactly once: {sum(map(len, delivered.values()))} messages across 2 restarts")


async def test_memory_ceiling_recycles_the_browser_keeping_the_session(
    make_daemon: Any, sim_http: Any
) -> None:
    """A tree over the ceiling is restarted at a quiet moment; it comes back logged in."""
    d = await make_daemon(
        {**FAST, "WAMC_MEMORY_LIMIT_MB": "5000", "WAMC_RECYCLE_CHECK_INTERVAL": "0.5"}
    )
    a = await d.connect_scanned(sim_http, "acme", "5511966660001")
    assert a["memory_bytes"] and a["memory_bytes"] < 5000 * 1024 * 1024
    await d.stop()  # workers are adopted by the next daemon, which has a tiny ceiling
    d.env["WAMC_MEMORY_LIMIT_MB"] = str(a["memory_bytes"] // (2 * 1024 * 1024))
    await d.start()
    st, took = await wait_recovered(d, "acme", a["pid"])
    assert st["me"] == a["me"] and st["restarts"] >= 1
    log = (d.home / "logs" / "wamc.log").read_text()
    assert "recycling the browser (memory ceiling" in log
    print(f"recycled and reconnected in {took:.1f}s")


async def test_backfill_recovers_messages_that_arrived_while_no_worker_ran(
    fast_daemon: Daemon, sim_http: Any
) -> None:
    """Messages synced silently into the page while the client was down are delivered once."""
    d = fast_daemon
    phone = "5511977770001"
    await d.connect_scanned(sim_http, "acme", phone)
    chat = f"{CONTACT}@c.us"
    live = await sim_http.deliver(phone, CONTACT, "live one")
    await wait_for(lambda: _has_all(d, "acme", chat, [live]), 30, what="live message stored")
    await d.call("POST", "/api/clients/acme/disconnect")
    await d.wait_state("acme", "stopped")
    queued = [await sim_http.deliver(phone, CONTACT, f"queued {i}") for i in range(3)]
    await d.call("POST", "/api/clients/acme/connect")
    await d.wait_state("acme", "connected")
    ids = await wait_for(lambda: _has_all(d, "acme", chat, [live, *queued]), 30, what="backfill")
    assert len(ids) == len(set(ids)) == 4


async def test_restore_starts_clients_again_with_bounded_concurrency(
    make_daemon: Any, sim_http: Any
) -> None:
    """Clients meant to run are started again after a full stop, one browser booting at a time,
    and logged-in clients come back connected without a QR."""
    d = await make_daemon({**FAST, "WAMC_START_CONCURRENCY": "1"})
    phones = {"r1": "5511988880001", "r2": "5511988880002", "r3": "5511988880003"}
    for client, phone in phones.items():
        await d.connect_scanned(sim_http, client, phone)
    code, _ = await d.call("POST", "/api/clients/r3/disconnect")  # r3 is meant to stay stopped
    await d.wait_state("r3", "stopped")
    await d.call("POST", "/api/shutdown")  # a full stop: every worker ends
    await d.stop()
    await wait_for(lambda: not processes_under(d.home), 30, what="full stop")
    log_start = len((d.home / "logs" / "wamc.log").read_text().splitlines())
    await d.start()
    for client in ("r1", "r2"):
        st = await d.wait_state(client, "connected")
        assert st["me"] == f"{phones[client]}@c.us"
        assert st["restarts"] == 0  # a full stop is not a crash
    assert (await d.status("r3"))["state"] == "stopped"
    lines = (d.home / "logs" / "wamc.log").read_text().splitlines()[log_start:]
    # With one start slot, the second worker starts only after the first left "starting".
    events = [
        (line.split("[")[1].split("]")[0], "spawn" if "worker started" in line else "settled")
        for line in lines
        if "worker started" in line or "state starting -> " in line
    ]
    spawns = [i for i, (_, kind) in enumerate(events) if kind == "spawn"]
    assert len(spawns) == 2, events
    first = events[spawns[0]][0]
    settled_first = next(i for i, (c, k) in enumerate(events) if c == first and k == "settled")
    assert settled_first < spawns[1], events
