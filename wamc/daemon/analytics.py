"""Analytics: the hourly counters (wamc/storage/stats.py) fed where the facts happen.

Messages in/out are counted by ingest when a message is first stored (in its transaction, in the
hour of its WhatsApp timestamp, as the upgrade backfill does); send failures by the send
endpoint; restarts where supervision counts them. Time is accounted per client: the interval
since the last accounting goes to ``desired_seconds`` if the client was desired running, and to
``connected_seconds`` if it was also connected; the registry accounts before each change of
state or desired state, and ``loop`` every ``interval`` seconds, so uptime % (connected over
desired) is exact to the transition. Time the daemon is not running is not accounted.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Iterable, Mapping
from typing import Protocol

from loguru import logger

from wamc.states import ClientState
from wamc.storage import Database
from wamc.storage import stats as stats_rows

FUTURE_SLACK = 3600.0  # a message timestamp further ahead than this is not believed
TimeRow = tuple[str, int, float, float]


class Accounted(Protocol):
    """What time accounting reads of a client record (wamc/daemon/registry.py ``Client``)."""

    id: str
    state: ClientState
    desired: str
    accounted_at: float | None  # wall time accounted up to (None: not yet)


def split_hours(start: float, end: float) -> list[tuple[int, float]]:
    """The interval [start, end) cut at UTC hour boundaries: (hour, seconds in it)."""
    pieces = []
    t = start
    while t < end:
        hour = stats_rows.hour_of(t)
        stop = min(end, hour + stats_rows.HOUR)
        pieces.append((hour, stop - t))
        t = stop
    return pieces


class Analytics:
    def __init__(
        self, store: Database, interval: float = 60.0, clock: Callable[[], float] = time.time
    ) -> None:
        self.store = store
        self.interval = interval
        self.clock = clock
        # A longer gap (a stalled loop, a suspended machine, the clock set forward) is dropped
        # rather than guessed.
        self.max_gap = max(600.0, 5 * interval)

    # --- counters --------------------------------------------------------------------------------
    async def message(self, client_id: str, from_me: bool, timestamp: float | None) -> None:
        """A message stored for the first time (in/out), in the hour it happened."""
        now = self.clock()
        at = timestamp if timestamp and 0 < timestamp <= now + FUTURE_SLACK else now
        name = "messages_out" if from_me else "messages_in"
        await stats_rows.add(self.store, client_id, stats_rows.hour_of(at), **{name: 1})

    async def send_failed(self, client_id: str) -> None:
        await stats_rows.add(
            self.store, client_id, stats_rows.hour_of(self.clock()), send_failures=1
        )

    async def restarted(self, client_id: str) -> None:
        await stats_rows.add(self.store, client_id, stats_rows.hour_of(self.clock()), restarts=1)

    # --- time ------------------------------------------------------------------------------------
    def _interval(self, client: Accounted, now: float) -> list[TimeRow]:
        """The rows for the time since ``client`` was last accounted; marks it accounted."""
        start, client.accounted_at = client.accounted_at, now
        if start is None or not 0 < now - start <= self.max_gap:
            return []
        if client.desired != "running":  # registry.DESIRED_RUNNING (not imported: no cycle)
            return []
        connected = client.state == ClientState.CONNECTED
        return [
            (client.id, hour, seconds if connected else 0.0, seconds)
            for hour, seconds in split_hours(start, now)
        ]

    async def account(self, client: Accounted) -> None:
        """Account the time since the last accounting, before its state or desire changes."""
        rows = self._interval(client, self.clock())
        if rows:
            await stats_rows.add_time(self.store, rows)

    async def account_all(self, clients: Iterable[Accounted]) -> None:
        now = self.clock()
        rows = [row for client in list(clients) for row in self._interval(client, now)]
        if rows:
            await stats_rows.add_time(self.store, rows)

    async def loop(self, clients: Mapping[str, Accounted]) -> None:
        """Account every client each ``interval`` seconds (the current hour stays fresh)."""
        while True:
            try:
                await self.account_all(clients.values())
            except Exception:
                logger.exception("analytics: accounting failed (retried next round)")
            await asyncio.sleep(self.interval)
