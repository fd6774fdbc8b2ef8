"""The people and groups of the simulator: the page's requests and the control API for tests
(a contact saved, a profile changed, someone else's group, someone else adding a participant)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from aiohttp import web

from .control import WORLD_KEY, _body
from .model import BadRequest, Connection, check_phone
from .world import World


def page_groups(
    world: World, conn: Connection, msg: dict[str, Any]
) -> dict[str, Callable[[], Any]]:
    """The page's requests about people and groups (server.py dispatches them)."""
    return {
        "profile_pic": lambda: world.profile_pic(conn, msg.get("id")),
        "block": lambda: world.block(conn, msg.get("id"), msg.get("blocked")),
        "group_create": lambda: world.page_group_create(
            conn, msg.get("subject"), msg.get("participants")
        ),
        "group_change": lambda: world.page_group_change(conn, msg),
        "group_leave": lambda: world.page_group_leave(conn, msg.get("gid")),
        "group_invite": lambda: world.page_group_invite(conn, msg.get("gid"), msg.get("revoke")),
    }


def _phones(value: Any) -> list[str]:
    if not isinstance(value, list) or len(value) > 1024:
        raise BadRequest("participants must be a list of phone numbers")
    return [check_phone(p, "participant") for p in value]


async def contacts(request: web.Request) -> web.Response:
    """``phone`` saves ``contact`` in its address book as ``name``."""
    data = await _body(request)
    world = request.app[WORLD_KEY]
    return web.json_response(
        world.add_contact(data.get("phone"), data.get("contact"), data.get("name"))
    )


async def profile(request: web.Request) -> web.Response:
    """``phone`` sets its ``push_name``, ``business`` flag, or a new ``picture`` (false: none)."""
    data = await _body(request)
    return web.json_response(request.app[WORLD_KEY].set_profile(data.get("phone"), data))


async def groups(request: web.Request) -> web.Response:
    """Phone ``by`` creates a group with ``participants`` (phones; those on WhatsApp join)."""
    data = await _body(request)
    world = request.app[WORLD_KEY]
    group = world.create_group(
        check_phone(data.get("by"), "by"), data.get("subject"), _phones(data.get("participants"))
    )
    return web.json_response(world.describe_group(group.id))


async def group_participants(request: web.Request) -> web.Response:
    """Admin ``by`` of group ``id`` does ``action`` (add|remove|promote|demote) to phones."""
    data = await _body(request)
    world = request.app[WORLD_KEY]
    by = check_phone(data.get("by"), "by")
    codes = world.change(data.get("id"), by, data.get("action"), _phones(data.get("participants")))
    return web.json_response({"codes": codes, "group": world.describe_group(data.get("id"))})


async def group(request: web.Request) -> web.Response:
    return web.json_response(request.app[WORLD_KEY].describe_group(request.query.get("id")))


async def directory(request: web.Request) -> web.Response:
    return web.json_response(request.app[WORLD_KEY].directory(request.query.get("phone")))


def group_routes() -> list[web.RouteDef]:
    return [
        web.post("/control/contacts", contacts),
        web.post("/control/profile", profile),
        web.post("/control/groups", groups),
        web.post("/control/group-participants", group_participants),
        web.get("/control/group", group),
        web.get("/control/directory", directory),
    ]
