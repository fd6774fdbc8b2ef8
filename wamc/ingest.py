"""Message-side worker events → the store and public events (state and QR stay in clients.py).

One place maps what a worker reports (wamc/protocol.py ``EV_*``) to stored messages and to the
events documented in wamc/events.py.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from loguru import logger

from wamc import events as E
from wamc import protocol as P
from wamc.events import EventBus
from wamc.store import Store
from wamc.timeutil import iso_from_unix

if TYPE_CHECKING:
    from wamc.clients import Client

MESSAGE_FIELDS = ("id", "chat_id", "from_me", "from", "to", "body", "type", "ack", "lid")


async def ingest(
    store: Store, bus: EventBus, client: Client, name: str, data: dict[str, Any]
) -> None:
    if name == P.EV_MESSAGE:
        if not data.get("id") or not data.get("chat_id"):
            return
        if await store.add_message(client.id, data):
            message = {k: data.get(k) for k in MESSAGE_FIELDS}
            message["timestamp"] = iso_from_unix(data.get("timestamp"))
            message["backfill"] = bool(data.get("backfill"))
            logger.bind(client=client.id).info(
                "message {} {} ({})",
                "sent" if data.get("from_me") else "received",
                data["id"],
                data.get("type"),
            )
            client.last_message_at = (
                max(client.last_message_at or "", message["timestamp"] or "") or None
            )
            await bus.publish(client.id, E.MESSAGE, message)
    elif name == P.EV_ACK:
        ids = [i for i in data.get("ids") or [] if isinstance(i, str)]
        ack = int(data.get("ack") or 0)
        changed = await store.set_ack(client.id, ids, ack)
        if changed or ids:
            await bus.publish(
                client.id, E.MESSAGE_ACK, {"ids": ids, "ack": ack, "chat_id": data.get("chat")}
            )
    elif name == P.EV_REVOKE and isinstance(data.get("id"), str):
        await store.revoke_message(client.id, data["id"])
        keys = ("id", "chat_id", "from_me", "from", "revoked_by", "type")
        await bus.publish(client.id, E.MESSAGE_REVOKED, {k: data.get(k) for k in keys})
    elif name == P.EV_EDIT and isinstance(data.get("id"), str):
        body = str(data.get("body") or "")
        await store.edit_message(client.id, data["id"], body)
        edited = {k: data.get(k) for k in ("id", "chat_id", "from_me", "from")}
        edited.update(body=body, edited_at=iso_from_unix(data.get("edited_at")))
        await bus.publish(client.id, E.MESSAGE_EDITED, edited)
    elif name == P.EV_REACTION and isinstance(data.get("id"), str):
        reaction = {k: data.get(k) for k in ("id", "chat_id", "reaction_id", "sender")}
        reaction.update(
            reaction=str(data.get("reaction") or ""),
            timestamp=iso_from_unix(data.get("timestamp")),
        )
        await bus.publish(client.id, E.MESSAGE_REACTION, reaction)
    elif name == P.EV_UNREAD and isinstance(data.get("chat_id"), str):
        unread = {"chat_id": data["chat_id"], "unread": int(data.get("unread") or 0)}
        await bus.publish(client.id, E.CHAT_UNREAD, unread)
    elif name == P.EV_PRESENCE and isinstance(data.get("chat_id"), str):
        presence = {"chat_id": data["chat_id"], "id": data["chat_id"]}
        presence.update({k: data.get(k) for k in ("state", "is_online", "is_group")})
        if data.get("participants"):
            presence["participants"] = data["participants"]
        await bus.publish(client.id, E.PRESENCE, presence)
    elif name == P.EV_CALL and data.get("id"):
        call = {k: data.get(k) for k in ("id", "from", "is_video", "is_group")}
        call["timestamp"] = iso_from_unix(data.get("timestamp"))
        await bus.publish(client.id, E.CALL, call)
