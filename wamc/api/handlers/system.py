"""The daemon itself: health (public), shutdown and the audit log (admin key)."""

from __future__ import annotations

import os

from aiohttp import web

from wamc import __version__
from wamc.api.handlers.health_checks import degraded_reasons
from wamc.api.keys import AUDIT, FULL_STOP, MANAGER, SETTINGS, STARTED_AT, STOP, STORE
from wamc.errors import Refused
from wamc.states import ClientState
from wamc.timeutil import utc_now_iso
from wamc.validation import bounded_int, client_id


async def health(request: web.Request) -> web.Response:
    clients = request.app[MANAGER].clients.values()
    counts = {state.value: 0 for state in ClientState}
    for c in clients:
        counts[c.state.value] += 1
    active = sum(1 for c in clients if c.handle is not None)
    reasons = await degraded_reasons(request.app[SETTINGS], clients, request.app[STORE])
    return web.json_response(
        {
            "status": "degraded" if reasons else "ok",
            "reasons": reasons,
            "timestamp": utc_now_iso(),
            "activeClients": active,
            "clients": sum(counts.values()),
            "states": counts,
            "version": __version__,
            "pid": os.getpid(),
            "started_at": request.app[STARTED_AT],
        }
    )


async def shutdown(request: web.Request) -> web.Response:
    """Stop every worker and then the daemon (``wamc shutdown``). Plain SIGTERM keeps workers."""
    request.app[FULL_STOP] = True
    request.app[STOP].set()
    return web.json_response({"shutting_down": True, "stop_workers": True}, status=202)


async def audit(request: web.Request) -> web.Response:
    q = request.query
    client = client_id(q["client"]) if q.get("client") else None
    key_id = q.get("key_id") or None
    if key_id is not None and len(key_id) > 64:
        raise Refused("invalid_parameter", "'key_id' is at most 64 characters", field="key_id")
    limit = bounded_int(q.get("limit"), "limit", 100, 1, 1000)
    before = bounded_int(q.get("before"), "before", 0, 1, 2**62) if q.get("before") else None
    rows = await request.app[AUDIT].query(client, key_id, limit + 1, before)
    page = rows[:limit]
    next_before = page[-1]["n"] if len(rows) > limit else None
    return web.json_response({"entries": page, "next_before": next_before})
