"""Prometheus metrics for ``GET /metrics``: a registry of our own, every name prefixed ``wamc_``.

Observed rather than instrumented: messages, acks, state changes and event latency come from a
subscriber of the event bus; worker restarts and webhook attempts from the listeners the
supervisor and the webhook dispatcher call; HTTP requests from the problem middleware
(wamc/api/middleware.py), labelled by the matched route-table entry's path (a template such as ``/api/clients/{id}/status``, never the raw
path). Clients by state, memory and CPU and queue depths are read when Prometheus scrapes
(wamc/api/scrape.py). Labels are bounded: clients, route templates, error codes, causes.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from datetime import datetime
from typing import Any

import prometheus_client
from aiohttp import web
from aiohttp.web_urldispatcher import AbstractRoute
from loguru import logger
from prometheus_client import CollectorRegistry, Counter, Histogram

from wamc import events as E
from wamc.api.spec import Route
from wamc.daemon.registry import Client
from wamc.events import EventBus, Subscriber
from wamc.storage.webhooks import DEAD, DELIVERED, AttemptResult

SEND_OPERATION = "send_message"  # its failures are counted by code
STREAM_ROUTES = frozenset({"/ws", "/api/events"})  # long-lived: counted, not timed
UNMATCHED = "unmatched"  # no route matched (404, 405): never the raw path
METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
# wa-js ACK levels (WPP.whatsapp.enums.ACK)
ACK_NAMES = {-1: "error", 0: "pending", 1: "server", 2: "device", 3: "read", 4: "played"}
COUNTED = ("from_me", "timestamp", "backfill", "ack", "ids", "state")  # of an event's data
LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30)
EVENT_BUCKETS = (0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 30, 60, 300)
WEBHOOK_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30)

prometheus_client.disable_created_metrics()  # no ``_created`` series: half the lines, no use


def _unix(iso: Any) -> float | None:
    """Unix seconds of an ISO 8601 timestamp of ours (``…Z``), None if it is not one."""
    if not isinstance(iso, str):
        return None
    try:
        return datetime.fromisoformat(iso).timestamp()
    except ValueError:
        return None


class HttpMetrics:
    """Requests by route template, method and status, and their latency.

    The labelled children are cached per (route, method, status): a request costs a dict
    lookup, one counter increment and one histogram observation."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.requests = Counter(
            "wamc_http_requests",
            "HTTP requests by route template, method and status",
            ["route", "method", "status"],
            registry=registry,
        )
        self.duration = Histogram(
            "wamc_http_request_duration_seconds",
            "HTTP request latency by route template (event streams excluded)",
            ["route", "method"],
            buckets=LATENCY_BUCKETS,
            registry=registry,
        )
        self.send_failures = Counter(
            "wamc_send_failures",
            "Sends (POST /api/clients/{id}/send-message) that failed, by problem code",
            ["code"],
            registry=registry,
        )
        self.route_of: Mapping[AbstractRoute, Route] = {}
        self._children: dict[tuple[str, str, int], tuple[Any, Any]] = {}

    def observe(self, request: web.Request, status: int, seconds: float, code: str | None) -> None:
        matched = request.match_info.route
        entry = self.route_of.get(matched)
        if entry is not None:
            route, method = entry.path, entry.method
        else:  # a HEAD of a GET entry: its resource's template; a 404 or 405: no path at all
            route = matched.resource.canonical if matched.resource is not None else UNMATCHED
            method = request.method if request.method in METHODS else "OTHER"
        key = (route, method, status)
        children = self._children.get(key)
        if children is None:
            children = (
                self.requests.labels(route, method, str(status)),
                None if route in STREAM_ROUTES else self.duration.labels(route, method),
            )
            self._children[key] = children
        children[0].inc()
        if children[1] is not None:
            children[1].observe(seconds)
        if status >= 400 and entry is not None and entry.op_id == SEND_OPERATION:
            self.send_failures.labels(code or f"http_{status}").inc()


class Metrics:
    """The registry and what is counted as it happens (the rest: wamc/api/scrape.py)."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=False)
        r = self.registry
        self.http = HttpMetrics(r)
        self.messages = Counter(
            "wamc_messages",
            "Messages stored, by client and direction (in: received, out: sent)",
            ["client", "direction"],
            registry=r,
        )
        self.acks = Counter(
            "wamc_acks", "Message acknowledgements, by client and level", ["client", "ack"],
            registry=r,
        )  # fmt: skip
        self.state_changes = Counter(
            "wamc_client_state_changes", "Client state changes, by new state", ["state"],
            registry=r,
        )  # fmt: skip
        self.restarts = Counter(
            "wamc_worker_restarts",
            "Exits of workers meant to keep running, by client and cause",
            ["client", "cause"],
            registry=r,
        )
        self.event_latency = Histogram(
            "wamc_event_latency_seconds",
            "Event latency by stage: whatsapp_to_stored (a live message's WhatsApp time → "
            "written); stored_to_fanout (written → handed to the streams' queues); "
            "stored_to_stream (written → sent on a WebSocket or SSE stream, live events)",
            ["stage"],
            buckets=EVENT_BUCKETS,
            registry=r,
        )
        self._fanout = self.event_latency.labels("stored_to_fanout")
        self._to_stored = self.event_latency.labels("whatsapp_to_stored")
        self._to_stream = self.event_latency.labels("stored_to_stream")
        self.webhook_deliveries = Counter(
            "wamc_webhook_deliveries", "Webhook deliveries answered 2xx", registry=r
        )
        self.webhook_failures = Counter(
            "wamc_webhook_failures",
            "Failed webhook delivery attempts, by reason (connection, timeout, http)",
            ["reason"],
            registry=r,
        )
        self.webhook_dead = Counter(
            "wamc_webhook_dead_letters", "Webhook deliveries given up (dead letters)", registry=r
        )
        self.webhook_latency = Histogram(
            "wamc_webhook_delivery_seconds",
            "Webhook delivery attempt latency (any outcome)",
            buckets=WEBHOOK_BUCKETS,
            registry=r,
        )
        self.own: Subscriber | None = None  # this module's bus subscription (not a consumer's)

    # --- listeners ---------------------------------------------------------------------------
    def worker_exited(self, client: Client, cause: str) -> None:
        self.restarts.labels(client.id, cause).inc()

    def webhook_attempt(self, result: AttemptResult) -> None:
        self.webhook_latency.observe(result.latency_ms / 1000)
        if result.outcome == DELIVERED:
            self.webhook_deliveries.inc()
            return
        error = result.error or ""
        reason = (
            "http" if result.status_code is not None
            else "timeout" if error.startswith("timed out")
            else "connection"
        )  # fmt: skip
        self.webhook_failures.labels(reason).inc()
        if result.outcome == DEAD:
            self.webhook_dead.inc()

    def event(
        self, name: Any, client: Any, at: Any, data: dict[str, Any], now: float | None = None
    ) -> None:
        """One published event (its name, client, timestamp and the counted part of its data)."""
        now = time.time() if now is None else now
        client = client or ""
        stored = _unix(at)
        if stored is not None:
            self._fanout.observe(max(0.0, now - stored))
        if name == E.MESSAGE:
            self.messages.labels(client, "out" if data.get("from_me") else "in").inc()
            sent = _unix(data.get("timestamp"))
            if stored is not None and sent is not None and not data.get("backfill"):
                self._to_stored.observe(max(0.0, stored - sent))
        elif name == E.MESSAGE_ACK:
            ack = data.get("ack")
            level = ACK_NAMES.get(ack, str(ack)) if isinstance(ack, int) else "unknown"
            self.acks.labels(client, level).inc(len(data.get("ids") or ()) or 1)
        elif name == E.CLIENT_STATE:
            self.state_changes.labels(str(data.get("state"))).inc()
        elif name == E.CLIENT_DELETED:  # its series go with it: labels stay bounded
            for counter in (self.messages, self.acks, self.restarts):
                counter.remove_by_labels({"client": client})

    def streamed(self, at: Any) -> None:
        """A live event was sent on a WebSocket or SSE stream (once per consumer)."""
        stored = _unix(at)
        if stored is not None:
            self._to_stream.observe(max(0.0, time.time() - stored))

    async def follow(self, bus: EventBus) -> None:
        """Count every event the bus fans out, for as long as the app runs."""
        sub = self.own = bus.subscribe(None, None)
        try:
            while True:
                ev = await sub.queue.get()
                data = ev.get("data") or {}
                # Only the fields counted are handed on, never a message's text: this side
                # branch is no part of a message's way to its consumers (docs/architecture.md).
                counted = {k: data[k] for k in COUNTED if k in data}
                try:
                    self.event(ev.get("event"), ev.get("client"), ev.get("timestamp"), counted)
                except Exception:
                    logger.exception("metrics: event {} not counted", ev.get("event"))
                if sub.overflowed and sub.queue.empty():  # dropped by the bus: follow again
                    logger.warning("metrics fell behind the event bus: some events not counted")
                    sub = self.own = bus.subscribe(None, None)
        finally:
            bus.unsubscribe(sub)
