"""Per-client API tokens (admin key only) and single-use stream tickets (any key)."""

from __future__ import annotations

import json

from aiohttp import web

from wamc.api.keys import MANAGER, STREAMS, TICKETS, TOKENS
from wamc.api.middleware import principal_of
from wamc.api.streams import POLICY_VIOLATION
from wamc.errors import Refused
from wamc.validation import TokenCreate, client_id, validate_body


def _client(request: web.Request) -> str:
    cid = client_id(request.match_info["id"])
    request.app[MANAGER].get(cid)  # 404 for an unknown client
    return cid


async def create_token(request: web.Request) -> web.Response:
    cid = _client(request)
    try:
        body = await request.json()
    except (json.JSONDecodeError, UnicodeDecodeError):
        raise Refused("invalid_json", "the body is not valid JSON") from None
    spec = validate_body(TokenCreate, body)
    assert isinstance(spec, TokenCreate)
    rec, secret = await request.app[TOKENS].create(cid, spec.scopes, spec.name)
    return web.json_response(
        {**rec.public(), "token": secret}, status=201, headers={"Cache-Control": "no-store"}
    )


async def list_tokens(request: web.Request) -> web.Response:
    cid = _client(request)
    return web.json_response({"tokens": [r.public() for r in request.app[TOKENS].list(cid)]})


async def revoke_token(request: web.Request) -> web.Response:
    cid = _client(request)
    token_id = request.match_info["tokenId"]
    if not await request.app[TOKENS].revoke(cid, token_id):
        raise Refused("token_not_found", f"client {cid} has no token {token_id[:40]!r}")
    request.app[STREAMS].end_where(
        lambda p: p.key_id == token_id, POLICY_VIOLATION, f"token {token_id} revoked"
    )
    return web.json_response({"id": token_id, "revoked": True})


async def create_stream_ticket(request: web.Request) -> web.Response:
    """A single-use ticket for ``/ws?ticket=`` or ``/api/events?ticket=`` (browsers cannot send
    headers on a WebSocket; a key in a URL ends up in logs and history)."""
    principal = principal_of(request)
    if principal is None:  # the middleware authenticated this call
        raise Refused("unauthorized")
    tickets = request.app[TICKETS]
    ticket = tickets.issue(principal)
    return web.json_response(
        {"ticket": ticket, "expires_in": int(tickets.ttl)},
        status=201,
        headers={"Cache-Control": "no-store"},
    )
