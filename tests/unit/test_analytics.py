"""Analytics (real SQLite): the upgrade backfill runs once, the counters are fed where the facts
happen, time is accounted exactly across state changes and hour boundaries, and the API's
windows cut and sum the buckets in UTC."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import msgspec
import pytest

from tests.support.old_database import old_database
from wamc.api import stats_models as SM
from wamc.api.handlers.stats import Window, counts_json
from wamc.daemon.analytics import split_hours
from wamc.daemon.inbox import Inbox
from wamc.daemon.ingest import Ingest
from wamc.daemon.registry import DESIRED_STOPPED, Registry
from wamc.errors import Refused
from wamc.states import ClientState
from wamc.storage import Database
from wamc.storage import clients as client_rows
from wamc.storage import stats as stats_rows
from wamc.storage.stats import DAY, HOUR, Counts
from wamc.wire import events as W
from wamc.wire import frames as F

T0 = 1_795_998_000  # 2026-11-30T00:20:00Z (UTC)
DAY0 = T0 - T0 % DAY
H = T0 - T0 % HOUR  # 00:00 that day


async def table(db: Database, name: str = "stats_hourly") -> dict[tuple[str, int], tuple[Any, ...]]:
    """(client, hour or day) → counters; client '' is every client's sum."""
    rows = await db.fetchall(f"SELECT * FROM {name}")
    return {(r[0], r[1]): tuple(r)[2:] for r in rows}


async def hourly(db: Database) -> dict[tuple[str, int], tuple[Any, ...]]:
    """The hourly rows of clients, after checking the daily and all-clients rows agree."""
    rows = await table(db)
    days: dict[tuple[str, int], Counts] = {}
    for (client, hour), values in rows.items():
        days.setdefault((client, hour - hour % DAY), Counts()).add(Counts.of(values))
    assert {k: tuple(vars(c).values()) for k, c in days.items()} == await table(db, "stats_daily")
    everyone: dict[int, Counts] = {}
    for (client, hour), values in rows.items():
        if client:
            everyone.setdefault(hour, Counts()).add(Counts.of(values))
    summed = {h: Counts.of(v) for (c, h), v in rows.items() if c == ""}
    for hour in set(everyone) | set(summed):  # a deleted client leaves rows of zeros
        assert everyone.get(hour, Counts()) == summed.get(hour, Counts()), hour
    return {k: v for k, v in rows.items() if k[0]}


async def test_upgrade_aggregates_the_stored_history_once(tmp_path: Path) -> None:
    path = tmp_path / "wamc.db"
    old_database(
        path,
        [
            *[("acme", 0, H - 2 * DAY + 60 * i) for i in range(3)],  # 3 in, one hour
            ("acme", 1, H - 2 * DAY + 3599),  # 1 out, same hour
            ("acme", 0, H + 5),
            ("acme", 0, H + 3000),  # 2 in, today's first hour
            ("shop", 1, H + HOUR),  # 1 out, the next hour
            ("shop", 0, 0),  # no timestamp: not placed anywhere
        ],
    )
    db = Database(path)
    await db.open()
    try:
        assert await hourly(db) == {
            ("acme", H - 2 * DAY): (3, 1, 0, 0, 0.0, 0.0),
            ("acme", H): (2, 0, 0, 0, 0.0, 0.0),
            ("shop", H + HOUR): (0, 1, 0, 0, 0.0, 0.0),
        }
        done = await db.fetchall("SELECT key FROM meta")
        assert [r[0] for r in done] == ["stats_backfill_messages"]
        # A message counted live after the upgrade …
        await stats_rows.add(db, "acme", H, messages_in=1)
    finally:
        await db.close()
    db = Database(path)
    await db.open()  # … is not aggregated again, nor is the history
    try:
        assert (await hourly(db))[("acme", H)] == (3, 0, 0, 0, 0.0, 0.0)
        assert len(await hourly(db)) == 3
    finally:
        await db.close()


class Clock:
    def __init__(self, t: float) -> None:
        self.t = t

    def __call__(self) -> float:
        return self.t


def message(dn: int, mid: str, from_me: bool, ts: int | None) -> F.Event:
    data = {"id": mid, "chat_id": "x@c.us", "from_me": from_me, "body": "b", "timestamp": ts}
    return F.Event(dn=dn, name=W.MESSAGE, data=msgspec.Raw(msgspec.msgpack.encode(data)))


async def test_counters_are_fed_where_the_facts_happen(registry: Registry) -> None:
    clock = Clock(T0)
    registry.analytics.clock = clock
    client = registry.new_client("acme", "2026-11-30T00:00:00.000Z")
    registry.clients["acme"] = client
    await client_rows.add(registry.store, "acme", "2026-11-30T00:00:00.000Z")
    link: Any = None
    ingest = Ingest(registry, link, Inbox(registry, link))
    await ingest.apply(client, message(1, "false_x@c.us_A", False, T0 - 10))
    await ingest.apply(client, message(2, "false_x@c.us_A", False, T0 - 10))  # a duplicate
    await ingest.apply(client, message(3, "true_x@c.us_B", True, T0 - DAY))  # yesterday's
    await ingest.apply(client, message(4, "false_x@c.us_C", False, None))  # no time: now
    await ingest.apply(client, message(5, "false_x@c.us_D", False, T0 + 2 * DAY))  # future: now
    await registry.analytics.send_failed("acme")
    await registry.analytics.restarted("acme")
    assert await hourly(registry.store) == {
        ("acme", H): (3, 0, 1, 1, 0.0, 0.0),
        ("acme", H - DAY): (0, 1, 0, 0, 0.0, 0.0),
    }
    await client_rows.delete(registry.store, "acme")  # the client's analytics go with it
    assert await hourly(registry.store) == {}


async def test_uptime_is_connected_time_over_desired_time_across_hours(registry: Registry) -> None:
    clock = Clock(H + HOUR - 100)  # 100 s before 01:00
    registry.analytics.clock = clock
    client = registry.new_client("acme", "2026-11-30T00:00:00.000Z")
    registry.clients["acme"] = client
    await client_rows.add(registry.store, "acme", "2026-11-30T00:00:00.000Z")
    await registry.set_state(client, ClientState.STARTING)  # accounting starts here
    clock.t += 40
    await registry.set_state(client, ClientState.QR)  # 40 s starting
    clock.t += 20
    await registry.set_state(client, ClientState.CONNECTED)  # 20 s showing a QR
    clock.t += 100  # 40 s connected before 01:00, 60 s after
    await registry.analytics.account_all(registry.clients.values())
    clock.t += 30
    await registry.set_desired(client, DESIRED_STOPPED)  # 30 s more connected
    clock.t += 500
    await registry.set_state(client, ClientState.STOPPED)  # not desired: not counted
    clock.t += 10_000  # a gap longer than the loop ever leaves: dropped, not guessed
    await registry.set_desired(client, "running")
    rows = await hourly(registry.store)
    assert rows == {
        ("acme", H): (0, 0, 0, 0, 40.0, 100.0),
        ("acme", H + HOUR): (0, 0, 0, 0, 90.0, 90.0),
    }
    total = Counts.of(rows[("acme", H)])
    total.add(Counts.of(rows[("acme", H + HOUR)]))
    assert total.uptime_percent == round(100 * 130 / 190, 2)
    assert Counts().uptime_percent is None


def test_split_hours() -> None:
    assert split_hours(H + 3500, H + 3700) == [(H, 100.0), (H + HOUR, 100.0)]
    assert split_hours(H, H + 2 * HOUR) == [(H, 3600.0), (H + HOUR, 3600.0)]
    assert split_hours(H + 10, H + 10) == []


async def test_windows_cut_utc_days_and_hours_and_sum_them(registry: Registry) -> None:
    db = registry.store
    now = DAY0 + 5 * HOUR + 30  # 05:00:30 UTC
    await stats_rows.add(db, "acme", DAY0 + 5 * HOUR, messages_in=2, messages_out=1)
    await stats_rows.add(db, "acme", DAY0 + HOUR, send_failures=1)
    await stats_rows.add(db, "acme", DAY0 - DAY, restarts=1)  # yesterday
    await stats_rows.add(db, "acme", DAY0 - 2 * DAY, messages_in=7)  # outside 2 days
    await stats_rows.add(db, "shop", DAY0 + 5 * HOUR, messages_in=1)
    await stats_rows.add_time(db, [("acme", DAY0, 1800.0, 3600.0)])

    days = Window({"days": "2", "bucket": "day"}, now)
    assert (days.since, days.until) == (DAY0 - DAY, DAY0 + DAY)
    found = await stats_rows.buckets(db, "acme", days.since, days.until, days.size)
    report = days.report(found)
    assert [b["start"] for b in report["buckets"]] == [
        "2026-11-29T00:00:00Z",
        "2026-11-30T00:00:00Z",
    ]
    today = report["buckets"][-1]
    assert (today["messages_in"], today["messages_out"], today["send_failures"]) == (2, 1, 1)
    assert today["uptime_percent"] == 50.0 and report["buckets"][0]["uptime_percent"] is None
    assert report["totals"]["restarts"] == 1 and report["totals"]["messages_in"] == 2
    SM.ClientStats.model_validate({"client": "acme", **report})

    hours = Window({"days": "1", "bucket": "hour"}, now)
    found = await stats_rows.buckets(db, stats_rows.ALL, hours.since, hours.until, hours.size)
    report = hours.report(found)
    assert len(report["buckets"]) == 6  # 00:00 … 05:00, the current hour included
    assert [b["messages_in"] for b in report["buckets"]] == [0, 0, 0, 0, 0, 3]
    each = await stats_rows.per_client(db, days.since, days.until)
    assert counts_json(each["shop"])["messages_in"] == 1
    assert (each["acme"].messages_in, each["acme"].restarts) == (2, 1)

    assert Window({}, now).days == 30 and Window({}, now).bucket == "day"
    for bad in ({"days": "0"}, {"days": "91"}, {"days": "x"}, {"bucket": "week"}):
        with pytest.raises(Refused) as err:
            Window(bad, now)
        assert err.value.code == "invalid_parameter"
