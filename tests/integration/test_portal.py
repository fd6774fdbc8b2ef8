"""The client owner's portal against a real daemon, real workers and the simulator: the invite
link (admin only, token in the fragment), what its token reaches (its client, every other
client's path refused), its own webhooks, the audit of its actions, revocation and expiry."""

from __future__ import annotations

import asyncio
import json
import time
from datetime import datetime
from typing import Any

import aiohttp
import pytest

from tests.integration.test_security import as_key, new_token
from tests.support import Daemon, wait_for
from tests.support.webhooks import Receiver

PHONE_A = "5511900000301"
PHONE_B = "5511900000302"
PHONE_X = "5511988880003"
PORTAL_SCOPES = ["read", "send", "control", "webhooks"]


async def invite(d: Daemon, client: str, **body: Any) -> tuple[dict[str, Any], str]:
    """An invite link made with the admin key; its answer and the token from its fragment."""
    code, answer = await d.call("POST", f"/api/clients/{client}/portal-invite", json=body or None)
    assert code == 201, answer
    base, _, fragment = answer["url"].partition("#")
    assert base == f"{d.base}/portal" and fragment.startswith("token=wamc_"), answer["url"]
    return answer, fragment.removeprefix("token=")


def fill(path: str, client: str, wid: str) -> str:
    return (
        path.replace("{id}", client)
        .replace("{chatId}", f"{PHONE_X}@c.us")
        .replace("{tokenId}", "tok_0000000000000000")
        .replace("{wid}", wid)
    )


async def ticket_ws(
    d: Daemon, s: aiohttp.ClientSession, token: str
) -> aiohttp.ClientWebSocketResponse:
    code, body, _ = await as_key(d, token, "POST", "/api/stream-tickets")
    assert code == 201, body
    return await s.ws_connect(f"{d.base}/ws?ticket={body['ticket']}")


async def test_an_invite_token_reaches_only_its_client(
    make_daemon: Any, sim_http: Any, receiver: Receiver
) -> None:
    d: Daemon = await make_daemon({"WAMC_WEBHOOK_ALLOW_PRIVATE": "1"})
    await d.connect_scanned(sim_http, "acme", PHONE_A)
    await d.connect_scanned(sim_http, "shop", PHONE_B)
    code, shop_hook = await d.call(
        "POST", "/api/clients/shop/webhooks", json={"url": receiver.url("/shop")}
    )
    assert code == 201, shop_hook
    code, global_hook = await d.call("POST", "/api/webhooks", json={"url": receiver.url("/all")})
    assert code == 201, global_hook

    # Creating an invite is for the admin key only, and only for an existing client.
    other = await new_token(d, "acme", PORTAL_SCOPES, "not an admin")
    code, body, _ = await as_key(d, other["token"], "POST", "/api/clients/acme/portal-invite")
    assert code == 403 and body["code"] == "forbidden", body
    code, body, _ = await as_key(d, None, "POST", "/api/clients/acme/portal-invite")
    assert code == 401 and body["code"] == "unauthorized", body
    code, body = await d.call("POST", "/api/clients/nobody/portal-invite")
    assert code == 404 and body["code"] == "client_not_found", body
    answer, token = await invite(d, "acme")
    assert answer["client"] == "acme" and answer["scopes"] == PORTAL_SCOPES
    ttl = datetime.fromisoformat(answer["expires_at"]).timestamp() - time.time()
    assert 7 * 86400 - 60 < ttl <= 7 * 86400, answer["expires_at"]
    code, listed = await d.call("GET", "/api/clients/acme/tokens")
    mine = [t for t in listed["tokens"] if t["id"] == answer["token_id"]]
    assert mine and mine[0]["expires_at"] == answer["expires_at"], listed

    code, me, _ = await as_key(d, token, "GET", "/api/whoami")
    assert code == 200 and me["client"] == "acme" and me["scopes"] == PORTAL_SCOPES, me
    assert me["admin"] is False and me["key_id"] == answer["token_id"]
    code, body, _ = await as_key(d, token, "GET", "/api/clients")
    assert code == 200 and [c["id"] for c in body["clients"]] == ["acme"]

    # Every path of another client in the live OpenAPI document: 403 forbidden, nothing done.
    code, doc = await d.call("GET", "/openapi.json")
    tried: set[tuple[str, str]] = set()
    for path, item in doc["paths"].items():
        if "{id}" not in path:
            continue
        for method in item:
            url = fill(path, "shop", shop_hook["id"])
            code, body, _ = await as_key(d, token, method.upper(), url, json={})
            assert code == 403 and body["code"] == "forbidden", (method, path, code, body)
            tried.add((method.upper(), path))
    must = {
        ("POST", "/api/clients/{id}/send-message"),
        ("POST", "/api/clients/{id}/pairing-code"),
        ("GET", "/api/clients/{id}/qr"),
        ("POST", "/api/clients/{id}/webhooks"),
        ("DELETE", "/api/clients/{id}/webhooks/{wid}"),
        ("POST", "/api/clients/{id}/portal-invite"),
        ("DELETE", "/api/clients/{id}"),
    }
    assert len(tried) >= 20 and must <= tried, tried
    # Admin-wide webhook paths, and another client's webhook through its own client's path.
    for method, path in [
        ("GET", "/api/webhooks"),
        ("GET", f"/api/webhooks/{shop_hook['id']}"),
        ("DELETE", f"/api/webhooks/{shop_hook['id']}"),
        ("GET", "/api/audit"),
    ]:
        code, body, _ = await as_key(d, token, method, path)
        assert code == 403 and body["code"] == "forbidden", (method, path, body)
    for hook in (shop_hook, global_hook):
        for method in ("GET", "DELETE"):
            code, body, _ = await as_key(
                d, token, method, f"/api/clients/acme/webhooks/{hook['id']}"
            )
            assert code == 404 and body["code"] == "webhook_not_found", (method, hook, body)
    code, body = await d.call("GET", "/api/webhooks")
    assert {h["id"] for h in body["webhooks"]} == {shop_hook["id"], global_hook["id"]}
    assert (await d.status("shop"))["state"] == "connected"
    assert await sim_http.sent(PHONE_B) == []
    # Its stream cannot ask for another client either.
    code, t, _ = await as_key(d, token, "POST", "/api/stream-tickets")
    async with aiohttp.ClientSession() as s:
        with pytest.raises(aiohttp.WSServerHandshakeError) as exc:
            await s.ws_connect(f"{d.base}/ws?clients=shop&ticket={t['ticket']}")
        assert exc.value.status == 403

    # Its own client: status, messages, a test send, its own webhooks.
    code, body, _ = await as_key(d, token, "GET", "/api/clients/acme/status")
    assert code == 200 and body["state"] == "connected"
    code, body, _ = await as_key(
        d, token, "POST", "/api/clients/acme/send-message", json={"to": PHONE_X, "text": "hi"}
    )
    assert code == 201, body
    assert [m["body"] for m in await sim_http.sent(PHONE_A)] == ["hi"]
    code, body, _ = await as_key(
        d, token, "POST", "/api/clients/acme/webhooks",
        json={"url": receiver.url("/acme"), "events": ["message"]},
    )  # fmt: skip
    assert code == 201 and body["client"] == "acme" and body["secret"], body
    hook = body
    code, body, _ = await as_key(d, token, "GET", "/api/clients/acme/webhooks")
    assert code == 200 and [h["id"] for h in body["webhooks"]] == [hook["id"]], body
    await sim_http.deliver(PHONE_B, PHONE_X, "for shop")
    await wait_for(lambda: receiver.to("/shop"), timeout=30, what="shop's delivery")
    await sim_http.deliver(PHONE_A, PHONE_X, "for acme")
    hits = await wait_for(lambda: receiver.to("/acme"), timeout=30, what="acme's delivery")
    assert [h.event["data"]["body"] for h in hits] == ["for acme"]
    code, body, _ = await as_key(d, token, "GET", f"/api/clients/acme/webhooks/{hook['id']}")
    assert code == 200 and body["stats"] == {"pending": 0, "delivered": 1, "dead": 0}, body
    path = f"/api/clients/acme/webhooks/{hook['id']}/deliveries"
    code, body, _ = await as_key(d, token, "GET", path)
    assert code == 200 and [x["client"] for x in body["deliveries"]] == ["acme"], body
    code, body, _ = await as_key(d, token, "DELETE", f"/api/clients/acme/webhooks/{hook['id']}")
    assert code == 204
    code, body, _ = await as_key(d, token, "GET", "/api/clients/acme/webhooks")
    assert body["webhooks"] == []

    # Its actions are in the audit log under its token id, refusals included.
    code, audit = await d.call("GET", f"/api/audit?key_id={answer['token_id']}&limit=1000")
    seen = {(e["action"], e["status"]) for e in audit["entries"]}
    for expected in [
        ("send_message", 201),
        ("create_client_webhook", 201),
        ("delete_client_webhook", 204),
        ("delete_client_webhook", 403),
        ("send_message", 403),
    ]:
        assert expected in seen, (expected, seen)
    code, audit = await d.call("GET", "/api/audit?key_id=admin&limit=1000")
    assert ("create_portal_invite", 201) in {(e["action"], e["status"]) for e in audit["entries"]}

    # Revoked with the token API: refused at once, its stream closed with 1008.
    async with aiohttp.ClientSession() as s:
        closed = asyncio.create_task(_until_closed(await ticket_ws(d, s, token)))
        code, body = await d.call("DELETE", f"/api/clients/acme/tokens/{answer['token_id']}")
        assert code == 200, body
        assert await asyncio.wait_for(closed, 30) == 1008
    code, body, _ = await as_key(d, token, "GET", "/api/whoami")
    assert code == 401 and body["code"] == "unauthorized"


async def _until_closed(ws: aiohttp.ClientWebSocketResponse) -> int | None:
    """Read until the server closes (reading all along, so the close handshake completes)."""
    async for _ in ws:
        pass
    return ws.close_code


async def test_an_invite_expires_and_the_page_is_served_like_the_dashboard(
    daemon: Daemon,
) -> None:
    code, _ = await daemon.call("POST", "/api/clients/acme/connect")
    assert code == 202
    for body, field in [
        ({"expires_in": 0}, "expires_in"),
        ({"expires_in": "3600"}, "expires_in"),
        ({"expires_in": True}, "expires_in"),
        ({"scopes": ["send"]}, "scopes"),
        ({"scopes": ["read", "admin"]}, "scopes"),
        ({"name": "x" * 101}, "name"),
        ({"extra": 1}, "extra"),
    ]:
        code, answer = await daemon.call("POST", "/api/clients/acme/portal-invite", json=body)
        assert code == 400 and answer["code"] == "invalid_field", (body, answer)
        assert answer["field"] == field, answer
    code, answer = await daemon.call(
        "POST", "/api/clients/acme/portal-invite", data=b"{", headers={"Content-Type": "x"}
    )
    assert code == 400 and answer["code"] == "invalid_json"

    answer, token = await invite(daemon, "acme", expires_in=6, scopes=["read"], name="short")
    assert answer["scopes"] == ["read"]
    code, me, _ = await as_key(daemon, token, "GET", "/api/whoami")
    assert code == 200 and me["scopes"] == ["read"] and me["name"] == "short"
    assert me["expires_at"] == answer["expires_at"]
    code, body, _ = await as_key(daemon, token, "GET", "/api/clients/acme/webhooks")
    assert code == 403 and "webhooks" in body["detail"], body
    async with aiohttp.ClientSession() as s:
        ws = await ticket_ws(daemon, s, token)
        close_code = await asyncio.wait_for(_until_closed(ws), 30)
    assert close_code == 1008
    code, body, _ = await as_key(daemon, token, "GET", "/api/clients/acme/status")
    assert code == 401 and body["code"] == "unauthorized"
    assert time.time() >= datetime.fromisoformat(answer["expires_at"]).timestamp()

    # The page: the dashboard's security headers, no inline script, its token never in a query.
    async with aiohttp.ClientSession() as s:
        async with s.get(daemon.base + "/admin/instances") as r:
            admin_csp = r.headers["Content-Security-Policy"]
        async with s.get(daemon.base + "/portal") as r:
            assert r.status == 200 and r.headers["Content-Type"].startswith("text/html")
            assert r.headers["Content-Security-Policy"] == admin_csp
            assert "script-src 'self'" in admin_csp and "unsafe-inline" not in admin_csp
            assert r.headers["X-Frame-Options"] == "DENY"
            assert r.headers["Referrer-Policy"] == "no-referrer"
            html = await r.text()
        assert "<script>" not in html and 'src="/portal/static/portal.js"' in html
        assert " on" + "click=" not in html
        async with s.get(daemon.base + "/portal/", allow_redirects=False) as r:
            assert r.status == 302 and r.headers["Location"] == "/portal"
        for name, ctype in [("portal.js", "text/javascript"), ("portal.css", "text/css")]:
            async with s.get(f"{daemon.base}/portal/static/{name}") as r:
                assert r.status == 200 and r.headers["Content-Type"].startswith(ctype)
        for name in ["app.js", "..%2Fhandlers%2Fportal.py", "portal.py"]:
            async with s.get(f"{daemon.base}/portal/static/{name}") as r:
                assert r.status == 404, name
    js = json.dumps((daemon.home / "logs" / "wamc.log").read_text())
    assert token not in js
