"""The connection, the schema and the one write transaction of the daemon's database."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable, Iterable, Sequence
from contextlib import asynccontextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiosqlite
from loguru import logger

from wamc.storage.schema import ADDED_COLUMNS, ONCE, SCHEMA
from wamc.timeutil import utc_now_iso

Args = Sequence[Any]
Row = aiosqlite.Row


@dataclass(eq=False)
class Transaction:
    """One open write transaction: its owner task and what to run once it has committed."""

    owner: asyncio.Task[Any] | None
    after_commit: list[Callable[[], None]] = field(default_factory=list)


_CURRENT: ContextVar[Transaction | None] = ContextVar("wamc_store_tx", default=None)


class Database:
    """One aiosqlite connection (WAL) shared by every coroutine of the daemon."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.db: aiosqlite.Connection | None = None
        # Reads outside one's own transaction go to a second connection: under WAL it sees
        # only committed data, never a row another coroutine may still roll back.
        self.reader: aiosqlite.Connection | None = None
        # One connection is shared by every coroutine: writers take turns, so a commit never
        # carries another coroutine's half-done work, and a rollback never discards it.
        self._write_lock = asyncio.Lock()

    async def open(self) -> None:
        """Open the file, create every table and add the columns added since (idempotent)."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.db = await aiosqlite.connect(self.path)
        self.db.row_factory = aiosqlite.Row
        await self.db.executescript(SCHEMA)
        await self._add_missing_columns()
        await self._run_once()
        await self.db.commit()
        self.reader = await aiosqlite.connect(self.path)
        self.reader.row_factory = aiosqlite.Row
        await self.reader.execute("PRAGMA query_only=1")

    async def _add_missing_columns(self) -> None:
        """Databases made by an earlier version get the columns added since."""
        for table, column, kind in ADDED_COLUMNS:
            async with self.conn.execute(f"PRAGMA table_info({table})") as cur:
                names = {row[1] for row in await cur.fetchall()}
            if column not in names:
                await self.conn.execute(f"ALTER TABLE {table} ADD COLUMN {column} {kind}")

    async def _run_once(self) -> None:
        """The one-time steps this database has not had yet (e.g. the analytics backfill)."""
        for name, statements in ONCE:
            async with self.conn.execute("SELECT 1 FROM meta WHERE key=?", (name,)) as cur:
                if await cur.fetchone() is not None:
                    continue
            rows = 0
            for sql in statements:
                rows += (await self.conn.execute(sql)).rowcount
            await self.conn.execute(
                "INSERT INTO meta (key, value) VALUES (?, ?)", (name, utc_now_iso())
            )
            logger.info("database upgrade step {} done ({} rows written)", name, rows)

    async def close(self) -> None:
        if self.reader is not None:
            await self.reader.close()
            self.reader = None
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

    async def write(self, sql: str, args: Args = ()) -> aiosqlite.Cursor:
        """One write statement, in the caller's transaction or in one of its own."""
        async with self.transaction():
            return await self.conn.execute(sql, args)

    async def write_many(self, sql: str, rows: Iterable[Args]) -> None:
        """One statement for many rows, in the caller's transaction or in one of its own."""
        async with self.transaction():
            await self.conn.executemany(sql, rows)

    def _for_reading(self) -> aiosqlite.Connection:
        """Inside one's own transaction: its connection (to see one's own writes); else the
        reader, which sees only what is committed."""
        current = _CURRENT.get()
        if current is not None and current.owner is asyncio.current_task():
            return self.conn
        assert self.reader is not None, "store not open"
        return self.reader

    async def fetchall(self, sql: str, args: Args = ()) -> list[Row]:
        async with self._for_reading().execute(sql, args) as cur:
            return list(await cur.fetchall())

    async def fetchone(self, sql: str, args: Args = ()) -> Row | None:
        async with self._for_reading().execute(sql, args) as cur:
            return await cur.fetchone()
