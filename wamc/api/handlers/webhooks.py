"""Webhook endpoints: configuration, delivery log, dead letters (see wamc/webhooks/)."""

from __future__ import annotations

import json
from typing import Any

from aiohttp import web
from pydantic import BaseModel, ValidationError

from wamc.api.keys import MANAGER, WEBHOOKS
from wamc.errors import Refused
from wamc.validation import bounded_int, client_id
from wamc.webhooks import WebhookIn


async def _body(request: web.Request) -> dict[str, Any]:
    try:
        body = await request.json()
    except (json.JSONDecodeError, UnicodeDecodeError):
        raise Refused("invalid_json", "the body is not valid JSON") from None
    if not isinstance(body, dict):
        raise Refused("invalid_json", "the body must be a JSON object")
    return body


def _invalid(exc: ValidationError) -> Refused:
    err = exc.errors()[0]
    field = ".".join(str(p) for p in err["loc"]) or None
    msg = str(err["msg"]).removeprefix("Value error, ")
    return Refused("invalid_field", f"{field}: {msg}" if field else msg, field=field)


def _validate(model: type[BaseModel], body: dict[str, Any]) -> Any:
    try:
        return model.model_validate(body)
    except ValidationError as exc:
        raise _invalid(exc) from None


async def _view(request: web.Request, hook: Any) -> dict[str, Any]:
    service = request.app[WEBHOOKS]
    return {**hook.view(), "stats": await service.counts(hook.id)}


async def _create(request: web.Request, client: str | None) -> web.Response:
    spec = _validate(WebhookIn, await _body(request))
    hook, secret = await request.app[WEBHOOKS].create(client, spec)
    # The secret is shown once, here; it signs every delivery.
    return web.json_response({**await _view(request, hook), "secret": secret}, status=201)


async def create_global(request: web.Request) -> web.Response:
    return await _create(request, None)


async def create_for_client(request: web.Request) -> web.Response:
    client = request.app[MANAGER].get(client_id(request.match_info["id"]))
    return await _create(request, client.id)


async def list_all(request: web.Request) -> web.Response:
    hooks = request.app[WEBHOOKS].listing()
    return web.json_response({"webhooks": [await _view(request, h) for h in hooks]})


async def list_for_client(request: web.Request) -> web.Response:
    client = request.app[MANAGER].get(client_id(request.match_info["id"]))
    hooks = request.app[WEBHOOKS].listing(client.id, scoped=True)
    return web.json_response({"webhooks": [await _view(request, h) for h in hooks]})


def _own(request: web.Request) -> Any:
    """The webhook ``wid`` of the client in the path: another client's (or a global) webhook is
    ``webhook_not_found``, so a client token learns nothing about it."""
    client = request.app[MANAGER].get(client_id(request.match_info["id"]))
    hook = request.app[WEBHOOKS].get(request.match_info["wid"])
    if hook.client != client.id:
        raise Refused("webhook_not_found", f"client {client.id} has no webhook {hook.id!r}")
    return hook


async def get_for_client(request: web.Request) -> web.Response:
    return web.json_response(await _view(request, _own(request)))


async def delete_for_client(request: web.Request) -> web.Response:
    await request.app[WEBHOOKS].delete(_own(request).id)
    return web.Response(status=204)


async def deliveries_for_client(request: web.Request) -> web.Response:
    limit = bounded_int(request.query.get("limit"), "limit", 20, 1, 200)
    rows = await request.app[WEBHOOKS].deliveries(_own(request).id, limit)
    return web.json_response({"deliveries": rows})


async def get(request: web.Request) -> web.Response:
    hook = request.app[WEBHOOKS].get(request.match_info["wid"])
    return web.json_response(await _view(request, hook))


async def update(request: web.Request) -> web.Response:
    service = request.app[WEBHOOKS]
    service.get(request.match_info["wid"])
    body = await _body(request)
    try:
        hook = await service.update(request.match_info["wid"], body)
    except ValidationError as exc:
        raise _invalid(exc) from None
    return web.json_response(await _view(request, hook))


async def delete(request: web.Request) -> web.Response:
    await request.app[WEBHOOKS].delete(request.match_info["wid"])
    return web.Response(status=204)


async def deliveries(request: web.Request) -> web.Response:
    limit = bounded_int(request.query.get("limit"), "limit", 100, 1, 1000)
    rows = await request.app[WEBHOOKS].deliveries(request.match_info["wid"], limit)
    return web.json_response({"deliveries": rows})


async def dead_letters(request: web.Request) -> web.Response:
    limit = bounded_int(request.query.get("limit"), "limit", 100, 1, 1000)
    rows = await request.app[WEBHOOKS].dead_letters(request.match_info["wid"], limit)
    return web.json_response({"dead_letters": rows})


async def redeliver(request: web.Request) -> web.Response:
    """Body ``{"ids": [<dead letter id>, …]}``; no body (or no ids): every dead letter."""
    ids: list[int] | None = None
    if request.can_read_body:
        body = await _body(request)
        raw = body.get("ids")
        if raw is not None:
            if not isinstance(raw, list) or not all(
                isinstance(i, int) and not isinstance(i, bool) for i in raw
            ):
                raise Refused("invalid_field", "ids must be a list of integers", field="ids")
            if len(raw) > 10_000:
                raise Refused("invalid_field", "at most 10000 ids at once", field="ids")
            ids = raw
    n = await request.app[WEBHOOKS].redeliver(request.match_info["wid"], ids)
    return web.json_response({"redelivered": n}, status=202)
