"""Client lifecycle endpoints. Control calls answer 202 and are idempotent."""

from __future__ import annotations

from aiohttp import web

from wamc.api.keys import IDEMPOTENCY, MANAGER, STREAMS, TOKENS, WEBHOOKS
from wamc.api.middleware import principal_of
from wamc.api.replies import json_body_reply, json_reply
from wamc.api.streams import POLICY_VIOLATION
from wamc.storage import events as event_log
from wamc.validation import bounded_int, client_id


def _id(request: web.Request) -> str:
    return client_id(request.match_info["id"])


def _stored_id(request: web.Request) -> str:
    """Status, disconnect and delete also reach a client stored under an id that today's rule
    refuses (made before it tightened)."""
    return client_id(request.match_info["id"], request.app[MANAGER].clients)


async def list_clients(request: web.Request) -> web.Response:
    """The admin key sees every client; a client token only its own."""
    manager = request.app[MANAGER]
    principal = principal_of(request)
    if principal is not None and not principal.is_admin:
        found = manager.clients.get(principal.client or "")
        return json_reply({"clients": [found.status()] if found else []})
    return json_reply({"clients": [c.status() for c in manager.clients.values()]})


async def connect(request: web.Request) -> web.Response:
    principal = principal_of(request)
    if principal is not None and not principal.is_admin:
        request.app[MANAGER].get(request.match_info["id"])  # a token cannot create clients
    client, created = await request.app[MANAGER].connect(_id(request))
    return json_reply({**client.status(), "created": created}, status=202)


async def disconnect(request: web.Request) -> web.Response:
    client = await request.app[MANAGER].disconnect(_stored_id(request))
    return json_reply(client.status(), status=202)


async def restart(request: web.Request) -> web.Response:
    client = await request.app[MANAGER].restart(_id(request))
    return json_reply(client.status(), status=202)


async def logout(request: web.Request) -> web.Response:
    client = await request.app[MANAGER].logout(_id(request))
    return json_reply(client.status(), status=202)


async def delete(request: web.Request) -> web.Response:
    """The client goes with everything that could outlive it: tokens (and their open streams),
    idempotent answers, its webhooks with their outbox and dead letters."""
    cid = _stored_id(request)
    app = request.app
    await app[MANAGER].delete(cid)
    await app[TOKENS].revoke_client(cid)
    app[STREAMS].end_where(lambda p: p.client == cid, POLICY_VIOLATION, "client deleted")
    await app[IDEMPOTENCY].forget_client(cid)
    webhooks = app.get(WEBHOOKS)
    if webhooks is not None:
        await webhooks.delete_client(cid)
    return json_reply({"id": cid, "deleted": True}, status=202)


async def status(request: web.Request) -> web.Response:
    manager = request.app[MANAGER]
    # A known id first (what _stored_id and get would both accept): the polled hot path.
    client = manager.clients.get(request.match_info["id"]) or manager.get(_stored_id(request))
    return json_body_reply(client.status_body())


async def dead_events(request: web.Request) -> web.Response:
    """Worker events acknowledged but not applied (a bad shape, or a failure while storing)."""
    client = request.app[MANAGER].get(_stored_id(request))
    limit = bounded_int(request.query.get("limit"), "limit", 100, 1, 1000)
    rows = await event_log.dead(request.app[MANAGER].store, client.id, limit)
    return json_reply({"client": client.id, "dead_events": rows})
