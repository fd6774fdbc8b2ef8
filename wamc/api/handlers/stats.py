"""Analytics endpoints: the hourly counters (wamc/storage/stats.py) summed per hour or per UTC
day over the last ``days`` UTC days (today included), every bucket listed (zeros where nothing
happened). They read the aggregate table only, never the message history."""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import Any

from aiohttp import web

from wamc.api.keys import MANAGER, STORE
from wamc.api.replies import json_reply
from wamc.errors import Refused
from wamc.storage import stats as stats_rows
from wamc.storage.stats import DAY, HOUR, Counts
from wamc.timeutil import iso_from_unix
from wamc.validation import bounded_int, client_id

DAYS_DEFAULT = 30
DAYS_MAX = 90
BUCKETS = {"hour": HOUR, "day": DAY}


class Window:
    """The period asked for: ``days`` UTC days up to the current bucket, cut in buckets."""

    def __init__(self, query: Mapping[str, str], now: float) -> None:
        self.days = bounded_int(query.get("days"), "days", DAYS_DEFAULT, 1, DAYS_MAX)
        self.bucket = query.get("bucket") or "day"
        if self.bucket not in BUCKETS:
            raise Refused("invalid_parameter", "'bucket' must be hour or day", field="bucket")
        self.size = BUCKETS[self.bucket]
        self.since = int(now // DAY) * DAY - (self.days - 1) * DAY
        self.until = (int(now // self.size) + 1) * self.size  # the end of the current bucket

    def report(self, found: dict[int, Counts]) -> dict[str, Any]:
        """Totals and every bucket of the period, oldest first."""
        totals = Counts()
        buckets = []
        empty = counts_json(Counts())
        for start in range(self.since, self.until, self.size):
            counts = found.get(start)
            if counts is not None:
                totals.add(counts)
            shown = empty if counts is None else counts_json(counts)
            buckets.append({"start": iso_from_unix(start), **shown})
        return {
            "days": self.days,
            "bucket": self.bucket,
            "since": iso_from_unix(self.since),
            "until": iso_from_unix(self.until),
            "totals": counts_json(totals),
            "buckets": buckets,
        }


def counts_json(c: Counts) -> dict[str, Any]:
    return {
        "messages_in": c.messages_in,
        "messages_out": c.messages_out,
        "send_failures": c.send_failures,
        "restarts": c.restarts,
        "connected_seconds": round(c.connected_seconds, 1),
        "desired_seconds": round(c.desired_seconds, 1),
        "uptime_percent": c.uptime_percent,
    }


async def client_stats(request: web.Request) -> web.Response:
    client = request.app[MANAGER].get(client_id(request.match_info["id"]))
    window = Window(request.query, time.time())
    store = request.app[STORE]
    found = await stats_rows.buckets(store, client.id, window.since, window.until, window.size)
    return json_reply({"client": client.id, **window.report(found)})


async def overall_stats(request: web.Request) -> web.Response:
    window = Window(request.query, time.time())
    store = request.app[STORE]
    found = await stats_rows.buckets(store, stats_rows.ALL, window.since, window.until, window.size)
    each = await stats_rows.per_client(store, window.since, window.until)
    ids = sorted(set(request.app[MANAGER].clients) | set(each))
    clients = [{"client": i, **counts_json(each.get(i) or Counts())} for i in ids]
    return json_reply({**window.report(found), "clients": clients})
