"""The aiohttp application factory: services under typed keys (``keys.py``), the router built
from the one route table with each handler behind its gate (``middleware.py``), and the tasks
the app owns."""

from __future__ import annotations

import asyncio
import contextlib
import time
import warnings
from collections.abc import AsyncIterator, Iterable

from aiohttp import web
from aiohttp.web_urldispatcher import AbstractRoute

from wamc.api.addresses import parse_networks
from wamc.api.handlers.portal import close_expired_streams
from wamc.api.keys import (
    API_KEY,
    AUDIT,
    AUTH_FAILURES,
    BUS,
    IDEMPOTENCY,
    LIMITER,
    MANAGER,
    METRICS,
    NUMBER_LOOKUPS,
    PACER,
    PROXIES,
    ROUTE_OF,
    ROUTE_TABLE,
    SCRAPE,
    SETTINGS,
    STARTED_AT,
    STORE,
    STREAMS,
    TICKETS,
    TOKENS,
    WEBHOOKS,
)
from wamc.api.metrics import Metrics
from wamc.api.middleware import MAX_BODY, Gate
from wamc.api.router import Router
from wamc.api.routes import ROUTES
from wamc.api.scrape import DaemonCollector
from wamc.api.spec import Route
from wamc.api.streams import Streams
from wamc.config import Settings
from wamc.daemon import ClientManager
from wamc.events import EventBus
from wamc.security import (
    ApiLimiter,
    AuditLog,
    AuthFailureLimiter,
    Idempotency,
    SendPacer,
    StreamTickets,
    Tokens,
)
from wamc.storage import Database


def create_app(
    settings: Settings,
    manager: ClientManager,
    bus: EventBus,
    store: Database,
    api_key: str,
    started_at: str,
) -> web.Application:
    metrics = Metrics()
    with warnings.catch_warnings():  # "router argument is deprecated" (aiohttp 3): still the way
        warnings.simplefilter("ignore", DeprecationWarning)
        app = web.Application(router=Router(), client_max_size=MAX_BODY)
    app[METRICS] = metrics  # before the routes: each gate holds its metric series
    app[TOKENS] = Tokens(store, api_key, settings.metrics_token)  # admin key, client tokens
    app[TICKETS] = StreamTickets(app[TOKENS])
    app[STREAMS] = Streams(settings.max_streams_per_key)
    app[AUTH_FAILURES] = AuthFailureLimiter(settings.auth_failures_per_minute)
    app[PROXIES] = parse_networks(settings.trusted_proxies)  # checked by the daemon at start
    app[LIMITER] = ApiLimiter(
        settings.api_rate_per_minute, settings.api_rate_burst, settings.admin_rate_per_minute
    )
    app[PACER] = SendPacer(settings.send_interval, settings.send_jitter, settings.send_queue_size)
    app[NUMBER_LOOKUPS] = ApiLimiter(
        settings.number_lookups_per_minute, settings.number_lookup_burst
    )
    app[IDEMPOTENCY] = Idempotency(store)
    app[AUDIT] = AuditLog(store, settings.logs_dir / "audit.log")
    app.on_startup.append(_load_tokens)
    app.cleanup_ctx.append(_audit_retention)
    app.cleanup_ctx.append(close_expired_streams)  # expiring tokens (portal invites)
    app[SETTINGS] = settings
    app[MANAGER] = manager
    app[BUS] = bus
    app[STORE] = store
    app[API_KEY] = api_key
    app[STARTED_AT] = started_at
    app[ROUTE_TABLE] = ROUTES
    app[ROUTE_OF] = add_routes(app, ROUTES)
    app[SCRAPE] = DaemonCollector(metrics, manager, bus, app[PACER], time.time())
    app.cleanup_ctx.append(_metrics)
    return app


def add_routes(app: web.Application, routes: Iterable[Route]) -> dict[AbstractRoute, Route]:
    """Route every entry behind its gate and return which entry each aiohttp route came from.
    A GET also answers HEAD (as aiohttp's ``web.get`` does), gated as a route without an entry
    (the admin key) and counted under its resource's template."""
    router = app.router
    http = app[METRICS].http
    index: dict[AbstractRoute, Route] = {}
    for entry in routes:
        gate = Gate(app, entry.handler, entry, http.series(entry.path, entry.method))
        if entry.method == "GET":
            route = router.add_get(entry.path, gate.handle, allow_head=False)
            head = http.series(route.resource.canonical if route.resource else entry.path, "HEAD")
            router.add_head(entry.path, Gate(app, entry.handler, None, head).handle)
        else:
            route = router.add_route(entry.method, entry.path, gate.handle)
        index[route] = entry
    if isinstance(router, Router):
        router.gate_unmatched = lambda handler: Gate(app, handler, None, None).handle  # type: ignore[arg-type]  # aiohttp's 404/405 handler
    return index


async def _metrics(app: web.Application) -> AsyncIterator[None]:
    """Follow the event bus; hear of worker exits and webhook attempts (wamc/api/metrics.py)."""
    metrics = app[METRICS]
    app[MANAGER].supervisor.exit_listeners.append(metrics.worker_exited)
    webhooks = app.get(WEBHOOKS)
    if webhooks is not None:
        webhooks.dispatcher.attempt_listeners.append(metrics.webhook_attempt)
    task = asyncio.create_task(metrics.follow(app[BUS]), name="metrics")
    yield
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task


async def _load_tokens(app: web.Application) -> None:
    await app[TOKENS].load()


async def _audit_retention(app: web.Application) -> AsyncIterator[None]:
    days = app[SETTINGS].audit_retention_days
    task = asyncio.create_task(app[AUDIT].retention_loop(days), name="audit-retention")
    yield
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task


async def begin_shutdown(app: web.Application, timeout: float = 1.5) -> None:
    """First step of a daemon stop: queued sends answer 503 ``shutting_down``, every event
    stream is closed (WebSocket 1001, SSE ``event: shutdown``) so no consumer holds the exit."""
    app[PACER].close()
    await app[STREAMS].shutdown(timeout)
