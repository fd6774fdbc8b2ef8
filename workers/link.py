"""The worker's side of the daemon link: DEALER socket, hello/heartbeats, the event outbox.

Events get delivery numbers and stay in the outbox until the daemon acknowledges them; a welcome
says what the daemon has stored, and the sender replays the rest in order.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import time
import uuid
from collections.abc import Callable
from typing import Any

import zmq
import zmq.asyncio

from wamc.config import Settings
from wamc.wire import events as W
from wamc.wire import frames as F
from wamc.wire.curve import worker_keys
from workers.transfers import Transfers

# What the worker tells the daemon about itself in hellos and heartbeats: (state, browser pid).
StatusFn = Callable[[], tuple[str, int | None]]
RequestFn = Callable[[F.Request], None]


class DaemonLink:
    def __init__(
        self,
        settings: Settings,
        client_id: str,
        secret: str,
        grace: float,
        log: Any,
        status: StatusFn,
        on_request: RequestFn,
        stopping: asyncio.Event,
    ) -> None:
        self.settings = settings
        self.client_id = client_id
        self.grace = grace
        self.log = log
        self.status = status
        self.on_request = on_request
        self.stopping = stopping
        self.ctx = zmq.asyncio.Context()
        self.sock = self.ctx.socket(zmq.DEALER)
        self.boot = uuid.uuid4().hex
        # One connection identity per worker process: the daemon binds what this worker proves
        # in its hello to this routing id, so a peer taking over the client's id gains nothing.
        route = f"{client_id}.{self.boot}"
        self.sock.setsockopt(zmq.IDENTITY, route.encode())
        # The daemon lets a connection in only with the secret it gave this worker at spawn:
        # over TCP as the Curve key derived from it (encrypted), over ipc in PLAIN.
        if settings.zmq_server_key:
            public, private = worker_keys(secret)
            self.sock.setsockopt(zmq.CURVE_SERVERKEY, settings.zmq_server_key.encode())
            self.sock.setsockopt(zmq.CURVE_PUBLICKEY, public)
            self.sock.setsockopt(zmq.CURVE_SECRETKEY, private)
        else:
            self.sock.setsockopt(zmq.PLAIN_USERNAME, route.encode())
            self.sock.setsockopt(zmq.PLAIN_PASSWORD, secret.encode())
        self.secret = secret
        self.sock.setsockopt(zmq.LINGER, 1000)
        self.next_dn = 1
        self.outbox: dict[int, bytes] = {}
        # The event sender walks the outbox in order; a welcome moves it back to what the
        # daemon has not stored (``resend_from``) by bumping ``send_round``.
        self.resend_from = 1
        self.send_round = 0
        self.send_wake = asyncio.Event()
        self.welcomed = False
        self.daemon_newest: dict[str, str] = {}
        self.last_daemon_contact = time.monotonic()
        self.page_crashes = 0  # renderer crashes since this worker started (in each heartbeat)
        self.transfers = Transfers(self.send_waiting, log)  # media bytes (workers/transfers.py)

    def connect(self) -> None:
        self.sock.connect(self.settings.endpoint())
        self.send_hello()

    def close(self) -> None:
        self.sock.close(linger=500)
        self.ctx.term()

    async def flush_outbox(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while self.outbox and time.monotonic() < deadline:
            await asyncio.sleep(0.05)

    def send(self, frame: bytes) -> None:
        with contextlib.suppress(zmq.Again):
            self.sock.send(frame, zmq.NOBLOCK)

    async def send_waiting(self, frame: bytes) -> None:
        """A frame that waits for room in the socket rather than being dropped (media chunks
        and their acks: the transfer's window bounds how many wait)."""
        await self.sock.send(frame)

    def send_hello(self) -> None:
        state, browser_pid = self.status()
        hello = F.Hello(
            client=self.client_id,
            boot=self.boot,
            pid=os.getpid(),
            browser_pid=browser_pid,
            state=state,
            secret=self.secret,
            epoch=spawn_epoch(),
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
                state, browser_pid = self.status()
                beat = F.Heartbeat(
                    state=state, browser_pid=browser_pid, page_crashes=self.page_crashes
                )
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
                self.on_request(msg)
            elif isinstance(msg, (F.Chunk, F.ChunkAck)):
                await self.transfers.on_frame(msg)

    def drop_acked(self, acked: int) -> None:
        for dn in [d for d in self.outbox if d <= acked]:
            del self.outbox[dn]

    def emit(self, name: str, data: dict[str, Any]) -> None:
        dn = self.next_dn
        self.next_dn += 1
        try:
            frame = F.encode(F.Event(dn=dn, name=name, data=F.raw(data)))
        except Exception as exc:  # not encodable: the daemon records it as a dead event
            frame = dropped(dn, name, f"not encodable: {type(exc).__name__}", 0)
        if len(frame) > F.FRAME_CAP:
            self.log.warning(
                "{} event of {} bytes is over the frame cap: dropped", name, len(frame)
            )
            frame = dropped(dn, name, "over the frame cap", len(frame))
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


def dropped(dn: int, name: str, reason: str, size: int) -> bytes:
    data = {"name": name[:64], "reason": reason, "size": size}
    return F.encode(F.Event(dn=dn, name=W.DROPPED, data=F.raw(data)))


def error_reply(req_id: str, code: str, message: str) -> F.Reply:
    return F.Reply(id=req_id, ok=False, error=F.RemoteErrorInfo(code=code, message=message[:4096]))


def spawn_epoch() -> int | None:
    """The placement epoch a host agent started this worker for (``WAMC_EPOCH``), else None."""
    raw = os.environ.get("WAMC_EPOCH", "")
    return int(raw) if raw.isdigit() else None
