"""The simulated servers' side of message actions (issue 11): what a linked page does to a chat
(react, edit or revoke what it sent, delete for itself, typing, read) and the incoming kinds a
contact can send (replies, locations, contact cards, stickers, polls, notifications).

A mixin of ``World`` (world.py), like ``Messaging``. Per (account, chat) it keeps what the phone
would show, for tests to read back (``GET /control/chat``).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from .model import (
    PRESENCE_STATES,
    Account,
    BadRequest,
    Conflict,
    Connection,
    Device,
    NotFound,
    bare_id,
    check_phone,
    new_msg_id,
    user_wid,
)

EDIT_WINDOW = 15 * 60  # seconds WhatsApp lets a sent text be edited
# A location's body on WhatsApp Web is a small JPEG map thumbnail (base64), not text.
MAP_THUMBNAIL = "/9j/4AAQSkZJRgABAQAAAQABAAD/2wBDAAgGBgcGBQgHBwcJCQgKDBQNDAsLDBkSEw8U"
SYSTEM_TYPES = frozenset({"gp2", "e2e_notification", "notification_template", "call_log"})
KINDS = frozenset({"chat", "location", "vcard", "multi_vcard", "sticker", "poll_creation"})


@dataclass
class ChatState:
    """One chat as the account's phone sees it."""

    read: list[str] = field(default_factory=list)  # ids of contact messages read, in order
    chatstate: str | None = None  # our typing state as the contact sees it
    reactions: dict[str, str] = field(default_factory=dict)  # message key -> our emoji
    edits: dict[str, str] = field(default_factory=dict)  # our message key -> its new text
    revoked: list[str] = field(default_factory=list)  # our messages deleted for everyone
    deleted_for_me: list[str] = field(default_factory=list)


def vcard(phone: str, name: str) -> str:
    lines = ["BEGIN:VCARD", "VERSION:3.0", f"N:;{name};;;", f"FN:{name}"]
    return "\n".join([*lines, f"TEL;type=CELL;type=VOICE;waid={phone}:+{phone}", "END:VCARD"])


class Actions:
    devices: dict[str, Device]
    accounts: dict[str, Account]
    edit_window: float = EDIT_WINDOW
    _linked_devices: Callable[[str], list[Device]]  # Messaging's (World has both)
    _deliver: Callable[..., bool]
    _push_update: Callable[[str, dict[str, Any]], bool]
    _push_live: Callable[[str, dict[str, Any]], bool]

    # ------------------------------------------------------------------ state
    def _chat(self, phone: str, chat: str) -> ChatState:
        states: dict[tuple[str, str], ChatState] = self.__dict__.setdefault("_chat_states", {})
        return states.setdefault((phone, chat), ChatState())

    def chat_state(self, phone: Any, other: Any) -> dict[str, Any]:
        phone, other = check_phone(phone), check_phone(other, "with")
        state = self._chat(phone, user_wid(other))
        account = self.accounts.get(phone)
        sent = [r for r in account.sent.values() if r["to"] == user_wid(other)] if account else []
        return {**state.__dict__, "sent": sent}

    def set_edit_window(self, seconds: Any) -> float:
        if not isinstance(seconds, int | float) or isinstance(seconds, bool) or seconds < 0:
            raise BadRequest("seconds must be a number, 0 or more")
        self.edit_window = float(seconds)
        for device in self.devices.values():
            if device.conn is not None:
                device.conn.push({"t": "config", "edit_window": self.edit_window})
        return self.edit_window

    # ------------------------------------------------------------------ page side
    def _own(self, conn: Connection, key: Any) -> tuple[str, str, dict[str, Any] | None]:
        """(phone, chat, sent record or None) of a message key a page names."""
        device = conn.device
        if device is None or device.phone is None or not isinstance(key, str):
            raise BadRequest("not logged in, or no message key")
        parts = key.split("_")
        if len(parts) < 3:
            raise BadRequest(f"{key!r} is not a message key")
        account = self.accounts[device.phone]
        record = account.sent.get(parts[2]) if parts[0] == "true" else None
        return device.phone, parts[1], record

    def react_from_page(self, conn: Connection, key: Any, reaction: Any) -> None:
        if not isinstance(reaction, str) or len(reaction) > 16:
            raise BadRequest("reaction must be an emoji or ''")
        phone, chat, _ = self._own(conn, key)
        state = self._chat(phone, chat)
        if reaction:
            state.reactions[key] = reaction
        else:
            state.reactions.pop(key, None)
        # The contact, if linked too, sees it on the same message (its key from their side).
        theirs = (
            f"{'false' if key.startswith('true_') else 'true'}_{user_wid(phone)}_{bare_id(key)}"
        )
        update = {"t": "reaction", "key": theirs, "from": user_wid(phone), "reaction": reaction}
        self._to_contact(chat, {**update, "id": new_msg_id(), "at_ms": int(time.time() * 1000)})

    def edit_from_page(self, conn: Connection, key: Any, body: Any) -> None:
        phone, chat, record = self._own(conn, key)
        if record is None:
            raise NotFound(f"{key} is not a message this phone sent")
        if not isinstance(body, str) or not body:
            raise BadRequest("body must be a non-empty string")
        if record.get("revoked") or time.time() - record["t"] >= self.edit_window:
            raise Conflict("this message can no longer be edited")
        record["body"] = body
        self._chat(phone, chat).edits[key] = body
        self._contact_copy(chat, record)["body"] = body
        update = {"t": "edit", "chat": user_wid(phone), "ref": bare_id(key)}
        self._to_contact(chat, {**update, "body": body, "at": int(time.time())})

    def revoke_from_page(self, conn: Connection, key: Any) -> None:
        phone, chat, record = self._own(conn, key)
        if record is None:
            raise NotFound(f"{key} is not a message this phone sent")
        record["revoked"] = True
        self._chat(phone, chat).revoked.append(key)
        self._contact_copy(chat, record)["revoked"] = True
        update = {"t": "revoke", "chat": user_wid(phone), "ref": bare_id(key), "id": new_msg_id()}
        self._to_contact(chat, {**update, "at": int(time.time())})

    def deleted_for_me(self, conn: Connection, key: Any) -> None:
        phone, chat, _ = self._own(conn, key)
        self._chat(phone, chat).deleted_for_me.append(key)

    def chatstate_from_page(self, conn: Connection, chat: Any, state: Any) -> None:
        device = conn.device
        if device is None or device.phone is None or not isinstance(chat, str):
            return
        if state not in PRESENCE_STATES:
            raise BadRequest(f"unknown chat state {state!r}")
        self._chat(device.phone, chat).chatstate = state
        contact = _phone(chat)
        if contact is not None:  # like presence: only pages connected now see it
            self._push_live(
                contact, {"t": "presence", "from": user_wid(device.phone), "state": state}
            )

    def _to_contact(self, chat: str, update: dict[str, Any]) -> None:
        """A change to the chat reaches the contact's own linked pages (if it has any)."""
        contact = _phone(chat)
        if contact is not None and self._linked_devices(contact):
            self._push_update(contact, update)

    def _contact_copy(self, chat: str, record: dict[str, Any]) -> dict[str, Any]:
        """The contact's copy of a message we sent (what /control/revoke and edit act on)."""
        contact = _phone(chat)
        account = self.accounts.get(contact) if contact else None
        found = account.received.get(bare_id(record["id"])) if account else None
        return found if found is not None else {}

    def note_read(self, phone: str, chat: str, ids: list[str]) -> None:
        read = self._chat(phone, chat).read
        read.extend(i for i in ids if i not in read)

    # ------------------------------------------------------------------ phone side (control API)
    def incoming(self, spec: dict[str, Any]) -> dict[str, str]:
        """A contact sends ``spec["type"]``: a text (a reply with ``quoted_id``), a location,
        contact cards, a sticker, a poll, or a notification (gp2, e2e_notification …)."""
        to, sender = check_phone(spec.get("to"), "to"), check_phone(spec.get("from"), "from")
        kind = spec.get("type", "chat")
        if kind not in KINDS | SYSTEM_TYPES:
            raise BadRequest(f"type must be one of {', '.join(sorted(KINDS | SYSTEM_TYPES))}")
        body, extra = _fields(kind, spec)
        quoted = spec.get("quoted_id")
        if quoted is not None:
            extra.update(self._quote(to, sender, quoted))
        if not self._linked_devices(to):
            raise NotFound(f"phone {to} has no linked WhatsApp Web device")
        msg_id = new_msg_id()
        live = self._deliver(to, sender, body, kind, msg_id, None, None, extra)
        return {
            "id": f"false_{user_wid(sender)}_{msg_id}",
            "delivered": "live" if live else "queued",
        }

    def _quote(self, to: str, sender: str, quoted: Any) -> dict[str, Any]:
        """A reply's context (msgContextInfo) for a message of the chat ``to`` ⇄ ``sender``."""
        prefix = (f"true_{user_wid(sender)}_", f"false_{user_wid(sender)}_")
        if not isinstance(quoted, str) or not quoted.startswith(prefix):
            raise BadRequest(f"quoted_id must be a message of the chat with {sender}")
        mine = quoted.startswith("true_")
        account = self.accounts.get(to)
        known = (account.sent if mine else account.received) if account else {}
        if bare_id(quoted) not in known:
            raise NotFound(f"no message {quoted} between {to} and {sender}")
        author = user_wid(to) if mine else user_wid(sender)
        return {"quotedStanzaID": bare_id(quoted), "quotedParticipant": author}


def _phone(chat: str) -> str | None:
    user, _, server = chat.partition("@")
    return user if server == "c.us" and user.isdigit() else None


def _fields(kind: str, spec: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    """(body, MsgModel fields) of an incoming message of this kind, as WhatsApp Web has them."""
    if kind == "chat":
        body = spec.get("body")
        if not isinstance(body, str) or not body:
            raise BadRequest("body must be a non-empty string")
        return body, {}
    if kind == "location":
        lat, lng = spec.get("latitude"), spec.get("longitude")
        if not all(isinstance(v, int | float) and not isinstance(v, bool) for v in (lat, lng)):
            raise BadRequest("latitude and longitude must be numbers")
        loc = "\n".join(str(spec[k]) for k in ("name", "address") if spec.get(k))
        return MAP_THUMBNAIL, {"lat": lat, "lng": lng, "loc": loc, "clientUrl": spec.get("url")}
    if kind in ("vcard", "multi_vcard"):
        return _cards(kind, spec.get("contacts"))
    if kind == "sticker":
        return "", {"mimetype": "image/webp"}
    if kind == "poll_creation":
        name, options = spec.get("name"), spec.get("options")
        if not isinstance(name, str) or not isinstance(options, list) or len(options) < 2:
            raise BadRequest("a poll needs a name and at least two options")
        polled = [{"localId": i, "name": str(o)} for i, o in enumerate(options)]
        count = spec.get("selectable_count", 1)
        return "", {"pollName": name, "pollOptions": polled, "pollSelectableOptionsCount": count}
    recipients = spec.get("recipients", [])
    if not isinstance(recipients, list):
        raise BadRequest("recipients must be a list of phone numbers")
    wids = [user_wid(check_phone(r, "recipient")) for r in recipients]
    return "", {"subtype": str(spec.get("subtype") or ""), "recipients": wids}


def _cards(kind: str, contacts: Any) -> tuple[str, dict[str, Any]]:
    if not isinstance(contacts, list) or not contacts:
        raise BadRequest("contacts must be a list of {name, phone}")
    cards = []
    for c in contacts:
        if not isinstance(c, dict) or not isinstance(c.get("name"), str):
            raise BadRequest("each contact needs a name and a phone")
        cards.append(
            {"displayName": c["name"], "vcard": vcard(check_phone(c.get("phone")), c["name"])}
        )
    if kind == "vcard":
        if len(cards) != 1:
            raise BadRequest("a vcard holds one contact (multi_vcard for more)")
        return cards[0]["vcard"], {"vcardFormattedName": cards[0]["displayName"]}
    return "", {"vcardList": cards}


def page_actions(world: Actions, conn: Connection, msg: dict[str, Any]) -> dict[str, Any]:
    """The page → server messages of message actions, for server.py's dispatch."""
    return {
        "react": lambda: world.react_from_page(conn, msg.get("key"), msg.get("reaction")),
        "edit_own": lambda: world.edit_from_page(conn, msg.get("key"), msg.get("body")),
        "revoke_own": lambda: world.revoke_from_page(conn, msg.get("key")),
        "delete_for_me": lambda: world.deleted_for_me(conn, msg.get("key")),
        "chatstate": lambda: world.chatstate_from_page(conn, msg.get("chat"), msg.get("state")),
    }
