"""Analytics through real processes: a client linked on the simulator sends N messages, receives
M, has one send refused by WhatsApp and one worker restart (its Chromium killed); the stats
endpoints then say exactly that for today's bucket. A client token reads only its own client's
stats and never the overall ones; a bad ``days`` or ``bucket`` answers 400."""

from __future__ import annotations

import os
import signal
from datetime import UTC, datetime
from functools import partial
from typing import Any

from tests.support import Daemon, session_on_disk, wait_for

PHONE = "5511922220001"
CONTACT = "5511977770000"
NOT_ON_WHATSAPP = "+1234567"  # valid for the API, but the simulator's directory has no such number
SENT, RECEIVED = 3, 2
ENV = {
    "WAMC_SEND_INTERVAL": "0",
    "WAMC_SEND_JITTER": "0",
    "WAMC_STATS_INTERVAL": "1",  # uptime accounted every second
    "WAMC_RESTART_BACKOFF_BASE": "0.3",
}


def today() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT00:00:00Z")


async def stats(d: Daemon, path: str, **headers: str) -> dict[str, Any]:
    code, body = await d.call("GET", path, headers=headers or None)
    assert code == 200, body
    return body


def counted(c: dict[str, Any]) -> tuple[int, int, int, int]:
    return c["messages_in"], c["messages_out"], c["send_failures"], c["restarts"]


async def test_stats_equal_what_was_sent_received_refused_and_restarted(
    make_daemon: Any, sim_http: Any
) -> None:
    d = await make_daemon(ENV)
    day = today()
    first = await d.connect_scanned(sim_http, "acme", PHONE)
    for n in range(SENT):
        code, body = await d.call(
            "POST", "/api/clients/acme/send-message", json={"to": CONTACT, "text": f"out {n}"}
        )
        assert code == 201, body
    for n in range(RECEIVED):
        await sim_http.deliver(PHONE, CONTACT, f"in {n}")

    async def stored() -> bool:
        code, body = await d.call("GET", "/api/clients/acme/messages/recent?limit=50")
        return code == 200 and len(body["messages"]) == SENT + RECEIVED

    await wait_for(stored, 30, what="every message stored")

    # One send WhatsApp refuses (no such number), one invalid request (not a send failure).
    code, body = await d.call(
        "POST", "/api/clients/acme/send-message", json={"to": NOT_ON_WHATSAPP, "text": "x"}
    )
    assert code == 422 and body["code"] == "not_on_whatsapp", body
    code, body = await d.call("POST", "/api/clients/acme/send-message", json={"to": "no"})
    assert code == 400, body

    # One restart: Chromium killed (once the login is on disk), the worker replaced.
    await wait_for(partial(session_on_disk, d.home / "sessions" / "acme" / "profile"), 30)
    os.killpg(first["browser_pid"], signal.SIGKILL)

    async def recovered() -> dict[str, Any] | None:
        st = await d.status("acme")
        return st if st["state"] == "connected" and st["pid"] != first["pid"] else None

    assert (await wait_for(recovered, 90, what="acme back after the restart"))["restarts"] == 1

    async def accounted() -> dict[str, Any] | None:  # connected time after the restart, too
        body = await stats(d, "/api/clients/acme/stats?days=1&bucket=day")
        return body if body["totals"]["connected_seconds"] > 0 else None

    body = await wait_for(accounted, 30, what="uptime accounted")
    expected = (RECEIVED, SENT, 1, 1)
    if today() == day:  # the test did not run across midnight UTC
        assert body["buckets"][-1]["start"] == day and len(body["buckets"]) == 1
        assert counted(body["buckets"][-1]) == expected
    assert counted(body["totals"]) == expected
    totals = body["totals"]
    assert 0 < totals["connected_seconds"] < totals["desired_seconds"]
    assert 0 < totals["uptime_percent"] < 100  # QR and restart time were not connected

    hours = await stats(d, "/api/clients/acme/stats?days=2&bucket=hour")
    assert len(hours["buckets"]) == 24 + datetime.now(UTC).hour + 1 or today() != day
    assert counted(hours["totals"]) == expected
    overall = await stats(d, "/api/stats?days=30&bucket=day")
    assert len(overall["buckets"]) == 30 and counted(overall["totals"]) == expected
    assert [(c["client"], counted(c)) for c in overall["clients"]] == [("acme", expected)]

    # A client token: its own client's stats only.
    code, token = await d.call("POST", "/api/clients/acme/tokens", json={"scopes": ["read"]})
    assert code == 201, token
    mine = {"X-Api-Key": token["token"]}
    own = await stats(d, "/api/clients/acme/stats?days=1", **mine)
    assert counted(own["totals"]) == expected
    for path in ("/api/clients/other/stats", "/api/stats"):
        code, refused = await d.call("GET", path, headers=mine)
        assert code == 403 and refused["code"] == "forbidden", (path, refused)

    for query in ("days=0", "days=91", "days=abc", "bucket=week", "bucket="):
        for path in ("/api/clients/acme/stats", "/api/stats"):
            code, refused = await d.call("GET", f"{path}?{query}")
            if query == "bucket=":  # empty: the default (day)
                assert code == 200, refused
                continue
            assert code == 400 and refused["code"] == "invalid_parameter", (path, query)
    code, missing = await d.call("GET", "/api/clients/nobody/stats")
    assert code == 404 and missing["code"] == "client_not_found"
