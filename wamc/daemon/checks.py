"""The supervisor's background checks: the recycler (memory ceiling, age, periodic profile
snapshots, at a quiet moment) and the heartbeat watchdog."""

from __future__ import annotations

import asyncio
import time

from wamc.daemon.recycle import HEARTBEAT_LOST, RECYCLE, recycle_reason
from wamc.daemon.registry import client_log
from wamc.daemon.supervision import Supervisor
from wamc.states import ClientState
from wamc.wire import frames as F

HEARTBEAT_SLICES = 10


async def recycler(sup: Supervisor) -> None:
    """Restart browsers past the memory ceiling or the recycle age, at a quiet moment."""
    s = sup.settings
    while True:
        await asyncio.sleep(s.recycle_check_interval)
        for client in list(sup.registry.clients.values()):
            if client.handle is None or client.kill_reason or client.state != ClientState.CONNECTED:
                continue
            usage = client.usage()
            uptime = time.monotonic() - client.started_mono if client.started_mono else None
            reason = recycle_reason(
                usage.get("memory_bytes"),
                s.memory_limit_mb,
                uptime,
                s.recycle_hours,
                client.inflight,
            ) or sup.profiles.snapshot_due(client)
            if reason:
                client_log(client).warning("recycling the browser ({}), session kept", reason)
                client.kill_reason = RECYCLE + reason
                client.wake.set()


async def watchdog(sup: Supervisor) -> None:
    """Heartbeats to every worker; a worker silent past the timeout is killed and restarted.

    Each interval is cut in ``HEARTBEAT_SLICES`` ticks, each for its share of the clients: 200
    workers woken in the same millisecond every second held incoming messages for ≈ 50 ms
    (bench/bench_scale.py, 50 msg/s over 200 clients: the slow events came once a second)."""
    tick = sup.settings.heartbeat_interval / HEARTBEAT_SLICES
    frame = F.Heartbeat()
    slice_no = 0
    while True:
        await asyncio.sleep(tick)
        slice_no = (slice_no + 1) % HEARTBEAT_SLICES
        now = time.monotonic()
        clients = list(sup.registry.clients.values())
        for client in clients[slice_no::HEARTBEAT_SLICES]:
            if client.handle is None:
                continue
            sup.link.send_to(client, frame)
            if (
                now - client.last_seen > sup.settings.heartbeat_timeout
                and client.kill_reason is None
            ):
                client.kill_reason = f"{HEARTBEAT_LOST}{now - client.last_seen:.0f}s"
                client_log(client).warning("worker unresponsive: killing it")
                sup.backend.kill(client.handle, client.browser_pid)
