"""The polled status route after the gateway's per-request shortcuts (issue 13): the same
headers as any private answer (with CORS too), a wrong key still 401, a spent key bucket still
429 with Retry-After, and the refusals still in the audit log."""

from __future__ import annotations

from typing import Any

import aiohttp

from tests.support import API_KEY, Daemon, wait_for

ORIGIN = "https://ops.example"
SECURE = {"X-Content-Type-Options": "nosniff", "X-Frame-Options": "DENY"}


async def test_status_keeps_its_headers_auth_limit_and_audit(make_daemon: Any) -> None:
    d: Daemon = await make_daemon(
        {
            "WAMC_CORS_ORIGINS": ORIGIN,
            "WAMC_API_RATE_PER_MINUTE": "6",  # client tokens: 3 at once, then one per 10 s
            "WAMC_API_RATE_BURST": "3",
            "WAMC_ADMIN_RATE_PER_MINUTE": "100000",
        }
    )
    code, body = await d.call("POST", "/api/clients/acme/connect")
    assert code == 202, body
    code, token = await d.call(
        "POST", "/api/clients/acme/tokens", json={"scopes": ["read"], "name": "poller"}
    )
    assert code == 201, token
    url = d.base + "/api/clients/acme/status"
    async with aiohttp.ClientSession() as s:
        async with s.get(url, headers={"X-Api-Key": API_KEY}) as r:
            assert r.status == 200 and (await r.json())["id"] == "acme"
            assert r.headers["Content-Type"] == "application/json; charset=utf-8"
            assert {k: r.headers[k] for k in SECURE} == SECURE
            assert r.headers["Referrer-Policy"] == "no-referrer"
            assert r.headers["Cache-Control"] == "no-store"
            assert "Access-Control-Allow-Origin" not in r.headers
        async with s.get(url, headers={"X-Api-Key": API_KEY, "Origin": ORIGIN}) as r:
            assert r.status == 200
            assert r.headers["Access-Control-Allow-Origin"] == ORIGIN
            assert r.headers["Vary"] == "Origin" and r.headers["Cache-Control"] == "no-store"
        for wrong in ({"X-Api-Key": API_KEY + "x"}, {"Authorization": "Bearer nope"}, {}):
            async with s.get(url, headers=wrong) as r:
                assert r.status == 401 and (await r.json())["code"] == "unauthorized"
                assert r.headers["Cache-Control"] == "no-store"
        bearer = {"Authorization": f"Bearer {token['token']}"}
        codes = []
        for _ in range(4):
            async with s.get(url, headers=bearer) as r:
                codes.append(r.status)
                retry = r.headers.get("Retry-After")
        assert codes == [200, 200, 200, 429], codes
        assert retry is not None and 1 <= int(retry) <= 10

    async def refusals() -> Any:
        code, body = await d.call("GET", "/api/audit")
        assert code == 200, body
        seen = {(e.get("key_id"), e["status"], e["action"]) for e in body["entries"]}
        return seen if (token["id"], 429, "status") in seen else None

    await wait_for(refusals, timeout=15, interval=0.5, what="the 429 in the audit log")
