"""Nodes of the Ray backend (issue 14): list, move a client, drain a node (and undo it)."""

from __future__ import annotations

import json
import re

from aiohttp import web

from wamc.api.keys import MANAGER
from wamc.api.node_models import DrainChange, MoveClient
from wamc.api.replies import json_reply
from wamc.errors import Refused
from wamc.validation import client_id, validate_body

NODE_ID = re.compile(r"[0-9a-f]{1,128}")


def _node(request: web.Request) -> str:
    node = request.match_info["node"]
    if not NODE_ID.fullmatch(node):
        raise Refused("node_not_found", "a node id is Ray's hexadecimal node id")
    return node


async def _body(request: web.Request) -> object:
    try:
        return await request.json()
    except (json.JSONDecodeError, UnicodeDecodeError):
        raise Refused("invalid_json", "the body is not valid JSON") from None


async def list_nodes(request: web.Request) -> web.Response:
    return json_reply(request.app[MANAGER].nodes.listing())


async def move_client(request: web.Request) -> web.Response:
    """Clean stop, then start on the node asked for: 202 with the client's status."""
    manager = request.app[MANAGER]
    cid = client_id(request.match_info["id"], manager.clients)
    move = validate_body(MoveClient, await _body(request))
    assert isinstance(move, MoveClient)
    client = await manager.nodes.move(cid, move.node)
    return json_reply(client.status(), status=202)


async def drain_node(request: web.Request) -> web.Response:
    """POST: drain (or ``{"drain": false}``: undo); 202 with the node."""
    drain = True
    if request.can_read_body:
        change = validate_body(DrainChange, await _body(request))
        assert isinstance(change, DrainChange)
        drain = change.drain
    node = await request.app[MANAGER].nodes.drain(_node(request), drain)
    return json_reply(node, status=202)


async def undrain_node(request: web.Request) -> web.Response:
    node = await request.app[MANAGER].nodes.drain(_node(request), False)
    return json_reply(node, status=202)
