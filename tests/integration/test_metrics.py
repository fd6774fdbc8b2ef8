"""``GET /metrics`` against a real daemon, worker and simulator, parsed the way Prometheus reads it
(``prometheus_client.parser``): who may scrape, route labels that are templates, and counters that
move with a sent message, a refused send, a restart through the API and a failing webhook."""

from __future__ import annotations

from typing import Any

import aiohttp
from prometheus_client.parser import text_string_to_metric_families

from tests.support import API_KEY, Daemon, free_port, wait_for

PHONE = "5511900000301"
CONTACT = "5511955554444"
METRICS_TOKEN = "metrics-token-for-tests-0123456789"
CLIENT = "acme"


class Scrape:
    """One parsed scrape: ``value(sample, **labels)`` sums the samples with those labels."""

    def __init__(self, text: str) -> None:
        self.samples = [s for f in text_string_to_metric_families(text) for s in f.samples]

    def value(self, name: str, **labels: str) -> float:
        return sum(
            s.value
            for s in self.samples
            if s.name == name and all(s.labels.get(k) == v for k, v in labels.items())
        )

    def labels(self, name: str, label: str) -> set[str]:
        return {s.labels[label] for s in self.samples if s.name == name and label in s.labels}


async def get_metrics(daemon: Daemon, headers: dict[str, str] | None = None) -> tuple[int, str]:
    async with (
        aiohttp.ClientSession() as http,
        http.get(daemon.base + "/metrics", headers=headers or {}) as r,
    ):
        return r.status, await r.text()


async def scrape(daemon: Daemon) -> Scrape:
    code, text = await get_metrics(daemon, {"X-Api-Key": API_KEY})
    assert code == 200, text
    return Scrape(text)


async def test_who_may_scrape_and_routes_are_templates(make_daemon: Any) -> None:
    daemon = await make_daemon({"WAMC_METRICS_TOKEN": METRICS_TOKEN})
    assert (await get_metrics(daemon))[0] == 401
    assert (await get_metrics(daemon, {"Authorization": "Bearer not-the-token"}))[0] == 401
    code, text = await get_metrics(daemon, {"Authorization": f"Bearer {METRICS_TOKEN}"})
    assert code == 200, text
    assert "# TYPE wamc_http_requests_total counter" in text
    # The metrics token opens /metrics and nothing else.
    async with (
        aiohttp.ClientSession() as http,
        http.get(
            daemon.base + "/api/clients", headers={"Authorization": f"Bearer {METRICS_TOKEN}"}
        ) as r,
    ):
        assert r.status == 401

    for raw in ("nobody_1", "nobody_2"):
        code, _ = await daemon.call("GET", f"/api/clients/{raw}/status")
        assert code == 404
    code, _ = await daemon.call("GET", "/api/no-such-thing-xyz")
    assert code == 404
    assert daemon.http is not None
    async with daemon.http.head(daemon.base + "/api/clients/nobody_3/status") as r:
        assert r.status == 404  # no body: a problem's headers only
    got = await scrape(daemon)
    requests = "wamc_http_requests_total"
    status_route = "/api/clients/{id}/status"
    assert got.value(requests, route=status_route, method="GET", status="404") == 2
    assert got.value(requests, route="unmatched", method="GET", status="404") == 1
    assert got.value(requests, route=status_route, method="HEAD", status="404") == 1
    assert got.value(requests, route="/metrics", method="GET", status="401") == 2
    assert got.value(requests, route="/metrics", method="GET", status="200") >= 1
    routes = got.labels(requests, "route")
    assert not [r for r in routes if "nobody" in r or "xyz" in r], routes
    timed = "wamc_http_request_duration_seconds_count"
    assert got.value(timed, route=status_route, method="GET") == 2
    # Clients by state: every state is there, all zero without clients.
    assert got.labels("wamc_clients", "state") >= {"stopped", "starting", "qr", "connected"}
    assert got.value("wamc_clients") == 0


async def test_a_send_a_restart_and_a_webhook_failure_are_counted(
    make_daemon: Any, sim_http: Any
) -> None:
    daemon = await make_daemon({"WAMC_WEBHOOK_ALLOW_PRIVATE": "1"})
    await daemon.connect_scanned(sim_http, CLIENT, PHONE)
    # A client token never reads the metrics (it has no such scope).
    code, tok = await daemon.call(
        "POST", f"/api/clients/{CLIENT}/tokens", json={"scopes": ["read", "send", "control"]}
    )
    assert code == 201, tok
    assert (await get_metrics(daemon, {"Authorization": f"Bearer {tok['token']}"}))[0] == 403

    # A webhook to a closed loopback port: its one attempt fails, and it is dead-lettered.
    closed = f"http://127.0.0.1:{free_port()}/hook"
    code, hook = await daemon.call(
        "POST",
        "/api/webhooks",
        json={"url": closed, "events": ["message"], "retry": {"max_attempts": 1}},
    )
    assert code == 201, hook
    before = await scrape(daemon)
    out = {"client": CLIENT, "direction": "out"}
    http = daemon.http
    assert http is not None
    ws = await http.ws_connect(f"{daemon.base}/ws?clients={CLIENT}&events=message")

    code, sent = await daemon.call(
        "POST", f"/api/clients/{CLIENT}/send-message", json={"to": CONTACT, "text": "metered"}
    )
    assert code == 201, sent
    code, refused = await daemon.call(
        "POST", f"/api/clients/{CLIENT}/send-message", json={"to": "not a number", "text": "x"}
    )
    assert code == 400, refused
    frame = await ws.receive_json(timeout=60)  # the sent message, live on a WebSocket
    assert frame["event"] == "message" and frame["data"]["body"] == "metered"
    await ws.close()

    async def moved() -> Scrape | None:
        now = await scrape(daemon)
        failed = now.value("wamc_webhook_failures_total", reason="connection")
        done = now.value("wamc_messages_total", **out) > before.value("wamc_messages_total", **out)
        streamed = now.value("wamc_event_latency_seconds_count", stage="stored_to_stream")
        if not (done and streamed and failed > before.value("wamc_webhook_failures_total")):
            return None
        return now

    after = await wait_for(moved, timeout=60, what="the send and the webhook failure counted")
    assert (
        after.value("wamc_messages_total", **out) == before.value("wamc_messages_total", **out) + 1
    )
    assert after.value("wamc_webhook_failures_total", reason="connection") == 1
    assert after.value("wamc_webhook_dead_letters_total") == 1
    assert after.value("wamc_webhook_deliveries_total") == 0
    assert after.value("wamc_webhook_delivery_seconds_count") == 1
    failures = "wamc_send_failures_total"
    assert after.value(failures, code=refused["code"]) == before.value(failures) + 1
    sends = "wamc_http_requests_total"
    send_route = "/api/clients/{id}/send-message"
    assert after.value(sends, route=send_route, method="POST", status="201") == 1
    latency = "wamc_event_latency_seconds_count"
    assert after.value(latency, stage="whatsapp_to_stored") >= 1
    assert after.value(latency, stage="stored_to_stream") == 1  # one live event, one consumer
    assert after.value(latency, stage="stored_to_fanout") > before.value(
        latency, stage="stored_to_fanout"
    )
    assert after.value("wamc_clients", state="connected") == 1
    assert after.value("wamc_client_state", client=CLIENT, state="connected") == 1

    async def dead_letter_counted() -> bool:
        return (await scrape(daemon)).value("wamc_webhook_outbox", status="dead") == 1

    await wait_for(dead_letter_counted, timeout=10, what="the dead letter in the outbox gauge")

    # A restart through the API: one more restart, cause "requested".
    restarts = {"client": CLIENT, "cause": "requested"}
    assert before.value("wamc_worker_restarts_total", **restarts) == 0
    code, body = await daemon.call("POST", f"/api/clients/{CLIENT}/restart")
    assert code == 202, body

    async def restarted() -> Scrape | None:
        now = await scrape(daemon)
        return now if now.value("wamc_worker_restarts_total", **restarts) else None

    now = await wait_for(restarted, timeout=60, what="the restart counted")
    assert now.value("wamc_worker_restarts_total", **restarts) == 1
    assert now.value("wamc_worker_restarts_total") == 1  # no other cause
    await daemon.wait_state(CLIENT, "connected")

    # Right after the restart the tree may be sampled before its browser is known: wait for the
    # whole tree (worker and Chromium are well over 50 MB together).
    async def memory_sampled() -> Scrape | None:
        now = await scrape(daemon)
        tree = now.value("wamc_worker_memory_bytes", client=CLIENT)
        return now if tree > 50 * 1024 * 1024 else None

    sampled = await wait_for(memory_sampled, timeout=60, what="the worker tree's memory")
    assert sampled.value("wamc_worker_memory_bytes", client=CLIENT) > 50 * 1024 * 1024
