"""The page boundary's pure parts: the navigation origin check, the event shapes, the pacing."""

from __future__ import annotations

import math
from typing import Any

import pytest

from workers.browser import allowed_location
from workers.page_events import TEXT_MAX, Dropped, clean
from workers.page_gate import PageGate

WA = "https://web.whatsapp.com/"


@pytest.mark.parametrize(
    ("url", "allowed"),
    [
        ("https://web.whatsapp.com/", True),
        ("https://web.whatsapp.com", True),
        ("https://WEB.WhatsApp.com:443/some/path?x=1#y", True),
        ("about:blank", True),
        ("https://web.whatsapp.com.evil.example/", False),  # was allowed by the prefix test
        ("https://web.whatsapp.com@evil.example/", False),
        ("https://web.whatsapp.com:8443/", False),
        ("http://web.whatsapp.com/", False),
        ("https://evil.example/https://web.whatsapp.com/", False),
        ("about:srcdoc", False),
        ("about:blank#x", False),
        ("javascript:alert(1)", False),
        ("data:text/html,hi", False),
        ("chrome-error://chromewebdata/", False),
        ("https://web.whatsapp.com:99999/", False),
        ("", False),
    ],
)
def test_navigation_is_checked_by_exact_origin(url: str, allowed: bool) -> None:
    assert allowed_location(url, WA) is allowed


def test_origin_check_with_a_port_and_ip() -> None:
    sim = "http://127.0.0.1:4100/"
    assert allowed_location("http://127.0.0.1:4100/sim/frame", sim)
    assert not allowed_location("http://127.0.0.1:4101/", sim)
    assert not allowed_location("http://127.0.0.1/", sim)
    assert not allowed_location("http://127.0.0.1.evil.example:4100/", sim)
    assert not allowed_location("https://web.whatsapp.com/", "not a url")


def message(**over: Any) -> dict[str, Any]:
    base = {"id": "false_1@c.us_A", "chat_id": "1@c.us", "body": "hi", "timestamp": 1700000000}
    return {**base, **over}


def test_message_types_are_coerced() -> None:
    name, data = clean(
        "message",
        message(from_me="true", ack="3", timestamp=1.7e12, type=5, body=12, junk={"x": 1}),
    )
    assert name == "message"
    assert data["from_me"] is True and data["ack"] == 3 and data["timestamp"] == 1700000000
    assert data["type"] == "5" and data["body"] == "12"
    assert "junk" not in data and "truncated" not in data
    _, data = clean("message", message(ack=math.nan, timestamp="now", from_me=[], body=None))
    assert (data["ack"], data["timestamp"], data["from_me"], data["body"]) == (0, None, False, "")
    _, data = clean("message", message(ack=True, timestamp=math.inf, to=5, lid={"a": 1}))
    assert (data["ack"], data["timestamp"], data["to"], data["lid"]) == (0, None, None, None)


def test_long_bodies_are_cut_at_64_kib_of_utf8_and_flagged() -> None:
    _, data = clean("message", message(body="é" * (8 * 1024 * 1024)))
    raw = data["body"].encode()
    assert len(raw) == TEXT_MAX and data["truncated"] is True
    _, data = clean("message", message(body="x" * TEXT_MAX))
    assert len(data["body"]) == TEXT_MAX and "truncated" not in data
    _, data = clean("edit", {"id": "x", "body": "€" * TEXT_MAX})
    assert len(data["body"].encode()) <= TEXT_MAX and data["truncated"] is True
    _, data = clean("message", message(body="ok", truncated=True))  # the bridge already cut it
    assert data["truncated"] is True


@pytest.mark.parametrize(
    ("name", "data"),
    [
        ("message", message(id=None)),
        ("message", message(id=5)),
        ("message", message(chat_id=["x"])),
        ("message", message(id="x" * 10_000)),
        ("message", "not an object"),
        ("message", None),
        ("ack", {"ack": "abc", "ids": ["a"]}),
        ("ack", {"ack": 9, "ids": ["a"]}),
        ("ack", {"ack": 3, "ids": "a"}),
        ("ack", {"ack": 3, "ids": [None, 5, {}]}),
        ("unread", {"chat_id": "1@c.us", "unread": "abc"}),
        ("unread", {"chat_id": "1@c.us", "unread": -1}),
        ("unread", {"chat_id": "1@c.us", "unread": 1e300}),
        ("unread", {"chat_id": None, "unread": 1}),
        ("revoke", {"id": []}),
        ("call", {"id": {}}),
        ("presence", {"chat_id": 5}),
        ("backend_event", {"event": None}),
        ("no_such_event", {}),
        (42, {}),
        (None, None),
    ],
)
def test_malformed_events_are_dropped(name: Any, data: Any) -> None:
    with pytest.raises(Dropped):
        clean(name, data)


def test_cyclic_and_nested_data_costs_nothing() -> None:
    cyclic: dict[str, Any] = {}
    cyclic["id"] = cyclic
    cyclic["participants"] = [cyclic] * 5000
    cyclic["chat_id"] = "1@c.us"
    _, data = clean("presence", cyclic)
    assert data["participants"] == [] and data["chat_id"] == "1@c.us"
    deep: Any = "x"
    for _ in range(10_000):
        deep = [deep]
    _, data = clean("ack", {"ack": 2, "ids": ["a", deep, "b"], "chat": deep})
    assert data == {"ack": 2, "chat": None, "ids": ["a", "b"], "lid": None}
    _, data = clean("ack", {"ack": 2, "ids": [f"m{i}" for i in range(5000)]})
    assert len(data["ids"]) == 1000


def test_snapshot_fields_are_typed() -> None:
    _, snap = clean(
        "snapshot", {"ready": "yes", "authenticated": [], "qr": {"x": 1}, "mode": 5, "me": 7}
    )
    assert snap == {
        "ready": False,
        "authenticated": False,
        "mode": "5",
        "qr": None,
        "me": None,
        "idle": False,
        "reason": None,
    }


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_gate_passes_bursts_paces_the_rest_and_drops_a_flood() -> None:
    clock = Clock()
    seen: list[int] = []
    gate = PageGate(lambda _n, d: seen.append(d["n"]), rate=10, burst=5, queue=20, clock=clock)
    offered = [gate.offer("x", {"n": i}) for i in range(100)]
    assert seen == list(range(5))  # the burst at once
    assert offered.count(True) == 25 and gate.dropped == 75  # 5 delivered + 20 waiting
    for tick in range(1, 9):  # the timer's ticks during one second
        clock.now = tick / 8
        gate.drain()
    assert seen == list(range(15))  # ten a second, in order
    clock.now = 100.0
    gate.drain()
    assert seen == list(range(20))  # at most a burst at once, however long it waited
    clock.now = 101.0
    gate.drain()
    assert seen == list(range(25)) and not gate.waiting


def test_gate_bounds_the_bytes_waiting() -> None:
    gate = PageGate(lambda _n, _d: None, rate=1, burst=1, queue=1000, queue_bytes=200_000)
    body = "x" * TEXT_MAX
    results = [gate.offer("message", {"body": body}) for _ in range(10)]
    assert results[:4] == [True] * 4 and results[4:] == [False] * 6  # 1 sent, 3 waiting
    assert gate.waiting_bytes <= 200_000


def test_a_failing_consumer_does_not_stop_the_gate() -> None:
    seen: list[int] = []

    def deliver(_name: str, data: dict[str, Any]) -> None:
        if data["n"] == 1:
            raise RuntimeError("boom")
        seen.append(data["n"])

    gate = PageGate(deliver, rate=100, burst=100)
    for i in range(3):
        gate.offer("x", {"n": i})
    assert seen == [0, 2]
