"""Worker events → the store and the public events, each in ONE transaction.

One place maps what a worker reports (typed payloads of wamc/wire/events.py) to the client's
record, stored messages and the events named in wamc/events/catalog.py. The event's rows, its public
events (with their webhook outbox) and the client's delivery number commit together or not at all.
"""

from __future__ import annotations

from typing import Any

from loguru import logger

from wamc import events as E
from wamc.daemon import faults
from wamc.daemon.registry import DESIRED_RUNNING, DESIRED_STOPPED, Client, Registry, client_log
from wamc.events import EventBus
from wamc.states import RUNNING_STATES, ClientState
from wamc.storage import Database
from wamc.storage import clients as client_rows
from wamc.storage import messages as message_rows
from wamc.timeutil import iso_from_unix, utc_now_iso
from wamc.wire import events as W
from wamc.wire import frames as F


class Ingest:
    def __init__(self, registry: Registry) -> None:
        self.registry = registry
        self.store = registry.store
        self.bus = registry.bus

    async def apply(self, client: Client, ev: F.Event) -> None:
        """Apply the event numbered ``ev.dn`` and record it delivered, in one transaction.
        Raises (nothing stored) on a bad payload or a failure while storing."""
        payload = W.parse_payload(ev.name, ev.data)
        async with self.store.transaction():
            await self._apply(client, payload)
            await client_rows.update(self.store, client.id, delivered_dn=ev.dn)

    async def _apply(self, client: Client, payload: W.Payload) -> None:
        if isinstance(payload, W.StateData):
            await self._state(client, payload)
        elif isinstance(payload, W.QrData):
            client.qr = payload.qr
            client.qr_at = utc_now_iso()
            if client.state != ClientState.QR:
                await self.registry.set_state(client, ClientState.QR)
            await self.bus.publish(client.id, E.CLIENT_QR, {"qr": payload.qr})
        elif isinstance(payload, W.DroppedData):
            raise W.PayloadError(f"the worker dropped {payload.name}: {payload.reason}")
        else:
            await ingest(self.store, self.bus, client, payload)

    async def _state(self, client: Client, data: W.StateData) -> None:
        if data.me and data.me != client.me:
            client.me = data.me
            await client_rows.set_me(self.store, client.id, data.me)
        try:
            new = ClientState(data.state)
        except ValueError:
            raise W.PayloadError(f"state: unknown state {data.state[:32]!r}") from None
        if data.error:
            client.last_error = data.error[:300]
        if new == ClientState.FAILED:
            client.kill_reason = client.last_error
            return  # the worker exits; supervision decides
        if new == ClientState.STOPPED and data.reason == "qr_timeout":
            client_log(client).warning("QR never scanned: stopping the client (qr_timeout)")
            client.last_error = client.stop_reason = "qr_timeout"
            await self.registry.set_desired(client, DESIRED_STOPPED)
            client.wake.set()
            return
        if client.desired == DESIRED_RUNNING and new in RUNNING_STATES:
            await self.registry.set_state(client, new, data.reason)


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
    newest = max(client.last_message_at or "", iso_from_unix(m.timestamp) or "")
    client.last_message_at = newest or None
    await bus.publish(client.id, E.MESSAGE, message)
