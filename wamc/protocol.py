"""The one wire protocol between the daemon (ROUTER) and workers (DEALER): msgpack maps.

Every frame is one msgpack map with ``v`` (protocol version) and ``t`` (kind):

worker -> daemon
  ``hello``   {client, boot, pid, browser_pid, state}   first frame after (re)connect;
              ``boot`` is unique per worker process: delivery numbers restart with it
  ``hb``      {state, browser_pid}                             heartbeat
  ``event``   {dn, name, data}       delivery-numbered; kept by the worker until acknowledged
  ``reply``   {id, ok, result | error{code, message}}
daemon -> worker
  ``welcome`` {acked, newest}     answer to hello: highest delivery number already stored, and
                                  per chat the newest message stored (the worker backfills after it)
  ``who``     {}                  "introduce yourself": the daemon does not know this worker
  ``hb``      {}
  ``ack``     {dn}                every event up to dn is stored
  ``req``     {id, cmd, args, timeout}
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import msgpack

VERSION = 1

# Commands a worker answers.
CMD_STATUS = "status"
CMD_QR = "qr"
CMD_SEND_TEXT = "send_text"
CMD_CHATS = "chats"
CMD_MESSAGES = "messages"
CMD_LOGOUT = "logout"
CMD_STOP = "stop"
CMD_PAIRING_CODE = "pairing_code"
COMMANDS = frozenset(
    {
        CMD_STATUS,
        CMD_QR,
        CMD_SEND_TEXT,
        CMD_CHATS,
        CMD_MESSAGES,
        CMD_LOGOUT,
        CMD_STOP,
        CMD_PAIRING_CODE,
    }
)

# Events a worker emits (names of ours; the daemon maps them to public events).
EV_STATE = "state"  # {state, me, reason, error?}
EV_QR = "qr"  # {qr}
EV_MESSAGE = "message"  # message dict (see workers/bridge.js), plus "backfill": bool
EV_ACK = "ack"  # {ids: [serialized], ack, chat}
EV_REVOKE = "revoke"  # {id, chat_id, from_me, from, revoked_by, type}: id = the revoked message
EV_EDIT = "edit"  # {id, chat_id, from_me, from, body, edited_at}
EV_REACTION = "reaction"  # {id (the message), chat_id, reaction_id, sender, reaction, timestamp}
EV_UNREAD = "unread"  # {chat_id, unread}
EV_PRESENCE = "presence"  # {chat_id, state, is_online, is_group, participants}
EV_CALL = "call"  # {id, from, is_video, is_group, timestamp}


class ProtocolError(ValueError):
    pass


@dataclass(frozen=True)
class RemoteError(Exception):
    code: str
    message: str

    def __str__(self) -> str:
        return f"{self.code}: {self.message}"


def pack(kind: str, **fields: Any) -> bytes:
    return msgpack.packb({"v": VERSION, "t": kind, **fields}, use_bin_type=True)


def unpack(raw: bytes) -> dict[str, Any]:
    try:
        msg = msgpack.unpackb(raw, raw=False)
    except Exception as exc:  # msgpack raises several unrelated types
        raise ProtocolError(f"undecodable frame: {exc}") from exc
    if not isinstance(msg, dict) or "t" not in msg:
        raise ProtocolError("frame is not a message map")
    if msg.get("v") != VERSION:
        raise ProtocolError(f"protocol version {msg.get('v')!r} != {VERSION}")
    return msg


def hello(client: str, boot: str, pid: int, browser_pid: int | None, state: str) -> bytes:
    return pack("hello", client=client, boot=boot, pid=pid, browser_pid=browser_pid, state=state)


def welcome(acked: int, newest: dict[str, str] | None = None) -> bytes:
    """``newest``: chat id → id of the newest message the daemon stored (for backfill)."""
    return pack("welcome", acked=acked, newest=newest or {})


def heartbeat(**fields: Any) -> bytes:
    return pack("hb", **fields)


def event(dn: int, name: str, data: dict[str, Any]) -> bytes:
    return pack("event", dn=dn, name=name, data=data)


def ack(dn: int) -> bytes:
    return pack("ack", dn=dn)


def request(req_id: str, cmd: str, args: dict[str, Any], timeout: float) -> bytes:
    return pack("req", id=req_id, cmd=cmd, args=args, timeout=timeout)


def reply_ok(req_id: str, result: Any) -> bytes:
    return pack("reply", id=req_id, ok=True, result=result)


def reply_error(req_id: str, code: str, message: str) -> bytes:
    return pack("reply", id=req_id, ok=False, error={"code": code, "message": message})
