"""Control API of message actions (``/control/``): what the phone shows of a chat, the edit
window, and incoming messages of every kind (replies, locations, contacts, stickers, polls,
notifications) for tests and demos."""

from __future__ import annotations

from aiohttp import web

from .control import WORLD_KEY, _body


async def chat(request: web.Request) -> web.Response:
    """``?phone=&with=``: reads, our typing state, reactions, edits, deletes, what was sent."""
    world = request.app[WORLD_KEY]
    return web.json_response(
        world.chat_state(request.query.get("phone"), request.query.get("with"))
    )


async def edit_window(request: web.Request) -> web.Response:
    data = await _body(request)
    return web.json_response(
        {"seconds": request.app[WORLD_KEY].set_edit_window(data.get("seconds"))}
    )


async def incoming(request: web.Request) -> web.Response:
    """``{to, from, type, quoted_id?, …fields}``: see ``Actions.incoming``."""
    return web.json_response(request.app[WORLD_KEY].incoming(await _body(request)))


def action_routes() -> list[web.RouteDef]:
    return [
        web.get("/control/chat", chat),
        web.post("/control/edit-window", edit_window),
        web.post("/control/incoming", incoming),
    ]
