"""Message actions (issue 11): react, edit, delete, mark read, typing, send location or contacts.

Everything that makes WhatsApp send something (a reaction, an edit, a delete, a location or a
contact card) waits its turn in the client's paced send queue, like a text; marking a chat read
and typing are immediate. The worker checks what only WhatsApp Web knows (the message exists, it
is ours, the edit window) and answers with the domain codes (wamc/wire/commands.py).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any, TypeVar, cast

from aiohttp import web
from pydantic import BaseModel

from wamc.api import message_models as MM
from wamc.api.keys import IDEMPOTENCY, MANAGER, PACER, SETTINGS
from wamc.errors import Refused
from wamc.security import request_hash
from wamc.states import ClientState
from wamc.validation import chat_id, client_id, message_id, recipient, validate_body
from wamc.wire import commands as C

Answer = tuple[int, dict[str, Any]]
DELETE_FOR = ("everyone", "me")
M = TypeVar("M", bound=BaseModel)


async def _body(request: web.Request, model: type[M]) -> tuple[Any, M]:
    try:
        raw = await request.json()
    except ValueError:
        raise Refused("invalid_json", "the body is not valid JSON") from None
    return raw, cast(M, validate_body(model, raw))


def _client(request: web.Request) -> str:
    cid = client_id(request.match_info["id"])
    request.app[MANAGER].get(cid)  # 404 for an unknown client
    return cid


async def _command(request: web.Request, cid: str, cmd: str, args: dict[str, Any]) -> Any:
    """One command to the client's worker, which must be connected."""
    manager = request.app[MANAGER]
    client = manager.get(cid)
    if client.state != ClientState.CONNECTED:
        raise Refused("not_connected", f"client {cid} is {client.state}, not connected")
    result_type = C.Sent if cmd in (C.SEND_LOCATION, C.SEND_CONTACT) else C.Done
    timeout = request.app[SETTINGS].request_timeout
    return await manager.request(client, cmd, args, timeout, result_type)


async def _paced(
    request: web.Request, cid: str, raw: Any, run: Callable[[], Awaitable[Answer]]
) -> web.Response:
    """Through the client's send queue; an ``Idempotency-Key`` makes a repeat answer the same."""
    pacer = request.app[PACER]

    async def queued() -> Answer:
        return await pacer.run(cid, run)

    idem = request.headers.get("Idempotency-Key")
    if idem is None:
        status, answer = await queued()
        return web.json_response(answer, status=status)
    store = request.app[IDEMPOTENCY]
    key = store.check_key(idem)
    rhash = request_hash({"path": request.path, "method": request.method, "body": raw})
    status, answer, replayed = await store.run(cid, key, rhash, queued)
    headers = {"Idempotent-Replayed": "true"} if replayed else None
    return web.json_response(answer, status=status, headers=headers)


async def react(request: web.Request) -> web.Response:
    cid, mid = _client(request), message_id(request.match_info["msgId"])
    raw, body = await _body(request, MM.Reaction)
    emoji = body.emoji

    async def run() -> Answer:
        await _command(request, cid, C.REACT, {"id": mid, "emoji": emoji})
        return 200, {"id": mid, "emoji": emoji, "client": cid}

    return await _paced(request, cid, raw, run)


async def edit(request: web.Request) -> web.Response:
    cid, mid = _client(request), message_id(request.match_info["msgId"])
    raw, body = await _body(request, MM.EditMessage)
    text = body.text

    async def run() -> Answer:
        await _command(request, cid, C.EDIT_MESSAGE, {"id": mid, "text": text})
        return 200, {"id": mid, "text": text, "client": cid}

    return await _paced(request, cid, raw, run)


async def delete(request: web.Request) -> web.Response:
    cid, mid = _client(request), message_id(request.match_info["msgId"])
    scope = request.query.get("for")
    if scope is not None and scope not in DELETE_FOR:
        raise Refused("invalid_parameter", "'for' must be everyone or me", field="for")

    async def run() -> Answer:
        args = {"id": mid, "for": scope or "auto"}
        done = await _command(request, cid, C.DELETE_MESSAGE, args)
        return 200, {"id": mid, "deleted_for": done.deleted_for or scope, "client": cid}

    return await _paced(request, cid, {"for": scope}, run)


async def mark_read(request: web.Request) -> web.Response:
    cid, chat = _client(request), chat_id(request.match_info["chatId"])
    await _command(request, cid, C.MARK_READ, {"chat": chat})
    return web.json_response({"id": chat, "chat_id": chat, "client": cid})


async def typing(request: web.Request) -> web.Response:
    cid, chat = _client(request), chat_id(request.match_info["chatId"])
    _, body = await _body(request, MM.Typing)
    state = body.state
    await _command(request, cid, C.TYPING, {"chat": chat, "state": state})
    return web.json_response({"id": chat, "chat_id": chat, "state": state, "client": cid})


async def send_location(request: web.Request) -> web.Response:
    cid = _client(request)
    raw, body = await _body(request, MM.SendLocation)
    args: dict[str, Any] = body.model_dump(exclude_none=True)
    args["to"] = to = recipient(args["to"])

    async def run() -> Answer:
        sent = await _command(request, cid, C.SEND_LOCATION, args)
        return 201, {"id": sent.id, "ack": sent.ack, "to": to, "type": "location", "client": cid}

    return await _paced(request, cid, raw, run)


async def send_contact(request: web.Request) -> web.Response:
    cid = _client(request)
    raw, body = await _body(request, MM.SendContact)
    args: dict[str, Any] = body.model_dump(exclude_none=True)
    args["to"] = to = recipient(args["to"])
    for i, card in enumerate(args["contacts"]):
        try:
            card["id"] = recipient(card["id"])
        except Refused as exc:
            detail = f"contacts.{i}.id: not a phone number or chat id"
            raise Refused(exc.code, detail, field=f"contacts.{i}.id") from None
    kind = "vcard" if len(args["contacts"]) == 1 else "multi_vcard"

    async def run() -> Answer:
        sent = await _command(request, cid, C.SEND_CONTACT, args)
        return 201, {"id": sent.id, "ack": sent.ack, "to": to, "type": kind, "client": cid}

    return await _paced(request, cid, raw, run)
