"""The OpenAPI 3.1 document (``/openapi.json``) and Swagger UI (``/api-docs``).

The document is built from two things only: the one route table (``routes.ROUTES``) and the
pydantic models in ``wamc/validation.py`` that also validate requests. ``OPS`` below adds what a
route table cannot say — summary, scope, parameters, answers and errors — keyed by
``(METHOD, path)`` of a route. The security middleware reads the same ``OPS`` for the scope a key
needs, so the document and the enforcement cannot drift apart. A route without an entry is still
listed (as admin-only, with a generic answer) and needs the admin key.

Swagger UI's files come from the ``swagger-ui-py`` package (``swagger_ui/static``): nothing is
loaded from a CDN, the page works offline.
"""

from __future__ import annotations

import importlib.util
import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from aiohttp import web
from pydantic import BaseModel
from pydantic.json_schema import models_json_schema

from wamc import __version__
from wamc import validation as V
from wamc.errors import CODES, PROBLEM_TYPE

PROBLEM_JSON = "application/problem+json"


@dataclass(frozen=True)
class Param:
    name: str
    where: str  # path | query | header
    schema: dict[str, Any]
    description: str = ""
    required: bool = False
    example: Any = None


@dataclass(frozen=True)
class Op:
    id: str
    summary: str
    tag: str
    scope: str | None  # None: public; read | send | control | admin
    ok: int = 200
    response: type[BaseModel] | None = None
    request: type[BaseModel] | None = None
    errors: tuple[str, ...] = ()
    params: tuple[Param, ...] = ()
    description: str = ""
    content: dict[str, Any] | None = None  # a success body that is not one JSON model
    extra_ok: dict[int, str] = field(default_factory=dict)


CLIENT_PARAM = Param(
    "id",
    "path",
    {"type": "string", "pattern": V.CLIENT_ID.pattern},
    V.CLIENT_ID_HELP,
    True,
    "acme",
)
CHAT_PARAM = Param(
    "chatId",
    "path",
    {"type": "string", "pattern": V.CHAT_ID.pattern},
    "WhatsApp chat id",
    True,
    "5511988887777@c.us",
)
TOKEN_PARAM = Param(
    "tokenId", "path", {"type": "string", "pattern": r"^tok_[0-9a-f]{16}$"}, "token id", True
)


def _limit(default: int, high: int) -> Param:
    return Param(
        "limit",
        "query",
        {"type": "integer", "minimum": 1, "maximum": high, "default": default},
        f"page size (default {default})",
    )


SINCE_PARAM = Param(
    "since",
    "query",
    {"type": "string"},
    "resume: replay each client's events after seq N, e.g. acme:41,shop_2:7, then go live",
)
TICKET_QUERY = Param(
    "ticket",
    "query",
    {"type": "string"},
    "a ticket from POST /api/stream-tickets, instead of a key header (single use, 30 s)",
)
CLIENT_ERRORS = ("invalid_client_id", "client_not_found")
WORKER_ERRORS = ("not_connected", "worker_unavailable", "worker_timeout", "whatsapp_error")
C = "/api/clients/{id}"

OPS: dict[tuple[str, str], Op] = {
    ("GET", "/health"): Op(
        "health", "Liveness and client counts", "system", None, response=V.Health
    ),
    ("GET", "/openapi.json"): Op(
        "openapi",
        "This OpenAPI document",
        "system",
        None,
        content={"application/json": {"schema": {"type": "object"}}},
    ),
    ("POST", "/api/shutdown"): Op(
        "shutdown",
        "Stop every worker, then the daemon",
        "system",
        "admin",
        ok=202,
        content={"application/json": {"schema": {"type": "object"}}},
    ),
    ("GET", "/api/clients"): Op(
        "list_clients",
        "List clients",
        "clients",
        "read",
        response=V.ClientList,
        description="The admin key sees every client; a client token sees only its own.",
    ),
    ("POST", C + "/connect"): Op(
        "connect",
        "Create (if new) and start a client",
        "clients",
        "control",
        ok=202,
        response=V.ConnectResult,
        errors=(*CLIENT_ERRORS, "client_limit"),
        params=(CLIENT_PARAM,),
        description="Idempotent. Creating a client beyond WAMC_MAX_CLIENTS answers 409 "
        "client_limit. A client token can only (re)start its own, existing client.",
    ),
    ("POST", C + "/disconnect"): Op(
        "disconnect",
        "Stop a client's worker (keeps its session)",
        "clients",
        "control",
        ok=202,
        response=V.ClientStatus,
        errors=CLIENT_ERRORS,
        params=(CLIENT_PARAM,),
    ),
    ("POST", C + "/restart"): Op(
        "restart",
        "Restart a client's worker",
        "clients",
        "control",
        ok=202,
        response=V.ClientStatus,
        errors=CLIENT_ERRORS,
        params=(CLIENT_PARAM,),
    ),
    ("POST", C + "/logout"): Op(
        "logout",
        "Log a client out of WhatsApp (a new QR follows)",
        "clients",
        "control",
        ok=202,
        response=V.ClientStatus,
        errors=(*CLIENT_ERRORS, *WORKER_ERRORS),
        params=(CLIENT_PARAM,),
    ),
    ("DELETE", C): Op(
        "delete_client",
        "Delete a client, its session, messages and tokens",
        "clients",
        "control",
        ok=202,
        response=V.Deleted,
        errors=CLIENT_ERRORS,
        params=(CLIENT_PARAM,),
    ),
    ("GET", C + "/status"): Op(
        "status",
        "A client's state",
        "clients",
        "read",
        response=V.ClientStatus,
        errors=CLIENT_ERRORS,
        params=(CLIENT_PARAM,),
    ),
    ("GET", C + "/dead-events"): Op(
        "dead_events",
        "Worker events that were acknowledged but not applied",
        "clients",
        "admin",
        response=V.DeadEvents,
        errors=(*CLIENT_ERRORS, "invalid_parameter"),
        params=(CLIENT_PARAM, _limit(100, 1000)),
        description="An event from a client's worker whose shape is wrong, or that failed while "
        "being stored, is acknowledged (never retried forever) and kept here for an operator.",
    ),
    ("GET", C + "/qr"): Op(
        "qr",
        "The QR code to scan (PNG, SVG or JSON)",
        "clients",
        "read",
        errors=(*CLIENT_ERRORS, "no_qr", "invalid_parameter"),
        params=(
            CLIENT_PARAM,
            Param(
                "format",
                "query",
                {"type": "string", "enum": ["png", "svg", "json"], "default": "png"},
                "image format, or json for the raw QR text",
            ),
        ),
        content={
            "image/png": {"schema": {"type": "string", "contentMediaType": "image/png"}},
            "image/svg+xml": {"schema": {"type": "string"}},
            "application/json": {"schema": {"$ref": "#/components/schemas/QrJson"}},
        },
    ),
    ("POST", C + "/pairing-code"): Op(
        "pairing_code",
        "A pairing code to link by phone number instead of a QR scan",
        "clients",
        "control",
        response=V.PairingCode,
        request=V.PairingRequest,
        errors=(*CLIENT_ERRORS, "no_qr", "invalid_json", "invalid_field", *WORKER_ERRORS),
        params=(CLIENT_PARAM,),
        description="Only while the client is in `qr`. The phone opens Linked devices → Link "
        "with phone number and types the code (valid about 3 minutes).",
    ),
    ("POST", C + "/send-message"): Op(
        "send_message",
        "Send a text message",
        "messages",
        "send",
        ok=201,
        response=V.SendResult,
        request=V.SendMessage,
        errors=(
            *CLIENT_ERRORS,
            "invalid_json",
            "invalid_field",
            "invalid_chat_id",
            "invalid_parameter",
            "payload_too_large",
            "send_queue_full",
            "idempotency_conflict",
            *WORKER_ERRORS,
        ),
        params=(
            CLIENT_PARAM,
            Param(
                "Idempotency-Key",
                "header",
                {"type": "string", "pattern": r"^[\x21-\x7e]{1,128}$"},
                "repeat a send safely: a repeated key returns the first answer and sends nothing",
                example="order-1234-confirmation",
            ),
        ),
        description="The send waits in its client's queue, paced by WAMC_SEND_INTERVAL plus a "
        "random 0..WAMC_SEND_JITTER seconds between two sends (to reduce the risk of a ban), and "
        "answers 201 once WhatsApp Web accepted the message. A full queue answers 429 "
        "send_queue_full with Retry-After; a worker that does not answer within "
        "WAMC_REQUEST_TIMEOUT answers 504 worker_timeout (the message may still go out: retry "
        "with the same Idempotency-Key).",
    ),
    ("GET", C + "/chats"): Op(
        "chats",
        "A client's chats",
        "messages",
        "read",
        response=V.ChatList,
        errors=(*CLIENT_ERRORS, "invalid_parameter", *WORKER_ERRORS),
        params=(CLIENT_PARAM, _limit(100, 500)),
    ),
    ("GET", C + "/chats/{chatId}/messages"): Op(
        "chat_messages",
        "Stored messages of one chat, newest first",
        "messages",
        "read",
        response=V.MessagePage,
        errors=(*CLIENT_ERRORS, "invalid_chat_id", "invalid_parameter"),
        params=(
            CLIENT_PARAM,
            CHAT_PARAM,
            _limit(50, 500),
            Param("before", "query", {"type": "string"}, "cursor from a previous next_before"),
        ),
    ),
    ("GET", C + "/tokens"): Op(
        "list_tokens",
        "A client's API tokens (never their secrets)",
        "tokens",
        "admin",
        response=V.TokenList,
        errors=CLIENT_ERRORS,
        params=(CLIENT_PARAM,),
    ),
    ("POST", C + "/tokens"): Op(
        "create_token",
        "Create an API token for one client",
        "tokens",
        "admin",
        ok=201,
        response=V.TokenCreated,
        request=V.TokenCreate,
        errors=(*CLIENT_ERRORS, "invalid_json", "invalid_field", "payload_too_large"),
        params=(CLIENT_PARAM,),
        description="The secret is in this answer only; the daemon keeps its SHA-256.",
    ),
    ("DELETE", C + "/tokens/{tokenId}"): Op(
        "revoke_token",
        "Revoke an API token (effective at once)",
        "tokens",
        "admin",
        response=V.TokenRevoked,
        errors=(*CLIENT_ERRORS, "token_not_found"),
        params=(CLIENT_PARAM, TOKEN_PARAM),
    ),
    ("GET", C + "/messages/recent"): Op(
        "client_recent_messages",
        "A client's newest stored messages across all chats",
        "messages",
        "read",
        content={"application/json": {"schema": {"$ref": "#/components/schemas/RecentMessages"}}},
        errors=(*CLIENT_ERRORS, "invalid_parameter"),
        params=(CLIENT_PARAM, _limit(50, 200)),
    ),
    ("GET", "/api/messages/recent"): Op(
        "recent_messages",
        "Newest stored messages of every client (dashboard feed)",
        "messages",
        "admin",
        content={"application/json": {"schema": {"$ref": "#/components/schemas/RecentMessages"}}},
        errors=("invalid_parameter", "invalid_client_id"),
        params=(
            _limit(50, 200),
            Param("client", "query", {"type": "string"}, "only this client"),
        ),
    ),
    ("GET", C + "/logs"): Op(
        "client_logs",
        "The tail of a client's log (credentials masked)",
        "system",
        "admin",
        content={"application/json": {"schema": {"$ref": "#/components/schemas/ClientLogs"}}},
        errors=(*CLIENT_ERRORS, "invalid_parameter"),
        params=(
            CLIENT_PARAM,
            Param(
                "lines",
                "query",
                {"type": "integer", "minimum": 1, "maximum": 1000, "default": 100},
                "how many lines (default 100)",
            ),
        ),
    ),
    ("GET", "/api/audit"): Op(
        "audit",
        "The audit log, newest first",
        "system",
        "admin",
        response=V.AuditPage,
        errors=("invalid_parameter", "invalid_client_id"),
        params=(
            Param("client", "query", {"type": "string", "pattern": V.CLIENT_ID.pattern}),
            Param("key_id", "query", {"type": "string", "maxLength": 64}, "'admin' or a token id"),
            _limit(100, 1000),
            Param("before", "query", {"type": "integer", "minimum": 1}, "next_before of a page"),
        ),
    ),
    ("POST", "/api/stream-tickets"): Op(
        "create_stream_ticket",
        "A single-use ticket to open one event stream",
        "events",
        "any",
        ok=201,
        response=V.StreamTicket,
        description="For browsers, which cannot send headers on a WebSocket: open `/ws?ticket=…` "
        "or `/api/events?ticket=…` within 30 s, once. The stream has the identity and scopes of "
        "the key that asked for the ticket; revoking that token voids its tickets.",
    ),
    ("GET", "/ws"): Op(
        "events",
        "Event stream (WebSocket)",
        "events",
        "read",
        ok=101,
        errors=("invalid_parameter", "upgrade_required", "too_many_streams", "shutting_down"),
        params=(
            Param("clients", "query", {"type": "string"}, "comma-separated client ids, or *"),
            Param("events", "query", {"type": "string"}, "comma-separated event names, or *"),
            TICKET_QUERY,
            Param(
                "api_key",
                "query",
                {"type": "string"},
                "deprecated, kept for compatibility: the key in the URL (use `ticket`)",
            ),
            SINCE_PARAM,
        ),
        description="Upgrade to a WebSocket; every message is one JSON `Event` (see the schemas "
        "`Event` and `Event.*`). A client token receives only its own client's events. Each key "
        "holds at most WAMC_MAX_STREAMS_PER_KEY streams (WebSocket and SSE together; 429 "
        "too_many_streams beyond). Close codes: 1001 the daemon is stopping, 1008 the token "
        "was revoked, its client deleted, or the consumer read too slowly.",
    ),
    ("GET", "/api/events"): Op(
        "eventsSse",
        "Event stream (Server-Sent Events)",
        "events",
        "read",
        errors=("invalid_parameter", "too_many_streams", "shutting_down"),
        params=(
            Param("clients", "query", {"type": "string"}, "comma-separated client ids, or *"),
            Param("events", "query", {"type": "string"}, "comma-separated event names, or *"),
            TICKET_QUERY,
            SINCE_PARAM,
        ),
        content={"text/event-stream": {"schema": {"type": "string"}}},
        description="The WebSocket's stream for consumers without WebSocket: each SSE `data` is "
        "one JSON `Event`, its SSE `event` the event name and its SSE `id` the stream position "
        "(`acme:41,shop_2:7`), so `Last-Event-ID` on reconnect resumes without a gap. The "
        "daemon ends the stream with a final `event: shutdown` when it stops, `event: error` "
        "when the token is revoked or its client deleted.",
    ),
}

PUBLIC_ERRORS = ("internal_error",)
KEY_ERRORS = ("unauthorized", "forbidden", "rate_limited")  # rate_limited: per key or address


def op_for(method: str, path: str) -> Op | None:
    return OPS.get((method, path))


def _models() -> list[type[BaseModel]]:
    return [
        V.Problem,
        V.ClientStatus,
        V.ConnectResult,
        V.ClientList,
        V.Deleted,
        V.QrJson,
        V.SendMessage,
        V.SendResult,
        V.Chat,
        V.ChatList,
        V.Message,
        V.MessagePage,
        V.Health,
        V.TokenCreate,
        V.TokenInfo,
        V.TokenCreated,
        V.TokenList,
        V.TokenRevoked,
        V.AuditEntry,
        V.AuditPage,
        V.DeadEvents,
        V.Event,
        V.ClientStateData,
        V.ClientQrData,
        V.MessageAckData,
        V.DaemonStartedData,
        V.StreamTicket,
    ]


def _schemas() -> dict[str, Any]:
    models = _models()
    requests = (V.SendMessage, V.TokenCreate)
    modes = [(m, "validation" if m in requests else "serialization") for m in models]
    _, top = models_json_schema(modes, ref_template="#/components/schemas/{model}")
    schemas: dict[str, Any] = dict(top.get("$defs", {}))
    schemas.update(_event_schemas())
    schemas["RecentMessages"] = {
        "type": "object",
        "required": ["messages"],
        "properties": {
            "messages": {
                "type": "array",
                "items": {"$ref": "#/components/schemas/Message"},
                "description": "newest first; each also carries `client`",
            }
        },
    }
    schemas["ClientLogs"] = {
        "type": "object",
        "required": ["client", "lines"],
        "properties": {"client": {"type": "string"}, "lines": {"type": "array"}},
    }
    return schemas


def _event_schemas() -> dict[str, Any]:
    from wamc import events as E

    known = {
        "client.state": "ClientStateData",
        "client.qr": "ClientQrData",
        "message": "Message",
        "message.ack": "MessageAckData",
        "daemon.started": "DaemonStartedData",
    }
    specs = getattr(E, "EVENTS", None) or {n: None for n in sorted(E.EVENT_NAMES)}
    out: dict[str, Any] = {}
    for name, spec in specs.items():
        data: dict[str, Any] = (
            {"$ref": f"#/components/schemas/{known[name]}"} if name in known else {"type": "object"}
        )
        desc = f"`{name}` event"
        if spec is not None:
            desc += f" — from {spec.source}; data {spec.data}"
        out[f"Event.{name}"] = {
            "description": desc,
            "allOf": [
                {"$ref": "#/components/schemas/Event"},
                {"type": "object", "properties": {"event": {"const": name}, "data": data}},
            ],
        }
    return out


def _problem_responses(codes: list[str]) -> dict[str, Any]:
    by_status: dict[int, list[str]] = {}
    for code in codes:
        by_status.setdefault(CODES[code][0], []).append(code)
    out: dict[str, Any] = {}
    for status, group in sorted(by_status.items()):
        examples = {
            code: {
                "summary": CODES[code][1],
                "value": {
                    "type": PROBLEM_TYPE + code,
                    "title": CODES[code][1],
                    "status": status,
                    "detail": CODES[code][1],
                    "code": code,
                },
            }
            for code in group
        }
        headers = {}
        if status == 429:
            headers["Retry-After"] = {
                "description": "seconds to wait before trying again",
                "schema": {"type": "integer", "minimum": 1},
            }
        resp: dict[str, Any] = {
            "description": "; ".join(f"`{c}`: {CODES[c][1]}" for c in group),
            "content": {
                PROBLEM_JSON: {
                    "schema": {"$ref": "#/components/schemas/Problem"},
                    "examples": examples,
                }
            },
        }
        if headers:
            resp["headers"] = headers
        out[str(status)] = resp
    return out


def _operation(method: str, path: str, op: Op | None, name: str) -> dict[str, Any]:
    if op is None:
        op = Op(name, name.replace("_", " "), "other", "admin")
        generic = True
    else:
        generic = False
    codes = list(PUBLIC_ERRORS)
    if op.scope is not None:
        codes += KEY_ERRORS
    codes += ["not_found", *op.errors]
    if "{id}" in path and "invalid_client_id" not in codes:
        codes += ["invalid_client_id"]
    if method in ("POST", "PUT", "PATCH") and "payload_too_large" not in codes:
        codes.append("payload_too_large")
    codes = list(dict.fromkeys(codes))
    responses: dict[str, Any] = {}
    ok: dict[str, Any] = {"description": "success"}
    if op.ok == 101:
        ok = {"description": "switching protocols: the event stream"}
    elif op.content is not None:
        ok["content"] = op.content
    elif op.response is not None:
        ok["content"] = {
            "application/json": {"schema": {"$ref": f"#/components/schemas/{op.response.__name__}"}}
        }
    responses[str(op.ok)] = ok
    responses.update(_problem_responses(codes))
    if generic:
        responses["default"] = {"description": "any other answer"}
    doc: dict[str, Any] = {
        "operationId": op.id,
        "summary": op.summary,
        "tags": [op.tag],
        "responses": responses,
    }
    desc = op.description
    if op.scope is None:
        doc["security"] = []
    else:
        scope_text = (
            "needs the admin key"
            if op.scope == "admin"
            else "any valid key or token"
            if op.scope == "any"
            else f"needs the `{op.scope}` scope"
        )
        desc = (desc + "\n\n" if desc else "") + f"Authorization: {scope_text}."
    if desc:
        doc["description"] = desc
    params = []
    for p in op.params:
        item: dict[str, Any] = {"name": p.name, "in": p.where, "schema": p.schema}
        if p.description:
            item["description"] = p.description
        if p.required or p.where == "path":
            item["required"] = True
        if p.example is not None:
            item["example"] = p.example
        params.append(item)
    # Path parameters of an undocumented route still have to be declared.
    declared = {p.name for p in op.params}
    for pname in re.findall(r"{(\w+)}", path):
        if pname not in declared:
            params.append(
                {"name": pname, "in": "path", "required": True, "schema": {"type": "string"}}
            )
    if params:
        doc["parameters"] = params
    if op.request is not None:
        doc["requestBody"] = {
            "required": True,
            "content": {
                "application/json": {
                    "schema": {"$ref": f"#/components/schemas/{op.request.__name__}"}
                }
            },
        }
    return doc


def build_document(routes: list[web.RouteDef]) -> dict[str, Any]:
    paths: dict[str, dict[str, Any]] = {}
    for route in routes:
        if not isinstance(route, web.RouteDef) or route.method == "HEAD":
            continue
        path = route.path
        if not (path.startswith("/api/") or path in ("/health", "/ws", "/openapi.json")):
            continue  # pages and static files
        op = op_for(route.method, path)
        name = getattr(route.handler, "__name__", "operation")
        paths.setdefault(path, {})[route.method.lower()] = _operation(route.method, path, op, name)
    codes_table = "\n".join(
        f"| `{code}` | {status} | {title} |" for code, (status, title) in CODES.items()
    )
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "wamc — WhatsApp multi-client gateway",
            "version": __version__,
            "description": (
                "One isolated worker and Chromium per WhatsApp client, behind one API.\n\n"
                "**Keys.** Send the admin key or a client token in `X-Api-Key` or "
                "`Authorization: Bearer`. A client token (`POST /api/clients/{id}/tokens`) is "
                "limited to its client and to its scopes: `read`, `send`, `control`.\n\n"
                "**Limits.** Each key is rate limited (429 `rate_limited` with `Retry-After`). "
                "Sends are paced per client with jitter to reduce ban risk.\n\n"
                "**Errors** are RFC 9457 problem details (`application/problem+json`) with a "
                "stable `code`:\n\n| code | status | title |\n|---|---|---|\n" + codes_table
            ),
        },
        "tags": [
            {"name": "clients", "description": "client lifecycle"},
            {"name": "messages", "description": "send and read messages"},
            {"name": "tokens", "description": "per-client API tokens (admin key only)"},
            {"name": "events", "description": "the WebSocket event stream"},
            {"name": "system", "description": "health, audit, this document"},
        ],
        "paths": paths,
        "components": {
            "schemas": _schemas(),
            "securitySchemes": {
                "ApiKey": {"type": "apiKey", "in": "header", "name": "X-Api-Key"},
                "Bearer": {"type": "http", "scheme": "bearer"},
            },
        },
        "security": [{"ApiKey": []}, {"Bearer": []}],
        "x-problem-codes": {
            code: {"status": status, "title": title} for code, (status, title) in CODES.items()
        },
    }


# --- handlers -------------------------------------------------------------------------------------

_DOC_CACHE: dict[int, str] = {}


async def openapi_json(request: web.Request) -> web.Response:
    from wamc.gateway.routes import ROUTES

    key = id(ROUTES)
    if key not in _DOC_CACHE:
        _DOC_CACHE[key] = json.dumps(build_document(ROUTES))
    return web.Response(text=_DOC_CACHE[key], content_type="application/json")


def swagger_dir() -> Path | None:
    spec = importlib.util.find_spec("swagger_ui")
    if spec is None or not spec.submodule_search_locations:
        return None
    path = Path(next(iter(spec.submodule_search_locations))) / "static"
    return path if path.is_dir() else None


DOCS_FILES = {
    "swagger-ui.css": "text/css",
    "swagger-ui-bundle.js": "text/javascript",
    "favicon-32x32.png": "image/png",
}
DOCS_CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
    "img-src 'self' data:; connect-src 'self'; base-uri 'none'; form-action 'none'; "
    "frame-ancestors 'none'"
)
DOCS_PAGE = """<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>wamc API</title>
<link rel="icon" type="image/png" href="/api-docs/favicon-32x32.png">
<link rel="stylesheet" href="/api-docs/swagger-ui.css">
</head>
<body>
<div id="swagger-ui"></div>
<script src="/api-docs/swagger-ui-bundle.js"></script>
<script src="/api-docs/init.js"></script>
</body>
</html>
"""
# No persistAuthorization: the key stays in the page's memory, never in localStorage.
DOCS_INIT = """window.addEventListener('load', function () {
  window.ui = SwaggerUIBundle({
    url: '/openapi.json',
    dom_id: '#swagger-ui',
    deepLinking: true,
    docExpansion: 'list',
    defaultModelsExpandDepth: 0,
    presets: [SwaggerUIBundle.presets.apis],
  });
});
"""


def _docs_headers(ctype: str) -> dict[str, str]:
    return {
        "Content-Type": ctype,
        "Content-Security-Policy": DOCS_CSP,
        "Cache-Control": "no-cache",
    }


async def api_docs(request: web.Request) -> web.Response:
    return web.Response(text=DOCS_PAGE, headers=_docs_headers("text/html; charset=utf-8"))


async def api_docs_redirect(request: web.Request) -> web.Response:
    raise web.HTTPFound("/api-docs")


async def api_docs_file(request: web.Request) -> web.StreamResponse:
    name = request.match_info["name"]
    if name == "init.js":
        return web.Response(text=DOCS_INIT, headers=_docs_headers("text/javascript"))
    base = swagger_dir()
    if name not in DOCS_FILES or base is None or not (base / name).is_file():
        raise web.HTTPNotFound()
    return web.FileResponse(base / name, headers=_docs_headers(DOCS_FILES[name]))
