"""Retention of stored rows (issue 11): messages and events older than a client's retention go;
per chat, the high-water mark (``chat_marks``: the newest message ever stored, kept by a trigger
of the schema) stays, with how far retention has deleted (``pruned_before``).

The marks are what the worker's backfill is told (wamc/daemon/inbox.py's welcome), so messages
deleted here are not fetched from WhatsApp Web and published again."""

from __future__ import annotations

from wamc.storage.db import Database

BATCH = 5000  # rows per delete: short write locks


async def prune_messages(db: Database, client_id: str, before: int, batch: int = BATCH) -> int:
    """Delete the client's messages with a timestamp (unix) before ``before``; each chat whose
    rows went remembers it in ``pruned_before``. Returns how many went."""
    total = 0
    while True:
        async with db.transaction():
            await db.conn.execute(
                "UPDATE chat_marks SET pruned_before = MAX(pruned_before, ?) WHERE client=?"
                " AND chat_id IN (SELECT DISTINCT chat_id FROM messages WHERE client=?"
                " AND timestamp < ?)",
                (before, client_id, client_id, before),
            )
            cur = await db.conn.execute(
                "DELETE FROM messages WHERE rowid IN (SELECT rowid FROM messages WHERE client=?"
                " AND timestamp < ? LIMIT ?)",
                (client_id, before, batch),
            )
            went = cur.rowcount
        total += went
        if went < batch:
            return total


async def already_pruned(db: Database, client_id: str, chat_id: str, timestamp: int) -> bool:
    """Is a message of this time older than what retention deleted in its chat? (Then a
    backfill offering it again is refetching a deleted row, not bringing a new one.)"""
    row = await db.fetchone(
        "SELECT pruned_before FROM chat_marks WHERE client=? AND chat_id=?", (client_id, chat_id)
    )
    return row is not None and timestamp < int(row["pruned_before"])


async def prune_events(db: Database, client_id: str, before: str, batch: int = BATCH) -> int:
    """Delete the client's logged events older than ``before`` (ISO UTC), always keeping its
    newest (seq numbers continue after it). ``client_id`` "" is the daemon's own events."""
    total = 0
    while True:
        cur = await db.write(
            "DELETE FROM events WHERE rowid IN (SELECT rowid FROM events WHERE client=?"
            " AND timestamp < ? AND seq < (SELECT MAX(seq) FROM events WHERE client=?) LIMIT ?)",
            (client_id, before, client_id, batch),
        )
        total += cur.rowcount
        if cur.rowcount < batch:
            return total


async def forget_client(db: Database, client_id: str) -> None:
    """A deleted client's marks (a client made again under its id starts from nothing)."""
    await db.write("DELETE FROM chat_marks WHERE client=?", (client_id,))
