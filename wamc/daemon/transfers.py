"""The daemon's end of media transfers on the worker link (the rules: wamc/wire/transfer.py).

An upload (``send_media``) streams a file of the daemon's disk to the worker in chunk frames; a
download (``download_media``) writes the chunks the worker streams into a file of the daemon's
disk. Nothing else is shared with the worker: it may run on another host (the Ray backend).

The daemon draws every transfer id and binds the transfer to the worker connection (route) it
opened it for. A chunk or an ack for an id nobody opened, or from another connection, is a bad
frame (the link counts and drops it, like any other); so is a chunk the transfer refuses (out of
order, over its size), which also ends the transfer. Frames for a transfer that ended a moment
ago are dropped quietly (the sender's window was still in flight). The daemon's sends never
block (the link's rule): a chunk waits for room in the window, then for room in the socket.
"""

from __future__ import annotations

import asyncio
import os
import secrets
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, TypeVar

from wamc.wire import frames as F
from wamc.wire.transfer import STALL, Receiving, Sending, TransferError, stalled, write_at

T = TypeVar("T")
SendFn = Callable[[str, bytes | bytearray], bool]  # (route, encoded frame): False if not sent
RECENT = 256  # ended transfers remembered, so their late frames are dropped quietly
RETRY = 0.02  # seconds between two tries of a send the socket refused (queue full)


class Incoming:
    """A download: the worker's chunks written to ``fd`` as they come, at most ``limit`` bytes."""

    def __init__(self, owner: Transfers, route: str, fd: int, limit: int) -> None:
        self.owner = owner
        self.id = secrets.token_hex(16)
        self.route = route
        self.fd = fd
        self.state = Receiving(self.id, limit, stall=owner.stall, clock=False)

    def on_chunk(self, chunk: F.Chunk) -> str | None:
        """Store the chunk and acknowledge it; the reason it is a bad frame, or None."""
        if self.state.ended.done():
            return None  # in flight when the transfer ended: dropped quietly
        try:
            ack = self.state.accept(chunk, lambda data, offset: write_at(self.fd, data, offset))
        except TransferError as exc:
            refusal = F.ChunkAck(transfer=self.id, next=self.state.next, error=exc.message)
            self.owner.send(self.route, F.encode(refusal))  # the worker stops sending
            return exc.message
        if not self.owner.send(self.route, F.encode(ack)):
            self.state.fail(TransferError("worker_unavailable", "the worker is not reachable"))
        return None

    async def wait(self) -> int:
        """The bytes stored once the last chunk is; TransferError when given up."""
        return await self.state.wait()


class Outgoing:
    """An upload: ``size`` bytes of the file at ``path`` sent one chunk at a time."""

    def __init__(self, owner: Transfers, route: str, path: Path, size: int) -> None:
        self.owner = owner
        self.id = secrets.token_hex(16)
        self.route = route
        self.path = path
        self.size = size
        self.state = Sending(self.id, started=False, stall=owner.stall)  # the worker says "go"

    def on_ack(self, ack: F.ChunkAck) -> str | None:
        return self.state.on_ack(ack)

    async def stream(self) -> None:
        """Send the file, waiting for room in the window; returns once the worker has stored
        every byte. One chunk buffer and one frame buffer, reused: memory stays flat."""
        fd = os.open(self.path, os.O_RDONLY | os.O_NOFOLLOW | getattr(os, "O_CLOEXEC", 0))
        buf, frame = bytearray(F.CHUNK_MAX), bytearray()
        view = memoryview(buf)
        try:
            offset, last = 0, False
            while not last:
                seq = await self.state.room()
                want = min(F.CHUNK_MAX, self.size - offset)
                got = os.preadv(fd, [view[:want]], offset) if want else 0
                if got != want:
                    raise TransferError("whatsapp_error", "the upload's file is shorter")
                offset += got
                last = offset >= self.size
                data = view[:got]  # msgspec encodes any bytes-like: no copy of the buffer
                chunk = F.Chunk(transfer=self.id, seq=seq, data=data, last=last)  # type: ignore[arg-type]  # a memoryview is encoded as bytes
                F.encode_into(chunk, frame)
                await self._send(frame)
            await self.state.drained()
        finally:
            os.close(fd)

    async def _send(self, frame: bytearray) -> None:
        deadline = time.monotonic() + self.owner.stall
        while not self.owner.send(self.route, frame):
            if time.monotonic() > deadline:
                raise stalled(self.owner.stall, "the worker's socket full")
            await asyncio.sleep(RETRY)


class Transfers:
    """The open transfers of every worker connection; fed by the link's receive loop."""

    def __init__(self, send: SendFn, stall: float = STALL) -> None:
        self.send = send
        self.stall = stall
        self._open: dict[str, Incoming | Outgoing] = {}
        self._ended: OrderedDict[str, str] = OrderedDict()  # id -> route

    def incoming(self, route: str, fd: int, limit: int) -> Incoming:
        transfer = Incoming(self, route, fd, limit)
        self._open[transfer.id] = transfer
        return transfer

    def outgoing(self, route: str, path: Path, size: int) -> Outgoing:
        transfer = Outgoing(self, route, path, size)
        self._open[transfer.id] = transfer
        return transfer

    def close(self, transfer: Incoming | Outgoing) -> None:
        """Forget an ended transfer (its late frames are still recognised for a while). A
        download closed before its end tells the worker to stop sending; an upload's worker
        stops waiting for chunks after the stall time."""
        if isinstance(transfer, Incoming) and not transfer.state.ended.done():
            transfer.state.fail(TransferError("whatsapp_error", "closed"))
            refusal = F.ChunkAck(transfer=transfer.id, next=transfer.state.next, error="cancelled")
            self.send(transfer.route, F.encode(refusal))
        if self._open.pop(transfer.id, None) is not None:
            self._ended[transfer.id] = transfer.route
            while len(self._ended) > RECENT:
                self._ended.popitem(last=False)

    def on_frame(self, route: str, frame: F.Chunk | F.ChunkAck) -> str | None:
        """A chunk or an ack from the connection ``route``; the reason it is a bad frame."""
        transfer = self._open.get(frame.transfer)
        if transfer is None or transfer.route != route:
            if self._ended.get(frame.transfer) == route:
                return None
            return "media frame for a transfer this worker was not given"
        if isinstance(frame, F.Chunk):
            if isinstance(transfer, Incoming):
                return transfer.on_chunk(frame)
            return "media chunk for an upload"
        if isinstance(transfer, Outgoing):
            return transfer.on_ack(frame)
        return "media ack for a download"

    def __len__(self) -> int:
        return len(self._open)


async def alongside(request: Awaitable[T], transfer: Awaitable[Any]) -> T:
    """The result of a command whose bytes travel in a transfer beside it: whichever fails
    first fails both (the other is cancelled); a transfer that ends well waits for the reply."""
    req, xfer = asyncio.ensure_future(request), asyncio.ensure_future(transfer)
    try:
        done, _ = await asyncio.wait({req, xfer}, return_when=asyncio.FIRST_COMPLETED)
        if req not in done:
            xfer.result()  # its failure wins
        return await req
    finally:
        for task in (req, xfer):
            task.cancel()
        await asyncio.gather(req, xfer, return_exceptions=True)
