"""The page boundary, Python side: every event a page sends is checked again (and paced, by
workers/page_gate.py).

The bridge (bridge.js) shapes WPP events, but it runs in the page's own world: any script of the
page can call ``__wamcEmit`` itself, with anything. So each event is checked here against the shape
the worker and the daemon expect (the bridge's limits: ids, strings cut at 64 KiB and flagged
``truncated``, integers, booleans) or dropped, and a page can feed the daemon only at a bounded
rate: bursts wait in a bounded queue, a flood beyond it is dropped and counted. Nothing here reads
deeper than the fixed shape of an event, so cyclic or deeply nested data costs nothing.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from typing import Any

from workers.media import message_media
from workers.message_kinds import KIND_KEYS, kinds

TEXT_MAX = 64 * 1024  # UTF-8 bytes of a body (or another long text)
ID_MAX = 512
SHORT_MAX = 256
QR_MAX = 4096
LIST_MAX = 1000
MAX_INT = 2**53
INT_TEXT = re.compile(r"-?\d{1,16}")


class Dropped(ValueError):
    """The event is not well formed: it is dropped (and counted), never passed on."""


class _Texts:
    """Text coercion for one event; remembers whether anything was cut."""

    def __init__(self) -> None:
        self.cut = False

    def long(self, value: Any, limit: int = TEXT_MAX) -> str | None:
        text = _as_text(value)
        if text is None or len(text) * 4 <= limit:
            return text
        raw = text.encode("utf-8", "surrogatepass")
        if len(raw) <= limit:
            return text
        self.cut = True
        return raw[:limit].decode("utf-8", "ignore")

    def short(self, value: Any, limit: int = SHORT_MAX) -> str | None:
        text = _as_text(value)
        if text is None or len(text) <= limit:
            return text
        self.cut = True
        return text[:limit]


def _as_text(value: Any) -> str | None:
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int) or (isinstance(value, float) and math.isfinite(value)):
        return str(value)
    return None


def opt_id(value: Any) -> str | None:
    return value if isinstance(value, str) and 0 < len(value) <= ID_MAX else None


def req_id(value: Any, what: str) -> str:
    found = opt_id(value)
    if found is None:
        raise Dropped(f"{what} is not an id")
    return found


def opt_int(value: Any) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, str) and INT_TEXT.fullmatch(value.strip()):
        value = int(value.strip())
    if isinstance(value, float) and math.isfinite(value):
        value = int(value)
    return value if isinstance(value, int) and -MAX_INT <= value <= MAX_INT else None


def flag(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, int | float):
        return value != 0 and not math.isnan(value)
    return value in ("true", "1")


def seconds(value: Any) -> int | None:
    n = opt_int(value)
    if n is None or n <= 0:
        return None
    return n // 1000 if n > 10**12 else n


def ack_level(value: Any, default: int | None = None) -> int | None:
    n = opt_int(value)
    return n if n is not None and -1 <= n <= 4 else default


def _list(value: Any) -> list[Any]:
    return value[:LIST_MAX] if isinstance(value, list) else []


# --- one function per bridge event: the data as the worker passes it on ----------------------
def _message(d: dict[str, Any], t: _Texts) -> dict[str, Any]:
    return {
        "id": req_id(d.get("id"), "id"),
        "chat_id": req_id(d.get("chat_id"), "chat_id"),
        "from_me": flag(d.get("from_me")),
        "from": opt_id(d.get("from")),
        "to": opt_id(d.get("to")),
        "author": opt_id(d.get("author")),
        "body": t.long(d.get("body")) or "",
        "type": t.short(d.get("type")) or "chat",
        "timestamp": seconds(d.get("timestamp")),
        "ack": ack_level(d.get("ack"), 0),
        "lid": opt_id(d.get("lid")),
        **kinds({k: d.get(k) for k in KIND_KEYS}),  # workers/message_kinds.py
        **message_media(d.get("media"), t),
    }


def _ack(d: dict[str, Any], t: _Texts) -> dict[str, Any]:
    ack = ack_level(d.get("ack"))
    if ack is None:
        raise Dropped("ack is not an integer from -1 to 4")
    ids = [i for i in (opt_id(x) for x in _list(d.get("ids"))) if i]
    if not ids:
        raise Dropped("ack without message ids")
    return {"ack": ack, "chat": opt_id(d.get("chat")), "ids": ids, "lid": opt_id(d.get("lid"))}


def _revoke(d: dict[str, Any], t: _Texts) -> dict[str, Any]:
    return {
        "id": req_id(d.get("id"), "id"),
        "chat_id": opt_id(d.get("chat_id")),
        "from_me": flag(d.get("from_me")),
        "from": opt_id(d.get("from")),
        "revoked_by": opt_id(d.get("revoked_by")),
        "type": t.short(d.get("type")) or "revoke",
        "lid": opt_id(d.get("lid")),
    }


def _edit(d: dict[str, Any], t: _Texts) -> dict[str, Any]:
    return {
        "id": req_id(d.get("id"), "id"),
        "chat_id": opt_id(d.get("chat_id")),
        "from_me": flag(d.get("from_me")),
        "from": opt_id(d.get("from")),
        "body": t.long(d.get("body")) or "",
        "edited_at": seconds(d.get("edited_at")),
        "lid": opt_id(d.get("lid")),
    }


def _reaction(d: dict[str, Any], t: _Texts) -> dict[str, Any]:
    return {
        "id": req_id(d.get("id"), "id"),
        "chat_id": opt_id(d.get("chat_id")),
        "reaction_id": opt_id(d.get("reaction_id")),
        "sender": opt_id(d.get("sender")),
        "reaction": t.short(d.get("reaction"), 64) or "",
        "timestamp": seconds(d.get("timestamp")),
        "lid": opt_id(d.get("lid")),
    }


def _unread(d: dict[str, Any], t: _Texts) -> dict[str, Any]:
    unread = opt_int(d.get("unread"))
    if unread is None or unread < 0:
        raise Dropped("unread is not a count")
    return {
        "chat_id": req_id(d.get("chat_id"), "chat_id"),
        "unread": unread,
        "lid": opt_id(d.get("lid")),
    }


def _presence(d: dict[str, Any], t: _Texts) -> dict[str, Any]:
    participants = []
    for p in _list(d.get("participants")):
        pid = opt_id(p.get("id")) if isinstance(p, dict) else None
        if pid:
            participants.append({"id": pid, "state": t.short(p.get("state"), 32)})
    return {
        "chat_id": req_id(d.get("chat_id"), "chat_id"),
        "state": t.short(d.get("state"), 32),
        "is_online": flag(d.get("is_online")),
        "is_group": flag(d.get("is_group")),
        "participants": participants,
        "lid": opt_id(d.get("lid")),
    }


def _call(d: dict[str, Any], t: _Texts) -> dict[str, Any]:
    return {
        "id": req_id(d.get("id"), "id"),
        "from": opt_id(d.get("from")),
        "is_video": flag(d.get("is_video")),
        "is_group": flag(d.get("is_group")),
        "timestamp": seconds(d.get("timestamp")),
    }


def _group_participant(d: dict[str, Any], t: _Texts) -> dict[str, Any]:
    action = t.short(d.get("action"), 32)
    if not action:
        raise Dropped("group change without an action")
    return {
        "group_id": req_id(d.get("group_id"), "group_id"),
        "action": action,
        "operation": t.short(d.get("operation"), 32),
        "author": opt_id(d.get("author")),
        "author_push_name": t.short(d.get("author_push_name")),
        "participants": [i for i in (opt_id(x) for x in _list(d.get("participants"))) if i],
    }


def _poll_vote(d: dict[str, Any], t: _Texts) -> dict[str, Any]:
    chosen = [t.short(x) for x in _list(d.get("selected"))[:64]]
    return {
        "id": req_id(d.get("id"), "id"),
        "chat_id": opt_id(d.get("chat_id")),
        "sender": opt_id(d.get("sender")),
        "selected": [x for x in chosen if x is not None],
        "timestamp": seconds(d.get("timestamp")),
        "lid": opt_id(d.get("lid")),
    }


def _snapshot(d: dict[str, Any], t: _Texts) -> dict[str, Any]:
    qr = d.get("qr")
    return {
        "ready": flag(d.get("ready")),
        "authenticated": flag(d.get("authenticated")),
        "mode": t.short(d.get("mode"), 64),
        "qr": qr if isinstance(qr, str) and 0 < len(qr) <= QR_MAX else None,
        "me": opt_id(d.get("me")),
        "idle": flag(d.get("idle")),
        "reason": t.short(d.get("reason"), 64),
    }


def _logout_reason(d: dict[str, Any], t: _Texts) -> dict[str, Any]:
    return {"reason": t.short(d.get("reason"), 128) or "unknown"}


def _backend_event(d: dict[str, Any], t: _Texts) -> dict[str, Any]:
    event = t.short(d.get("event"), 128)
    if not event:
        raise Dropped("backend_event without a name")
    return {"event": event}


def _bridge_error(d: dict[str, Any], t: _Texts) -> dict[str, Any]:
    return {"error": t.short(d.get("error"), 300) or "?", "event": t.short(d.get("event"), 64)}


SHAPES: dict[str, Callable[[dict[str, Any], _Texts], dict[str, Any]]] = {
    "message": _message,
    "ack": _ack,
    "revoke": _revoke,
    "edit": _edit,
    "reaction": _reaction,
    "unread": _unread,
    "presence": _presence,
    "call": _call,
    "group_participant": _group_participant,
    "poll_vote": _poll_vote,
    "snapshot": _snapshot,
    "logout_reason": _logout_reason,
    "backend_event": _backend_event,
    "bridge_error": _bridge_error,
}


def clean(name: Any, data: Any) -> tuple[str, dict[str, Any]]:
    """``(name, data)`` as the worker may use it; raises ``Dropped`` for anything else."""
    shape = SHAPES.get(name) if isinstance(name, str) else None
    if shape is None:
        raise Dropped(f"unknown event {str(name)[:64]!r}")
    if not isinstance(data, dict):
        raise Dropped(f"{name}: data is not an object")
    texts = _Texts()
    out = shape(data, texts)
    if texts.cut or data.get("truncated") is True:
        out["truncated"] = True
    return name, out
