"""Issue 9, gateway side, against the real daemon: fast shutdown, stream tickets and caps,
streams closed on revocation and deletion, the pre-auth limit, strict client ids, key length."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import aiohttp
import psutil
import pytest

from tests.support import API_KEY, REPO, Daemon, wait_for
from wamc.security import AuditLog
from wamc.storage import Database

PHONE = "5511900000901"
CONTACT = "5511955550901"


def test_short_api_key_refuses_to_start(tmp_path: Path) -> None:
    env = {**os.environ, "WAMC_HOME": str(tmp_path), "WAMC_PORT": "1", "WAMC_API_KEY": "x" * 31}
    out = subprocess.run(
        [sys.executable, "-m", "wamc.cli", "serve"],
        env=env,
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert out.returncode != 0
    assert "wamc api-key" in out.stderr and "31 characters" in out.stderr, out.stderr


async def test_client_ids_fullmatch_and_stored_legacy_ids_stay_reachable(make_daemon: Any) -> None:
    d = await make_daemon()
    for bad in ("acme%0A", "-x", "_x", "acme%0D", "a" * 65):
        code, body = await d.call("POST", f"/api/clients/{bad}/connect")
        assert code == 400 and body["code"] == "invalid_client_id", (bad, body)
    code, body = await d.call("GET", "/api/clients")
    assert body["clients"] == []
    await d.stop()
    # Rows an older daemon accepted: still reachable for status, disconnect and delete.
    with contextlib.closing(sqlite3.connect(d.home / "sessions" / ".wamc" / "wamc.db")) as db:
        for legacy in ("-old", "acme\n"):
            db.execute(
                "INSERT INTO clients (id, desired, created_at) VALUES (?, 'stopped', ?)",
                (legacy, "2026-01-01T00:00:00.000Z"),
            )
        db.commit()
    await d.start()
    log = (d.home / "logs" / "wamc.log").read_text()
    assert "no longer valid" in log and "'-old'" in log and "'acme\\n'" in log
    code, body = await d.call("GET", "/api/clients/-old/status")
    assert code == 200 and body["id"] == "-old"
    code, body = await d.call("GET", "/api/clients/acme%0A/status")
    assert code == 200 and body["id"] == "acme\n"
    code, body = await d.call("POST", "/api/clients/-old/disconnect")
    assert code == 202, body
    code, body = await d.call("POST", "/api/clients/-old/connect")  # no new start under it
    assert code == 400 and body["code"] == "invalid_client_id"
    for legacy in ("-old", "acme%0A"):
        code, body = await d.call("DELETE", f"/api/clients/{legacy}")
        assert code == 202, body
    code, body = await d.call("GET", "/api/clients")
    assert body["clients"] == []


# --- shared helpers ---------------------------------------------------------------------------------


async def sse_lines(resp: aiohttp.ClientResponse, into: list[str]) -> None:
    """Every line of an SSE body until EOF (the stream's end)."""
    async for raw in resp.content:
        into.append(raw.decode().rstrip("\n"))


async def ws_until_close(ws: aiohttp.ClientWebSocketResponse) -> int | None:
    """Read until the server closes; the close code it sent."""
    async for _msg in ws:
        pass
    return ws.close_code


async def token_for(d: Daemon, client: str, scopes: list[str]) -> dict[str, Any]:
    code, body = await d.call("POST", f"/api/clients/{client}/tokens", json={"scopes": scopes})
    assert code == 201, body
    return body


async def stopped_client(d: Daemon, client: str) -> None:
    """A client that exists (tokens need one) without a browser running for it."""
    code, body = await d.call("POST", f"/api/clients/{client}/connect")
    assert code == 202, body
    code, body = await d.call("POST", f"/api/clients/{client}/disconnect")
    assert code == 202, body
    await d.wait_state(client, "stopped")


# --- 1. fast shutdown -------------------------------------------------------------------------------


async def test_sigterm_closes_streams_answers_queued_sends_and_exits_fast(
    make_daemon: Any, sim_http: Any
) -> None:
    d = await make_daemon(
        {"WAMC_SEND_INTERVAL": "60", "WAMC_SEND_JITTER": "0", "WAMC_SEND_QUEUE_SIZE": "2"}
    )
    status = await d.connect_scanned(sim_http, "acme", PHONE)
    worker_pid = status["pid"]
    send_url = f"{d.base}/api/clients/acme/send-message"

    async with aiohttp.ClientSession(headers={"X-Api-Key": API_KEY}) as s:

        async def send(text: str) -> tuple[int, Any]:
            async with s.post(send_url, json={"to": CONTACT, "text": text}) as r:
                return r.status, await r.json()

        code, body = await send("goes out")  # the next one waits 60 s for its turn
        assert code == 201, body
        queued: list[asyncio.Task[tuple[int, Any]]] = []

        async def queue_is_full() -> bool:
            task = asyncio.create_task(send(f"queued {len(queued)}"))
            done, _ = await asyncio.wait({task}, timeout=0.5)
            if task in done and task.result()[0] == 429:
                assert task.result()[1]["code"] == "send_queue_full"
                return True
            queued.append(task)  # it waits in the queue
            return False

        await wait_for(queue_is_full, timeout=30, what="two sends waiting in the queue")
        assert len(queued) == 2

        sockets = [await s.ws_connect(f"{d.base}/ws") for _ in range(3)]
        closes = [asyncio.create_task(ws_until_close(ws)) for ws in sockets]
        sse = await s.get(f"{d.base}/api/events", timeout=aiohttp.ClientTimeout(total=60))
        assert sse.status == 200
        lines: list[str] = []
        sse_done = asyncio.create_task(sse_lines(sse, lines))

        assert d.proc is not None
        started = time.monotonic()
        d.proc.send_signal(signal.SIGTERM)
        await asyncio.to_thread(d.proc.wait, 30)
        elapsed = time.monotonic() - started
        print(f"daemon exit after SIGTERM: {elapsed:.2f}s")
        assert elapsed <= 3.0, f"daemon took {elapsed:.2f}s to exit: {d.tail()}"

        assert await asyncio.wait_for(asyncio.gather(*closes), 10) == [1001, 1001, 1001]
        await asyncio.wait_for(sse_done, 10)  # EOF
        assert "event: shutdown" in lines, lines
        for task in queued:
            code, body = await asyncio.wait_for(task, 10)
            assert code == 503 and body["code"] == "shutting_down", body
        sse.close()
        for ws in sockets:
            await ws.close()
    assert psutil.pid_exists(worker_pid), "the worker is left for the next daemon to adopt"
    assert [m["body"] for m in await sim_http.sent(PHONE)] == ["goes out"]  # queued: never sent


# --- 2. stream tickets ------------------------------------------------------------------------------


async def test_stream_tickets_single_use_bound_to_the_key(daemon: Daemon) -> None:
    d = daemon
    await stopped_client(d, "acme")
    reader = await token_for(d, "acme", ["read"])
    sender = await token_for(d, "acme", ["send"])

    async def ticket(key: str) -> str:
        async with (
            aiohttp.ClientSession(headers={"X-Api-Key": key}) as s,
            s.post(f"{d.base}/api/stream-tickets") as r,
        ):
            body = await r.json()
            assert r.status == 201, body
            assert body["expires_in"] == 30 and r.headers["Cache-Control"] == "no-store"
            return body["ticket"]

    async with aiohttp.ClientSession() as anon:  # no key anywhere but in the ticket
        async with anon.post(f"{d.base}/api/stream-tickets") as r:
            assert r.status == 401
        t = await ticket(API_KEY)
        async with anon.ws_connect(f"{d.base}/ws?ticket={t}") as ws:
            assert not ws.closed
        with pytest.raises(aiohttp.WSServerHandshakeError) as exc:  # single use
            await anon.ws_connect(f"{d.base}/ws?ticket={t}")
        assert exc.value.status == 401
        with pytest.raises(aiohttp.WSServerHandshakeError) as exc:
            await anon.ws_connect(f"{d.base}/ws?ticket=wst_forged")
        assert exc.value.status == 401

        t = await ticket(API_KEY)
        async with anon.get(f"{d.base}/api/events?ticket={t}&since=acme:0") as r:
            assert r.status == 200 and r.headers["Content-Type"].startswith("text/event-stream")
            first = await r.content.readuntil(b"\n\n")
            assert b"event: client.state" in first

        # The ticket carries the token's identity and scopes, nothing more.
        t = await ticket(reader["token"])
        with pytest.raises(aiohttp.WSServerHandshakeError) as exc:
            await anon.ws_connect(f"{d.base}/ws?ticket={t}&clients=shop")
        assert exc.value.status == 403
        t = await ticket(sender["token"])  # any valid key may ask for a ticket …
        with pytest.raises(aiohttp.WSServerHandshakeError) as exc:  # … its scopes still apply
            await anon.ws_connect(f"{d.base}/ws?ticket={t}")
        assert exc.value.status == 403
        t = await ticket(reader["token"])
        async with anon.ws_connect(f"{d.base}/ws?ticket={t}") as ws:
            assert not ws.closed

        # A revoked token's unused tickets die with it.
        t = await ticket(reader["token"])
        code, _ = await d.call("DELETE", f"/api/clients/acme/tokens/{reader['id']}")
        assert code == 200
        with pytest.raises(aiohttp.WSServerHandshakeError) as exc:
            await anon.ws_connect(f"{d.base}/ws?ticket={t}")
        assert exc.value.status == 401

    # Documented: the route table and OpenAPI know the endpoint and the parameter.
    code, doc = await d.call("GET", "/openapi.json")
    assert "post" in doc["paths"]["/api/stream-tickets"]
    for path in ("/ws", "/api/events"):
        params = {p["name"] for p in doc["paths"][path]["get"]["parameters"]}
        assert "ticket" in params, path


# --- 3. streams per key -----------------------------------------------------------------------------


async def test_streams_per_key_are_capped(make_daemon: Any) -> None:
    d = await make_daemon({"WAMC_MAX_STREAMS_PER_KEY": "2"})
    await stopped_client(d, "acme")
    reader = await token_for(d, "acme", ["read"])
    async with aiohttp.ClientSession(headers={"X-Api-Key": API_KEY}) as s:
        first = await s.ws_connect(f"{d.base}/ws")
        sse = await s.get(f"{d.base}/api/events")
        assert sse.status == 200
        with pytest.raises(aiohttp.WSServerHandshakeError) as exc:
            await s.ws_connect(f"{d.base}/ws")
        assert exc.value.status == 429 and exc.value.headers["Retry-After"]
        async with s.get(f"{d.base}/api/events") as r:
            body = await r.json()
            assert r.status == 429 and body["code"] == "too_many_streams", body
            assert int(r.headers["Retry-After"]) >= 1
        # Another key has its own allowance.
        async with (
            aiohttp.ClientSession(headers={"X-Api-Key": reader["token"]}) as t,
            t.ws_connect(f"{d.base}/ws") as tws,
        ):
            assert not tws.closed
        # A closed stream frees its place.
        await first.close()

        async def reopened() -> aiohttp.ClientWebSocketResponse | None:
            try:
                return await s.ws_connect(f"{d.base}/ws")
            except aiohttp.WSServerHandshakeError as err:
                assert err.status == 429
                return None

        again = await wait_for(reopened, timeout=10, what="a place for a new stream")
        await again.close()
        sse.close()


# --- 4. revocation and deletion close streams -------------------------------------------------------


async def test_revoking_a_token_or_deleting_its_client_closes_its_streams(
    make_daemon: Any,
) -> None:
    d = await make_daemon({"WAMC_WEBHOOK_ALLOW_PRIVATE": "1"})
    await stopped_client(d, "acme")
    one = await token_for(d, "acme", ["read"])
    two = await token_for(d, "acme", ["read"])
    code, hook = await d.call(
        "POST", "/api/clients/acme/webhooks", json={"url": "http://127.0.0.1:9/old-owner"}
    )
    assert code == 201, hook
    code, _ = await d.call("POST", "/api/clients/acme/restart")  # events queued for the hook
    assert code == 202
    await d.wait_state("acme", "qr")

    async with (
        aiohttp.ClientSession(headers={"X-Api-Key": one["token"]}) as s1,
        aiohttp.ClientSession(headers={"X-Api-Key": two["token"]}) as s2,
        aiohttp.ClientSession(headers={"X-Api-Key": API_KEY}) as sa,
    ):
        ws1 = await s1.ws_connect(f"{d.base}/ws")
        sse1 = await s1.get(f"{d.base}/api/events")
        ws2 = await s2.ws_connect(f"{d.base}/ws")
        wsa = await sa.ws_connect(f"{d.base}/ws")
        closed1 = asyncio.create_task(ws_until_close(ws1))
        lines1: list[str] = []
        ended1 = asyncio.create_task(sse_lines(sse1, lines1))
        closed2 = asyncio.create_task(ws_until_close(ws2))
        closeda = asyncio.create_task(ws_until_close(wsa))

        code, _ = await d.call("DELETE", f"/api/clients/acme/tokens/{one['id']}")
        assert code == 200
        assert await asyncio.wait_for(closed1, 5) == 1008
        await asyncio.wait_for(ended1, 5)  # EOF after a final error event
        assert "event: error" in lines1, lines1
        assert not closed2.done() and not closeda.done()

        code, _ = await d.call("DELETE", "/api/clients/acme")
        assert code == 202
        assert await asyncio.wait_for(closed2, 5) == 1008
        assert not closeda.done()  # the admin key follows every client: it stays
        await wsa.close()
        sse1.close()

    # The client's webhooks, their outbox and dead letters went with it.
    code, body = await d.call("GET", f"/api/webhooks/{hook['id']}")
    assert code == 404, body
    with contextlib.closing(sqlite3.connect(d.home / "sessions" / ".wamc" / "wamc.db")) as db:
        rows = db.execute(
            "SELECT COUNT(*) FROM webhook_outbox WHERE webhook_id = ?", (hook["id"],)
        ).fetchone()
    assert rows == (0,)
    await stopped_client(d, "acme")  # a new owner of the id inherits nothing
    code, body = await d.call("GET", "/api/clients/acme/webhooks")
    assert code == 200 and body["webhooks"] == []


# --- 5. failed sign-ins per address, aggregated audit, retention ------------------------------------


async def test_failed_sign_ins_are_limited_per_address_and_aggregated(make_daemon: Any) -> None:
    d = await make_daemon({"WAMC_AUTH_FAILURES_PER_MINUTE": "5"})
    async with aiohttp.ClientSession() as anon:

        async def call(key: str | None, path: str = "/api/clients", xff: str | None = None) -> Any:
            headers = {"X-Api-Key": key} if key else {}
            if xff:
                headers["X-Forwarded-For"] = xff
            async with anon.get(d.base + path, headers=headers) as r:
                return r.status, r.headers.get("Retry-After")

        for n in range(5):  # X-Forwarded-For from an untrusted peer changes nothing
            assert (await call("wrong", xff=f"203.0.113.{n}"))[0] == 401
        status, retry = await call("wrong")
        assert status == 429 and retry and int(retry) >= 1
        assert (await call(API_KEY))[0] == 429  # before authentication: even a good key waits
        assert (await call(None, "/health"))[0] == 200  # never counted, never limited
        assert (await call(None, "/admin/instances"))[0] == 200
        assert (await call(None, "/admin/static/app.js"))[0] == 200
        with pytest.raises(aiohttp.WSServerHandshakeError) as exc:
            await anon.ws_connect(f"{d.base}/ws?api_key={API_KEY}")
        assert exc.value.status == 429

    # Five 401s and three 429s: two audit rows with counts, not eight.
    with contextlib.closing(sqlite3.connect(d.home / "sessions" / ".wamc" / "wamc.db")) as db:
        rows = db.execute("SELECT status, count, remote, key_id FROM audit ORDER BY n").fetchall()
    by_status = {r[0]: r for r in rows}
    assert len(rows) <= 4, rows  # one per address, minute and status (a minute may turn over)
    assert sum(r[1] for r in rows if r[0] == 401) == 5
    assert sum(r[1] for r in rows if r[0] == 429) == 3
    assert by_status[401][2] == "127.0.0.1" and by_status[401][3] is None


async def test_trusted_proxy_forwarded_addresses_are_limited_apart(make_daemon: Any) -> None:
    d = await make_daemon(
        {"WAMC_AUTH_FAILURES_PER_MINUTE": "3", "WAMC_TRUSTED_PROXIES": "10.9.9.9, 127.0.0.0/8"}
    )
    async with aiohttp.ClientSession() as anon:

        async def call(key: str, xff: str) -> int:
            headers = {"X-Api-Key": key, "X-Forwarded-For": xff}
            async with anon.get(d.base + "/api/clients", headers=headers) as r:
                return r.status

        for _ in range(3):
            assert await call("wrong", "198.51.100.1, 198.51.100.7") == 401
        assert await call(API_KEY, "198.51.100.7") == 429  # the client the proxy named
        assert await call(API_KEY, "198.51.100.8") == 200  # another client behind the proxy
    code, body = await d.call("GET", "/api/audit")
    (entry,) = [e for e in body["entries"] if e["status"] == 401]
    assert entry["remote"] == "198.51.100.7" and entry["count"] == 3


async def test_audit_rows_older_than_the_retention_are_pruned(tmp_path: Path) -> None:
    store = Database(tmp_path / "wamc.db")
    await store.open()
    try:
        audit = AuditLog(store, tmp_path / "audit.log")
        for _ in range(2):
            await audit.record(
                key_id="admin",
                action="connect",
                method="POST",
                path="/api/clients/acme/connect",
                client="acme",
                status=202,
                result="ok",
                remote="127.0.0.1",
            )
        await store.conn.execute(
            "UPDATE audit SET timestamp = '2020-01-01T00:00:00.000Z' WHERE n = 1"
        )
        await store.conn.commit()
        assert await audit.prune(90) == 1
        assert [e["n"] for e in await audit.query(None, None, 10, None)] == [2]
        assert await audit.prune(0) == 0  # 0 keeps everything
    finally:
        audit.close()
        await store.close()
