"""ZeroMQ ROUTER side of the worker link: frames in, requests out with ids and timeouts."""

from __future__ import annotations

import asyncio
import contextlib
import os
import uuid
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import zmq
import zmq.asyncio
from loguru import logger

from wamc import protocol as P

FrameHandler = Callable[[str, dict[str, Any]], Awaitable[None]]


class Transport:
    def __init__(self, endpoint: str, on_frame: FrameHandler) -> None:
        self.endpoint = endpoint
        self.on_frame = on_frame
        self.ctx = zmq.asyncio.Context()
        self.sock = self.ctx.socket(zmq.ROUTER)
        # A restarted worker takes over its identity at once.
        self.sock.setsockopt(zmq.ROUTER_HANDOVER, 1)
        # Unknown identities raise instead of silently dropping: we learn the worker is gone.
        self.sock.setsockopt(zmq.ROUTER_MANDATORY, 1)
        self.sock.setsockopt(zmq.LINGER, 0)
        self.pending: dict[str, asyncio.Future[Any]] = {}
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        if self.endpoint.startswith("ipc://"):
            path = Path(self.endpoint[len("ipc://") :])
            path.parent.mkdir(parents=True, exist_ok=True)
            with contextlib.suppress(FileNotFoundError):
                path.unlink()  # a stale socket from a previous daemon
            old_umask = os.umask(0o077)
            try:
                self.sock.bind(self.endpoint)
            finally:
                os.umask(old_umask)
        else:
            self.sock.bind(self.endpoint)
        self._task = asyncio.create_task(self._receive_loop())

    async def close(self) -> None:
        if self._task:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        for fut in self.pending.values():
            if not fut.done():
                fut.set_exception(P.RemoteError("worker_unavailable", "daemon shutting down"))
        self.sock.close(linger=0)
        self.ctx.term()

    def send(self, client_id: str, frame: bytes) -> bool:
        try:
            sent = self.sock.send_multipart([client_id.encode(), frame], zmq.NOBLOCK)
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
            if not self.send(client_id, P.request(req_id, cmd, args, timeout)):
                raise P.RemoteError("worker_unavailable", "the client's worker is not connected")
            try:
                return await asyncio.wait_for(fut, timeout + 2.0)
            except TimeoutError:
                raise P.RemoteError(
                    "worker_timeout", f"no answer to {cmd} within {timeout:.0f}s"
                ) from None
        finally:
            self.pending.pop(req_id, None)

    async def _receive_loop(self) -> None:
        while True:
            try:
                identity, raw = await self.sock.recv_multipart()
            except ValueError:
                continue
            client_id = identity.decode(errors="replace")
            try:
                msg = P.unpack(raw)
            except P.ProtocolError as exc:
                logger.bind(client=client_id).warning("bad frame from worker: {}", exc)
                continue
            if msg["t"] == "reply":
                fut = self.pending.get(str(msg.get("id")))
                if fut is not None and not fut.done():
                    if msg.get("ok"):
                        fut.set_result(msg.get("result"))
                    else:
                        err = msg.get("error") or {}
                        fut.set_exception(
                            P.RemoteError(
                                str(err.get("code", "whatsapp_error")), str(err.get("message", ""))
                            )
                        )
                continue
            try:
                await self.on_frame(client_id, msg)
            except Exception:
                logger.bind(client=client_id).exception("error handling worker frame")
