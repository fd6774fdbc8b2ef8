"""Webhook configuration, the outbox (one row per event and webhook) and the delivery log."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from wamc.storage.db import Database, Row

PENDING, DELIVERED, DEAD = "pending", "delivered", "dead"
RETRY = "retry"  # a delivery-log outcome only: the outbox row stays pending


@dataclass
class WebhookRow:
    id: str
    client: str | None
    url: str
    events: list[str] | None
    secret: str
    headers: dict[str, str]
    max_attempts: int
    backoff_base: float
    backoff_max: float
    timeout: float
    enabled: bool
    created_at: str


@dataclass(frozen=True)
class OutboxRow:
    id: int
    webhook_id: str
    client: str
    seq: int
    event_id: str
    event: str
    body: str
    attempts: int
    next_at: float


@dataclass(frozen=True)
class AttemptResult:
    """One delivery attempt, as logged; ``next_at`` set: retry then, else final ``outcome``."""

    attempt: int
    outcome: str
    status_code: int | None
    error: str | None
    latency_ms: float
    at: str
    next_at: float | None = None


def _hook(r: Row) -> WebhookRow:
    return WebhookRow(
        id=r["id"],
        client=r["client"],
        url=r["url"],
        events=json.loads(r["events"]) if r["events"] else None,
        secret=r["secret"],
        headers=json.loads(r["headers"] or "{}"),
        max_attempts=int(r["max_attempts"]),
        backoff_base=float(r["backoff_base"]),
        backoff_max=float(r["backoff_max"]),
        timeout=float(r["timeout"]),
        enabled=bool(r["enabled"]),
        created_at=r["created_at"],
    )


async def load_hooks(db: Database) -> list[WebhookRow]:
    return [_hook(r) for r in await db.fetchall("SELECT * FROM webhooks")]


async def save_hook(db: Database, h: WebhookRow) -> None:
    await db.write(
        "INSERT OR REPLACE INTO webhooks (id, client, url, events, secret, headers,"
        " max_attempts, backoff_base, backoff_max, timeout, enabled, created_at)"
        " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        (
            h.id,
            h.client,
            h.url,
            json.dumps(sorted(h.events)) if h.events is not None else None,
            h.secret,
            json.dumps(h.headers),
            h.max_attempts,
            h.backoff_base,
            h.backoff_max,
            h.timeout,
            int(h.enabled),
            h.created_at,
        ),
    )


async def delete_hook(db: Database, wid: str) -> None:
    """A webhook with its outbox rows and its delivery log."""
    async with db.transaction():
        for table, col in (
            ("webhook_outbox", "webhook_id"),
            ("webhook_deliveries", "webhook_id"),
            ("webhooks", "id"),
        ):
            await db.conn.execute(f"DELETE FROM {table} WHERE {col}=?", (wid,))


async def pending_lanes(db: Database) -> set[tuple[str, str]]:
    """Every (webhook id, client) with a pending row."""
    rows = await db.fetchall(
        "SELECT DISTINCT webhook_id, client FROM webhook_outbox WHERE status=?", (PENDING,)
    )
    return {(r[0], r[1]) for r in rows}


async def next_pending(db: Database, wid: str, client: str) -> OutboxRow | None:
    """The oldest pending row of one lane."""
    r = await db.fetchone(
        "SELECT * FROM webhook_outbox WHERE status=? AND webhook_id=? AND client=?"
        " ORDER BY id LIMIT 1",
        (PENDING, wid, client),
    )
    if r is None:
        return None
    return OutboxRow(
        id=int(r["id"]),
        webhook_id=r["webhook_id"],
        client=r["client"],
        seq=int(r["seq"]),
        event_id=r["event_id"],
        event=r["event"],
        body=r["body"],
        attempts=int(r["attempts"]),
        next_at=float(r["next_at"]),
    )


async def record_attempt(db: Database, row: OutboxRow, res: AttemptResult) -> None:
    """Update the outbox row (retry later, or final) and log the attempt, in one transaction."""
    async with db.transaction():
        if res.next_at is not None:
            await db.conn.execute(
                "UPDATE webhook_outbox SET attempts=?, next_at=?, last_status=?, last_error=?"
                " WHERE id=?",
                (res.attempt, res.next_at, res.status_code, res.error, row.id),
            )
        else:
            await db.conn.execute(
                "UPDATE webhook_outbox SET attempts=?, status=?, last_status=?, last_error=?,"
                " done_at=? WHERE id=?",
                (res.attempt, res.outcome, res.status_code, res.error, res.at, row.id),
            )
        await db.conn.execute(
            "INSERT INTO webhook_deliveries (webhook_id, outbox_id, event_id, client, attempt,"
            " status_code, error, latency_ms, outcome, at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                row.webhook_id,
                row.id,
                row.event_id,
                row.client,
                res.attempt,
                res.status_code,
                res.error,
                round(res.latency_ms, 2),
                res.outcome,
                res.at,
            ),
        )


async def prune(
    db: Database,
    horizons: dict[str, str],
    now: str,
    dead_before: str,
    keep: tuple[int, int],
) -> dict[str, int]:
    """Pending rows created before their hook's horizon (``horizons``: id → ISO) become dead;
    dead rows done before ``dead_before`` go; the delivery log and delivered rows keep their
    newest ``keep`` = (log rows, delivered rows). Returns the rows dead-lettered per hook."""
    dead_lettered: dict[str, int] = {}
    async with db.transaction():
        for wid, created_before in horizons.items():
            cur = await db.conn.execute(
                "UPDATE webhook_outbox SET status=?, done_at=?,"
                " last_error=COALESCE(last_error || '; ', '') || ?"
                " WHERE webhook_id=? AND status=? AND created_at < ?",
                (DEAD, now, "retry horizon passed", wid, PENDING, created_before),
            )
            if cur.rowcount:
                dead_lettered[wid] = cur.rowcount
        await db.conn.execute(
            "DELETE FROM webhook_outbox WHERE status=? AND done_at < ?", (DEAD, dead_before)
        )
        await db.conn.execute(
            "DELETE FROM webhook_deliveries WHERE id <= "
            "(SELECT MAX(id) FROM webhook_deliveries) - ?",
            (keep[0],),
        )
        await db.conn.execute(
            "DELETE FROM webhook_outbox WHERE status=? AND id <= "
            "(SELECT MAX(id) FROM webhook_outbox) - ?",
            (DELIVERED, keep[1]),
        )
    return dead_lettered


async def pending_count(db: Database, cap: int) -> int:
    """Pending outbox rows of every webhook, counted up to ``cap`` (bounded work: /health asks)."""
    r = await db.fetchone(
        "SELECT COUNT(*) FROM (SELECT 1 FROM webhook_outbox WHERE status=? LIMIT ?)",
        (PENDING, cap),
    )
    return int(r[0]) if r is not None else 0


async def counts(db: Database, wid: str) -> dict[str, int]:
    """Outbox rows of one webhook by status."""
    found = {PENDING: 0, DELIVERED: 0, DEAD: 0}
    rows = await db.fetchall(
        "SELECT status, COUNT(*) FROM webhook_outbox WHERE webhook_id=? GROUP BY status", (wid,)
    )
    for status, n in rows:
        found[status] = n
    return found


async def outbox_totals(db: Database) -> dict[str, int]:
    """Pending and dead outbox rows of every webhook (the metrics' queue depths)."""
    found = {PENDING: 0, DEAD: 0}
    for status in found:
        row = await db.fetchone("SELECT COUNT(*) FROM webhook_outbox WHERE status=?", (status,))
        found[status] = int(row[0]) if row else 0
    return found


async def deliveries(db: Database, wid: str, limit: int) -> list[dict[str, Any]]:
    """The delivery log of one webhook, newest first."""
    rows = await db.fetchall(
        "SELECT * FROM webhook_deliveries WHERE webhook_id=? ORDER BY id DESC LIMIT ?",
        (wid, limit),
    )
    return [
        {
            "id": r["id"],
            "event_id": r["event_id"],
            "client": r["client"] or None,
            "attempt": r["attempt"],
            "status_code": r["status_code"],
            "error": r["error"],
            "latency_ms": r["latency_ms"],
            "outcome": r["outcome"],
            "at": r["at"],
        }
        for r in rows
    ]


async def dead_letters(db: Database, wid: str, limit: int) -> list[dict[str, Any]]:
    """Dead rows of one webhook, oldest first."""
    rows = await db.fetchall(
        "SELECT * FROM webhook_outbox WHERE webhook_id=? AND status=? ORDER BY id LIMIT ?",
        (wid, DEAD, limit),
    )
    return [
        {
            "id": r["id"],
            "event_id": r["event_id"],
            "client": r["client"] or None,
            "seq": r["seq"],
            "event": r["event"],
            "attempts": r["attempts"],
            "last_status": r["last_status"],
            "last_error": r["last_error"],
            "failed_at": r["done_at"],
            "payload": json.loads(r["body"]),
        }
        for r in rows
    ]


async def redeliver(db: Database, wid: str, ids: list[int] | None, now: float) -> int:
    """Dead rows (all, or those ``ids``) pending again with fresh attempts; returns how many."""
    sql = "UPDATE webhook_outbox SET status=?, attempts=0, next_at=?, done_at=NULL"
    sql += " WHERE webhook_id=? AND status=?"
    args: list[Any] = [PENDING, now, wid, DEAD]
    if ids is not None:
        sql += f" AND id IN ({','.join('?' * len(ids))})"
        args += ids
    cur = await db.write(sql, args)
    return cur.rowcount
