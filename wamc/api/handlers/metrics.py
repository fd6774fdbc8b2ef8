"""``GET /metrics``: Prometheus text format (the admin key or WAMC_METRICS_TOKEN)."""

from __future__ import annotations

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from wamc.api.keys import METRICS, SCRAPE, STORE


async def metrics(request: web.Request) -> web.Response:
    await request.app[SCRAPE].refresh(request.app[STORE])  # the outbox, counted in SQLite
    body = generate_latest(request.app[METRICS].registry)
    return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE_LATEST})
