"""Analytics demo data: N clients × D days of hourly counters, for bench/bench_stats.py and
bench/screenshots.py. Deterministic (seeded), with a day/night rhythm, rare failures and restarts
and a few outages, so charts and uptime look like a real gateway's."""

from __future__ import annotations

import math
import random
import sqlite3
import time
from pathlib import Path

from wamc.storage import Database
from wamc.storage import stats as stats_rows

HOUR = 3600
COLUMNS = stats_rows.FIELDS


def _rows(clients: list[str], days: int, now: float) -> list[tuple[object, ...]]:
    rng = random.Random(12)
    current = int(now // HOUR) * HOUR
    first = (int(now // 86400) - days + 1) * 86400
    rows = []
    for n, client in enumerate(clients):
        scale = 0.3 + 1.7 * rng.random()  # some clients are busier than others
        for hour in range(first, current + 1, HOUR):
            local = (hour // HOUR + n % 3) % 24
            rhythm = 0.1 if local < 6 else 0.15 + math.sin(math.pi * (local - 6) / 16) ** 2
            weekly = 0.6 if (hour // 86400) % 7 in (2, 3) else 1.0  # a quieter weekend
            incoming = int(rng.gauss(12 * scale * rhythm * weekly, 2) + 0.5)
            outgoing = int(incoming * (0.5 + 0.3 * rng.random()))
            failures = 1 if rng.random() < 0.02 else 0
            restarts = 1 if rng.random() < 0.004 else 0
            span = min(HOUR, now - hour)
            connected = span * (0.2 if rng.random() < 0.01 else 1.0) - 40 * restarts
            rows.append(
                (client, hour, max(0, incoming), max(0, outgoing), failures, restarts)
                + (max(0.0, connected), span)
            )
    return rows


async def seed(
    home: Path,
    clients: int = 100,
    days: int = 30,
    now: float | None = None,
    ids: list[str] | None = None,
) -> list[str]:
    """A wamc home whose database holds ``clients`` stopped clients (or those ``ids``) with
    ``days`` of analytics."""
    now = time.time() if now is None else now
    db_path = home / "sessions" / ".wamc" / "wamc.db"

    db = Database(db_path)
    await db.open()  # the current schema, the upgrade step done (no history yet)
    await db.close()
    ids = ids or [f"client{n:03d}" for n in range(clients)]
    with sqlite3.connect(db_path) as con:
        con.executemany(
            "INSERT INTO clients (id, desired, created_at) VALUES (?, 'stopped', ?)",
            [(i, "2026-01-01T00:00:00.000Z") for i in ids],
        )
        con.executemany(
            "INSERT INTO stats_hourly VALUES (?, ?, ?, ?, ?, ?, ?, ?)", _rows(ids, days, now)
        )
        # The all-clients ('') and daily rows, as wamc/storage/stats.py keeps them.
        sums = ", ".join(f"SUM({c})" for c in COLUMNS)
        con.execute(
            f"INSERT INTO stats_hourly SELECT '', hour, {sums} FROM stats_hourly GROUP BY hour"
        )
        con.execute(
            f"INSERT INTO stats_daily SELECT client, hour - hour % 86400 AS d, {sums}"
            " FROM stats_hourly GROUP BY client, d"
        )
    con.close()
    return ids
