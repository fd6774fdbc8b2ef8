"""Edge validation: client ids, chat ids, recipients, message bodies, cursors. Pure functions."""

from __future__ import annotations

import base64
import binascii
import json
import re
from collections.abc import Container, Iterable
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from wamc.errors import Refused

# Always used with fullmatch: ``match`` with ``$`` accepts a trailing newline ("acme\n"), and an
# id starting with '-' would read as an option on a command line.
CLIENT_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$")
CLIENT_ID_HELP = "client ids are 1-64 letters, digits, '_' or '-', starting with a letter or digit"
CHAT_ID = re.compile(
    r"^[0-9A-Za-z._:-]{1,64}@(c\.us|g\.us|lid|s\.whatsapp\.net|newsletter|broadcast)$"
)
PHONE = re.compile(r"^\+?[0-9]{6,20}$")
MAX_TEXT_BYTES = 64 * 1024


def is_client_id(value: str) -> bool:
    return bool(value) and CLIENT_ID.fullmatch(value) is not None


def client_id(value: str, existing: Container[str] = ()) -> str:
    """A valid id, or one of ``existing``: clients stored before the id rule tightened stay
    addressable (status, disconnect, delete) but no new one can be made."""
    if not is_client_id(value) and value not in existing:
        raise Refused("invalid_client_id", CLIENT_ID_HELP, field="id")
    return value


def legacy_client_ids(ids: Iterable[str]) -> list[str]:
    """Stored ids that today's rule refuses (the daemon warns about them at start)."""
    return sorted(i for i in ids if not is_client_id(i))


def chat_id(value: str, field: str = "chatId") -> str:
    if not CHAT_ID.match(value or ""):
        raise Refused("invalid_chat_id", f"{value[:80]!r} is not a WhatsApp chat id", field=field)
    return value


def recipient(value: str) -> str:
    """Phone digits, +digits (spaces, dashes and brackets tolerated) or a chat id → chat id."""
    value = value.strip()
    if "@" in value:
        return chat_id(value, field="to")
    compact = re.sub(r"[\s().-]", "", value)
    if not PHONE.match(compact):
        raise Refused(
            "invalid_field",
            "'to' must be a phone number (digits, optional +) or a chat id",
            field="to",
        )
    return compact.lstrip("+") + "@c.us"


class SendMessage(BaseModel):
    model_config = ConfigDict(extra="forbid")

    to: str = Field(min_length=1, max_length=128, examples=["+55 11 98888-7777"])
    text: str = Field(min_length=1, examples=["hello from wamc"])

    @field_validator("text")
    @classmethod
    def _text(cls, v: str) -> str:
        if not v.strip():
            raise ValueError("text is empty")
        if len(v.encode("utf-8")) > MAX_TEXT_BYTES:
            raise ValueError(f"text is over {MAX_TEXT_BYTES} bytes of UTF-8")
        return v


class PairingRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    phone: str = Field(min_length=6, max_length=32, examples=["+55 11 98888-7777"])

    @field_validator("phone")
    @classmethod
    def _phone(cls, v: str) -> str:
        compact = re.sub(r"[\s().-]", "", v)
        if not PHONE.match(compact):
            raise ValueError("phone must be digits with the country code, optionally with +")
        return compact.lstrip("+")


class PairingCode(BaseModel):
    id: str = Field(examples=["acme"])
    code: str = Field(examples=["ABCD-EFGH"])
    expires_in: int = Field(examples=[180], description="seconds the code stays valid (≈ 3 min)")


def encode_cursor(position: tuple[int, int]) -> str:
    """An opaque paging cursor: the (timestamp, storage order) of the last message returned."""
    raw = json.dumps(list(position), separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str) -> tuple[int, int]:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        ts, order = json.loads(raw)
        if not isinstance(ts, int) or not isinstance(order, int):
            raise ValueError
        return ts, order
    except (ValueError, binascii.Error, TypeError, json.JSONDecodeError):
        raise Refused(
            "invalid_parameter", "'before' is not a cursor this API returned", field="before"
        ) from None


def bounded_int(raw: str | None, name: str, default: int, low: int, high: int) -> int:
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise Refused("invalid_parameter", f"'{name}' must be an integer", field=name) from None
    if not low <= value <= high:
        raise Refused("invalid_parameter", f"'{name}' must be between {low} and {high}", field=name)
    return value


# --- API models: they validate requests and are the schemas of /openapi.json ----------------------
# (wamc/api/openapi.py builds the document from them; keep them in step with the handlers)

SCOPE_NAMES = ("read", "send", "control", "webhooks")


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
        bad = [s for s in v if s not in SCOPE_NAMES]
        if bad:
            raise ValueError(f"unknown scope {bad[0]!r}: use read, send, control or webhooks")
        return v


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
