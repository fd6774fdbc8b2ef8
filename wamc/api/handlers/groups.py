"""Groups: list, create, info with admin flags, participants (add, remove, promote, demote),
leave, invite link. Changes wait their turn in the client's send queue (paced like sends: mass
group actions look like a bot). Membership is WhatsApp's: nothing here is stored."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import msgspec
from aiohttp import web

from wamc.api.group_models import GroupCreate, ParticipantsChange
from wamc.api.handlers.contacts import ask, connected, json_body
from wamc.api.keys import PACER
from wamc.timeutil import iso_from_unix
from wamc.validation import client_id, group_id, validate_body
from wamc.wire import commands as C

INVITE_URL = "https://chat.whatsapp.com/"


async def _paced(request: web.Request, act: Callable[[], Awaitable[Any]]) -> Any:
    """Run ``act`` in the client's paced queue (429 send_queue_full when it is full)."""
    connected(request)  # fail fast rather than after the queue
    return await request.app[PACER].run(client_id(request.match_info["id"]), act)


async def list_groups(request: web.Request) -> web.Response:
    client = connected(request)
    found = await ask(request, client, C.GROUPS, {}, C.GroupList)
    return web.json_response({"groups": [msgspec.to_builtins(g) for g in found]})


async def create_group(request: web.Request) -> web.Response:
    client_id(request.match_info["id"])
    body = validate_body(GroupCreate, await json_body(request))
    assert isinstance(body, GroupCreate)
    args = {"name": body.name, "participants": body.participants}

    async def create() -> C.GroupCreated:
        return await ask(request, connected(request), C.GROUP_CREATE, args, C.GroupCreated)

    made = await _paced(request, create)
    answer = {
        "id": made.id,
        "name": body.name,
        "participants": [msgspec.to_builtins(p) for p in made.participants],
    }
    return web.json_response(answer, status=201)


async def group_info(request: web.Request) -> web.Response:
    gid = group_id(request.match_info["gid"])
    client = connected(request)
    info = await ask(request, client, C.GROUP_INFO, {"id": gid}, C.GroupInfo)
    out: dict[str, Any] = msgspec.to_builtins(info)
    out["created_at"] = iso_from_unix(info.created_at) if info.created_at else None
    return web.json_response(out)


async def change_participants(request: web.Request) -> web.Response:
    gid = group_id(request.match_info["gid"])
    body = validate_body(ParticipantsChange, await json_body(request))
    assert isinstance(body, ParticipantsChange)
    args = {"id": gid, **body.model_dump()}

    async def change() -> list[C.ParticipantResult]:
        kind = C.ParticipantResults
        return await ask(request, connected(request), C.GROUP_PARTICIPANTS, args, kind)

    done = await _paced(request, change)
    return web.json_response({"id": gid, "participants": [msgspec.to_builtins(p) for p in done]})


async def leave_group(request: web.Request) -> web.Response:
    gid = group_id(request.match_info["gid"])

    async def leave() -> C.GroupLeft:
        return await ask(request, connected(request), C.GROUP_LEAVE, {"id": gid}, C.GroupLeft)

    left = await _paced(request, leave)
    return web.json_response({"id": gid, "left": left.left, "was_member": left.was_member})


async def _invite(request: web.Request, revoke: bool) -> web.Response:
    gid = group_id(request.match_info["gid"])

    async def invite() -> C.GroupInvite:
        args = {"id": gid, "revoke": revoke}
        return await ask(request, connected(request), C.GROUP_INVITE, args, C.GroupInvite)

    found = await (_paced(request, invite) if revoke else invite())
    return web.json_response({"id": gid, "code": found.code, "url": INVITE_URL + found.code})


async def group_invite(request: web.Request) -> web.Response:
    return await _invite(request, revoke=False)


async def revoke_group_invite(request: web.Request) -> web.Response:
    return await _invite(request, revoke=True)
