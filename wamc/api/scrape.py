"""What ``GET /metrics`` reads from the daemon when Prometheus scrapes: clients by state, each
worker tree's memory and CPU (the cached sampler, wamc/daemon/resources.py), queue depths.

Computed at scrape, never kept up to date in between: nothing to drift, nothing on hot paths.
The webhook outbox is counted in SQLite just before the scrape (``refresh``); the rest is read
from memory.
"""

from __future__ import annotations

from collections.abc import Iterator

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from wamc import __version__
from wamc.api.metrics import Metrics
from wamc.daemon import ClientManager
from wamc.events import EventBus
from wamc.security import SendPacer
from wamc.states import ClientState
from wamc.storage import Database
from wamc.storage import webhooks as webhook_rows


class DaemonCollector(Collector):
    def __init__(
        self,
        metrics: Metrics,
        manager: ClientManager,
        bus: EventBus,
        pacer: SendPacer,
        started: float,
    ) -> None:
        self.metrics = metrics
        self.manager = manager
        self.bus = bus
        self.pacer = pacer
        self.started = started
        self.outbox: dict[str, int] = {}
        metrics.registry.register(self)

    async def refresh(self, store: Database) -> None:
        self.outbox = await webhook_rows.outbox_totals(store)

    def collect(self) -> Iterator[Metric]:
        yield from self._daemon()
        yield from self._clients()
        yield from self._queues()

    def _daemon(self) -> Iterator[Metric]:
        info = GaugeMetricFamily("wamc_build_info", "wamc version", labels=["version"])
        info.add_metric([__version__], 1)
        yield info
        yield GaugeMetricFamily(
            "wamc_start_time_seconds", "When the daemon started (unix time)", value=self.started
        )

    def _clients(self) -> Iterator[Metric]:
        clients = list(self.manager.clients.values())
        by_state = GaugeMetricFamily("wamc_clients", "Clients by state", labels=["state"])
        for each in ClientState:
            by_state.add_metric([str(each)], sum(1 for c in clients if c.state == each))
        yield by_state
        state = GaugeMetricFamily(
            "wamc_client_state", "1 for each client's current state", labels=["client", "state"]
        )
        memory = GaugeMetricFamily(
            "wamc_worker_memory_bytes",
            "Memory of a client's whole worker tree (worker and Chromium; PSS)",
            labels=["client"],
        )
        cpu = GaugeMetricFamily(
            "wamc_worker_cpu_percent",
            "CPU of a client's whole worker tree, percent of one core",
            labels=["client"],
        )
        inflight = GaugeMetricFamily(
            "wamc_worker_requests_in_flight", "Requests running in a worker", labels=["client"]
        )
        crashes = CounterMetricFamily(
            "wamc_page_crashes",
            "WhatsApp Web page (renderer) crashes its workers reported, per client",
            labels=["client"],
        )
        sends = GaugeMetricFamily(
            "wamc_send_queue_depth", "Sends waiting for their turn, per client", labels=["client"]
        )
        for c in clients:
            state.add_metric([c.id, str(c.state)], 1)
            inflight.add_metric([c.id], c.inflight)
            crashes.add_metric([c.id], c.page_crashes)
            sends.add_metric([c.id], self.pacer.depth(c.id))
            if c.handle is None:
                continue
            usage = c.usage()  # cached (or an agent's report): never blocks on /proc
            if usage["memory_bytes"] is not None:
                memory.add_metric([c.id], usage["memory_bytes"])
            if usage["cpu_percent"] is not None:
                cpu.add_metric([c.id], usage["cpu_percent"])
        yield from (state, memory, cpu, inflight, crashes, sends)

    def _queues(self) -> Iterator[Metric]:
        outbox = GaugeMetricFamily(
            "wamc_webhook_outbox",
            "Webhook outbox rows by status (pending, dead)",
            labels=["status"],
        )
        for status, n in sorted(self.outbox.items()):
            outbox.add_metric([status], n)
        yield outbox
        own = self.metrics.own  # the metrics' own subscription is not a stream
        queues = [s.queue.qsize() for s in list(self.bus.subscribers) if s is not own]
        yield GaugeMetricFamily(
            "wamc_event_subscribers", "Open event streams (WebSocket and SSE)", value=len(queues)
        )
        yield GaugeMetricFamily(
            "wamc_event_subscriber_queue_max",
            "Events waiting in the fullest stream's queue (WAMC_WS_QUEUE_SIZE drops it)",
            value=max(queues, default=0),
        )
        yield GaugeMetricFamily(
            "wamc_event_subscriber_queued",
            "Events waiting in all stream queues",
            value=sum(queues),
        )
