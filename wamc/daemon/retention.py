"""Retention per client (issue 11): messages, cached media files and logged events older than
the client's retention go, in one background pass every ``WAMC_RETENTION_INTERVAL`` seconds.

Each client's values are its own settings (``PATCH /api/clients/{id}/settings``, stored in
``client_settings``) over the global defaults; the effective ones are in its status. Deleting
messages never breaks backfill: the per-chat high-water marks stay (wamc/storage/retention.py).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import time
from pathlib import Path

from loguru import logger

from wamc.daemon.registry import Client, Registry, client_log
from wamc.storage import client_settings as settings_rows
from wamc.storage import retention as retention_rows
from wamc.storage.client_settings import ClientSettings, effective_retention
from wamc.timeutil import iso_days_ago

DAY = 86400.0


class RetentionService:
    """Applies each client's retention; holds the effective values on the client records."""

    def __init__(self, registry: Registry) -> None:
        self.registry = registry
        self.settings = registry.settings
        self.store = registry.store
        self.wake = asyncio.Event()

    async def load(self) -> None:
        """Every loaded client's effective retention (its own settings over the defaults)."""
        own = await settings_rows.all_settings(self.store)
        for client in self.registry.clients.values():
            client.retention = effective_retention(
                self.settings, own.get(client.id) or ClientSettings()
            )

    async def get(self, client: Client) -> ClientSettings:
        return await settings_rows.get(self.store, client.id)

    async def change(self, client: Client, change: ClientSettings) -> ClientSettings:
        """Store the fields ``change`` names; the new values apply at once (a pass runs now)."""
        merged = await settings_rows.patch(self.store, client.id, change)
        client.retention = effective_retention(self.settings, merged)
        client_log(client).info("settings changed: {}", sorted(change.model_fields_set))
        self.wake.set()
        return merged

    async def run(self) -> None:
        """A pass now, then every interval (or at once after a change); failures are logged
        and tried again the next time."""
        interval = max(0.05, self.settings.retention_interval)
        while True:
            self.wake.clear()
            try:
                await self.apply_once()
            except Exception:
                logger.exception("retention pass failed")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.wake.wait(), interval)

    async def apply_once(self, now: float | None = None) -> dict[str, int]:
        """One pass over every client (and the daemon's own events); what went, by kind."""
        now = time.time() if now is None else now
        went = {"messages": 0, "media": 0, "events": 0}
        for client in list(self.registry.clients.values()):
            if client.id not in self.registry.clients:
                continue  # deleted meanwhile
            for kind, n in (await self._client_pass(client, now)).items():
                went[kind] += n
        daemon_days = self.settings.event_retention_days
        if daemon_days > 0:
            cutoff = iso_days_ago(daemon_days, now)
            went["events"] += await retention_rows.prune_events(self.store, "", cutoff)
        return went

    async def _client_pass(self, client: Client, now: float) -> dict[str, int]:
        keep = client.retention or effective_retention(self.settings, ClientSettings())
        went = {"messages": 0, "media": 0, "events": 0}
        if keep.message_days > 0:
            before = int(now - keep.message_days * DAY)
            went["messages"] = await retention_rows.prune_messages(self.store, client.id, before)
        if keep.media_days > 0:
            folder = self.media_cache_dir(client.id)
            cutoff = now - keep.media_days * DAY
            went["media"] = await asyncio.to_thread(prune_files, folder, cutoff)
        if keep.event_days > 0:
            cutoff_iso = iso_days_ago(keep.event_days, now)
            went["events"] = await retention_rows.prune_events(self.store, client.id, cutoff_iso)
        if any(went.values()):
            client_log(client).info(
                "retention: {messages} messages, {media} media files, {events} events deleted",
                **went,
            )
        return went

    def media_cache_dir(self, client_id: str) -> Path:
        """Where the media cache keeps its files (wamc/daemon/media.py ``cache_dir``)."""
        return self.settings.client_dir(client_id) / "media" / "cache"


def prune_files(folder: Path, before: float) -> int:
    """Delete the regular files of ``folder`` last written before ``before`` (unix time); the
    cache's index forgets a file it no longer finds (it is fetched again on demand)."""
    went = 0
    with contextlib.suppress(FileNotFoundError), os.scandir(folder) as entries:
        for entry in entries:
            with contextlib.suppress(OSError):
                st = entry.stat(follow_symlinks=False)
                if entry.is_file(follow_symlinks=False) and st.st_mtime < before:
                    os.unlink(entry.path)
                    went += 1
    return went
