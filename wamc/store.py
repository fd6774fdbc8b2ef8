"""The daemon's SQLite store (``sessions/.wamc/wamc.db``): client registry, messages, event log.

Written by the daemon only. Profiles belong to the workers.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiosqlite
from loguru import logger

from wamc.timeutil import iso_from_unix

SCHEMA = """
PRAGMA journal_mode=WAL;
CREATE TABLE IF NOT EXISTS clients (
    id TEXT PRIMARY KEY,
    desired TEXT NOT NULL DEFAULT 'running',
    created_at TEXT NOT NULL,
    me TEXT,
    state TEXT NOT NULL DEFAULT 'stopped',
    worker_pid INTEGER,
    worker_started REAL,
    browser_pid INTEGER,
    boot TEXT,
    delivered_dn INTEGER NOT NULL DEFAULT 0,
    restarts INTEGER NOT NULL DEFAULT 0
);
CREATE TABLE IF NOT EXISTS messages (
    client TEXT NOT NULL,
    id TEXT NOT NULL,
    chat_id TEXT NOT NULL,
    from_me INTEGER NOT NULL,
    sender TEXT,
    recipient TEXT,
    body TEXT NOT NULL,
    type TEXT NOT NULL,
    timestamp INTEGER NOT NULL,
    ack INTEGER NOT NULL DEFAULT 0,
    key_id TEXT NOT NULL,
    lid TEXT,
    PRIMARY KEY (client, id)
);
-- One person can appear as …@lid and as …@c.us: the same message then has two serialized ids
-- but one key id, so duplicates are suppressed on the key id too.
CREATE UNIQUE INDEX IF NOT EXISTS messages_by_key ON messages (client, from_me, key_id);
CREATE INDEX IF NOT EXISTS messages_by_chat ON messages (client, chat_id, timestamp DESC);
CREATE TABLE IF NOT EXISTS events (
    client TEXT NOT NULL,
    seq INTEGER NOT NULL,
    id TEXT NOT NULL UNIQUE,
    event TEXT NOT NULL,
    timestamp TEXT NOT NULL,
    data TEXT NOT NULL,
    PRIMARY KEY (client, seq)
);
-- The last seq of a deleted client: a client created again under the same id continues after
-- it, so a consumer resuming with ?since=<id>:<seq> never skips the new events.
CREATE TABLE IF NOT EXISTS event_seq_floor (
    client TEXT PRIMARY KEY,
    seq INTEGER NOT NULL
);
-- Worker events that could not be applied (bad shape, or a failure while storing): acknowledged
-- to the worker (never retried forever) and kept here for an operator.
CREATE TABLE IF NOT EXISTS dead_events (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    client TEXT NOT NULL,
    dn INTEGER NOT NULL,
    name TEXT NOT NULL,
    reason TEXT NOT NULL,
    payload TEXT NOT NULL,
    at TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS dead_events_by_client ON dead_events (client, id);
"""


# (table, column, type) added after the first release: created on open when missing.
ADDED_COLUMNS = (
    ("messages", "lid", "TEXT"),
    ("clients", "worker_secret_hash", "TEXT"),
    ("clients", "stop_outcome", "TEXT"),
)
DEAD_EVENTS_KEPT = 1000  # per client, newest
DEAD_PAYLOAD_MAX = 64 * 1024


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
    stop_outcome: str | None = None  # how the last stop ended: clean | term | kill


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
        "stop_outcome",
    }
)


@dataclass(eq=False)
class Transaction:
    """One open write transaction: its owner task and what to run once it has committed."""

    owner: asyncio.Task[Any] | None
    after_commit: list[Callable[[], None]] = field(default_factory=list)


_CURRENT: ContextVar[Transaction | None] = ContextVar("wamc_store_tx", default=None)


class Store:
    def __init__(self, path: Path) -> None:
        self.path = path
        self.db: aiosqlite.Connection | None = None
        # One connection is shared by every coroutine: writers take turns, so a commit never
        # carries another coroutine's half-done work, and a rollback never discards it.
        self._write_lock = asyncio.Lock()

    async def open(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.db = await aiosqlite.connect(self.path)
        self.db.row_factory = aiosqlite.Row
        await self.db.executescript(SCHEMA)
        await self._add_missing_columns()
        await self.db.commit()

    async def _add_missing_columns(self) -> None:
        """Databases made by an earlier version get the columns added since (all nullable)."""
        for table, column, kind in ADDED_COLUMNS:
            async with self.conn.execute(f"PRAGMA table_info({table})") as cur:
                names = {row[1] for row in await cur.fetchall()}
            if column not in names:
                await self.conn.execute(f"ALTER TABLE {table} ADD COLUMN {column} {kind}")

    async def close(self) -> None:
        if self.db is not None:
            await self.db.close()
            self.db = None

    @property
    def conn(self) -> aiosqlite.Connection:
        assert self.db is not None, "store not open"
        return self.db

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[Transaction]:
        """All writes inside commit together or not at all (nested calls join the outer one).

        ``after_commit`` callbacks run right after the commit, still in commit order.
        """
        current = _CURRENT.get()
        if current is not None and current.owner is asyncio.current_task():
            yield current
            return
        async with self._write_lock:
            tx = Transaction(owner=asyncio.current_task())
            token = _CURRENT.set(tx)
            try:
                yield tx
            except BaseException:
                await self.conn.rollback()
                raise
            else:
                await self.conn.commit()
            finally:
                tx.owner = None
                _CURRENT.reset(token)
            for callback in tx.after_commit:
                try:
                    callback()
                except Exception:
                    logger.exception("after-commit callback failed")

    async def write(self, sql: str, args: tuple[Any, ...] | list[Any] = ()) -> aiosqlite.Cursor:
        """One write statement, in the caller's transaction or in one of its own."""
        async with self.transaction():
            return await self.conn.execute(sql, args)

    # --- clients -----------------------------------------------------------------------------
    async def clients(self) -> list[ClientRow]:
        async with self.conn.execute("SELECT * FROM clients ORDER BY id") as cur:
            return [ClientRow(**dict(r)) for r in await cur.fetchall()]

    async def add_client(self, client_id: str, created_at: str) -> None:
        await self.write(
            "INSERT OR IGNORE INTO clients (id, created_at) VALUES (?, ?)", (client_id, created_at)
        )

    async def update_client(self, client_id: str, **fields: Any) -> None:
        bad = set(fields) - CLIENT_FIELDS
        if bad:
            raise ValueError(f"not client columns: {sorted(bad)}")
        cols = ", ".join(f"{name}=?" for name in fields)
        await self.write(f"UPDATE clients SET {cols} WHERE id=?", (*fields.values(), client_id))

    async def set_desired(self, client_id: str, desired: str) -> None:
        await self.write("UPDATE clients SET desired=? WHERE id=?", (desired, client_id))

    async def set_me(self, client_id: str, me: str | None) -> None:
        await self.write("UPDATE clients SET me=? WHERE id=?", (me, client_id))

    async def delete_client(self, client_id: str) -> None:
        async with self.transaction():
            await self._delete_client(client_id)

    async def _delete_client(self, client_id: str) -> None:
        await self.conn.execute(
            "INSERT OR REPLACE INTO event_seq_floor (client, seq) SELECT ?, MAX(s) FROM"
            " (SELECT seq AS s FROM events WHERE client=?"
            " UNION ALL SELECT seq FROM event_seq_floor WHERE client=?) HAVING MAX(s) IS NOT NULL",
            (client_id, client_id, client_id),
        )
        for table in ("clients", "messages", "events", "dead_events"):
            key = "id" if table == "clients" else "client"
            await self.conn.execute(f"DELETE FROM {table} WHERE {key}=?", (client_id,))

    # --- messages ----------------------------------------------------------------------------
    async def add_message(self, client_id: str, m: dict[str, Any]) -> bool:
        """Store a message; False when its id was already known (duplicates are suppressed)."""
        cur = await self.write(
            "INSERT OR IGNORE INTO messages (client, id, chat_id, from_me, sender, recipient, body,"
            " type, timestamp, ack, key_id, lid) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
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
            ),
        )
        return cur.rowcount == 1

    async def last_message_times(self) -> dict[str, int]:
        """Client id → unix time of its newest stored message."""
        sql = "SELECT client, MAX(timestamp) FROM messages GROUP BY client"
        async with self.conn.execute(sql) as cur:
            return {r[0]: int(r[1]) for r in await cur.fetchall()}

    async def newest_per_chat(self, client_id: str, chats: int = 100) -> dict[str, str]:
        """For the most recently active chats, the id of the newest message stored."""
        sql = (
            "SELECT chat_id, id, MAX(timestamp) AS t FROM messages WHERE client=?"
            " GROUP BY chat_id ORDER BY t DESC LIMIT ?"
        )
        async with self.conn.execute(sql, (client_id, chats)) as cur:
            return {r["chat_id"]: r["id"] for r in await cur.fetchall()}

    async def set_ack(self, client_id: str, ids: list[str], ack: int) -> list[str]:
        """Raise the ack of known messages (acks never go back); returns the ids changed."""
        changed = []
        async with self.transaction():
            for mid in ids:
                cur = await self.conn.execute(
                    "UPDATE messages SET ack=? WHERE client=? AND id=? AND (ack < ? OR ? < 0)",
                    (ack, client_id, mid, ack, ack),
                )
                if cur.rowcount:
                    changed.append(mid)
        return changed

    async def revoke_message(self, client_id: str, msg_id: str) -> bool:
        """A message deleted for everyone: kept as type ``revoked`` with an empty body."""
        return await self._update_message(client_id, msg_id, "type='revoked', body=''", ())

    async def edit_message(self, client_id: str, msg_id: str, body: str) -> bool:
        """A message's new text (a revoked message stays revoked)."""
        return await self._update_message(client_id, msg_id, "body=?", (body,))

    async def _update_message(
        self, client_id: str, msg_id: str, assignments: str, values: tuple[Any, ...]
    ) -> bool:
        # By key id, like duplicates: the same message may be known as …@lid and as …@c.us.
        cur = await self.write(
            f"UPDATE messages SET {assignments} WHERE client=? AND from_me=? AND key_id=?"
            " AND type != 'revoked'",
            (*values, client_id, int(msg_id.startswith("true_")), key_id(msg_id)),
        )
        return cur.rowcount > 0

    async def messages(
        self, client_id: str, chat_id: str, limit: int, before: tuple[int, int] | None
    ) -> list[tuple[tuple[int, int], dict[str, Any]]]:
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
        async with self.conn.execute(sql, args) as cur:
            rows = await cur.fetchall()
        return [((int(r["timestamp"]), int(r["rowid"])), message_row(r)) for r in rows]

    # --- event log -----------------------------------------------------------------------------
    async def append_event(
        self,
        client_id: str | None,
        event_id: str,
        name: str,
        timestamp: str,
        data: dict[str, Any],
    ) -> int:
        """Log an event; call it inside :meth:`transaction` (seq is read, then written)."""
        key = client_id or ""
        async with self.conn.execute(
            "SELECT MAX(COALESCE((SELECT MAX(seq) FROM events WHERE client=?), 0),"
            " COALESCE((SELECT seq FROM event_seq_floor WHERE client=?), 0)) + 1",
            (key, key),
        ) as cur:
            row = await cur.fetchone()
        seq = int(row[0]) if row else 1
        await self.conn.execute(
            "INSERT INTO events (client, seq, id, event, timestamp, data) VALUES (?, ?, ?, ?, ?, ?)",
            (key, seq, event_id, name, timestamp, json.dumps(data, separators=(",", ":"))),
        )
        return seq

    async def prune_events(self, before: str, batch: int = 5000) -> int:
        """Delete events older than ``before`` (ISO UTC), always keeping each client's newest
        (so seq numbers continue); returns how many went. Batched: short write locks."""
        total = 0
        while True:
            cur = await self.write(
                "DELETE FROM events WHERE rowid IN (SELECT rowid FROM events WHERE timestamp < ?"
                " AND seq < (SELECT MAX(seq) FROM events AS e WHERE e.client = events.client)"
                " LIMIT ?)",
                (before, batch),
            )
            total += cur.rowcount
            if cur.rowcount < batch:
                return total

    async def events_since(
        self, client_id: str | None, after: int, limit: int, names: frozenset[str] | None = None
    ) -> list[dict[str, Any]]:
        """Logged events of one client (None: the daemon's) with seq > ``after``, oldest first."""
        sql = "SELECT * FROM events WHERE client=? AND seq>?"
        args: list[Any] = [client_id or "", after]
        if names:
            sql += f" AND event IN ({','.join('?' * len(names))})"
            args += sorted(names)
        sql += " ORDER BY seq LIMIT ?"
        args.append(limit)
        async with self.conn.execute(sql, args) as cur:
            rows = await cur.fetchall()
        return [
            {
                "id": r["id"],
                "seq": r["seq"],
                "client": r["client"] or None,
                "event": r["event"],
                "timestamp": r["timestamp"],
                "data": json.loads(r["data"]),
            }
            for r in rows
        ]

    # --- dead events ----------------------------------------------------------------------------
    async def add_dead_event(
        self, client_id: str, dn: int, name: str, reason: str, payload: str, at: str
    ) -> None:
        """Keep an event that could not be applied (newest :data:`DEAD_EVENTS_KEPT` per client)."""
        async with self.transaction():
            await self.conn.execute(
                "INSERT INTO dead_events (client, dn, name, reason, payload, at)"
                " VALUES (?, ?, ?, ?, ?, ?)",
                (client_id, dn, name[:64], reason[:500], payload[:DEAD_PAYLOAD_MAX], at),
            )
            await self.conn.execute(
                "DELETE FROM dead_events WHERE client=? AND id <= (SELECT id FROM"
                " dead_events WHERE client=? ORDER BY id DESC LIMIT 1 OFFSET ?)",
                (client_id, client_id, DEAD_EVENTS_KEPT),
            )

    async def dead_events(self, client_id: str, limit: int = 100) -> list[dict[str, Any]]:
        """Newest first."""
        sql = (
            "SELECT dn, name, reason, payload, at FROM dead_events WHERE client=?"
            " ORDER BY id DESC LIMIT ?"
        )
        async with self.conn.execute(sql, (client_id, limit)) as cur:
            return [dict(r) for r in await cur.fetchall()]


def key_id(serialized: str) -> str:
    """The key part of a serialized message id ``<fromMe>_<chat>_<id>[_<participant>]``."""
    parts = serialized.split("_")
    return parts[2] if len(parts) >= 3 else serialized


def message_row(r: aiosqlite.Row) -> dict[str, Any]:
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
    }
