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
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import zmq
import zmq.asyncio
from loguru import logger

from wamc.wire import frames as F
from wamc.wire.commands import RemoteError

FrameHandler = Callable[[str, F.WorkerFrame], Awaitable[None]]
BadFrameHandler = Callable[[str, str, bool], None]  # client id, reason, over the size cap
# ZeroMQ itself drops (and disconnects) anything larger: memory stays bounded for any peer.
HARD_CAP = 4 * F.FRAME_CAP
BAD_FRAME_LOG_INTERVAL = 5.0
YIELD_EVERY = 64  # frames handled before giving the event loop a turn (a flood cannot starve it)


def printable(raw: bytes) -> str:
    """A peer's routing id as text that cannot forge a log line."""
    text = raw.decode(errors="replace")
    return text if text.isprintable() else text.encode("unicode_escape").decode()


class Transport:
    def __init__(
        self, endpoint: str, on_frame: FrameHandler, on_bad_frame: BadFrameHandler | None = None
    ) -> None:
        self.endpoint = endpoint
        self.on_frame = on_frame
        self.on_bad_frame = on_bad_frame
        self.ctx = zmq.asyncio.Context()
        self.sock = self.ctx.socket(zmq.ROUTER)
        # Routing ids are ``<client>.<boot>``, one per worker process: no two peers share one,
        # and a second connection with an id in use is refused (no handover).
        # Unknown identities raise instead of silently dropping: we learn the worker is gone.
        self.sock.setsockopt(zmq.ROUTER_MANDATORY, 1)
        self.sock.setsockopt(zmq.LINGER, 0)
        self.sock.setsockopt(zmq.MAXMSGSIZE, HARD_CAP)
        self.pending: dict[str, asyncio.Future[Any]] = {}
        self.bad_frames = 0
        self._bad_log: OrderedDict[str, tuple[float, int]] = OrderedDict()
        self._task: asyncio.Task[None] | None = None
        self._closing = False

    async def start(self) -> None:
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
        if self._task:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        for fut in self.pending.values():
            if not fut.done():
                fut.set_exception(RemoteError("worker_unavailable", "daemon shutting down"))
        self.sock.close(linger=0)
        self.ctx.term()

    def send(self, client_id: str, frame: F.Frame) -> bool:
        try:
            sent = self.sock.send_multipart([client_id.encode(), F.encode(frame)], zmq.NOBLOCK)
        except zmq.ZMQError:  # EHOSTUNREACH (not connected) or EAGAIN (queue full)
            return False
        # pyzmq tries a NOBLOCK send at once and settles the Future with its outcome; read it so
        # an unreachable worker (ROUTER_MANDATORY) is reported here, not as an unawaited error.
        if sent.done():
            return sent.exception() is None
        sent.add_done_callback(lambda f: f.cancelled() or f.exception())
        return True

    async def request(self, client_id: str, cmd: str, args: dict[str, Any], timeout: float) -> Any:
        req_id = uuid.uuid4().hex
        fut: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self.pending[req_id] = fut
        try:
            frame = F.Request(id=req_id, cmd=cmd, args=args, timeout=timeout)
            if not self.send(client_id, frame):
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
        handled = 0
        while True:
            parts = await self.sock.recv_multipart()
            handled += 1
            if handled % YIELD_EVERY == 0:
                await asyncio.sleep(0)
            try:
                await self._handle(parts)
            except Exception:  # a bug of ours: report it, never stop reading for everyone
                logger.exception("error handling a worker frame")

    async def _handle(self, parts: list[bytes]) -> None:
        identity = printable(parts[0][:200]) if parts else "?"
        if len(parts) != 2:
            self._bad(identity, f"{len(parts)}-part message", oversize=False)
            return
        raw = parts[1]
        try:
            frame = F.decode_from_worker(raw)
        except F.WireError as exc:
            self._bad(identity, str(exc), oversize=len(raw) > F.FRAME_CAP)
            return
        if isinstance(frame, F.Reply):
            self._settle(frame)
            return
        await self.on_frame(identity, frame)

    def _settle(self, reply: F.Reply) -> None:
        fut = self.pending.get(reply.id)
        if fut is None or fut.done():
            return
        if reply.ok:
            fut.set_result(reply.result)
        else:
            err = reply.error or F.RemoteErrorInfo()
            fut.set_exception(RemoteError(err.code, err.message))

    def _bad(self, identity: str, reason: str, oversize: bool) -> None:
        """Count, tell the owner, and log at most every few seconds per sender."""
        self.bad_frames += 1
        if self.on_bad_frame is not None:
            self.on_bad_frame(identity, reason, oversize)
        now = time.monotonic()
        last, suppressed = self._bad_log.pop(identity, (0.0, 0))
        if now - last >= BAD_FRAME_LOG_INTERVAL:
            more = f" ({suppressed} more since the last report)" if suppressed else ""
            logger.bind(client=identity).warning(
                "bad frame from worker dropped: {}{}", reason, more
            )
            self._bad_log[identity] = (now, 0)
        else:
            self._bad_log[identity] = (last, suppressed + 1)
        while len(self._bad_log) > 1024:
            self._bad_log.popitem(last=False)
