"""The worker's end of media transfers on the daemon link (the rules: wamc/wire/transfer.py).

An upload (``send_media``) arrives in chunks written to a file of the worker's own
(workers/media.py); a download (``download_media``) leaves in chunks read from the page one
slice at a time. The daemon draws the transfer ids and names them in the command; the worker
opens a transfer before saying "go" (an upload) or sending a chunk (a download). Like its events,
the worker's chunks and acks wait for room in the socket rather than being dropped; frames for a
transfer it does not hold are dropped and logged.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable
from typing import Any

from wamc.wire import commands as C
from wamc.wire import frames as F
from wamc.wire.transfer import STALL, Receiving, Sending, TransferError, write_at

SendFn = Callable[[bytes], Awaitable[None]]


def remote(exc: TransferError) -> C.RemoteError:
    return C.RemoteError(exc.code, exc.message)


class Incoming:
    """An upload: exactly ``size`` bytes written to ``fd`` as they come."""

    def __init__(self, owner: Transfers, transfer: str, fd: int, size: int) -> None:
        self.owner = owner
        self.id = transfer
        self.fd = fd
        self.state = Receiving(transfer, size, exact=True, stall=owner.stall)

    async def on_chunk(self, chunk: F.Chunk) -> None:
        if self.state.ended.done():
            return  # in flight when the transfer ended
        try:
            ack = self.state.accept(chunk, lambda data, offset: write_at(self.fd, data, offset))
        except TransferError as exc:
            self.owner.log.warning("media upload refused: {}", exc.message)
            ack = F.ChunkAck(transfer=self.id, next=self.state.next, error=exc.message)
        await self.owner.send(F.encode(ack))

    async def wait(self) -> int:
        """Say "go", then wait for the last byte; RemoteError when the transfer is given up."""
        await self.owner.send(F.encode(F.ChunkAck(transfer=self.id, next=0)))
        try:
            return await self.state.wait()
        except TransferError as exc:
            raise remote(exc) from None


class Outgoing:
    """A download: chunks sent as the page hands the file out, within the daemon's window."""

    def __init__(self, owner: Transfers, transfer: str) -> None:
        self.owner = owner
        self.id = transfer
        # The daemon opened its end before asking: the first window may go at once.
        self.state = Sending(transfer, started=True, stall=owner.stall)

    async def send(self, data: bytes, last: bool) -> None:
        try:
            seq = await self.state.room()
        except TransferError as exc:
            raise remote(exc) from None
        await self.owner.send(F.encode(F.Chunk(transfer=self.id, seq=seq, data=data, last=last)))

    async def drained(self) -> None:
        """Wait until the daemon has stored every chunk sent."""
        try:
            await self.state.drained()
        except TransferError as exc:
            raise remote(exc) from None


class Transfers:
    """The worker's open transfers, fed by the link's receive loop."""

    def __init__(self, send: SendFn, log: Any, stall: float = STALL) -> None:
        self.send = send
        self.log = log
        self.stall = stall
        self._open: dict[str, Incoming | Outgoing] = {}

    def receive(self, transfer: Any, fd: int, size: int) -> Incoming:
        incoming = Incoming(self, self.new_id(transfer), fd, size)
        self._open[incoming.id] = incoming
        return incoming

    def send_out(self, transfer: Any) -> Outgoing:
        outgoing = Outgoing(self, self.new_id(transfer))
        self._open[outgoing.id] = outgoing
        return outgoing

    def new_id(self, transfer: Any) -> str:
        """``transfer`` if it is a transfer id (the daemon's word, checked) not open yet."""
        if not isinstance(transfer, str) or not re.fullmatch(F.TRANSFER_PATTERN, transfer):
            raise C.RemoteError("invalid_argument", "transfer is not a transfer id")
        if transfer in self._open:
            raise C.RemoteError("invalid_argument", "transfer already open")
        return transfer

    def close(self, transfer: Incoming | Outgoing) -> None:
        if self._open.get(transfer.id) is transfer:
            del self._open[transfer.id]

    async def on_frame(self, frame: F.Chunk | F.ChunkAck) -> None:
        """A chunk or an ack from the daemon; never raises (the receive loop goes on)."""
        transfer = self._open.get(frame.transfer)
        try:
            if isinstance(frame, F.Chunk) and isinstance(transfer, Incoming):
                await transfer.on_chunk(frame)
            elif isinstance(frame, F.ChunkAck) and isinstance(transfer, Outgoing):
                reason = transfer.state.on_ack(frame)
                if reason is not None:
                    self.log.warning("media ack dropped: {}", reason)
            else:
                self.log.warning("{} for no open transfer dropped", frame.__struct_config__.tag)
        except Exception as exc:
            self.log.opt(exception=exc).error("media frame failed: dropped")
