"""The supervisor's background checks: the recycler (memory ceiling, age, periodic profile
snapshots, at a quiet moment) and the heartbeat watchdog."""

from __future__ import annotations

import asyncio
import time
import zlib

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

    Each interval is cut in ``HEARTBEAT_SLICES`` ticks, each for the clients of its slice (fixed
    by the client's id): 200 workers woken in the same millisecond every second held incoming
    messages for ≈ 50 ms (bench/bench_scale.py, 50 msg/s over 200 clients: the slow events came
    once a second). Ticks keep to absolute deadlines: a late loop catches up on the slices it
    missed (at most one round), so a client's heartbeats are never ten wake-ups' lateness apart."""
    tick = sup.settings.heartbeat_interval / HEARTBEAT_SLICES
    frame = F.Heartbeat()
    due, slice_no = time.monotonic() + tick, 0
    while True:
        await asyncio.sleep(max(0.0, due - time.monotonic()))
        now = time.monotonic()
        slices, slice_no, due = due_slices(slice_no, due, now, tick)
        for client in list(sup.registry.clients.values()):
            if client.handle is None or heartbeat_slice(client.id) not in slices:
                continue
            sup.link.send_to(client, frame)
            if (
                now - client.last_seen > sup.settings.heartbeat_timeout
                and client.kill_reason is None
            ):
                client.kill_reason = f"{HEARTBEAT_LOST}{now - client.last_seen:.0f}s"
                client_log(client).warning("worker unresponsive: killing it")
                sup.backend.kill(client.handle, client.browser_pid)


def due_slices(slice_no: int, due: float, now: float, tick: float) -> tuple[set[int], int, float]:
    """The slices due at ``now`` (``slice_no``'s tick was due at ``due``): every one missed,
    at most a round; then the next slice and its deadline (after a stall longer than a round,
    a tick from now)."""
    missed = min(HEARTBEAT_SLICES, int((now - due) / tick) + 1) if now >= due else 0
    slices = {(slice_no + k) % HEARTBEAT_SLICES for k in range(missed)}
    due += missed * tick
    if due <= now:
        due = now + tick
    return slices, (slice_no + missed) % HEARTBEAT_SLICES, due


def heartbeat_slice(client_id: str) -> int:
    """The client's tick in each heartbeat interval: its id's, so deletes never move it."""
    return zlib.crc32(client_id.encode()) % HEARTBEAT_SLICES
