"""A client's own settings (issue 11): ``GET`` and ``PATCH /api/clients/{id}/settings``.

PATCH is a merge: the fields it names are set (null: back to the global default), the others
stay. The answer holds the stored settings (the proxy's password masked) and the effective
retention."""

from __future__ import annotations

import json

from aiohttp import web

from wamc.api.keys import MANAGER
from wamc.daemon import Client
from wamc.errors import Refused
from wamc.storage.client_settings import ClientSettings
from wamc.validation import client_id, validate_body
from wamc.validation.proxy import masked_proxy, parse_proxy


def _client(request: web.Request) -> Client:
    manager = request.app[MANAGER]
    return manager.get(client_id(request.match_info["id"], manager.clients))


def _answer(client: Client, own: ClientSettings) -> web.Response:
    shown = own.model_dump()
    shown["proxy"] = masked_proxy(own.proxy)  # never the password
    return web.json_response(
        {
            "id": client.id,
            "settings": shown,
            "retention": client.retention.model_dump() if client.retention else None,
        }
    )


async def get_settings(request: web.Request) -> web.Response:
    client = _client(request)
    return _answer(client, await request.app[MANAGER].retention.get(client))


async def patch_settings(request: web.Request) -> web.Response:
    client = _client(request)
    try:
        body = await request.json()
    except (json.JSONDecodeError, UnicodeDecodeError):
        raise Refused("invalid_json", "the body is not valid JSON") from None
    change = validate_body(ClientSettings, body)
    assert isinstance(change, ClientSettings)
    service = request.app[MANAGER].retention
    if change.proxy is not None:
        parse_proxy(change.proxy)  # 400 invalid_proxy, 422 proxy_auth_unsupported
        if change.proxy == masked_proxy((await service.get(client)).proxy):
            # The masked form sent back (a form's round-trip): the stored password stays.
            kept = {k: v for k, v in body.items() if k != "proxy"}
            change = ClientSettings.model_validate(kept)
    merged = await service.change(client, change)
    return _answer(client, merged)
