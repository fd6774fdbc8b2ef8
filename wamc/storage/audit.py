"""Audit rows: one per state-changing or refused call; failed sign-ins counted per row."""

from __future__ import annotations

from typing import Any

from wamc.storage.db import Database

AUDIT_FIELDS = ("timestamp", "key_id", "action", "method", "path", "client", "status", "result")


async def add(db: Database, entry: dict[str, Any]) -> int:
    """Insert an entry (:data:`AUDIT_FIELDS` and ``remote``); returns its number ``n``."""
    cur = await db.write(
        "INSERT INTO audit (timestamp, key_id, action, method, path, client, status, result,"
        " remote) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
        tuple(entry[k] for k in (*AUDIT_FIELDS, "remote")),
    )
    return int(cur.lastrowid or 0)


async def bump_count(db: Database, n: int) -> bool:
    """Count one more call into row ``n``; False when that row is gone (pruned)."""
    cur = await db.write("UPDATE audit SET count = count + 1 WHERE n = ?", (n,))
    return bool(cur.rowcount)


async def prune_before(db: Database, cutoff: str) -> int:
    cur = await db.write("DELETE FROM audit WHERE timestamp < ?", (cutoff,))
    return cur.rowcount


async def query(
    db: Database, client: str | None, key_id: str | None, limit: int, before: int | None
) -> list[dict[str, Any]]:
    """Newest first, optionally of one client and/or one key, below row ``before``."""
    sql = "SELECT * FROM audit WHERE 1 = 1"
    args: list[Any] = []
    if client is not None:
        sql += " AND client = ?"
        args.append(client)
    if key_id is not None:
        sql += " AND key_id = ?"
        args.append(key_id)
    if before is not None:
        sql += " AND n < ?"
        args.append(before)
    sql += " ORDER BY n DESC LIMIT ?"
    args.append(limit)
    rows = await db.fetchall(sql, args)
    return [{k: r[k] for k in ("n", *AUDIT_FIELDS, "remote", "count")} for r in rows]
