"""Media bytes on the worker link (issue 11): the rules of a chunked transfer, shared by both
ends (the daemon's wamc/daemon/transfers.py, the worker's workers/transfers.py add the I/O).

One transfer carries one file for one command, in :class:`~wamc.wire.frames.Chunk` frames of at
most ``CHUNK_MAX`` bytes (the frame cap is twice that), numbered from 0 and sent in order; the
one flagged ``last`` ends it. The receiver writes each chunk to its own disk as it comes and
answers :class:`~wamc.wire.frames.ChunkAck` ``next`` = how many it has stored; the sender keeps
at most :data:`WINDOW` chunks beyond that in flight. So neither side ever holds more than one
chunk of a transfer in memory, and the socket's queues hold at most ``WINDOW`` of them: a busy
or stalled receiver slows the sender down, it is never flooded.

The receiver must know a transfer before its first chunk comes (``Receiving``): a chunk for an
id it does not hold is dropped (the daemon counts it as a bad frame). It refuses, and the
transfer ends with a clear error, on a chunk out of order, an empty chunk that is not the last,
more bytes than the cap (a download's limit, an upload's declared size: then exactly that
size), and when nothing came for ``stall`` seconds; the sender gives up when no acknowledgement
made room for ``stall`` seconds, or when the receiver answers with an ``error``.
"""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import Callable

from wamc.wire import frames as F

WINDOW = 4  # chunks a sender may have in flight beyond the receiver's last acknowledgement
STALL = 30.0  # seconds without progress before a transfer is given up


class TransferError(Exception):
    """A transfer given up: ``code`` is a reply error code (``worker_timeout`` for a stall,
    ``whatsapp_error`` for a broken one); the message is safe to log and to show."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


def write_at(fd: int, data: bytes, offset: int) -> None:
    """Every byte of ``data`` at ``offset`` (``os.pwrite`` may write fewer): the receivers'
    ``write``."""
    view = memoryview(data)
    while view:
        written = os.pwrite(fd, view, offset)
        view, offset = view[written:], offset + written


def stalled(stall: float, what: str) -> TransferError:
    return TransferError("worker_timeout", f"media transfer stalled: {what} for {stall:.0f}s")


class Receiving:
    """The receiver's bookkeeping of one transfer: order, the size cap, the stall clock."""

    def __init__(
        self,
        transfer: str,
        cap: int,
        exact: bool = False,
        stall: float = STALL,
        clock: bool = True,
    ) -> None:
        """``cap``: the most bytes it may carry; ``exact``: it must carry exactly that many.
        ``clock``: the stall clock runs from now (an upload: the sender has its file at hand);
        else from the first chunk (a download: the page may take its time to fetch the file
        from WhatsApp first, bounded by the command's own timeout)."""
        self.transfer = transfer
        self.cap = cap
        self.exact = exact
        self.stall = stall
        self.next = 0  # the seq of the chunk expected next = how many are stored
        self.size = 0  # bytes stored
        self.ended: asyncio.Future[int] = asyncio.get_running_loop().create_future()
        self.last_progress: float | None = time.monotonic() if clock else None

    def accept(self, chunk: F.Chunk, write: Callable[[bytes, int], None]) -> F.ChunkAck:
        """Check ``chunk``, have ``write(data, offset)`` store it, and answer the ack to send.
        Raises :class:`TransferError` (the transfer is then ended) when it cannot be taken."""
        if self.ended.done():
            raise TransferError("whatsapp_error", "media chunk after the transfer ended")
        try:
            self._check(chunk)
            write(chunk.data, self.size)
        except TransferError as exc:
            self.fail(exc)
            raise
        except OSError as exc:
            error = TransferError("whatsapp_error", f"media chunk not stored: {exc.strerror}")
            self.fail(error)
            raise error from None
        self.size += len(chunk.data)
        self.next += 1
        self.last_progress = time.monotonic()
        if chunk.last:
            self.ended.set_result(self.size)
        return F.ChunkAck(transfer=self.transfer, next=self.next)

    def _check(self, chunk: F.Chunk) -> None:
        if chunk.seq != self.next:
            raise TransferError(
                "whatsapp_error", f"media chunk {chunk.seq} out of order (expected {self.next})"
            )
        if not chunk.data and not chunk.last:
            raise TransferError("whatsapp_error", "empty media chunk before the last")
        size = self.size + len(chunk.data)
        if size > self.cap:
            raise TransferError("whatsapp_error", f"media transfer over its {self.cap} bytes")
        if chunk.last and self.exact and size != self.cap:
            raise TransferError(
                "whatsapp_error", f"media transfer ended at {size} of its {self.cap} bytes"
            )

    def fail(self, error: TransferError) -> None:
        if not self.ended.done():
            self.ended.set_exception(error)
            self.ended.exception()  # retrieved: a transfer nobody waits for is not an error

    async def wait(self) -> int:
        """The bytes stored once the last chunk is; TransferError when it is given up (also
        for a stall: nothing came for ``stall`` seconds)."""
        while True:
            idle = 0.0 if self.last_progress is None else time.monotonic() - self.last_progress
            if idle >= self.stall:
                self.fail(stalled(self.stall, "no chunk"))
            try:
                return await asyncio.wait_for(asyncio.shield(self.ended), self.stall - idle)
            except TimeoutError:
                continue


class Sending:
    """The sender's window of one transfer."""

    def __init__(self, transfer: str, started: bool, stall: float = STALL) -> None:
        """``started``: the receiver is known to be ready (it registered the transfer before the
        sender learned of it); else its first ack (``next`` 0) says so."""
        self.transfer = transfer
        self.stall = stall
        self.sent = 0  # chunks sent
        self.acked = 0 if started else -1  # chunks the receiver stored; -1: not ready yet
        self.error: TransferError | None = None
        self._progress = asyncio.Event()

    def on_ack(self, ack: F.ChunkAck) -> str | None:
        """Take the receiver's ack; the reason it is a bad frame, or None."""
        if ack.error is not None:
            self.fail(TransferError("whatsapp_error", f"the receiver gave up: {ack.error}"))
        elif not max(self.acked, 0) <= ack.next <= self.sent:
            return f"media ack {ack.next} outside the chunks sent (0..{self.sent})"
        else:
            self.acked = ack.next
        self._progress.set()
        return None

    def fail(self, error: TransferError) -> None:
        if self.error is None:
            self.error = error
        self._progress.set()

    async def room(self) -> int:
        """Wait until one more chunk may go, and count it sent: its seq. TransferError when the
        transfer is given up."""
        await self._until(lambda: self.acked >= 0 and self.sent < self.acked + WINDOW, "no room")
        self.sent += 1
        return self.sent - 1

    async def drained(self) -> None:
        """Wait until the receiver has stored every chunk sent."""
        await self._until(lambda: self.acked >= self.sent, "no acknowledgement")

    async def _until(self, ready: Callable[[], bool], what: str) -> None:
        while True:
            if self.error is not None:
                raise self.error
            if ready():
                return
            self._progress.clear()
            try:
                await asyncio.wait_for(self._progress.wait(), self.stall)
            except TimeoutError:
                self.fail(stalled(self.stall, what))
