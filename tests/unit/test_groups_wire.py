"""Contacts and groups on the wire (issue 11): the worker's answers and the group event are typed;
a wrong shape is refused, not passed on."""

from __future__ import annotations

import msgspec
import pytest

from wamc.api.group_models import GroupCreate, ParticipantsChange
from wamc.errors import Refused
from wamc.validation import contact_id, group_id
from wamc.wire import commands as C
from wamc.wire import events as W
from wamc.wire import frames as F
from workers.groups import REFUSAL
from workers.page_events import Dropped, clean


def test_group_event_is_typed_and_checked_at_the_page_boundary() -> None:
    raw = {
        "group_id": "120363012345678901@g.us",
        "action": "add",
        "operation": "add",
        "author": "5511900000021@c.us",
        "participants": ["5511977770013@c.us", 7, None],
        "lid": None,
    }
    name, data = clean("group_participant", raw)
    assert data["participants"] == ["5511977770013@c.us"]  # not ids: left out
    p = F.payload_of(
        F.Event(dn=1, name=W.GROUP_PARTICIPANT, data=msgspec.Raw(msgspec.msgpack.encode(data)))
    )
    assert isinstance(p, W.GroupParticipantsData) and p.action == "add"
    assert W.public_name(W.GROUP_PARTICIPANT) == "group.participant_changed"
    with pytest.raises(Dropped):
        clean("group_participant", {"group_id": "x@g.us", "action": ""})
    with pytest.raises(W.PayloadError):
        F.payload_of(
            F.Event(
                dn=1,
                name=W.GROUP_PARTICIPANT,
                data=msgspec.Raw(msgspec.msgpack.encode({"action": "x"})),
            )
        )


def test_worker_answers_decode_into_their_types() -> None:
    answer = msgspec.msgpack.encode(
        {"id": "1@g.us", "participants": [{"id": "5511@c.us", "ok": False, "error": "x" * 65}]}
    )
    with pytest.raises(F.WireError):  # an error code longer than a code
        F.decode_raw(msgspec.Raw(answer), C.GroupCreated)
    contact = msgspec.msgpack.encode({"id": "5511977770011@c.us", "push_name": "Bea"})
    got = F.decode_raw(msgspec.Raw(contact), C.Contact)
    assert got.push_name == "Bea" and got.is_blocked is None and got.is_business is False
    assert C.GROUP_REFUSALS <= C.PASSTHROUGH_ERRORS


def test_ids_and_bodies() -> None:
    assert group_id("5511999999999-1600000000@g.us")
    for bad in ("120363@g.us\n", "x@g.us", "5511999999999@c.us", "1@g.us@g.us"):
        with pytest.raises(Refused):
            group_id(bad)
    assert contact_id("+55 (11) 97777-0011") == "5511977770011@c.us"
    assert contact_id("123456789012345@lid") == "123456789012345@lid"
    with pytest.raises(Refused):
        contact_id("5511@g.us")
    body = GroupCreate.model_validate(
        {"name": " Team ", "participants": ["5511977770011", "+5511977770011"]}
    )
    assert body.name == "Team" and body.participants == ["5511977770011@c.us"]  # deduplicated
    assert ParticipantsChange.model_validate({}).add == []
    found = REFUSAL.search(
        "page.evaluate: Error: wamc:not_group_admin: not an admin of 1@g.us\n at x"
    )
    assert found is not None and found.group(1) == "not_group_admin"
