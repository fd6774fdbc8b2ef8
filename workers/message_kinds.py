"""The parts of a page message beyond its text, checked like the rest (workers/page_events.py):
the quoted message's id, and what a location, contact card, poll or notification carries.

Anything of the wrong shape is left out (the message itself is kept): a page can send a broken
poll, it cannot stop the message or the worker."""

from __future__ import annotations

import math
from typing import Any

ID_MAX = 512
SHORT_MAX = 256
VCARD_MAX = 16 * 1024  # characters of one card
CARDS_MAX = 64 * 1024  # characters of all the cards of one message
CONTACTS_MAX = 50
OPTIONS_MAX = 64
RECIPIENTS_MAX = 1024


def _id(value: Any) -> str | None:
    return value if isinstance(value, str) and 0 < len(value) <= ID_MAX else None


def _short(value: Any, limit: int = SHORT_MAX) -> str | None:
    return value[:limit] if isinstance(value, str) else None


def _number(value: Any, bound: float) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    number = float(value)
    return number if math.isfinite(number) and -bound <= number <= bound else None


def _location(d: Any) -> dict[str, Any] | None:
    if not isinstance(d, dict):
        return None
    lat, lng = _number(d.get("latitude"), 90), _number(d.get("longitude"), 180)
    if lat is None or lng is None:
        return None
    place: dict[str, Any] = {"latitude": lat, "longitude": lng}
    for key in ("name", "address"):
        place[key] = _short(d.get(key))
    place["url"] = _short(d.get("url"), 2048)
    return place


def _contacts(items: Any) -> list[dict[str, Any]] | None:
    if not isinstance(items, list):
        return None
    cards, total = [], 0
    for card in items[:CONTACTS_MAX]:
        if isinstance(card, dict) and isinstance(card.get("vcard"), str):
            text = card["vcard"][: min(VCARD_MAX, CARDS_MAX - total)]
            total += len(text)
            cards.append({"name": _short(card.get("name")), "vcard": text})
    return cards or None


def _poll(d: Any) -> dict[str, Any] | None:
    if not isinstance(d, dict):
        return None
    options = d.get("options")
    names = (
        [o[:SHORT_MAX] for o in options[:OPTIONS_MAX] if isinstance(o, str)]
        if isinstance(options, list)
        else []
    )
    count = d.get("selectable_count")
    ok = isinstance(count, int) and not isinstance(count, bool) and 0 <= count <= OPTIONS_MAX
    return {
        "name": _short(d.get("name"), 4096) or "",
        "options": names,
        "selectable_count": count if ok else 0,
    }


def _system(d: Any) -> dict[str, Any] | None:
    if not isinstance(d, dict):
        return None
    raw = d.get("recipients")
    ids = [i for i in (_id(r) for r in raw[:RECIPIENTS_MAX]) if i] if isinstance(raw, list) else []
    return {"subtype": _short(d.get("subtype"), 64), "recipients": ids}


SHAPES = {"location": _location, "contacts": _contacts, "poll": _poll, "system": _system}
KIND_KEYS = ("quoted_id", *SHAPES)  # all a message's parts this module reads (never its text)


def kinds(d: dict[str, Any]) -> dict[str, Any]:
    """``quoted_id`` and the kind-specific parts a message has, checked; absent ones left out."""
    out: dict[str, Any] = {"quoted_id": _id(d.get("quoted_id"))}
    for key, shape in SHAPES.items():
        if d.get(key) is not None:
            part = shape(d[key])
            if part is not None:
                out[key] = part
    return out


def parts_size(data: dict[str, Any]) -> int:
    """Characters in a clean message's parts (for the page gate's memory bound)."""
    size = 0
    for key in KIND_KEYS[1:]:
        part = data.get(key)
        items = part if isinstance(part, list) else [part] if isinstance(part, dict) else []
        for item in items:
            for value in item.values():
                values = value if isinstance(value, list) else [value]
                size += sum(len(v) for v in values if isinstance(v, str))
    return size
