"""Media on the wire (issue 11 Decision): chunk frames, the transfer rules both ends share
(wamc/wire/transfer.py), the daemon's end (wamc/daemon/transfers.py) and the worker's
(workers/transfers.py), without processes: a fake socket on each side."""

from __future__ import annotations

import asyncio
import hashlib
import os
from pathlib import Path
from typing import Any

import msgpack
import pytest

from wamc.daemon.transfers import Transfers, alongside
from wamc.wire import commands as C
from wamc.wire import frames as F
from wamc.wire.transfer import WINDOW, Receiving, Sending, TransferError
from workers.transfers import Transfers as WorkerTransfers

TID = "0123456789abcdef" * 2
OTHER = "f" * 32


def chunk(seq: int, data: bytes, last: bool = False, transfer: str = TID) -> F.Chunk:
    return F.Chunk(transfer=transfer, seq=seq, data=data, last=last)


# --- frames -----------------------------------------------------------------------------------
def test_chunk_frames_go_both_ways_and_a_full_chunk_fits_under_the_cap() -> None:
    full = chunk(3, b"\xab" * F.CHUNK_MAX, last=True)
    raw = F.encode(full)
    assert len(raw) <= F.FRAME_CAP - F.CHUNK_MAX // 2  # room to spare under the 2 MiB cap
    assert F.decode_from_worker(raw) == full and F.decode_from_daemon(raw) == full
    ack = F.ChunkAck(transfer=TID, next=4, error="over size")
    assert F.decode_from_worker(F.encode(ack)) == ack and F.decode_from_daemon(F.encode(ack)) == ack
    buf = bytearray(b"stale bytes of a longer previous frame" * 10)
    F.encode_into(chunk(0, b"xy"), buf)
    assert F.decode_from_daemon(bytes(buf)) == chunk(0, b"xy")  # the reused buffer is trimmed


@pytest.mark.parametrize(
    "fields",
    [
        {"transfer": TID, "seq": 0, "data": b"x" * (F.CHUNK_MAX + 1)},  # over a chunk
        {"transfer": "../" + "0" * 29, "seq": 0, "data": b""},  # not an id
        {"transfer": TID.upper(), "seq": 0, "data": b""},
        {"transfer": TID, "seq": -1, "data": b""},
        {"transfer": TID, "seq": 2**31, "data": b""},
        {"transfer": TID, "seq": 0, "data": "text, not bytes"},
        {"transfer": TID, "seq": 0},  # no data
    ],
)
def test_bad_chunk_frames_are_wire_errors(fields: dict[str, Any]) -> None:
    raw = msgpack.packb({"v": 1, "t": "chunk", **fields}, use_bin_type=True)
    with pytest.raises(F.WireError):
        F.decode_from_worker(raw)
    ack = msgpack.packb({"v": 1, "t": "chunk_ack", "transfer": TID, "next": -1})
    with pytest.raises(F.WireError):
        F.decode_from_daemon(ack)


# --- the receiver's rules ---------------------------------------------------------------------
async def test_reassembly_in_order_up_to_the_cap() -> None:
    got = bytearray()

    def write(data: bytes, offset: int) -> None:
        assert offset == len(got)
        got.extend(data)

    r = Receiving(TID, cap=10)
    assert r.accept(chunk(0, b"hello"), write) == F.ChunkAck(transfer=TID, next=1)
    assert r.accept(chunk(1, b"world", last=True), write).next == 2
    assert await r.wait() == 10 and bytes(got) == b"helloworld"
    with pytest.raises(TransferError, match="after the transfer ended"):
        r.accept(chunk(2, b"!"), write)


@pytest.mark.parametrize(
    ("chunks", "exact", "reason"),
    [
        ([chunk(0, b"ab"), chunk(2, b"cd")], False, "out of order"),  # one skipped
        ([chunk(0, b"ab"), chunk(0, b"ab")], False, "out of order"),  # one repeated
        ([chunk(1, b"ab")], False, "out of order"),  # not from 0
        ([chunk(0, b"abcdef"), chunk(1, b"ghijk")], False, "over its 10 bytes"),
        ([chunk(0, b"abc", last=True)], True, "ended at 3 of its 10 bytes"),  # short upload
        ([chunk(0, b"")], False, "empty media chunk"),
    ],
)
async def test_a_broken_transfer_is_refused_and_ends(
    chunks: list[F.Chunk], exact: bool, reason: str
) -> None:
    r = Receiving(TID, cap=10, exact=exact)
    written: list[bytes] = []
    with pytest.raises(TransferError, match=reason):
        for c in chunks:
            r.accept(c, lambda data, _offset: written.append(data))
    assert len(written) == len(chunks) - 1  # the refused chunk was never written
    with pytest.raises(TransferError, match=reason):
        await r.wait()


async def test_a_write_error_ends_the_transfer() -> None:
    r = Receiving(TID, cap=10)

    def fail(_data: bytes, _offset: int) -> None:
        raise OSError(28, "No space left on device")

    with pytest.raises(TransferError, match="not stored: No space left"):
        r.accept(chunk(0, b"x"), fail)
    assert r.ended.done() and r.next == 0


async def test_a_receiver_that_hears_nothing_gives_up() -> None:
    r = Receiving(TID, cap=10, stall=0.2)
    r.accept(chunk(0, b"ab"), lambda *_: None)
    with pytest.raises(TransferError) as info:
        await asyncio.wait_for(r.wait(), 5)
    assert info.value.code == "worker_timeout" and "stalled: no chunk" in info.value.message


# --- the sender's window ----------------------------------------------------------------------
async def test_the_sender_waits_for_go_then_keeps_a_window() -> None:
    s = Sending(TID, started=False, stall=5)
    first = asyncio.ensure_future(s.room())
    await asyncio.sleep(0.05)
    assert not first.done()  # no chunk before the receiver said "go"
    assert s.on_ack(F.ChunkAck(transfer=TID, next=0)) is None
    assert await first == 0
    assert [await s.room() for _ in range(WINDOW - 1)] == list(range(1, WINDOW))
    blocked = asyncio.ensure_future(s.room())
    await asyncio.sleep(0.05)
    assert not blocked.done()  # WINDOW chunks in flight: no more
    s.on_ack(F.ChunkAck(transfer=TID, next=1))
    assert await asyncio.wait_for(blocked, 5) == WINDOW
    assert s.on_ack(F.ChunkAck(transfer=TID, next=WINDOW + 2)) is not None  # never sent
    assert s.on_ack(F.ChunkAck(transfer=TID, next=0)) is not None  # backwards
    draining = asyncio.ensure_future(s.drained())
    s.on_ack(F.ChunkAck(transfer=TID, next=WINDOW + 1))
    await asyncio.wait_for(draining, 5)


async def test_the_sender_stops_on_a_refusal_or_a_stall() -> None:
    s = Sending(TID, started=True, stall=5)
    await s.room()
    s.on_ack(F.ChunkAck(transfer=TID, next=0, error="media chunk 3 out of order"))
    with pytest.raises(TransferError, match="receiver gave up: media chunk 3"):
        await s.room()
    quiet = Sending(TID, started=True, stall=0.2)
    for _ in range(WINDOW):
        await quiet.room()
    with pytest.raises(TransferError, match="stalled") as info:
        await asyncio.wait_for(quiet.room(), 5)
    assert info.value.code == "worker_timeout"


# --- the daemon's end -------------------------------------------------------------------------
class FakeRouter:
    """What the daemon's link would send to each route (decoded), and whether it can."""

    def __init__(self) -> None:
        self.sent: list[tuple[str, Any]] = []
        self.full = False

    def __call__(self, route: str, raw: bytes | bytearray) -> bool:
        if self.full:
            return False
        self.sent.append((route, F.decode_from_daemon(bytes(raw))))
        return True


async def test_daemon_download_is_written_in_order_and_bound_to_its_worker(tmp_path: Path) -> None:
    router = FakeRouter()
    transfers = Transfers(router)
    fd = os.open(tmp_path / "dl", os.O_RDWR | os.O_CREAT, 0o600)
    try:
        dl = transfers.incoming("acme.boot1", fd, limit=8)
        # A transfer nobody opened, or this one from another connection: bad frames.
        assert "not given" in (
            transfers.on_frame("acme.boot1", chunk(0, b"x", transfer=OTHER)) or ""
        )
        assert "not given" in (
            transfers.on_frame("shop.boot9", chunk(0, b"x", transfer=dl.id)) or ""
        )
        assert transfers.on_frame("acme.boot1", chunk(0, b"abcd", transfer=dl.id)) is None
        assert transfers.on_frame("acme.boot1", chunk(1, b"efg", True, transfer=dl.id)) is None
        assert await dl.wait() == 7 and os.pread(fd, 100, 0) == b"abcdefg"
        assert [f.next for _, f in router.sent] == [1, 2]
        assert {r for r, _ in router.sent} == {"acme.boot1"}
        # An ack for a download is not something a worker sends.
        assert transfers.on_frame("acme.boot1", F.ChunkAck(transfer=dl.id, next=0)) is not None
        transfers.close(dl)
        assert len(transfers) == 0
        # A late frame of a transfer just ended: dropped quietly, not counted.
        assert transfers.on_frame("acme.boot1", chunk(2, b"h", transfer=dl.id)) is None
    finally:
        os.close(fd)


@pytest.mark.parametrize(
    ("chunks", "reason"),
    [
        ([chunk(1, b"abc")], "out of order"),
        ([chunk(0, b"abcde"), chunk(1, b"fghi")], "over its 8 bytes"),
    ],
)
async def test_daemon_refuses_a_broken_download_and_tells_the_worker(
    tmp_path: Path, chunks: list[F.Chunk], reason: str
) -> None:
    router = FakeRouter()
    transfers = Transfers(router)
    fd = os.open(tmp_path / "dl", os.O_RDWR | os.O_CREAT, 0o600)
    try:
        dl = transfers.incoming("acme.b", fd, limit=8)
        reasons = [
            transfers.on_frame("acme.b", F.Chunk(transfer=dl.id, seq=c.seq, data=c.data))
            for c in chunks
        ]
        assert reasons[-1] is not None and reason in reasons[-1]  # counted as a bad frame
        refusal = router.sent[-1][1]
        assert isinstance(refusal, F.ChunkAck) and refusal.error and reason in refusal.error
        with pytest.raises(TransferError, match=reason):
            await dl.wait()
        # What was still in flight is dropped without counting again.
        assert transfers.on_frame("acme.b", F.Chunk(transfer=dl.id, seq=5, data=b"z")) is None
    finally:
        os.close(fd)


async def test_daemon_upload_streams_a_file_one_chunk_at_a_time(tmp_path: Path) -> None:
    body = os.urandom(3 * F.CHUNK_MAX + 12345)
    path = tmp_path / "up"
    path.write_bytes(body)
    router = FakeRouter()
    transfers = Transfers(router, stall=5)
    up = transfers.outgoing("acme.b", path, len(body))
    streaming = asyncio.ensure_future(up.stream())
    await asyncio.sleep(0.05)
    assert router.sent == []  # nothing before the worker's "go"
    assert transfers.on_frame("acme.b", F.ChunkAck(transfer=up.id, next=0)) is None
    received = bytearray()
    while not streaming.done():
        await asyncio.sleep(0.01)
        chunks = [f for _, f in router.sent if isinstance(f, F.Chunk)]
        router.sent.clear()
        in_flight = len(chunks)
        assert in_flight <= WINDOW
        for c in chunks:
            received += c.data
            assert transfers.on_frame("acme.b", F.ChunkAck(transfer=up.id, next=c.seq + 1)) is None
    await streaming
    assert hashlib.sha256(received).digest() == hashlib.sha256(body).digest()
    # An ack for a chunk never sent is a bad frame; a chunk for an upload too.
    assert transfers.on_frame("acme.b", F.ChunkAck(transfer=up.id, next=99)) is not None
    assert transfers.on_frame("acme.b", chunk(0, b"x", transfer=up.id)) is not None


async def test_daemon_upload_gives_up_when_the_socket_stays_full(tmp_path: Path) -> None:
    path = tmp_path / "up"
    path.write_bytes(b"x" * 10)
    router = FakeRouter()
    router.full = True
    transfers = Transfers(router, stall=0.3)
    up = transfers.outgoing("acme.b", path, 10)
    transfers.on_frame("acme.b", F.ChunkAck(transfer=up.id, next=0))
    with pytest.raises(TransferError, match="stalled"):
        await asyncio.wait_for(up.stream(), 5)


async def test_alongside_fails_both_on_the_first_failure() -> None:
    async def reply(after: float, value: Any) -> Any:
        await asyncio.sleep(after)
        if isinstance(value, Exception):
            raise value
        return value

    assert await alongside(reply(0.05, "sent"), reply(0.01, None)) == "sent"
    with pytest.raises(TransferError, match="stalled"):
        await alongside(reply(5, "late"), reply(0.01, TransferError("worker_timeout", "stalled")))
    cancelled = asyncio.ensure_future(reply(5, None))
    with pytest.raises(C.RemoteError):
        await alongside(reply(0.01, C.RemoteError("not_connected", "no")), cancelled)
    assert cancelled.cancelled()


# --- the worker's end -------------------------------------------------------------------------
class Log:
    def __init__(self) -> None:
        self.lines: list[str] = []

    def warning(self, fmt: str, *args: Any) -> None:
        self.lines.append(fmt.format(*args))

    def opt(self, **_: Any) -> Log:
        return self

    def error(self, fmt: str, *args: Any) -> None:
        self.lines.append(fmt.format(*args))


async def test_worker_receives_an_upload_of_exactly_the_declared_size(tmp_path: Path) -> None:
    sent: list[Any] = []

    async def send(raw: bytes) -> None:
        sent.append(F.decode_from_worker(raw))

    log = Log()
    transfers = WorkerTransfers(send, log)
    with pytest.raises(C.RemoteError, match="not a transfer id"):
        transfers.new_id("../etc/passwd")
    fd = os.open(tmp_path / "up", os.O_RDWR | os.O_CREAT, 0o600)
    try:
        up = transfers.receive(TID, fd, 6)
        with pytest.raises(C.RemoteError, match="already open"):
            transfers.receive(TID, fd, 6)
        waiting = asyncio.ensure_future(up.wait())
        await asyncio.sleep(0.01)
        assert sent == [F.ChunkAck(transfer=TID, next=0)]  # "go"
        await transfers.on_frame(chunk(0, b"abc"))
        await transfers.on_frame(chunk(1, b"def", last=True))
        assert await waiting == 6 and os.pread(fd, 10, 0) == b"abcdef"
        assert [a.next for a in sent] == [0, 1, 2]
        # Frames for no open transfer: dropped and logged, nothing answered.
        await transfers.on_frame(chunk(0, b"x", transfer=OTHER))
        await transfers.on_frame(F.ChunkAck(transfer=OTHER, next=1))
        assert len(sent) == 3 and sum("no open transfer" in line for line in log.lines) == 2
        # Over the declared size: refused, the daemon told, the command fails.
        transfers.close(up)
        over = transfers.receive(OTHER, fd, 2)
        waiting = asyncio.ensure_future(over.wait())
        await asyncio.sleep(0.01)
        await transfers.on_frame(chunk(0, b"xyz", transfer=OTHER))
        with pytest.raises(C.RemoteError, match="over its 2 bytes"):
            await waiting
        assert sent[-1].error and "over its 2 bytes" in sent[-1].error
    finally:
        os.close(fd)


async def test_a_download_stall_clock_starts_with_its_first_chunk(tmp_path: Path) -> None:
    """The page may take long to fetch the file from WhatsApp: only silence after the first
    chunk is a stall (before it, the command's own timeout bounds the wait)."""
    router = FakeRouter()
    transfers = Transfers(router, stall=0.2)
    fd = os.open(tmp_path / "dl", os.O_RDWR | os.O_CREAT, 0o600)
    try:
        dl = transfers.incoming("acme.b", fd, limit=8)
        waiting = asyncio.ensure_future(dl.wait())
        await asyncio.sleep(0.5)
        assert not waiting.done()  # no chunk yet: not a stall
        transfers.on_frame("acme.b", F.Chunk(transfer=dl.id, seq=0, data=b"ab"))
        with pytest.raises(TransferError, match="stalled: no chunk"):
            await asyncio.wait_for(waiting, 5)
        # Closed before its end: the worker is told to stop sending.
        other = transfers.incoming("acme.b", fd, limit=8)
        transfers.close(other)
        assert router.sent[-1] == (
            "acme.b",
            F.ChunkAck(transfer=other.id, next=0, error="cancelled"),
        )
    finally:
        os.close(fd)
