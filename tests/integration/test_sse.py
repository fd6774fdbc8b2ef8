"""Server-Sent Events: the WebSocket's stream for consumers that cannot speak WebSocket."""

from __future__ import annotations

import json
from typing import Any

import aiohttp

from tests.support import API_KEY, Daemon


async def read_events(resp: aiohttp.ClientResponse, count: int) -> list[dict[str, Any]]:
    events: list[dict[str, Any]] = []
    fields: dict[str, str] = {}
    async for raw in resp.content:
        line = raw.decode().rstrip("\n")
        if not line:
            if "data" in fields:
                event = json.loads(fields["data"])
                assert event["event"] == fields.get("event")
                events.append({**event, "sse_id": fields.get("id")})
                if len(events) == count:
                    return events
            fields = {}
        elif not line.startswith(":"):
            name, _, value = line.partition(": ")
            fields[name] = value
    return events


async def test_sse_replays_and_streams_with_resumable_ids(daemon: Daemon) -> None:
    code, _ = await daemon.call("POST", "/api/clients/acme/connect")
    assert code == 202
    await daemon.wait_state("acme", "qr")
    url = f"{daemon.base}/api/events?clients=acme&since=acme:0"
    async with aiohttp.ClientSession(headers={"X-Api-Key": API_KEY}) as s:
        async with s.get(url, timeout=aiohttp.ClientTimeout(total=30)) as resp:
            assert resp.status == 200 and resp.headers["Content-Type"].startswith(
                "text/event-stream"
            )
            first = await read_events(resp, 2)
        assert [e["seq"] for e in first] == [1, 2] and all(e["client"] == "acme" for e in first)
        assert first[0]["event"] == "client.state" and first[1]["sse_id"] == "acme:2"
        # Resuming from the last id continues without a gap or a repeat.
        code, _ = await daemon.call("POST", "/api/clients/acme/disconnect")
        headers = {"Last-Event-ID": first[1]["sse_id"]}
        async with s.get(daemon.base + "/api/events?clients=acme", headers=headers) as resp:
            nxt = await read_events(resp, 1)
        assert nxt[0]["seq"] == 3
    async with aiohttp.ClientSession() as anon, anon.get(daemon.base + "/api/events") as resp:
        assert resp.status == 401
