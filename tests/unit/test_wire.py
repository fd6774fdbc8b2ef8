"""The daemon⇄worker wire: typed frames, strict payloads, nothing but WireError/PayloadError."""

from __future__ import annotations

import contextlib
import time

import msgpack
import msgspec
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from wamc.wire import events as W
from wamc.wire import frames as F


def payload(name: str, data: msgspec.Raw) -> W.Payload:
    return F.payload_of(F.Event(dn=1, name=name, data=data))


def test_roundtrip_both_ways() -> None:
    ev = F.Event(dn=7, name=W.MESSAGE, data=F.raw({"id": "x", "chat_id": "c", "body": "é"}))
    back = F.decode_from_worker(F.encode(ev))
    assert back == ev and F.payload_of(back).body == "é"  # type: ignore[union-attr]
    req = F.Request(id="r1", cmd="status", args={}, timeout=5.0)
    assert F.decode_from_daemon(F.encode(req)) == req
    # The tag and version are plain map keys (any msgpack peer can speak it).
    assert msgpack.unpackb(F.encode(F.Ack(dn=3))) == {"t": "ack", "dn": 3, "v": 1}


@pytest.mark.parametrize(
    "raw",
    [
        msgpack.packb({"v": 99, "t": "hb"}),  # another version
        b"\xc1garbage",  # not msgpack
        msgpack.packb([1, 2]),  # not a map
        msgpack.packb({"v": 1, "t": "req", "id": "x", "cmd": "stop"}),  # daemon's kind
        msgpack.packb({"v": 1, "t": "reply", "id": "x", "ok": False, "error": "boom"}),
        msgpack.packb({"v": 1, "t": "event", "dn": -1, "name": "x", "data": {}}),
        msgpack.packb({"v": 1, "t": "hello", "client": "a", "boot": "b", "pid": "1", "state": "s"}),
        msgpack.packb({"v": 1, "t": "hb", "browser_pid": 2**40}),
        b"\x85\xa1v\x01\xa1t\xa5event\xa2dn\x01\xa4name\xa1x\xa4data\x81\xa1a"
        + b"\x91" * 200_000
        + b"\x00",  # nesting deep enough to overflow a recursive decoder
        b"\x00" * (F.FRAME_CAP + 1),
    ],
)
def test_bad_frames_raise_only_wire_error(raw: bytes) -> None:
    with pytest.raises(F.WireError):
        F.decode_from_worker(raw)


@given(st.binary(max_size=512))
@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow])
def test_random_bytes_never_raise_anything_else(raw: bytes) -> None:
    with contextlib.suppress(F.WireError):
        F.decode_from_worker(raw)


def test_unread_with_a_string_count_is_refused() -> None:
    """The isolation issue's first finding: unreadCount "abc" must not reach ingestion."""
    with pytest.raises(W.PayloadError, match="unread"):
        payload(W.UNREAD, F.raw({"chat_id": "1@c.us", "unread": "abc"}))
    ok = payload(W.UNREAD, F.raw({"chat_id": "1@c.us", "unread": 3}))
    assert ok == W.UnreadData(chat_id="1@c.us", unread=3)


def test_payloads_keep_wire_names_and_refuse_unknown_events() -> None:
    m = payload(W.MESSAGE, F.raw({"id": "a", "chat_id": "c", "from": "x@c.us", "x": 1}))
    assert isinstance(m, W.MessageData) and m.from_ == "x@c.us"
    assert W.to_dict(payload(W.CALL, F.raw({"id": "c1", "from": "y"})))["from"] == "y"
    with pytest.raises(W.PayloadError, match="unknown event"):
        payload("nope", F.raw({}))
    with pytest.raises(W.PayloadError):
        payload(W.MESSAGE, F.raw({"id": "a", "chat_id": "c", "body": "x" * 70_000}))


def test_junk_in_a_payload_costs_a_scan_not_a_tree() -> None:
    """2 MiB of nested empty lists under an unknown key: skipped by the typed decoder."""
    n = F.FRAME_CAP - 200
    junk = b"\x83" + b"".join(msgpack.packb(x) for x in ("id", "a", "chat_id", "c", "k"))
    junk += b"\xdd" + n.to_bytes(4, "big") + b"\x90" * n
    started = time.perf_counter()
    m = payload(W.MESSAGE, msgspec.Raw(junk))
    assert isinstance(m, W.MessageData) and m.id == "a"
    assert time.perf_counter() - started < 0.1


def test_the_vocabulary_names_each_event_once_and_the_worker_checks_what_it_forwards() -> None:
    from workers.page_events import SHAPES

    names = [e.name for e in W.VOCABULARY]
    assert len(names) == len(set(names)) and set(W.PAYLOADS) == set(names)
    assert W.FORWARDED == {
        "ack": W.ACK,
        "revoke": W.REVOKE,
        "edit": W.EDIT,
        "reaction": W.REACTION,
        "unread": W.UNREAD,
        "presence": W.PRESENCE,
        "call": W.CALL,
        "group_participant": W.GROUP_PARTICIPANT,
        "poll_vote": W.POLL_VOTE,
    }
    assert set(W.FORWARDED) <= set(SHAPES)  # every forwarded page event is checked first
    assert W.public_name(W.REVOKE) == "message.revoked"
    with pytest.raises(KeyError):
        W.public_name(W.DROPPED)  # recorded as dead, never published


def test_poll_vote_payload() -> None:
    vote = payload(
        W.POLL_VOTE,
        F.raw({"id": "true_1@c.us_A", "sender": "2@c.us", "selected": ["Yes"], "timestamp": 5}),
    )
    assert isinstance(vote, W.PollVoteData) and vote.selected == ["Yes"]
    assert W.public_name(W.POLL_VOTE) == "poll.vote"
    with pytest.raises(W.PayloadError):
        payload(W.POLL_VOTE, F.raw({"id": "x", "selected": ["o"] * 65}))
