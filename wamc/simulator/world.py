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
import secrets
from typing import Any

from .actions import Actions
from .groups import Groups
from .media import MediaStore
from .messaging import Messaging
from .model import (
    ACK_SENT,
    DEFAULT_LOGOUT_REASON,
    LID_WID_RE,
    LINK_CODE_ALPHABET,
    USER_WID_RE,
    Account,
    BadRequest,
    Conflict,
    Connection,
    Device,
    NotFound,
    check_phone,
    is_on_whatsapp,
    user_wid,
)

log = logging.getLogger("wamc.simulator")


class World(Messaging, Actions, Groups):
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
        self.init_groups()
        self.media = MediaStore()  # the media server's files (issue 11)

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

    def logout_from_page(self, conn: Connection) -> None:
        device = conn.device
        if device is None:
            return
        if device.phone is not None:
            self._unlink(device)
        conn.push({"t": "logout", "reason": DEFAULT_LOGOUT_REASON})

    def exists(self, phone: Any) -> dict[str, Any]:
        return {"exists": isinstance(phone, str) and is_on_whatsapp(phone)}

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
            "edit_window": self.edit_window,
            "directory": self.directory_of(device.phone),
        }
