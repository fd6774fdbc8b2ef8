"""Messaging endpoints: send, chats, chat history."""

from __future__ import annotations

import json
from typing import Any

from aiohttp import web
from pydantic import ValidationError

from wamc.api.keys import IDEMPOTENCY, MANAGER, PACER, SETTINGS, STORE
from wamc.errors import Refused
from wamc.security import request_hash
from wamc.states import ClientState
from wamc.storage import messages as message_rows
from wamc.validation import (
    SendMessage,
    bounded_int,
    chat_id,
    client_id,
    contact_id,
    decode_cursor,
    encode_cursor,
    recipient,
)
from wamc.wire import commands as C

# A valid send that did not go out (counted in the analytics as a send failure).
SEND_FAILED = frozenset(
    {"not_connected", "worker_unavailable", "worker_timeout", "whatsapp_error", "no_qr"}
    | {"send_queue_full", "shutting_down", "not_on_whatsapp"}
)


async def _json(request: web.Request) -> object:
    try:
        return await request.json()
    except (json.JSONDecodeError, UnicodeDecodeError):
        raise Refused("invalid_json", "the body is not valid JSON") from None


def _connected(request: web.Request):
    client = request.app[MANAGER].get(client_id(request.match_info["id"]))
    if client.state != ClientState.CONNECTED:
        raise Refused("not_connected", f"client {client.id} is {client.state}, not connected")
    return client


async def send_message(request: web.Request) -> web.Response:
    manager = request.app[MANAGER]
    manager.get(client_id(request.match_info["id"]))
    try:
        return await _send_message(request)
    except Refused as err:
        if err.code in SEND_FAILED:
            await manager.analytics.send_failed(client_id(request.match_info["id"]))
        raise


async def _send_message(request: web.Request) -> web.Response:
    manager = request.app[MANAGER]
    body = await _json(request)
    if not isinstance(body, dict):
        raise Refused("invalid_json", "the body must be a JSON object")
    try:
        msg = SendMessage.model_validate(body)
    except ValidationError as exc:
        err = exc.errors()[0]
        field = ".".join(str(p) for p in err["loc"]) or None
        raise Refused("invalid_field", f"{field}: {err['msg']}", field=field) from None
    to = recipient(msg.to)
    mentions = _mentions(to, msg.mentions)
    cid = client_id(request.match_info["id"])
    timeout = request.app[SETTINGS].request_timeout

    async def send() -> tuple[int, dict]:
        # Waits its turn in the client's paced queue (429 when full); 504 past the timeout.
        client = _connected(request)
        args: dict[str, Any] = {"to": to, "text": msg.text}
        if msg.reply_to:
            args["reply_to"] = msg.reply_to
        if mentions:
            args["mentions"] = mentions
        sent = await manager.request(client, C.SEND_TEXT, args, timeout, C.Sent)
        return 201, {"id": sent.id, "ack": sent.ack, "to": to, "client": cid}

    async def paced() -> tuple[int, dict]:
        return await request.app[PACER].run(cid, send)

    idem = request.headers.get("Idempotency-Key")
    if idem is None:
        _connected(request)  # fail fast rather than after the queue
        status, answer = await paced()
        return web.json_response(answer, status=status)
    store = request.app[IDEMPOTENCY]
    key = store.check_key(idem)
    status, answer, replayed = await store.run(cid, key, request_hash(body), paced)
    headers = {"Idempotent-Replayed": "true"} if replayed else None
    return web.json_response(answer, status=status, headers=headers)


def _mentions(to: str, given: list[str] | None) -> list[str]:
    """The members a group message @-mentions, as contact ids (once each)."""
    if not given:
        return []
    if not to.endswith("@g.us"):
        raise Refused("invalid_field", "mentions: only in a group chat", field="mentions")
    return list(dict.fromkeys(contact_id(m, field="mentions") for m in given))


async def chats(request: web.Request) -> web.Response:
    client = _connected(request)
    limit = bounded_int(request.query.get("limit"), "limit", 100, 1, 500)
    timeout = request.app[SETTINGS].request_timeout
    result = await request.app[MANAGER].request(
        client, C.CHATS, {"count": limit}, timeout, C.ChatList
    )
    return web.json_response({"chats": result})


async def chat_messages(request: web.Request) -> web.Response:
    manager = request.app[MANAGER]
    client = manager.get(client_id(request.match_info["id"]))
    chat = chat_id(request.match_info["chatId"])
    limit = bounded_int(request.query.get("limit"), "limit", 50, 1, 500)
    before_raw = request.query.get("before")
    before = decode_cursor(before_raw) if before_raw else None
    rows = await message_rows.page(request.app[STORE], client.id, chat, limit + 1, before)
    page = rows[:limit]
    next_before = encode_cursor(page[-1][0]) if len(rows) > limit else None
    return web.json_response({"messages": [m for _, m in page], "next_before": next_before})
