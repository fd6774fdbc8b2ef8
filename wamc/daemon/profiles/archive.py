"""A browser profile as a compressed tar, and back. Pure file work, no daemon state.

Packing walks the profile without following a symlink (Chromium's ``Singleton*`` links are
skipped with every other non-regular file) and leaves caches and crash dumps out. Unpacking
treats the archive as hostile: only plain files and folders, no absolute path, no ``..``, no
link, no device; sizes bounded; written into a fresh private folder, files 0600, folders 0700.
The SHA-256 of the compressed bytes is computed while they stream, both ways."""

from __future__ import annotations

import gzip
import hashlib
import os
import stat
import tarfile
import zlib
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import BinaryIO

FORMAT = "tar.gz"
COMPRESS_LEVEL = 6
FILE_MODE = 0o600
DIR_MODE = 0o700
CHUNK = 1 << 20
# Bounds on what a restore may write (a hostile or broken snapshot must not fill the disk).
MAX_RESTORE_BYTES = 16 * 1024**3
MAX_RESTORE_MEMBERS = 500_000

# Left out at any depth: rebuilt by Chromium, large, and worthless in a backup.
EXCLUDED_NAMES = frozenset(
    {
        "Cache",
        "Code Cache",
        "GPUCache",
        "GrShaderCache",
        "ShaderCache",
        "GraphiteDawnCache",
        "DawnCache",
        "DawnGraphiteCache",
        "DawnWebGPUCache",
        "component_crx_cache",
        "Crashpad",
        "Crash Reports",
        "BrowserMetrics",
        "blob_storage",
    }
)
# Left out by their last two path parts.
EXCLUDED_PAIRS = frozenset({("Service Worker", "CacheStorage"), ("Service Worker", "ScriptCache")})


class UnsafeArchive(ValueError):
    """The archive cannot be restored: broken, or trying to write where it must not."""


@dataclass(frozen=True)
class PackResult:
    sha256: str  # of the compressed archive
    size: int  # compressed bytes
    files: int
    bytes: int  # uncompressed file bytes


def excluded(rel: PurePosixPath) -> bool:
    if rel.name in EXCLUDED_NAMES or rel.name.startswith("BrowserMetrics"):
        return True
    return len(rel.parts) >= 2 and (rel.parts[-2], rel.parts[-1]) in EXCLUDED_PAIRS


class Hashing:
    """A file object hashing and counting the bytes written to or read from ``raw``: the
    SHA-256 of the compressed stream, in the same pass as the tar reads or writes it."""

    def __init__(self, raw: BinaryIO) -> None:
        self.raw = raw
        self.digest = hashlib.sha256()
        self.size = 0

    def write(self, data: bytes, /) -> int:
        self.digest.update(data)
        self.size += len(data)
        return self.raw.write(data)

    def read(self, n: int = -1, /) -> bytes:
        data = self.raw.read(n)
        self.digest.update(data)
        self.size += len(data)
        return data

    def drain(self) -> None:
        """Read (and hash) to the end: a tar reader stops before the trailing padding."""
        while self.read(CHUNK):
            pass

    def tell(self) -> int:
        return self.size

    def seek(self, pos: int, /) -> int:
        raise OSError("a hashed stream cannot seek")

    def close(self) -> None:
        """``raw`` is its opener's to close."""


def _entries(root: Path) -> list[tuple[PurePosixPath, os.stat_result]]:
    """Files and folders under ``root``, never through a symlink, exclusions pruned."""
    found: list[tuple[PurePosixPath, os.stat_result]] = []
    pending = [PurePosixPath()]
    while pending:
        rel = pending.pop()
        with os.scandir(root / rel) as it:
            for entry in sorted(it, key=lambda e: e.name):
                child = rel / entry.name
                if excluded(child):
                    continue
                st = entry.stat(follow_symlinks=False)
                if stat.S_ISDIR(st.st_mode):
                    found.append((child, st))
                    pending.append(child)
                elif stat.S_ISREG(st.st_mode):
                    found.append((child, st))
    return found


def pack(profile: Path, out: BinaryIO) -> PackResult:
    """Write ``profile`` as a gzipped tar to ``out``. The browser must be closed."""
    if not stat.S_ISDIR(profile.lstat().st_mode):
        raise NotADirectoryError(f"{profile} is not a folder")
    sink = Hashing(out)
    files = total = 0
    with (
        gzip.GzipFile(fileobj=sink, mode="wb", compresslevel=COMPRESS_LEVEL, mtime=0) as gz,
        tarfile.open(fileobj=gz, mode="w|", format=tarfile.PAX_FORMAT) as tar,
    ):
        for rel, st in _entries(profile):
            info = tarfile.TarInfo(str(rel))
            info.mtime = int(st.st_mtime)
            if stat.S_ISDIR(st.st_mode):
                info.type, info.mode = tarfile.DIRTYPE, DIR_MODE
                tar.addfile(info)
                continue
            try:
                fd = os.open(profile / rel, os.O_RDONLY | os.O_NOFOLLOW)
            except FileNotFoundError:
                continue  # gone since the walk
            with os.fdopen(fd, "rb") as fh:
                info.size, info.mode = os.fstat(fd).st_size, FILE_MODE
                tar.addfile(info, fh)
            files += 1
            total += info.size
    return PackResult(sink.digest.hexdigest(), sink.size, files, total)


def safe_member_path(name: str) -> PurePosixPath:
    """The member's relative path, or ``UnsafeArchive`` (absolute, ``..``, NUL)."""
    path = PurePosixPath(name)
    if "\x00" in name or path.is_absolute() or name.startswith("/"):
        raise UnsafeArchive(f"member with an absolute path: {name!r}")
    if ".." in path.parts:
        raise UnsafeArchive(f"member leaving the profile: {name!r}")
    return PurePosixPath(*(p for p in path.parts if p != "."))  # "." itself: the root


def unpack(source: Hashing, dest: Path) -> tuple[int, int]:
    """Extract a gzipped tar from ``source`` into the new folder ``dest``: (files, bytes).

    ``dest`` must not exist: it is created 0700 and holds only what this function wrote, so no
    path inside it can be a link planted by the archive."""
    dest.mkdir(mode=DIR_MODE)
    os.chmod(dest, DIR_MODE)
    files = total = members = 0
    try:
        with tarfile.open(fileobj=source, mode="r|gz") as tar:
            for member in tar:
                members += 1
                if members > MAX_RESTORE_MEMBERS:
                    raise UnsafeArchive(f"more than {MAX_RESTORE_MEMBERS} members")
                rel = safe_member_path(member.name)
                target = dest / rel
                if member.isdir():
                    _mkdirs(dest, rel)
                    continue
                if not rel.parts or not member.isreg():
                    raise UnsafeArchive(f"member is not a plain file or folder: {member.name!r}")
                total += member.size
                if total > MAX_RESTORE_BYTES:
                    raise UnsafeArchive(f"more than {MAX_RESTORE_BYTES} bytes")
                _mkdirs(dest, rel.parent)
                _write(tar, member, target)
                files += 1
        source.drain()
    except (tarfile.TarError, EOFError, OSError, zlib.error) as exc:
        raise UnsafeArchive(f"unreadable archive: {exc}") from exc
    return files, total


def _mkdirs(root: Path, rel: PurePosixPath) -> None:
    here = root
    for part in rel.parts:
        here = here / part
        try:
            here.mkdir(mode=DIR_MODE)
        except FileExistsError:
            if not stat.S_ISDIR(here.lstat().st_mode):
                raise UnsafeArchive(f"a file and a folder share the name {str(rel)!r}") from None


def _write(tar: tarfile.TarFile, member: tarfile.TarInfo, target: Path) -> None:
    src = tar.extractfile(member)
    if src is None:
        raise UnsafeArchive(f"member without data: {member.name!r}")
    try:
        fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, FILE_MODE)
    except FileExistsError:
        raise UnsafeArchive(f"member twice in the archive: {member.name!r}") from None
    with os.fdopen(fd, "wb") as out, src:
        while chunk := src.read(CHUNK):
            out.write(chunk)
