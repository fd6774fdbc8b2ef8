"""Every frame between the daemon (ROUTER) and a worker (DEALER), typed: a trust boundary.

Each frame is one msgpack map with ``v`` (protocol version) and ``t`` (kind)::

  worker -> daemon
    hello   {client, boot, pid, browser_pid, state, secret, epoch}  first frame after
            (re)connect; ``boot`` is unique per worker process (delivery numbers restart with
            it); ``secret`` is the one the daemon gave this worker at spawn (never on a command
            line); ``epoch`` the placement it was started for (Ray backend; a stale one is
            refused and stopped)
    hb      {state, browser_pid}                                heartbeat
    event   {dn, name, data}   delivery-numbered; kept by the worker until acknowledged
    reply   {id, ok, result | error{code, message}}
  daemon -> worker
    welcome {acked, newest}    answer to hello: highest delivery number stored, and per chat
                               the newest message stored (the worker backfills after it)
    who     {}                 "introduce yourself": the daemon does not know this worker
    hb      {}
    ack     {dn}               every event up to dn is stored
    req     {id, cmd, args, timeout}
  both ways (media bytes, issue 11; wamc/wire/transfer.py has the rules)
    chunk     {transfer, seq, data, last}  the seq-th piece (≤ CHUNK_MAX bytes) of a file
    chunk_ack {transfer, next, error}      the receiver stored every chunk before ``next``

Decoding validates types and bounds; anything else raises :class:`WireError`, never another
exception. Frames are capped at :data:`FRAME_CAP` bytes.
"""

from __future__ import annotations

from typing import Annotated, Any, TypeVar

import msgspec

from wamc.wire import events as W

VERSION = 1
# No frame may be larger than this (a media chunk of CHUNK_MAX bytes fits with room to spare).
FRAME_CAP = 2 * 1024 * 1024
CHUNK_MAX = 1024 * 1024

ClientId = Annotated[str, msgspec.Meta(min_length=1, max_length=64)]
Token = Annotated[str, msgspec.Meta(max_length=128)]
Pid = Annotated[int, msgspec.Meta(ge=1, le=2**31 - 1)]
DeliveryNumber = Annotated[int, msgspec.Meta(ge=0, le=2**53)]
Name = Annotated[str, msgspec.Meta(min_length=1, max_length=64)]
Epoch = Annotated[int, msgspec.Meta(ge=0, le=2**53)]


class WireError(ValueError):
    """A frame that is not a valid frame of this protocol (the reason is safe to log)."""


class Frame(msgspec.Struct, tag_field="t", kw_only=True, frozen=True):
    v: int = VERSION


# --- worker -> daemon ------------------------------------------------------------------------
class Hello(Frame, tag="hello", frozen=True):
    client: ClientId
    boot: Token
    pid: Pid
    state: Name
    browser_pid: Pid | None = None
    secret: Token = ""
    epoch: Epoch | None = None  # the placement's epoch (Ray backend); None: the local backend


class Heartbeat(Frame, tag="hb", frozen=True):
    """Both ways; the daemon's carries no fields."""

    state: Name | None = None
    browser_pid: Pid | None = None
    page_crashes: Annotated[int, msgspec.Meta(ge=0, le=2**31 - 1)] = 0  # since the worker started


class Event(Frame, tag="event", frozen=True):
    dn: DeliveryNumber
    name: Name
    # Left encoded: the receiver decodes it straight into the payload type of ``name``
    # (``payload_of`` below), so junk costs a scan, never a tree of objects.
    data: msgspec.Raw


class RemoteErrorInfo(msgspec.Struct, frozen=True):
    code: Annotated[str, msgspec.Meta(max_length=64)] = "whatsapp_error"
    message: Annotated[str, msgspec.Meta(max_length=4096)] = ""


class Reply(Frame, tag="reply", frozen=True):
    id: Token
    ok: bool
    result: msgspec.Raw = msgspec.Raw(b"\xc0")  # encoded; the caller decodes it by its type
    error: RemoteErrorInfo | None = None


# --- daemon -> worker ------------------------------------------------------------------------
class Welcome(Frame, tag="welcome", frozen=True):
    acked: DeliveryNumber
    newest: dict[str, str] = {}


class Who(Frame, tag="who", frozen=True):
    pass


class Ack(Frame, tag="ack", frozen=True):
    dn: DeliveryNumber


class Request(Frame, tag="req", frozen=True):
    id: Token
    cmd: Name
    args: dict[str, Any] = {}
    timeout: Annotated[float, msgspec.Meta(gt=0, le=3600)] = 30.0


# --- both ways: media bytes (issue 11) --------------------------------------------------------
# A transfer is named by a random id the daemon draws for one media command (32 hex digits).
TRANSFER_PATTERN = "^[0-9a-f]{32}$"
TransferId = Annotated[str, msgspec.Meta(pattern=TRANSFER_PATTERN)]
Seq = Annotated[int, msgspec.Meta(ge=0, le=2**31 - 1)]


class Chunk(Frame, tag="chunk", frozen=True):
    """The ``seq``-th piece of the transfer's file (from 0, each in turn); ``last`` ends it."""

    transfer: TransferId
    seq: Seq
    data: Annotated[bytes, msgspec.Meta(max_length=CHUNK_MAX)]
    last: bool = False


class ChunkAck(Frame, tag="chunk_ack", frozen=True):
    """From the receiver: every chunk before ``next`` is stored, so the sender may run up to
    ``wamc.wire.transfer.WINDOW`` chunks ahead of it; with ``error``, the receiver gave the
    transfer up (the reason, safe to log) and the sender stops."""

    transfer: TransferId
    next: Seq
    error: Annotated[str, msgspec.Meta(max_length=256)] | None = None


WorkerFrame = Hello | Heartbeat | Event | Reply | Chunk | ChunkAck
DaemonFrame = Welcome | Who | Heartbeat | Ack | Request | Chunk | ChunkAck

AnyFrame = TypeVar("AnyFrame", WorkerFrame, DaemonFrame)

_encoder = msgspec.msgpack.Encoder()
_from_worker: msgspec.msgpack.Decoder[WorkerFrame] = msgspec.msgpack.Decoder(WorkerFrame)
_from_daemon: msgspec.msgpack.Decoder[DaemonFrame] = msgspec.msgpack.Decoder(DaemonFrame)


def encode(frame: Frame) -> bytes:
    return _encoder.encode(frame)


def encode_into(frame: Frame, buffer: bytearray) -> None:
    """``frame`` encoded into ``buffer`` (resized to fit): a sender of many chunks reuses one."""
    _encoder.encode_into(frame, buffer)


def raw(value: Any) -> msgspec.Raw:
    """``value`` encoded, for an Event's ``data`` or a Reply's ``result``."""
    return msgspec.Raw(_encoder.encode(value))


def decode_raw(value: msgspec.Raw, kind: Any = Any) -> Any:
    """An encoded field decoded as ``kind``; WireError when it is not one."""
    try:
        return msgspec.msgpack.decode(value, type=kind)
    except msgspec.ValidationError as exc:
        raise WireError(f"invalid value: {str(exc)[:200]}") from None
    except Exception as exc:
        raise WireError(f"undecodable value: {type(exc).__name__}") from None


def _decode(decoder: msgspec.msgpack.Decoder[AnyFrame], raw: bytes) -> AnyFrame:
    if len(raw) > FRAME_CAP:
        raise WireError(f"frame of {len(raw)} bytes is over the {FRAME_CAP}-byte cap")
    try:
        frame = decoder.decode(raw)
    except msgspec.ValidationError as exc:
        raise WireError(f"invalid frame: {str(exc)[:200]}") from None
    except Exception as exc:  # DecodeError, RecursionError (deep nesting), MemoryError …
        raise WireError(f"undecodable frame: {type(exc).__name__}") from None
    if frame.v != VERSION:
        raise WireError(f"protocol version {frame.v!r} != {VERSION}")
    return frame


def decode_from_worker(raw: bytes) -> WorkerFrame:
    return _decode(_from_worker, raw)


def decode_from_daemon(raw: bytes) -> DaemonFrame:
    return _decode(_from_daemon, raw)


def payload_of(ev: Event) -> W.Payload:
    """Decode an event's encoded ``data`` straight into the payload type its name has in
    :data:`wamc.wire.events.VOCABULARY`; raises only :class:`~wamc.wire.events.PayloadError`
    (the event is then kept as a dead event: a bad payload is not a bad frame)."""
    kind = W.PAYLOADS.get(ev.name)
    if kind is None:
        raise W.PayloadError(f"unknown event {ev.name[:64]!r}")
    try:
        return msgspec.msgpack.decode(ev.data, type=kind)
    except msgspec.ValidationError as exc:
        raise W.PayloadError(f"{ev.name}: {str(exc)[:200]}") from None
    except Exception as exc:  # not msgpack, absurd nesting, …
        raise W.PayloadError(f"{ev.name}: {type(exc).__name__}") from None
