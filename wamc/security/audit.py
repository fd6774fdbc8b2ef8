"""Audit log: who (key id, never the key), what, which client, result — for every call that
changes state and every refused call. JSON lines in ``logs/audit.log`` and rows in the ``audit``
table (``GET /api/audit``).

Calls without a valid key are aggregated: one row per address, minute and status with a
``count``, so a flood of bad keys cannot grow the table by a row per request. Rows older than
``WAMC_AUDIT_RETENTION_DAYS`` are pruned hourly."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from loguru import logger

from wamc.events.retention import prune_hourly
from wamc.storage import Database
from wamc.storage import audit as audit_rows
from wamc.timeutil import iso_days_ago, utc_now_iso

ROTATE_BYTES = 20 * 1024 * 1024
KEEP_FILES = 5


class AuditLog:
    def __init__(self, db: Database, path: Path) -> None:
        self.db = db
        self.path = path
        self._fh: Any = None
        self._failures: dict[tuple[str, str, int], int] = {}  # (minute, address, status) -> row

    def _rotate_if_big(self) -> None:
        """audit.log → audit.log.1 … .5 past ROTATE_BYTES (the table keeps everything)."""
        try:
            if self.path.stat().st_size < ROTATE_BYTES:
                return
        except FileNotFoundError:
            return
        if self._fh is not None:
            self._fh.close()
            self._fh = None
        for n in range(KEEP_FILES - 1, 0, -1):
            older = self.path.with_name(f"{self.path.name}.{n}")
            if older.exists():
                older.rename(self.path.with_name(f"{self.path.name}.{n + 1}"))
        self.path.rename(self.path.with_name(f"{self.path.name}.1"))

    def _file(self) -> Any:
        self._rotate_if_big()
        if self._fh is None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
            self._fh = os.fdopen(fd, "a", buffering=1, encoding="utf-8")
        return self._fh

    async def record(
        self,
        *,
        key_id: str | None,
        action: str,
        method: str,
        path: str,
        client: str | None,
        status: int,
        result: str,
        remote: str | None,
    ) -> dict[str, Any]:
        entry = {
            "timestamp": utc_now_iso(),
            "key_id": key_id,
            "action": action,
            "method": method,
            "path": path[:512],
            "client": client,
            "status": status,
            "result": result,
            "remote": remote,
        }
        try:
            self._file().write(json.dumps(entry, separators=(",", ":")) + "\n")
        except OSError as exc:
            logger.warning("cannot write the audit log: {}", exc)
        entry["n"] = await audit_rows.add(self.db, entry)
        return entry

    async def record_failure(
        self, *, action: str, method: str, path: str, status: int, result: str, remote: str
    ) -> None:
        """A call without a valid key: counted into its (address, minute, status) row."""
        minute = utc_now_iso()[:16]
        key = (minute, remote, status)
        for old in [k for k in self._failures if k[0] != minute]:
            del self._failures[old]
        n = self._failures.get(key)
        if n is not None and await audit_rows.bump_count(self.db, n):
            return
        entry = await self.record(
            key_id=None,
            action=action,
            method=method,
            path=path,
            client=None,
            status=status,
            result=result,
            remote=remote,
        )
        self._failures[key] = entry["n"]

    async def prune(self, days: float, now: float | None = None) -> int:
        """Delete rows older than ``days``; 0 keeps everything."""
        if days <= 0:
            return 0
        return await self.prune_before(iso_days_ago(days, now))

    async def prune_before(self, cutoff: str) -> int:
        return await audit_rows.prune_before(self.db, cutoff)

    async def retention_loop(self, days: float) -> None:
        await prune_hourly("audit", days, self.prune_before)

    async def query(
        self,
        client: str | None,
        key_id: str | None,
        limit: int,
        before: int | None,
    ) -> list[dict[str, Any]]:
        return await audit_rows.query(self.db, client, key_id, limit, before)

    def close(self) -> None:
        if self._fh is not None:
            self._fh.close()
            self._fh = None
