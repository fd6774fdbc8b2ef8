"""Worker runtime: DEALER socket to the daemon, heartbeats, event outbox, command dispatch."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import time
import uuid
from typing import Any

import zmq
import zmq.asyncio
from loguru import logger

from wamc.config import Settings
from wamc.states import ClientState
from wamc.wire import commands as C
from wamc.wire import events as W
from wamc.wire import frames as F
from workers.browser import Browser, BrowserError
from workers.page_events import Dropped, clean
from workers.wa_state import derive_state

BACKFILL_CHATS = 50
BACKFILL_MESSAGES = 50
# Bridge events forwarded to the daemon as they are (bridge name -> protocol event).
FORWARDED_EVENTS = {
    "revoke": W.REVOKE,
    "edit": W.EDIT,
    "reaction": W.REACTION,
    "unread": W.UNREAD,
    "presence": W.PRESENCE,
    "call": W.CALL,
}
# WhatsApp Web's signs that the profile's storage is unusable (wa-js backend events / reasons).
UNUSABLE_PROFILE = frozenset(
    {"storage_initialization_error", "web_fail_storage_initialization", "storage_quota_exceeded"}
)


class Worker:
    def __init__(self, settings: Settings, client_id: str, grace: float, secret: str) -> None:
        self.settings = settings
        self.client_id = client_id
        self.grace = grace
        self.log = logger.bind(client=client_id)
        self.ctx = zmq.asyncio.Context()
        self.sock = self.ctx.socket(zmq.DEALER)
        self.boot = uuid.uuid4().hex
        # One connection identity per worker process: the daemon binds what this worker proves
        # in its hello to this routing id, so a peer taking over the client's id gains nothing.
        route = f"{client_id}.{self.boot}"
        self.sock.setsockopt(zmq.IDENTITY, route.encode())
        # The daemon lets a connection in only with the secret it gave this worker at spawn.
        self.sock.setsockopt(zmq.PLAIN_USERNAME, route.encode())
        self.sock.setsockopt(zmq.PLAIN_PASSWORD, secret.encode())
        self.secret = secret
        self.sock.setsockopt(zmq.LINGER, 1000)
        self.state = ClientState.STARTING
        self.me: str | None = None
        self.qr: str | None = None
        self.was_connected = False
        self.next_dn = 1
        self.outbox: dict[int, bytes] = {}
        # The event sender walks the outbox in order; a welcome moves it back to what the
        # daemon has not stored (``resend_from``) by bumping ``send_round``.
        self.resend_from = 1
        self.send_round = 0
        self.send_wake = asyncio.Event()
        self.welcomed = False
        self.qr_codes = 0
        self.daemon_newest: dict[str, str] = {}
        self.recovering = False
        self.taking_over = False
        self.last_daemon_contact = time.monotonic()
        self.stopping = asyncio.Event()
        self.tasks: set[asyncio.Task[Any]] = set()
        self.browser = Browser(
            profile_dir=settings.client_dir(client_id) / "profile",
            url=settings.whatsapp_url,
            wajs_path=settings.resolved_wajs_path(),
            executable=settings.resolved_browser_path(),
            on_event=self.on_page_event,
        )

    # --- lifecycle -------------------------------------------------------------------------
    async def run(self) -> int:
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, self.stopping.set)
        self.sock.connect(self.settings.endpoint())
        self.send_hello()
        receiver = self.spawn(self.receive_loop())
        beat = self.spawn(self.heartbeat_loop())
        sender = self.spawn(self.event_sender())
        code = 0
        try:
            self.log.info("worker {} starting browser", os.getpid())
            await self.start_browser()
            self.log.info("browser started (pid {})", self.browser.pid)
            self.send_hello()
            await self.open_page()
            while not self.stopping.is_set():
                closed = self.spawn(self.browser.closed.wait())
                stop = self.spawn(self.stopping.wait())
                await asyncio.wait({closed, stop}, return_when=asyncio.FIRST_COMPLETED)
                closed.cancel()
                stop.cancel()
                if self.recovering:
                    await wait_until(lambda: not self.recovering or self.stopping.is_set())
                    continue
                if self.browser.closed.is_set() and not self.stopping.is_set():
                    self.log.error("browser closed unexpectedly")
                    code = 3
                    break
        except Exception as exc:
            reason = (
                first_line(str(exc))
                if isinstance(exc, BrowserError)
                else f"{type(exc).__name__}: {first_line(str(exc))}"
            )
            self.log.exception("worker failed: {}", reason)
            self.emit(W.STATE, {"state": "failed", "me": None, "error": reason})
            code = 2
        finally:
            self.log.info("worker stopping")
            await self.browser.close()
            await self.flush_outbox(timeout=2.0)
            receiver.cancel()
            beat.cancel()
            sender.cancel()
            self.sock.close(linger=500)
            self.ctx.term()
        return code

    async def start_browser(self) -> None:
        """Launch; if Chromium cannot open an existing profile, move it aside and retry once."""
        try:
            await self.browser.start()
        except BrowserError as exc:
            if not self.browser.has_profile():
                raise
            self.log.error("cannot launch with the existing profile ({}): moving it aside", exc)
            self.log.info("old profile kept at {}", self.browser.move_profile_aside())
            await self.browser.start()

    async def open_page(self) -> None:
        """Open WhatsApp Web, retrying with backoff while it cannot be reached."""
        delay = 1.0
        while not self.stopping.is_set():
            try:
                await self.browser.open()
                return
            except Exception as exc:
                if self.recovering:
                    return  # the profile recovery replaced the browser and opens the page itself
                if self.browser.closed.is_set():
                    raise
                reason = first_line(str(exc))
                self.log.warning(
                    "cannot open {}: {} (retrying in {:.0f}s)",
                    self.settings.whatsapp_url,
                    reason,
                    delay,
                )
                self.emit(W.STATE, {"state": str(self.state), "me": self.me, "error": reason})
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self.stopping.wait(), delay)
                delay = min(delay * 2, 30.0)

    def spawn(self, coro: Any) -> asyncio.Task[Any]:
        task = asyncio.ensure_future(coro)
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)
        return task

    async def flush_outbox(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while self.outbox and time.monotonic() < deadline:
            await asyncio.sleep(0.05)

    # --- daemon link -------------------------------------------------------------------------
    def send(self, frame: bytes) -> None:
        with contextlib.suppress(zmq.Again):
            self.sock.send(frame, zmq.NOBLOCK)

    def send_hello(self) -> None:
        hello = F.Hello(
            client=self.client_id,
            boot=self.boot,
            pid=os.getpid(),
            browser_pid=self.browser.pid,
            state=str(self.state),
            secret=self.secret,
        )
        self.send(F.encode(hello))

    async def heartbeat_loop(self) -> None:
        interval = self.settings.heartbeat_interval
        while True:
            await asyncio.sleep(interval)
            silent = time.monotonic() - self.last_daemon_contact
            if silent > self.grace:
                self.log.warning(
                    "daemon silent for {:.0f}s: closing the browser and exiting", silent
                )
                self.stopping.set()
                return
            if silent > self.settings.heartbeat_timeout and self.welcomed:
                self.welcomed = False
            if not self.welcomed:
                self.send_hello()
            else:
                beat = F.Heartbeat(state=str(self.state), browser_pid=self.browser.pid)
                self.send(F.encode(beat))

    async def receive_loop(self) -> None:
        while True:
            raw = await self.sock.recv()
            self.last_daemon_contact = time.monotonic()
            try:
                msg = F.decode_from_daemon(raw)
            except F.WireError as exc:
                self.log.warning("dropping frame: {}", exc)
                continue
            if isinstance(msg, F.Welcome):
                self.welcomed = True
                self.daemon_newest = dict(msg.newest)
                self.drop_acked(msg.acked)
                self.resend_from = msg.acked + 1  # replay what was never stored, in order
                self.send_round += 1
                self.send_wake.set()
            elif isinstance(msg, F.Ack):
                self.drop_acked(msg.dn)
            elif isinstance(msg, F.Who):
                self.welcomed = False
                self.send_hello()
            elif isinstance(msg, F.Request):
                self.spawn(self.handle_request(msg))

    def drop_acked(self, acked: int) -> None:
        for dn in [d for d in self.outbox if d <= acked]:
            del self.outbox[dn]

    def emit(self, name: str, data: dict[str, Any]) -> None:
        dn = self.next_dn
        self.next_dn += 1
        try:
            frame = F.encode(F.Event(dn=dn, name=name, data=F.raw(data)))
        except Exception as exc:  # not encodable: the daemon records it as a dead event
            frame = self.dropped(dn, name, f"not encodable: {type(exc).__name__}", 0)
        if len(frame) > F.FRAME_CAP:
            self.log.warning(
                "{} event of {} bytes is over the frame cap: dropped", name, len(frame)
            )
            frame = self.dropped(dn, name, "over the frame cap", len(frame))
        self.outbox[dn] = frame
        self.send_wake.set()

    async def event_sender(self) -> None:
        """Events leave in order and wait for room (ZeroMQ's queue towards a busy daemon) rather
        than being dropped: the daemon never sees a gap it must ask to be replayed."""
        cursor, round_ = 1, self.send_round
        while True:
            if round_ != self.send_round:
                cursor, round_ = self.resend_from, self.send_round
            if cursor >= self.next_dn:
                self.send_wake.clear()
                await self.send_wake.wait()
                continue
            frame = self.outbox.get(cursor)  # None: acknowledged meanwhile
            if frame is not None:
                await self.sock.send(frame)
            cursor += 1

    @staticmethod
    def dropped(dn: int, name: str, reason: str, size: int) -> bytes:
        data = {"name": name[:64], "reason": reason, "size": size}
        return F.encode(F.Event(dn=dn, name=W.DROPPED, data=F.raw(data)))

    def reply_ok(self, req_id: str, result: Any) -> None:
        try:
            frame = F.encode(F.Reply(id=req_id, ok=True, result=F.raw(result)))
        except Exception as exc:
            frame = F.encode(error_reply(req_id, "whatsapp_error", f"unencodable result: {exc}"))
        if len(frame) > F.FRAME_CAP:
            frame = F.encode(error_reply(req_id, "whatsapp_error", "result over the frame cap"))
        self.send(frame)

    def reply_error(self, req_id: str, code: str, message: str) -> None:
        self.send(F.encode(error_reply(req_id, code, message)))

    # --- page events -------------------------------------------------------------------------
    async def on_page_event(self, name: str, data: dict[str, Any]) -> None:
        """A page event, already checked and paced (workers/page_events.py). Never raises: a
        failure is logged and the event dropped, the worker goes on."""
        try:
            if isinstance(name, str) and isinstance(data, dict):
                self._on_page_event(name, data)
            else:
                self.log.warning("page event of the wrong shape dropped: {!r}", type(data))
        except Exception as exc:
            self.log.opt(exception=exc).error("page event {!r} failed: dropped", str(name)[:64])

    def _on_page_event(self, name: str, data: dict[str, Any]) -> None:
        if name == "snapshot":
            self.apply_snapshot(data)
        elif name == "message":
            self.emit(W.MESSAGE, {**data, "backfill": False})
        elif name == "ack":
            self.emit(W.ACK, data)
        elif name in FORWARDED_EVENTS:
            self.emit(FORWARDED_EVENTS[name], data)
        elif name == "logout_reason":
            reason = str(data.get("reason"))
            self.log.info("logged out by WhatsApp: {}", reason)
            if reason in UNUSABLE_PROFILE:
                self.spawn(self.recover_profile(reason))
        elif name == "backend_event":
            if data.get("event") in UNUSABLE_PROFILE:
                self.spawn(self.recover_profile(str(data["event"])))
        elif name == "page_crash":
            self.log.error("page crashed: reloading")
            self.spawn(self.browser.reload())
        elif name == "bridge_error":
            self.log.warning("bridge: {}", data.get("error"))

    def apply_snapshot(self, snap: dict[str, Any]) -> None:
        new = derive_state(snap, self.was_connected)
        qr = snap.get("qr")
        me = snap.get("me")
        if new == ClientState.QR:
            self.was_connected = False
        if qr and qr != self.qr and new == ClientState.QR:
            self.qr = qr
            self.qr_codes += 1
            self.emit(W.QR, {"qr": qr})
        if new != ClientState.QR:
            self.qr = None
        if snap.get("authenticated"):
            self.qr_codes = 0
        elif snap.get("idle") or self.qr_codes > self.settings.qr_max_codes:
            self.qr_timeout()
            return
        conflict = snap.get("mode") == "CONFLICT"
        if conflict and self.settings.takeover and not self.taking_over:
            self.log.warning("WhatsApp is open elsewhere: taking the session back")
            self.spawn(self.browser.call("takeover"))
        self.taking_over = conflict
        if new != self.state or (me and me != self.me):
            self.log.info("state {} -> {} ({})", self.state, new, snap.get("reason"))
            self.state = new
            self.me = me or self.me
            if new == ClientState.CONNECTED:
                self.was_connected = True
                self.spawn(self.backfill())
            self.emit(W.STATE, {"state": str(new), "me": self.me, "reason": snap.get("reason")})

    def qr_timeout(self) -> None:
        """Nobody scanned: stop showing codes; the daemon marks the client stopped."""
        if self.stopping.is_set():
            return
        self.log.warning("QR not scanned after {} codes: stopping (qr_timeout)", self.qr_codes)
        self.emit(W.STATE, {"state": "stopped", "me": None, "reason": "qr_timeout"})
        self.stopping.set()

    async def recover_profile(self, reason: str) -> None:
        """An unusable profile is moved aside (kept for inspection) and the browser restarted."""
        if self.recovering:
            return
        self.recovering = True
        self.log.error("profile unusable ({}): moving it aside and starting fresh", reason)
        self.emit(
            W.STATE, {"state": "starting", "me": None, "error": f"profile unusable: {reason}"}
        )
        try:
            await self.browser.close(keep_running=True)
            moved = self.browser.move_profile_aside()
            self.log.info("old profile kept at {}", moved)
            self.was_connected = False
            await self.browser.start()
            self.send_hello()
            await self.browser.open()
        except Exception as exc:
            self.log.error("profile recovery failed: {}: exiting for a clean restart", exc)
            self.stopping.set()
        finally:
            self.recovering = False

    async def backfill(self) -> None:
        """Deliver what WhatsApp Web holds that the daemon lacks: messages that arrived while no
        worker listened, or that a dead worker never delivered. Per chat, only what is newer
        than the newest message the daemon has stored (all recent ones for an unknown chat)."""
        try:
            # The page's own chats: a person's LID chat and phone chat both, under one chat id.
            chats = await self.browser.call("pageChats", BACKFILL_CHATS)
            offered = 0
            for chat in chats:
                page_id = chat.get("page_id") or chat["id"]
                msgs = await self.browser.call("messages", page_id, BACKFILL_MESSAGES, None)
                msgs.sort(key=lambda m: m.get("timestamp") or 0)
                for msg in missing_after(msgs, self.daemon_newest.get(chat["id"])):
                    with contextlib.suppress(Dropped):  # the page answers: checked like events
                        self.emit(W.MESSAGE, {**clean("message", msg)[1], "backfill": True})
                        offered += 1
            self.log.info("backfill: {} messages offered from {} chats", offered, len(chats))
        except Exception as exc:  # the page may reload under us; the next connect retries
            self.log.warning("backfill failed: {}", exc)

    # --- commands -------------------------------------------------------------------------------
    async def handle_request(self, msg: F.Request) -> None:
        req_id, cmd, args, timeout = msg.id, msg.cmd, msg.args, msg.timeout
        try:
            result = await asyncio.wait_for(self.execute(cmd, args, timeout), timeout)
        except TimeoutError:
            self.reply_error(req_id, "worker_timeout", f"{cmd} took over {timeout:.0f}s")
        except C.RemoteError as exc:
            self.reply_error(req_id, exc.code, exc.message)
        except Exception as exc:
            self.log.warning("{} failed: {}", cmd, exc)
            self.reply_error(req_id, "whatsapp_error", first_line(str(exc)))
        else:
            self.reply_ok(req_id, result)

    async def execute(self, cmd: Any, args: dict[str, Any], timeout: float) -> Any:
        if cmd == C.STATUS:
            return {
                "state": str(self.state),
                "me": self.me,
                "pid": os.getpid(),
                "browser_pid": self.browser.pid,
            }
        if cmd == C.QR:
            return {"qr": self.qr}
        if cmd == C.PAIRING_CODE:
            if self.state != ClientState.QR:
                raise C.RemoteError("no_qr", f"client is {self.state}: pairing needs the QR screen")
            code = await self.browser.call("pairingCode", args["phone"], timeout=timeout)
            return {"code": code}
        if cmd == C.STOP:
            self.stopping.set()
            return {"stopping": True}
        if self.state != ClientState.CONNECTED and cmd in (
            C.SEND_TEXT,
            C.CHATS,
            C.MESSAGES,
            C.LOGOUT,
        ):
            raise C.RemoteError("not_connected", f"client is {self.state}, not connected")
        if cmd == C.SEND_TEXT:
            return await self.browser.call("sendText", args["to"], args["text"], timeout=timeout)
        if cmd == C.CHATS:
            return await self.browser.call("chats", int(args.get("count", 100)), timeout=timeout)
        if cmd == C.MESSAGES:
            return await self.browser.call(
                "messages",
                args["chat_id"],
                int(args.get("count", 50)),
                args.get("before"),
                timeout=timeout,
            )
        if cmd == C.LOGOUT:
            try:
                await self.browser.call("logout", timeout=timeout)
            except Exception as exc:
                # WhatsApp Web reloads the page while logging out: the call's page goes away.
                if not page_went_away(exc):
                    raise
            return {"logged_out": True}
        raise C.RemoteError("unknown_command", f"unknown command {cmd!r}")


def error_reply(req_id: str, code: str, message: str) -> F.Reply:
    return F.Reply(id=req_id, ok=False, error=F.RemoteErrorInfo(code=code, message=message[:4096]))


def missing_after(messages: list[dict[str, Any]], newest_known: str | None) -> list[dict[str, Any]]:
    """The messages after ``newest_known`` (oldest first); all of them if it is not among them."""
    if newest_known is None:
        return messages
    for index, msg in enumerate(messages):
        if msg.get("id") == newest_known:
            return messages[index + 1 :]
    return messages


async def wait_until(predicate: Any, interval: float = 0.1) -> None:
    while not predicate():
        await asyncio.sleep(interval)


def page_went_away(exc: BaseException) -> bool:
    text = str(exc)
    return any(
        sign in text
        for sign in (
            "Execution context was destroyed",
            "Target page, context or browser has been closed",
            "navigation",
        )
    )


def first_line(text: str) -> str:
    return text.strip().splitlines()[0][:300] if text.strip() else "error"
