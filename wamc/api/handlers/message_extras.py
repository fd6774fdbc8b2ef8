"""Forwards and polls (issue 11, "also expected"): ``POST …/messages/{msgId}/forward`` and
``POST …/send-poll``. Both make WhatsApp send a message: they wait their turn in the client's
paced send queue like a text and take an ``Idempotency-Key``. A poll's votes come back as
``poll.vote`` events (wa-js ``chat.poll_response``)."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from wamc.api import extras_models as XM
from wamc.api.handlers.message_actions import Answer, _body, _client, _paced
from wamc.api.keys import MANAGER, SETTINGS
from wamc.errors import Refused
from wamc.states import ClientState
from wamc.validation import message_id, recipient
from wamc.wire import commands as C


async def _send(request: web.Request, cid: str, cmd: str, args: dict[str, Any]) -> C.Sent:
    manager = request.app[MANAGER]
    client = manager.get(cid)
    if client.state != ClientState.CONNECTED:
        raise Refused("not_connected", f"client {cid} is {client.state}, not connected")
    timeout = request.app[SETTINGS].request_timeout
    sent: C.Sent = await manager.request(client, cmd, args, timeout, C.Sent)
    return sent


async def forward(request: web.Request) -> web.Response:
    cid, mid = _client(request), message_id(request.match_info["msgId"])
    raw, body = await _body(request, XM.Forward)
    to = recipient(body.to)

    async def run() -> Answer:
        sent = await _send(request, cid, C.FORWARD_MESSAGE, {"id": mid, "to": to})
        answer = {"id": sent.id, "ack": sent.ack, "to": to, "forwarded_from": mid, "client": cid}
        return 201, answer

    return await _paced(request, cid, raw, run)


async def send_poll(request: web.Request) -> web.Response:
    cid = _client(request)
    raw, body = await _body(request, XM.SendPoll)
    to = recipient(body.to)
    args = {
        "to": to,
        "name": body.name,
        "options": [o.strip() for o in body.options],
        "selectable_count": body.selectable_count,
        "reply_to": body.reply_to,
    }

    async def run() -> Answer:
        sent = await _send(request, cid, C.SEND_POLL, args)
        return 201, {
            "id": sent.id,
            "ack": sent.ack,
            "to": to,
            "type": "poll_creation",
            "client": cid,
        }

    return await _paced(request, cid, raw, run)
