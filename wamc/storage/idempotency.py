"""First answers of keyed sends, per (client, key)."""

from __future__ import annotations

import json
from typing import Any

from wamc.storage.db import Database


async def stored(db: Database, client: str, key: str) -> tuple[str, int, dict[str, Any]] | None:
    """(request hash, status, body) of the first answer kept for this key, if any."""
    row = await db.fetchone(
        "SELECT request_hash, status, response FROM idempotency WHERE client = ? AND key = ?",
        (client, key),
    )
    if row is None:
        return None
    return row["request_hash"], int(row["status"]), json.loads(row["response"])


async def save(
    db: Database,
    client: str,
    key: str,
    rhash: str,
    answer: tuple[int, dict[str, Any]],
    created_at: str,
    expire_before: str,
) -> None:
    """Keep an answer; answers created before ``expire_before`` go in the same transaction."""
    status, body = answer
    async with db.transaction():
        await db.conn.execute("DELETE FROM idempotency WHERE created_at < ?", (expire_before,))
        await db.conn.execute(
            "INSERT OR REPLACE INTO idempotency"
            " (client, key, request_hash, status, response, created_at)"
            " VALUES (?, ?, ?, ?, ?, ?)",
            (client, key, rhash, status, json.dumps(body), created_at),
        )


async def forget_client(db: Database, client: str) -> None:
    await db.write("DELETE FROM idempotency WHERE client = ?", (client,))
