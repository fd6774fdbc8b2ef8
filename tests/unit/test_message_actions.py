"""Pure parts of the message actions (issue 11): the message id pattern, the wire types, the
bridge's refusals, the page boundary for message kinds, and the stored replies and kinds."""

from __future__ import annotations

import math
from pathlib import Path

import msgspec
import pytest

from wamc.errors import Refused
from wamc.storage import Database
from wamc.storage import messages as message_rows
from wamc.validation import SendMessage, message_id
from wamc.wire import commands as C
from wamc.wire import events as W
from wamc.wire import frames as F
from workers.message_kinds import KIND_KEYS, kinds, parts_size
from workers.page_calls import refusal_of

GROUP_MSG = "false_120363041234567890@g.us_3EB0ABCDEF_5511988887777@c.us"


@pytest.mark.parametrize(
    "good",
    [
        "true_5511988887777@c.us_3EB0ABCDEF0123456789",
        "false_123456789012345@lid_ABCDEF",
        GROUP_MSG,
        "false_5511999-1600000000@g.us_3EB0AB_123456789012345@lid",
    ],
)
def test_message_ids_of_every_chat_kind_are_accepted(good: str) -> None:
    assert message_id(good) == good


@pytest.mark.parametrize(
    "bad",
    [
        "recent",
        "",
        "maybe_5511988887777@c.us_3EB0",
        "true_5511988887777@c.us_3EB0\n",
        "true_5511988887777@c.us_",
        "true_5511988887777@example.com_3EB0",
        "true_5511988887777@c.us_3EB0_x",
        "true_" + "1" * 65 + "@c.us_3EB0",
    ],
)
def test_anything_else_is_invalid_message_id(bad: str) -> None:
    with pytest.raises(Refused) as err:
        message_id(bad)
    assert err.value.code == "invalid_message_id" and err.value.field == "msgId"


def test_reply_to_uses_the_same_pattern() -> None:
    assert SendMessage(to="5511988887777", text="x", reply_to=GROUP_MSG).reply_to == GROUP_MSG
    with pytest.raises(ValueError):
        SendMessage(to="5511988887777", text="x", reply_to="recent")


def test_wire_results_and_payloads() -> None:
    done = msgspec.msgpack.decode(
        msgspec.msgpack.encode({"id": GROUP_MSG, "deleted_for": "me"}), type=C.Done
    )
    assert done == C.Done(id=GROUP_MSG, deleted_for="me")
    raw = msgspec.msgpack.encode(
        {
            "id": "false_5511@c.us_A",
            "chat_id": "5511@c.us",
            "quoted_id": "true_5511@c.us_B",
            "location": {"latitude": 1.5, "longitude": -2.5, "name": "here"},
            "poll": {"name": "?", "options": ["a", "b"], "selectable_count": 1},
        }
    )
    m = F.payload_of(F.Event(dn=1, name=W.MESSAGE, data=msgspec.Raw(raw)))
    assert isinstance(m, W.MessageData) and m.quoted_id == "true_5511@c.us_B"
    assert m.location == W.Location(latitude=1.5, longitude=-2.5, name="here")
    assert m.poll is not None and m.poll.options == ["a", "b"] and m.contacts is None
    bad = msgspec.msgpack.encode({"id": "x", "chat_id": "y", "location": {"latitude": 91.0}})
    with pytest.raises(W.PayloadError):
        F.payload_of(F.Event(dn=1, name=W.MESSAGE, data=msgspec.Raw(bad)))
    assert W.public_name(W.DELETED) == "message.deleted"
    assert {"not_on_whatsapp", "edit_window_passed", "not_own_message"} <= C.PASSTHROUGH_ERRORS


def test_bridge_refusals_are_read_out_of_playwright_errors() -> None:
    text = "Error: wamc:not_on_whatsapp: 5511999@c.us is not on WhatsApp\n    at api.sendText"
    assert refusal_of(text) == ("not_on_whatsapp", "5511999@c.us is not on WhatsApp")
    assert refusal_of("Error: wamc:edit_window_passed:") == (
        "edit_window_passed",
        "edit_window_passed",
    )
    assert refusal_of("Error: wamc:internal_error: a page lying about codes") is None
    assert refusal_of("TypeError: x is undefined") is None


def test_message_kinds_keep_what_is_well_formed_and_drop_the_rest() -> None:
    good = kinds(
        {
            "quoted_id": "true_5511@c.us_B",
            "location": {"latitude": 10, "longitude": 20.5, "name": "n", "url": 5},
            "contacts": [{"name": "Ana", "vcard": "BEGIN:VCARD"}, {"vcard": 7}, "junk"],
            "poll": {"name": "p", "options": ["a", 3, "b"], "selectable_count": True},
            "system": {"subtype": "add", "recipients": ["1@c.us", 5, "x" * 600]},
        }
    )
    assert good == {
        "quoted_id": "true_5511@c.us_B",
        "location": {
            "latitude": 10.0,
            "longitude": 20.5,
            "name": "n",
            "address": None,
            "url": None,
        },
        "contacts": [{"name": "Ana", "vcard": "BEGIN:VCARD"}],
        "poll": {"name": "p", "options": ["a", "b"], "selectable_count": 0},
        "system": {"subtype": "add", "recipients": ["1@c.us"]},
    }
    junk = kinds(
        {
            "quoted_id": 5,
            "location": {"latitude": math.nan, "longitude": 1},
            "contacts": [{"vcard": None}],
            "poll": "a poll",
            "system": [],
        }
    )
    assert junk == {"quoted_id": None}
    assert set(KIND_KEYS) == {"quoted_id", *W.KIND_FIELDS}
    # The page gate counts what the parts hold; many cards are capped as a whole.
    assert parts_size(good) == len("nadd1@c.us") + len("AnaBEGIN:VCARD") + len("pab")
    cards = kinds({"contacts": [{"vcard": "x" * 20_000} for _ in range(50)]})
    assert sum(len(c["vcard"]) for c in cards["contacts"]) == 64 * 1024
    assert parts_size(cards) == 64 * 1024


async def test_replies_and_kinds_are_stored_and_deleted_for_me(tmp_path: Path) -> None:
    db = Database(tmp_path / "t.db")
    await db.open()
    try:
        row = {
            "id": "false_5511@c.us_A",
            "chat_id": "5511@c.us",
            "body": "Sé",
            "type": "location",
            "timestamp": 100,
            "quoted_id": "true_5511@c.us_B",
            "details": {"location": {"latitude": 1.0, "longitude": 2.0}},
        }
        assert await message_rows.add(db, "acme", row)
        [(_, stored)] = await message_rows.page(db, "acme", "5511@c.us", 10, None)
        assert stored["quoted_id"] == "true_5511@c.us_B"
        assert stored["location"] == {"latitude": 1.0, "longitude": 2.0}
        assert await message_rows.stored_type(db, "acme", row["id"]) == "location"
        assert await message_rows.forget(db, "acme", row["id"])
        assert await message_rows.stored_type(db, "acme", row["id"]) is None
        assert not await message_rows.forget(db, "acme", row["id"])
    finally:
        await db.close()
