"""Worker events → the store and the public events, each in ONE transaction.

Events are applied strictly in delivery-number order, each acknowledged once stored; one that
cannot be applied is recorded as dead (acknowledged, never retried). One place maps what a worker reports (typed payloads of wamc/wire/events.py) to the client's
record and stored messages. Each worker event has one handler here (``@handles(W.NAME)``): it
changes the store and returns the public event's ``data``, which is published under the name
the vocabulary gives it. The event's rows, its public events (with their webhook outbox) and the
client's delivery number commit together or not at all.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import msgspec
from loguru import logger

from wamc.daemon import faults
from wamc.daemon.inbox import Inbox
from wamc.daemon.link import Transport
from wamc.daemon.registry import DESIRED_RUNNING, DESIRED_STOPPED, Client, Registry, client_log
from wamc.states import RUNNING_STATES, ClientState
from wamc.storage import clients as client_rows
from wamc.storage import events as event_log
from wamc.storage import media as media_rows
from wamc.storage import messages as message_rows
from wamc.storage import retention as retention_rows
from wamc.timeutil import iso_from_unix, utc_now_iso
from wamc.wire import events as W
from wamc.wire import frames as F

Published = dict[str, Any] | None  # the public event's data; None: nothing to publish
Handler = Callable[["Ingest", Client, Any], Awaitable[Published]]
H = TypeVar("H", bound=Handler)
HANDLERS: dict[str, Handler] = {}
DEAD_PAYLOAD_SHOWN = 16 * 1024


def handles(name: str) -> Callable[[H], H]:
    """Register the handler of the worker event ``name`` (one per event of W.VOCABULARY)."""

    def register(handler: H) -> H:
        HANDLERS[name] = handler
        return handler

    return register


class Ingest:
    """The link's event sink (wamc/daemon/link.py ``EventSink``)."""

    def __init__(self, registry: Registry, link: Transport, inbox: Inbox) -> None:
        self.registry = registry
        self.store = registry.store
        self.bus = registry.bus
        self.link = link
        self.inbox = inbox
        # Called with (client, message id) after a media message is committed (auto-download).
        self.on_media: Callable[[Client, str], None] | None = None

    async def on_event(self, route: str, ev: F.Event) -> None:
        """An event frame from the connection ``route``: acted on only from a proven worker,
        in delivery-number order; acknowledged once stored (or recorded dead)."""
        client = self.inbox.proven(route)
        if client is None:
            return
        if ev.dn <= client.delivered:
            self.link.send_to(client, F.Ack(dn=client.delivered))  # a replay: stored
            return
        if ev.dn != client.delivered + 1:
            # A gap: ask for a replay, at most once a second (the worker resends its outbox).
            if self.inbox.limited(("replay", client.id)):
                self.link.send_to(client, F.Welcome(acked=client.delivered))
            return
        try:
            await self.apply(client, ev)
        except Exception as exc:  # a bad shape, or a failure while storing: never retried
            await self._dead_event(client, ev, exc)
        client.delivered = ev.dn
        self.link.send_to(client, F.Ack(dn=ev.dn))

    async def apply(self, client: Client, ev: F.Event) -> None:
        """Apply the event numbered ``ev.dn`` and record it delivered, in one transaction.
        Raises (nothing stored) on a bad payload or a failure while storing."""
        payload = F.payload_of(ev)
        async with self.store.transaction():
            data = await HANDLERS[ev.name](self, client, payload)
            if data is not None:
                await self.bus.publish(client.id, W.public_name(ev.name), data)
            await client_rows.update(self.store, client.id, delivered_dn=ev.dn)

    async def _dead_event(self, client: Client, ev: F.Event, exc: Exception) -> None:
        reason = str(exc) if isinstance(exc, W.PayloadError) else f"{type(exc).__name__}: {exc}"
        client.dead_events += 1
        if self.inbox.limited(("dead", client.id), 5.0):
            client_log(client).warning("event {} #{} not applied: {}", ev.name, ev.dn, reason[:200])
        try:
            async with self.store.transaction():
                await event_log.add_dead(
                    self.store,
                    client.id,
                    ev.dn,
                    ev.name,
                    reason,
                    dead_payload(ev.data),
                    utc_now_iso(),
                )
                await client_rows.update(self.store, client.id, delivered_dn=ev.dn)
        except Exception:
            client_log(client).exception("cannot record dead event #{}", ev.dn)


def dead_payload(data: msgspec.Raw) -> str:
    """The payload as JSON for the operator, when small enough to show (at most 16 KiB)."""
    raw = bytes(data)
    if len(raw) > DEAD_PAYLOAD_SHOWN:
        return json.dumps({"not_shown": f"{len(raw)} bytes of msgpack"})
    try:
        shown = json.dumps(msgspec.msgpack.decode(raw), default=repr)
    except Exception:
        shown = json.dumps({"undecodable": raw[:256].hex()})
    return shown[:DEAD_PAYLOAD_SHOWN]


@handles(W.STATE)
async def _state(ing: Ingest, client: Client, data: W.StateData) -> Published:
    """The registry publishes ``client.state`` when the state changes."""
    if data.me and data.me != client.me:
        client.me = data.me
        await client_rows.set_me(ing.store, client.id, data.me)
    try:
        new = ClientState(data.state)
    except ValueError:
        raise W.PayloadError(f"state: unknown state {data.state[:32]!r}") from None
    if data.error:
        client.last_error = data.error[:300]
    if new == ClientState.FAILED:
        client.kill_reason = client.last_error
        return None  # the worker exits; supervision decides
    if new == ClientState.STOPPED and data.reason == "qr_timeout":
        client_log(client).warning("QR never scanned: stopping the client (qr_timeout)")
        client.last_error = client.stop_reason = "qr_timeout"
        await ing.registry.set_desired(client, DESIRED_STOPPED)
        client.wake.set()
        return None
    if client.desired == DESIRED_RUNNING and new in RUNNING_STATES:
        await ing.registry.set_state(client, new, data.reason)
    return None


@handles(W.QR)
async def _qr(ing: Ingest, client: Client, payload: W.QrData) -> Published:
    client.qr = payload.qr
    client.qr_at = utc_now_iso()
    if client.state != ClientState.QR:
        await ing.registry.set_state(client, ClientState.QR)
    return {"qr": payload.qr}


@handles(W.DROPPED)
async def _dropped(ing: Ingest, client: Client, payload: W.DroppedData) -> Published:
    raise W.PayloadError(f"the worker dropped {payload.name}: {payload.reason}")


@handles(W.MESSAGE)
async def _message(ing: Ingest, client: Client, m: W.MessageData) -> Published:
    row: dict[str, Any] = {
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
        "quoted_id": m.quoted_id,
        "details": _kinds(m),
    }
    if m.backfill and await retention_rows.already_pruned(
        ing.store, client.id, m.chat_id, int(m.timestamp or 0)
    ):
        return None  # deleted by retention: a backfill brings it again, it is not new
    if not await message_rows.add(ing.store, client.id, row):
        return None  # a duplicate (replay, backfill, LID and phone forms of one message)
    await ing.registry.analytics.message(client.id, m.from_me, m.timestamp)
    faults.crash_point("after_message_stored")
    details: dict[str, Any] = row.pop("details")
    message = {**row, **details, "timestamp": iso_from_unix(m.timestamp), "backfill": m.backfill}
    if m.truncated:
        message["truncated"] = True
    if m.media is not None:
        await _media(ing, client, m, message)
    logger.bind(client=client.id).info(
        "message {} {} ({})", "sent" if m.from_me else "received", m.id, row["type"]
    )
    newest = max(client.last_message_at or "", iso_from_unix(m.timestamp) or "")
    client.last_message_at = newest or None
    return message


def _kinds(m: W.MessageData) -> dict[str, Any]:
    """The kind-specific parts of a message (location, contacts, poll, system) it has."""
    found = {name: getattr(m, name) for name in W.KIND_FIELDS}
    return {name: msgspec.to_builtins(v) for name, v in found.items() if v is not None}


async def _media(ing: Ingest, client: Client, m: W.MessageData, message: dict[str, Any]) -> None:
    """A media message: its file's metadata kept with it, the download's path beside it, and
    (WAMC_MEDIA_AUTO_DOWNLOAD) its download started once the message is committed."""
    media = W.to_dict(m.media) if m.media is not None else {}
    await media_rows.set_message_media(ing.store, client.id, m.id, media)
    message["media"] = media
    message["media_url"] = media_rows.media_url(client.id, m.id)
    on_media = ing.on_media
    if on_media is not None and not m.from_me:
        async with ing.store.transaction() as tx:  # joins the event's: runs after its commit
            tx.after_commit.append(lambda: on_media(client, m.id))


@handles(W.ACK)
async def _ack(ing: Ingest, client: Client, p: W.AckData) -> Published:
    changed = await message_rows.set_ack(ing.store, client.id, p.ids, p.ack)
    return {"ids": p.ids, "ack": p.ack, "chat_id": p.chat} if changed or p.ids else None


@handles(W.REVOKE)
async def _revoke(ing: Ingest, client: Client, payload: W.RevokeData) -> Published:
    if await message_rows.stored_type(ing.store, client.id, payload.id) == "revoked":
        return None  # told twice (our own delete, then the page): published once
    await message_rows.revoke(ing.store, client.id, payload.id)
    return W.to_dict(payload)


@handles(W.DELETED)
async def _deleted(ing: Ingest, client: Client, p: W.DeletedData) -> Published:
    await message_rows.forget(ing.store, client.id, p.id)
    return {"id": p.id, "chat_id": p.chat_id}


@handles(W.EDIT)
async def _edit(ing: Ingest, client: Client, p: W.EditData) -> Published:
    body = p.body or ""
    await message_rows.edit(ing.store, client.id, p.id, body)
    edited: dict[str, Any] = {
        "id": p.id,
        "chat_id": p.chat_id,
        "from_me": p.from_me,
        "from": p.from_,
        "body": body,
        "edited_at": iso_from_unix(p.edited_at),
    }
    if p.truncated:
        edited["truncated"] = True
    return edited


@handles(W.REACTION)
async def _reaction(ing: Ingest, client: Client, p: W.ReactionData) -> Published:
    return {
        "id": p.id,
        "chat_id": p.chat_id,
        "reaction_id": p.reaction_id,
        "sender": p.sender,
        "reaction": p.reaction or "",
        "timestamp": iso_from_unix(p.timestamp),
    }


@handles(W.UNREAD)
async def _unread(ing: Ingest, client: Client, p: W.UnreadData) -> Published:
    return {"chat_id": p.chat_id, "unread": p.unread}


@handles(W.PRESENCE)
async def _presence(ing: Ingest, client: Client, p: W.PresenceData) -> Published:
    presence: dict[str, Any] = {
        "chat_id": p.chat_id,
        "id": p.chat_id,
        "state": p.state,
        "is_online": p.is_online,
        "is_group": p.is_group,
    }
    if p.participants:
        presence["participants"] = [W.to_dict(x) for x in p.participants]
    return presence


@handles(W.CALL)
async def _call(ing: Ingest, client: Client, p: W.CallData) -> Published:
    return {
        "id": p.id,
        "from": p.from_,
        "is_video": p.is_video,
        "is_group": p.is_group,
        "timestamp": iso_from_unix(p.timestamp),
    }


@handles(W.GROUP_PARTICIPANT)
async def _group_participant(ing: Ingest, client: Client, p: W.GroupParticipantsData) -> Published:
    """Nothing is stored: group membership is WhatsApp's (GET /groups/{gid} asks it)."""
    return {
        "group_id": p.group_id,
        "action": p.action,
        "operation": p.operation or p.action,
        "author": p.author,
        "author_push_name": p.author_push_name,
        "participants": list(p.participants),
    }


@handles(W.POLL_VOTE)
async def _poll_vote(ing: Ingest, client: Client, p: W.PollVoteData) -> Published:
    """Nothing is stored: each vote is an event (a later one from the same sender replaces it)."""
    return {
        "id": p.id,
        "chat_id": p.chat_id,
        "sender": p.sender,
        "selected": list(p.selected),
        "timestamp": iso_from_unix(p.timestamp),
    }
