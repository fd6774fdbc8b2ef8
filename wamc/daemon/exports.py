"""Scheduled exports (issue 11): every ``WAMC_EXPORT_EVERY_HOURS`` each client's stored messages
are written as JSON Lines to ``sessions/<id>/exports/<UTC time>.jsonl`` (a temporary name first,
renamed once complete), and exports older than ``WAMC_EXPORT_KEEP_DAYS`` are deleted.

They live in the client's folder, so deleting the client deletes them (wamc/daemon/control.py);
an export running meanwhile never brings the folder back: it is only created while the client
exists, and a finished file is kept only if the client still does.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import time
from datetime import UTC, datetime
from pathlib import Path

from loguru import logger

from wamc.daemon.registry import Registry
from wamc.privilege import private_dir
from wamc.storage import export as export_rows

SUFFIX = ".jsonl"
TMP_PREFIX = ".tmp-"


def export_name(now: float) -> str:
    """A file name that sorts by time: ``20261130T152301Z.jsonl`` (UTC)."""
    return datetime.fromtimestamp(now, UTC).strftime("%Y%m%dT%H%M%SZ") + SUFFIX


class ExportSchedule:
    def __init__(self, registry: Registry) -> None:
        self.registry = registry
        self.settings = registry.settings
        self.store = registry.store

    def folder(self, client_id: str) -> Path:
        return self.settings.client_dir(client_id) / "exports"

    async def run(self) -> None:
        """Every interval (first after one interval), each client; off when the interval is 0."""
        hours = self.settings.export_every_hours
        if hours <= 0:
            return
        while True:
            await asyncio.sleep(hours * 3600)
            for client_id in list(self.registry.clients):
                try:
                    await self.export_one(client_id)
                    self.prune(client_id)
                except Exception:
                    logger.bind(client=client_id).exception("scheduled export failed")

    async def export_one(self, client_id: str, now: float | None = None) -> Path | None:
        """Write one export of the client; its path (None: the client has no folder, or was
        deleted meanwhile)."""
        now = time.time() if now is None else now
        base = self.settings.client_dir(client_id)
        if client_id not in self.registry.clients or not base.is_dir():
            return None
        folder = self.folder(client_id)
        private_dir(folder)
        final = folder / export_name(now)
        tmp = folder / f"{TMP_PREFIX}{final.name}"
        written = 0
        with open(tmp, "wb") as fh:  # noqa: ASYNC230 - small blocking writes, one page each
            async for chunk, page in export_rows.lines(self.store, client_id):
                fh.write(chunk)
                written += len(page)
        if client_id not in self.registry.clients:  # deleted while we wrote
            with contextlib.suppress(OSError):
                tmp.unlink()
            return None
        try:
            os.replace(tmp, final)
        except FileNotFoundError:  # the folder went with the client
            return None
        logger.bind(client=client_id).info("export written: {} ({} messages)", final.name, written)
        return final

    def prune(self, client_id: str, now: float | None = None) -> int:
        """Delete the client's exports older than WAMC_EXPORT_KEEP_DAYS (and temporary files
        a crash left); how many went."""
        keep = self.settings.export_keep_days
        now = time.time() if now is None else now
        went = 0
        with contextlib.suppress(FileNotFoundError), os.scandir(self.folder(client_id)) as it:
            for entry in it:
                with contextlib.suppress(OSError):
                    age = now - entry.stat(follow_symlinks=False).st_mtime
                    stale_tmp = entry.name.startswith(TMP_PREFIX) and age > 3600
                    old = entry.name.endswith(SUFFIX) and keep > 0 and age > keep * 86400
                    if entry.is_file(follow_symlinks=False) and (stale_tmp or old):
                        os.unlink(entry.path)
                        went += 1
        return went
