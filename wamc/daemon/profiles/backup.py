"""The daemon's side of the profile store: restore before a start, snapshot after a clean stop.

Supervision calls ``before_start`` (no profile on disk → the newest good snapshot, else a fresh
start with the reason in the status) and ``after_stop`` (a clean stop of a linked client → a
snapshot). One lock per client orders them: a worker never starts while its profile is being
read, so a snapshot is never a copy of a database being written. ``snapshot_due`` tells the
recycler when a periodic snapshot (a short stop, snapshot, start) is due.

The file work runs where the profile lives, through the backend's ``ProfileSite``
(wamc/daemon/profiles/site.py): this host for the local backend; the agent of the client's node
for the Ray backend, whose spawn restores on the placed node and returns what happened
(``spawned`` shows it in the status exactly as a restore here)."""

from __future__ import annotations

import asyncio
import time
from typing import Any

from loguru import logger

from wamc.config import Settings
from wamc.daemon.profiles.site import HostSite, ProfileSite, finish, outcome_restore
from wamc.daemon.profiles.snapshots import Restore
from wamc.daemon.profiles.store import FolderStore, ProfileStore
from wamc.daemon.registry import Client, client_log

MB = 1024 * 1024
__all__ = ["ProfileBackup", "finish"]


class ProfileBackup:
    def __init__(
        self,
        settings: Settings,
        store: ProfileStore | None = None,
        site: ProfileSite | None = None,
    ) -> None:
        """``site``: where the backend's profiles live (default: this host)."""
        self.settings = settings
        self.site: ProfileSite = site if site is not None else HostSite(settings)
        self.store = store
        if store is None and settings.profile_store is not None:
            self.store = FolderStore(settings.profile_store)
        self.keep = max(1, settings.profile_keep)
        self.every = settings.profile_snapshot_minutes * 60
        self._locks: dict[str, asyncio.Lock] = {}
        self._taken: dict[str, float] = {}  # client id -> monotonic time of its last snapshot

    def hold(self, client_id: str) -> asyncio.Lock:
        """The client's profile lock: held by a stop until its snapshot is taken, and by a
        restore; a worker starts only after ``before_start`` got it."""
        return self._locks.setdefault(client_id, asyncio.Lock())

    def _status(self, client: Client) -> dict[str, Any]:
        if client.profile is None:
            client.profile = {"last_snapshot": None, "restored_from": None, "restore": None}
        return client.profile

    # --- what supervision calls --------------------------------------------------------------
    async def before_start(self, client: Client) -> None:
        """A client about to start without a profile on disk gets its newest good snapshot."""
        if self.store is None:
            return
        async with self.hold(client.id):
            try:
                result = await self.site.restore(self.store, client.id)
            except Exception as exc:  # the store unreachable: start fresh, say why
                self._failed(client, str(exc))
                return
            if result is not None:
                self._restored(client, result)

    def spawned(self, client: Client, outcome: dict[str, Any] | None) -> None:
        """What the backend's spawn restored on the worker's node (Ray), shown as above:
        ``{"failed": reason}``, a restore's fields, or None (a profile was on disk there)."""
        if self.store is None or outcome is None:
            return
        if "failed" in outcome:
            self._failed(client, str(outcome["failed"]))
        else:
            self._restored(client, outcome_restore(outcome))

    def _failed(self, client: Client, reason: str) -> None:
        client_log(client).error("profile restore failed: {}", reason)
        self._status(client).update(restored_from=None, restore="failed", skipped=[], reason=reason)
        client.last_error = f"profile restore failed: {reason}"

    def _restored(self, client: Client, result: Restore) -> None:
        log = client_log(client)
        status = self._status(client)
        status.update(restored_from=result.restored_from, skipped=result.skipped)
        if result.restored_from:
            status.update(restore="restored", reason=None, seconds=result.seconds)
            log.info(
                "profile restored from snapshot {} ({} files, {:.1f} MB, {:.1f}s)",
                result.restored_from,
                result.files,
                result.bytes / MB,
                result.seconds,
            )
        elif result.kept:
            why = result.skipped[0]["reason"] if result.skipped else "none"
            reason = (
                f"{len(result.skipped)} newer snapshot(s) refused (newest: {why}); "
                "the older profile on this host kept"
            )
            status.update(restore="kept", reason=reason)
            client.last_error = f"profile restore: {reason}"
            log.warning("profile restore: {}", reason)
        elif result.skipped:
            newest = result.skipped[0]
            reason = f"no good snapshot: {len(result.skipped)} refused, newest: {newest['reason']}"
            status.update(restore="fresh", reason=reason)
            client.last_error = f"profile restore: {reason}; starting fresh"
            log.warning("profile restore: {}; starting fresh (a QR)", reason)
        else:
            status.update(restore="fresh", reason="no snapshot")

    async def after_stop(
        self, client: Client, outcome: str, was_connected: bool, node: str | None = None
    ) -> None:
        """After a stop, ``hold`` held: a snapshot if the stop was clean (the browser closed
        itself) and the client was linked; taken on ``node``, where the profile lives."""
        if self.store is None or outcome != "clean" or not was_connected:
            return
        began = time.monotonic()
        try:
            manifest = await self.site.snapshot(self.store, client.id, node, self.keep)
        except Exception as exc:
            client_log(client).error("profile snapshot failed: {}", exc)
            self._status(client)["snapshot_error"] = str(exc)
            return
        seconds = round(time.monotonic() - began, 3)
        self._taken[client.id] = time.monotonic()
        self._status(client).update(
            last_snapshot={
                "id": manifest.id,
                "at": manifest.created,
                "size": manifest.size,
                "bytes": manifest.bytes,
                "files": manifest.files,
                "seconds": seconds,
            },
            snapshot_error=None,
        )
        client_log(client).info(
            "profile snapshot {} taken: {} files, {:.1f} MB -> {:.1f} MB, {:.1f}s",
            manifest.id,
            manifest.files,
            manifest.bytes / MB,
            manifest.size / MB,
            seconds,
        )

    def snapshot_due(self, client: Client) -> str | None:
        """A recycle reason when the periodic snapshot of this connected client is due."""
        if self.store is None or self.every <= 0 or client.inflight:
            return None
        since = max(self._taken.get(client.id, 0.0), client.started_mono or 0.0)
        if since and time.monotonic() - since >= self.every:
            return f"profile snapshot every {self.settings.profile_snapshot_minutes:g} min"
        return None

    async def forget(self, client_id: str) -> None:
        """The client is deleted or logged out: its snapshots must never come back."""
        if self.store is None:
            return
        async with self.hold(client_id):
            await finish(asyncio.to_thread(self.store.purge, client_id))
        self._taken.pop(client_id, None)
        logger.bind(client=client_id).info("profile snapshots deleted")
