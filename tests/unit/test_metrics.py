"""The pure parts of the metrics: restart causes, page-crash accounting across heartbeats, what an
event counts, how a webhook attempt is classified, and who the metrics token is."""

from __future__ import annotations

import json
import re
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import msgspec
import pytest
import yaml
from prometheus_client import generate_latest
from prometheus_client.parser import text_string_to_metric_families

from wamc.api.metrics import Metrics
from wamc.api.scrape import DaemonCollector
from wamc.config import Settings
from wamc.daemon.backend import Backoff
from wamc.daemon.recycle import (
    FRAME_OVERSIZE,
    HEARTBEAT_LOST,
    RECYCLE,
    RESTART_CAUSES,
    RESTART_REQUESTED,
    restart_cause,
)
from wamc.daemon.registry import Client
from wamc.errors import CODES, Refused
from wamc.security import SendPacer
from wamc.security.auth import ADMIN, METRICS, Tokens
from wamc.serve import DaemonError, check_settings
from wamc.storage.webhooks import DEAD, DELIVERED, RETRY, AttemptResult
from wamc.wire import frames as F
from wamc.wire.process import EXIT_ROOT_REFUSED

DOCS = Path(__file__).resolve().parents[2] / "docs"


def value(metrics: Metrics, name: str, **labels: str) -> float:
    text = generate_latest(metrics.registry).decode()
    return sum(
        s.value
        for f in text_string_to_metric_families(text)
        for s in f.samples
        if s.name == name and all(s.labels.get(k) == v for k, v in labels.items())
    )


def test_restart_causes() -> None:
    cases = {
        (RESTART_REQUESTED, 0): "requested",
        (RECYCLE + "memory ceiling: 2000 MB > 1536 MB", -15): "recycle",
        (HEARTBEAT_LOST + "12s", -9): "heartbeat",
        (FRAME_OVERSIZE, -9): "oversize_frame",
        (None, EXIT_ROOT_REFUSED): "root_refused",
        ("page never loaded", 1): "worker_failed",
        (None, 1): "crash",
        (None, -11): "crash",
    }
    for (reason, code), cause in cases.items():
        assert restart_cause(reason, code) == cause, (reason, code)
        assert cause in RESTART_CAUSES


def test_page_crashes_add_what_each_heartbeat_says_is_new() -> None:
    client = Client("acme", "2026-01-01T00:00:00Z", "running", Backoff(1, 60, 5, 120))
    for reported in (0, 1, 1, 3):
        client.note_page_crashes(reported)
    assert client.page_crashes == 3
    client.page_crashes_reported = 0  # a new worker (its hello): it counts from zero again
    client.note_page_crashes(2)
    assert client.page_crashes == 5


def test_heartbeat_carries_page_crashes_and_old_workers_still_decode() -> None:
    beat = F.decode_from_worker(F.encode(F.Heartbeat(state="connected", page_crashes=4)))
    assert isinstance(beat, F.Heartbeat) and beat.page_crashes == 4
    old = msgspec.msgpack.encode({"v": 1, "t": "hb", "state": "connected"})
    beat = F.decode_from_worker(old)
    assert isinstance(beat, F.Heartbeat) and beat.page_crashes == 0
    with pytest.raises(F.WireError):
        F.decode_from_worker(msgspec.msgpack.encode({"v": 1, "t": "hb", "page_crashes": -1}))


def test_events_count_messages_acks_states_and_latency() -> None:
    m = Metrics()
    stored = "2026-01-01T00:00:01.000Z"
    sent = {"from_me": True, "timestamp": "2026-01-01T00:00:00Z", "backfill": False}
    m.event("message", "acme", stored, sent, now=1767225601.5)
    received = {"from_me": False, "timestamp": "2026-01-01T00:00:00Z", "backfill": True}
    m.event("message", "acme", stored, received)
    m.event("message.ack", "acme", stored, {"ids": ["a", "b"], "ack": 3})
    m.event("client.state", "acme", "junk", {"state": "connected"})
    assert value(m, "wamc_messages_total", client="acme", direction="out") == 1
    assert value(m, "wamc_messages_total", client="acme", direction="in") == 1
    assert value(m, "wamc_acks_total", client="acme", ack="read") == 2
    assert value(m, "wamc_client_state_changes_total", state="connected") == 1
    # Every event with a timestamp of ours is timed; a backfilled message has no live latency.
    assert value(m, "wamc_event_latency_seconds_count", stage="stored_to_fanout") == 3
    assert value(m, "wamc_event_latency_seconds_count", stage="whatsapp_to_stored") == 1
    assert value(m, "wamc_event_latency_seconds_sum", stage="whatsapp_to_stored") == 1.0
    assert value(m, "wamc_event_latency_seconds_bucket", stage="stored_to_fanout", le="0.5") >= 1
    m.streamed("2026-01-01T00:00:00.000Z")
    m.streamed(None)  # no timestamp: not timed
    assert value(m, "wamc_event_latency_seconds_count", stage="stored_to_stream") == 1
    m.worker_exited(Client("acme", "", "running", Backoff(1, 60, 5, 120)), "crash")
    m.event("message", "other", stored, sent)
    m.event("client.deleted", "acme", stored, {})  # a deleted client's series go
    assert value(m, "wamc_messages_total", client="acme") == 0
    assert value(m, "wamc_acks_total", client="acme") == 0
    assert value(m, "wamc_worker_restarts_total", client="acme") == 0
    assert value(m, "wamc_messages_total", client="other") == 1


def test_webhook_attempts_are_classified() -> None:
    m = Metrics()

    def attempt(outcome: str, code: int | None, error: str | None) -> AttemptResult:
        return AttemptResult(1, outcome, code, error, 120.0, "2026-01-01T00:00:00Z")

    m.webhook_attempt(attempt(DELIVERED, 204, None))
    m.webhook_attempt(attempt(RETRY, None, "ClientConnectorError: refused"))
    m.webhook_attempt(attempt(RETRY, None, "timed out after 10s"))
    m.webhook_attempt(attempt(DEAD, 410, "HTTP 410"))
    assert value(m, "wamc_webhook_deliveries_total") == 1
    assert value(m, "wamc_webhook_failures_total", reason="connection") == 1
    assert value(m, "wamc_webhook_failures_total", reason="timeout") == 1
    assert value(m, "wamc_webhook_failures_total", reason="http") == 1
    assert value(m, "wamc_webhook_dead_letters_total") == 1
    assert value(m, "wamc_webhook_delivery_seconds_count") == 4
    assert value(m, "wamc_webhook_delivery_seconds_sum") == pytest.approx(0.48)


def test_the_metrics_token_is_accepted_only_as_itself() -> None:
    tokens = Tokens(None, "admin-key", "metrics-token")  # type: ignore[arg-type]  # no store needed
    assert tokens.authenticate_metrics("metrics-token") is METRICS
    assert tokens.authenticate_metrics("admin-key") is ADMIN
    assert tokens.authenticate_metrics("metrics-tokeN") is None
    assert tokens.authenticate("metrics-token") is None  # elsewhere it is no key at all
    METRICS.check("metrics", None)
    for scope, client in (("read", None), ("read", "acme"), ("admin", None), ("control", "x")):
        with pytest.raises(Refused):
            METRICS.check(scope, client)
    unset = Tokens(None, "admin-key")  # type: ignore[arg-type]  # no store needed
    assert unset.authenticate_metrics("") is None and unset.authenticate_metrics(None) is None


def test_a_short_metrics_token_is_refused_at_start() -> None:
    key = "k" * 40
    check_settings(Settings(metrics_token="x" * 16), key)
    check_settings(Settings(), key)  # no token: only the admin key opens /metrics
    with pytest.raises(DaemonError, match="WAMC_METRICS_TOKEN is 15 characters"):
        check_settings(Settings(metrics_token="x" * 15), key)


def exposed_names() -> set[str]:
    """Every family and sample name /metrics can answer (also those without samples yet)."""
    m = Metrics()
    pacer = SendPacer(0.5, 1.0, 10)
    manager: Any = SimpleNamespace(clients={})
    bus: Any = SimpleNamespace(subscribers=set())
    DaemonCollector(m, manager, bus, pacer, 0.0)
    for child in (m.restarts.labels("a", "crash"), m.messages.labels("a", "in")):
        child.inc()
    m.http.send_failures.labels("x").inc()
    m.http.series("/r", "GET").record(200, 0.1)
    m.webhook_failures.labels("http").inc()
    m.acks.labels("a", "read").inc()
    m.state_changes.labels("qr").inc()
    text = generate_latest(m.registry).decode()
    names = {line.split()[2] for line in text.splitlines() if line.startswith("# TYPE")}
    for family in text_string_to_metric_families(text):
        names |= {family.name} | {s.name for s in family.samples}
    return names | {"wamc_page_crashes_total"}  # per client: no client, no sample here


def test_the_docs_name_only_metrics_that_exist() -> None:
    names = exposed_names()
    assert {"wamc_clients", "wamc_worker_memory_bytes", "wamc_webhook_outbox"} <= names
    readme = (DOCS.parent / "README.md").read_text()
    section = readme[readme.index("## Metrics") : readme.index("## How it is built")]
    dashboard = json.loads((DOCS / "grafana-dashboard.json").read_text())
    exprs = [t["expr"] for p in dashboard["panels"] for t in p.get("targets", ())]
    rules = yaml.safe_load((DOCS / "prometheus-alerts.yml").read_text())
    alerts = [r for g in rules["groups"] for r in g["rules"]]
    assert alerts and all(r["alert"] and r["expr"] and r["annotations"]["summary"] for r in alerts)
    exprs += [r["expr"] for r in alerts]
    for text in (section, *exprs):
        used = set(re.findall(r"\bwamc_[a-z_]+", text)) - {"wamc_"}
        assert used <= names, used - names
    for r in alerts:  # the codes an alert picks exist
        for group in re.findall(r'code=~"([^"]+)"', r["expr"]):
            assert set(group.split("|")) <= set(CODES), r["alert"]
    for cause in RESTART_CAUSES:
        assert f"`{cause}`" in section
