"""The scope-aware key check, API rate limit, audit trail, CORS and security headers.

One middleware, in this order: CORS preflight → public routes pass → per-address limit on
failed sign-ins → key (or a stream ticket) → per-key rate limit → scope and client of the route
(from ``openapi.OPS``) → handler → audit entry (calls without a valid key: aggregated).
"""

from __future__ import annotations

from typing import Any

from aiohttp import hdrs, web

from wamc.auth import Principal
from wamc.errors import ApiError
from wamc.gateway.addresses import client_address
from wamc.gateway.app import (
    AUDIT,
    AUTH_FAILURES,
    LIMITER,
    MANAGER,
    PROXIES,
    SETTINGS,
    TICKETS,
    TOKENS,
    presented_key,
)
from wamc.gateway.openapi import op_for

PRINCIPAL = "wamc.principal"
STREAM_PATHS = frozenset({"/ws", "/api/events"})
ANY_KEY = "any"  # an operation any valid key may call, whatever its scopes
READ_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
CORS_HEADERS = "X-Api-Key, Authorization, Content-Type, Idempotency-Key"
CORS_METHODS = "GET, POST, DELETE, OPTIONS"
BASE_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
}


def needs_key(path: str) -> bool:
    return path.startswith("/api/") or path == "/api" or path == "/ws"


def principal_of(request: web.Request) -> Principal | None:
    return request.get(PRINCIPAL)


def _template(request: web.Request) -> str | None:
    route = request.match_info.route
    resource = getattr(route, "resource", None)
    return resource.canonical if resource is not None else None


def _allowed_origin(request: web.Request) -> str | None:
    origin = request.headers.get(hdrs.ORIGIN)
    raw = request.app[SETTINGS].cors_origins.strip()
    if not origin or not raw:
        return None
    allowed = {o.strip().rstrip("/") for o in raw.split(",") if o.strip()}
    return origin if "*" in allowed or origin.rstrip("/") in allowed else None


@web.middleware
async def security_middleware(request: web.Request, handler: Any) -> web.StreamResponse:
    origin = _allowed_origin(request)
    if (
        origin
        and request.method == "OPTIONS"
        and request.headers.get(hdrs.ACCESS_CONTROL_REQUEST_METHOD)
    ):
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
    if origin:
        request["wamc.cors"] = origin
    if not needs_key(request.path):
        return await handler(request)

    template = _template(request)
    op = op_for(request.method, template) if template else None
    handler_name = getattr(request.match_info.handler, "__name__", "unknown")
    action = op.id if op else handler_name
    scope = op.scope if op and op.scope else "admin"
    client = request.match_info.get("id")
    status, result = 500, "internal_error"
    address = client_address(request, request.app[PROXIES])
    failures = request.app[AUTH_FAILURES]
    principal = None
    try:
        failures.check(address)  # before any key is looked at
        principal = _authenticate(request)
        if principal is None:
            failures.failed(address)
            raise ApiError("unauthorized", "send a valid key in X-Api-Key or Authorization: Bearer")
        request[PRINCIPAL] = principal
        request.app[LIMITER].hit(principal.key_id, admin=principal.is_admin)
        if scope != ANY_KEY:
            principal.check(scope, client)
        if request.path == "/ws" and not _is_upgrade(request):
            raise ApiError("upgrade_required", "/ws is a WebSocket: send Upgrade: websocket")
        if action == "list_clients" and not principal.is_admin:
            response: web.StreamResponse = _own_client(request, principal)
        elif action == "connect" and not principal.is_admin:
            request.app[MANAGER].get(client or "")  # a token cannot create clients
            response = await handler(request)
        else:
            response = await handler(request)
        status, result = response.status, "ok"
        return response
    except ApiError as err:
        status, result = err.status, err.code
        raise
    except web.HTTPException as exc:
        status, result = exc.status, exc.reason.lower().replace(" ", "_")
        raise
    finally:
        audit = request.app[AUDIT]
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


def _authenticate(request: web.Request) -> Principal | None:
    """A key in a header (or ``?api_key=`` on /ws, kept for compatibility), or a stream ticket."""
    if request.path in STREAM_PATHS and "ticket" in request.query:
        return request.app[TICKETS].redeem(request.query.get("ticket"))
    return request.app[TOKENS].authenticate(presented_key(request))


def _is_upgrade(request: web.Request) -> bool:
    return (
        request.method == "GET"
        and "websocket" in request.headers.get(hdrs.UPGRADE, "").lower()
        and "upgrade" in request.headers.get(hdrs.CONNECTION, "").lower()
    )


def _own_client(request: web.Request, principal: Principal) -> web.Response:
    found = request.app[MANAGER].clients.get(principal.client or "")
    return web.json_response({"clients": [found.status()] if found else []})


def ws_clients(request: web.Request, wanted: frozenset[str] | None) -> frozenset[str] | None:
    """The clients a WebSocket may follow: a client token only ever gets its own client."""
    principal = principal_of(request)
    if principal is None or principal.is_admin:
        return wanted
    own = principal.client or ""
    if wanted is not None and wanted - {own}:
        raise ApiError("forbidden", "this token belongs to another client", field="clients")
    return frozenset({own})


async def on_prepare(request: web.Request, response: web.StreamResponse) -> None:
    for name, value in BASE_HEADERS.items():
        response.headers.setdefault(name, value)
    if needs_key(request.path) or request.path == "/openapi.json":
        response.headers.setdefault("Cache-Control", "no-store")
    origin = request.get("wamc.cors")
    if origin:
        response.headers[hdrs.ACCESS_CONTROL_ALLOW_ORIGIN] = origin
        response.headers[hdrs.ACCESS_CONTROL_EXPOSE_HEADERS] = "Retry-After, Idempotent-Replayed"
        response.headers[hdrs.VARY] = "Origin"
