"""Public, key-less endpoints."""

from __future__ import annotations

import asyncio
import os

from aiohttp import web

from wamc import __version__
from wamc.gateway.app import MANAGER, STARTED_AT
from wamc.states import ClientState
from wamc.timeutil import utc_now_iso

STOP = web.AppKey("stop", asyncio.Event)
FULL_STOP = web.AppKey("full_stop", bool)


async def health(request: web.Request) -> web.Response:
    clients = request.app[MANAGER].clients.values()
    counts = {state.value: 0 for state in ClientState}
    for c in clients:
        counts[c.state.value] += 1
    active = sum(1 for c in clients if c.handle is not None)
    return web.json_response(
        {
            "status": "ok",
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
