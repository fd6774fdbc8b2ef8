"""Revokes, edits, reactions, unread counts, presence and calls, end to end.

The simulator's phone side acts (``/control/revoke|edit|reaction|presence|call``), its page and
fake wa-js raise the wa-js events, the real worker's bridge forwards them and the daemon
publishes the documented public events on the WebSocket (and updates the chat history).
"""

from __future__ import annotations

from typing import Any

from tests.integration.test_core_flow import EventLog
from tests.support import Daemon, wait_for

PHONE_A = "5511900000011"
PHONE_X = "5511977770001"  # a contact outside wamc
CHAT_X = f"{PHONE_X}@c.us"


async def control(sim_http: Any, path: str, payload: dict[str, Any]) -> dict[str, Any]:
    code, body = await sim_http.call("POST", path, json=payload)
    assert code == 200, (path, body)
    return body


async def one_event(log: EventLog, name: str, what: str, **match: Any) -> dict[str, Any]:
    """The data of the first ``name`` event whose data has all of ``match``."""

    def probe() -> list[dict[str, Any]]:
        return [
            e["data"]
            for e in log.named(name, "acme")
            if all(e["data"].get(k) == v for k, v in match.items())
        ]

    return (await wait_for(probe, timeout=30, what=what))[0]


async def history(daemon: Daemon) -> dict[str, dict[str, Any]]:
    code, body = await daemon.call("GET", f"/api/clients/acme/chats/{CHAT_X}/messages")
    assert code == 200, body
    return {m["id"]: m for m in body["messages"]}


async def test_more_events_reach_the_websocket(daemon: Daemon, sim_http: Any) -> None:
    async with EventLog(daemon, "clients=acme") as log:
        await daemon.connect_scanned(sim_http, "acme", PHONE_A)

        # Incoming messages raise the chat's unread count, one by one.
        first = await sim_http.deliver(PHONE_A, PHONE_X, "first")
        await one_event(log, "message", "the first message", id=first)
        unread = await one_event(log, "chat.unread", "unread 1", chat_id=CHAT_X, unread=1)
        assert set(unread) == {"chat_id", "unread"}
        second = await sim_http.deliver(PHONE_A, PHONE_X, "second")
        await one_event(log, "chat.unread", "unread 2", chat_id=CHAT_X, unread=2)

        # The contact edits its message: event, and the history shows the new text.
        res = await control(
            sim_http, "/control/edit", {"phone": PHONE_A, "id": first, "body": "first, fixed"}
        )
        assert res == {"id": first, "delivered": "live"}
        edited = await one_event(log, "message.edited", "the edit", id=first)
        assert edited["chat_id"] == CHAT_X and edited["body"] == "first, fixed"
        assert edited["from"] == CHAT_X and edited["from_me"] is False
        assert edited["edited_at"] and edited["edited_at"].endswith("Z")
        assert (await history(daemon))[first]["body"] == "first, fixed"

        # It reacts to its message, then to one acme sent it.
        await control(
            sim_http,
            "/control/reaction",
            {"phone": PHONE_A, "id": first, "reaction": "👍", "from": PHONE_X},
        )
        reaction = await one_event(log, "message.reaction", "the reaction", id=first)
        assert reaction["chat_id"] == CHAT_X and reaction["sender"] == CHAT_X
        assert reaction["reaction"] == "👍" and reaction["timestamp"].endswith("Z")
        assert reaction["reaction_id"] and reaction["reaction_id"] != first

        code, sent = await daemon.call(
            "POST", "/api/clients/acme/send-message", json={"to": PHONE_X, "text": "hello"}
        )
        assert code == 201, sent
        # Sending marks the chat read (wa-js's markIsRead default): unread back to 0.
        await one_event(log, "chat.unread", "unread 0", chat_id=CHAT_X, unread=0)
        await control(
            sim_http,
            "/control/reaction",
            {"phone": PHONE_A, "id": sent["id"], "reaction": "❤️", "from": PHONE_X},
        )
        mine = await one_event(log, "message.reaction", "reaction to ours", id=sent["id"])
        assert mine["reaction"] == "❤️" and mine["chat_id"] == CHAT_X

        # Presence and an incoming call.
        await control(
            sim_http, "/control/presence", {"phone": PHONE_A, "from": PHONE_X, "state": "composing"}
        )
        presence = await one_event(log, "presence", "composing", chat_id=CHAT_X)
        assert presence["state"] == "composing" and presence["id"] == CHAT_X
        assert presence["is_online"] is True
        call = await control(
            sim_http, "/control/call", {"phone": PHONE_A, "from": PHONE_X, "is_video": True}
        )
        assert call["delivered"] == "live"
        ring = await one_event(log, "call", "the call", id=call["id"])
        assert ring["from"] == CHAT_X and ring["is_video"] is True and ring["is_group"] is False

        # The contact deletes its second message for everyone.
        await control(sim_http, "/control/revoke", {"phone": PHONE_A, "id": second})
        revoked = await one_event(log, "message.revoked", "the revoke", id=second)
        assert revoked["chat_id"] == CHAT_X and revoked["from"] == CHAT_X
        assert revoked["revoked_by"] == CHAT_X and revoked["from_me"] is False
        kept = await history(daemon)
        assert kept[second]["type"] == "revoked" and kept[second]["body"] == ""
        assert kept[first]["type"] == "chat"

        # A revoke while the page is away reaches it when it is back (from its IndexedDB).
        code, body = await daemon.call("POST", "/api/clients/acme/disconnect")
        assert code in (200, 202), body
        await daemon.wait_state("acme", "stopped")

        async def page_gone() -> bool:
            code, body = await sim_http.call("GET", "/control/devices")
            mine = [d for d in body["devices"] if d["phone"] == PHONE_A]
            return code == 200 and bool(mine) and not any(d["connected"] for d in mine)

        await wait_for(page_gone, timeout=30, what="the page to leave the simulator")
        res = await control(sim_http, "/control/revoke", {"phone": PHONE_A, "id": first})
        assert res["delivered"] == "queued"
        code, body = await daemon.call("POST", "/api/clients/acme/connect")
        assert code == 202, body
        await one_event(log, "message.revoked", "the queued revoke", id=first)
        assert (await history(daemon))[first]["type"] == "revoked"

        # Each kind of event was published once per happening (no duplicates on the way).
        assert len(log.named("message.edited", "acme")) == 1
        assert len([e for e in log.named("message.revoked") if e["data"]["id"] == second]) == 1


async def test_phone_side_control_errors(simulator: Any, sim_http: Any) -> None:
    """The new control endpoints check what they are given (no page needed)."""
    cases = [
        ("/control/revoke", {"phone": PHONE_A, "id": f"false_{CHAT_X}_3EB0AA"}, 404),
        ("/control/revoke", {"phone": "x", "id": "y"}, 400),
        ("/control/edit", {"phone": PHONE_A, "id": f"false_{CHAT_X}_3EB0AA", "body": ""}, 400),
        ("/control/edit", {"phone": PHONE_A, "id": f"false_{CHAT_X}_3EB0AA", "body": "b"}, 404),
        (
            "/control/reaction",
            {"phone": PHONE_A, "id": "nope", "reaction": "x", "from": PHONE_X},
            400,
        ),
        (
            "/control/reaction",
            {"phone": PHONE_A, "id": f"false_{CHAT_X}_3EB0AA", "reaction": 1, "from": PHONE_X},
            400,
        ),
        ("/control/presence", {"phone": PHONE_A, "from": PHONE_X, "state": "dancing"}, 400),
        ("/control/presence", {"phone": PHONE_A, "from": PHONE_X, "state": "available"}, 404),
        ("/control/call", {"phone": PHONE_A, "from": PHONE_X, "is_video": "yes"}, 400),
        ("/control/call", {"phone": PHONE_A, "from": PHONE_X}, 404),
    ]
    for path, payload, status in cases:
        code, body = await sim_http.call("POST", path, json=payload)
        assert code == status, (path, payload, body)
        assert body["error"]
