"""The OpenAPI 3.1 document (``/openapi.json``), rendered from the route table and the models.

Everything comes from two places: the entries of ``wamc/api/routes/`` (method, path, scope,
summary, parameters, answers, errors) and the pydantic models in ``wamc/validation/`` that
also validate requests. The security middleware enforces the scope of the same entries, so the
document and the enforcement cannot drift apart.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from typing import Any

from pydantic import BaseModel
from pydantic.json_schema import JsonSchemaMode, models_json_schema

from wamc import __version__
from wamc import validation as V
from wamc.api import extras_models as XM
from wamc.api import group_models as GM
from wamc.api import message_models as MM
from wamc.api import node_models, stats_models
from wamc.api import portal_models as P
from wamc.api import settings_models as SM
from wamc.api.media_models import MODELS as MEDIA_MODELS
from wamc.api.media_models import SendMedia
from wamc.api.problems import HTTP, PROBLEM_JSON, PROBLEM_TYPE
from wamc.api.spec import Route

PUBLIC_ERRORS = ("internal_error",)
KEY_ERRORS = ("unauthorized", "forbidden", "rate_limited")  # rate_limited: per key or address


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
        *MM.REQUESTS,
        *MM.ANSWERS,
        *XM.REQUESTS,
        *XM.ANSWERS,
        *GM.REQUESTS,
        *GM.ANSWERS,
        *MEDIA_MODELS,
        *SM.MODELS,
        P.PortalInviteCreate,
        P.PortalInvite,
        P.WhoAmI,
        *stats_models.MODELS,
        *node_models.MODELS,
    ]


def _schemas() -> dict[str, Any]:
    models = _models()
    requests = (
        V.SendMessage,
        V.TokenCreate,
        *MM.REQUESTS,
        *XM.REQUESTS,
        *GM.REQUESTS,
        SendMedia,
        *SM.REQUESTS,
        P.PortalInviteCreate,
        *node_models.REQUESTS,
    )
    modes: list[tuple[type[BaseModel], JsonSchemaMode]] = [
        (m, "validation" if m in requests else "serialization") for m in models
    ]
    _, top = models_json_schema(modes, ref_template="#/components/schemas/{model}")
    schemas: dict[str, Any] = dict(top.get("$defs", {}))
    schemas.update(_event_schemas())
    MM.add_message_parts(schemas)
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
        "group.participant_changed": "GroupParticipantChangedData",
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
        by_status.setdefault(HTTP[code][0], []).append(code)
    out: dict[str, Any] = {}
    for status, group in sorted(by_status.items()):
        examples = {
            code: {
                "summary": HTTP[code][1],
                "value": {
                    "type": PROBLEM_TYPE + code,
                    "title": HTTP[code][1],
                    "status": status,
                    "detail": HTTP[code][1],
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
            "description": "; ".join(f"`{c}`: {HTTP[c][1]}" for c in group),
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


def _codes(route: Route) -> list[str]:
    """Every problem code an operation may answer, in a stable order."""
    codes = list(PUBLIC_ERRORS)
    if route.scope != "public":
        codes += KEY_ERRORS
    codes += ["not_found", *route.errors]
    if "{id}" in route.path and "invalid_client_id" not in codes:
        codes += ["invalid_client_id"]
    if route.method in ("POST", "PUT", "PATCH") and "payload_too_large" not in codes:
        codes.append("payload_too_large")
    return list(dict.fromkeys(codes))


def _responses(route: Route) -> dict[str, Any]:
    ok: dict[str, Any] = {"description": "success"}
    if route.ok == 101:
        ok = {"description": "switching protocols: the event stream"}
    elif route.content is not None:
        ok["content"] = route.content
    elif route.response is not None:
        ok["content"] = {
            "application/json": {
                "schema": {"$ref": f"#/components/schemas/{route.response.__name__}"}
            }
        }
    responses: dict[str, Any] = {str(route.ok): ok}
    responses.update(_problem_responses(_codes(route)))
    if not route.documented:
        responses["default"] = {"description": "any other answer"}
    return responses


def _description(route: Route) -> str:
    if route.scope == "public":
        return route.description
    scope_text = (
        "needs the admin key"
        if route.scope == "admin"
        else "any valid key or token"
        if route.scope == "any"
        else f"needs the `{route.scope}` scope"
    )
    desc = route.description
    return (desc + "\n\n" if desc else "") + f"Authorization: {scope_text}."


def _parameters(route: Route) -> list[dict[str, Any]]:
    params = []
    for p in route.params:
        item: dict[str, Any] = {"name": p.name, "in": p.where, "schema": p.schema}
        if p.description:
            item["description"] = p.description
        if p.required or p.where == "path":
            item["required"] = True
        if p.example is not None:
            item["example"] = p.example
        params.append(item)
    # Path parameters an entry does not describe still have to be declared.
    declared = {p.name for p in route.params}
    for pname in re.findall(r"{(\w+)}", route.path):
        if pname not in declared:
            params.append(
                {"name": pname, "in": "path", "required": True, "schema": {"type": "string"}}
            )
    return params


def _operation(route: Route) -> dict[str, Any]:
    doc: dict[str, Any] = {
        "operationId": route.op_id,
        "summary": route.summary,
        "tags": [route.tag],
        "responses": _responses(route),
    }
    if route.scope == "public":
        doc["security"] = []
    desc = _description(route)
    if desc:
        doc["description"] = desc
    params = _parameters(route)
    if params:
        doc["parameters"] = params
    if route.request is not None:
        doc["requestBody"] = {
            "required": True,
            "content": {
                "application/json": {
                    "schema": {"$ref": f"#/components/schemas/{route.request.__name__}"}
                }
            },
        }
    return doc


INTRO = (
    "One isolated worker and Chromium per WhatsApp client, behind one API.\n\n"
    "**Keys.** Send the admin key or a client token in `X-Api-Key` or "
    "`Authorization: Bearer`. A client token (`POST /api/clients/{id}/tokens`) is "
    "limited to its client and to its scopes: `read`, `send`, `control`, `webhooks`.\n\n"
    "**Limits.** Each key is rate limited (429 `rate_limited` with `Retry-After`). "
    "Sends are paced per client with jitter to reduce ban risk.\n\n"
    "**Errors** are RFC 9457 problem details (`application/problem+json`) with a "
    "stable `code`:\n\n| code | status | title |\n|---|---|---|\n"
)
TAGS = [
    {"name": "clients", "description": "client lifecycle"},
    {"name": "messages", "description": "send and read messages"},
    {"name": "tokens", "description": "per-client API tokens (admin key only)"},
    {"name": "events", "description": "the WebSocket event stream"},
    {"name": "webhooks", "description": "a client's own webhooks (the `webhooks` scope)"},
    {"name": "system", "description": "health, audit, this document"},
    {"name": "contacts", "description": "contacts, blocking, numbers on WhatsApp"},
    {"name": "groups", "description": "groups, their participants and invite links"},
    {"name": "analytics", "description": "messages, failures, restarts and uptime over time"},
]


def build_document(routes: Sequence[Route]) -> dict[str, Any]:
    paths: dict[str, dict[str, Any]] = {}
    for route in routes:
        if route.listed:
            paths.setdefault(route.path, {})[route.method.lower()] = _operation(route)
    codes_table = "\n".join(
        f"| `{code}` | {status} | {title} |" for code, (status, title) in HTTP.items()
    )
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "wamc — WhatsApp multi-client gateway",
            "version": __version__,
            "description": INTRO + codes_table,
        },
        "tags": TAGS,
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
            code: {"status": status, "title": title} for code, (status, title) in HTTP.items()
        },
    }


_DOC_CACHE: dict[int, str] = {}


def document_json(routes: Sequence[Route]) -> str:
    """The document as JSON, rendered once per route table."""
    key = id(routes)
    if key not in _DOC_CACHE:
        _DOC_CACHE[key] = json.dumps(build_document(routes))
    return _DOC_CACHE[key]
