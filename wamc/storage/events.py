"""The event log (per-client seq, never reused), its seq floors, the webhook outbox rows each
event queues (same statement family: an event and its deliveries commit together), and dead
worker events."""

from __future__ import annotations

import json
import time
from typing import Any

from wamc.storage.db import Database
from wamc.timeutil import utc_now_iso

DEAD_EVENTS_KEPT = 1000  # per client, newest
DEAD_PAYLOAD_MAX = 64 * 1024


# One pending outbox row per enabled webhook that wants the event: the webhook's client is
# NULL (all clients) or the event's; its event list is NULL/empty text (all) or names it.
_QUEUE_FOR_WEBHOOKS = (
    "INSERT OR IGNORE INTO webhook_outbox (webhook_id, client, seq, event_id, event, body,"
    " next_at, created_at) SELECT id, ?, ?, ?, ?, ?, ?, ? FROM webhooks WHERE enabled = 1"
    " AND (client IS NULL OR client = ?) AND (events IS NULL OR events = '' OR EXISTS"
    " (SELECT 1 FROM json_each(webhooks.events) WHERE value = ?)) RETURNING webhook_id"
)


async def append(db: Database, ev: dict[str, Any]) -> list[str]:
    """Log the event ``ev`` (``client``, ``id``, ``event``, ``timestamp``, ``data``; its
    ``seq`` is set here) and queue it in the webhook outbox of every webhook that wants it, in
    the caller's transaction or in its own. Returns those webhooks' ids."""
    key = ev["client"] or ""
    async with db.transaction():
        row = await db.fetchone(
            "SELECT MAX(COALESCE((SELECT MAX(seq) FROM events WHERE client=?), 0),"
            " COALESCE((SELECT seq FROM event_seq_floor WHERE client=?), 0)) + 1",
            (key, key),
        )
        ev["seq"] = int(row[0]) if row else 1
        await db.conn.execute(
            "INSERT INTO events (client, seq, id, event, timestamp, data) VALUES (?, ?, ?, ?, ?, ?)",
            (key, ev["seq"], ev["id"], ev["event"], ev["timestamp"], _json(ev["data"])),
        )
        body = _json(ev)
        queued = (key, ev["seq"], ev["id"], ev["event"], body, time.time(), utc_now_iso())
        async with db.conn.execute(
            _QUEUE_FOR_WEBHOOKS, (*queued, ev["client"], ev["event"])
        ) as cur:
            return [r[0] for r in await cur.fetchall()]


def _json(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


async def prune(db: Database, before: str, batch: int = 5000) -> int:
    """Delete events older than ``before`` (ISO UTC), always keeping each client's newest
    (so seq numbers continue); returns how many went. Batched: short write locks."""
    total = 0
    while True:
        cur = await db.write(
            "DELETE FROM events WHERE rowid IN (SELECT rowid FROM events WHERE timestamp < ?"
            " AND seq < (SELECT MAX(seq) FROM events AS e WHERE e.client = events.client)"
            " LIMIT ?)",
            (before, batch),
        )
        total += cur.rowcount
        if cur.rowcount < batch:
            return total


async def since(
    db: Database,
    client_id: str | None,
    after: int,
    limit: int,
    names: frozenset[str] | None = None,
) -> list[dict[str, Any]]:
    """Logged events of one client (None: the daemon's) with seq > ``after``, oldest first."""
    sql = "SELECT * FROM events WHERE client=? AND seq>?"
    args: list[Any] = [client_id or "", after]
    if names:
        sql += f" AND event IN ({','.join('?' * len(names))})"
        args += sorted(names)
    sql += " ORDER BY seq LIMIT ?"
    args.append(limit)
    return [
        {
            "id": r["id"],
            "seq": r["seq"],
            "client": r["client"] or None,
            "event": r["event"],
            "timestamp": r["timestamp"],
            "data": json.loads(r["data"]),
        }
        for r in await db.fetchall(sql, args)
    ]


async def forget_client(db: Database, client_id: str) -> None:
    """Drop a deleted client's events and dead events, remembering its last seq as a floor."""
    async with db.transaction():
        await db.conn.execute(
            "INSERT OR REPLACE INTO event_seq_floor (client, seq) SELECT ?, MAX(s) FROM"
            " (SELECT seq AS s FROM events WHERE client=?"
            " UNION ALL SELECT seq FROM event_seq_floor WHERE client=?) HAVING MAX(s) IS NOT NULL",
            (client_id, client_id, client_id),
        )
        await db.conn.execute("DELETE FROM events WHERE client=?", (client_id,))
        await db.conn.execute("DELETE FROM dead_events WHERE client=?", (client_id,))


async def add_dead(
    db: Database, client_id: str, dn: int, name: str, reason: str, payload: str, at: str
) -> None:
    """Keep an event that could not be applied (newest :data:`DEAD_EVENTS_KEPT` per client)."""
    async with db.transaction():
        await db.conn.execute(
            "INSERT INTO dead_events (client, dn, name, reason, payload, at)"
            " VALUES (?, ?, ?, ?, ?, ?)",
            (client_id, dn, name[:64], reason[:500], payload[:DEAD_PAYLOAD_MAX], at),
        )
        await db.conn.execute(
            "DELETE FROM dead_events WHERE client=? AND id <= (SELECT id FROM"
            " dead_events WHERE client=? ORDER BY id DESC LIMIT 1 OFFSET ?)",
            (client_id, client_id, DEAD_EVENTS_KEPT),
        )


async def dead(db: Database, client_id: str, limit: int = 100) -> list[dict[str, Any]]:
    """Dead events of one client, newest first."""
    sql = (
        "SELECT dn, name, reason, payload, at FROM dead_events WHERE client=?"
        " ORDER BY id DESC LIMIT ?"
    )
    return [dict(r) for r in await db.fetchall(sql, (client_id, limit))]
