"""Where a client's profile lives, so where the profile store's file work runs.

``ProfileBackup`` (wamc/daemon/profiles/backup.py) keeps the status, the locks and the timing;
a site does the file work. The local backend's site is this host (:class:`HostSite`: threads
here). The Ray backend's site is the agent of the client's node (``AgentSite``, wamc/daemon/ray_backend.py):
it restores inside the agent's spawn, on the placed node, and says what happened in the spawn's
result; it snapshots through the agent after a clean stop. Both run the same functions
(:func:`restore_missing`, :func:`snapshot_profile`) on the host that has the profile."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Coroutine
from dataclasses import asdict
from typing import Any, Protocol, TypeVar

from wamc.config import Settings
from wamc.daemon.profiles.snapshots import (
    Restore,
    needs_restore,
    replace_stale,
    restore_newest,
    stale_profile,
    take_snapshot,
)
from wamc.daemon.profiles.store import Manifest, ProfileStore
from wamc.privilege import private_dir

T = TypeVar("T")


class ProfileSite(Protocol):
    async def restore(self, store: ProfileStore, client_id: str) -> Restore | None:
        """The newest good snapshot restored where the worker will run; None when a profile
        is on disk there (or when the backend restores inside its spawn instead)."""
        ...

    async def snapshot(
        self, store: ProfileStore, client_id: str, node: str | None, keep: int
    ) -> Manifest:
        """The profile (its browser closed) stored, on the host it lives on (``node``)."""
        ...


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


def restore_missing(store: ProfileStore, settings: Settings, client_id: str) -> Restore | None:
    """Blocking: the newest good snapshot into this host's missing or stale profile (one a
    newer snapshot taken elsewhere supersedes), or None when the profile here is current. On a
    node the client never ran on, its folder (and ``sessions/``) are made first, private."""
    profile = settings.client_dir(client_id) / "profile"
    if not needs_restore(profile):
        lineage = stale_profile(store, client_id, profile)
        return None if lineage is None else replace_stale(store, client_id, profile, lineage)
    private_dir(settings.sessions_dir)
    private_dir(profile.parent)
    return restore_newest(store, client_id, profile)


def snapshot_profile(
    store: ProfileStore, settings: Settings, client_id: str, keep: int
) -> Manifest:
    """Blocking: this host's profile of the client, stored."""
    return take_snapshot(store, client_id, settings.client_dir(client_id) / "profile", keep)


def restore_outcome(result: Restore | None) -> dict[str, Any] | None:
    """A restore as plain values (what an agent's spawn returns; see ``outcome_restore``)."""
    return None if result is None else asdict(result)


def outcome_restore(outcome: dict[str, Any]) -> Restore:
    skipped = [
        {"id": str(s.get("id", "")), "reason": str(s.get("reason", ""))}
        for s in outcome.get("skipped") or []
    ]
    return Restore(
        restored_from=outcome.get("restored_from"),
        skipped=skipped,
        files=int(outcome.get("files") or 0),
        bytes=int(outcome.get("bytes") or 0),
        seconds=float(outcome.get("seconds") or 0.0),
        kept=bool(outcome.get("kept")),
    )


class HostSite:
    """This host: the local backend's profiles live here; the file work runs in threads."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings

    async def restore(self, store: ProfileStore, client_id: str) -> Restore | None:
        return await finish(asyncio.to_thread(restore_missing, store, self.settings, client_id))

    async def snapshot(
        self, store: ProfileStore, client_id: str, node: str | None, keep: int
    ) -> Manifest:
        del node  # always here
        return await finish(
            asyncio.to_thread(snapshot_profile, store, self.settings, client_id, keep)
        )
