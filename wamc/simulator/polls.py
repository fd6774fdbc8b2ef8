"""Votes on polls (issue 11): a contact votes on a poll a simulated account sent it.

The vote reaches the poll creator's linked pages as WhatsApp's servers deliver it (an update the
page applies like ``upsertVotes``), from which wa-js raises ``chat.poll_response``. Control API:
``POST /control/poll-vote {"phone", "from", "id", "options": [names]}`` (``[]`` withdraws).
"""

from __future__ import annotations

import time
from typing import Any

from aiohttp import web

from .control import WORLD_KEY, _body
from .model import BadRequest, Conflict, NotFound, bare_id, check_phone, user_wid


def poll_vote(world: Any, data: dict[str, Any]) -> dict[str, Any]:
    phone, voter = check_phone(data.get("phone"), "phone"), check_phone(data.get("from"), "from")
    msg_id, names = data.get("id"), data.get("options")
    if not isinstance(msg_id, str) or not msg_id:
        raise BadRequest("id must be the poll's message id")
    if not isinstance(names, list) or not all(isinstance(n, str) for n in names):
        raise BadRequest("options must be a list of option names")
    account = world.accounts.get(phone)
    record = account.sent.get(bare_id(msg_id)) if account else None
    if record is None or record["type"] != "poll_creation":
        raise NotFound(f"{phone} sent no poll {msg_id}")
    group = world.groups.get(record["to"])
    if record["to"] != user_wid(voter) and (group is None or voter not in group.members):
        raise Conflict(f"{voter} cannot see poll {msg_id}")
    options = {o["name"]: o["localId"] for o in record["extra"].get("pollOptions", [])}
    unknown = [n for n in names if n not in options]
    if unknown:
        raise BadRequest(f"no option {unknown[0]!r} in the poll")
    most = record["extra"].get("pollSelectableOptionsCount") or len(options)
    if len(set(names)) > most:
        raise BadRequest(f"this poll takes at most {most} choices")
    selected = sorted({options[n] for n in names})
    update = {
        "t": "poll_vote",
        "key": record["id"],
        "from": user_wid(voter),
        "selected": selected,
        "at_ms": int(time.time() * 1000),
    }
    live = world._push_update(phone, update)
    return {"id": record["id"], "selected": selected, "delivered": "live" if live else "queued"}


async def control_poll_vote(request: web.Request) -> web.Response:
    return web.json_response(poll_vote(request.app[WORLD_KEY], await _body(request)))


def poll_routes() -> list[web.RouteDef]:
    return [web.post("/control/poll-vote", control_poll_vote)]
