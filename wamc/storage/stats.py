"""Analytics counters: one row per client and UTC hour (``stats_hourly``).

Written where the facts happen (a message stored, a send refused, a worker restarted, time
connected and desired running accounted by wamc/daemon/analytics.py), one UPSERT that adds to
the hour's row; read by the API summed per hour or per UTC day, never from the message history.
The history stored before this table existed is aggregated once at upgrade (schema ``ONCE``).
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


_ADD_SQL: dict[tuple[str, ...], str] = {}


def _add_sql(names: tuple[str, ...]) -> str:
    sql = _ADD_SQL.get(names)
    if sql is None:
        unknown = set(names) - set(FIELDS)
        if unknown or not names:
            raise ValueError(f"not a stats counter: {sorted(unknown)}")
        sets = ", ".join(f"{n} = {n} + excluded.{n}" for n in names)
        sql = _ADD_SQL[names] = (
            f"INSERT INTO stats_hourly (client, hour, {', '.join(names)})"
            f" VALUES (?, ?{', ?' * len(names)}) ON CONFLICT (client, hour) DO UPDATE SET {sets}"
        )
    return sql


async def add(db: Database, client_id: str, hour: int, **amounts: float) -> None:
    """Add to counters of one client's hour: one UPSERT, in the caller's transaction if any."""
    names = tuple(sorted(amounts))
    await db.write(_add_sql(names), (client_id, hour, *(amounts[n] for n in names)))


async def add_time(db: Database, rows: Iterable[tuple[str, int, float, float]]) -> None:
    """Add (client, hour, connected_seconds, desired_seconds) rows, in one statement."""
    await db.write_many(_add_sql(SECONDS), rows)


async def buckets(
    db: Database, client_id: str | None, since: int, until: int, size: int
) -> dict[int, Counts]:
    """Sums per bucket of ``size`` seconds (an hour or a UTC day) over [since, until), of one
    client or of every client; only buckets with a row are returned."""
    sql = f"SELECT hour - hour % ? AS b, {_SUMS} FROM stats_hourly WHERE hour >= ? AND hour < ?"
    args: list[object] = [size, since, until]
    if client_id is not None:
        sql += " AND client = ?"
        args.append(client_id)
    rows = await db.fetchall(sql + " GROUP BY b", args)
    return {int(r[0]): Counts.of(tuple(r)[1:]) for r in rows}


async def per_client(db: Database, since: int, until: int) -> dict[str, Counts]:
    """Each client's sums over [since, until)."""
    sql = f"SELECT client, {_SUMS} FROM stats_hourly WHERE hour >= ? AND hour < ? GROUP BY client"
    return {r[0]: Counts.of(tuple(r)[1:]) for r in await db.fetchall(sql, (since, until))}


async def forget_client(db: Database, client_id: str) -> None:
    await db.write("DELETE FROM stats_hourly WHERE client=?", (client_id,))
