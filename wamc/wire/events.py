"""The events a worker reports (``event`` frames), each with its payload's type.

The bridge (workers/bridge.js) already shape-checks what the page emits; the daemon validates
again here, strictly: a payload of the wrong shape is not ingested but kept as a dead event.
"""

from __future__ import annotations

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


class DroppedData(Payload, frozen=True):
    name: Short
    reason: Short
    size: int = 0


PAYLOADS: dict[str, type[Payload]] = {
    STATE: StateData,
    QR: QrData,
    MESSAGE: MessageData,
    ACK: AckData,
    REVOKE: RevokeData,
    EDIT: EditData,
    REACTION: ReactionData,
    UNREAD: UnreadData,
    PRESENCE: PresenceData,
    CALL: CallData,
    DROPPED: DroppedData,
}


class PayloadError(ValueError):
    """An event the daemon does not know, or whose payload has the wrong shape."""


def parse_payload(name: str, data: msgspec.Raw) -> Payload:
    """Decode an event's encoded ``data`` straight into the payload type of ``name``."""
    kind = PAYLOADS.get(name)
    if kind is None:
        raise PayloadError(f"unknown event {name[:64]!r}")
    try:
        return msgspec.msgpack.decode(data, type=kind)
    except msgspec.ValidationError as exc:
        raise PayloadError(f"{name}: {str(exc)[:200]}") from None
    except Exception as exc:  # not msgpack, absurd nesting, …
        raise PayloadError(f"{name}: {type(exc).__name__}") from None


def to_dict(payload: msgspec.Struct) -> dict[str, Any]:
    """The payload as a plain dict with its wire names (``from``, not ``from_``)."""
    built: dict[str, Any] = msgspec.to_builtins(payload)
    return built
