"""wamc.storage: the one transaction helper and the additive migrations (real SQLite)."""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3
from pathlib import Path

from wamc.storage import Database
from wamc.storage import audit as audit_rows
from wamc.storage import clients as client_rows


async def test_nested_transactions_join_and_after_commit_runs_once_committed(
    tmp_path: Path,
) -> None:
    db = Database(tmp_path / "t.db")
    await db.open()
    seen: list[list[str]] = []
    try:

        def committed() -> None:
            with sqlite3.connect(db.path) as other:  # a second connection sees only commits
                seen.append([r[0] for r in other.execute("SELECT id FROM clients ORDER BY id")])

        async with db.transaction() as outer:
            await client_rows.add(db, "a", "2026-01-01T00:00:00.000Z")
            async with db.transaction() as inner:
                assert inner is outer
                await client_rows.add(db, "b", "2026-01-01T00:00:00.000Z")
            outer.after_commit.append(committed)
            assert seen == []
        assert seen == [["a", "b"]]
    finally:
        await db.close()


async def test_a_rollback_never_discards_another_tasks_work(tmp_path: Path) -> None:
    db = Database(tmp_path / "t.db")
    await db.open()
    try:
        inside, trying = asyncio.Event(), asyncio.Event()

        async def failing() -> None:
            async with db.transaction():
                await client_rows.add(db, "lost", "2026-01-01T00:00:00.000Z")
                inside.set()
                await trying.wait()
                await asyncio.sleep(0)  # the other task reaches the write lock
                raise RuntimeError("boom")

        async def other() -> None:
            await inside.wait()
            trying.set()
            await client_rows.add(db, "kept", "2026-01-01T00:00:00.000Z")  # waits its turn

        results = await asyncio.gather(failing(), other(), return_exceptions=True)
        assert isinstance(results[0], RuntimeError) and results[1] is None
        assert [c.id for c in await client_rows.all_clients(db)] == ["kept"]
    finally:
        await db.close()


async def test_readers_see_only_committed_rows_and_writers_their_own(tmp_path: Path) -> None:
    """A /ws replay or a webhook lane reading while another coroutine's transaction is open must
    not see (and deliver) a row that may still be rolled back."""
    db = Database(tmp_path / "t.db")
    await db.open()
    try:
        inside, looked = asyncio.Event(), asyncio.Event()

        async def writer() -> None:
            with contextlib.suppress(RuntimeError):
                async with db.transaction():
                    await client_rows.add(db, "pending", "2026-01-01T00:00:00.000Z")
                    assert [c.id for c in await client_rows.all_clients(db)] == ["pending"]
                    inside.set()
                    await looked.wait()
                    raise RuntimeError("rolled back")

        async def reader() -> list[str]:
            await inside.wait()
            try:
                return [c.id for c in await client_rows.all_clients(db)]
            finally:
                looked.set()

        _, seen = await asyncio.gather(writer(), reader())
        assert seen == []
        assert await client_rows.all_clients(db) == []
    finally:
        await db.close()


async def test_open_adds_the_audit_count_column_to_an_older_database(tmp_path: Path) -> None:
    path = tmp_path / "old.db"
    with sqlite3.connect(path) as old:
        old.execute(
            "CREATE TABLE audit (n INTEGER PRIMARY KEY AUTOINCREMENT, timestamp TEXT NOT NULL,"
            " key_id TEXT, action TEXT NOT NULL, method TEXT NOT NULL, path TEXT NOT NULL,"
            " client TEXT, status INTEGER NOT NULL, result TEXT NOT NULL, remote TEXT)"
        )
    db = Database(path)
    await db.open()
    try:
        entry = {
            "timestamp": "2026-01-01T00:00:00.000Z",
            "key_id": None,
            "action": "auth",
            "method": "GET",
            "path": "/api/clients",
            "client": None,
            "status": 401,
            "result": "unauthorized",
            "remote": "198.51.100.7",
        }
        n = await audit_rows.add(db, entry)
        assert await audit_rows.bump_count(db, n)
        (row,) = await audit_rows.query(db, None, None, 10, None)
        assert row["count"] == 2 and row["remote"] == "198.51.100.7"
    finally:
        await db.close()


async def test_an_event_queues_exactly_the_webhooks_that_want_it(tmp_path: Path) -> None:
    """The outbox rows are chosen in SQL, in the event's own statement family: a global hook,
    a client's hook, event lists (named, empty, absent) and a disabled hook."""
    from wamc.storage import events as event_log
    from wamc.storage import webhooks as hook_rows

    db = Database(tmp_path / "t.db")
    await db.open()
    try:
        hooks = {
            "all": (None, None, True),
            "acme": ("acme", None, True),
            "shop": ("shop", None, True),
            "acks": (None, ["message.ack"], True),
            "none": (None, [], True),
            "off": (None, None, False),
        }
        for wid, (client, events, enabled) in hooks.items():
            await hook_rows.save_hook(
                db,
                hook_rows.WebhookRow(
                    id=wid,
                    client=client,
                    url="http://127.0.0.1:9/",
                    events=events,
                    secret="s",
                    headers={},
                    max_attempts=1,
                    backoff_base=1.0,
                    backoff_max=1.0,
                    timeout=1.0,
                    enabled=enabled,
                    created_at="2026-01-01T00:00:00.000Z",
                ),
            )

        async def queued(client: str | None, name: str) -> list[str]:
            ev = {"client": client, "id": f"{client}-{name}", "event": name}
            ev |= {"timestamp": "2026-01-01T00:00:00.000Z", "data": {"x": "é"}}
            return sorted(await event_log.append(db, ev))

        assert await queued("acme", "message") == ["acme", "all"]
        assert await queued("acme", "message.ack") == ["acks", "acme", "all"]
        assert await queued(None, "daemon.started") == ["all"]
        rows = await db.fetchall("SELECT webhook_id, client, seq, body FROM webhook_outbox")
        assert len(rows) == 6 and {r["client"] for r in rows} == {"acme", ""}
        first = next(r for r in rows if r["webhook_id"] == "acme" and r["seq"] == 1)
        assert '"seq":1' in first["body"] and '"x":"é"' in first["body"]
    finally:
        await db.close()
