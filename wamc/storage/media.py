"""Media of stored messages (issue 11): the metadata kept with a message and the index of the
per-client download cache (least recently used first out).

A media message's row keeps ``media`` as JSON ``{mimetype, filename, size, caption, sha256}``;
the files of the cache live under the client's folder, this table says which file holds which
message's media, its size and when it was last served.
"""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import quote

from wamc.storage.db import Database, Row


def media_url(client_id: str, msg_id: str) -> str:
    """The API path that downloads a message's media."""
    return f"/api/clients/{quote(client_id, safe='')}/messages/{quote(msg_id, safe='')}/media"


def media_fields(r: Row) -> dict[str, Any]:
    """``media`` and ``media_url`` of a stored message row; nothing for a message without media."""
    raw = r["media"] if "media" in r.keys() else None  # noqa: SIM118 - a Row is not a dict
    if not raw:
        return {}
    return {"media": json.loads(raw), "media_url": media_url(r["client"], r["id"])}


async def set_message_media(
    db: Database, client_id: str, msg_id: str, media: dict[str, Any]
) -> None:
    await db.write(
        "UPDATE messages SET media=? WHERE client=? AND id=?",
        (json.dumps(media, separators=(",", ":")), client_id, msg_id),
    )


async def message_media(db: Database, client_id: str, msg_id: str) -> dict[str, Any] | None:
    """The stored media of a message: None when the message is unknown, {} when it has none."""
    row = await db.fetchone(
        "SELECT media FROM messages WHERE client=? AND id=?", (client_id, msg_id)
    )
    if row is None:
        return None
    media: dict[str, Any] = json.loads(row["media"]) if row["media"] else {}
    return media


async def cached(db: Database, client_id: str, msg_id: str) -> Row | None:
    return await db.fetchone(
        "SELECT * FROM media_cache WHERE client=? AND msg_id=?", (client_id, msg_id)
    )


async def touch(db: Database, client_id: str, msg_id: str, now: float) -> None:
    await db.write(
        "UPDATE media_cache SET used=? WHERE client=? AND msg_id=?", (now, client_id, msg_id)
    )


async def add_cached(
    db: Database,
    client_id: str,
    msg_id: str,
    file: str,
    size: int,
    mimetype: str,
    sha256: str,
    now: float,
) -> None:
    await db.write(
        "INSERT OR REPLACE INTO media_cache (client, msg_id, file, size, mimetype, sha256, used)"
        " VALUES (?, ?, ?, ?, ?, ?, ?)",
        (client_id, msg_id, file, size, mimetype, sha256, now),
    )


async def forget_cached(db: Database, client_id: str, msg_id: str) -> None:
    await db.write("DELETE FROM media_cache WHERE client=? AND msg_id=?", (client_id, msg_id))


async def evict(db: Database, client_id: str, cap_bytes: int, keep: str) -> list[str]:
    """Drop the least recently used entries until the client's cache fits ``cap_bytes`` (the
    entry ``keep``, just added, stays); returns the files to delete."""
    rows = await db.fetchall(
        "SELECT msg_id, file, size FROM media_cache WHERE client=? ORDER BY used DESC",
        (client_id,),
    )
    total, dropped = 0, []
    for r in rows:
        total += int(r["size"])
        if total > cap_bytes and r["msg_id"] != keep:
            dropped.append((r["msg_id"], r["file"]))
    if dropped:
        async with db.transaction():
            await db.conn.executemany(
                "DELETE FROM media_cache WHERE client=? AND msg_id=?",
                [(client_id, mid) for mid, _ in dropped],
            )
    return [f for _, f in dropped]


async def cache_size(db: Database, client_id: str) -> int:
    row = await db.fetchone(
        "SELECT COALESCE(SUM(size), 0) AS n FROM media_cache WHERE client=?", (client_id,)
    )
    return int(row["n"]) if row is not None else 0


async def forget_client(db: Database, client_id: str) -> None:
    await db.write("DELETE FROM media_cache WHERE client=?", (client_id,))
