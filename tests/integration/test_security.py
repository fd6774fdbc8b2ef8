"""API security against a real daemon, real workers and the simulator: per-client tokens and
scopes, revocation, rate limits, send pacing and idempotency, the audit log, no secret in logs."""

from __future__ import annotations

import asyncio
import json
import time
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from tests.support import API_KEY, Daemon, wait_for

PHONE_A = "5511900000011"
PHONE_B = "5511900000012"
PHONE_X = "5511988880000"
CHAT_X = f"{PHONE_X}@c.us"


async def as_key(
    d: Daemon, key: str | None, method: str, path: str, bearer: bool = False, **kw: Any
) -> tuple[int, Any, dict[str, str]]:
    """One call with exactly this key (or none), in X-Api-Key or as a Bearer token."""
    headers = dict(kw.pop("headers", {}))
    if key is not None:
        headers["Authorization" if bearer else "X-Api-Key"] = f"Bearer {key}" if bearer else key
    async with (
        aiohttp.ClientSession() as s,
        s.request(method, d.base + path, headers=headers, **kw) as r,
    ):
        raw = await r.read()
        body: Any = json.loads(raw) if "json" in r.headers.get("Content-Type", "") else raw
        return r.status, body, dict(r.headers)


async def new_token(d: Daemon, client: str, scopes: list[str], name: str = "") -> dict[str, Any]:
    code, body = await d.call(
        "POST", f"/api/clients/{client}/tokens", json={"scopes": scopes, "name": name}
    )
    assert code == 201, body
    assert body["token"].startswith("wamc_") and body["id"].startswith("tok_")
    return body


@pytest.fixture
async def daemon_paced(make_daemon: Any) -> Daemon:
    return await make_daemon(
        {"WAMC_SEND_INTERVAL": "4", "WAMC_SEND_JITTER": "0", "WAMC_SEND_QUEUE_SIZE": "2"}
    )


def _fill(path: str, client: str) -> str:
    return (
        path.replace("{id}", client)
        .replace("{chatId}", CHAT_X)
        .replace("{tokenId}", "tok_0000000000000000")
    )


async def test_client_tokens_are_confined_to_their_client(daemon: Daemon, sim_http: Any) -> None:
    await daemon.connect_scanned(sim_http, "acme", PHONE_A)
    await daemon.connect_scanned(sim_http, "shop", PHONE_B)
    full = await new_token(daemon, "acme", ["read", "send", "control"], "acme all")
    reader = await new_token(daemon, "acme", ["read"], "acme reader")
    full_key, read_key = full["token"], reader["token"]

    # Every endpoint of another client (from the live OpenAPI document): 403, nothing done.
    code, doc = await daemon.call("GET", "/openapi.json")
    assert code == 200
    tried = 0
    for path, item in doc["paths"].items():
        for method in item:
            if "{id}" not in path:
                continue
            for key in (full_key, read_key):
                code, body, _ = await as_key(
                    daemon, key, method.upper(), _fill(path, "shop"), json={}
                )
                assert code == 403 and body["code"] == "forbidden", (method, path, code, body)
                tried += 1
    assert tried >= 2 * 14
    # Admin-only endpoints (tokens, audit, shutdown, dashboard feeds) refuse every token.
    for method, path in [
        ("GET", "/api/audit"),
        ("POST", "/api/shutdown"),
        ("GET", "/api/clients/acme/tokens"),
        ("POST", "/api/clients/acme/tokens"),
        ("GET", "/api/messages/recent"),
    ]:
        code, body, _ = await as_key(
            daemon, full_key, method, path, json={"scopes": ["read", "send", "control"]}
        )
        assert code == 403, (method, path, code, body)
    st = await daemon.status("shop")
    assert st["state"] == "connected" and st["desired"] == "running"
    assert await sim_http.sent(PHONE_B) == []
    # A token cannot create a client (connect is only for its own, existing one).
    code, body, _ = await as_key(daemon, full_key, "POST", "/api/clients/newone/connect")
    assert code == 403

    # Its own client: allowed within its scopes, through either header form.
    code, body, _ = await as_key(daemon, read_key, "GET", "/api/clients/acme/status", bearer=True)
    assert code == 200 and body["state"] == "connected"
    code, body, _ = await as_key(daemon, read_key, "GET", "/api/clients")
    assert code == 200 and [c["id"] for c in body["clients"]] == ["acme"]
    code, body, _ = await as_key(
        daemon,
        read_key,
        "POST",
        "/api/clients/acme/send-message",
        json={"to": PHONE_X, "text": "x"},
    )
    assert code == 403 and "send" in body["detail"]
    code, body, _ = await as_key(daemon, read_key, "POST", "/api/clients/acme/restart")
    assert code == 403
    code, body, _ = await as_key(
        daemon,
        full_key,
        "POST",
        "/api/clients/acme/send-message",
        bearer=True,
        json={"to": PHONE_X, "text": "from a token"},
    )
    assert code == 201, body
    assert [m["body"] for m in await sim_http.sent(PHONE_A)] == ["from a token"]

    # Events: a token's WebSocket carries its client's events only; it cannot ask for others.
    async with aiohttp.ClientSession() as s:
        with pytest.raises(aiohttp.WSServerHandshakeError) as exc:
            await s.ws_connect(f"{daemon.base}/ws?clients=shop", headers={"X-Api-Key": read_key})
        assert exc.value.status == 403
        async with (
            s.ws_connect(f"{daemon.base}/ws", headers={"X-Api-Key": read_key}) as tws,
            s.ws_connect(f"{daemon.base}/ws", headers={"X-Api-Key": API_KEY}) as aws,
        ):
            seen_admin: list[dict[str, Any]] = []
            seen_token: list[dict[str, Any]] = []

            async def drain(ws: aiohttp.ClientWebSocketResponse, into: list) -> None:
                async for msg in ws:
                    into.append(json.loads(msg.data))

            tasks = [
                asyncio.create_task(drain(tws, seen_token)),
                asyncio.create_task(drain(aws, seen_admin)),
            ]
            try:
                b_id = await sim_http.deliver(PHONE_B, PHONE_X, "for shop only")
                await wait_for(
                    lambda: [e for e in seen_admin if e["data"].get("id") == b_id],
                    timeout=30,
                    what="shop's message on the admin stream",
                )
                a_id = await sim_http.deliver(PHONE_A, PHONE_X, "for acme")
                await wait_for(
                    lambda: [e for e in seen_token if e["data"].get("id") == a_id],
                    timeout=30,
                    what="acme's message on the token stream",
                )
            finally:
                for t in tasks:
                    t.cancel()
            assert all(e["client"] in ("acme", None) for e in seen_token), seen_token
            assert not [e for e in seen_token if e["data"].get("id") == b_id]

    # Revocation works at once; the other token of the same client keeps working.
    code, body = await daemon.call("DELETE", f"/api/clients/acme/tokens/{full['id']}")
    assert code == 200 and body["revoked"] is True
    code, body, _ = await as_key(daemon, full_key, "GET", "/api/clients/acme/status")
    assert code == 401 and body["code"] == "unauthorized"
    code, body, _ = await as_key(daemon, read_key, "GET", "/api/clients/acme/status")
    assert code == 200
    code, body = await daemon.call("GET", "/api/clients/acme/tokens")
    assert [t["id"] for t in body["tokens"]] == [reader["id"]]
    assert "token" not in body["tokens"][0] and "hash" not in body["tokens"][0]
    code, body = await daemon.call("DELETE", f"/api/clients/acme/tokens/{full['id']}")
    assert code == 404 and body["code"] == "token_not_found"

    # Deleting a client revokes its tokens: a new client of the same id starts clean.
    code, _ = await daemon.call("DELETE", "/api/clients/acme")
    assert code == 202
    code, body, _ = await as_key(daemon, read_key, "GET", "/api/clients/acme/status")
    assert code == 401

    # The audit log: each state-changing call, with the key id and never a key.
    code, audit = await daemon.call("GET", "/api/audit?limit=1000")
    assert code == 200
    entries = audit["entries"]
    by_action = {(e["action"], e["key_id"], e["status"]) for e in entries}
    assert ("send_message", full["id"], 201) in by_action
    assert ("send_message", reader["id"], 403) in by_action
    assert ("revoke_token", "admin", 200) in by_action
    assert ("delete_client", "admin", 202) in by_action
    assert ("create_token", "admin", 201) in by_action
    assert ("connect", "admin", 202) in by_action
    assert ("restart", reader["id"], 403) in by_action
    assert any(e["status"] == 401 and e["key_id"] is None for e in entries)
    lines = [
        json.loads(x)
        for x in (daemon.home / "logs" / "audit.log").read_text().splitlines()
        if x.strip()
    ]
    assert len(lines) == len(entries) and {e["action"] for e in lines} >= {"create_token"}
    code, page = await daemon.call("GET", f"/api/audit?key_id={reader['id']}&limit=2")
    assert code == 200 and len(page["entries"]) == 2 and page["next_before"]
    assert all(e["key_id"] == reader["id"] for e in page["entries"])

    # No secret anywhere the daemon writes: logs, audit log, database, daemon output.
    await daemon.stop()
    secrets = [API_KEY, full_key, read_key]
    scanned = 0
    for path in daemon.home.rglob("*"):
        if path.is_file() and "profile" not in path.parts:
            data = path.read_bytes()
            scanned += 1
            for secret in secrets:
                assert secret.encode() not in data, f"a secret is in {path}"
    assert scanned >= 3


async def test_rate_limit_answers_429_with_retry_after(tmp_path: Path, simulator: Any) -> None:
    d = Daemon(
        tmp_path / "home",
        simulator,
        extra_env={
            "WAMC_API_RATE_PER_MINUTE": "30",
            "WAMC_API_RATE_BURST": "5",
            "WAMC_ADMIN_RATE_PER_MINUTE": "30",
        },
    )
    d.home.mkdir()
    await d.start()
    try:
        codes = []
        for _ in range(8):
            code, body, headers = await as_key(d, API_KEY, "GET", "/api/clients")
            codes.append(code)
            if code == 429:
                break
        assert codes[:5] == [200] * 5 and codes[-1] == 429, codes
        assert body["code"] == "rate_limited"
        retry = int(headers["Retry-After"])
        assert 1 <= retry <= 2  # 30 a minute: one more request every 2 s
        # Every /api call counts against the key; /health is not limited.
        code, body = await d.call("POST", "/api/clients/acme/connect")
        assert code == 429  # the admin key (d.call) is the same exhausted key
        code, _, _ = await as_key(d, API_KEY, "GET", "/health")
        assert code == 200
        # Once Retry-After has passed the key works again.
        t0 = time.monotonic()
        await asyncio.sleep(retry)  # waiting out the advertised time is the behaviour under test
        code, _, _ = await as_key(d, API_KEY, "GET", "/api/clients")
        assert code == 200, time.monotonic() - t0

        async def audit_page() -> Any:
            code, body, _ = await as_key(d, API_KEY, "GET", "/api/audit")
            return body if code == 200 else None

        audit = await wait_for(audit_page, timeout=15, interval=0.5, what="the audit log")
        assert any(e["status"] == 429 and e["result"] == "rate_limited" for e in audit["entries"])
    finally:
        await d.close()


async def test_send_pacing_queue_and_idempotency(daemon_paced: Daemon, sim_http: Any) -> None:
    d = daemon_paced
    await d.connect_scanned(sim_http, "acme", PHONE_A)
    send = {"to": PHONE_X, "text": "once only"}

    # Idempotency-Key: a repeat answers the first result and sends nothing.
    code, first, h1 = await as_key(
        d,
        API_KEY,
        "POST",
        "/api/clients/acme/send-message",
        json=send,
        headers={"Idempotency-Key": "order-1"},
    )
    assert code == 201, first
    assert "Idempotent-Replayed" not in h1
    code, again, h2 = await as_key(
        d,
        API_KEY,
        "POST",
        "/api/clients/acme/send-message",
        json=send,
        headers={"Idempotency-Key": "order-1"},
    )
    assert code == 201 and again == first and h2.get("Idempotent-Replayed") == "true"
    code, body, _ = await as_key(
        d,
        API_KEY,
        "POST",
        "/api/clients/acme/send-message",
        json={**send, "text": "another"},
        headers={"Idempotency-Key": "order-1"},
    )
    assert code == 409 and body["code"] == "idempotency_conflict"
    code, body, _ = await as_key(
        d,
        API_KEY,
        "POST",
        "/api/clients/acme/send-message",
        json=send,
        headers={"Idempotency-Key": "bad key with spaces"},
    )
    assert code == 400 and body["field"] == "Idempotency-Key"
    assert [m["body"] for m in await sim_http.sent(PHONE_A)] == ["once only"]

    # Pacing: the next sends wait 4 s apart; a full queue (2) answers 429 + Retry-After.
    async def timed(text: str) -> tuple[int, Any, dict[str, str], float]:
        code, body, headers = await as_key(
            d, API_KEY, "POST", "/api/clients/acme/send-message", json={"to": PHONE_X, "text": text}
        )
        return code, body, headers, time.monotonic()

    t0 = time.monotonic()
    results = await asyncio.gather(*(timed(f"paced {i}") for i in range(3)))
    codes = sorted(r[0] for r in results)
    assert codes == [201, 201, 429], [(r[0], r[1]) for r in results]
    full = next(r for r in results if r[0] == 429)
    assert full[1]["code"] == "send_queue_full" and int(full[2]["Retry-After"]) >= 1
    done = sorted(r[3] - t0 for r in results if r[0] == 201)
    # The first send went out at ~0 s: the next two wait for 4 s and 8 s after it.
    assert done[1] - done[0] >= 3.5, done
    bodies = [m["body"] for m in await sim_http.sent(PHONE_A)]
    accepted = sorted(f"paced {i}" for i, r in enumerate(results) if r[0] == 201)
    assert bodies[0] == "once only" and sorted(bodies[1:]) == accepted, bodies


async def test_client_limit_and_cors(tmp_path: Path, simulator: Any) -> None:
    d = Daemon(
        tmp_path / "home",
        simulator,
        extra_env={"WAMC_MAX_CLIENTS": "1", "WAMC_CORS_ORIGINS": "https://ops.example"},
    )
    d.home.mkdir()
    await d.start()
    try:
        code, body = await d.call("POST", "/api/clients/one/connect")
        assert code == 202, body
        code, body = await d.call("POST", "/api/clients/two/connect")
        assert code == 409 and body["code"] == "client_limit"
        code, body = await d.call("POST", "/api/clients/one/connect")  # existing: fine
        assert code == 202
        # CORS: the configured origin only; preflight needs no key.
        pre = {"Origin": "https://ops.example", "Access-Control-Request-Method": "POST"}
        code, _, headers = await as_key(d, None, "OPTIONS", "/api/clients", headers=pre)
        assert code == 204 and headers["Access-Control-Allow-Origin"] == "https://ops.example"
        assert "X-Api-Key" in headers["Access-Control-Allow-Headers"]
        code, _, headers = await as_key(
            d, API_KEY, "GET", "/api/clients", headers={"Origin": "https://evil.example"}
        )
        assert code == 200 and "Access-Control-Allow-Origin" not in headers
        assert headers["X-Content-Type-Options"] == "nosniff"
        evil = {**pre, "Origin": "https://evil.example"}
        code, _, headers = await as_key(d, None, "OPTIONS", "/api/clients", headers=evil)
        assert code != 204 and "Access-Control-Allow-Origin" not in headers
    finally:
        await d.close()


# --- the pieces on their own (no daemon) ----------------------------------------------------------


def test_principal_scopes_and_client() -> None:
    from wamc.errors import Refused
    from wamc.security import ADMIN, Principal

    tok = Principal("tok_1", "acme", frozenset({"read"}))
    tok.check("read", "acme")
    tok.check("read", None)
    for scope, client in [("send", "acme"), ("control", "acme"), ("read", "shop"), ("admin", None)]:
        with pytest.raises(Refused) as exc:
            tok.check(scope, client)
        assert exc.value.code == "forbidden"
    ADMIN.check("admin", None)
    ADMIN.check("control", "shop")


def test_api_limiter_bucket() -> None:
    from wamc.api.problems import status_of
    from wamc.security import ApiLimiter, Throttled

    lim = ApiLimiter(per_minute=60, burst=3, admin_per_minute=6000)
    for _ in range(1000):
        lim.hit("admin", now=50.0, admin=True)  # the admin key has a larger allowance
    for _ in range(3):
        lim.hit("k", now=100.0)
    with pytest.raises(Throttled) as exc:
        lim.hit("k", now=100.0)
    assert status_of(exc.value.code) == 429 and exc.value.retry_after == 1
    lim.hit("other", now=100.0)  # each key has its own bucket
    lim.hit("k", now=101.0)  # one second later: one more request
    ApiLimiter(per_minute=0, burst=1).hit("k")  # 0 disables


async def test_send_pacer_orders_and_spaces_sends() -> None:
    from wamc.security import SendPacer, Throttled

    pacer = SendPacer(interval=0.2, jitter=0.0, queue_size=3)
    stamps: list[tuple[int, float]] = []

    def job(i: int) -> Any:
        async def send() -> int:
            stamps.append((i, time.monotonic()))
            await asyncio.sleep(0.01)  # the worker round trip
            return i

        return send

    results = await asyncio.gather(
        *(pacer.run("acme", job(i)) for i in range(4)), return_exceptions=True
    )
    assert results[:3] == [0, 1, 2] and isinstance(results[3], Throttled)
    assert [i for i, _ in stamps] == [0, 1, 2]  # FIFO
    gaps = [b - a for (_, a), (_, b) in zip(stamps, stamps[1:], strict=False)]
    assert all(g >= 0.19 for g in gaps), gaps
    assert pacer.depth("acme") == 0
    assert await pacer.run("shop", job(9)) == 9  # another client's lane is independent


def test_tokens_hash_only(tmp_path: Path) -> None:
    from wamc.security import Tokens, hash_token
    from wamc.storage import Database

    async def scenario() -> None:
        store = Database(tmp_path / "t.db")
        await store.open()
        tokens = Tokens(store, "admin-key-123")
        await tokens.load()
        rec, secret = await tokens.create("acme", ["send", "read"], "x")
        assert rec.scopes == ["read", "send"] and rec.hash == hash_token(secret)
        assert tokens.authenticate(secret).client == "acme"  # type: ignore[union-attr]
        assert tokens.authenticate("admin-key-123").is_admin  # type: ignore[union-attr]
        assert tokens.authenticate(secret + "x") is None and tokens.authenticate("") is None
        fresh = Tokens(store, "admin-key-123")  # a restarted daemon reloads from SQLite
        await fresh.load()
        assert fresh.authenticate(secret) is not None
        assert await fresh.revoke("acme", rec.id) and fresh.authenticate(secret) is None
        await store.close()
        assert secret.encode() not in (tmp_path / "t.db").read_bytes()

    asyncio.run(scenario())
