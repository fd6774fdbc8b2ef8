"""Stored messages: deduplicated by id and by key id, acks only go up, edits and revokes."""

from __future__ import annotations

import json
from typing import Any

from wamc.storage.db import Database, Row
from wamc.storage.media import media_fields
from wamc.timeutil import iso_from_unix

# A page position: (timestamp, rowid) of a message.
Position = tuple[int, int]


def key_id(serialized: str) -> str:
    """The key part of a serialized message id ``<fromMe>_<chat>_<id>[_<participant>]``."""
    parts = serialized.split("_")
    return parts[2] if len(parts) >= 3 else serialized


def message_row(r: Row) -> dict[str, Any]:
    return {
        "id": r["id"],
        "chat_id": r["chat_id"],
        "from_me": bool(r["from_me"]),
        "from": r["sender"],
        "to": r["recipient"],
        "body": r["body"],
        "type": r["type"],
        "timestamp": iso_from_unix(r["timestamp"]),
        "ack": r["ack"],
        "lid": r["lid"],
        "quoted_id": r["quoted_id"],
        **_details(r["details"]),
        **media_fields(r),
    }


def _details(raw: str | None) -> dict[str, Any]:
    """The kind-specific parts stored as JSON (written by ``add`` only, so a dict)."""
    found = json.loads(raw) if raw else None
    return found if isinstance(found, dict) else {}


async def add(db: Database, client_id: str, m: dict[str, Any]) -> bool:
    """Store a message; False when its id was already known (duplicates are suppressed)."""
    cur = await db.write(
        "INSERT OR IGNORE INTO messages (client, id, chat_id, from_me, sender, recipient, body,"
        " type, timestamp, ack, key_id, lid, quoted_id, details)"
        " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        (
            client_id,
            m["id"],
            m["chat_id"],
            int(bool(m.get("from_me"))),
            m.get("from"),
            m.get("to"),
            m.get("body") or "",
            m.get("type") or "chat",
            int(m.get("timestamp") or 0),
            int(m.get("ack") or 0),
            key_id(m["id"]),
            m.get("lid"),
            m.get("quoted_id"),
            json.dumps(m["details"], separators=(",", ":")) if m.get("details") else None,
        ),
    )
    return cur.rowcount == 1


async def last_message_times(db: Database) -> dict[str, int]:
    """Client id → unix time of its newest stored message."""
    rows = await db.fetchall("SELECT client, MAX(timestamp) FROM messages GROUP BY client")
    return {r[0]: int(r[1]) for r in rows}


async def newest_per_chat(db: Database, client_id: str, chats: int = 100) -> dict[str, str]:
    """For the most recently active chats, the id of the newest message ever stored (its
    high-water mark, which outlives rows deleted by retention: wamc/storage/retention.py)."""
    sql = (
        "SELECT chat_id, id FROM chat_marks WHERE client=? ORDER BY timestamp DESC, chat_id LIMIT ?"
    )
    return {r["chat_id"]: r["id"] for r in await db.fetchall(sql, (client_id, chats))}


async def set_ack(db: Database, client_id: str, ids: list[str], ack: int) -> list[str]:
    """Raise the ack of known messages (acks never go back); returns the ids changed."""
    changed = []
    async with db.transaction():
        for mid in ids:
            cur = await db.conn.execute(
                "UPDATE messages SET ack=? WHERE client=? AND id=? AND (ack < ? OR ? < 0)",
                (ack, client_id, mid, ack, ack),
            )
            if cur.rowcount:
                changed.append(mid)
    return changed


async def revoke(db: Database, client_id: str, msg_id: str) -> bool:
    """A message deleted for everyone: kept as type ``revoked`` with an empty body."""
    return await _update(db, client_id, msg_id, "type='revoked', body=''", ())


async def edit(db: Database, client_id: str, msg_id: str, body: str) -> bool:
    """A message's new text (a revoked message stays revoked)."""
    return await _update(db, client_id, msg_id, "body=?", (body,))


async def forget(db: Database, client_id: str, msg_id: str) -> bool:
    """A message deleted for this device only: gone from the history."""
    cur = await db.write(
        "DELETE FROM messages WHERE client=? AND from_me=? AND key_id=?",
        (client_id, int(msg_id.startswith("true_")), key_id(msg_id)),
    )
    return cur.rowcount > 0


async def stored_type(db: Database, client_id: str, msg_id: str) -> str | None:
    """The stored type of a message (``revoked`` once deleted for everyone); None if unknown."""
    row = await db.fetchone(
        "SELECT type FROM messages WHERE client=? AND from_me=? AND key_id=?",
        (client_id, int(msg_id.startswith("true_")), key_id(msg_id)),
    )
    return None if row is None else str(row["type"])


async def _update(
    db: Database, client_id: str, msg_id: str, assignments: str, values: tuple[Any, ...]
) -> bool:
    # By key id, like duplicates: the same message may be known as …@lid and as …@c.us.
    cur = await db.write(
        f"UPDATE messages SET {assignments} WHERE client=? AND from_me=? AND key_id=?"
        " AND type != 'revoked'",
        (*values, client_id, int(msg_id.startswith("true_")), key_id(msg_id)),
    )
    return cur.rowcount > 0


async def page(
    db: Database, client_id: str, chat_id: str, limit: int, before: Position | None
) -> list[tuple[Position, dict[str, Any]]]:
    """Newest first (ties: the order they were stored), as ((timestamp, rowid), message).

    ``before`` is the (timestamp, rowid) position of the last message already seen.
    """
    sql = "SELECT rowid, * FROM messages WHERE client=? AND chat_id=?"
    args: list[Any] = [client_id, chat_id]
    if before is not None:
        sql += " AND (timestamp < ? OR (timestamp = ? AND rowid < ?))"
        args += [before[0], before[0], before[1]]
    sql += " ORDER BY timestamp DESC, rowid DESC LIMIT ?"
    args.append(limit)
    rows = await db.fetchall(sql, args)
    return [((int(r["timestamp"]), int(r["rowid"])), message_row(r)) for r in rows]


async def recent(db: Database, limit: int, client: str | None = None) -> list[dict[str, Any]]:
    """Newest messages across chats (of one client, or of all), newest first."""
    sql = "SELECT rowid, * FROM messages"
    args: list[Any] = []
    if client is not None:
        sql += " WHERE client=?"
        args.append(client)
    sql += " ORDER BY timestamp DESC, rowid DESC LIMIT ?"
    args.append(limit)
    return [{"client": r["client"], **message_row(r)} for r in await db.fetchall(sql, args)]


async def forget_client(db: Database, client_id: str) -> None:
    await db.write("DELETE FROM messages WHERE client=?", (client_id,))
