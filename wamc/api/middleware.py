"""The two middlewares: problem+json answers, and the security check around every handler.

``errors_middleware`` turns every domain refusal (``wamc.errors.Refused``) and aiohttp's own
404/405/413 into an RFC 9457 problem (wamc/api/problems.py) with a stable ``code``; nothing else
leaks. ``security_middleware``, in this order:
CORS preflight → public routes pass → per-address limit on failed sign-ins → key (or a stream
ticket) → per-key rate limit → the scope of the matched route-table entry and the client of the
path → handler → audit entry (calls without a valid key: aggregated). A path without an entry
(an unknown ``/api`` path, a HEAD) needs the admin key.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

from aiohttp import hdrs, web
from loguru import logger

from wamc.api.addresses import client_address
from wamc.api.keys import (
    AUDIT,
    AUTH_FAILURES,
    LIMITER,
    METRICS,
    PROXIES,
    ROUTE_OF,
    SETTINGS,
    TICKETS,
    TOKENS,
)
from wamc.api.problems import problem, status_of
from wamc.api.spec import Route
from wamc.errors import Refused
from wamc.security import Principal
from wamc.security.auth import METRICS_SCOPE

MAX_BODY = 256 * 1024
PRINCIPAL = "wamc.principal"
PRIVATE = "wamc.private"  # the answer must not be cached (Cache-Control: no-store)
PROBLEM_CODE = "wamc.problem_code"
STREAM_PATHS = frozenset({"/ws", "/api/events"})
METRICS_PATH = "/metrics"
ANY_KEY = "any"  # an operation any valid key may call, whatever its scopes
READ_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
CORS_HEADERS = "X-Api-Key, Authorization, Content-Type, Idempotency-Key"
CORS_METHODS = "GET, POST, DELETE, OPTIONS"
BASE_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
}


@web.middleware
async def errors_middleware(request: web.Request, handler: Any) -> web.StreamResponse:
    """Problem answers (``_answer``); every answer counted and timed by its route template."""
    started = time.perf_counter()
    status = 500
    try:
        response = await _answer(request, handler)
        status = response.status
        return response
    except web.HTTPException as exc:
        status = exc.status
        raise
    except asyncio.CancelledError:
        status = 499  # the client went away
        raise
    finally:
        elapsed = time.perf_counter() - started
        request.app[METRICS].http.observe(request, status, elapsed, request.get(PROBLEM_CODE))


async def _answer(request: web.Request, handler: Any) -> web.StreamResponse:
    try:
        return await handler(request)
    except Refused as err:
        request[PROBLEM_CODE] = err.code  # a failed send is counted by its code
        return problem(err)
    except web.HTTPRequestEntityTooLarge:
        return problem(Refused("payload_too_large", f"bodies are limited to {MAX_BODY} bytes"))
    except web.HTTPNotFound:
        return problem(Refused("not_found", f"no route for {request.method} {request.path}"))
    except web.HTTPMethodNotAllowed:
        return problem(
            Refused("method_not_allowed", f"{request.method} is not allowed on {request.path}")
        )
    except (web.HTTPException, ConnectionResetError):  # the latter: the caller is gone
        raise
    except Exception:
        logger.exception("unhandled error on {} {}", request.method, request.path)
        return problem(Refused("internal_error", "the request could not be completed"))


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


def needs_key(path: str) -> bool:
    return path.startswith("/api/") or path in ("/api", "/ws", METRICS_PATH)


def principal_of(request: web.Request) -> Principal | None:
    return request.get(PRINCIPAL)


def route_of(request: web.Request) -> Route | None:
    """The route-table entry the matched aiohttp route was built from (None: no entry)."""
    return request.app[ROUTE_OF].get(request.match_info.route)


def _allowed_origin(request: web.Request) -> str | None:
    origin = request.headers.get(hdrs.ORIGIN)
    raw = request.app[SETTINGS].cors_origins.strip()
    if not origin or not raw:
        return None
    allowed = {o.strip().rstrip("/") for o in raw.split(",") if o.strip()}
    return origin if "*" in allowed or origin.rstrip("/") in allowed else None


def _preflight(origin: str) -> web.Response:
    return web.Response(
        status=204,
        headers={
            hdrs.ACCESS_CONTROL_ALLOW_ORIGIN: origin,
            hdrs.ACCESS_CONTROL_ALLOW_METHODS: CORS_METHODS,
            hdrs.ACCESS_CONTROL_ALLOW_HEADERS: CORS_HEADERS,
            hdrs.ACCESS_CONTROL_MAX_AGE: "600",
            hdrs.VARY: "Origin",
        },
    )


@web.middleware
async def security_middleware(request: web.Request, handler: Any) -> web.StreamResponse:
    origin = _allowed_origin(request)
    if (
        origin
        and request.method == "OPTIONS"
        and request.headers.get(hdrs.ACCESS_CONTROL_REQUEST_METHOD)
    ):
        return _preflight(origin)
    if origin:
        request["wamc.cors"] = origin
    entry = route_of(request)
    path = entry.path if entry is not None else request.path  # a template keeps the prefix
    request[PRIVATE] = needs_key(path) or path == "/openapi.json"
    public = entry.scope == "public" if entry is not None else not needs_key(path)
    if public:
        return await handler(request)
    return await _guarded(request, handler, entry)


async def _guarded(request: web.Request, handler: Any, entry: Route | None) -> web.StreamResponse:
    """Admit the key, run the handler, and leave an audit entry whatever happened."""
    if entry is not None:
        action, scope = entry.op_id, entry.scope
    else:
        action, scope = getattr(request.match_info.handler, "__name__", "unknown"), "admin"
    client = request.match_info.get("id")
    address = client_address(request, request.app[PROXIES])
    status, result = 500, "internal_error"
    try:
        _admit(request, address, scope, client)
        response = await handler(request)
        status, result = response.status, "ok"
        return response
    except Refused as err:
        status, result = status_of(err.code), err.code
        raise
    except web.HTTPException as exc:
        status, result = exc.status, exc.reason.lower().replace(" ", "_")
        raise
    except ConnectionResetError:  # the caller went away (e.g. an upload aborted): not ours
        status, result = 499, "caller_gone"
        logger.info("{} {}: the caller went away", request.method, request.path)
        raise
    finally:
        await _audit(request, action, client, address, status, result)


def _admit(request: web.Request, address: str, scope: str, client: str | None) -> None:
    failures = request.app[AUTH_FAILURES]
    failures.check(address)  # before any key is looked at
    principal = _authenticate(request, scope)
    if principal is None:
        failures.failed(address)
        raise Refused("unauthorized", "send a valid key in X-Api-Key or Authorization: Bearer")
    request[PRINCIPAL] = principal
    request.app[LIMITER].hit(principal.key_id, admin=principal.is_admin)
    if scope != ANY_KEY:
        principal.check(scope, client)
    if request.path == "/ws" and not _is_upgrade(request):
        raise Refused("upgrade_required", "/ws is a WebSocket: send Upgrade: websocket")


async def _audit(
    request: web.Request, action: str, client: str | None, address: str, status: int, result: str
) -> None:
    """Every change and every refusal by key; calls without a valid key, aggregated."""
    audit = request.app[AUDIT]
    principal = principal_of(request)
    if principal is None:
        await audit.record_failure(
            action=action,
            method=request.method,
            path=request.path,
            status=status,
            result=result,
            remote=address,
        )
    elif request.method not in READ_METHODS or status in (401, 403, 429):
        await audit.record(
            key_id=principal.key_id,
            action=action,
            method=request.method,
            path=request.path,
            client=client,
            status=status,
            result=result,
            remote=address,
        )


def _authenticate(request: web.Request, scope: str) -> Principal | None:
    """A key in a header (or ``?api_key=`` on /ws, kept for compatibility), or a stream ticket;
    on the metrics route also WAMC_METRICS_TOKEN (and nowhere else)."""
    if request.path in STREAM_PATHS and "ticket" in request.query:
        return request.app[TICKETS].redeem(request.query.get("ticket"))
    if scope == METRICS_SCOPE:
        return request.app[TOKENS].authenticate_metrics(presented_key(request))
    return request.app[TOKENS].authenticate(presented_key(request))


def _is_upgrade(request: web.Request) -> bool:
    return (
        request.method == "GET"
        and "websocket" in request.headers.get(hdrs.UPGRADE, "").lower()
        and "upgrade" in request.headers.get(hdrs.CONNECTION, "").lower()
    )


def ws_clients(request: web.Request, wanted: frozenset[str] | None) -> frozenset[str] | None:
    """The clients a stream may follow: a client token only ever gets its own client."""
    principal = principal_of(request)
    if principal is None or principal.is_admin:
        return wanted
    own = principal.client or ""
    if wanted is not None and wanted - {own}:
        raise Refused("forbidden", "this token belongs to another client", field="clients")
    return frozenset({own})


async def on_prepare(request: web.Request, response: web.StreamResponse) -> None:
    headers = response.headers
    for name, value in BASE_HEADERS.items():
        headers.setdefault(name, value)
    private = request.get(PRIVATE)  # set by security_middleware (the path is not parsed twice)
    if private is None:
        private = needs_key(request.path) or request.path == "/openapi.json"
    if private:
        headers.setdefault("Cache-Control", "no-store")
    origin = request.get("wamc.cors")
    if origin:
        response.headers[hdrs.ACCESS_CONTROL_ALLOW_ORIGIN] = origin
        response.headers[hdrs.ACCESS_CONTROL_EXPOSE_HEADERS] = "Retry-After, Idempotent-Replayed"
        response.headers[hdrs.VARY] = "Origin"
