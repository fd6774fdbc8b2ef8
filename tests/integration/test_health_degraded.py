"""``/health`` in depth: still 200 and the seed's fields when degraded, ``status: "degraded"``
with reason codes only (public: no client names), each reason brought about for real."""

from __future__ import annotations

from typing import Any

import aiohttp

from tests.support import Daemon, free_port, wait_for

SEED_FIELDS = {"status", "timestamp", "activeClients", "clients", "states"}


async def public_health(daemon: Daemon) -> tuple[dict[str, Any], str]:
    """As a stranger sees it: no key."""
    async with aiohttp.ClientSession() as anon, anon.get(daemon.base + "/health") as r:
        assert r.status == 200
        text = await r.text()
        body = await r.json()
    assert set(body) >= SEED_FIELDS | {"reasons", "version", "pid", "started_at"}, body
    return body, text


async def test_ok_then_degraded_by_a_failed_client_then_ok(make_daemon: Any) -> None:
    # Every worker's browser fails at once: a crash loop, then `failed`, without any Chromium.
    daemon: Daemon = await make_daemon(
        {"WAMC_BROWSER_PATH": "/bin/false", "WAMC_MAX_FAST_FAILURES": "2"}
    )
    body, _ = await public_health(daemon)
    assert body["status"] == "ok" and body["reasons"] == []

    code, _ = await daemon.call("POST", "/api/clients/doomed_secret_name/connect")
    assert code == 202
    await daemon.wait_state("doomed_secret_name", "failed", timeout=60)
    body, text = await public_health(daemon)
    assert body["status"] == "degraded" and body["reasons"] == ["client_failed"]
    assert body["states"]["failed"] == 1 and body["clients"] == 1  # the seed's fields stay
    assert "doomed" not in text  # reason codes only: no client name on a public endpoint

    code, _ = await daemon.call("DELETE", "/api/clients/doomed_secret_name")
    assert code == 202

    async def ok_again() -> dict[str, Any] | None:
        body, _ = await public_health(daemon)
        return body if body["status"] == "ok" else None

    body = await wait_for(ok_again, 30, what="/health ok once the failed client is gone")
    assert body["reasons"] == [] and body["clients"] == 0


async def test_degraded_by_low_disk(make_daemon: Any) -> None:
    # A threshold no disk meets (1 EiB): the check runs against the real file system.
    daemon: Daemon = await make_daemon({"WAMC_DISK_MIN_FREE_MB": str(2**40)})
    body, _ = await public_health(daemon)
    assert body["status"] == "degraded" and body["reasons"] == ["disk_low"]
    assert body["clients"] == 0 and body["activeClients"] == 0


async def test_degraded_by_a_webhook_backlog(make_daemon: Any) -> None:
    daemon: Daemon = await make_daemon(
        {"WAMC_WEBHOOK_ALLOW_PRIVATE": "1", "WAMC_WEBHOOK_BACKLOG_MAX": "1"}
    )
    body, _ = await public_health(daemon)
    assert body["status"] == "ok"
    nobody = f"http://127.0.0.1:{free_port()}/hook"  # nothing listens: every attempt fails
    code, hook = await daemon.call(
        "POST",
        "/api/webhooks",
        json={
            "url": nobody,
            "events": ["daemon.started"],
            "retry": {"max_attempts": 5, "backoff_base": 600, "backoff_max": 600},
        },
    )
    assert code == 201, hook
    await daemon.stop()
    await daemon.start()  # publishes daemon.started: one delivery pending, retried in 10 min

    async def pending() -> bool:
        code, view = await daemon.call("GET", f"/api/webhooks/{hook['id']}")
        return code == 200 and view["stats"]["pending"] == 1

    await wait_for(pending, 30, what="a pending delivery")

    async def degraded() -> dict[str, Any] | None:
        body, _ = await public_health(daemon)
        return body if body["status"] == "degraded" else None

    body = await wait_for(degraded, 10, what="/health to see the backlog")
    assert body["reasons"] == ["webhook_backlog"]
