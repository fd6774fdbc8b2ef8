"""The one event vocabulary: what a worker reports (``event`` frames) and what it becomes.

``VOCABULARY`` holds one row per worker event: the bridge event it forwards as it is (if any),
the worker's name, its payload type and the public event the daemon publishes for it (name,
wa-js source, shape of ``data``). The worker's forwarding, the public catalog
(wamc/events/catalog.py) and the daemon's ingest dispatch are derived from it.

The bridge (workers/bridge.js) already shape-checks what the page emits; the daemon validates
again here, strictly: a payload of the wrong shape is not ingested but kept as a dead event.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Any

import msgspec

STATE = "state"
QR = "qr"
MESSAGE = "message"
ACK = "ack"
REVOKE = "revoke"
EDIT = "edit"
REACTION = "reaction"
UNREAD = "unread"
PRESENCE = "presence"
CALL = "call"
DELETED = "deleted"  # a message deleted for this device only (the worker derives it)
GROUP_PARTICIPANT = "group_participant"
POLL_VOTE = "poll_vote"
DROPPED = "dropped"  # the worker could not send an event (over the frame cap): recorded as dead

BODY_MAX = 66_000  # the bridge truncates bodies at 64 KiB and flags them
WaId = Annotated[str, msgspec.Meta(min_length=1, max_length=512)]
Text = Annotated[str, msgspec.Meta(max_length=BODY_MAX)]
Short = Annotated[str, msgspec.Meta(max_length=512)]
UnixTime = Annotated[float, msgspec.Meta(ge=0, le=2**40)]
AckLevel = Annotated[int, msgspec.Meta(ge=-1, le=10)]


class Payload(msgspec.Struct, frozen=True, kw_only=True):
    pass


class StateData(Payload, frozen=True):
    state: Short
    me: WaId | None = None
    reason: Short | None = None
    error: Annotated[str, msgspec.Meta(max_length=4096)] | None = None


class QrData(Payload, frozen=True):
    qr: Annotated[str, msgspec.Meta(min_length=1, max_length=4096)]


class Location(msgspec.Struct, frozen=True):
    latitude: Annotated[float, msgspec.Meta(ge=-90, le=90)]
    longitude: Annotated[float, msgspec.Meta(ge=-180, le=180)]
    name: Short | None = None
    address: Short | None = None
    url: Annotated[str, msgspec.Meta(max_length=2048)] | None = None


class ContactCard(msgspec.Struct, frozen=True):
    name: Short | None = None
    vcard: Text = ""


class Poll(msgspec.Struct, frozen=True):
    name: Text = ""
    options: Annotated[list[Short], msgspec.Meta(max_length=64)] = []
    selectable_count: Annotated[int, msgspec.Meta(ge=0, le=64)] = 0


class SystemInfo(msgspec.Struct, frozen=True):
    """A notification in the chat (group change, security code, call log …), not a text."""

    subtype: Short | None = None
    recipients: Annotated[list[WaId], msgspec.Meta(max_length=1024)] = []


# The kind-specific parts of a message, stored and published as they are (when present).
KIND_FIELDS = ("location", "contacts", "poll", "system")


class MediaData(msgspec.Struct, frozen=True, kw_only=True):
    """A media message's file (issue 11): its body is a thumbnail, its text the caption."""

    mimetype: Short | None = None
    filename: Short | None = None
    size: Annotated[int, msgspec.Meta(ge=0, le=2**40)] | None = None
    caption: Text | None = None
    sha256: Annotated[str, msgspec.Meta(pattern="^[0-9a-f]{64}$")] | None = None


class MessageData(Payload, frozen=True):
    id: WaId
    chat_id: WaId
    from_me: bool = False
    from_: WaId | None = msgspec.field(default=None, name="from")
    to: WaId | None = None
    author: WaId | None = None
    body: Text | None = ""
    type: Short | None = "chat"
    timestamp: UnixTime | None = None
    ack: AckLevel | None = 0
    lid: WaId | None = None
    backfill: bool = False
    truncated: bool = False
    quoted_id: WaId | None = None  # the message it replies to
    location: Location | None = None
    contacts: Annotated[list[ContactCard], msgspec.Meta(max_length=300)] | None = None
    poll: Poll | None = None
    system: SystemInfo | None = None
    media: MediaData | None = None


class AckData(Payload, frozen=True):
    ids: Annotated[list[WaId], msgspec.Meta(max_length=1000)]
    ack: AckLevel
    chat: WaId | None = None


class RevokeData(Payload, frozen=True):
    id: WaId
    chat_id: WaId | None = None
    from_me: bool = False
    from_: WaId | None = msgspec.field(default=None, name="from")
    revoked_by: WaId | None = None
    type: Short | None = None


class EditData(Payload, frozen=True):
    id: WaId
    chat_id: WaId | None = None
    from_me: bool = False
    from_: WaId | None = msgspec.field(default=None, name="from")
    body: Text | None = ""
    edited_at: UnixTime | None = None
    truncated: bool = False


class ReactionData(Payload, frozen=True):
    id: WaId
    chat_id: WaId | None = None
    reaction_id: WaId | None = None
    sender: WaId | None = None
    reaction: Short | None = ""
    timestamp: UnixTime | None = None


class PollVoteData(Payload, frozen=True):
    """A vote on a poll this account sent (wa-js ``chat.poll_response``); ``selected`` holds the
    names of the options chosen now (empty: the vote was withdrawn)."""

    id: WaId
    chat_id: WaId | None = None
    sender: WaId | None = None
    selected: Annotated[list[Short], msgspec.Meta(max_length=64)] = []
    timestamp: UnixTime | None = None


class UnreadData(Payload, frozen=True):
    chat_id: WaId
    unread: Annotated[int, msgspec.Meta(ge=0, le=2**31)]


class Participant(msgspec.Struct, frozen=True):
    id: WaId | None = None
    state: Short | None = None


class PresenceData(Payload, frozen=True):
    chat_id: WaId
    state: Short | None = None
    is_online: bool = False
    is_group: bool = False
    participants: Annotated[list[Participant], msgspec.Meta(max_length=1024)] = []


class CallData(Payload, frozen=True):
    id: WaId
    from_: WaId | None = msgspec.field(default=None, name="from")
    is_video: bool = False
    is_group: bool = False
    timestamp: UnixTime | None = None


class DeletedData(Payload, frozen=True):
    id: WaId
    chat_id: WaId | None = None


class GroupParticipantsData(Payload, frozen=True):
    """wa-js ``group.participant_changed``: ``action`` add | remove | promote | demote | join
    (added by an invite link) | leave (removed themselves); ``operation`` the raw group action."""

    group_id: WaId
    action: Short
    operation: Short | None = None
    author: WaId | None = None
    author_push_name: Short | None = None
    participants: Annotated[list[WaId], msgspec.Meta(max_length=1000)] = []


class DroppedData(Payload, frozen=True):
    name: Short
    reason: Short
    size: int = 0


@dataclass(frozen=True)
class WorkerEvent:
    """One worker event: its name in ``event`` frames and the public event it becomes."""

    name: str  # the worker's event name (``Event.name``)
    payload: type[Payload]
    public: str | None = None  # the public event (None: the daemon publishes nothing)
    source: str = ""  # the wa-js event(s) it comes from (``WPP.on`` names), for the docs
    data: str = ""  # the shape of the public event's ``data``, for the docs
    bridge: str | None = None  # the bridge event the worker forwards as it is, if any


VOCABULARY: tuple[WorkerEvent, ...] = (
    WorkerEvent(
        STATE,
        StateData,
        "client.state",
        "conn.* (authenticated, main_ready, logout, stream_mode_changed …) + supervision",
        "{state, previous, reason, me}",
    ),
    WorkerEvent(
        QR, QrData, "client.qr", "conn.auth_code_change", "{qr}: the QR payload (fullCode)"
    ),
    WorkerEvent(
        MESSAGE,
        MessageData,
        "message",
        "chat.new_message (and messages found by backfill after a reconnect)",
        "{id, chat_id, from_me, from, to, body, type, timestamp, ack, backfill, quoted_id}"
        " + by type: location {latitude, longitude, name, address, url}, contacts [{name,"
        " vcard}], poll {name, options, selectable_count}, system {subtype, recipients};"
        " media messages {media: {mimetype, filename, size, caption, sha256}, media_url}",
    ),
    WorkerEvent(
        ACK, AckData, "message.ack", "chat.msg_ack_change", "{ids, ack, chat_id}", bridge="ack"
    ),
    WorkerEvent(
        REVOKE,
        RevokeData,
        "message.revoked",
        "chat.msg_revoke",
        "{id, chat_id, from_me, from, revoked_by, type}: id of the revoked message",
        bridge="revoke",
    ),
    WorkerEvent(
        EDIT,
        EditData,
        "message.edited",
        "chat.msg_edited",
        "{id, chat_id, from_me, from, body, edited_at}",
        bridge="edit",
    ),
    WorkerEvent(
        REACTION,
        ReactionData,
        "message.reaction",
        "chat.new_reaction",
        "{id, chat_id, sender, reaction ('' = removed), reaction_id, timestamp}",
        bridge="reaction",
    ),
    WorkerEvent(
        UNREAD,
        UnreadData,
        "chat.unread",
        "chat.unread_count_changed",
        "{chat_id, unread}",
        bridge="unread",
    ),
    WorkerEvent(
        PRESENCE,
        PresenceData,
        "presence",
        "chat.presence_change",
        "{chat_id, id, state, is_online, is_group, participants?}",
        bridge="presence",
    ),
    WorkerEvent(
        CALL,
        CallData,
        "call",
        "call.incoming_call",
        "{id, from, is_video, is_group, timestamp}",
        bridge="call",
    ),
    WorkerEvent(
        DELETED,
        DeletedData,
        "message.deleted",
        "chat.deleteMessage (for this device only), after DELETE …/messages/{msgId}?for=me",
        "{id, chat_id}: the message is gone from this account's history",
    ),
    WorkerEvent(
        GROUP_PARTICIPANT,
        GroupParticipantsData,
        "group.participant_changed",
        "group.participant_changed",
        "{group_id, action (add|remove|promote|demote|join|leave), operation, author, "
        "author_push_name, participants}",
        bridge="group_participant",
    ),
    WorkerEvent(
        POLL_VOTE,
        PollVoteData,
        "poll.vote",
        "chat.poll_response",
        "{id (the poll message), chat_id, sender, selected: [option names] ([] = vote "
        "withdrawn), timestamp}",
        bridge="poll_vote",
    ),
    WorkerEvent(DROPPED, DroppedData),
)
BY_NAME: dict[str, WorkerEvent] = {e.name: e for e in VOCABULARY}
PAYLOADS: dict[str, type[Payload]] = {e.name: e.payload for e in VOCABULARY}
# Bridge events the worker forwards as they are: bridge name -> worker event name.
FORWARDED: dict[str, str] = {e.bridge: e.name for e in VOCABULARY if e.bridge is not None}


def public_name(name: str) -> str:
    """The public event a worker event becomes; KeyError for one that becomes none."""
    public = BY_NAME[name].public
    if public is None:
        raise KeyError(name)
    return public


class PayloadError(ValueError):
    """An event the daemon does not know, or whose payload has the wrong shape."""


def to_dict(payload: msgspec.Struct) -> dict[str, Any]:
    """The payload as a plain dict with its wire names (``from``, not ``from_``)."""
    built: dict[str, Any] = msgspec.to_builtins(payload)
    return built
