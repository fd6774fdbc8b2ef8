"""The simulated servers' message routing: texts, receipts, edits, reactions, presence, calls.

A mixin of ``World`` (world.py), split out by responsibility: devices, pairing and QR codes live
there; here, what flows between the simulated accounts and their linked pages.
"""

from __future__ import annotations

import re
import time
from typing import Any

from .media import MediaStore, media_extra, sent_media
from .model import (
    ACK_FAILED,
    ACK_READ,
    ACK_RECEIVED,
    ACK_SENT,
    PRESENCE_STATES,
    USER_WID_RE,
    Account,
    BadRequest,
    Conflict,
    Connection,
    Device,
    NotFound,
    bare_id,
    check_phone,
    is_on_whatsapp,
    lid_of,
    new_call_id,
    new_msg_id,
    user_wid,
)

# A serialized 1:1 message key: '<fromMe>_<phone>@c.us_<id>'.
MSG_KEY_RE = re.compile(r"^(true|false)_(\d{5,20})@c\.us_([0-9A-Za-z]+)$")


class Messaging:
    devices: dict[str, Device]
    accounts: dict[str, Account]
    lids: dict[str, str]  # LID -> phone, for every LID handed out
    note_read: Any  # actions.py (World has both)
    group_member: Any  # groups.py
    media: MediaStore

    def stored(self, conn: Connection, ids: Any) -> None:
        """The page committed these incoming messages to IndexedDB: stop re-sending them."""
        device = conn.device
        if device is None or not isinstance(ids, list):
            return
        for msg_id in ids:
            msg = device.outbox.pop(str(msg_id), None)
            if msg is not None:
                sender, reader = self._phone_of(msg["from"]), msg["to"].split("@")[0]
                if sender is not None:
                    self._receipt(sender, [msg["id"]], reader, ACK_RECEIVED)

    def read(self, conn: Connection, chat: Any, ids: Any) -> None:
        device = conn.device
        if device is None or device.phone is None or not isinstance(chat, str):
            return
        match = USER_WID_RE.match(chat)
        if match and isinstance(ids, list):
            self._receipt(match.group(1), [str(i) for i in ids], device.phone, ACK_READ)
            self.note_read(device.phone, chat, [str(i) for i in ids])  # actions.py

    def send(self, conn: Connection, msg: dict[str, Any]) -> None:
        """A message typed on the page: record it, answer with ack SENT, route it."""
        device = conn.device
        msg_id, to = str(msg.get("id") or ""), msg.get("to")
        if device is None or device.phone is None or device.conn is not conn or not msg_id:
            return  # a page in conflict keeps it (ack CLOCK) and re-sends after its takeover
        match = USER_WID_RE.match(to) if isinstance(to, str) else None
        to_group = isinstance(to, str) and self.group_member(to, device.phone)  # groups.py
        if not to_group and (match is None or not is_on_whatsapp(match.group(1))):
            conn.push({"t": "ack", "chat": to, "ids": [msg_id], "ack": ACK_FAILED})
            return
        account = self.accounts[device.phone]
        record = account.sent.get(msg_id)
        if record is None:
            record = {
                "id": f"true_{to}_{msg_id}",
                "from": user_wid(device.phone),
                "to": to,
                "body": str(msg.get("body", "")),
                "type": str(msg.get("type") or "chat"),
                "t": int(time.time()),
                "ack": ACK_SENT,
                "extra": msg.get("extra") if isinstance(msg.get("extra"), dict) else {},
                **sent_media(self, msg),
            }
            account.sent[msg_id] = record
            recipient = match.group(1) if match else ""  # a group's copies are not simulated
            if recipient and self._linked_devices(recipient):
                extra = {**record["extra"], **media_extra(record)}
                self._deliver(
                    recipient, device.phone, record["body"], record["type"], msg_id, extra=extra
                )
        conn.push({"t": "ack", "chat": to, "ids": [msg_id], "ack": record["ack"]})

    def lid_for(self, phone: str) -> str:
        lid = lid_of(phone)
        self.lids[lid] = phone
        return lid

    def deliver(
        self,
        to: Any,
        sender: Any,
        body: Any,
        type_: Any = "chat",
        t: Any = None,
        as_lid: Any = False,
    ) -> dict[str, str]:
        """A contact sends a text; ``as_lid``: WhatsApp names the sender by its LID."""
        to, sender = check_phone(to, "to"), check_phone(sender, "from")
        if not isinstance(as_lid, bool):
            raise BadRequest("as_lid must be true or false")
        if not isinstance(body, str):
            raise BadRequest("body must be a string")
        if type_ != "chat":
            raise BadRequest("only type 'chat' is simulated")
        if t is not None and (not isinstance(t, int) or isinstance(t, bool)):
            raise BadRequest("t must be unix seconds")
        if not self._linked_devices(to):
            raise NotFound(f"phone {to} has no linked WhatsApp Web device")
        msg_id = new_msg_id()
        from_wid = f"{self.lid_for(sender)}@lid" if as_lid else None
        live = self._deliver(to, sender, body, "chat", msg_id, t, from_wid)
        return {
            "id": f"false_{from_wid or user_wid(sender)}_{msg_id}",
            "delivered": "live" if live else "queued",
        }

    def sent(self, phone: Any) -> list[dict[str, Any]]:
        account = self.accounts.get(check_phone(phone))
        if account is None:
            raise NotFound(f"unknown phone {phone}")
        return list(account.sent.values())

    def set_ack(self, phone: Any, msg_id: Any, ack: Any) -> dict[str, Any]:
        phone = check_phone(phone)
        if not isinstance(msg_id, str) or not msg_id:
            raise BadRequest("id must be a message id")
        if not isinstance(ack, int) or isinstance(ack, bool) or not -1 <= ack <= 4:
            raise BadRequest("ack must be an integer from -1 to 4")
        account = self.accounts.get(phone)
        record = account.sent.get(bare_id(msg_id)) if account else None
        if record is None:
            raise NotFound(f"phone {phone} did not send message {msg_id}")
        if ack > record["ack"] or ack == ACK_FAILED:  # acks only move forward, as on the page
            record["ack"] = ack
        live = self._push_ack(phone, record["to"], [bare_id(msg_id)], ack)
        return {"id": record["id"], "ack": record["ack"], "delivered": "live" if live else "queued"}

    def revoke(self, phone: Any, msg_id: Any) -> dict[str, str]:
        """The contact who sent ``msg_id`` to ``phone`` deletes it for everyone."""
        phone, record = self._received(phone, msg_id)
        if record.get("revoked"):
            raise Conflict(f"message {msg_id} is already revoked")
        record["revoked"] = True
        update = {
            "t": "revoke",
            "chat": record["from"],
            "ref": record["id"],
            "id": new_msg_id(),
            "at": int(time.time()),
        }
        live = self._push_update(phone, update)
        return {"id": self._key_of(record), "delivered": "live" if live else "queued"}

    def edit(self, phone: Any, msg_id: Any, body: Any) -> dict[str, str]:
        """The contact who sent ``msg_id`` to ``phone`` changes its text."""
        if not isinstance(body, str) or not body:
            raise BadRequest("body must be a non-empty string")
        phone, record = self._received(phone, msg_id)
        if record.get("revoked"):
            raise Conflict(f"message {msg_id} was revoked")
        if record.get("type", "chat") != "chat":
            raise BadRequest("only text messages can be edited")
        record["body"] = body
        update = {
            "t": "edit",
            "chat": record["from"],
            "ref": record["id"],
            "body": body,
            "at": int(time.time()),
        }
        live = self._push_update(phone, update)
        return {"id": self._key_of(record), "delivered": "live" if live else "queued"}

    def react(self, phone: Any, msg_id: Any, reaction: Any, sender: Any) -> dict[str, str]:
        """Contact ``sender`` reacts to a message of its chat with ``phone`` ('' removes)."""
        phone, sender = check_phone(phone), check_phone(sender, "from")
        if not isinstance(reaction, str) or len(reaction) > 16:
            raise BadRequest("reaction must be an emoji, or '' to remove it")
        match = MSG_KEY_RE.match(msg_id) if isinstance(msg_id, str) else None
        if match is None:
            raise BadRequest("id must be a message id like false_<phone>@c.us_<id>")
        from_me, remote, bare = match.group(1) == "true", match.group(2), match.group(3)
        account = self.accounts.get(phone)
        if account is None or not self._linked_devices(phone):
            raise NotFound(f"phone {phone} has no linked WhatsApp Web device")
        if remote != sender:
            raise BadRequest(f"{sender} is not in the chat of message {msg_id}")
        known = account.sent if from_me else account.received
        record = known.get(bare)
        wid = user_wid(sender)
        if record is None or record["to" if from_me else "from"] != wid:
            raise NotFound(f"no message {msg_id} between {phone} and {sender}")
        update = {
            "t": "reaction",
            "key": msg_id,
            "from": wid,
            "reaction": reaction,
            "id": new_msg_id(),
            "at_ms": int(time.time() * 1000),
        }
        live = self._push_update(phone, update)
        return {"id": msg_id, "delivered": "live" if live else "queued"}

    def presence(self, phone: Any, sender: Any, state: Any) -> dict[str, str]:
        """Contact ``sender`` is online / typing …; only pages connected now hear it."""
        phone, sender = check_phone(phone), check_phone(sender, "from")
        if state not in PRESENCE_STATES:
            raise BadRequest(f"state must be one of {', '.join(sorted(PRESENCE_STATES))}")
        if not self._linked_devices(phone):
            raise NotFound(f"phone {phone} has no linked WhatsApp Web device")
        update = {"t": "presence", "from": user_wid(sender), "state": state}
        return {"delivered": "live" if self._push_live(phone, update) else "none"}

    def call(self, phone: Any, sender: Any, is_video: Any = False) -> dict[str, str]:
        """Contact ``sender`` calls ``phone``; only pages connected now ring."""
        phone, sender = check_phone(phone), check_phone(sender, "from")
        if not isinstance(is_video, bool):
            raise BadRequest("is_video must be true or false")
        if not self._linked_devices(phone):
            raise NotFound(f"phone {phone} has no linked WhatsApp Web device")
        call_id = new_call_id()
        update = {
            "t": "call",
            "id": call_id,
            "from": user_wid(sender),
            "is_video": is_video,
            "at": int(time.time()),
        }
        live = self._push_live(phone, update)
        return {"id": call_id, "delivered": "live" if live else "none"}

    def _linked_devices(self, phone: str) -> list[Device]:
        account = self.accounts.get(phone)
        return [self.devices[d] for d in sorted(account.devices)] if account else []

    def _deliver(
        self,
        to: str,
        sender: str,
        body: str,
        type_: str,
        msg_id: str,
        t: int | None = None,
        from_wid: str | None = None,
        extra: dict[str, Any] | None = None,  # replies and other kinds (actions.py)
    ) -> bool:
        msg = {
            **(extra or {}),
            "id": msg_id,
            "from": from_wid or user_wid(sender),
            "to": user_wid(to),
            "body": body,
            "type": type_,
            "t": int(time.time()) if t is None else t,
        }
        if from_wid is not None:  # like the server's sender_pn: the page learns the mapping
            msg["pn"] = user_wid(sender)
        self.accounts.setdefault(to, Account(to)).received[msg_id] = dict(msg)
        live = False
        for device in self._linked_devices(to):
            device.outbox[msg_id] = msg
            if device.conn is not None:
                device.conn.push({"t": "msg", "msg": msg})
                live = True
        return live

    def _phone_of(self, wid: str) -> str | None:
        """'<phone>@c.us' or a LID wid handed out -> the phone number."""
        user, _, server = wid.partition("@")
        return self.lids.get(user) if server == "lid" else user

    def _receipt(self, sender: str, ids: list[str], reader: str, ack: int) -> None:
        """Move the ack of messages a simulated account sent (delivery and read receipts)."""
        account = self.accounts.get(sender)
        if account is None:
            return
        moved = []
        for msg_id in ids:
            record = account.sent.get(msg_id)
            if record is not None and record["to"] == user_wid(reader) and record["ack"] < ack:
                record["ack"] = ack
                moved.append(msg_id)
        if moved:
            self._push_ack(sender, user_wid(reader), moved, ack)

    def _push_ack(self, phone: str, chat: str, ids: list[str], ack: int) -> bool:
        live = False
        for device in self._linked_devices(phone):
            if device.conn is not None:
                device.conn.push({"t": "ack", "chat": chat, "ids": ids, "ack": ack})
                live = True
        return live

    def _received(self, phone: Any, msg_id: Any) -> tuple[str, dict[str, Any]]:
        """A message a contact sent to ``phone``, by the id /control/messages returned."""
        phone = check_phone(phone)
        if not isinstance(msg_id, str) or not msg_id:
            raise BadRequest("id must be a message id")
        match = MSG_KEY_RE.match(msg_id)
        if match is not None and match.group(1) == "true":
            raise BadRequest(f"{msg_id} was sent by {phone}, not by a contact")
        account = self.accounts.get(phone)
        record = account.received.get(bare_id(msg_id)) if account else None
        if record is None or (match is not None and record["from"] != user_wid(match.group(2))):
            raise NotFound(f"no contact sent message {msg_id} to phone {phone}")
        if not self._linked_devices(phone):
            raise NotFound(f"phone {phone} has no linked WhatsApp Web device")
        return phone, record

    @staticmethod
    def _key_of(record: dict[str, Any]) -> str:
        return f"false_{record['from']}_{record['id']}"

    def _push_update(self, phone: str, update: dict[str, Any]) -> bool:
        """Send a change to every linked page; pages away get it with their next welcome."""
        live = False
        for device in self._linked_devices(phone):
            if device.conn is not None:
                device.conn.push(update)
                live = True
            else:
                device.updates.append(update)
        return live

    def _push_live(self, phone: str, update: dict[str, Any]) -> bool:
        """Ephemeral news (presence, a ringing call): only pages connected now get it."""
        live = False
        for device in self._linked_devices(phone):
            if device.conn is not None:
                device.conn.push(update)
                live = True
        return live
