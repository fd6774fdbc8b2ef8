"""Every kind of answer carries the security headers, set by the gate or, for a stream its
handler prepares itself, by that handler (wamc/api/middleware.py ``secure_headers``): JSON,
problems, a public page, a redirect, a CORS preflight, an SSE stream, an export and a WebSocket."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import aiohttp

from tests.support import API_KEY, Daemon

BASE = {"X-Content-Type-Options": "nosniff", "X-Frame-Options": "DENY"}


def check(got: Mapping[str, str], private: bool, what: str) -> None:
    for name, value in BASE.items():
        assert got.get(name) == value, (what, got)
    assert got.get("Referrer-Policy") == "no-referrer", (what, got)
    if private:
        assert "no-store" in got.get("Cache-Control", ""), (what, got)


async def test_every_kind_of_answer_has_the_headers(make_daemon: Any) -> None:
    d: Daemon = await make_daemon({"WAMC_CORS_ORIGINS": "https://ops.example"})
    key = {"X-Api-Key": API_KEY}
    async with aiohttp.ClientSession() as s:
        cases = [
            ("GET", "/api/clients", key, 200, True),
            ("GET", "/api/clients/nobody/status", key, 404, True),  # a problem
            ("GET", "/api/no-such-thing", key, 404, True),  # unmatched
            ("GET", "/api/clients", {}, 401, True),  # refused before any handler
            ("GET", "/health", {}, 200, False),  # public
            ("GET", "/openapi.json", {}, 200, True),
        ]
        for method, path, headers, status, private in cases:
            async with s.request(method, d.base + path, headers=headers) as r:
                assert r.status == status, (path, r.status)
                check(r.headers, private, path)
        async with s.get(d.base + "/api-docs/", allow_redirects=False) as r:  # raised HTTPFound
            assert r.status == 302
            check(r.headers, False, "redirect")
        pre = {"Origin": "https://ops.example", "Access-Control-Request-Method": "POST"}
        async with s.options(d.base + "/api/clients", headers=pre) as r:
            assert r.status == 204
            check(r.headers, True, "preflight")
        origin = {**key, "Origin": "https://ops.example"}
        async with s.get(d.base + "/api/clients", headers=origin) as r:
            assert r.headers["Access-Control-Allow-Origin"] == "https://ops.example"
            check(r.headers, True, "cors")
        code, body = await d.call("POST", "/api/clients/acme/connect")
        assert code == 202, body
        async with s.get(d.base + "/api/clients/acme/export", headers=key) as r:
            assert r.status == 200
            check(r.headers, True, "export")
            await r.read()
        async with s.get(d.base + "/api/events", headers=key) as r:
            assert r.status == 200 and r.headers["Content-Type"].startswith("text/event-stream")
            check(r.headers, True, "sse")
        async with s.ws_connect(d.base + "/ws", headers=key) as ws:
            assert ws._response is not None  # noqa: SLF001 - the upgrade answer's headers
            check(ws._response.headers, True, "websocket")  # noqa: SLF001
