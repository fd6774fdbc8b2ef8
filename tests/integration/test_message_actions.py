"""Replies, reactions, read, typing, edits, deletes, locations, contact cards and the incoming
kinds (issue 11, items 3-5), end to end through HTTP: real daemon, worker, Chromium, the simulator
as WhatsApp (its state read back through /control/chat).

One daemon and one linked client serve every test of this module (they run in order and each
uses its own contact, so they do not step on each other), to keep the suite fast.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

import aiohttp
import pytest
import pytest_asyncio

from tests.integration.test_core_flow import EventLog
from tests.support import Daemon, SimControl, running_simulator, wait_for

pytestmark = pytest.mark.asyncio(loop_scope="module")

PHONE_A = "5511900000051"  # the client's own number
C = "/api/clients/acme"


@dataclass
class Env:
    daemon: Daemon
    sim: SimControl
    log: EventLog


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def env(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Env]:
    home = tmp_path_factory.mktemp("actions") / "home"
    home.mkdir()
    async with running_simulator() as sim, aiohttp.ClientSession() as session:
        sim_http = SimControl(sim, session)
        daemon = Daemon(home, sim, {"WAMC_SEND_INTERVAL": "0", "WAMC_SEND_JITTER": "0"})
        try:
            await daemon.start()
            async with EventLog(daemon, "clients=acme") as log:
                await daemon.connect_scanned(sim_http, "acme", PHONE_A)
                yield Env(daemon, sim_http, log)
        finally:
            await daemon.close()


def msg_path(msg_id: str, tail: str = "") -> str:
    return f"{C}/messages/{quote(msg_id, safe='')}{tail}"


async def event(env: Env, name: str, what: str, **match: Any) -> dict[str, Any]:
    """The data of acme's first ``name`` event whose data has all of ``match``."""
    return await event_of(env.log, "acme", name, what, **match)


async def event_of(
    log: EventLog, client: str, name: str, what: str, **match: Any
) -> dict[str, Any]:
    def probe() -> list[dict[str, Any]]:
        return [
            e["data"]
            for e in log.named(name, client)
            if all(e["data"].get(k) == v for k, v in match.items())
        ]

    return (await wait_for(probe, timeout=30, what=what))[0]


async def history(env: Env, chat: str) -> dict[str, dict[str, Any]]:
    code, body = await env.daemon.call("GET", f"{C}/chats/{chat}/messages")
    assert code == 200, body
    return {m["id"]: m for m in body["messages"]}


async def chat_state(env: Env, other: str) -> dict[str, Any]:
    code, body = await env.sim.call("GET", f"/control/chat?phone={PHONE_A}&with={other}")
    assert code == 200, body
    return body


async def send(env: Env, to: str, text: str, **extra: Any) -> tuple[int, Any]:
    body = {"to": to, "text": text, **extra}
    return await env.daemon.call("POST", f"{C}/send-message", json=body)


async def incoming(env: Env, sender: str, **spec: Any) -> str:
    """A message of any kind from ``sender``, once its ``message`` event is out."""
    msg_id = (await env.sim.post("/control/incoming", {"to": PHONE_A, "from": sender, **spec}))[
        "id"
    ]
    await event(env, "message", f"the {spec.get('type', 'chat')} message", id=msg_id)
    return msg_id


def problem(code: int, body: Any, status: int, name: str) -> None:
    assert code == status and body["code"] == name, (code, body)


async def test_replies_are_stored_with_the_quoted_id(env: Env) -> None:
    x = "5511977770051"
    chat = f"{x}@c.us"
    question = await env.sim.deliver(PHONE_A, x, "which one?")
    await event(env, "message", "the question", id=question)

    code, sent = await send(env, x, "the blue one", reply_to=question)
    assert code == 201, sent
    mine = await event(env, "message", "our reply", id=sent["id"])
    assert mine["quoted_id"] == question and mine["body"] == "the blue one"
    assert (await history(env, chat))[sent["id"]]["quoted_id"] == question
    record = next(r for r in (await chat_state(env, x))["sent"] if r["body"] == "the blue one")
    assert record["extra"]["quotedStanzaID"] == question.rsplit("_", 1)[1]

    # The contact replies to our reply: the quoted id is ours (true_…).
    answer = await incoming(env, x, body="great", quoted_id=sent["id"])
    theirs = await event(env, "message", "their reply", id=answer)
    assert theirs["quoted_id"] == sent["id"] and theirs["from_me"] is False
    kept = await history(env, chat)
    assert kept[answer]["quoted_id"] == sent["id"] and kept[question]["quoted_id"] is None

    problem(*await send(env, x, "?", reply_to="not-an-id"), 400, "invalid_field")
    gone = f"false_{chat}_3EB0000000000000DEAD"
    problem(*await send(env, x, "?", reply_to=gone), 404, "message_not_found")


async def test_reactions_both_ways(env: Env) -> None:
    x = "5511977770052"
    theirs = await env.sim.deliver(PHONE_A, x, "lunch?")
    await event(env, "message", "their message", id=theirs)

    code, body = await env.daemon.call("POST", msg_path(theirs, "/reaction"), json={"emoji": "👍"})
    assert code == 200 and body == {"id": theirs, "emoji": "👍", "client": "acme"}, body
    ours = await event(env, "message.reaction", "our reaction", id=theirs, reaction="👍")
    assert ours["sender"] == f"{PHONE_A}@c.us" and ours["chat_id"] == f"{x}@c.us"
    assert (await chat_state(env, x))["reactions"] == {theirs: "👍"}

    code, body = await env.daemon.call("POST", msg_path(theirs, "/reaction"), json={"emoji": ""})
    assert code == 200 and body["emoji"] == "", body
    await event(env, "message.reaction", "our reaction removed", id=theirs, reaction="")
    assert (await chat_state(env, x))["reactions"] == {}

    # The other direction: the contact reacts to our message.
    code, sent = await send(env, x, "yes!")
    assert code == 201, sent
    await env.sim.post(
        "/control/reaction", {"phone": PHONE_A, "id": sent["id"], "reaction": "🎉", "from": x}
    )
    back = await event(env, "message.reaction", "their reaction", id=sent["id"])
    assert back["reaction"] == "🎉" and back["sender"] == f"{x}@c.us"

    unknown = f"false_{x}@c.us_3EB00000000000000BAD"
    code, body = await env.daemon.call("POST", msg_path(unknown, "/reaction"), json={"emoji": "👍"})
    problem(code, body, 404, "message_not_found")
    code, body = await env.daemon.call("POST", msg_path("recent", "/reaction"), json={"emoji": "x"})
    problem(code, body, 400, "invalid_message_id")
    code, body = await env.daemon.call("GET", f"{C}/messages/recent")
    assert code == 200 and body["messages"], body  # the pattern keeps /messages/recent apart


async def test_every_action_needs_the_send_scope(env: Env) -> None:
    x = "5511977770057"
    theirs = await env.sim.deliver(PHONE_A, x, "scoped")
    await event(env, "message", "their message", id=theirs)
    code, made = await env.daemon.call("POST", f"{C}/tokens", json={"scopes": ["read"]})
    assert code == 201, made
    reader = {"X-Api-Key": made["token"]}
    calls = [
        ("POST", msg_path(theirs, "/reaction"), {"emoji": "👍"}),
        ("PATCH", msg_path(theirs), {"text": "x"}),
        ("DELETE", msg_path(theirs), None),
        ("POST", f"{C}/chats/{x}@c.us/read", None),
        ("POST", f"{C}/chats/{x}@c.us/typing", {"state": "typing"}),
        ("POST", f"{C}/send-location", {"to": x, "latitude": 1, "longitude": 2}),
        ("POST", f"{C}/send-contact", {"to": x, "contacts": [{"id": x}]}),
    ]
    for method, path, body in calls:
        code, answer = await env.daemon.call(method, path, json=body, headers=reader)
        problem(code, answer, 403, "forbidden")
    assert (await chat_state(env, x))["read"] == []  # nothing reached WhatsApp


async def test_read_and_typing_reach_whatsapp(env: Env) -> None:
    y = "5511977770053"
    chat = f"{y}@c.us"
    ids = [await env.sim.deliver(PHONE_A, y, f"ping {i}") for i in range(2)]
    await event(env, "chat.unread", "two unread", chat_id=chat, unread=2)

    code, body = await env.daemon.call("POST", f"{C}/chats/{chat}/read")
    assert code == 200 and body["chat_id"] == chat, body
    bare = [i.rsplit("_", 1)[1] for i in ids]
    await wait_for(lambda: _read(env, y, bare), timeout=30, what="read receipts at the phone")
    await event(env, "chat.unread", "unread back to 0", chat_id=chat, unread=0)

    for state, seen in (("typing", "composing"), ("recording", "recording"), ("paused", "paused")):
        code, body = await env.daemon.call(
            "POST", f"{C}/chats/{chat}/typing", json={"state": state}
        )
        assert code == 200 and body["state"] == state, body

        async def shown(seen: str = seen) -> bool:
            return (await chat_state(env, y))["chatstate"] == seen

        await wait_for(shown, timeout=30, what=f"{seen} at the contact")

    code, body = await env.daemon.call("POST", f"{C}/chats/{chat}/typing", json={"state": "x"})
    problem(code, body, 400, "invalid_field")
    stranger = "5511977770099@c.us"  # no chat with this number
    problem(*await env.daemon.call("POST", f"{C}/chats/{stranger}/read"), 404, "chat_not_found")
    code, body = await env.daemon.call(
        "POST", f"{C}/chats/{stranger}/typing", json={"state": "typing"}
    )
    problem(code, body, 404, "chat_not_found")


async def _read(env: Env, other: str, ids: list[str]) -> bool:
    return (await chat_state(env, other))["read"] == ids


async def test_edit_and_delete_follow_in_history_and_events(env: Env) -> None:
    x = "5511977770054"
    chat = f"{x}@c.us"
    code, sent = await send(env, x, "draft")
    assert code == 201, sent
    mine = sent["id"]
    theirs = await env.sim.deliver(PHONE_A, x, "not yours")
    await event(env, "message", "their message", id=theirs)

    code, body = await env.daemon.call("PATCH", msg_path(mine), json={"text": "final"})
    assert code == 200 and body["text"] == "final", body
    edited = await event(env, "message.edited", "our edit", id=mine)
    assert edited["body"] == "final" and edited["from_me"] is True
    assert (await history(env, chat))[mine]["body"] == "final"
    assert (await chat_state(env, x))["edits"] == {mine: "final"}

    code, body = await env.daemon.call("PATCH", msg_path(theirs), json={"text": "mine now"})
    problem(code, body, 409, "not_own_message")
    unknown = f"true_{chat}_3EB00000000000000BAD"
    problem(
        *await env.daemon.call("PATCH", msg_path(unknown), json={"text": "x"}),
        404,
        "message_not_found",
    )
    problem(
        *await env.daemon.call("PATCH", msg_path(mine), json={"text": " "}), 400, "invalid_field"
    )

    # Past WhatsApp's edit window (the simulated servers shorten it for the test).
    await env.sim.post("/control/edit-window", {"seconds": 0})
    try:

        async def too_late() -> bool:
            code, body = await env.daemon.call("PATCH", msg_path(mine), json={"text": "late"})
            return code == 409 and body["code"] == "edit_window_passed"

        await wait_for(too_late, timeout=30, what="edit_window_passed")
    finally:
        await env.sim.post("/control/edit-window", {"seconds": 900})

    # Delete: someone else's message only for me; ours for everyone (the default).
    code, body = await env.daemon.call("DELETE", msg_path(theirs) + "?for=everyone")
    problem(code, body, 409, "not_own_message")
    code, body = await env.daemon.call("DELETE", msg_path(mine))
    assert code == 200 and body["deleted_for"] == "everyone", body
    revoked = await event(env, "message.revoked", "our revoke", id=mine)
    assert revoked["from_me"] is True and revoked["chat_id"] == chat
    kept = await history(env, chat)
    assert kept[mine]["type"] == "revoked" and kept[mine]["body"] == ""
    assert (await chat_state(env, x))["revoked"] == [mine]

    code, body = await env.daemon.call("DELETE", msg_path(theirs))
    assert code == 200 and body["deleted_for"] == "me", body
    deleted = await event(env, "message.deleted", "deleted for me", id=theirs)
    assert deleted["chat_id"] == chat
    assert theirs not in await history(env, chat)
    assert (await chat_state(env, x))["deleted_for_me"] == [theirs]
    problem(*await env.daemon.call("DELETE", msg_path(theirs)), 404, "message_not_found")
    code, body = await env.daemon.call("DELETE", msg_path(mine) + "?for=all")
    problem(code, body, 400, "invalid_parameter")
    assert len([e for e in env.log.named("message.revoked") if e["data"]["id"] == mine]) == 1


async def test_locations_and_contact_cards_go_out(env: Env) -> None:
    x = "5511977770055"
    chat = f"{x}@c.us"
    place = {"latitude": -23.5505, "longitude": -46.6333, "name": "Sé", "address": "São Paulo"}
    code, sent = await env.daemon.call("POST", f"{C}/send-location", json={"to": x, **place})
    assert code == 201 and sent["type"] == "location", sent
    loc = await event(env, "message", "our location", id=sent["id"])
    assert loc["type"] == "location" and loc["body"] == "Sé\nSão Paulo"
    assert loc["location"] == {**place, "url": None}
    assert (await history(env, chat))[sent["id"]]["location"] == loc["location"]

    card = {"id": "+55 11 97777-0001", "name": "Ana"}
    code, sent = await env.daemon.call(
        "POST", f"{C}/send-contact", json={"to": x, "contacts": [card], "reply_to": loc["id"]}
    )
    assert code == 201 and sent["type"] == "vcard", sent
    one = await event(env, "message", "our contact card", id=sent["id"])
    assert one["type"] == "vcard" and one["quoted_id"] == loc["id"]
    assert (
        one["contacts"][0]["name"] == "Ana" and "waid=5511977770001" in one["contacts"][0]["vcard"]
    )

    two = [card, {"id": "5511977770002@c.us"}]
    code, sent = await env.daemon.call("POST", f"{C}/send-contact", json={"to": x, "contacts": two})
    assert code == 201 and sent["type"] == "multi_vcard", sent
    many = await event(env, "message", "our contact cards", id=sent["id"])
    assert [c["name"] for c in many["contacts"]] == ["Ana", "+5511977770002"]
    sent_kinds = [r["type"] for r in (await chat_state(env, x))["sent"]]
    assert sent_kinds == ["location", "vcard", "multi_vcard"]


async def test_a_recipient_not_on_whatsapp_is_422_from_every_send(env: Env) -> None:
    nobody = "5511999"  # 7 digits: not on the simulated WhatsApp
    for path, body in (
        ("/send-message", {"to": nobody, "text": "hi"}),
        ("/send-location", {"to": nobody, "latitude": 1.5, "longitude": 2.5}),
        ("/send-contact", {"to": nobody, "contacts": [{"id": "5511977770001"}]}),
    ):
        code, answer = await env.daemon.call("POST", C + path, json=body)
        problem(code, answer, 422, "not_on_whatsapp")


async def test_incoming_kinds_keep_their_type_and_fields(env: Env) -> None:
    z = "5511977770056"
    chat = f"{z}@c.us"
    spot = await incoming(
        env, z, type="location", latitude=48.8584, longitude=2.2945, name="Tour Eiffel",
        address="Paris", url="https://maps.example/eiffel",
    )  # fmt: skip
    card = await incoming(
        env, z, type="vcard", contacts=[{"name": "Bob", "phone": "5511977771111"}]
    )
    cards = await incoming(
        env, z, type="multi_vcard",
        contacts=[{"name": "Bob", "phone": "5511977771111"}, {"name": "Eve", "phone": "5511977772222"}],
    )  # fmt: skip
    sticker = await incoming(env, z, type="sticker")
    poll = await incoming(
        env, z, type="poll_creation", name="Lunch?", options=["pizza", "sushi"], selectable_count=1
    )
    added = await incoming(env, z, type="gp2", subtype="add", recipients=["5511977773333"])
    e2e = await incoming(env, z, type="e2e_notification", subtype="encrypt")

    seen = {m: await event(env, "message", m, id=m) for m in (spot, card, cards, sticker, poll)}
    assert seen[spot]["location"] == {
        "latitude": 48.8584, "longitude": 2.2945, "name": "Tour Eiffel", "address": "Paris",
        "url": "https://maps.example/eiffel",
    }  # fmt: skip
    assert seen[spot]["body"] == "Tour Eiffel\nParis"  # not the map thumbnail
    assert seen[card]["type"] == "vcard" and seen[card]["contacts"][0]["name"] == "Bob"
    assert "waid=5511977771111" in seen[card]["contacts"][0]["vcard"]
    assert [c["name"] for c in seen[cards]["contacts"]] == ["Bob", "Eve"]
    assert seen[sticker]["type"] == "sticker" and seen[sticker]["body"] == ""
    assert seen[poll]["poll"] == {
        "name": "Lunch?",
        "options": ["pizza", "sushi"],
        "selectable_count": 1,
    }

    kept = await history(env, chat)
    for msg_id, data in seen.items():
        assert {k: kept[msg_id].get(k) for k in data if k != "backfill"} == {
            k: v for k, v in data.items() if k != "backfill"
        }, msg_id
    assert kept[added]["type"] == "gp2"
    assert kept[added]["system"] == {"subtype": "add", "recipients": ["5511977773333@c.us"]}
    assert kept[e2e]["type"] == "e2e_notification" and kept[e2e]["system"]["subtype"] == "encrypt"
    code, status = await env.daemon.call("GET", f"{C}/status")
    assert code == 200 and status["dead_events"] == 0, status


async def test_two_linked_accounts_see_each_others_actions(env: Env) -> None:
    """Both ends are wamc clients: a reply, a reaction, an edit, typing and a delete made by one
    reach the other's events and history, as WhatsApp carries them between two phones."""
    phone_b, shop = "5511900000052", "/api/clients/shop"
    chat_a = f"{PHONE_A}@c.us"
    async with EventLog(env.daemon, "clients=shop") as log_b:
        await env.daemon.connect_scanned(env.sim, "shop", phone_b)
        code, first = await send(env, phone_b, "hello shop")
        assert code == 201, first
        seen_by_b = f"false_{chat_a}_{first['id'].rsplit('_', 1)[1]}"
        await event_of(log_b, "shop", "message", "acme's message at shop", id=seen_by_b)

        body = {"to": PHONE_A, "text": "hi acme", "reply_to": seen_by_b}
        code, reply = await env.daemon.call("POST", f"{shop}/send-message", json=body)
        assert code == 201, reply
        reply_at_a = f"false_{phone_b}@c.us_{reply['id'].rsplit('_', 1)[1]}"
        quoted = await event(env, "message", "shop's reply at acme", id=reply_at_a)
        assert quoted["quoted_id"] == first["id"]  # acme's own message, as acme names it

        code, _ = await env.daemon.call(
            "POST", msg_path(reply_at_a, "/reaction"), json={"emoji": "❤️"}
        )
        assert code == 200
        hearted = await event_of(log_b, "shop", "message.reaction", "the reaction", id=reply["id"])
        assert hearted["reaction"] == "❤️" and hearted["sender"] == chat_a

        code, _ = await env.daemon.call(
            "PATCH", msg_path(first["id"]), json={"text": "hello, shop!"}
        )
        assert code == 200
        edited = await event_of(log_b, "shop", "message.edited", "the edit", id=seen_by_b)
        assert edited["body"] == "hello, shop!"

        typing = {"state": "typing"}
        code, _ = await env.daemon.call("POST", f"{C}/chats/{phone_b}@c.us/typing", json=typing)
        assert code == 200
        await event_of(log_b, "shop", "presence", "acme typing", chat_id=chat_a, state="composing")

        code, _ = await env.daemon.call("DELETE", msg_path(first["id"]))
        assert code == 200
        await event_of(log_b, "shop", "message.revoked", "the revoke", id=seen_by_b)
        code, page = await env.daemon.call("GET", f"{shop}/chats/{chat_a}/messages")
        assert code == 200
        kept = {m["id"]: m for m in page["messages"]}
        assert kept[seen_by_b]["type"] == "revoked" and kept[reply["id"]]["quoted_id"] == seen_by_b
