"""The daemon's side of the profile store: restore before a start, snapshot after a clean stop.

Supervision calls ``before_start`` (no profile on disk → the newest good snapshot, else a fresh
start with the reason in the status) and ``after_stop`` (a clean stop of a linked client → a
snapshot). One lock per client orders them: a worker never starts while its profile is being
read, so a snapshot is never a copy of a database being written. ``snapshot_due`` tells the
recycler when a periodic snapshot (a short stop, snapshot, start) is due.

The file work runs where the profile lives: ``snapshot_here`` / ``restore_here`` do it on this
host (the local backend); a backend running browsers on other hosts overrides them to run the
same functions (wamc/daemon/profiles/snapshots.py) there."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Coroutine
from typing import Any, TypeVar

from loguru import logger

from wamc.config import Settings
from wamc.daemon.profiles.snapshots import Restore, needs_restore, restore_newest, take_snapshot
from wamc.daemon.profiles.store import FolderStore, Manifest, ProfileStore
from wamc.daemon.registry import Client, client_log

MB = 1024 * 1024
T = TypeVar("T")


async def finish(work: Coroutine[Any, Any, T]) -> T:
    """Await ``work`` (a thread's file work); if cancelled, let it end before going on: a lock
    released while a thread still reads or writes a profile would let a browser start on it."""
    task = asyncio.ensure_future(work)
    try:
        return await asyncio.shield(task)
    except asyncio.CancelledError:
        with contextlib.suppress(Exception):
            await task
        raise


class ProfileBackup:
    def __init__(self, settings: Settings, store: ProfileStore | None = None) -> None:
        self.settings = settings
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

    # --- the file work, where the profile lives ----------------------------------------------
    async def snapshot_here(self, store: ProfileStore, client_id: str) -> Manifest:
        profile = self.settings.client_dir(client_id) / "profile"
        return await finish(asyncio.to_thread(take_snapshot, store, client_id, profile, self.keep))

    async def restore_here(self, store: ProfileStore, client_id: str) -> Restore | None:
        """The newest good snapshot restored, or None when a profile is on disk."""
        profile = self.settings.client_dir(client_id) / "profile"
        if not await asyncio.to_thread(needs_restore, profile):
            return None
        return await finish(asyncio.to_thread(restore_newest, store, client_id, profile))

    # --- what supervision calls --------------------------------------------------------------
    async def before_start(self, client: Client) -> None:
        """A client about to start without a profile on disk gets its newest good snapshot."""
        if self.store is None:
            return
        async with self.hold(client.id):
            try:
                result = await self.restore_here(self.store, client.id)
            except Exception as exc:  # the store unreachable: start fresh, say why
                client_log(client).error("profile restore failed: {}", exc)
                self._status(client).update(
                    restored_from=None, restore="failed", skipped=[], reason=str(exc)
                )
                client.last_error = f"profile restore failed: {exc}"
                return
            if result is not None:
                self._restored(client, result)

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
        elif result.skipped:
            newest = result.skipped[0]
            reason = f"no good snapshot: {len(result.skipped)} refused, newest: {newest['reason']}"
            status.update(restore="fresh", reason=reason)
            client.last_error = f"profile restore: {reason}; starting fresh"
            log.warning("profile restore: {}; starting fresh (a QR)", reason)
        else:
            status.update(restore="fresh", reason="no snapshot")

    async def after_stop(self, client: Client, outcome: str, was_connected: bool) -> None:
        """After a stop, ``hold`` held: a snapshot if the stop was clean (the browser closed
        itself) and the client was linked."""
        if self.store is None or outcome != "clean" or not was_connected:
            return
        began = time.monotonic()
        try:
            manifest = await self.snapshot_here(self.store, client.id)
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
