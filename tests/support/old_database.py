"""A database of an earlier release (no ``lid`` on messages, no analytics tables): the upgrade
tests start from it (tests/unit/test_analytics.py, tests/e2e/test_analytics.py)."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable
from pathlib import Path

OLD_SCHEMA = """
CREATE TABLE clients (id TEXT PRIMARY KEY, desired TEXT NOT NULL DEFAULT 'running',
    created_at TEXT NOT NULL, me TEXT, state TEXT NOT NULL DEFAULT 'stopped', worker_pid INTEGER,
    worker_started REAL, browser_pid INTEGER, boot TEXT,
    delivered_dn INTEGER NOT NULL DEFAULT 0, restarts INTEGER NOT NULL DEFAULT 0);
CREATE TABLE messages (client TEXT NOT NULL, id TEXT NOT NULL, chat_id TEXT NOT NULL,
    from_me INTEGER NOT NULL, sender TEXT, recipient TEXT, body TEXT NOT NULL,
    type TEXT NOT NULL, timestamp INTEGER NOT NULL, ack INTEGER NOT NULL DEFAULT 0,
    key_id TEXT NOT NULL, PRIMARY KEY (client, id));
"""


def old_database(
    path: Path, messages: Iterable[tuple[str, int, int]], stopped_clients: Iterable[str] = ()
) -> None:
    """Writes ``messages`` (client, from_me, timestamp) and the ``stopped_clients`` rows."""
    with sqlite3.connect(path) as con:
        con.executescript(OLD_SCHEMA)
        for client in stopped_clients:
            con.execute(
                "INSERT INTO clients (id, desired, created_at) VALUES (?, 'stopped', ?)",
                (client, "2026-01-01T00:00:00.000Z"),
            )
        for n, (client, from_me, ts) in enumerate(messages):
            con.execute(
                "INSERT INTO messages VALUES (?, ?, 'x@c.us', ?, NULL, NULL, 'hi', 'chat', ?, 0, ?)",
                (client, f"m{n}", from_me, ts, f"k{n}"),
            )
    con.close()
