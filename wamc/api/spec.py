"""What one entry of the route table declares (``wamc/api/routes/``), and the shared pieces.

An entry drives three things: the router (method, path, handler), the security middleware
(scope) and the OpenAPI document (everything else). Keeping them in one record is what stops
the enforcement and the documentation from drifting apart.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, Literal

from aiohttp import web
from pydantic import BaseModel

from wamc import validation as V

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
# public: no key; read | send | control | webhooks: a token needs that scope (the admin key has
# all); admin: the admin key only; any: any valid key or token, whatever its scopes;
# metrics: the admin key or WAMC_METRICS_TOKEN (GET /metrics; a client token never has it).
Scope = Literal["public", "read", "send", "control", "webhooks", "admin", "any", "metrics"]
SCOPES: frozenset[str] = frozenset(
    {"public", "read", "send", "control", "webhooks", "admin", "any", "metrics"}
)


@dataclass(frozen=True)
class Param:
    name: str
    where: str  # path | query | header
    schema: dict[str, Any]
    description: str = ""
    required: bool = False
    example: Any = None


@dataclass(frozen=True)
class Route:
    method: str
    path: str
    handler: Handler = field(compare=False)
    scope: Scope
    id: str = ""  # the OpenAPI operationId and the audit action; default: the handler's name
    summary: str = ""
    tag: str = "other"
    ok: int = 200
    response: type[BaseModel] | None = None
    request: type[BaseModel] | None = None
    errors: tuple[str, ...] = ()
    params: tuple[Param, ...] = ()
    description: str = ""
    content: dict[str, Any] | None = None  # a success body that is not one JSON model
    listed: bool = True  # in the OpenAPI document (pages and static files are not)
    documented: bool = True  # False: listed with a generic summary and answer (to be written)

    @property
    def op_id(self) -> str:
        return self.id or getattr(self.handler, "__name__", "operation")


def page(path: str, handler: Handler) -> Route:
    """A public page or static file: routed, never in the OpenAPI document."""
    return Route("GET", path, handler, "public", listed=False)


def admin_only(method: str, path: str, handler: Handler) -> Route:
    """An admin-key operation whose documentation is still generic."""
    name = getattr(handler, "__name__", "operation")
    return Route(method, path, handler, "admin", summary=name.replace("_", " "), documented=False)


def json_body(schema: str) -> dict[str, Any]:
    return {"application/json": {"schema": {"$ref": f"#/components/schemas/{schema}"}}}


ANY_JSON = {"application/json": {"schema": {"type": "object"}}}

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
MESSAGE_PARAM = Param(
    "msgId",
    "path",
    {"type": "string", "pattern": V.MESSAGE_ID.pattern},
    "a message's full serialized id (URL-encoded): `<true|false>_<chat id>_<key>[_<participant>]`",
    True,
    "true_5511988887777@c.us_3EB0ABCDEF0123456789",
)
TOKEN_PARAM = Param(
    "tokenId", "path", {"type": "string", "pattern": r"^tok_[0-9a-f]{16}$"}, "token id", True
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
STREAM_CLIENTS = Param("clients", "query", {"type": "string"}, "comma-separated client ids, or *")
STREAM_EVENTS = Param("events", "query", {"type": "string"}, "comma-separated event names, or *")
CLIENT_ERRORS = ("invalid_client_id", "client_not_found")
WORKER_ERRORS = ("not_connected", "worker_unavailable", "worker_timeout", "whatsapp_error")


def limit(default: int, high: int) -> Param:
    return Param(
        "limit",
        "query",
        {"type": "integer", "minimum": 1, "maximum": high, "default": default},
        f"page size (default {default})",
    )


def query(name: str, schema: dict[str, Any], description: str = "") -> Param:
    return Param(name, "query", schema, description)
