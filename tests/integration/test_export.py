"""Conversation export (issue 11, item 8) end to end: messages delivered in bulk by the simulator
flow through the real worker into the store, then come back out of GET /export, as JSON Lines,
as a tar, through `wamc clients export`, and as scheduled exports in the client's folder."""

from __future__ import annotations

import asyncio
import io
import json
import os
import subprocess
import sys
import tarfile
import time
from pathlib import Path
from typing import Any

from tests.support import API_KEY, REPO, Daemon, SimControl, wait_for

PHONE = "5511900000031"
CONTACTS = [f"55119888700{i:02d}" for i in range(10)]
FAST_PAGE = {"WAMC_PAGE_EVENT_RATE": "3000"}  # the page's history sync at a busy account's pace
HISTORY_KEYS = [
    *("id", "chat_id", "from_me", "from", "to", "body", "type", "timestamp", "ack", "lid"),
    "quoted_id",
]


async def bulk(sim_http: SimControl, count: int, rate: int = 1000, **extra: Any) -> list[str]:
    body = {"to": PHONE, "from": CONTACTS, "count": count, "rate": rate, **extra}
    answer = await sim_http.post("/control/messages/bulk", body)
    assert answer["count"] == count
    return answer["ids"]


async def stored_all(daemon: Daemon, client: str, ids: list[str], timeout: float = 300) -> None:
    """Wait until the last message of every chat is stored (a worker delivers in order)."""
    last = {mid.split("_")[1]: mid for mid in ids}

    async def newest_is(chat: str, mid: str) -> bool:
        path = f"/api/clients/{client}/chats/{chat}/messages?limit=1"
        code, body = await daemon.call("GET", path)
        assert code == 200, body
        return bool(body["messages"]) and body["messages"][0]["id"] == mid

    for chat, mid in last.items():
        await wait_for(lambda c=chat, m=mid: newest_is(c, m), timeout, 0.5, f"{mid} stored")


async def export(daemon: Daemon, client: str, query: str = "") -> tuple[int, dict, bytes, int]:
    """(status, headers, body, chunks read) of GET /export, read as it streams."""
    url = f"{daemon.base}/api/clients/{client}/export{query}"
    chunks, body = 0, bytearray()
    async with daemon.http.get(url) as r:  # type: ignore[union-attr]
        async for chunk in r.content.iter_any():
            chunks += 1
            body += chunk
        return r.status, dict(r.headers), bytes(body), chunks


def jsonl(body: bytes) -> list[dict[str, Any]]:
    return [json.loads(line) for line in body.splitlines()]


def cli(daemon: Daemon, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "WAMC_HOME": str(daemon.home), "WAMC_PORT": str(daemon.port)}
    env["WAMC_API_KEY"] = API_KEY
    return subprocess.run(
        [sys.executable, "-m", "wamc.cli", "clients", "export", *args],
        env=env,
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
    )


async def test_an_export_of_10000_messages_streams_back_complete(
    make_daemon: Any, sim_http: SimControl, tmp_path: Path
) -> None:
    daemon = await make_daemon(FAST_PAGE)
    await daemon.connect_scanned(sim_http, "big", PHONE)
    t0 = int(time.time()) - 20_000
    started = time.monotonic()
    ids = await bulk(sim_http, 10_000, t0=t0, step=1)  # message i dated t0 + i
    await stored_all(daemon, "big", ids)
    seeded = time.monotonic() - started

    started = time.monotonic()
    status, headers, body, chunks = await export(daemon, "big")
    took = time.monotonic() - started
    print(f"seeded 10,000 through the worker in {seeded:.1f} s; exported in {took:.2f} s")
    assert status == 200
    assert headers["Content-Type"].startswith("application/x-ndjson")
    assert headers["Transfer-Encoding"] == "chunked" and headers["X-Wamc-Export-Count"] == "10000"
    assert chunks > 1  # streamed, not one body
    messages = jsonl(body)
    assert [m["id"] for m in messages] == ids  # all of them, oldest first
    assert all(list(m) == HISTORY_KEYS for m in messages)
    code, page = await daemon.call("GET", f"/api/clients/big/chats/{CONTACTS[0]}@c.us/messages")
    assert page["messages"][0] == next(m for m in messages if m["id"] == page["messages"][0]["id"])

    # Filters: after (ISO 8601), chat, both.
    after = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(t0 + 4999))
    status, headers, body, _ = await export(daemon, "big", f"?after={after}")
    assert status == 200 and [m["id"] for m in jsonl(body)] == ids[5000:]
    assert headers["X-Wamc-Export-Count"] == "5000"
    chat = f"{CONTACTS[3]}@c.us"
    status, _, body, _ = await export(daemon, "big", f"?chat={chat}")
    assert [m["id"] for m in jsonl(body)] == ids[3::10]
    status, _, body, _ = await export(daemon, "big", f"?chat={chat}&after={after}")
    assert [m["id"] for m in jsonl(body)] == ids[5003::10]

    # The tar form: messages.jsonl and the manifest of media not cached (none here).
    status, headers, body, _ = await export(daemon, "big", "?media=1")
    assert status == 200 and headers["Content-Type"] == "application/x-tar"
    with tarfile.open(fileobj=io.BytesIO(body), mode="r|") as tar:
        files = {m.name: tar.extractfile(m).read() for m in tar}  # type: ignore[union-attr]
    assert sorted(files) == ["messages.jsonl", "missing.jsonl"]
    assert [m["id"] for m in jsonl(files["messages.jsonl"])] == ids
    assert files["missing.jsonl"] == b""

    # `wamc clients export` writes the file (and the tar with --media).
    out = tmp_path / "chat3.jsonl"
    run = await asyncio.to_thread(cli, daemon, "big", "--chat", chat, "-o", str(out))
    assert run.returncode == 0, run.stderr
    assert [m["id"] for m in jsonl(out.read_bytes())] == ids[3::10]
    assert "1000 messages written" in run.stderr
    tar_out = tmp_path / "all.tar"
    run = await asyncio.to_thread(
        cli, daemon, "big", "--media", "--after", after, "-o", str(tar_out)
    )
    assert run.returncode == 0, run.stderr
    with tarfile.open(tar_out) as tar:
        got = tar.extractfile("messages.jsonl").read()  # type: ignore[union-attr]
    assert [m["id"] for m in jsonl(got)] == ids[5000:]

    # Bad input.
    for query, code_ in (
        ("?after=yesterday", "invalid_parameter"),
        ("?media=2", "invalid_parameter"),
        ("?chat=nope", "invalid_chat_id"),
    ):
        code, problem = await daemon.call("GET", f"/api/clients/big/export{query}")
        assert (code, problem["code"]) == (400, code_), (query, problem)
    code, problem = await daemon.call("GET", "/api/clients/nobody/export")
    assert (code, problem["code"]) == (404, "client_not_found")
    run = await asyncio.to_thread(cli, daemon, "nobody", "-o", str(tmp_path / "x"))
    assert run.returncode == 1 and "404" in run.stderr and not (tmp_path / "x").exists()


async def test_scheduled_exports_land_in_the_clients_folder_and_go_with_it(
    make_daemon: Any, sim_http: SimControl
) -> None:
    # 0.0005 h = 1.8 s between two exports.
    daemon = await make_daemon({**FAST_PAGE, "WAMC_EXPORT_EVERY_HOURS": "0.0005"})
    await daemon.connect_scanned(sim_http, "sched", PHONE)
    ids = await bulk(sim_http, 50)
    await stored_all(daemon, "sched", ids)
    folder = daemon.home / "sessions" / "sched" / "exports"

    def complete_export() -> list[Path]:
        files = sorted(folder.glob("*.jsonl")) if folder.is_dir() else []
        return [f for f in files if len(f.read_bytes().splitlines()) == 50]

    done = await wait_for(complete_export, timeout=60, what="a scheduled export of all 50")
    assert {m["id"] for m in jsonl(done[-1].read_bytes())} == set(ids)
    assert done[-1].name.endswith("Z.jsonl") and len(done[-1].name) == len("20261130T152301Z.jsonl")

    code, _ = await daemon.call("DELETE", "/api/clients/sched")
    assert code == 202
    await wait_for(lambda: not folder.exists(), timeout=10, what="exports deleted with the client")
    await asyncio.sleep(4)  # not a wait for a condition: two more intervals bring nothing back
    assert not (daemon.home / "sessions" / "sched").exists()
