"""When to recycle a client's browser: a memory ceiling on the whole tree and an optional
periodic restart. WhatsApp Web grows from ~300 MB to over 1 GB per browser in weeks. Pure logic.
Also why a worker restarted (the kill reasons the daemon sets, and the exit's cause)."""

from __future__ import annotations

from wamc.wire.process import EXIT_ROOT_REFUSED

MB = 1024 * 1024


def recycle_reason(
    memory_bytes: int | None,
    memory_limit_mb: float,
    uptime_seconds: float | None,
    recycle_hours: float,
    requests_in_flight: int,
) -> str | None:
    """Why the worker should be restarted now, or None. Never while a request (a send) runs."""
    if requests_in_flight:
        return None
    if memory_limit_mb > 0 and memory_bytes is not None and memory_bytes > memory_limit_mb * MB:
        return f"memory ceiling: {memory_bytes / MB:.0f} MB > {memory_limit_mb:.0f} MB"
    if recycle_hours > 0 and uptime_seconds is not None and uptime_seconds > recycle_hours * 3600:
        return f"periodic recycle after {uptime_seconds / 3600:.1f} h"
    return None


# Kill reasons (``Client.kill_reason``) the daemon sets itself.
RESTART_REQUESTED = "restart requested"
RECYCLE = "recycle: "  # + recycle_reason()
HEARTBEAT_LOST = "no heartbeat for "  # + seconds
FRAME_OVERSIZE = "frame over the size cap"

# Why a worker meant to keep running exited: the cause label of wamc_worker_restarts_total.
RESTART_CAUSES = (
    "requested",  # POST /api/clients/{id}/restart
    "recycle",  # memory ceiling or periodic recycle
    "heartbeat",  # killed by the watchdog
    "oversize_frame",  # killed: a frame over the size cap
    "root_refused",  # refused to run as root (it is not restarted)
    "worker_failed",  # the worker reported itself failed and exited
    "crash",  # an exit nobody asked for
)


def restart_cause(kill_reason: str | None, code: int) -> str:
    """Classify the exit of a worker that was meant to keep running (not a stop)."""
    reason = kill_reason or ""
    if reason == RESTART_REQUESTED:
        return "requested"
    if reason.startswith(RECYCLE):
        return "recycle"
    if reason.startswith(HEARTBEAT_LOST):
        return "heartbeat"
    if reason == FRAME_OVERSIZE:
        return "oversize_frame"
    if code == EXIT_ROOT_REFUSED:
        return "root_refused"
    return "worker_failed" if reason else "crash"
