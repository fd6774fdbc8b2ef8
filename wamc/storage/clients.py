"""The client registry rows: what the daemon remembers of each client across restarts."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from wamc.storage import client_settings, events, media, messages, placements, retention, stats
from wamc.storage.db import Database


@dataclass
class ClientRow:
    id: str
    desired: str
    created_at: str
    me: str | None
    state: str
    worker_pid: int | None
    worker_started: float | None
    browser_pid: int | None
    boot: str | None
    delivered_dn: int
    restarts: int
    worker_secret_hash: str | None = None
    worker_curve_public: str | None = None
    stop_outcome: str | None = None  # how the last stop ended: clean | term | kill
    state_since: str | None = None  # when ``state`` began (ISO 8601 UTC)


# Columns of ``clients`` the daemon updates as things happen (observed state, live worker).
CLIENT_FIELDS = frozenset(
    {
        "desired",
        "me",
        "state",
        "worker_pid",
        "worker_started",
        "browser_pid",
        "boot",
        "delivered_dn",
        "restarts",
        "worker_secret_hash",
        "worker_curve_public",
        "stop_outcome",
        "state_since",
    }
)


async def all_clients(db: Database) -> list[ClientRow]:
    return [ClientRow(**dict(r)) for r in await db.fetchall("SELECT * FROM clients ORDER BY id")]


async def add(db: Database, client_id: str, created_at: str) -> None:
    await db.write(
        "INSERT OR IGNORE INTO clients (id, created_at) VALUES (?, ?)", (client_id, created_at)
    )


async def update(db: Database, client_id: str, **fields: Any) -> None:
    """Set columns of :data:`CLIENT_FIELDS` (anything else is a bug: ValueError)."""
    bad = set(fields) - CLIENT_FIELDS
    if bad:
        raise ValueError(f"not client columns: {sorted(bad)}")
    cols = ", ".join(f"{name}=?" for name in fields)
    await db.write(f"UPDATE clients SET {cols} WHERE id=?", (*fields.values(), client_id))


async def set_desired(db: Database, client_id: str, desired: str) -> None:
    await db.write("UPDATE clients SET desired=? WHERE id=?", (desired, client_id))


async def set_me(db: Database, client_id: str, me: str | None) -> None:
    await db.write("UPDATE clients SET me=? WHERE id=?", (me, client_id))


async def delete(db: Database, client_id: str) -> None:
    """A client and everything stored for it, in one transaction (its seq floor stays)."""
    async with db.transaction():
        await events.forget_client(db, client_id)
        await client_settings.forget_client(db, client_id)
        await retention.forget_client(db, client_id)
        await messages.forget_client(db, client_id)
        await media.forget_client(db, client_id)
        await stats.forget_client(db, client_id)
        await placements.forget(db, client_id)
        await db.conn.execute("DELETE FROM clients WHERE id=?", (client_id,))
