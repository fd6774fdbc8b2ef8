"""Bulk delivery (``POST /control/messages/bulk``): contacts send a phone many texts at once, for
tests and benchmarks that need a large stored history (an export of 10,000 messages).

The messages go the way single ones do (the server's outbox, the page, IndexedDB, wa-js events),
paced at ``rate`` per second as a busy account's history would arrive; the answer comes at once
with every message's id, the delivery runs on in the background.
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any

from aiohttp import web

from .control import WORLD_KEY, _body
from .model import BadRequest, NotFound, check_phone, new_msg_id, user_wid
from .world import World

log = logging.getLogger("wamc.simulator")
MAX_COUNT = 200_000
MAX_SENDERS = 500
TICK = 0.01  # seconds between two slices of a paced delivery
RUNNING = web.AppKey("bulk_deliveries", set)


def _int(data: dict[str, Any], name: str, default: int, low: int, high: int) -> int:
    value = data.get(name, default)
    if not isinstance(value, int) or isinstance(value, bool) or not low <= value <= high:
        raise BadRequest(f"{name} must be an integer from {low} to {high}")
    return value


def plan(data: dict[str, Any]) -> dict[str, Any]:
    """The checked request: ``to``, ``from`` (a phone or a list: messages go round them, one
    chat each), ``count``, ``body`` (prefix; each message adds its number), ``t0`` and ``step``
    (message i is dated t0 + i*step, unix seconds; default: now, 0), ``rate`` per second."""
    senders = data.get("from")
    senders = [senders] if isinstance(senders, str) else senders
    if not isinstance(senders, list) or not 1 <= len(senders) <= MAX_SENDERS:
        raise BadRequest(f"from must be a phone or a list of 1 to {MAX_SENDERS} phones")
    body = data.get("body", "bulk")
    if not isinstance(body, str) or len(body) > 1000:
        raise BadRequest("body must be a string of at most 1000 characters")
    now = int(time.time())
    return {
        "to": check_phone(data.get("to"), "to"),
        "from": [check_phone(s, "from") for s in senders],
        "count": _int(data, "count", 1, 1, MAX_COUNT),
        "body": body,
        "t0": _int(data, "t0", now, 1, 2**40),
        "step": _int(data, "step", 0, -(2**20), 2**20),
        "rate": _int(data, "rate", 500, 1, 100_000),
    }


async def _deliver_all(world: World, p: dict[str, Any], ids: list[str]) -> None:
    per_tick = max(1, round(p["rate"] * TICK))
    senders = p["from"]
    for i, msg_id in enumerate(ids):
        sender = senders[i % len(senders)]
        t = p["t0"] + i * p["step"]
        world._deliver(p["to"], sender, f"{p['body']} {i}", "chat", msg_id, t)
        if (i + 1) % per_tick == 0:
            await asyncio.sleep(TICK)
    log.info("simulator: bulk delivery of %d messages to %s done", len(ids), p["to"])


async def bulk_messages(request: web.Request) -> web.Response:
    p = plan(await _body(request))
    world = request.app[WORLD_KEY]
    if not world._linked_devices(p["to"]):
        raise NotFound(f"phone {p['to']} has no linked WhatsApp Web device")
    ids = [new_msg_id() for _ in range(p["count"])]
    task = asyncio.create_task(_deliver_all(world, p, ids))
    running = request.app[RUNNING]
    running.add(task)
    task.add_done_callback(running.discard)
    senders = p["from"]
    keys = [f"false_{user_wid(senders[i % len(senders)])}_{m}" for i, m in enumerate(ids)]
    return web.json_response({"count": len(keys), "ids": keys, "seconds": len(keys) / p["rate"]})


def bulk_routes(app: web.Application) -> list[web.RouteDef]:
    app[RUNNING] = set()
    return [web.post("/control/messages/bulk", bulk_messages)]
