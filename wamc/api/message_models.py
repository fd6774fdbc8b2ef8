"""Request and answer models of the message actions (issue 11, items 3-5): replies, reactions,
read, typing, edit, delete, location and contact cards; they validate requests and are schemas of
/openapi.json (wamc/api/openapi.py adds them, and documents the kind-specific message parts)."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from wamc.validation import MAX_TEXT_BYTES, MESSAGE_ID, SendResult, one_line

REPLY_TO = Field(default=None, pattern=MESSAGE_ID.pattern, description="id of the message to quote")


class _In(BaseModel):
    model_config = ConfigDict(extra="forbid")


def _text(v: str) -> str:
    if not v.strip():
        raise ValueError("text is empty")
    if len(v.encode("utf-8")) > MAX_TEXT_BYTES:
        raise ValueError(f"text is over {MAX_TEXT_BYTES} bytes of UTF-8")
    return v


class Reaction(_In):
    emoji: str = Field(max_length=16, examples=["👍"], description="'' removes your reaction")


class Typing(_In):
    state: Literal["typing", "recording", "paused"] = Field(
        examples=["typing"], description="typing… / recording audio… / stop showing either"
    )


class EditMessage(_In):
    text: str = Field(min_length=1, examples=["hello again, fixed"])

    @field_validator("text")
    @classmethod
    def _check(cls, v: str) -> str:
        return _text(v)


class SendLocation(_In):
    to: str = Field(min_length=1, max_length=128, examples=["+55 11 98888-7777"])
    latitude: float = Field(ge=-90, le=90, examples=[-23.5505])
    longitude: float = Field(ge=-180, le=180, examples=[-46.6333])
    name: str | None = Field(default=None, max_length=256, examples=["Praça da Sé"])
    address: str | None = Field(default=None, max_length=256, examples=["São Paulo, SP"])
    url: str | None = Field(default=None, max_length=2048, pattern=r"^https?://")
    reply_to: str | None = REPLY_TO


class ContactRef(_In):
    id: str = Field(
        min_length=1, max_length=128, examples=["+55 11 97777-0001"], description="phone or id"
    )
    name: str | None = Field(default=None, max_length=256, examples=["Ana"])

    @field_validator("name")
    @classmethod
    def _one_line(cls, v: str | None) -> str | None:
        return one_line(v) if v is not None else None


class SendContact(_In):
    to: str = Field(min_length=1, max_length=128, examples=["+55 11 98888-7777"])
    contacts: list[ContactRef] = Field(min_length=1, max_length=50)
    reply_to: str | None = REPLY_TO


class ActionResult(BaseModel):
    model_config = ConfigDict(extra="allow")

    id: str = Field(description="the message (or chat) acted on")
    client: str = Field(examples=["acme"])


class ReactionResult(ActionResult):
    emoji: str = Field(examples=["👍"], description="'' when the reaction was removed")


class ReadResult(ActionResult):
    chat_id: str


class TypingResult(ActionResult):
    chat_id: str
    state: str


class EditResult(ActionResult):
    text: str


class DeleteResult(ActionResult):
    deleted_for: Literal["everyone", "me"]


class KindResult(SendResult):
    type: str = Field(examples=["location"], description="location | vcard | multi_vcard")


REQUESTS: tuple[type[BaseModel], ...] = (
    Reaction,
    Typing,
    EditMessage,
    SendLocation,
    ContactRef,
    SendContact,
)
ANSWERS: tuple[type[BaseModel], ...] = (
    ReactionResult,
    ReadResult,
    TypingResult,
    EditResult,
    DeleteResult,
    KindResult,
)

# The kind-specific parts of a message (events and history), present when it has them.
_STR = {"type": ["string", "null"]}
MESSAGE_PARTS: dict[str, Any] = {
    "quoted_id": {**_STR, "description": "id of the message it replies to (quotes), or null"},
    "location": {
        "type": "object",
        "description": "type `location`",
        "properties": {
            "latitude": {"type": "number"},
            "longitude": {"type": "number"},
            "name": _STR,
            "address": _STR,
            "url": _STR,
        },
    },
    "contacts": {
        "type": "array",
        "description": "types `vcard` and `multi_vcard`: the cards",
        "items": {"type": "object", "properties": {"name": _STR, "vcard": {"type": "string"}}},
    },
    "poll": {
        "type": "object",
        "description": "type `poll_creation`",
        "properties": {
            "name": {"type": "string"},
            "options": {"type": "array", "items": {"type": "string"}},
            "selectable_count": {"type": "integer", "description": "0: any number"},
        },
    },
    "system": {
        "type": "object",
        "description": "notifications (types `gp2`, `e2e_notification`, `notification_template`,"
        " `call_log` …): what happened, and to whom",
        "properties": {
            "subtype": _STR,
            "recipients": {"type": "array", "items": {"type": "string"}},
        },
    },
}


def add_message_parts(schemas: dict[str, Any]) -> None:
    """Document the kind-specific parts on the ``Message`` schema."""
    props = schemas.get("Message", {}).setdefault("properties", {})
    props.update(MESSAGE_PARTS)
