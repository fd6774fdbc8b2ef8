"""Taking and restoring one client's profile snapshot: plain blocking functions over a
``ProfileStore``, run in a thread by the daemon (or by whatever runs the browser, on its host).

A snapshot is taken only while the browser is closed. A restore tries the newest snapshot first;
one whose checksum, manifest or members fail is skipped (with the reason) for the one before.

Profiles on several hosts: next to each profile, ``profile.snapshot`` names the snapshot it was
last saved as or restored from (its lineage). A client runs on one host at a time, so a newer
snapshot than that was taken elsewhere after it left: the profile here is stale and is replaced
(:func:`stale_profile`, :func:`replace_stale`)."""

from __future__ import annotations

import contextlib
import os
import secrets
import shutil
import stat
import time
from dataclasses import dataclass, field
from pathlib import Path

from loguru import logger

from wamc.daemon.profiles.archive import (
    FILE_MODE,
    FORMAT,
    Hashing,
    UnsafeArchive,
    pack,
    unpack,
)
from wamc.daemon.profiles.store import (
    MANIFEST_VERSION,
    SNAPSHOT_ID,
    BadSnapshot,
    Manifest,
    ProfileStore,
    new_snapshot_id,
)
from wamc.timeutil import utc_now_iso

RESTORING = "profile.restoring-"  # a restore in progress, next to the profile
STALE = "profile.stale-"  # a stale profile set aside while the newest snapshot replaces it
LINEAGE = "profile.snapshot"  # the snapshot the profile was last saved as or restored from


@dataclass
class Restore:
    restored_from: str | None = None
    skipped: list[dict[str, str]] = field(default_factory=list)  # {"id", "reason"}, newest first
    files: int = 0
    bytes: int = 0
    seconds: float = 0.0
    kept: bool = False  # a stale profile kept: no good snapshot newer than it (replace_stale)


def needs_restore(profile: Path) -> bool:
    """No profile on disk: the folder is missing or empty (a link counts as present)."""
    try:
        st = profile.lstat()
    except FileNotFoundError:
        return True
    if not stat.S_ISDIR(st.st_mode):
        return False
    with os.scandir(profile) as it:
        return next(it, None) is None


def take_snapshot(store: ProfileStore, client_id: str, profile: Path, keep: int) -> Manifest:
    """Pack ``profile`` (its browser closed) next to it, store it, keep the newest ``keep``."""
    snapshot_id = new_snapshot_id()
    staging = profile.with_name(f".snapshot-{snapshot_id}.tmp")
    fd = os.open(staging, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, FILE_MODE)
    try:
        with os.fdopen(fd, "wb") as out:
            packed = pack(profile, out)
        manifest = Manifest(
            version=MANIFEST_VERSION,
            client=client_id,
            id=snapshot_id,
            created=utc_now_iso(),
            format=FORMAT,
            sha256=packed.sha256,
            size=packed.size,
            files=packed.files,
            bytes=packed.bytes,
        )
        store.put(client_id, staging, manifest)
    finally:
        with contextlib.suppress(OSError):
            staging.unlink()
    write_lineage(profile, snapshot_id)
    store.prune(client_id, keep)
    return manifest


def restore_newest(
    store: ProfileStore, client_id: str, profile: Path, newer_than: str = ""
) -> Restore:
    """Restore the newest good snapshot (newer than ``newer_than``, if given) into the missing
    ``profile``; what happened."""
    began = time.monotonic()
    result = Restore()
    _sweep_restoring(profile)
    for snapshot_id in store.list(client_id):
        if snapshot_id <= newer_than:
            break  # ids sort in time order
        try:
            manifest = store.manifest(client_id, snapshot_id)
            result.files, result.bytes = _extract_verified(store, client_id, manifest, profile)
        except (BadSnapshot, UnsafeArchive) as exc:
            logger.bind(client=client_id).warning(
                "profile snapshot {} refused: {}", snapshot_id, exc
            )
            result.skipped.append({"id": snapshot_id, "reason": str(exc)})
            continue
        result.restored_from = snapshot_id
        write_lineage(profile, snapshot_id)
        break
    result.seconds = round(time.monotonic() - began, 3)
    return result


def _extract_verified(
    store: ProfileStore, client_id: str, manifest: Manifest, profile: Path
) -> tuple[int, int]:
    """Extract into a fresh folder beside ``profile``, check the checksum, rename into place."""
    tmp = profile.with_name(f"{RESTORING}{secrets.token_hex(4)}")
    try:
        with store.open_archive(client_id, manifest.id) as raw:
            reader = Hashing(raw)
            try:
                files, total = unpack(reader, tmp)
            except UnsafeArchive:
                with contextlib.suppress(OSError):
                    reader.drain()
                _check_sum(reader, manifest)  # a corrupt archive is named as one
                raise
        _check_sum(reader, manifest)
        if profile.is_dir() and not profile.is_symlink():
            profile.rmdir()  # empty (needs_restore): replaced whole
        os.rename(tmp, profile)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return files, total


def _check_sum(reader: Hashing, manifest: Manifest) -> None:
    if reader.size != manifest.size or reader.digest.hexdigest() != manifest.sha256:
        raise BadSnapshot(
            f"checksum mismatch (sha256 {reader.digest.hexdigest()[:12]}…, {reader.size} bytes; "
            f"the manifest says {manifest.sha256[:12]}…, {manifest.size} bytes)"
        )


def _sweep_restoring(profile: Path, prefix: str = RESTORING) -> None:
    """Folders of restores (or replacements) a crash interrupted."""
    with contextlib.suppress(OSError):
        for entry in os.scandir(profile.parent):
            if entry.name.startswith(prefix) and entry.is_dir(follow_symlinks=False):
                shutil.rmtree(entry.path, ignore_errors=True)


def write_lineage(profile: Path, snapshot_id: str) -> None:
    """Best effort: without it, a profile may later be replaced by its own snapshot (harmless)."""
    tmp = profile.with_name(f".{LINEAGE}-{secrets.token_hex(4)}")
    try:
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, FILE_MODE)
        with os.fdopen(fd, "w") as out:
            out.write(snapshot_id)
        os.replace(tmp, profile.with_name(LINEAGE))
    except OSError as exc:
        logger.warning("profile lineage not written ({}): {}", profile.parent.name, exc)
        with contextlib.suppress(OSError):
            tmp.unlink()


def read_lineage(profile: Path) -> str | None:
    try:
        with open(profile.with_name(LINEAGE), encoding="ascii", errors="replace") as fh:
            found = fh.read(100).strip()
    except OSError:
        return None
    return found if SNAPSHOT_ID.fullmatch(found) else None


def stale_profile(store: ProfileStore, client_id: str, profile: Path) -> str | None:
    """The profile's lineage when it is older than the store's newest snapshot (taken on another
    host after the client left this one), else None. Without a lineage (a profile older than the
    store) it is kept: the store may hold nothing newer."""
    lineage = read_lineage(profile)
    if lineage is None:
        return None
    newest = next(iter(store.list(client_id)), None)
    return lineage if newest is not None and newest > lineage else None


def replace_stale(store: ProfileStore, client_id: str, profile: Path, lineage: str) -> Restore:
    """The newest good snapshot newer than ``lineage`` in place of the stale profile, which is
    kept when none is good (an older snapshot is no better than the profile here)."""
    _sweep_restoring(profile, STALE)
    aside = profile.with_name(f"{STALE}{secrets.token_hex(4)}")
    os.rename(profile, aside)
    try:
        result = restore_newest(store, client_id, profile, newer_than=lineage)
    except BaseException:
        if not profile.exists():
            os.rename(aside, profile)
        raise
    if result.restored_from is None:
        os.rename(aside, profile)  # nothing better: the old one stays
        result.kept = True
    else:
        shutil.rmtree(aside, ignore_errors=True)
    return result
