"""When to recycle a client's browser: a memory ceiling on the whole tree and an optional
periodic restart. WhatsApp Web grows from ~300 MB to over 1 GB per browser in weeks. Pure logic."""

from __future__ import annotations

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
