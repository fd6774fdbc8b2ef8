"""Analytics counters: per client and UTC hour (``stats_hourly``) and UTC day (``stats_daily``),
and the same for every client together (client ``''``).

Written where the facts happen (a message stored, a send refused, a worker restarted, time
connected and desired running accounted by wamc/daemon/analytics.py): one fact adds to its
client's hour and day and to the all-clients hour and day (two statements, in one transaction),
so every read is a range of ready rows, never a scan of the message history or of all clients.
The history stored before these tables existed is aggregated once at upgrade (schema ``ONCE``).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, fields
from typing import Any

from wamc.storage.db import Database

HOUR = 3600
DAY = 86400
COUNTERS = ("messages_in", "messages_out", "send_failures", "restarts")
SECONDS = ("connected_seconds", "desired_seconds")
ALL = ""  # the client of the rows that sum every client (never a client id)
FIELDS = (*COUNTERS, *SECONDS)
_SUMS = ", ".join(f"SUM({name})" for name in FIELDS)


@dataclass
class Counts:
    """The counters of one hour, one bucket or one period (sums of hours)."""

    messages_in: int = 0
    messages_out: int = 0
    send_failures: int = 0
    restarts: int = 0
    connected_seconds: float = 0.0
    desired_seconds: float = 0.0

    @classmethod
    def of(cls, values: Sequence[Any]) -> Counts:
        """From the ``FIELDS`` sums of a row (NULL sums count as 0)."""
        ints = [int(v or 0) for v in values[: len(COUNTERS)]]
        secs = [float(v or 0.0) for v in values[len(COUNTERS) :]]
        return cls(*ints, *secs)

    def add(self, other: Counts) -> None:
        for f in fields(self):
            setattr(self, f.name, getattr(self, f.name) + getattr(other, f.name))

    @property
    def uptime_percent(self) -> float | None:
        """Connected time over time desired running; None when never desired running."""
        if self.desired_seconds <= 0:
            return None
        return round(min(100.0, 100.0 * self.connected_seconds / self.desired_seconds), 2)


def hour_of(t: float) -> int:
    """The start (unix seconds) of the UTC hour holding ``t``."""
    return int(t // HOUR) * HOUR


def _upsert(table: str, key: str, names: tuple[str, ...]) -> str:
    sets = ", ".join(f"{n} = {n} + excluded.{n}" for n in names)
    return (
        f"INSERT INTO {table} (client, {key}, {', '.join(names)})"
        f" VALUES (?, ?{', ?' * len(names)}) ON CONFLICT (client, {key}) DO UPDATE SET {sets}"
    )


_SQL: dict[tuple[str, ...], tuple[str, str]] = {}


def _sql(names: tuple[str, ...]) -> tuple[str, str]:
    """The hourly and the daily UPSERT adding to ``names``."""
    if names not in _SQL:
        unknown = set(names) - set(FIELDS)
        if unknown or not names:
            raise ValueError(f"not a stats counter: {sorted(unknown)}")
        _SQL[names] = (_upsert("stats_hourly", "hour", names), _upsert("stats_daily", "day", names))
    return _SQL[names]


async def _add_rows(db: Database, names: tuple[str, ...], rows: Iterable[Sequence[Any]]) -> None:
    """Add (client, hour, *amounts of names) rows to their client's hour and day, and to every
    client's ('') hour and day; rows for the same key are summed first."""
    hourly: dict[tuple[str, int], list[float]] = {}
    for client_id, hour, *amounts in rows:
        for key in ((client_id, hour), (ALL, hour)):
            sums = hourly.setdefault(key, [0] * len(names))
            for i, amount in enumerate(amounts):
                sums[i] += amount
    daily: dict[tuple[str, int], list[float]] = {}
    for (client_id, hour), amounts in hourly.items():
        sums = daily.setdefault((client_id, hour - hour % DAY), [0] * len(names))
        for i, amount in enumerate(amounts):
            sums[i] += amount
    hour_sql, day_sql = _sql(names)
    async with db.transaction():
        await db.conn.executemany(hour_sql, [(*k, *v) for k, v in hourly.items()])
        await db.conn.executemany(day_sql, [(*k, *v) for k, v in daily.items()])


async def add(db: Database, client_id: str, hour: int, **amounts: float) -> None:
    """Add to counters of one client's hour (in the caller's transaction if any)."""
    names = tuple(sorted(amounts))
    await _add_rows(db, names, [(client_id, hour, *(amounts[n] for n in names))])


async def add_time(db: Database, rows: Iterable[tuple[str, int, float, float]]) -> None:
    """Add (client, hour, connected_seconds, desired_seconds) rows."""
    await _add_rows(db, SECONDS, rows)


async def buckets(
    db: Database, client_id: str, since: int, until: int, size: int
) -> dict[int, Counts]:
    """The counters per hour (``size`` HOUR) or UTC day (DAY) in [since, until) of one client,
    or of every client (``ALL``); only buckets with a row are returned."""
    table, key = ("stats_daily", "day") if size == DAY else ("stats_hourly", "hour")
    sql = (
        f"SELECT {key}, {', '.join(FIELDS)} FROM {table}"
        f" WHERE client=? AND {key} >= ? AND {key} < ?"
    )
    rows = await db.fetchall(sql, (client_id, since, until))
    return {int(r[0]): Counts.of(tuple(r)[1:]) for r in rows}


async def per_client(db: Database, since: int, until: int) -> dict[str, Counts]:
    """Each client's sums over the UTC days in [since, until)."""
    sql = (
        f"SELECT client, {_SUMS} FROM stats_daily WHERE client != '' AND day >= ? AND day < ?"
        " GROUP BY client"
    )
    return {r[0]: Counts.of(tuple(r)[1:]) for r in await db.fetchall(sql, (since, until))}


def _subtract(table: str, key: str) -> str:
    sets = ", ".join(f"{n} = {table}.{n} - c.{n}" for n in FIELDS)
    return (
        f"UPDATE {table} SET {sets} FROM (SELECT * FROM {table} WHERE client = ?) AS c"
        f" WHERE {table}.client = '' AND {table}.{key} = c.{key}"
    )


async def forget_client(db: Database, client_id: str) -> None:
    """A deleted client's counters, out of every client's sums too."""
    async with db.transaction():
        for table, key in (("stats_hourly", "hour"), ("stats_daily", "day")):
            await db.conn.execute(_subtract(table, key), (client_id,))
            await db.conn.execute(f"DELETE FROM {table} WHERE client=?", (client_id,))
