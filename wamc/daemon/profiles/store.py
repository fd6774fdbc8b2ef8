"""Where profile snapshots are kept: the ``ProfileStore`` interface and a folder implementation.

A snapshot is an archive plus a manifest naming it with its SHA-256; the manifest is written
last, so a snapshot without one (an interrupted write) is not a snapshot. Every write goes to a
temporary name first and is renamed into place. The folder may be a shared mount (NFS) seen by
several hosts; an S3-compatible store can implement the same interface."""

from __future__ import annotations

import contextlib
import io
import os
import re
import secrets
import shutil
import time
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO, Protocol

import msgspec

from wamc.daemon.profiles.archive import CHUNK, DIR_MODE, FILE_MODE, FORMAT
from wamc.validation import is_client_id

MANIFEST_VERSION = 1
MAX_MANIFEST_BYTES = 64 * 1024
STALE_TEMP_SECONDS = 3600.0  # a temporary file this old is an interrupted write: removed
# <UTC time to the microsecond>Z-<random>: names sort in time order.
SNAPSHOT_ID = re.compile(r"\d{8}T\d{12}Z-[0-9a-f]{6}")


class BadSnapshot(Exception):
    """A snapshot that cannot be used; the message says why (shown in the client's status)."""


class Manifest(msgspec.Struct, frozen=True, forbid_unknown_fields=False):
    version: int
    client: str
    id: str
    created: str  # ISO 8601 UTC
    format: str
    sha256: str  # of the archive as stored
    size: int  # archive bytes
    files: int
    bytes: int  # uncompressed file bytes


def new_snapshot_id(now: float | None = None) -> str:
    now = time.time() if now is None else now
    stamp = time.strftime("%Y%m%dT%H%M%S", time.gmtime(now))
    return f"{stamp}{int(now % 1 * 1_000_000):06d}Z-{secrets.token_hex(3)}"


class ProfileStore(Protocol):
    def put(self, client_id: str, archive: Path, manifest: Manifest) -> None:
        """Store ``archive`` then, last, its manifest (a reader never sees half a snapshot)."""
        ...

    def list(self, client_id: str) -> list[str]:
        """Snapshot ids that have a manifest, newest first (not verified)."""
        ...

    def manifest(self, client_id: str, snapshot_id: str) -> Manifest:
        """The parsed manifest, or ``BadSnapshot``."""
        ...

    def open_archive(
        self, client_id: str, snapshot_id: str
    ) -> contextlib.AbstractContextManager[BinaryIO]:
        """The archive's bytes, or ``BadSnapshot``."""
        ...

    def prune(self, client_id: str, keep: int) -> int:
        """Keep the newest ``keep`` snapshots; the number removed."""
        ...

    def purge(self, client_id: str) -> None:
        """Every snapshot of the client (deleted or logged out: never to be restored)."""
        ...


class FolderStore:
    """``<root>/<client>/<id>.tar.gz`` and ``<id>.json``; folders 0700, files 0600."""

    def __init__(self, root: Path) -> None:
        self.root = root
        root.mkdir(mode=DIR_MODE, parents=True, exist_ok=True)
        if not os.access(root, os.W_OK | os.X_OK):
            raise PermissionError(f"cannot write to {root}")

    def _dir(self, client_id: str, create: bool = False) -> Path:
        if not is_client_id(client_id):
            raise BadSnapshot(f"invalid client id {client_id!r}")
        path = self.root / client_id
        if create:
            path.mkdir(mode=DIR_MODE, exist_ok=True)
        return path

    def put(self, client_id: str, archive: Path, manifest: Manifest) -> None:
        folder = self._dir(client_id, create=True)
        name = manifest.id
        if not SNAPSHOT_ID.fullmatch(name):
            raise BadSnapshot(f"invalid snapshot id {name!r}")
        with open(archive, "rb") as src:
            self._write_atomic(folder, f"{name}.{FORMAT}", src)
        body = msgspec.json.encode(manifest)
        self._write_atomic(folder, f"{name}.json", io.BytesIO(body))

    def _write_atomic(self, folder: Path, name: str, src: BinaryIO) -> None:
        tmp = folder / f".tmp-{secrets.token_hex(6)}-{name}"
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, FILE_MODE)
        try:
            with os.fdopen(fd, "wb") as out:
                while chunk := src.read(CHUNK):
                    out.write(chunk)
                out.flush()
                os.fsync(out.fileno())
            os.replace(tmp, folder / name)
        except BaseException:
            with contextlib.suppress(OSError):
                tmp.unlink()
            raise
        with contextlib.suppress(OSError):  # the rename itself is durable too
            dfd = os.open(folder, os.O_RDONLY | os.O_DIRECTORY)
            try:
                os.fsync(dfd)
            finally:
                os.close(dfd)

    def list(self, client_id: str) -> list[str]:
        folder = self._dir(client_id)
        try:
            names = os.listdir(folder)
        except FileNotFoundError:
            return []
        ids = [n[: -len(".json")] for n in names if n.endswith(".json")]
        return sorted((i for i in ids if SNAPSHOT_ID.fullmatch(i)), reverse=True)

    def manifest(self, client_id: str, snapshot_id: str) -> Manifest:
        path = self._dir(client_id) / f"{snapshot_id}.json"
        try:
            with open(path, "rb") as fh:
                raw = fh.read(MAX_MANIFEST_BYTES + 1)
        except OSError as exc:
            raise BadSnapshot(f"manifest unreadable: {exc.strerror}") from None
        if len(raw) > MAX_MANIFEST_BYTES:
            raise BadSnapshot("manifest too large")
        try:
            found = msgspec.json.decode(raw, type=Manifest)
        except msgspec.DecodeError as exc:
            raise BadSnapshot(f"manifest invalid: {exc}") from None
        if (found.client, found.id, found.format) != (client_id, snapshot_id, FORMAT):
            raise BadSnapshot("manifest names another snapshot")
        if found.version != MANIFEST_VERSION:
            raise BadSnapshot(f"manifest version {found.version} unknown")
        return found

    @contextlib.contextmanager
    def open_archive(self, client_id: str, snapshot_id: str) -> Iterator[BinaryIO]:
        path = self._dir(client_id) / f"{snapshot_id}.{FORMAT}"
        try:
            fh = open(path, "rb")  # noqa: SIM115 - closed below
        except OSError as exc:
            raise BadSnapshot(f"archive unreadable: {exc.strerror}") from None
        with fh:
            yield fh

    def prune(self, client_id: str, keep: int) -> int:
        folder = self._dir(client_id)
        removed = 0
        for snapshot_id in self.list(client_id)[max(keep, 1) :]:
            self._remove(folder, snapshot_id)
            removed += 1
        self._sweep(folder)
        return removed

    def _remove(self, folder: Path, snapshot_id: str) -> None:
        # The manifest first: the snapshot stops being one before its archive goes.
        for name in (f"{snapshot_id}.json", f"{snapshot_id}.{FORMAT}"):
            with contextlib.suppress(FileNotFoundError):
                (folder / name).unlink()

    def _sweep(self, folder: Path) -> None:
        """Interrupted writes: old temporary files and archives without a manifest."""
        try:
            entries = list(os.scandir(folder))
        except FileNotFoundError:
            return
        live = {e.name[: -len(".json")] for e in entries if e.name.endswith(".json")}
        cutoff = time.time() - STALE_TEMP_SECONDS
        for entry in entries:
            orphan = entry.name.endswith(f".{FORMAT}") and (
                entry.name[: -len(FORMAT) - 1] not in live
            )
            if (entry.name.startswith(".tmp-") or orphan) and _mtime(entry) < cutoff:
                with contextlib.suppress(OSError):
                    os.unlink(entry.path)

    def purge(self, client_id: str) -> None:
        shutil.rmtree(self._dir(client_id), ignore_errors=True)


def _mtime(entry: os.DirEntry[str]) -> float:
    try:
        return entry.stat(follow_symlinks=False).st_mtime
    except OSError:
        return time.time()
