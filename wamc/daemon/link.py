"""ZeroMQ ROUTER side of the worker link: typed frames in, requests out with ids and timeouts.

Every frame is untrusted: it is decoded and validated (wamc/wire/frames.py) before anyone acts
on it; a bad one is counted, logged at most every few seconds per sender, and dropped. Nothing a
worker sends can end the receive loop, and a loop that ends anyway is restarted and reported.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import time
import uuid
from collections import OrderedDict
from pathlib import Path
from typing import Any, Protocol, cast

import zmq
import zmq.asyncio
from loguru import logger

from wamc.daemon.transfers import Transfers
from wamc.log import escape
from wamc.wire import frames as F
from wamc.wire.commands import RemoteError
from wamc.wire.curve import public_from_handshake

# ZeroMQ itself drops (and disconnects) anything larger: memory stays bounded for any peer.
HARD_CAP = 2 * F.FRAME_CAP
RECEIVE_QUEUE = 32  # frames queued per connection before ZeroMQ stops reading from it
BAD_FRAME_LOG_INTERVAL = 5.0
YIELD_AFTER = 0.005  # seconds of frame handling before the event loop gets a turn
ZAP_ENDPOINT = "inproc://zeromq.zap.01"  # where libzmq asks who may connect (RFC 27)
ZAP_DOMAIN = b"wamc"


class FrameSink(Protocol):
    """Who the link reports connections to (wamc/daemon/inbox.py)."""

    async def on_frame(self, route: str, frame: F.Hello | F.Heartbeat) -> None: ...

    def on_bad_frame(self, route: str, reason: str, oversize: bool) -> None: ...

    def authenticate(self, route: str, secret: str) -> bool:
        """May the connection ``route`` in, with ``secret``? (PLAIN, over ipc)"""
        ...

    def authenticate_key(self, public_key: str) -> str | None:
        """The client whose current worker holds this Curve public key, or None (TCP)."""
        ...


class EventSink(Protocol):
    """Who the link hands event frames to (wamc/daemon/ingest.py)."""

    async def on_event(self, route: str, ev: F.Event) -> None: ...


class Routed(Protocol):
    """Anything with a proven worker connection (a client record)."""

    route: str | None


def printable(raw: bytes) -> str:
    """A peer's routing id as text that cannot forge a log line."""
    return escape(raw.decode(errors="replace"))


class Transport:
    def __init__(self, endpoint: str, server_keys: tuple[bytes, bytes] | None = None) -> None:
        """``server_keys``: the daemon's Curve (public, secret) pair: encrypt (TCP endpoints)."""
        self.endpoint = endpoint
        self.sink: FrameSink | None = None  # set by ``start``: nothing is read before
        self.events: EventSink | None = None
        self.ctx = zmq.asyncio.Context()
        self.zap = self.ctx.socket(zmq.REP)
        self.zap.setsockopt(zmq.LINGER, 0)
        self.sock = self.ctx.socket(zmq.ROUTER)
        # Every connection authenticates before a single frame of it is queued: strangers cost
        # nothing. Over ipc, PLAIN: its routing id and the secret its worker got at spawn. Over
        # TCP, Curve (encrypted): the public key derived from that secret (wamc/wire/curve.py).
        self.curve_public: bytes | None = None
        if server_keys is not None:
            self.curve_public = server_keys[0]
            self.sock.setsockopt(zmq.CURVE_SERVER, 1)
            self.sock.setsockopt(zmq.CURVE_SECRETKEY, server_keys[1])
        else:
            self.sock.setsockopt(zmq.PLAIN_SERVER, 1)
        self.sock.setsockopt(zmq.ZAP_DOMAIN, ZAP_DOMAIN)
        self.sock.setsockopt(zmq.RCVHWM, RECEIVE_QUEUE)
        # Routing ids are ``<client>.<boot>``, one per worker process: no two peers share one,
        # and a second connection with an id in use is refused (no handover).
        # Unknown identities raise instead of silently dropping: we learn the worker is gone.
        self.sock.setsockopt(zmq.ROUTER_MANDATORY, 1)
        self.sock.setsockopt(zmq.LINGER, 0)
        self.sock.setsockopt(zmq.MAXMSGSIZE, HARD_CAP)
        self.pending: dict[str, tuple[str, asyncio.Future[Any]]] = {}
        self.transfers = Transfers(self.send_encoded)  # media bytes (wamc/daemon/transfers.py)
        self.bad_frames = 0
        self.refused = 0  # connections refused at the handshake
        self._zap_task: asyncio.Task[None] | None = None
        self._bad_log: OrderedDict[str, tuple[float, int]] = OrderedDict()
        self._task: asyncio.Task[None] | None = None
        self._closing = False

    async def start(self, sink: FrameSink, events: EventSink) -> None:
        self.sink, self.events = sink, events
        self.zap.bind(ZAP_ENDPOINT)
        self._zap_task = asyncio.create_task(self._zap_loop(), name="worker-link-auth")
        if self.endpoint.startswith("ipc://"):
            path = Path(self.endpoint[len("ipc://") :])
            path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
            with contextlib.suppress(FileNotFoundError):
                path.unlink()  # a stale socket from a previous daemon
            old_umask = os.umask(0o077)
            try:
                self.sock.bind(self.endpoint)
            finally:
                os.umask(old_umask)
        else:
            self.sock.bind(self.endpoint)
        self._start_loop()

    def _start_loop(self) -> None:
        self._task = asyncio.create_task(self._receive_loop(), name="worker-link")
        self._task.add_done_callback(self._loop_ended)

    def _loop_ended(self, task: asyncio.Task[None]) -> None:
        if self._closing or task.cancelled():
            return
        logger.opt(exception=task.exception()).error("worker link loop ended: restarting it")
        asyncio.get_running_loop().call_later(0.1, self._start_loop)

    async def close(self) -> None:
        self._closing = True
        for task in (self._task, self._zap_task):
            if task:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
        for _, fut in self.pending.values():
            if not fut.done():
                fut.set_exception(RemoteError("worker_unavailable", "daemon shutting down"))
        self.sock.close(linger=0)
        self.zap.close(linger=0)
        self.ctx.term()

    async def _zap_loop(self) -> None:
        while True:
            request = await self.zap.recv_multipart()
            try:
                reply = self._zap_reply(request)
            except Exception:  # a bug of ours: refuse this one, keep answering
                logger.exception("worker authentication failed")
                reply = [
                    b"1.0",
                    request[1] if len(request) > 1 else b"",
                    b"500",
                    b"error",
                    b"",
                    b"",
                ]
            await self.zap.send_multipart(reply)

    def _zap_reply(self, request: list[bytes]) -> list[bytes]:
        """Answer libzmq's question "may this peer connect?" (ZAP, RFC 27)."""
        if len(request) < 6:
            return [b"1.0", request[1] if len(request) > 1 else b"", b"400", b"bad", b"", b""]
        version, request_id, _domain, address, _identity, mechanism, *credentials = request
        user = self._admitted(mechanism, credentials)
        if user is not None:
            return [version, request_id, b"200", b"OK", user.encode(), b""]
        self.refused += 1
        who = printable(credentials[0][:200]) if mechanism == b"PLAIN" and credentials else ""
        who = who or printable(address[:64]) or "?"
        self._log_bad(who, "connection refused: not a worker this daemon started")
        return [version, request_id, b"400", b"refused", b"", b""]

    def _admitted(self, mechanism: bytes, credentials: list[bytes]) -> str | None:
        """The user id of an admitted connection: its route (PLAIN) or client id (CURVE)."""
        if self.sink is None or len(credentials) < 1:
            return None
        if mechanism == b"PLAIN" and self.curve_public is None and len(credentials) == 2:
            route = printable(credentials[0][:200])
            ok = self.sink.authenticate(route, credentials[1].decode("latin-1"))
            return route if ok else None
        if mechanism == b"CURVE" and self.curve_public is not None:
            key = public_from_handshake(credentials[0])
            return self.sink.authenticate_key(key) if key is not None else None
        return None

    def send_to(self, peer: Routed, frame: F.Frame) -> bool:
        """To a client's proven worker connection; False when there is none."""
        return peer.route is not None and self.send(peer.route, frame)

    def send(self, route: str, frame: F.Frame) -> bool:
        return self.send_encoded(route, F.encode(frame))

    def send_encoded(self, route: str, frame: bytes | bytearray) -> bool:
        """An encoded frame, never waiting: False when the socket cannot take it now. (ZeroMQ
        copies it: the caller may reuse the buffer.)"""
        try:
            sent = cast(
                "asyncio.Future[Any]",
                self.sock.send_multipart([route.encode(), frame], zmq.NOBLOCK),
            )
        except zmq.ZMQError:  # EHOSTUNREACH (not connected) or EAGAIN (queue full)
            return False
        # pyzmq tries a NOBLOCK send at once and settles the Future with its outcome; read it so
        # an unreachable worker (ROUTER_MANDATORY) is reported here, not as an unawaited error.
        if sent.done():
            return sent.exception() is None
        sent.add_done_callback(lambda f: f.cancelled() or f.exception())
        return True

    async def request(self, route: str, cmd: str, args: dict[str, Any], timeout: float) -> Any:
        """Send a command to the worker at ``route``; its encoded result (only that worker's
        reply counts)."""
        req_id = uuid.uuid4().hex
        fut: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self.pending[req_id] = (route, fut)
        try:
            frame = F.Request(id=req_id, cmd=cmd, args=args, timeout=timeout)
            if not self.send(route, frame):
                raise RemoteError("worker_unavailable", "the client's worker is not connected")
            try:
                return await asyncio.wait_for(fut, timeout + 2.0)
            except TimeoutError:
                raise RemoteError(
                    "worker_timeout", f"no answer to {cmd} within {timeout:.0f}s"
                ) from None
        finally:
            self.pending.pop(req_id, None)

    async def _receive_loop(self) -> None:
        turn = time.monotonic()
        while True:
            parts = await self.sock.recv_multipart(copy=False)
            try:
                await self._handle(parts)
            except Exception:  # a bug of ours: report it, never stop reading for everyone
                logger.exception("error handling a worker frame")
            if time.monotonic() - turn > YIELD_AFTER:  # queued frames come back without a turn
                await asyncio.sleep(0)
                turn = time.monotonic()

    async def _handle(self, parts: list[zmq.Frame]) -> None:
        route = printable(parts[0].bytes[:200]) if parts else "?"
        if len(parts) != 2:
            self._bad(route, f"{len(parts)}-part message", oversize=False)
            return
        user = parts[1].get("User-Id")  # PLAIN: the route itself; CURVE: the client's id
        if user != route and user != route.split(".", 1)[0]:  # another worker's: not decoded
            self._bad(route, "routing id differs from the authenticated one", oversize=False)
            return
        raw = parts[1].bytes
        try:
            frame = F.decode_from_worker(raw)
        except F.WireError as exc:
            self._bad(route, str(exc), oversize=len(raw) > F.FRAME_CAP)
            return
        if isinstance(frame, F.Reply):
            self._settle(route, frame)
        elif isinstance(frame, F.Event):
            if self.events is not None:
                await self.events.on_event(route, frame)
        elif isinstance(frame, (F.Chunk, F.ChunkAck)):
            reason = self.transfers.on_frame(route, frame)
            if reason is not None:
                self._bad(route, reason, oversize=False)
        elif self.sink is not None:
            await self.sink.on_frame(route, frame)

    def _settle(self, route: str, reply: F.Reply) -> None:
        sent_to, fut = self.pending.get(reply.id, (None, None))
        if fut is None or fut.done() or sent_to != route:
            return
        if reply.ok:
            fut.set_result(reply.result)
        else:
            err = reply.error or F.RemoteErrorInfo()
            fut.set_exception(RemoteError(err.code, err.message))

    def _bad(self, identity: str, reason: str, oversize: bool) -> None:
        """Count, tell the owner, and log at most every few seconds per sender."""
        self.bad_frames += 1
        if self.sink is not None:
            self.sink.on_bad_frame(identity, reason, oversize)
        self._log_bad(identity, f"bad frame from worker dropped: {reason}")

    def _log_bad(self, identity: str, what: str) -> None:
        now = time.monotonic()
        last, suppressed = self._bad_log.pop(identity, (0.0, 0))
        if now - last >= BAD_FRAME_LOG_INTERVAL:
            more = f" ({suppressed} more since the last report)" if suppressed else ""
            logger.bind(client=identity).warning("{}{}", what, more)
            self._bad_log[identity] = (now, 0)
        else:
            self._bad_log[identity] = (last, suppressed + 1)
        while len(self._bad_log) > 1024:
            self._bad_log.popitem(last=False)
