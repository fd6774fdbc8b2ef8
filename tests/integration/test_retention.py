"""Retention per client (issue 11, item 9) end to end: settings through GET/PATCH, old messages
deleted in the background, and a restarted worker's backfill that does not bring them back."""

from __future__ import annotations

import time
from typing import Any

from tests.integration.test_core_flow import EventLog
from tests.integration.test_export import (
    CONTACTS,
    FAST_PAGE,
    PHONE,
    bulk,
    export,
    jsonl,
    stored_all,
)
from tests.support import Daemon, SimControl, wait_for

DAY = 86400


def backfills(daemon: Daemon, client: str) -> list[str]:
    log = daemon.home / "logs" / "clients" / f"{client}.log"
    return [line for line in log.read_text().splitlines() if "backfill:" in line]


async def test_retention_deletes_old_messages_and_backfill_does_not_bring_them_back(
    make_daemon: Any, sim_http: SimControl
) -> None:
    daemon = await make_daemon(FAST_PAGE)
    await daemon.connect_scanned(sim_http, "kept", PHONE)
    status = await daemon.status("kept")
    assert status["retention"] == {"message_days": 0.0, "media_days": 0.0, "event_days": 30.0}
    now = int(time.time())
    # 30 messages 10 days old in six chats, then one recent message in each of the first three:
    # chats 3-5 end up with no row left, only their high-water mark.
    old = await bulk(sim_http, 30, t0=now - 10 * DAY, step=60, **{"from": CONTACTS[:6]})
    await stored_all(daemon, "kept", old)
    recent = await bulk(sim_http, 3, t0=now - 60, step=1, **{"from": CONTACTS[:3]})
    await stored_all(daemon, "kept", recent)

    code, answer = await daemon.call(
        "PATCH", "/api/clients/kept/settings", json={"message_retention_days": 5}
    )
    assert code == 200, answer
    assert answer["settings"] == {
        "message_retention_days": 5.0,
        "media_retention_days": None,
        "event_retention_days": None,
        "proxy": None,
    }
    assert answer["retention"] == {"message_days": 5.0, "media_days": 0.0, "event_days": 30.0}
    assert (await daemon.status("kept"))["retention"]["message_days"] == 5.0

    async def only_recent_left() -> bool:
        return [m["id"] for m in jsonl((await export(daemon, "kept"))[2])] == recent

    await wait_for(only_recent_left, timeout=30, what="old messages deleted by retention")

    # A new worker backfills from the page, which still holds every message: none comes back.
    seen = len(backfills(daemon, "kept"))
    async with EventLog(daemon, "clients=kept&events=message") as events:
        code, _ = await daemon.call("POST", "/api/clients/kept/restart")
        assert code == 202
        await wait_for(lambda: len(backfills(daemon, "kept")) > seen, 90, 0.5, "a new backfill")
        assert "backfill: 0 messages offered from 6 chats" in backfills(daemon, "kept")[-1]
        late = await bulk(sim_http, 1, **{"from": CONTACTS[4]})  # a chat with no row left
        await wait_for(lambda: events.named("message"), 30, what="the new message's event")
    assert [e["data"]["id"] for e in events.named("message")] == late
    assert [m["id"] for m in jsonl((await export(daemon, "kept"))[2])] == recent + late

    # null puts a value back to the default; the code applies to every field.
    code, answer = await daemon.call(
        "PATCH",
        "/api/clients/kept/settings",
        json={"message_retention_days": None, "event_retention_days": 2},
    )
    assert code == 200
    assert answer["settings"]["message_retention_days"] is None
    assert answer["retention"] == {"message_days": 0.0, "media_days": 0.0, "event_days": 2.0}
    code, got = await daemon.call("GET", "/api/clients/kept/settings")
    assert (code, got) == (200, answer)


async def test_settings_patch_refuses_bad_input(daemon: Daemon) -> None:
    code, _ = await daemon.call("POST", "/api/clients/cfg/connect")
    assert code == 202
    url = "/api/clients/cfg/settings"
    cases = [
        ({"message_retention_days": -1}, "invalid_field", "message_retention_days"),
        ({"message_retention_days": "soon"}, "invalid_field", "message_retention_days"),
        ({"media_retention_days": 1e9}, "invalid_field", "media_retention_days"),
        ({"event_retention_days": True}, "invalid_field", "event_retention_days"),
        ({"retention": 3}, "invalid_field", "retention"),
    ]
    for body, code_, field in cases:
        code, problem = await daemon.call("PATCH", url, json=body)
        assert (code, problem["code"], problem.get("field")) == (400, code_, field), body
    for raw in (b"{", b"[1]", b'"x"'):
        code, problem = await daemon.call(
            "PATCH", url, data=raw, headers={"Content-Type": "application/json"}
        )
        assert (code, problem["code"]) == (400, "invalid_json"), raw
    code, problem = await daemon.call("PATCH", "/api/clients/nobody/settings", json={})
    assert (code, problem["code"]) == (404, "client_not_found")
    code, got = await daemon.call("GET", url)  # nothing refused was stored
    assert code == 200 and set(got["settings"].values()) == {None}
