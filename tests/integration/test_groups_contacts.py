"""Contacts, numbers and groups end to end (issue 11, items 6 and 7).

A real daemon, worker and Chromium against the simulator: its phones keep address books and
profiles (push name, business flag, picture), its servers answer "is this number on WhatsApp?"
and hold groups with participants, admins and invite codes; a group change reaches the page as
WhatsApp Web's group notification, from which (fake) wa-js raises `group.participant_changed`.
One daemon and one linked client for the whole file (the suite stays fast).
"""

from __future__ import annotations

import re
from typing import Any

from tests.integration.test_core_flow import EventLog
from tests.support import Daemon, wait_for

A = "5511900000021"  # acme's number
B = "5511977770011"  # saved in acme's address book; a business with a push name and a picture
C = "5511977770012"
D = "5511977770013"
NOT_WA = "5511977770014000"  # 16 digits: the simulator's directory has no such WhatsApp user
API = "/api/clients/acme"
ENV = {
    "WAMC_SEND_INTERVAL": "0",
    "WAMC_SEND_JITTER": "0",
    "WAMC_NUMBER_LOOKUPS_PER_MINUTE": "1",  # no refill within the test: the 429 is exact
    "WAMC_NUMBER_LOOKUP_BURST": "4",
}


def wid(phone: str) -> str:
    return f"{phone}@c.us"


async def control(sim_http: Any, path: str, body: dict[str, Any]) -> dict[str, Any]:
    code, data = await sim_http.call("POST", path, json=body)
    assert code == 200, (path, data)
    return data


async def ok(daemon: Daemon, method: str, path: str, status: int = 200, **kw: Any) -> Any:
    code, body = await daemon.call(method, API + path, **kw)
    assert code == status, (method, path, code, body)
    return body


async def refused(daemon: Daemon, method: str, path: str, status: int, code: str, **kw: Any):
    got, body = await daemon.call(method, API + path, **kw)
    assert (got, body.get("code")) == (status, code), (method, path, got, body)
    return body


def outcomes(answer: dict[str, Any]) -> dict[tuple[str, str], str | None]:
    """(action, id) -> error (None: done)."""
    return {(p["action"], p["id"]): p["error"] for p in answer["participants"]}


async def test_contacts_numbers_and_groups(make_daemon: Any, sim_http: Any) -> None:
    daemon = await make_daemon(ENV)
    await control(sim_http, "/control/profile", {"phone": B, "push_name": "Bea", "business": True})
    await control(sim_http, "/control/profile", {"phone": B, "picture": True})
    await control(sim_http, "/control/contacts", {"phone": A, "contact": B, "name": "Beatriz S"})
    async with EventLog(daemon, "clients=acme&events=group.participant_changed") as log:
        await daemon.connect_scanned(sim_http, "acme", A)
        await contacts(daemon, sim_http)
        await numbers(daemon)
        gid = await own_group(daemon, sim_http, log)
        await someone_elses_group(daemon, sim_http, log)
        await bad_input(daemon, gid)
        await scopes(daemon)


async def contacts(daemon: Daemon, sim_http: Any) -> None:
    listed = {c["id"]: c for c in (await ok(daemon, "GET", "/contacts"))["contacts"]}
    assert listed[wid(B)] == {
        "id": wid(B),
        "name": "Beatriz S",
        "push_name": "Bea",
        "is_business": True,
        "is_my_contact": True,
    }
    one = await ok(daemon, "GET", f"/contacts/{wid(B)}")
    assert one["name"] == "Beatriz S" and one["is_blocked"] is False
    assert one["profile_picture_url"].startswith("https://pps.whatsapp.net/")
    # The phone saves another contact: WhatsApp Web hears of it at once.
    await control(sim_http, "/control/contacts", {"phone": A, "contact": C, "name": "Carl"})

    async def carl() -> dict[str, Any] | None:
        found = (await ok(daemon, "GET", "/contacts?only_my_contacts=true"))["contacts"]
        return next((c for c in found if c["id"] == wid(C)), None)

    got = await wait_for(carl, timeout=30, what="the new contact")
    assert got["name"] == "Carl" and got["push_name"] is None and got["is_business"] is False
    by_phone = await ok(daemon, "GET", f"/contacts/+{C}")  # a phone number names a contact too
    assert by_phone["id"] == wid(C) and by_phone["profile_picture_url"] is None
    await refused(daemon, "GET", "/contacts/5511977779999", 404, "contact_not_found")
    await refused(daemon, "GET", "/contacts/nobody", 400, "invalid_chat_id")
    await refused(daemon, "GET", "/contacts?only_my_contacts=maybe", 400, "invalid_parameter")

    # Block and unblock: WhatsApp's block list follows.
    assert await ok(daemon, "POST", f"/contacts/{wid(B)}/block") == {"id": wid(B), "blocked": True}
    assert (await ok(daemon, "GET", f"/contacts/{wid(B)}"))["is_blocked"] is True
    code, directory = await sim_http.call("GET", f"/control/directory?phone={A}")
    assert code == 200 and directory["blocked"] == [wid(B)]
    assert await ok(daemon, "POST", f"/contacts/{B}/unblock") == {"id": wid(B), "blocked": False}
    code, directory = await sim_http.call("GET", f"/control/directory?phone={A}")
    assert directory["blocked"] == []


async def numbers(daemon: Daemon) -> None:
    """Burst 4, one a minute: two answers here, two more, then 429 with Retry-After."""
    yes = await ok(daemon, "GET", f"/numbers/+{B}")
    assert yes == {"phone": B, "exists": True, "chat_id": wid(B), "is_business": True}
    no = await ok(daemon, "GET", f"/numbers/{NOT_WA}")
    assert no == {"phone": NOT_WA, "exists": False, "chat_id": None, "is_business": False}
    await refused(daemon, "GET", "/numbers/12ab", 400, "invalid_parameter")  # costs nothing
    statuses = []
    for _ in range(3):
        code, body = await daemon.call("GET", f"{API}/numbers/{D}")
        statuses.append(code)
    assert statuses == [200, 200, 429], statuses
    assert body["code"] == "rate_limited" and "number lookups" in body["detail"]
    async with daemon.http.get(f"{daemon.base}{API}/numbers/{D}") as r:  # type: ignore[union-attr]
        assert r.status == 429 and int(r.headers["Retry-After"]) >= 1


async def changed(log: EventLog, what: str, **match: Any) -> dict[str, Any]:
    def probe() -> list[dict[str, Any]]:
        found = [e["data"] for e in log.named("group.participant_changed", "acme")]
        return [d for d in found if all(d.get(k) == v for k, v in match.items())]

    return (await wait_for(probe, timeout=30, what=what))[0]


async def info(daemon: Daemon, gid: str) -> dict[str, Any]:
    return await ok(daemon, "GET", f"/groups/{gid}")


def admins(group: dict[str, Any]) -> dict[str, bool]:
    return {p["id"]: p["is_admin"] for p in group["participants"]}


async def own_group(daemon: Daemon, sim_http: Any, log: EventLog) -> str:
    body = {"name": "Support", "participants": [B, f"+{C}", NOT_WA]}
    made = await ok(daemon, "POST", "/groups", 201, json=body)
    gid = made["id"]
    assert re.fullmatch(r"\d{18}@g\.us", gid) and made["name"] == "Support"
    assert outcomes(made) == {
        ("add", wid(NOT_WA)): "not_on_whatsapp",
        ("add", wid(B)): None,
        ("add", wid(C)): None,
    }
    group = await info(daemon, gid)
    assert group["subject"] == "Support" and group["i_am_admin"] and group["i_am_member"]
    assert admins(group) == {wid(A): True, wid(B): False, wid(C): False}
    owner = next(p for p in group["participants"] if p["id"] == wid(A))
    assert owner["is_super_admin"] is True and group["owner"] == wid(A)
    assert group["created_at"].endswith("Z")
    listed = {g["id"]: g for g in (await ok(daemon, "GET", "/groups"))["groups"]}
    assert listed[gid] == {"id": gid, "subject": "Support", "size": 3, "i_am_admin": True}

    # Add (one new, one already in, one not on WhatsApp): the event names only who was added.
    answer = await ok(daemon, "POST", f"/groups/{gid}/participants", json={"add": [D, B, NOT_WA]})
    assert answer["id"] == gid and outcomes(answer) == {
        ("add", wid(NOT_WA)): "not_on_whatsapp",
        ("add", wid(B)): "already_participant",
        ("add", wid(D)): None,
    }
    added = await changed(log, "D added", group_id=gid, action="add")
    assert added == {
        "group_id": gid,
        "action": "add",
        "operation": "add",
        "author": wid(A),
        "author_push_name": None,
        "participants": [wid(D)],
    }
    # Remove, promote and demote in one call; what cannot be done is said per person.
    change = {"remove": [D], "promote": [B, D], "demote": [C]}
    answer = await ok(daemon, "POST", f"/groups/{gid}/participants", json=change)
    assert outcomes(answer) == {
        ("remove", wid(D)): None,
        ("promote", wid(B)): None,
        ("promote", wid(D)): "not_participant",
        ("demote", wid(C)): "not_admin",
    }
    removed = await changed(log, "D removed", group_id=gid, action="remove")
    assert removed["participants"] == [wid(D)] and removed["author"] == wid(A)
    promoted = await changed(log, "B promoted", group_id=gid, action="promote")
    assert promoted["participants"] == [wid(B)]
    assert admins(await info(daemon, gid)) == {wid(A): True, wid(B): True, wid(C): False}
    code, server = await sim_http.call("GET", f"/control/group?id={gid}")
    assert code == 200 and server["former"] == [D]

    # B, now an admin, adds D from its phone: the event says who did it.
    await control(
        sim_http,
        "/control/group-participants",
        {"id": gid, "by": B, "action": "add", "participants": [D]},
    )
    by_b = await changed(log, "D added by B", group_id=gid, action="add", author=wid(B))
    assert by_b["participants"] == [wid(D)] and by_b["author_push_name"] == "Bea"
    await wait_for(lambda: _has(daemon, gid, wid(D)), timeout=30, what="D in the group info again")
    answer = await ok(daemon, "POST", f"/groups/{gid}/participants", json={"demote": [B]})
    assert outcomes(answer) == {("demote", wid(B)): None}
    await changed(log, "B demoted", group_id=gid, action="demote")

    # The invite link, and a new one after a revoke.
    link = await ok(daemon, "GET", f"/groups/{gid}/invite")
    assert link["url"] == "https://chat.whatsapp.com/" + link["code"] and link["id"] == gid
    fresh = await ok(daemon, "POST", f"/groups/{gid}/invite/revoke")
    assert fresh["code"] != link["code"]
    code, server = await sim_http.call("GET", f"/control/group?id={gid}")
    assert server["invite"] == fresh["code"]
    return gid


async def _has(daemon: Daemon, gid: str, member: str) -> bool:
    return member in admins(await info(daemon, gid))


async def someone_elses_group(daemon: Daemon, sim_http: Any, log: EventLog) -> None:
    """B's group with acme in it: acme is no admin there, then leaves it (twice: idempotent)."""
    made = await control(
        sim_http, "/control/groups", {"by": B, "subject": "B's club", "participants": [A, C]}
    )
    gid = made["id"]

    async def known() -> dict[str, Any] | None:
        found = (await ok(daemon, "GET", "/groups"))["groups"]
        return next((g for g in found if g["id"] == gid), None)

    assert (await wait_for(known, timeout=30, what="B's group"))["i_am_admin"] is False
    group = await info(daemon, gid)
    assert group["owner"] == wid(B) and group["i_am_admin"] is False
    assert admins(group) == {wid(B): True, wid(A): False, wid(C): False}
    add = {"add": [D]}
    await refused(daemon, "POST", f"/groups/{gid}/participants", 409, "not_group_admin", json=add)
    await refused(daemon, "GET", f"/groups/{gid}/invite", 409, "not_group_admin")

    assert await ok(daemon, "POST", f"/groups/{gid}/leave") == {
        "id": gid,
        "left": True,
        "was_member": True,
    }
    left = await changed(log, "acme left", group_id=gid, action="leave")
    assert left["participants"] == [wid(A)] and left["operation"] == "remove"
    again = await ok(daemon, "POST", f"/groups/{gid}/leave")
    assert again["was_member"] is False
    after = await info(daemon, gid)
    assert after["i_am_member"] is False and wid(A) not in admins(after)
    assert gid not in {g["id"] for g in (await ok(daemon, "GET", "/groups"))["groups"]}


async def bad_input(daemon: Daemon, gid: str) -> None:
    unknown = "120363999999999999@g.us"
    await refused(daemon, "GET", "/groups/abc@g.us", 400, "invalid_chat_id")
    await refused(daemon, "GET", f"/groups/{wid(B)}", 400, "invalid_chat_id")
    await refused(daemon, "GET", f"/groups/{unknown}", 404, "chat_not_found")
    await refused(daemon, "POST", f"/groups/{unknown}/leave", 404, "chat_not_found")
    await refused(
        daemon, "POST", f"/groups/{unknown}/participants", 404, "chat_not_found", json={"add": [D]}
    )
    bad = {"add": ["not a number"]}
    body = await refused(
        daemon, "POST", f"/groups/{gid}/participants", 400, "invalid_field", json=bad
    )
    assert body["field"] == "add"
    await refused(daemon, "POST", f"/groups/{gid}/participants", 400, "invalid_json", data=b"{")
    await refused(
        daemon,
        "POST",
        "/groups",
        422,
        "not_on_whatsapp",
        json={"name": "x", "participants": [NOT_WA]},
    )
    await refused(
        daemon, "POST", "/groups", 400, "invalid_field", json={"name": " ", "participants": [B]}
    )


async def scopes(daemon: Daemon) -> None:
    """Contacts and numbers need `read`; groups, blocking need `send`."""
    code, made = await daemon.call("POST", f"{API}/tokens", json={"scopes": ["read"]})
    assert code == 201, made
    headers = {"X-Api-Key": made["token"]}
    code, _ = await daemon.call("GET", f"{API}/contacts", headers=headers)
    assert code == 200
    for method, path in (("GET", "/groups"), ("POST", f"/contacts/{B}/block")):
        code, body = await daemon.call(method, API + path, headers=headers)
        assert (code, body["code"]) == (403, "forbidden"), (path, body)
