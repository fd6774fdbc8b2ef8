"""The gate around every handler: problem+json answers, the security check, HTTP metrics.

Not aiohttp middlewares: each route's handler is wrapped in its own ``Gate`` when the route is
added (``wamc/api/app.py``), with what the route needs known in advance (its table entry, its
scope, its metric series), and unmatched requests (404/405) get a gate from the router
(``wamc/api/router.py``). Any aiohttp middleware costs every request two coroutine layers (its
own and aiohttp's ``_fix_request_current_app``); the gate is one (docs/benchmarks.md).

Every answer gets the security headers (``secure_headers``). In this order: CORS preflight → public routes pass → per-address limit on failed sign-ins → key
(or a stream ticket) → per-key rate limit → the scope of the route-table entry and the client
of the path → handler → audit entry (calls without a valid key: aggregated). A route without an
entry (an unknown ``/api`` path, a HEAD) needs the admin key. Every domain refusal
(``wamc.errors.Refused``) and aiohttp's own 404/405/413 become an RFC 9457 problem
(wamc/api/problems.py) with a stable ``code``; nothing else leaks. Every answer is counted and
timed by its route template.
"""

from __future__ import annotations

import asyncio
import functools
import time
from typing import cast

from aiohttp import hdrs, web
from loguru import logger
from multidict import CIMultiDict

from wamc.api.addresses import client_address
from wamc.api.keys import AUDIT, AUTH_FAILURES, LIMITER, METRICS, PROXIES, SETTINGS, TICKETS, TOKENS
from wamc.api.metrics import SEND_OPERATION, HttpSeries, method_label
from wamc.api.problems import problem, status_of
from wamc.api.replies import SECURE_HEADERS, Preset
from wamc.api.spec import Handler, Route
from wamc.errors import Refused
from wamc.security import ApiLimiter, AuthFailureLimiter, Principal, StreamTickets, Tokens
from wamc.security.auth import METRICS_SCOPE

MAX_BODY = 256 * 1024
PRINCIPAL = "wamc.principal"
CORS = "wamc.cors"
STREAM_PATHS = frozenset({"/ws", "/api/events"})
METRICS_PATH = "/metrics"
ANY_KEY = "any"  # an operation any valid key may call, whatever its scopes
READ_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
AUDITED_STATUSES = frozenset({401, 403, 429})  # refusals of a read: audited too
CORS_HEADERS = "X-Api-Key, Authorization, Content-Type, Idempotency-Key"
CORS_METHODS = "GET, POST, DELETE, OPTIONS"
BASE_HEADERS = SECURE_HEADERS


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


def is_private(path: str) -> bool:
    return needs_key(path) or path == "/openapi.json"


def principal_of(request: web.Request) -> Principal | None:
    try:
        principal: Principal = request[PRINCIPAL]  # set by the gate only
        return principal
    except KeyError:  # a public route, or refused before a key was admitted
        return None


@functools.lru_cache(maxsize=8)  # the setting's value: parsed once
def _origins(raw: str) -> frozenset[str]:
    return frozenset(o.strip().rstrip("/") for o in raw.split(",") if o.strip())


def _allowed_origin(request: web.Request) -> str | None:
    origin = request.headers.get(hdrs.ORIGIN)
    if not origin:
        return None
    allowed = _origins(request.app[SETTINGS].cors_origins)
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


class Gate:
    """One route's handler behind the checks above. ``entry`` None: no route-table entry (a HEAD
    of a GET entry, or an unmatched request); ``series``: its metric series (None: looked up
    per request, for unmatched requests)."""

    __slots__ = (
        *("action", "entry", "handler", "metrics", "private", "public", "scope", "series"),
        *("failures", "limiter", "tickets", "tokens"),
    )

    def __init__(
        self, app: web.Application, handler: Handler, entry: Route | None, series: HttpSeries | None
    ) -> None:
        self.handler = handler
        self.entry = entry
        self.metrics = app[METRICS].http
        self.series = series
        # The services, looked up once: request.app[...] costs two properties and a call each.
        # (An app built only to index its routes, tests/unit/test_routes.py, has none.)
        get = app.get
        self.failures = cast(AuthFailureLimiter, get(AUTH_FAILURES))
        self.limiter = cast(ApiLimiter, get(LIMITER))
        self.tickets, self.tokens = cast(StreamTickets, get(TICKETS)), cast(Tokens, get(TOKENS))
        if entry is not None:
            self.action, self.scope = entry.op_id, entry.scope
            self.private: bool | None = is_private(entry.path)  # a template keeps the prefix
            self.public: bool | None = entry.scope == "public"
        else:
            self.action, self.scope = getattr(handler, "__name__", "unknown"), "admin"
            self.private = self.public = None  # by the request's path

    async def handle(self, request: web.Request) -> web.StreamResponse:
        """What aiohttp calls (a bound coroutine method: aiohttp takes it as a handler as is).
        One coroutine for the whole gate: each layer more costs every request."""
        started = time.perf_counter()
        principal: Principal | None = None
        guarded = False
        status, result, code = 500, "internal_error", None  # as audited and counted
        private = self.private
        if private is None:
            private = is_private(request.path)
        origin = _allowed_origin(request) if request.headers.get(hdrs.ORIGIN) else None
        try:
            if origin is not None and _is_preflight(request):
                response: web.StreamResponse = _preflight(origin)  # its own CORS headers
                origin = None
            else:
                if origin is not None:
                    request[CORS] = origin
                public = self.public
                guarded = needs_key(request.path) if public is None else not public
                if guarded:
                    principal = self._admit(request, self.scope, request.match_info.get("id"))
                response = await self.handler(request)
                result = "ok"
            status = response.status
            if (
                type(response) is not Preset or origin is not None or not private
            ) and not response.prepared:  # a Preset answer has them; a prepared stream too
                _set_headers(response.headers, private, origin)
            return response
        except Exception as exc:  # refusals, aiohttp's HTTP errors, the caller gone, bugs
            failed, status, result, code = _failure(request, exc)
            if failed is None:
                if isinstance(exc, web.HTTPException):  # a redirect: aiohttp answers with it
                    _set_headers(exc.headers, private, origin)
                raise
            _set_headers(failed.headers, private, origin)
            return failed
        except asyncio.CancelledError:
            status, result = 499, "caller_gone"
            raise
        finally:
            (self.series or self.metrics.unmatched(method_label(request.method))).record(
                status, time.perf_counter() - started
            )
            if status >= 400 and self.entry is not None and self.entry.op_id == SEND_OPERATION:
                self.metrics.send_failures.labels(code or f"http_{status}").inc()
            if guarded:
                if principal is None:
                    principal = principal_of(request)  # admitted, then refused (429, 403)
                if (
                    principal is None
                    or request.method not in READ_METHODS
                    or status in AUDITED_STATUSES
                ):
                    await _audit(request, principal, self.action, status, result)

    def _admit(self, request: web.Request, scope: str, client: str | None) -> Principal:
        """A key in a header (or ``?api_key=`` on /ws, kept for compatibility), or a stream
        ticket; on the metrics route also WAMC_METRICS_TOKEN (and nowhere else). One frame:
        each call more costs every request."""
        failures = self.failures
        if failures.tracking:  # before any key is looked at (nothing to check while none failed)
            failures.check(_address(request))
        if request.path in STREAM_PATHS and "ticket" in request.query:
            principal = self.tickets.redeem(request.query.get("ticket"))
        elif scope == METRICS_SCOPE:
            principal = self.tokens.authenticate_metrics(presented_key(request))
        else:  # X-Api-Key read here first: what presented_key would return (one call less)
            key = request.headers.get("X-Api-Key") or presented_key(request)
            principal = self.tokens.authenticate(key)
        if principal is None:
            failures.failed(_address(request))
            raise Refused("unauthorized", "send a valid key in X-Api-Key or Authorization: Bearer")
        request[PRINCIPAL] = principal
        admin = principal.client is None
        self.limiter.hit(principal.key_id, admin=admin)
        if scope != ANY_KEY and not admin:  # the admin key may call everything
            principal.check(scope, client)
        if request.path == "/ws" and not _is_upgrade(request):
            raise Refused("upgrade_required", "/ws is a WebSocket: send Upgrade: websocket")
        return principal


def _is_preflight(request: web.Request) -> bool:
    return request.method == "OPTIONS" and bool(
        request.headers.get(hdrs.ACCESS_CONTROL_REQUEST_METHOD)
    )


def _failure(
    request: web.Request, exc: Exception
) -> tuple[web.Response | None, int, str, str | None]:
    """The answer to a failed request (None: aiohttp answers it), its status, the audit's
    result and the problem code."""
    if isinstance(exc, Refused):
        return problem(exc), status_of(exc.code), exc.code, exc.code
    if isinstance(exc, web.HTTPException):
        result = exc.reason.lower().replace(" ", "_")
        if isinstance(exc, web.HTTPRequestEntityTooLarge):
            err = Refused("payload_too_large", f"bodies are limited to {MAX_BODY} bytes")
        elif isinstance(exc, web.HTTPNotFound):
            err = Refused("not_found", f"no route for {request.method} {request.path}")
        elif isinstance(exc, web.HTTPMethodNotAllowed):
            err = Refused(
                "method_not_allowed", f"{request.method} is not allowed on {request.path}"
            )
        else:
            return None, exc.status, result, None
        return problem(err), exc.status, result, None
    if isinstance(exc, ConnectionResetError):  # the caller went away (e.g. an upload aborted)
        logger.info("{} {}: the caller went away", request.method, request.path)
        return None, 499, "caller_gone", None
    logger.exception("unhandled error on {} {}", request.method, request.path)
    err = Refused("internal_error", "the request could not be completed")
    return problem(err), 500, "internal_error", None


def _address(request: web.Request) -> str:
    return client_address(request, request.app[PROXIES])


async def _audit(
    request: web.Request,
    principal: Principal | None,
    action: str,
    status: int,
    result: str,
) -> None:
    """Every change and every refusal by key; calls without a valid key, aggregated."""
    audit = request.app[AUDIT]
    client = request.match_info.get("id")
    address = _address(request)
    if principal is None:
        await audit.record_failure(
            action=action,
            method=request.method,
            path=request.path,
            status=status,
            result=result,
            remote=address,
        )
    else:
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


def secure_headers(request: web.Request, response: web.StreamResponse) -> None:
    """The headers every answer carries, set before it is prepared: by the gate on what a
    handler returns (or raises), by a handler that prepares its own stream (SSE, WebSocket,
    export) just before ``prepare``. Not an ``on_response_prepare`` signal: that costs every
    request an awaited signal (docs/benchmarks.md)."""
    _set_headers(response.headers, is_private(request.path), request.get(CORS))


def _set_headers(headers: CIMultiDict[str], private: bool, origin: str | None) -> None:
    for name, value in BASE_HEADERS.items():
        headers.setdefault(name, value)
    if private:
        headers.setdefault("Cache-Control", "no-store")
    if origin:
        headers[hdrs.ACCESS_CONTROL_ALLOW_ORIGIN] = origin
        headers[hdrs.ACCESS_CONTROL_EXPOSE_HEADERS] = "Retry-After, Idempotent-Replayed"
        headers[hdrs.VARY] = "Origin"
