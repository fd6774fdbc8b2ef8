"""Edge validation: client ids, chat ids, recipients, message bodies, cursors. Pure functions."""

from __future__ import annotations

import base64
import binascii
import json
import re

from pydantic import BaseModel, ConfigDict, Field, field_validator

from wamc.errors import ApiError

CLIENT_ID = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
CHAT_ID = re.compile(
    r"^[0-9A-Za-z._:-]{1,64}@(c\.us|g\.us|lid|s\.whatsapp\.net|newsletter|broadcast)$"
)
PHONE = re.compile(r"^\+?[0-9]{6,20}$")
MAX_TEXT_BYTES = 64 * 1024


def client_id(value: str) -> str:
    if not CLIENT_ID.match(value or ""):
        raise ApiError(
            "invalid_client_id",
            "client ids are 1-64 characters of letters, digits, '_' and '-'",
            field="id",
        )
    return value


def chat_id(value: str, field: str = "chatId") -> str:
    if not CHAT_ID.match(value or ""):
        raise ApiError("invalid_chat_id", f"{value[:80]!r} is not a WhatsApp chat id", field=field)
    return value


def recipient(value: str) -> str:
    """Phone digits, +digits (spaces, dashes and brackets tolerated) or a chat id → chat id."""
    value = value.strip()
    if "@" in value:
        return chat_id(value, field="to")
    compact = re.sub(r"[\s().-]", "", value)
    if not PHONE.match(compact):
        raise ApiError(
            "invalid_field",
            "'to' must be a phone number (digits, optional +) or a chat id",
            field="to",
        )
    return compact.lstrip("+") + "@c.us"


class SendMessage(BaseModel):
    model_config = ConfigDict(extra="forbid")

    to: str = Field(min_length=1, max_length=128)
    text: str = Field(min_length=1)

    @field_validator("text")
    @classmethod
    def _text(cls, v: str) -> str:
        if not v.strip():
            raise ValueError("text is empty")
        if len(v.encode("utf-8")) > MAX_TEXT_BYTES:
            raise ValueError(f"text is over {MAX_TEXT_BYTES} bytes of UTF-8")
        return v


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
        raise ApiError(
            "invalid_parameter", "'before' is not a cursor this API returned", field="before"
        ) from None


def bounded_int(raw: str | None, name: str, default: int, low: int, high: int) -> int:
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ApiError("invalid_parameter", f"'{name}' must be an integer", field=name) from None
    if not low <= value <= high:
        raise ApiError(
            "invalid_parameter", f"'{name}' must be between {low} and {high}", field=name
        )
    return value
