"""Edge checks: client, chat, message, group and contact ids, recipients, message bodies,
cursors, bounded integers. Pure functions."""

from __future__ import annotations

import base64
import binascii
import json
import re
from collections.abc import Container, Iterable
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, field_validator

from wamc.errors import Refused

# Always used with fullmatch: ``match`` with ``$`` accepts a trailing newline ("acme\n"), and an
# id starting with '-' would read as an option on a command line.
CLIENT_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$")
CLIENT_ID_HELP = "client ids are 1-64 letters, digits, '_' or '-', starting with a letter or digit"
CHAT_ID = re.compile(
    r"^[0-9A-Za-z._:-]{1,64}@(c\.us|g\.us|lid|s\.whatsapp\.net|newsletter|broadcast)$"
)
PHONE = re.compile(r"^\+?[0-9]{6,20}$")
# A serialized message id (MsgKey): '<fromMe>_<chat>_<key id>[_<participant>]'; group ids can
# hold two '@'. The one pattern for every msgId in a path and every reply_to.
_WID = r"[0-9A-Za-z.:-]{1,64}@(?:c\.us|g\.us|lid|s\.whatsapp\.net|newsletter|broadcast)"
MESSAGE_ID = re.compile(rf"^(?:true|false)_{_WID}_[0-9A-Za-z]{{1,128}}(?:_{_WID})?$")
MAX_TEXT_BYTES = 64 * 1024


def is_client_id(value: str) -> bool:
    return bool(value) and CLIENT_ID.fullmatch(value) is not None


def client_id(value: str, existing: Container[str] = ()) -> str:
    """A valid id, or one of ``existing``: clients stored before the id rule tightened stay
    addressable (status, disconnect, delete) but no new one can be made."""
    if value not in existing and not is_client_id(value):  # a known id: no pattern to run
        raise Refused("invalid_client_id", CLIENT_ID_HELP, field="id")
    return value


def legacy_client_ids(ids: Iterable[str]) -> list[str]:
    """Stored ids that today's rule refuses (the daemon warns about them at start)."""
    return sorted(i for i in ids if not is_client_id(i))


def chat_id(value: str, field: str = "chatId") -> str:
    if not CHAT_ID.match(value or ""):
        raise Refused("invalid_chat_id", f"{value[:80]!r} is not a WhatsApp chat id", field=field)
    return value


def message_id(value: str, field: str = "msgId") -> str:
    if not MESSAGE_ID.fullmatch(value or ""):
        raise Refused("invalid_message_id", f"{value[:80]!r} is not a message id", field=field)
    return value


# Contacts and groups (issue 11): a group is '<digits>@g.us' (older: '<creator>-<time>@g.us');
# a person '<number>@c.us' or '<lid>@lid'. The one pattern each for a {gid} or a person.
GROUP_ID = re.compile(r"^[0-9]{5,20}(?:-[0-9]{5,20})?@g\.us$")
CONTACT_ID = re.compile(r"^[0-9]{5,20}@(?:c\.us|lid)$")


def group_id(value: str, field: str = "gid") -> str:
    if not GROUP_ID.fullmatch(value or ""):
        raise Refused("invalid_chat_id", f"{value[:80]!r} is not a WhatsApp group id", field=field)
    return value


def contact_id(value: str, field: str = "contactId") -> str:
    """A contact id, or a phone number (+, spaces, dashes tolerated) as '<digits>@c.us'."""
    compact = value if "@" in value else re.sub(r"[\s().-]", "", value)
    person = compact.lstrip("+") + "@c.us" if PHONE.fullmatch(compact) else compact
    if not CONTACT_ID.fullmatch(person):
        raise Refused("invalid_chat_id", f"{value[:80]!r} is not a contact id", field=field)
    return person


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
    reply_to: str | None = Field(
        default=None, pattern=MESSAGE_ID.pattern, description="id of the message to quote"
    )
    mentions: list[Annotated[str, Field(min_length=1, max_length=128)]] | None = Field(
        default=None,
        max_length=256,
        examples=[["+55 11 97777-0001"]],
        description="group chats only: the members to @-mention (phone numbers or contact "
        "ids; wa-js `mentionedList`); write `@<number>` in the text where each should show",
    )

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


def one_line(value: str, what: str = "name") -> str:
    """A name that ends up inside a vCard or a subject: no control characters (a CR/LF would
    start a new vCard line, e.g. an injected END:VCARD / TEL)."""
    if any(ord(c) < 0x20 or 0x7F <= ord(c) < 0xA0 for c in value):
        raise ValueError(f"{what}: control characters are not allowed")
    return value


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
