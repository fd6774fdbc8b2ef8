"""aiohttp application factory: typed app keys, middlewares (auth, problem+json), one route table."""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator
from typing import Any

from aiohttp import web
from loguru import logger

from wamc.audit import AuditLog
from wamc.auth import StreamTickets, Tokens
from wamc.clients import ClientManager
from wamc.config import Settings
from wamc.errors import ApiError
from wamc.events import EventBus
from wamc.gateway.addresses import parse_networks
from wamc.gateway.streams import Streams
from wamc.ratelimit import ApiLimiter, AuthFailureLimiter, Idempotency, SendPacer
from wamc.storage import Database
from wamc.webhooks import WebhookService

SETTINGS = web.AppKey("settings", Settings)
MANAGER = web.AppKey("manager", ClientManager)
BUS = web.AppKey("bus", EventBus)
STORE = web.AppKey("store", Database)
API_KEY = web.AppKey("api_key", str)
STARTED_AT = web.AppKey("started_at", str)
TOKENS = web.AppKey("tokens", Tokens)
LIMITER = web.AppKey("limiter", ApiLimiter)
PACER = web.AppKey("pacer", SendPacer)
IDEMPOTENCY = web.AppKey("idempotency", Idempotency)
AUDIT = web.AppKey("audit", AuditLog)
WEBHOOKS = web.AppKey("webhooks", WebhookService)
STREAMS = web.AppKey("streams", Streams)
AUTH_FAILURES = web.AppKey("auth_failures", AuthFailureLimiter)
PROXIES = web.AppKey("trusted_proxies", tuple)
TICKETS = web.AppKey("tickets", StreamTickets)

PROBLEM_JSON = "application/problem+json"
MAX_BODY = 256 * 1024


def problem(err: ApiError) -> web.Response:
    retry_after = getattr(err, "retry_after", None)  # 429s (wamc.ratelimit.Throttled)
    return web.Response(
        status=err.status,
        text=json.dumps(err.to_problem()),
        content_type=PROBLEM_JSON,
        headers={"Retry-After": str(retry_after)} if retry_after else None,
    )


def presented_key(request: web.Request) -> str | None:
    key = request.headers.get("X-Api-Key")
    if key:
        return key
    auth = request.headers.get("Authorization", "")
    if auth.lower().startswith("bearer "):
        return auth[7:].strip()
    if request.path == "/ws":
        return request.query.get("api_key")  # kept for compatibility: prefer ?ticket=
    return None


@web.middleware
async def errors_middleware(request: web.Request, handler: Any) -> web.StreamResponse:
    try:
        return await handler(request)
    except ApiError as err:
        return problem(err)
    except web.HTTPRequestEntityTooLarge:
        return problem(ApiError("payload_too_large", f"bodies are limited to {MAX_BODY} bytes"))
    except web.HTTPNotFound:
        return problem(ApiError("not_found", f"no route for {request.method} {request.path}"))
    except web.HTTPMethodNotAllowed:
        return problem(
            ApiError("method_not_allowed", f"{request.method} is not allowed on {request.path}")
        )
    except web.HTTPException:
        raise
    except Exception:
        logger.exception("unhandled error on {} {}", request.method, request.path)
        return problem(ApiError("internal_error", "the request could not be completed"))


def create_app(
    settings: Settings,
    manager: ClientManager,
    bus: EventBus,
    store: Database,
    api_key: str,
    started_at: str,
) -> web.Application:
    from wamc.gateway.routes import ROUTES
    from wamc.gateway.security import on_prepare, security_middleware

    app = web.Application(
        middlewares=[errors_middleware, security_middleware], client_max_size=MAX_BODY
    )
    app[TOKENS] = Tokens(store, api_key)  # admin key + per-client tokens (wamc/auth.py)
    app[TICKETS] = StreamTickets(app[TOKENS])
    app[STREAMS] = Streams(settings.max_streams_per_key)
    app[AUTH_FAILURES] = AuthFailureLimiter(settings.auth_failures_per_minute)
    app[PROXIES] = parse_networks(settings.trusted_proxies)  # checked by the daemon at start
    app[LIMITER] = ApiLimiter(
        settings.api_rate_per_minute, settings.api_rate_burst, settings.admin_rate_per_minute
    )
    app[PACER] = SendPacer(settings.send_interval, settings.send_jitter, settings.send_queue_size)
    app[IDEMPOTENCY] = Idempotency(store)
    app[AUDIT] = AuditLog(store, settings.logs_dir / "audit.log")
    app.on_startup.append(_load_tokens)
    app.cleanup_ctx.append(_audit_retention)
    app.on_response_prepare.append(on_prepare)
    app[SETTINGS] = settings
    app[MANAGER] = manager
    app[BUS] = bus
    app[STORE] = store
    app[API_KEY] = api_key
    app[STARTED_AT] = started_at
    app.add_routes(ROUTES)
    return app


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
