"""Webhooks against real local receivers: signatures, retries then exactly one delivery, a daemon
restart in the middle of a retry loop, dead letters and redelivery, refused destinations."""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import time
from pathlib import Path
from typing import Any

import pytest

from tests.support import Daemon, free_port, wait_for
from tests.support.webhooks import Hit, Receiver
from wamc.events import EventBus
from wamc.storage import Database
from wamc.webhooks import (
    Webhook,
    WebhookIn,
    WebhookService,
    blocked_address,
    check_url,
    sign,
)

PHONE = "5511900000201"
CONTACT = "5511955553333"
SECRET = "s3cret-for-tests-0123456789"


def wamc_key(secret: str) -> bytes:
    """The README's key rule: ``whsec_`` + base64 → the decoded bytes; else the UTF-8 bytes."""
    if secret.startswith("whsec_"):
        try:
            return base64.b64decode(secret[6:], validate=True)
        except binascii.Error:
            pass
    return secret.encode()


def verify(secret: str, headers: Any, body: bytes) -> bool:
    """The README's verification example, as a receiver would write it."""
    ts = headers["X-Wamc-Timestamp"]
    expected = hmac.new(wamc_key(secret), f"{ts}.".encode() + body, hashlib.sha256).hexdigest()
    fresh = abs(time.time() - int(ts)) < 300
    return fresh and hmac.compare_digest(headers["X-Wamc-Signature"], f"sha256={expected}")


@pytest.fixture
async def hook_daemon(make_daemon: Any) -> Daemon:
    return await make_daemon({"WAMC_WEBHOOK_ALLOW_PRIVATE": "1"})


async def create_hook(daemon: Daemon, path: str = "/api/webhooks", **spec: Any) -> dict[str, Any]:
    code, body = await daemon.call("POST", path, json=spec)
    assert code == 201, body
    return body


def fast_retry(max_attempts: int) -> dict[str, Any]:
    return {"max_attempts": max_attempts, "backoff_base": 0.1, "backoff_max": 0.4}


async def message_id_of(receiver: Receiver, path: str, event_id: str) -> str:
    hit = next(h for h in receiver.to(path) if h.headers["X-Wamc-Event-Id"] == event_id)
    return hit.event["data"]["id"]


def test_destination_rules() -> None:
    for addr in ("127.0.0.1", "10.1.2.3", "192.168.0.1", "169.254.169.254", "::1", "fe80::1"):
        assert blocked_address(addr), addr
    assert blocked_address("::ffff:127.0.0.1") and blocked_address("100.64.0.1")
    assert not blocked_address("93.184.216.34") and not blocked_address("2606:4700::1111")
    assert check_url("https://example.com/hook", False) == "https://example.com/hook"
    assert check_url("http://127.0.0.1:9/x", True) == "http://127.0.0.1:9/x"
    assert sign("k", "1700000000", b"{}") == (
        "sha256=" + hmac.new(b"k", b"1700000000.{}", hashlib.sha256).hexdigest()
    )


def test_backoff_is_exponential_capped_and_jittered() -> None:
    hook = Webhook(
        "wh_x", None, "https://example.com/", None, SECRET, {}, 10, 2.0, 60.0, 10.0, True, ""
    )
    for attempt, ceiling in ((1, 2.0), (2, 4.0), (3, 8.0), (5, 32.0), (6, 60.0), (40, 60.0)):
        delays = [hook.backoff(attempt) for _ in range(200)]
        assert all(ceiling / 2 <= d <= ceiling for d in delays), (attempt, min(delays))
        assert max(delays) - min(delays) > ceiling / 10  # jittered: receivers are not stampeded


async def test_private_destinations_refused_by_default(daemon: Daemon) -> None:
    for url in (
        "http://127.0.0.1:8080/hook",
        "http://localhost/hook",
        "http://10.0.0.7/hook",
        "http://169.254.169.254/latest",
        "http://[::1]/hook",
    ):
        code, body = await daemon.call("POST", "/api/webhooks", json={"url": url})
        assert code == 400 and body["code"] == "webhook_url_refused", (url, body)
    for url in ("ftp://example.com/x", "file:///etc/passwd", "https://user:pw@example.com/"):
        code, body = await daemon.call("POST", "/api/webhooks", json={"url": url})
        assert code == 400 and body["code"] == "invalid_field" and body["field"] == "url", body
    code, body = await daemon.call(
        "POST", "/api/webhooks", json={"url": "https://example.com/", "events": ["nope"]}
    )
    assert code == 400 and body["field"] == "events", body
    code, body = await daemon.call(
        "POST", "/api/webhooks", json={"url": "https://example.com/", "headers": {"Host": "x"}}
    )
    assert code == 400 and body["field"] == "headers", body
    code, body = await daemon.call("GET", "/api/webhooks/wh_missing")
    assert code == 404 and body["code"] == "webhook_not_found"
    code, body = await daemon.call("POST", "/api/clients/ghost/webhooks", json={"url": "x"})
    assert code == 404 and body["code"] == "client_not_found"
    code, body = await daemon.call("GET", "/api/webhooks")
    assert code == 200 and body == {"webhooks": []}


async def test_signed_delivery_global_and_per_client(
    hook_daemon: Daemon, sim_http: Any, receiver: Receiver
) -> None:
    daemon = hook_daemon
    await daemon.connect_scanned(sim_http, "acme", PHONE)
    everything = await create_hook(
        daemon, url=receiver.url("/all"), secret=SECRET, headers={"Authorization": "Bearer t0k"}
    )
    assert everything["secret"] == SECRET and everything["client"] is None
    mine = await create_hook(
        daemon, "/api/clients/acme/webhooks", url=receiver.url("/acme"), events=["message"]
    )
    assert mine["client"] == "acme" and mine["secret"].startswith("whsec_")

    mid = await sim_http.deliver(PHONE, CONTACT, "héllo webhook")
    await wait_for(lambda: receiver.ok_ids("/acme"), 30, what="the per-client delivery")

    def delivered_message(path: str) -> list[Hit]:
        return [h for h in receiver.to(path) if h.event["event"] == "message"]

    await wait_for(lambda: delivered_message("/all"), 30, what="the global delivery")
    (hit,) = delivered_message("/acme")
    (hit_all,) = delivered_message("/all")
    ev = hit.event
    assert ev["data"]["id"] == mid and ev["data"]["body"] == "héllo webhook"
    assert set(ev) == {"id", "seq", "client", "event", "timestamp", "data"}
    assert ev["client"] == "acme" and hit.headers["X-Wamc-Event-Id"] == ev["id"]
    assert hit_all.headers["X-Wamc-Event-Id"] == ev["id"]  # the same event, the same id
    assert hit_all.headers["Authorization"] == "Bearer t0k"
    assert hit.headers["Content-Type"] == "application/json"

    # The signature verifies with the right secret only, and only over the exact body.
    assert verify(mine["secret"], hit.headers, hit.body)
    assert verify(SECRET, hit_all.headers, hit_all.body)
    assert not verify(SECRET, hit.headers, hit.body)
    assert not verify(mine["secret"], hit.headers, hit.body + b" ")

    # The per-client hook got only messages; the global one also state changes.
    assert {h.event["event"] for h in receiver.to("/acme")} == {"message"}
    # Configuration views never show the secret or header values again.
    code, listed = await daemon.call("GET", "/api/webhooks")
    assert code == 200 and {w["id"] for w in listed["webhooks"]} == {everything["id"], mine["id"]}
    assert all("secret" not in w for w in listed["webhooks"])
    assert listed["webhooks"][0]["headers"] == {"Authorization": "***"}
    code, only_acme = await daemon.call("GET", "/api/clients/acme/webhooks")
    assert [w["id"] for w in only_acme["webhooks"]] == [mine["id"]]

    # Delivery log: status and latency per attempt.
    code, log = await daemon.call("GET", f"/api/webhooks/{mine['id']}/deliveries")
    assert code == 200
    (entry,) = log["deliveries"]
    assert entry["event_id"] == ev["id"] and entry["status_code"] == 200
    assert entry["outcome"] == "delivered" and entry["attempt"] == 1 and entry["latency_ms"] > 0

    # Disabled: nothing more is sent; deleted: gone.
    code, patched = await daemon.call(
        "PATCH", f"/api/webhooks/{mine['id']}", json={"enabled": False}
    )
    assert code == 200 and patched["enabled"] is False
    code, _ = await daemon.call("DELETE", f"/api/webhooks/{everything['id']}")
    assert code == 204
    code, _ = await daemon.call("GET", f"/api/webhooks/{everything['id']}")
    assert code == 404


async def test_failing_receiver_gets_the_event_once_after_retries(
    hook_daemon: Daemon, sim_http: Any, receiver: Receiver
) -> None:
    daemon = hook_daemon
    await daemon.connect_scanned(sim_http, "acme", PHONE)
    receiver.plan["/flaky"] = [503, 500, 429]  # then 200
    hook = await create_hook(
        daemon,
        "/api/clients/acme/webhooks",
        url=receiver.url("/flaky"),
        events=["message"],
        retry=fast_retry(6),
    )
    first = await sim_http.deliver(PHONE, CONTACT, "first")
    second = await sim_http.deliver(PHONE, CONTACT, "second")
    await wait_for(lambda: len(receiver.ok_ids("/flaky")) == 2, 30, what="both delivered")

    hits = receiver.to("/flaky")
    # Four attempts for the first event (3 failures, then success), in order, and only then the
    # second one: in order per (endpoint, client), exactly once each.
    assert [h.status for h in hits] == [503, 500, 429, 200, 200]
    assert [h.event["data"]["id"] for h in hits] == [first] * 4 + [second]
    assert [h.headers["X-Wamc-Attempt"] for h in hits] == ["1", "2", "3", "4", "1"]
    assert len({h.headers["X-Wamc-Event-Id"] for h in hits[:4]}) == 1
    assert all(verify(hook["secret"], h.headers, h.body) for h in hits)

    code, log = await daemon.call("GET", f"/api/webhooks/{hook['id']}/deliveries")
    outcomes = [(d["attempt"], d["status_code"], d["outcome"]) for d in reversed(log["deliveries"])]
    assert outcomes == [
        (1, 503, "retry"),
        (2, 500, "retry"),
        (3, 429, "retry"),
        (4, 200, "delivered"),
        (1, 200, "delivered"),
    ]
    code, view = await daemon.call("GET", f"/api/webhooks/{hook['id']}")
    assert view["stats"] == {"pending": 0, "delivered": 2, "dead": 0}


async def test_daemon_restart_in_a_retry_loop_loses_nothing(
    hook_daemon: Daemon, sim_http: Any, receiver: Receiver
) -> None:
    daemon = hook_daemon
    await daemon.connect_scanned(sim_http, "acme", PHONE)
    receiver.default["/down"] = 503
    hook = await create_hook(
        daemon,
        "/api/clients/acme/webhooks",
        url=receiver.url("/down"),
        events=["message"],
        retry={"max_attempts": 50, "backoff_base": 0.2, "backoff_max": 1.0},
    )
    before = await sim_http.deliver(PHONE, CONTACT, "before the restart")
    await wait_for(lambda: len(receiver.to("/down")) >= 2, 30, what="two failed attempts")

    await daemon.stop()
    attempts_while_up = len(receiver.to("/down"))
    receiver.default["/down"] = 200  # the receiver recovers while the daemon is away
    await daemon.start()
    await daemon.wait_state("acme", "connected")
    after = await sim_http.deliver(PHONE, CONTACT, "after the restart")

    await wait_for(lambda: len(receiver.ok_ids("/down")) == 2, 30, what="both delivered")
    ok = [h for h in receiver.to("/down") if h.status == 200]
    assert [h.event["data"]["id"] for h in ok] == [before, after]
    assert len(receiver.to("/down")) == attempts_while_up + 2  # no duplicate after the restart
    code, view = await daemon.call("GET", f"/api/webhooks/{hook['id']}")
    assert code == 200 and view["stats"] == {"pending": 0, "delivered": 2, "dead": 0}


async def test_dead_letters_and_redelivery(
    hook_daemon: Daemon, sim_http: Any, receiver: Receiver
) -> None:
    daemon = hook_daemon
    await daemon.connect_scanned(sim_http, "acme", PHONE)
    nobody = f"http://127.0.0.1:{free_port()}/hook"  # down for good: nothing listens there
    down = await create_hook(daemon, url=nobody, events=["message"], retry=fast_retry(3))
    receiver.default["/gone"] = 404
    rejecting = await create_hook(
        daemon, url=receiver.url("/gone"), events=["message"], retry=fast_retry(5)
    )
    mid = await sim_http.deliver(PHONE, CONTACT, "nobody hears this")

    async def dead(hook: dict[str, Any]) -> list[dict[str, Any]]:
        code, body = await daemon.call("GET", f"/api/webhooks/{hook['id']}/dead-letters")
        assert code == 200, body
        return body["dead_letters"]

    (letter,) = await wait_for(lambda: dead(down), 30, what="a dead letter")
    assert letter["attempts"] == 3 and letter["last_status"] is None and letter["last_error"]
    assert letter["payload"]["data"]["id"] == mid and letter["client"] == "acme"
    # A 404 is final: one attempt, no retry.
    (rejected,) = await wait_for(lambda: dead(rejecting), 30, what="the 404 dead letter")
    assert rejected["attempts"] == 1 and rejected["last_status"] == 404
    assert len(receiver.to("/gone")) == 1

    # Point the hook at a receiver that works, then redeliver: it arrives, once.
    code, _ = await daemon.call(
        "PATCH", f"/api/webhooks/{down['id']}", json={"url": receiver.url("/back")}
    )
    assert code == 200
    code, body = await daemon.call("POST", f"/api/webhooks/{down['id']}/dead-letters/redeliver")
    assert code == 202 and body == {"redelivered": 1}
    await wait_for(lambda: receiver.ok_ids("/back"), 30, what="the redelivery")
    (hit,) = receiver.to("/back")
    assert hit.headers["X-Wamc-Event-Id"] == letter["event_id"]
    assert hit.event["data"]["id"] == mid
    assert await dead(down) == []
    code, body = await daemon.call(
        "POST", f"/api/webhooks/{rejecting['id']}/dead-letters/redeliver", json={"ids": [0]}
    )
    assert code == 202 and body == {"redelivered": 0}
    assert len(await dead(rejecting)) == 1


async def test_outbox_skips_disabled_hooks_dead_letters_past_horizon_prunes_only_dead(
    tmp_path: Path,
) -> None:
    """Real SQLite store and event bus; the dispatcher is not started, so nothing is delivered
    and every row stays where the outbox rules put it."""
    db = Database(tmp_path / "wamc.db")
    await db.open()
    try:
        bus = EventBus(db, queue_size=1000)
        service = WebhookService(db, bus, allow_private=True)
        url = "http://127.0.0.1:9/hook"
        on, _ = await service.create(None, WebhookIn(url=url, retry={"max_attempts": 3}))
        off, _ = await service.create(None, WebhookIn(url=url, enabled=False))
        await bus.publish("acme", "client.state", {"state": "qr", "previous": "starting"})
        assert await service.counts(off.id) == {"pending": 0, "delivered": 0, "dead": 0}
        assert (await service.counts(on.id))["pending"] == 1

        now = time.time()
        prune = service.dispatcher.prune  # the scan's table upkeep, at a chosen time
        await prune(now + 3600)  # within the horizon: a retry may still be under way
        assert (await service.counts(on.id))["pending"] == 1
        await prune(now + 2 * 86400)  # past it: a dead letter, still re-deliverable
        (letter,) = await service.dead_letters(on.id, 10)
        assert "retry horizon passed" in letter["last_error"]
        assert (await service.counts(on.id))["pending"] == 0

        await bus.publish("acme", "client.state", {"state": "connected", "previous": "qr"})
        await prune(now + 20 * 86400)  # the new row: dead; the first: 18 days dead
        assert await service.counts(on.id) == {"pending": 0, "delivered": 0, "dead": 2}
        await prune(now + 33 * 86400)  # the first: 31 days dead, pruned
        assert await service.counts(on.id) == {"pending": 0, "delivered": 0, "dead": 1}
        (letter2,) = await service.dead_letters(on.id, 10)
        assert letter2["payload"]["data"]["state"] == "connected"
    finally:
        await db.close()
