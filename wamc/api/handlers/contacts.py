"""Contacts and numbers: the address book WhatsApp Web holds, one contact, block/unblock, and
"is this number on WhatsApp?" (rate limited per client: enumerating numbers gets them banned)."""

from __future__ import annotations

import json
from typing import Any

import msgspec
from aiohttp import web

from wamc.api.keys import MANAGER, NUMBER_LOOKUPS, SETTINGS
from wamc.daemon.registry import Client
from wamc.errors import Refused, Throttled
from wamc.states import ClientState
from wamc.validation import bounded_int, client_id, contact_id
from wamc.wire import commands as C


def connected(request: web.Request) -> Client:
    """The client of the path, which must be linked and running."""
    client = request.app[MANAGER].get(client_id(request.match_info["id"]))
    if client.state != ClientState.CONNECTED:
        raise Refused("not_connected", f"client {client.id} is {client.state}, not connected")
    return client


async def ask(request: web.Request, client: Client, cmd: str, args: dict[str, Any], kind: Any):
    """One command to the client's worker, its answer decoded as ``kind``."""
    timeout = request.app[SETTINGS].request_timeout
    return await request.app[MANAGER].request(client, cmd, args, timeout, kind)


async def json_body(request: web.Request) -> object:
    try:
        return await request.json()
    except (json.JSONDecodeError, UnicodeDecodeError):
        raise Refused("invalid_json", "the body is not valid JSON") from None


def flag(request: web.Request, name: str) -> bool:
    raw = request.query.get(name, "")
    if raw not in ("", "0", "1", "true", "false"):
        raise Refused("invalid_parameter", f"'{name}' must be true or false", field=name)
    return raw in ("1", "true")


def _contact(c: C.Contact, detail: bool = False) -> dict[str, Any]:
    out: dict[str, Any] = msgspec.to_builtins(c)
    if not detail:
        out.pop("profile_picture_url", None)
        out.pop("is_blocked", None)
    else:
        out["is_blocked"] = bool(out.get("is_blocked"))
    return out


async def list_contacts(request: web.Request) -> web.Response:
    client = connected(request)
    limit = bounded_int(request.query.get("limit"), "limit", 1000, 1, 5000)
    args = {"count": limit, "only_my_contacts": flag(request, "only_my_contacts")}
    found = await ask(request, client, C.CONTACTS, args, C.ContactList)
    return web.json_response({"contacts": [_contact(c) for c in found]})


async def get_contact(request: web.Request) -> web.Response:
    person = contact_id(request.match_info["contactId"])
    client = connected(request)
    found = await ask(request, client, C.CONTACT, {"id": person}, C.Contact)
    return web.json_response(_contact(found, detail=True))


async def _block(request: web.Request, blocked: bool) -> web.Response:
    person = contact_id(request.match_info["contactId"])
    client = connected(request)
    done = await ask(
        request, client, C.BLOCK_CONTACT, {"id": person, "blocked": blocked}, C.Blocked
    )
    return web.json_response({"id": done.id, "blocked": done.blocked})


async def block_contact(request: web.Request) -> web.Response:
    return await _block(request, True)


async def unblock_contact(request: web.Request) -> web.Response:
    return await _block(request, False)


async def number_exists(request: web.Request) -> web.Response:
    raw = request.match_info["phone"]
    if "@" in raw:
        raise Refused("invalid_parameter", "phone must be a number, not an id", field="phone")
    try:
        phone = contact_id(raw, "phone").split("@")[0]
    except Refused:
        raise Refused("invalid_parameter", "phone must be digits with the country code") from None
    client = connected(request)
    try:
        request.app[NUMBER_LOOKUPS].hit(client.id)
    except Throttled as exc:
        settings = request.app[SETTINGS]
        raise Throttled(
            "rate_limited",
            f"number lookups of {client.id} are limited to {settings.number_lookups_per_minute} "
            f"a minute (bursts of {settings.number_lookup_burst}): checking many numbers is a "
            "known reason for WhatsApp to ban one",
            float(exc.retry_after or 1),
        ) from None
    found = await ask(request, client, C.NUMBER_EXISTS, {"id": f"{phone}@c.us"}, C.NumberCheck)
    return web.json_response(
        {
            "phone": phone,
            "exists": found.exists,
            "chat_id": found.chat_id if found.exists else None,
            "is_business": found.is_business,
        }
    )
