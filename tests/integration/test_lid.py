"""A contact WhatsApp names by LID (``…@lid``) lands in the chat of its phone number (``…@c.us``).

The simulator's phone side delivers as the contact's LID (``"as_lid": true``), its fake wa-js maps
LID <-> phone number with ``WPP.contact.getPnLidEntry``; the real worker renames the chat, keeping
the LID in ``lid``, live and in the backfill after a restart.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from playwright.async_api import async_playwright

from tests.integration.test_core_flow import EventLog
from tests.integration.test_simulator import CHROMIUM, SimEnv, pair
from tests.support import Daemon, wait_for

PHONE_A = "5511900000021"
PHONE_X = "5511977770021"  # a contact outside wamc
CHAT_X = f"{PHONE_X}@c.us"


async def deliver(sim_http: Any, body: str, as_lid: bool) -> str:
    payload = {"to": PHONE_A, "from": PHONE_X, "body": body, "as_lid": as_lid}
    code, data = await sim_http.call("POST", "/control/messages", json=payload)
    assert code == 200, data
    return data["id"]


async def history(daemon: Daemon, chat: str) -> dict[str, dict[str, Any]]:
    code, body = await daemon.call("GET", f"/api/clients/acme/chats/{chat}/messages")
    assert code == 200, body
    return {m["id"]: m for m in body["messages"]}


async def stored(daemon: Daemon, ids: list[str]) -> dict[str, dict[str, Any]] | None:
    msgs = await history(daemon, CHAT_X)
    return msgs if all(i in msgs for i in ids) else None


async def test_lid_messages_join_the_phone_number_chat(daemon: Daemon, sim_http: Any) -> None:
    code, bad = await sim_http.call(
        "POST", "/control/messages", json={"to": PHONE_A, "from": PHONE_X, "body": "x", "as_lid": 1}
    )
    assert code == 400 and "as_lid" in bad["error"]

    async with EventLog(daemon, "clients=acme&events=message") as log:
        await daemon.connect_scanned(sim_http, "acme", PHONE_A)
        by_lid = await deliver(sim_http, "hello from my LID", as_lid=True)
        by_phone = await deliver(sim_http, "hello from my number", as_lid=False)
        lid = by_lid.split("_")[1]
        assert lid.endswith("@lid") and lid.split("@")[0] != PHONE_X
        assert by_phone.startswith(f"false_{CHAT_X}_")

        msgs = await wait_for(lambda: stored(daemon, [by_lid, by_phone]), 30, what="both stored")
        assert msgs[by_lid]["chat_id"] == msgs[by_phone]["chat_id"] == CHAT_X
        assert msgs[by_lid]["from"] == CHAT_X and msgs[by_lid]["body"] == "hello from my LID"
        assert msgs[by_lid]["lid"] == lid and msgs[by_phone]["lid"] is None  # kept in history
        assert await history(daemon, lid) == {}

        def events() -> dict[str, dict[str, Any]] | None:
            found = {e["data"]["id"]: e["data"] for e in log.named("message", "acme")}
            return found if {by_lid, by_phone} <= set(found) else None

        found = await wait_for(events, 30, what="both message events")
        assert found[by_lid]["lid"] == lid and found[by_lid]["chat_id"] == CHAT_X
        assert found[by_lid]["from"] == CHAT_X and found[by_lid]["to"] == f"{PHONE_A}@c.us"
        assert found[by_phone]["lid"] is None and found[by_phone]["chat_id"] == CHAT_X

    # The page holds two chats for the person; the API lists one, by phone number.
    code, body = await daemon.call("GET", "/api/clients/acme/chats")
    assert code == 200, body
    chats = [c for c in body["chats"] if c["id"] in (CHAT_X, lid)]
    assert len(chats) == 1 and chats[0]["id"] == CHAT_X and chats[0]["lid"] == lid, body
    assert chats[0]["unread_count"] == 2

    # Sent while no worker ran, synced silently into the page: the backfill renames it too.
    await daemon.call("POST", "/api/clients/acme/disconnect")
    await daemon.wait_state("acme", "stopped")
    queued = await deliver(sim_http, "while you were away", as_lid=True)
    await daemon.call("POST", "/api/clients/acme/connect")
    await daemon.wait_state("acme", "connected")
    msgs = await wait_for(lambda: stored(daemon, [queued]), 30, what="the backfilled LID message")
    assert msgs[queued]["chat_id"] == CHAT_X and msgs[queued]["body"] == "while you were away"
    assert len(msgs) == 3
    assert await history(daemon, lid) == {}


async def pn_lid_entry(p: Any, wid: str) -> dict[str, Any]:
    """WPP.contact.getPnLidEntry(wid) in the page, without the keys it leaves undefined."""
    entry = await p.js("id => WPP.contact.getPnLidEntry(id)", wid)
    return {k: v for k, v in entry.items() if v is not None}


@pytest.fixture
async def page_env(tmp_path: Path) -> AsyncIterator[SimEnv]:
    """A simulator and browser profiles on it, without a daemon (as in test_simulator)."""
    if not Path(CHROMIUM).exists():
        pytest.skip("needs chromium-headless-shell")
    async with async_playwright() as pw:
        env = SimEnv(pw, tmp_path)
        try:
            yield env
        finally:
            await env.close()


async def test_page_maps_lid_and_phone_number_both_ways(page_env: SimEnv) -> None:
    """The fake wa-js answers getPnLidEntry like wa-js: {lid?, phoneNumber?} as {id, server,
    _serialized}; what the page learnt survives a reload."""
    _, control = await page_env.start()
    p = await page_env.profile("n").open()
    await pair(p, control, PHONE_A)
    sent = await control.ok(
        "POST",
        "/control/messages",
        json={"to": PHONE_A, "from": PHONE_X, "body": "hi", "as_lid": True},
    )
    lid = sent["id"].split("_")[1]
    lid_user = lid.split("@")[0]
    assert re.fullmatch(r"\d{15}", lid_user) and lid_user != PHONE_X
    new = await p.wait_event("chat.new_message")
    assert new[0][0]["from"]["_serialized"] == lid  # the page names the sender by its LID

    both = {
        "lid": {"id": lid_user, "server": "lid", "_serialized": lid},
        "phoneNumber": {"id": PHONE_X, "server": "c.us", "_serialized": CHAT_X},
    }
    assert await pn_lid_entry(p, lid) == both
    assert await pn_lid_entry(p, CHAT_X) == both

    # A number never seen: its LID comes from the server, then maps back.
    other = "5511955550021"
    entry = await pn_lid_entry(p, f"{other}@c.us")
    other_lid = entry["lid"]["_serialized"]
    assert other_lid.endswith("@lid") and other_lid != lid and other not in other_lid
    back = await pn_lid_entry(p, other_lid)
    assert back["phoneNumber"]["_serialized"] == f"{other}@c.us"

    # An unknown LID has no number; groups are refused.
    assert await pn_lid_entry(p, "123456789012345@lid") == {
        "lid": {"id": "123456789012345", "server": "lid", "_serialized": "123456789012345@lid"}
    }
    with pytest.raises(Exception, match="invalid_wid|Invalid WID"):
        await p.js("WPP.contact.getPnLidEntry('123456789-123@g.us')")

    assert p.page is not None
    await p.page.reload()
    await wait_for(lambda: p.js("WPP.isFullReady"), timeout=15, what="WPP ready again")
    await p.wait_mode("MAIN")
    assert await pn_lid_entry(p, lid) == both
