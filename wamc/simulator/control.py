"""The simulator's control API (``/control/``): tests and demos play the phones through it."""

from __future__ import annotations

import logging
from typing import Any

from aiohttp import web

from .model import SimError
from .world import World

log = logging.getLogger("wamc.simulator")
WORLD_KEY = web.AppKey("world", World)


async def _body(request: web.Request) -> dict[str, Any]:
    try:
        data = await request.json()
    except ValueError as exc:
        raise SimError("body must be JSON") from exc
    if not isinstance(data, dict):
        raise SimError("body must be a JSON object")
    return data


@web.middleware
async def json_errors(request: web.Request, handler: Any) -> web.StreamResponse:
    try:
        return await handler(request)
    except SimError as exc:
        return web.json_response({"error": str(exc)}, status=exc.status)
    except web.HTTPException as exc:
        if exc.status < 400 or not request.path.startswith("/control/"):
            raise
        return web.json_response({"error": exc.reason}, status=exc.status)
    except Exception:
        log.exception("simulator: %s %s failed", request.method, request.path)
        return web.json_response({"error": "internal error"}, status=500)


async def health(request: web.Request) -> web.Response:
    return web.json_response({"status": "ok"})


async def devices(request: web.Request) -> web.Response:
    return web.json_response({"devices": request.app[WORLD_KEY].describe()})


async def scan(request: web.Request) -> web.Response:
    data = await _body(request)
    device = request.app[WORLD_KEY].scan(data.get("qr"), data.get("phone"))
    return web.json_response({"device_id": device.device_id, "phone": device.phone})


async def link_code(request: web.Request) -> web.Response:
    data = await _body(request)
    device = request.app[WORLD_KEY].enter_link_code(data.get("code"))
    return web.json_response({"device_id": device.device_id, "phone": device.phone})


async def messages(request: web.Request) -> web.Response:
    data = await _body(request)
    result = request.app[WORLD_KEY].deliver(
        data.get("to"),
        data.get("from"),
        data.get("body"),
        data.get("type", "chat"),
        data.get("t"),
        data.get("as_lid", False),
    )
    return web.json_response(result)


async def sent(request: web.Request) -> web.Response:
    msgs = request.app[WORLD_KEY].sent(request.query.get("phone"))
    return web.json_response({"messages": msgs})


async def ack(request: web.Request) -> web.Response:
    data = await _body(request)
    result = request.app[WORLD_KEY].set_ack(data.get("phone"), data.get("id"), data.get("ack"))
    return web.json_response(result)


async def revoke(request: web.Request) -> web.Response:
    data = await _body(request)
    return web.json_response(request.app[WORLD_KEY].revoke(data.get("phone"), data.get("id")))


async def edit(request: web.Request) -> web.Response:
    data = await _body(request)
    result = request.app[WORLD_KEY].edit(data.get("phone"), data.get("id"), data.get("body"))
    return web.json_response(result)


async def reaction(request: web.Request) -> web.Response:
    data = await _body(request)
    result = request.app[WORLD_KEY].react(
        data.get("phone"), data.get("id"), data.get("reaction"), data.get("from")
    )
    return web.json_response(result)


async def presence(request: web.Request) -> web.Response:
    data = await _body(request)
    result = request.app[WORLD_KEY].presence(data.get("phone"), data.get("from"), data.get("state"))
    return web.json_response(result)


async def call(request: web.Request) -> web.Response:
    data = await _body(request)
    result = request.app[WORLD_KEY].call(
        data.get("phone"), data.get("from"), data.get("is_video", False)
    )
    return web.json_response(result)


async def logout(request: web.Request) -> web.Response:
    data = await _body(request)
    ids = request.app[WORLD_KEY].logout(data.get("phone"), data.get("reason"))
    return web.json_response({"devices": ids})


async def conflict(request: web.Request) -> web.Response:
    data = await _body(request)
    return web.json_response({"devices": request.app[WORLD_KEY].conflict(data.get("phone"))})


async def page_emit(request: web.Request) -> web.Response:
    """Make the pages of ``phone`` emit WPP events (hostile-page tests): ``events`` [{name,
    data}] through wa-js's listeners (``via: "binding"``: straight to ``__wamcEmit``), then
    ``presets`` (garbage JSON cannot carry, see whatsapp.js). Answers each page's report."""
    data = await _body(request)
    timeout = data.get("timeout", 30)
    if not isinstance(timeout, int | float) or isinstance(timeout, bool) or not 0 < timeout <= 120:
        raise SimError("timeout must be seconds, at most 120")
    reports = await request.app[WORLD_KEY].page_emit(data.get("phone"), data, float(timeout))
    return web.json_response({"reports": reports})


async def qr_rotation(request: web.Request) -> web.Response:
    data = await _body(request)
    frozen = data.get("frozen")
    if not isinstance(frozen, bool):
        raise SimError("frozen must be true or false")
    world = request.app[WORLD_KEY]
    world.set_qr_frozen(frozen)
    return web.json_response({"frozen": world.qr_frozen})


def control_routes() -> list[web.RouteDef]:
    return [
        web.get("/control/health", health),
        web.get("/control/devices", devices),
        web.post("/control/scan", scan),
        web.post("/control/link-code", link_code),
        web.post("/control/messages", messages),
        web.get("/control/sent", sent),
        web.post("/control/ack", ack),
        web.post("/control/revoke", revoke),
        web.post("/control/edit", edit),
        web.post("/control/reaction", reaction),
        web.post("/control/presence", presence),
        web.post("/control/call", call),
        web.post("/control/logout", logout),
        web.post("/control/conflict", conflict),
        web.post("/control/qr-rotation", qr_rotation),
        web.post("/control/page-emit", page_emit),
    ]
