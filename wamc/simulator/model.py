"""Data and validation shared by the simulator's world and its HTTP layer."""

from __future__ import annotations

import asyncio
import hashlib
import re
import secrets
from dataclasses import dataclass, field
from typing import Any, Protocol

PHONE_RE = re.compile(r"^\d{5,20}$")
USER_WID_RE = re.compile(r"^(\d{5,20})@c\.us$")
LID_WID_RE = re.compile(r"^(\d{5,20})@lid$")
LINK_CODE_ALPHABET = "ABCDEFGHJKLMNPQRSTVWXYZ123456789"
ACK_FAILED, ACK_SENT, ACK_RECEIVED, ACK_READ, ACK_PLAYED = -1, 1, 2, 3, 4
DEFAULT_LOGOUT_REASON = "user_initiated"
# Chat states a contact can show (WhatsApp Web's presence / chatstate types).
PRESENCE_STATES = frozenset({"available", "unavailable", "composing", "recording", "paused"})


class SimError(Exception):
    status = 400


class BadRequest(SimError):
    status = 400


class NotFound(SimError):
    status = 404


class Conflict(SimError):
    status = 409


class Connection(Protocol):
    """A page's WebSocket, as the world sees it."""

    device: Device | None

    def push(self, msg: dict[str, Any]) -> None: ...


@dataclass
class Device:
    device_id: str
    keys: dict[str, str]
    phone: str | None = None
    conn: Connection | None = None  # the attached connection (None: offline or in conflict)
    stream_mode: str | None = None  # as last reported by the page
    qr: str | None = None  # fullCode currently shown
    rotation: asyncio.Task[None] | None = None
    link_code: tuple[str, str] | None = None  # (code, phone)
    unlinked_reason: str | None = None  # set when the phone unlinked it while it was away
    outbox: dict[str, dict[str, Any]] = field(default_factory=dict)  # not yet stored by the page
    # Revokes, edits, reactions and calls that came while the page was away (sent at welcome).
    updates: list[dict[str, Any]] = field(default_factory=list)

    def describe(self) -> dict[str, Any]:
        return {
            "device_id": self.device_id,
            "phone": self.phone,
            "qr": self.qr if self.conn is not None else None,
            "link_code": self.link_code[0] if self.link_code and self.conn is not None else None,
            "stream_mode": self.stream_mode,
            "connected": self.conn is not None,
        }


@dataclass
class Account:
    phone: str
    devices: set[str] = field(default_factory=set)
    sent: dict[str, dict[str, Any]] = field(default_factory=dict)  # bare msg id -> record
    # Messages contacts sent to this account, by bare id (what revoke/edit/reaction refer to).
    received: dict[str, dict[str, Any]] = field(default_factory=dict)


def new_msg_id() -> str:
    return "3EB0" + secrets.token_hex(8).upper()


def new_call_id() -> str:
    return secrets.token_hex(16).upper()


def user_wid(phone: str) -> str:
    return f"{phone}@c.us"


def lid_of(phone: str) -> str:
    """A contact's LID (its privacy id): 15 digits derived from the phone number, never equal."""
    salt = 0
    while True:
        digest = hashlib.sha256(f"lid:{salt}:{phone}".encode()).digest()
        lid = "1" + str(int.from_bytes(digest[:8], "big")).zfill(20)[-14:]
        if lid != phone:
            return lid
        salt += 1


def check_phone(value: Any, name: str = "phone") -> str:
    if not isinstance(value, str) or not PHONE_RE.match(value):
        raise BadRequest(f"{name} must be a string of 5 to 20 digits")
    return value


def is_on_whatsapp(phone: str) -> bool:
    """The simulator's directory: every number of 8 to 15 digits has WhatsApp."""
    return 8 <= len(phone) <= 15 and phone.isdigit()


def bare_id(msg_id: str) -> str:
    """'true_123@c.us_3EB0…' or '3EB0…' -> '3EB0…'."""
    return msg_id.rsplit("_", 1)[-1]
