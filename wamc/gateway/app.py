"""aiohttp application factory: typed app keys, middlewares (auth, problem+json), one route table."""

from __future__ import annotations

import hmac
import json
from typing import Any

from aiohttp import web
from loguru import logger

from wamc.clients import ClientManager
from wamc.config import Settings
from wamc.errors import ApiError
from wamc.events import EventBus
from wamc.store import Store

SETTINGS = web.AppKey("settings", Settings)
MANAGER = web.AppKey("manager", ClientManager)
BUS = web.AppKey("bus", EventBus)
STORE = web.AppKey("store", Store)
API_KEY = web.AppKey("api_key", str)
STARTED_AT = web.AppKey("started_at", str)

PROBLEM_JSON = "application/problem+json"
MAX_BODY = 256 * 1024


def problem(err: ApiError) -> web.Response:
    return web.Response(
        status=err.status, text=json.dumps(err.to_problem()), content_type=PROBLEM_JSON
    )


def _needs_key(request: web.Request) -> bool:
    path = request.path
    return path.startswith("/api/") or path == "/api" or path == "/ws"


def presented_key(request: web.Request) -> str | None:
    key = request.headers.get("X-Api-Key")
    if key:
        return key
    auth = request.headers.get("Authorization", "")
    if auth.lower().startswith("bearer "):
        return auth[7:].strip()
    if request.path == "/ws":
        return request.query.get("api_key")
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


@web.middleware
async def auth_middleware(request: web.Request, handler: Any) -> web.StreamResponse:
    if _needs_key(request):
        key = presented_key(request)
        expected = request.app[API_KEY]
        if not key or not hmac.compare_digest(key.encode(), expected.encode()):
            raise ApiError("unauthorized", "send the API key in the X-Api-Key header")
    return await handler(request)


def create_app(
    settings: Settings,
    manager: ClientManager,
    bus: EventBus,
    store: Store,
    api_key: str,
    started_at: str,
) -> web.Application:
    from wamc.gateway.routes import ROUTES

    app = web.Application(
        middlewares=[errors_middleware, auth_middleware], client_max_size=MAX_BODY
    )
    app[SETTINGS] = settings
    app[MANAGER] = manager
    app[BUS] = bus
    app[STORE] = store
    app[API_KEY] = api_key
    app[STARTED_AT] = started_at
    app.add_routes(ROUTES)
    return app
