"""The simulated phones and WhatsApp servers: accounts, linked devices, QR codes, message routing.

Everything here runs on one asyncio loop and mutates plain in-memory state synchronously; the
transport (``server.py``) hands in page connections and turns the ``SimError`` subclasses into
HTTP answers. A *device* is one browser profile's WhatsApp Web install (its id is made by the
page and kept in the profile's IndexedDB); an *account* is a simulated phone number.
"""

from __future__ import annotations

import asyncio
import base64
import logging
import re
import secrets
import time
from typing import Any

from .model import (
    ACK_FAILED,
    ACK_READ,
    ACK_RECEIVED,
    ACK_SENT,
    DEFAULT_LOGOUT_REASON,
    LID_WID_RE,
    LINK_CODE_ALPHABET,
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

log = logging.getLogger("wamc.simulator")
# A serialized 1:1 message key: '<fromMe>_<phone>@c.us_<id>'.
MSG_KEY_RE = re.compile(r"^(true|false)_(\d{5,20})@c\.us_([0-9A-Za-z]+)$")


class World:
    def __init__(self, qr_first_ttl: float = 60.0, qr_ttl: float = 20.0, max_qr_codes: int = 6):
        self.qr_first_ttl = qr_first_ttl
        self.qr_ttl = qr_ttl
        self.max_qr_codes = max_qr_codes
        self.devices: dict[str, Device] = {}
        self.accounts: dict[str, Account] = {}
        self.lids: dict[str, str] = {}  # LID -> phone, for every LID handed out
        self._unfrozen = asyncio.Event()
        self._unfrozen.set()
        self._page_emits: dict[str, asyncio.Future[Any]] = {}

    # ----------------------------------------------------------------- page side
    def hello(self, conn: Connection, msg: dict[str, Any]) -> None:
        device_id, keys, phone = msg.get("device_id"), msg.get("keys"), msg.get("phone")
        names = ("static", "identity", "secret")
        if not isinstance(device_id, str) or not device_id or not isinstance(keys, dict):
            raise BadRequest("hello needs device_id and keys")
        if not all(isinstance(keys.get(k), str) and keys[k] for k in names):
            raise BadRequest("hello keys need static, identity and secret")
        if phone is not None:
            phone = check_phone(phone)
        device = self.devices.get(device_id)
        if device is None:
            device = self.devices[device_id] = Device(device_id, {})
        device.keys = {k: keys[k] for k in names}
        if device.conn is not None and device.conn is not conn:
            device.conn.push({"t": "conflict"})  # the same profile opened twice: newest wins
        self._detach(device)
        conn.device = device
        device.conn = conn
        if phone is None:
            if device.phone is not None:  # the page logged out while we could not hear it
                self._unlink(device)
            device.unlinked_reason = None
            self.start_qr(device)
            return
        if device.unlinked_reason is not None or (device.phone not in (None, phone)):
            reason = device.unlinked_reason or DEFAULT_LOGOUT_REASON
            device.unlinked_reason = None
            if device.phone is not None:
                self._unlink(device)
            conn.push({"t": "logout", "reason": reason})
            return
        # A login we never saw (e.g. the simulator restarted): trust the profile, as the real
        # servers trust a device's stored credentials.
        self._link(device, phone)
        conn.push(self._welcome(device))

    def disconnect(self, conn: Connection) -> None:
        device = conn.device
        if device is not None and device.conn is conn:
            self._detach(device)

    def takeover(self, conn: Connection) -> None:
        device = conn.device
        if device is None or device.phone is None:
            raise Conflict("not logged in")
        if device.conn is not None and device.conn is not conn:
            device.conn.push({"t": "conflict"})
        device.conn = conn
        conn.push(self._welcome(device))

    def report_state(self, conn: Connection, mode: Any) -> None:
        device = conn.device
        if device is not None and device.conn is conn and isinstance(mode, str):
            device.stream_mode = mode

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

    def send(self, conn: Connection, msg: dict[str, Any]) -> None:
        """A message typed on the page: record it, answer with ack SENT, route it."""
        device = conn.device
        msg_id, to = str(msg.get("id") or ""), msg.get("to")
        if device is None or device.phone is None or device.conn is not conn or not msg_id:
            return  # a page in conflict keeps it (ack CLOCK) and re-sends after its takeover
        match = USER_WID_RE.match(to) if isinstance(to, str) else None
        if match is None or not is_on_whatsapp(match.group(1)):
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
            }
            account.sent[msg_id] = record
            recipient = match.group(1)
            if self._linked_devices(recipient):
                self._deliver(recipient, device.phone, record["body"], record["type"], msg_id)
        conn.push({"t": "ack", "chat": to, "ids": [msg_id], "ack": record["ack"]})

    def logout_from_page(self, conn: Connection) -> None:
        device = conn.device
        if device is None:
            return
        if device.phone is not None:
            self._unlink(device)
        conn.push({"t": "logout", "reason": DEFAULT_LOGOUT_REASON})

    def exists(self, phone: Any) -> dict[str, Any]:
        return {"exists": isinstance(phone, str) and is_on_whatsapp(phone)}

    def lid_for(self, phone: str) -> str:
        lid = lid_of(phone)
        self.lids[lid] = phone
        return lid

    def pn_lid(self, wid: Any) -> dict[str, str | None]:
        """The server's LID <-> phone number directory: ``{lid, phone}`` wids (None: unknown)."""
        if not isinstance(wid, str):
            raise BadRequest("id must be a <phone>@c.us or <lid>@lid wid")
        if match := USER_WID_RE.match(wid):
            phone = match.group(1)
            lid = self.lid_for(phone) if is_on_whatsapp(phone) else None
            return {"lid": f"{lid}@lid" if lid else None, "phone": wid}
        if match := LID_WID_RE.match(wid):
            phone = self.lids.get(match.group(1))
            return {"lid": wid, "phone": user_wid(phone) if phone else None}
        raise BadRequest("id must be a <phone>@c.us or <lid>@lid wid")

    def request_link_code(self, conn: Connection, phone: Any) -> dict[str, Any]:
        device = conn.device
        phone = check_phone(phone)
        if device is None or device.phone is not None:
            raise Conflict("already authenticated")
        code = "".join(secrets.choice(LINK_CODE_ALPHABET) for _ in range(8))
        device.link_code = (code, phone)
        return {"code": code}

    def refresh_qr(self, conn: Connection) -> None:
        device = conn.device
        if device is not None and device.conn is conn and device.phone is None:
            self.start_qr(device)

    # ----------------------------------------------------------------- QR codes
    def start_qr(self, device: Device) -> None:
        self._stop_qr(device)
        device.rotation = asyncio.get_running_loop().create_task(self._rotate(device))

    async def _rotate(self, device: Device) -> None:
        for n in range(self.max_qr_codes):
            if device.conn is None:  # detached pages have their rotation cancelled; be safe
                break
            ref = "2@" + base64.b64encode(secrets.token_bytes(48)).decode()
            k = device.keys
            device.qr = f"{ref},{k['static']},{k['identity']},{k['secret']}"
            device.conn.push({"t": "qr", "ref": ref, "full_code": device.qr})
            ttl = self.qr_first_ttl if n == 0 else self.qr_ttl
            while True:  # a frozen rotation gives the current code a fresh ttl when thawed
                await asyncio.sleep(ttl)
                if self._unfrozen.is_set():
                    break
                await self._unfrozen.wait()
        device.qr = None
        device.rotation = None
        if device.conn is not None:
            device.conn.push({"t": "qr_idle"})

    def _stop_qr(self, device: Device) -> None:
        if device.rotation is not None and device.rotation is not asyncio.current_task():
            device.rotation.cancel()
        device.rotation = None
        device.qr = None
        device.link_code = None

    def set_qr_frozen(self, frozen: bool) -> None:
        if frozen:
            self._unfrozen.clear()
        else:
            self._unfrozen.set()

    @property
    def qr_frozen(self) -> bool:
        return not self._unfrozen.is_set()

    # ----------------------------------------------------------------- phone side (control API)
    def describe(self) -> list[dict[str, Any]]:
        return [d.describe() for d in self.devices.values()]

    def scan(self, qr: Any, phone: Any) -> Device:
        phone = check_phone(phone)
        if not isinstance(qr, str) or not qr.strip():
            raise BadRequest("qr must be the QR payload string")
        payload = qr.strip()
        for device in self.devices.values():
            if device.conn is not None and device.phone is None and device.qr == payload:
                return self._pair(device, phone)
        raise NotFound("no connected page shows this QR code (expired, or already scanned?)")

    def enter_link_code(self, code: Any) -> Device:
        if not isinstance(code, str):
            raise BadRequest("code must be a string")
        wanted = code.replace("-", "").strip().upper()
        for device in self.devices.values():
            if device.conn is not None and device.link_code and device.link_code[0] == wanted:
                return self._pair(device, device.link_code[1])
        raise NotFound("no connected page waits for this link code")

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

    def logout(self, phone: Any, reason: Any = None) -> list[str]:
        phone = check_phone(phone)
        reason = reason if isinstance(reason, str) and reason else DEFAULT_LOGOUT_REASON
        devices = self._linked_devices(phone)
        if not devices:
            raise NotFound(f"phone {phone} has no linked WhatsApp Web device")
        log.info("simulator: phone %s logs out %d device(s) (%s)", phone, len(devices), reason)
        for device in devices:
            self._unlink(device)
            # Kept until the page says hello without a login, in case it dies before it hears.
            device.unlinked_reason = reason
            if device.conn is not None:
                device.conn.push({"t": "logout", "reason": reason})
        return [d.device_id for d in devices]

    def conflict(self, phone: Any) -> list[str]:
        phone = check_phone(phone)
        devices = self._linked_devices(phone)
        if not devices:
            raise NotFound(f"phone {phone} has no linked WhatsApp Web device")
        hit = [d for d in devices if d.conn is not None]
        if not hit:
            raise Conflict(f"no page of phone {phone} is connected")
        for device in hit:
            conn = device.conn
            device.conn = None  # the page keeps its socket; it can take the session back
            device.stream_mode = "CONFLICT"
            assert conn is not None
            conn.push({"t": "conflict"})
        return [d.device_id for d in hit]

    async def page_emit(self, phone: Any, spec: dict[str, Any], timeout: float) -> list[Any]:
        """The connected pages of ``phone`` emit what ``spec`` says; their reports, in order."""
        phone = check_phone(phone)
        events, presets = spec.get("events", []), spec.get("presets", [])
        if not isinstance(events, list) or not all(
            isinstance(e, dict) and isinstance(e.get("name"), str) for e in events
        ):
            raise BadRequest("events must be a list of {name, data}")
        if not isinstance(presets, list) or not all(isinstance(p, str) for p in presets):
            raise BadRequest("presets must be a list of names")
        if spec.get("via", "wpp") not in ("wpp", "binding"):
            raise BadRequest("via must be 'wpp' or 'binding'")
        pages = [d.conn for d in self._linked_devices(phone) if d.conn is not None]
        if not pages:
            raise NotFound(f"no page of phone {phone} is connected")
        page_spec = {k: spec.get(k) for k in ("events", "presets", "via", "count", "frame_message")}
        waiting = []
        loop = asyncio.get_running_loop()
        for conn in pages:
            nonce = secrets.token_hex(8)
            self._page_emits[nonce] = future = loop.create_future()
            waiting.append((nonce, future))
            conn.push({"t": "page_emit", "nonce": nonce, "spec": page_spec})
        try:
            done = await asyncio.wait_for(asyncio.gather(*(f for _, f in waiting)), timeout)
        except TimeoutError as exc:
            raise Conflict("a page did not report within the timeout") from exc
        finally:
            for nonce, _ in waiting:
                self._page_emits.pop(nonce, None)
        return list(done)

    def page_emit_done(self, nonce: Any, report: Any) -> None:
        future = self._page_emits.get(nonce) if isinstance(nonce, str) else None
        if future is not None and not future.done():
            future.set_result(report)

    def close(self) -> None:
        for device in self.devices.values():
            self._stop_qr(device)

    # ----------------------------------------------------------------- internals
    def _pair(self, device: Device, phone: str) -> Device:
        log.info("simulator: device %s linked to phone %s", device.device_id, phone)
        self._link(device, phone)
        assert device.conn is not None
        device.conn.push({"t": "paired", "phone": phone})
        device.conn.push(self._welcome(device))
        return device

    def _link(self, device: Device, phone: str) -> None:
        self._stop_qr(device)
        device.phone = phone
        device.unlinked_reason = None
        self.accounts.setdefault(phone, Account(phone)).devices.add(device.device_id)

    def _unlink(self, device: Device) -> None:
        if device.phone is not None and device.phone in self.accounts:
            self.accounts[device.phone].devices.discard(device.device_id)
        device.phone = None
        device.outbox.clear()
        device.updates.clear()

    def _detach(self, device: Device) -> None:
        self._stop_qr(device)
        device.conn = None

    def _linked_devices(self, phone: str) -> list[Device]:
        account = self.accounts.get(phone)
        return [self.devices[d] for d in sorted(account.devices)] if account else []

    def _welcome(self, device: Device) -> dict[str, Any]:
        """What a (re)attached page syncs silently: messages it missed, acks of what it sent."""
        assert device.phone is not None
        account = self.accounts[device.phone]
        acks = [
            {"chat": r["to"], "id": i, "ack": r["ack"]}
            for i, r in account.sent.items()
            if r["ack"] != ACK_SENT
        ]
        updates, device.updates = device.updates, []
        return {
            "t": "welcome",
            "phone": device.phone,
            "history": list(device.outbox.values()),
            "acks": acks,
            "updates": updates,
        }

    def _deliver(
        self,
        to: str,
        sender: str,
        body: str,
        type_: str,
        msg_id: str,
        t: int | None = None,
        from_wid: str | None = None,
    ) -> bool:
        msg = {
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
