"""Message-side worker events → the store and public events (state and QR stay in clients.py).

One place maps what a worker reports (typed payloads of wamc/wire/events.py) to stored messages
and to the events documented in wamc/events.py. Called inside the worker event's transaction.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from loguru import logger

from wamc import events as E
from wamc import faults
from wamc.events import EventBus
from wamc.storage import Database
from wamc.storage import messages as message_rows
from wamc.timeutil import iso_from_unix
from wamc.wire import events as W

if TYPE_CHECKING:
    from wamc.clients import Client


async def ingest(db: Database, bus: EventBus, client: Client, payload: W.Payload) -> None:
    match payload:
        case W.MessageData():
            await _message(db, bus, client, payload)
        case W.AckData(ids=ids, ack=ack, chat=chat):
            changed = await message_rows.set_ack(db, client.id, ids, ack)
            if changed or ids:
                await bus.publish(
                    client.id, E.MESSAGE_ACK, {"ids": ids, "ack": ack, "chat_id": chat}
                )
        case W.RevokeData():
            await message_rows.revoke(db, client.id, payload.id)
            revoked = W.to_dict(payload)
            await bus.publish(client.id, E.MESSAGE_REVOKED, revoked)
        case W.EditData():
            body = payload.body or ""
            await message_rows.edit(db, client.id, payload.id, body)
            edited: dict[str, Any] = {
                "id": payload.id,
                "chat_id": payload.chat_id,
                "from_me": payload.from_me,
                "from": payload.from_,
                "body": body,
                "edited_at": iso_from_unix(payload.edited_at),
            }
            if payload.truncated:
                edited["truncated"] = True
            await bus.publish(client.id, E.MESSAGE_EDITED, edited)
        case W.ReactionData():
            reaction = {
                "id": payload.id,
                "chat_id": payload.chat_id,
                "reaction_id": payload.reaction_id,
                "sender": payload.sender,
                "reaction": payload.reaction or "",
                "timestamp": iso_from_unix(payload.timestamp),
            }
            await bus.publish(client.id, E.MESSAGE_REACTION, reaction)
        case W.UnreadData(chat_id=chat_id, unread=unread):
            await bus.publish(client.id, E.CHAT_UNREAD, {"chat_id": chat_id, "unread": unread})
        case W.PresenceData():
            presence: dict[str, Any] = {
                "chat_id": payload.chat_id,
                "id": payload.chat_id,
                "state": payload.state,
                "is_online": payload.is_online,
                "is_group": payload.is_group,
            }
            if payload.participants:
                presence["participants"] = [W.to_dict(p) for p in payload.participants]
            await bus.publish(client.id, E.PRESENCE, presence)
        case W.CallData():
            call = {
                "id": payload.id,
                "from": payload.from_,
                "is_video": payload.is_video,
                "is_group": payload.is_group,
                "timestamp": iso_from_unix(payload.timestamp),
            }
            await bus.publish(client.id, E.CALL, call)


async def _message(db: Database, bus: EventBus, client: Client, m: W.MessageData) -> None:
    row = {
        "id": m.id,
        "chat_id": m.chat_id,
        "from_me": m.from_me,
        "from": m.from_,
        "to": m.to,
        "body": m.body or "",
        "type": m.type or "chat",
        "timestamp": int(m.timestamp or 0),
        "ack": m.ack or 0,
        "lid": m.lid,
    }
    if not await message_rows.add(db, client.id, row):
        return  # a duplicate (replay, backfill, LID and phone forms of one message)
    faults.crash_point("after_message_stored")
    message = {**row, "timestamp": iso_from_unix(m.timestamp), "backfill": m.backfill}
    if m.truncated:
        message["truncated"] = True
    logger.bind(client=client.id).info(
        "message {} {} ({})", "sent" if m.from_me else "received", m.id, row["type"]
    )
    client.last_message_at = max(client.last_message_at or "", message["timestamp"] or "") or None
    await bus.publish(client.id, E.MESSAGE, message)
