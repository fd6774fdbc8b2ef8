"""Worker runtime: the lifecycle (browser, page, profile recovery) and what page events mean.

The daemon link lives in workers/link.py, the wire commands in workers/commands.py."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
from typing import Any

from loguru import logger

from wamc.config import Settings
from wamc.states import ClientState
from wamc.wire import events as W
from wamc.wire import frames as F
from wamc.wire.launch import LaunchOptions
from workers import commands, fence
from workers.browser import Browser, BrowserError
from workers.commands import first_line
from workers.link import DaemonLink
from workers.page_events import Dropped, clean
from workers.wa_state import derive_state

BACKFILL_CHATS = 50
BACKFILL_MESSAGES = 50
# WhatsApp Web's signs that the profile's storage is unusable (wa-js backend events / reasons).
UNUSABLE_PROFILE = frozenset(
    {"storage_initialization_error", "web_fail_storage_initialization", "storage_quota_exceeded"}
)


class Worker:
    def __init__(
        self,
        settings: Settings,
        client_id: str,
        grace: float,
        secret: str,
        launch: LaunchOptions | None = None,
    ) -> None:
        self.settings = settings
        self.client_id = client_id
        self.grace = grace
        self.log = logger.bind(client=client_id)
        self.state = ClientState.STARTING
        self.me: str | None = None
        self.qr: str | None = None
        self.was_connected = False
        self.qr_codes = 0
        self.recovering = False
        self.taking_over = False
        self.stopping = asyncio.Event()
        self.tasks: set[asyncio.Task[Any]] = set()
        self.link = DaemonLink(
            settings,
            client_id,
            secret,
            grace,
            self.log,
            status=lambda: (str(self.state), self.browser.pid),
            on_request=self.on_request,
            stopping=self.stopping,
        )
        self.browser = Browser(
            profile_dir=settings.client_dir(client_id) / "profile",
            url=settings.whatsapp_url,
            wajs_path=settings.resolved_wajs_path(),
            executable=settings.resolved_browser_path(),
            on_event=self.on_page_event,
            proxy=launch.proxy if launch is not None else None,
        )
        self.browser.gate.rate = max(1.0, settings.page_event_rate)  # WAMC_PAGE_EVENT_RATE

    # --- lifecycle -------------------------------------------------------------------------
    async def run(self) -> int:
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, self.stopping.set)
        fence.watch(self.fenced)
        self.link.connect()
        receiver = self.spawn(self.link.receive_loop())
        beat = self.spawn(self.link.heartbeat_loop())
        sender = self.spawn(self.link.event_sender())
        code = 0
        try:
            self.log.info("worker {} starting browser", os.getpid())
            await self.start_browser()
            self.log.info("browser started (pid {})", self.browser.pid)
            self.link.send_hello()
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
            await self.link.flush_outbox(timeout=2.0)
            receiver.cancel()
            beat.cancel()
            sender.cancel()
            self.link.close()
        return code

    def fenced(self) -> None:
        """The host agent that started this worker is gone: stop (its client runs elsewhere)."""
        self.log.warning("host agent gone (its pipe closed): stopping the worker")
        self.stopping.set()

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
                opening = self.spawn(self.browser.open())
                stop = self.spawn(self.stopping.wait())
                await asyncio.wait({opening, stop}, return_when=asyncio.FIRST_COMPLETED)
                stop.cancel()
                if not opening.done():  # a stop during a slow load: the stop goes first
                    opening.cancel()
                    return
                opening.result()
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

    def emit(self, name: str, data: dict[str, Any]) -> None:
        self.link.emit(name, data)

    def on_request(self, msg: F.Request) -> None:
        self.spawn(commands.handle_request(self, msg))

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
        elif name in W.FORWARDED:  # forwarded as it is (wamc/wire/events.py)
            self.emit(W.FORWARDED[name], data)
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
            self.link.page_crashes += 1  # told with each heartbeat (the daemon's metrics)
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
            if new != self.state:
                self.log.info("state {} -> {} ({})", self.state, new, snap.get("reason"))
            else:  # the account became known: news for the daemon, but no transition
                self.log.debug("account known while {}", new)
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
            self.link.send_hello()
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
                for msg in missing_after(msgs, self.link.daemon_newest.get(chat["id"])):
                    with contextlib.suppress(Dropped):  # the page answers: checked like events
                        self.emit(W.MESSAGE, {**clean("message", msg)[1], "backfill": True})
                        offered += 1
            self.log.info("backfill: {} messages offered from {} chats", offered, len(chats))
        except Exception as exc:  # the page may reload under us; the next connect retries
            self.log.warning("backfill failed: {}", exc)


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
