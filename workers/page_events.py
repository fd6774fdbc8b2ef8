"""The page boundary, Python side: every event a page sends is checked again, and paced.

The bridge (bridge.js) shapes WPP events, but it runs in the page's own world: any script of the
page can call ``__wamcEmit`` itself, with anything. So each event is checked here against the shape
the worker and the daemon expect (the bridge's limits: ids, strings cut at 64 KiB and flagged
``truncated``, integers, booleans) or dropped, and a page can feed the daemon only at a bounded
rate: bursts wait in a bounded queue, a flood beyond it is dropped and counted. Nothing here reads
deeper than the fixed shape of an event, so cyclic or deeply nested data costs nothing.
"""

from __future__ import annotations

import asyncio
import math
import re
import time
from collections import deque
from collections.abc import Callable
from typing import Any

from loguru import logger

from workers.media import message_media

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


def size_of(data: dict[str, Any]) -> int:
    """Rough memory of a clean event: its texts (the only parts that can be large)."""
    nested = [x for v in data.values() if isinstance(v, dict) for x in v.values()]  # media
    return 256 + sum(len(v) for v in [*data.values(), *nested] if isinstance(v, str))


class PageGate:
    """Paces a page's events: ``rate`` per second with bursts of ``burst``; up to ``queue`` events
    (``queue_bytes`` of text) wait their turn, in order; beyond that they are dropped and counted.
    A page emitting thousands of events a second then costs the daemon at most ``rate``."""

    def __init__(
        self,
        deliver: Callable[[str, dict[str, Any]], None],
        rate: float = 100.0,
        burst: int = 500,
        queue: int = 2000,
        queue_bytes: int = 16 * 1024 * 1024,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.deliver = deliver
        self.rate = rate
        self.burst = burst
        self.queue_max = queue
        self.queue_bytes_max = queue_bytes
        self.clock = clock
        self.tokens = float(burst)
        self.stamp = clock()
        self.waiting: deque[tuple[str, dict[str, Any], int]] = deque()
        self.waiting_bytes = 0
        self.dropped = 0
        self.delivered = 0
        self._timer: asyncio.TimerHandle | None = None
        self._last_report = 0.0

    def offer(self, name: str, data: dict[str, Any]) -> bool:
        """Take a clean event: delivered now, queued, or dropped (False)."""
        size = size_of(data)
        full = len(self.waiting) >= self.queue_max
        if full or self.waiting_bytes + size > self.queue_bytes_max:
            self.dropped += 1
            self._report()
            return False
        self.waiting.append((name, data, size))
        self.waiting_bytes += size
        self.drain()
        return True

    def drain(self) -> None:
        now = self.clock()
        self.tokens = min(float(self.burst), self.tokens + (now - self.stamp) * self.rate)
        self.stamp = now
        while self.waiting and self.tokens >= 1.0:
            self.tokens -= 1.0
            name, data, size = self.waiting.popleft()
            self.waiting_bytes -= size
            self.delivered += 1
            try:
                self.deliver(name, data)
            except Exception as exc:  # one bad event must not stop the others
                logger.opt(exception=exc).error("page event {} failed", name)
        if self.waiting and self._timer is None:
            with _no_loop():
                loop = asyncio.get_running_loop()
                self._timer = loop.call_later((1.0 - self.tokens) / self.rate, self._tick)

    def _tick(self) -> None:
        self._timer = None
        self.drain()

    def close(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        self.waiting.clear()
        self.waiting_bytes = 0

    def _report(self) -> None:
        now = self.clock()
        if now - self._last_report >= 10.0:
            self._last_report = now
            logger.warning(
                "page floods events: {} dropped so far ({} waiting, {}/s allowed)",
                self.dropped,
                len(self.waiting),
                self.rate,
            )


class _no_loop:
    """Outside a running loop (unit tests) queued events wait for the next ``drain``."""

    def __enter__(self) -> None:
        return None

    def __exit__(self, exc_type: Any, exc: Any, tb: Any) -> bool:
        return exc_type is RuntimeError


class Throttled:
    """Counts something bad and logs it at most every ``every`` seconds (with the count)."""

    def __init__(self, what: str, every: float = 10.0) -> None:
        self.what = what
        self.every = every
        self.count = 0
        self._last = -math.inf

    def hit(self, detail: str) -> None:
        self.count += 1
        now = time.monotonic()
        if now - self._last >= self.every:
            self._last = now
            logger.warning("{} ({} so far): {}", self.what, self.count, detail)
