"""Forwards, mentions and polls (issue 11, "also expected") end to end: real daemon, worker,
Chromium and the simulator, which records what WhatsApp would have been sent."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from tests.integration.test_core_flow import EventLog
from tests.support import Daemon, SimControl, wait_for

A = "5511900000501"  # the client's account
B = "5511900000502"  # a contact with WhatsApp Web linked (receives live)
C = "5511900000503"  # a contact (phone only)
NOT_WA = "551100"  # a valid number form, too short to be on WhatsApp (the simulator's rule)


async def sent_record(sim_http: SimControl, msg_id: str) -> dict[str, Any]:
    async def probe() -> dict[str, Any] | None:
        return next((m for m in await sim_http.sent(A) if m["id"] == msg_id), None)

    return await wait_for(probe, 30, what=f"{msg_id} at the simulator")


async def test_forward_a_message(daemon: Daemon, sim_http: SimControl) -> None:
    await daemon.connect_scanned(sim_http, "fw", A)
    original = await sim_http.deliver(A, C, "the address is Rua A, 10")

    async def stored() -> bool:
        code, body = await daemon.call("GET", "/api/clients/fw/messages/recent")
        return code == 200 and any(m["id"] == original for m in body["messages"])

    await wait_for(stored, 30, what="the incoming message stored")
    url = f"/api/clients/fw/messages/{quote(original, safe='')}/forward"
    async with EventLog(daemon, "clients=fw&events=message") as events:
        code, body = await daemon.call("POST", url, json={"to": f"+{B}"})
        assert code == 201, body
        assert body["to"] == f"{B}@c.us" and body["forwarded_from"] == original
        assert body["id"].startswith(f"true_{B}@c.us_") and body["id"] != original
        record = await sent_record(sim_http, body["id"])
        assert record["body"] == "the address is Rua A, 10" and record["type"] == "chat"
        assert record["extra"]["isForwarded"] is True and record["extra"]["forwardingScore"] == 1
        # The copy is in the client's own history, like any message it sent.
        await wait_for(
            lambda: [e for e in events.named("message") if e["data"]["id"] == body["id"]],
            30,
            what="the forwarded copy's event",
        )

    # Retried with the same Idempotency-Key: the first answer, nothing forwarded again.
    key = {"Idempotency-Key": "fw-1"}
    code, first = await daemon.call("POST", url, json={"to": C}, headers=key)
    assert code == 201
    code, again = await daemon.call("POST", url, json={"to": C}, headers=key)
    assert code == 201 and again == first
    copies = [m for m in await sim_http.sent(A) if m["extra"].get("isForwarded")]
    assert len(copies) == 2

    unknown = quote(f"false_{C}@c.us_3EB0FFFFFFFFFFFFFFFF", safe="")
    code, problem = await daemon.call(
        "POST", f"/api/clients/fw/messages/{unknown}/forward", json={"to": B}
    )
    assert (code, problem["code"]) == (404, "message_not_found"), problem
    code, problem = await daemon.call("POST", url, json={"to": NOT_WA})
    assert (code, problem["code"]) == (422, "not_on_whatsapp"), problem
    code, problem = await daemon.call("POST", url, json={})
    assert (code, problem["code"], problem["field"]) == (400, "invalid_field", "to")
    code, problem = await daemon.call(
        "POST", "/api/clients/fw/messages/nonsense/forward", json={"to": B}
    )
    assert (code, problem["code"]) == (400, "invalid_message_id")


async def test_mentions_in_a_group_message(daemon: Daemon, sim_http: SimControl) -> None:
    await daemon.connect_scanned(sim_http, "mn", A)
    code, made = await daemon.call(
        "POST", "/api/clients/mn/groups", json={"name": "Team", "participants": [B, C]}
    )
    assert code == 201, made
    gid = made["id"]
    text = f"@{B} and @{C}: standup in 5"
    code, body = await daemon.call(
        "POST",
        "/api/clients/mn/send-message",
        json={"to": gid, "text": text, "mentions": [f"+{B}", f"{C}@c.us", B]},
    )
    assert code == 201, body
    record = await sent_record(sim_http, body["id"])
    assert record["to"] == gid and record["body"] == text
    assert record["extra"]["mentionedJidList"] == [f"{B}@c.us", f"{C}@c.us"]  # once each

    code, body = await daemon.call(
        "POST", "/api/clients/mn/send-message", json={"to": gid, "text": "no mentions"}
    )
    assert code == 201
    assert "mentionedJidList" not in (await sent_record(sim_http, body["id"]))["extra"]

    bad = [
        ({"to": B, "text": "hi", "mentions": [C]}, "mentions"),  # not a group
        ({"to": gid, "text": "hi", "mentions": [gid]}, "mentions"),  # a group is no person
        ({"to": gid, "text": "hi", "mentions": "x"}, "mentions"),
    ]
    for payload, field in bad:
        code, problem = await daemon.call("POST", "/api/clients/mn/send-message", json=payload)
        assert code == 400 and problem["field"] == field, (payload, problem)


async def test_send_a_poll_and_read_the_votes(daemon: Daemon, sim_http: SimControl) -> None:
    await daemon.connect_scanned(sim_http, "pl", A)
    async with EventLog(daemon, "clients=pl&events=poll.vote") as events:
        code, poll = await daemon.call(
            "POST",
            "/api/clients/pl/send-poll",
            json={"to": C, "name": "Lunch?", "options": ["Pizza", "Sushi", "Salad"]},
        )
        assert code == 201 and poll["type"] == "poll_creation", poll
        record = await sent_record(sim_http, poll["id"])
        assert record["type"] == "poll_creation"
        assert record["extra"]["pollName"] == "Lunch?"
        assert [o["name"] for o in record["extra"]["pollOptions"]] == ["Pizza", "Sushi", "Salad"]
        assert record["extra"]["pollSelectableOptionsCount"] == 1

        # C votes, changes its mind, then withdraws: three poll.vote events, in order.
        for choice in (["Sushi"], ["Pizza"], []):
            vote = {"phone": A, "from": C, "id": poll["id"], "options": choice}
            assert (await sim_http.post("/control/poll-vote", vote))["delivered"] == "live"
        await wait_for(lambda: len(events.named("poll.vote")) == 3, 30, what="three votes")
    votes = [e["data"] for e in events.named("poll.vote")]
    assert [v["selected"] for v in votes] == [["Sushi"], ["Pizza"], []]
    for v in votes:
        assert v["id"] == poll["id"] and v["chat_id"] == f"{C}@c.us"
        assert v["sender"] == f"{C}@c.us" and v["timestamp"]

    # The poll is in the history with its parts (a message of type poll_creation).
    code, history = await daemon.call("GET", f"/api/clients/pl/chats/{C}@c.us/messages")
    mine = next(m for m in history["messages"] if m["id"] == poll["id"])
    assert mine["poll"] == {
        "name": "Lunch?",
        "options": ["Pizza", "Sushi", "Salad"],
        "selectable_count": 1,
    }

    code, multi = await daemon.call(
        "POST",
        "/api/clients/pl/send-poll",
        json={"to": C, "name": "Toppings", "options": ["a", "b"], "selectable_count": 0},
    )
    assert code == 201
    assert (await sent_record(sim_http, multi["id"]))["extra"]["pollSelectableOptionsCount"] == 0

    bad = [
        {"to": C, "name": "x", "options": ["only"]},
        {"to": C, "name": "x", "options": ["a", "a"]},
        {"to": C, "name": "x", "options": ["a", "b"], "selectable_count": 3},
        {"to": C, "name": " ", "options": ["a", "b"]},
        {"to": C, "name": "x", "options": [f"o{i}" for i in range(13)]},
    ]
    for payload in bad:
        code, problem = await daemon.call("POST", "/api/clients/pl/send-poll", json=payload)
        assert (code, problem["code"]) == (400, "invalid_field"), (payload, problem)
