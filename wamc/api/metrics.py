"""Prometheus metrics for ``GET /metrics``: a registry of our own, every name prefixed ``wamc_``.

Observed rather than instrumented: messages, acks, state changes and event latency come from a
subscriber of the event bus; worker restarts and webhook attempts from the listeners the
supervisor and the webhook dispatcher call; HTTP requests from each route's gate
(wamc/api/middleware.py), labelled by the matched route-table entry's path (a template such as ``/api/clients/{id}/status``, never the raw
path). Clients by state, memory and CPU and queue depths are read when Prometheus scrapes
(wamc/api/scrape.py). Labels are bounded: clients, route templates, error codes, causes.
"""

from __future__ import annotations

import bisect
import itertools
import time
from datetime import datetime
from typing import Any

import prometheus_client
from loguru import logger
from prometheus_client import CollectorRegistry, Counter, Histogram, Metric
from prometheus_client.core import CounterMetricFamily, HistogramMetricFamily
from prometheus_client.utils import floatToGoString

from wamc import events as E
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


def method_label(method: str) -> str:
    return method if method in METHODS else "OTHER"


class HttpSeries:
    """One (route template, method): answers by status, and (streams excepted) their latency.

    Plain counters, read only when Prometheus scrapes (``HttpMetrics.collect``): a request costs
    a dict update and a list increment, no lock (only the event loop's thread writes here)."""

    __slots__ = ("buckets", "by_status", "method", "route", "seconds", "timed")

    def __init__(self, route: str, method: str) -> None:
        self.route, self.method = route, method
        self.timed = route not in STREAM_ROUTES
        self.by_status: dict[int, int] = {}
        self.buckets = [0] * (len(LATENCY_BUCKETS) + 1)  # the last: +Inf
        self.seconds = 0.0

    def record(self, status: int, seconds: float) -> None:
        by_status = self.by_status
        by_status[status] = by_status.get(status, 0) + 1
        if self.timed:
            self.buckets[bisect.bisect_left(LATENCY_BUCKETS, seconds)] += 1  # le: inclusive
            self.seconds += seconds


class HttpMetrics:
    """Requests by route template, method and status, and their latency: a collector of the
    registry over ``HttpSeries``, one per route and method, held by each route's gate."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.send_failures = Counter(
            "wamc_send_failures",
            "Sends (POST /api/clients/{id}/send-message) that failed, by problem code",
            ["code"],
            registry=registry,
        )
        self._series: dict[tuple[str, str], HttpSeries] = {}
        registry.register(self)

    def series(self, route: str, method: str) -> HttpSeries:
        key = (route, method)
        found = self._series.get(key)
        if found is None:
            found = self._series[key] = HttpSeries(route, method)
        return found

    def unmatched(self, method: str) -> HttpSeries:
        """No route matched (404, 405): never the raw path."""
        return self.series(UNMATCHED, method)

    def describe(self) -> list[Metric]:
        return list(self._families())

    def _families(self) -> tuple[CounterMetricFamily, HistogramMetricFamily]:
        return (
            CounterMetricFamily(
                "wamc_http_requests",
                "HTTP requests by route template, method and status",
                labels=["route", "method", "status"],
            ),
            HistogramMetricFamily(
                "wamc_http_request_duration_seconds",
                "HTTP request latency by route template (event streams excluded)",
                labels=["route", "method"],
            ),
        )

    def collect(self) -> list[Metric]:
        requests, duration = self._families()
        for s in list(self._series.values()):
            for status, n in sorted(dict(s.by_status).items()):
                requests.add_metric([s.route, s.method, str(status)], n)
            counts = list(s.buckets)
            if s.timed and any(counts):
                cumulative = list(itertools.accumulate(counts))
                bounds = [floatToGoString(b) for b in LATENCY_BUCKETS] + ["+Inf"]
                duration.add_metric(
                    [s.route, s.method], list(zip(bounds, cumulative, strict=True)), s.seconds
                )
        return [requests, duration]


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
