"""Bad input gets a clear RFC 9457 problem, nothing crashes, no other client is affected."""

from __future__ import annotations

from typing import Any

import aiohttp
import pytest

from tests.support import API_KEY, Daemon

PROBLEM_KEYS = {"type", "title", "status", "detail", "code"}


def assert_problem(code: int, body: Any, status: int, err: str, field: str | None = None) -> None:
    assert code == status, body
    assert set(body) >= PROBLEM_KEYS, body
    assert body["status"] == status and body["code"] == err, body
    if field is not None:
        assert body.get("field") == field, body
    text = str(body)
    assert "Traceback" not in text and "/work/" not in text and ".py" not in text


async def test_auth_is_required_but_health_is_public(daemon: Daemon) -> None:
    async with aiohttp.ClientSession() as anon:
        async with anon.get(daemon.base + "/health") as r:
            body = await r.json()
            assert r.status == 200 and body["status"] == "ok" and body["activeClients"] == 0
            assert body["timestamp"].endswith("Z")
        for path in ["/api/clients", "/api/clients/acme/status"]:
            async with anon.get(daemon.base + path) as r:
                assert r.headers["Content-Type"].startswith("application/problem+json")
                assert_problem(r.status, await r.json(), 401, "unauthorized")
        async with anon.get(daemon.base + "/api/clients", headers={"X-Api-Key": "wrong"}) as r:
            assert r.status == 401
        with pytest.raises(aiohttp.WSServerHandshakeError) as exc:
            async with anon.ws_connect(daemon.base + "/ws"):
                pass
        assert exc.value.status == 401
        async with anon.ws_connect(f"{daemon.base}/ws?api_key={API_KEY}") as ws:
            assert not ws.closed
    # The key never reaches the log, even when passed in a query string.
    log = (daemon.home / "logs" / "wamc.log").read_text()
    assert API_KEY not in log


async def test_bad_input_answers(daemon: Daemon) -> None:
    assert_problem(
        *await daemon.call("POST", "/api/clients/a.b/connect"), 400, "invalid_client_id", "id"
    )
    assert_problem(
        *await daemon.call("POST", f"/api/clients/{'x' * 65}/connect"), 400, "invalid_client_id"
    )
    assert_problem(*await daemon.call("GET", "/api/clients/ghost/status"), 404, "client_not_found")
    assert_problem(*await daemon.call("DELETE", "/api/clients/ghost"), 404, "client_not_found")
    assert_problem(*await daemon.call("GET", "/api/nothing-here"), 404, "not_found")
    assert_problem(*await daemon.call("PUT", "/api/clients"), 405, "method_not_allowed")

    code, body = await daemon.call("POST", "/api/clients/acme/connect")
    assert code == 202 and body["state"] == "starting"
    send = "/api/clients/acme/send-message"
    assert_problem(*await daemon.call("POST", send, data=b"{nope"), 400, "invalid_json")
    assert_problem(*await daemon.call("POST", send, json=["x"]), 400, "invalid_json")
    assert_problem(
        *await daemon.call("POST", send, json={"to": "5511999999999"}), 400, "invalid_field", "text"
    )
    assert_problem(
        *await daemon.call("POST", send, json={"to": "5511999999999", "text": "  "}),
        400,
        "invalid_field",
        "text",
    )
    big = "é" * (32 * 1024 + 1)  # 64 KiB + 2 bytes of UTF-8
    assert_problem(
        *await daemon.call("POST", send, json={"to": "5511999999999", "text": big}),
        400,
        "invalid_field",
        "text",
    )
    assert_problem(
        *await daemon.call("POST", send, json={"to": "not a number", "text": "hi"}),
        400,
        "invalid_field",
        "to",
    )
    assert_problem(
        *await daemon.call("POST", send, json={"to": "1@evil.example", "text": "hi"}),
        400,
        "invalid_chat_id",
        "to",
    )
    assert_problem(
        *await daemon.call("POST", send, json={"to": "5511999999999", "text": "hi", "extra": 1}),
        400,
        "invalid_field",
        "extra",
    )
    # Valid input while not connected → 409.
    assert_problem(
        *await daemon.call("POST", send, json={"to": "5511999999999", "text": "hi"}),
        409,
        "not_connected",
    )
    assert_problem(*await daemon.call("GET", "/api/clients/acme/chats"), 409, "not_connected")
    msgs = "/api/clients/acme/chats/5511999999999@c.us/messages"
    assert_problem(*await daemon.call("GET", msgs + "?limit=0"), 400, "invalid_parameter", "limit")
    assert_problem(
        *await daemon.call("GET", msgs + "?before=garbage!"), 400, "invalid_parameter", "before"
    )
    assert_problem(
        *await daemon.call("GET", "/api/clients/acme/chats/..%2F..%2Fetc/messages"),
        400,
        "invalid_chat_id",
    )
    assert_problem(
        *await daemon.call("GET", "/api/clients/acme/qr?format=gif"),
        400,
        "invalid_parameter",
        "format",
    )
    code, body = await daemon.call("GET", msgs)
    assert code == 200 and body == {"messages": [], "next_before": None}
    assert_problem(
        *await daemon.call("POST", send, data=b"x" * (300 * 1024)), 413, "payload_too_large"
    )

    # After all that the daemon and the client are fine.
    code, health = await daemon.call("GET", "/health")
    assert code == 200 and health["clients"] == 1
    await daemon.wait_state("acme", "qr")

    # Deleting removes the client and its data.
    code, _ = await daemon.call("DELETE", "/api/clients/acme")
    assert code == 202
    assert_problem(*await daemon.call("GET", "/api/clients/acme/status"), 404, "client_not_found")
    assert not (daemon.home / "sessions" / "acme").exists()
