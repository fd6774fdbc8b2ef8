"""A client's stored messages for an export (issue 11): oldest first, in keyset pages, so an
export of any size holds one page in memory; each message in the history endpoint's shape."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

from wamc.storage.db import Database
from wamc.storage.messages import Position, message_row

PAGE = 1000


def _where(client_id: str, after: int | None, chat_id: str | None) -> tuple[str, list[Any]]:
    """The export's filters: one client's messages, of one chat and/or after a time if given."""
    sql = " WHERE client=?"
    args: list[Any] = [client_id]
    if chat_id is not None:
        sql += " AND chat_id=?"
        args.append(chat_id)
    if after is not None:
        sql += " AND timestamp > ?"
        args.append(after)
    return sql, args


async def pages(
    db: Database,
    client_id: str,
    after: int | None = None,
    chat_id: str | None = None,
    size: int = PAGE,
) -> AsyncIterator[list[dict[str, Any]]]:
    """Pages of messages, oldest first (ties: the order they were stored). ``after``: only
    messages with a timestamp (unix) after it; ``chat_id``: only that chat."""
    position: Position | None = None
    while True:
        where, args = _where(client_id, after, chat_id)
        sql = "SELECT rowid, * FROM messages" + where
        if position is not None:
            sql += " AND (timestamp > ? OR (timestamp = ? AND rowid > ?))"
            args += [position[0], position[0], position[1]]
        sql += " ORDER BY timestamp, rowid LIMIT ?"
        args.append(size)
        rows = await db.fetchall(sql, args)
        if not rows:
            return
        yield [message_row(r) for r in rows]
        if len(rows) < size:
            return
        position = (int(rows[-1]["timestamp"]), int(rows[-1]["rowid"]))


async def count(
    db: Database, client_id: str, after: int | None = None, chat_id: str | None = None
) -> int:
    """How many messages an export with these filters holds (for a progress bar)."""
    where, args = _where(client_id, after, chat_id)
    row = await db.fetchone("SELECT COUNT(*) FROM messages" + where, args)
    return int(row[0]) if row is not None else 0


def json_line(message: dict[str, Any]) -> bytes:
    """One message as one JSON Lines line (fields in the history endpoint's order)."""
    return json.dumps(message, ensure_ascii=False, separators=(",", ":")).encode() + b"\n"


async def lines(
    db: Database, client_id: str, after: int | None = None, chat_id: str | None = None
) -> AsyncIterator[tuple[bytes, list[dict[str, Any]]]]:
    """Each page as (its JSON Lines bytes, its messages)."""
    async for page in pages(db, client_id, after, chat_id):
        yield b"".join(json_line(m) for m in page), page
