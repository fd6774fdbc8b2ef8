"""Edge validation: the checks of wamc/validation/edge.py (ids, recipients, bodies, cursors;
re-exported here) and the API models, which validate requests and are the schemas of
/openapi.json."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from wamc.errors import Refused
from wamc.validation.edge import (
    CHAT_ID as CHAT_ID,
)
from wamc.validation.edge import (
    CLIENT_ID as CLIENT_ID,
)
from wamc.validation.edge import (
    CLIENT_ID_HELP as CLIENT_ID_HELP,
)
from wamc.validation.edge import (
    CONTACT_ID as CONTACT_ID,
)
from wamc.validation.edge import (
    GROUP_ID as GROUP_ID,
)
from wamc.validation.edge import (
    MAX_TEXT_BYTES as MAX_TEXT_BYTES,
)
from wamc.validation.edge import (
    MESSAGE_ID as MESSAGE_ID,
)
from wamc.validation.edge import (
    PHONE as PHONE,
)
from wamc.validation.edge import (
    PairingCode as PairingCode,
)
from wamc.validation.edge import (
    PairingRequest as PairingRequest,
)
from wamc.validation.edge import (
    SendMessage as SendMessage,
)
from wamc.validation.edge import (
    bounded_int as bounded_int,
)
from wamc.validation.edge import (
    chat_id as chat_id,
)
from wamc.validation.edge import (
    client_id as client_id,
)
from wamc.validation.edge import (
    contact_id as contact_id,
)
from wamc.validation.edge import (
    decode_cursor as decode_cursor,
)
from wamc.validation.edge import (
    encode_cursor as encode_cursor,
)
from wamc.validation.edge import (
    group_id as group_id,
)
from wamc.validation.edge import (
    is_client_id as is_client_id,
)
from wamc.validation.edge import (
    legacy_client_ids as legacy_client_ids,
)
from wamc.validation.edge import (
    message_id as message_id,
)
from wamc.validation.edge import (
    one_line as one_line,
)
from wamc.validation.edge import (
    recipient as recipient,
)

# --- API models: they validate requests and are the schemas of /openapi.json ----------------------
# (wamc/api/openapi.py builds the document from them; keep them in step with the handlers)

SCOPE_NAMES = ("read", "send", "control", "webhooks")


def known_scopes(v: list[str]) -> list[str]:
    """A token's scopes as given, if each is one of :data:`SCOPE_NAMES` (a pydantic validator)."""
    bad = [s for s in v if s not in SCOPE_NAMES]
    if bad:
        raise ValueError(f"unknown scope {bad[0]!r}: use read, send, control or webhooks")
    return v


class _Out(BaseModel):
    model_config = ConfigDict(extra="allow")


class Problem(_Out):
    """RFC 9457 problem details; ``code`` is stable and machine-readable."""

    type: str = Field(examples=["https://wamc.dev/problems/client_not_found"])
    title: str = Field(examples=["Unknown client"])
    status: int = Field(examples=[404])
    detail: str = Field(examples=["no client 'acme'"])
    code: str = Field(examples=["client_not_found"])
    field: str | None = Field(default=None, examples=["to"])


class ClientStatus(_Out):
    id: str = Field(examples=["acme"])
    state: str = Field(
        examples=["connected"],
        description="stopped | starting | qr | connected | disconnected | failed",
    )
    desired: str = Field(examples=["running"], description="running | stopped")
    since: str = Field(examples=["2026-01-01T12:00:00.000Z"])
    pid: int | None = None
    browser_pid: int | None = None
    me: str | None = Field(default=None, examples=["5511900000001@c.us"])
    last_error: str | None = None
    restarts: int = 0
    uptime_seconds: float | None = None
    created_at: str = Field(examples=["2026-01-01T12:00:00.000Z"])
    node: str | None = Field(
        default=None, description="the Ray node its worker runs on (WAMC_BACKEND=ray); else null"
    )
    stop_outcome: Literal["clean", "term", "kill"] | None = Field(
        default=None,
        description="how the last stop ended: clean (the worker closed its browser itself), "
        "term (after a SIGTERM to the worker) or kill (SIGKILLed); null before any stop",
    )
    bad_frames: int = Field(
        default=0,
        description="frames from this client's worker refused at the wire (undecodable, "
        "invalid, not proven by the worker's secret) since the daemon started",
    )
    dead_events: int = Field(
        default=0,
        description="worker events acknowledged but not applied since the daemon started "
        "(see GET /api/clients/{id}/dead-events)",
    )
    retention: dict[str, float] | None = Field(
        default=None,
        examples=[{"message_days": 90, "media_days": 0, "event_days": 30}],
        description="effective retention in days (0 = forever): the client's settings over the "
        "global defaults (see GET /api/clients/{id}/settings)",
    )
    profile: dict[str, Any] | None = Field(
        default=None,
        examples=[{"last_snapshot": None, "restored_from": "20261130T151948553123Z-3fa2c1"}],
        description="profile store (WAMC_PROFILE_STORE; null when off or before this daemon "
        "took or restored a snapshot): last_snapshot {id, at, size, bytes, files, seconds}, "
        "restore (restored | fresh | failed), restored_from, skipped [{id, reason}], reason",
    )


class ConnectResult(ClientStatus):
    created: bool = Field(description="true when this call created the client")


class ClientList(_Out):
    clients: list[ClientStatus]


class Deleted(_Out):
    id: str = Field(examples=["acme"])
    deleted: bool = True


class QrJson(_Out):
    id: str = Field(examples=["acme"])
    qr: str = Field(description="the text the QR code encodes")
    updated_at: str | None = None


class SendResult(_Out):
    id: str | None = Field(examples=["true_5511988887777@c.us_3EB0ABCDEF"])
    ack: int = Field(examples=[1], description="0 pending, 1 server, 2 device, 3 read")
    to: str = Field(examples=["5511988887777@c.us"])
    client: str = Field(examples=["acme"])


class Chat(_Out):
    id: str | None = Field(examples=["5511988887777@c.us"])
    name: str | None = None
    timestamp: int | None = None
    unread_count: int = 0
    archived: bool = False
    is_group: bool = False


class ChatList(_Out):
    chats: list[Chat]


class Message(_Out):
    id: str
    chat_id: str | None = None
    from_me: bool
    from_: str | None = Field(default=None, alias="from")
    to: str | None = None
    body: str
    type: str = Field(examples=["chat"])
    timestamp: str | None
    ack: int
    lid: str | None = Field(
        default=None, description="the sender's LID when WhatsApp named the chat by it (…@lid)"
    )
    quoted_id: str | None = Field(default=None, description="id of the message it replies to")


class MessagePage(_Out):
    messages: list[Message]
    next_before: str | None = Field(description="cursor for the next (older) page; null at the end")


class Health(_Out):
    status: str = Field(examples=["ok"], description="ok, or degraded (still 200): see reasons")
    reasons: list[str] = Field(
        default_factory=list,
        examples=[["disk_low"]],
        description="why degraded: disk_low, client_failed, webhook_backlog (empty when ok)",
    )
    timestamp: str
    activeClients: int
    clients: int
    states: dict[str, int]
    version: str
    pid: int
    started_at: str


class TokenCreate(BaseModel):
    """A new API token for one client."""

    model_config = ConfigDict(extra="forbid")

    scopes: list[str] = Field(
        min_length=1,
        max_length=4,
        examples=[["read", "send"]],
        description="read, send, control, webhooks",
    )
    name: str = Field(default="", max_length=100, examples=["crm integration"])

    @field_validator("scopes")
    @classmethod
    def _scopes(cls, v: list[str]) -> list[str]:
        return known_scopes(v)


class TokenInfo(_Out):
    id: str = Field(examples=["tok_0123456789abcdef"])
    client: str = Field(examples=["acme"])
    name: str
    scopes: list[str]
    created_at: str
    expires_at: str | None = Field(default=None, description="null: never expires")


class TokenCreated(TokenInfo):
    token: str = Field(description="the secret: shown only in this answer, stored only hashed")


class TokenList(_Out):
    tokens: list[TokenInfo]


class TokenRevoked(_Out):
    id: str
    revoked: bool = True


class StreamTicket(_Out):
    ticket: str = Field(description="single use; pass as ?ticket= to /ws or /api/events")
    expires_in: int = Field(examples=[30], description="seconds the ticket stays valid")


class AuditEntry(_Out):
    n: int
    timestamp: str
    key_id: str | None = Field(examples=["admin"], description="'admin' or a token id")
    action: str = Field(examples=["send_message"])
    method: str
    path: str
    client: str | None
    status: int
    result: str = Field(examples=["ok"], description="'ok' or the problem code")
    remote: str | None = Field(default=None, description="the caller's address")
    count: int = Field(
        default=1,
        description="calls this row stands for: calls without a valid key are counted per "
        "address, minute and status instead of one row each",
    )


class AuditPage(_Out):
    entries: list[AuditEntry]
    next_before: int | None


class DeadEvent(_Out):
    dn: int = Field(description="the worker's delivery number of the event")
    name: str = Field(examples=["unread"], description="the worker's event name")
    reason: str = Field(description="why it was not applied")
    payload: str = Field(description="the event's data as JSON (at most 64 KiB)")
    at: str = Field(examples=["2026-01-01T12:00:00.000Z"])


class DeadEvents(_Out):
    client: str
    dead_events: list[DeadEvent] = Field(description="newest first; the newest 1000 are kept")


class Event(_Out):
    """One event as sent over ``/ws`` (and stored in the event log)."""

    id: str
    seq: int = Field(description="per-client sequence number")
    client: str | None
    event: str = Field(examples=["message"])
    timestamp: str
    data: dict


class ClientStateData(_Out):
    state: str
    previous: str
    reason: str | None = None
    me: str | None = None


class ClientQrData(_Out):
    qr: str


class MessageAckData(_Out):
    ids: list[str]
    ack: int
    chat_id: str | None = None


class DaemonStartedData(_Out):
    version: str
    pid: int


def validate_body(model: type[BaseModel], body: object) -> BaseModel:
    """A JSON body against a model, or a 400 problem naming the first bad field."""
    if not isinstance(body, dict):
        raise Refused("invalid_json", "the body must be a JSON object")
    try:
        return model.model_validate(body)
    except ValidationError as exc:
        err = exc.errors()[0]
        field = ".".join(str(p) for p in err["loc"]) or None
        raise Refused("invalid_field", f"{field}: {err['msg']}", field=field) from None
