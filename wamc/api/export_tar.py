"""The tar form of an export (``?media=1``): ``messages.jsonl``, ``media/<sha256>`` for every
media file already cached, and ``missing.jsonl`` listing the media messages whose file is not.

Written with ``tarfile`` in stream mode (``w|``) straight to the response as it goes: the
messages (whose size a tar header needs first) are spooled to a temporary file, page by page;
the tar is then written by a thread whose every write waits for the response (so a slow reader
holds back the writer and nothing piles up in memory).
"""

from __future__ import annotations

import asyncio
import contextlib
import io
import json
import os
import re
import stat
import tarfile
import tempfile
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

SHA256 = re.compile(r"^[0-9a-f]{64}$")
WRITE_TIMEOUT = 300.0  # a reader that takes longer for one chunk is gone
CHUNK = 64 * 1024

# A message (history shape) → its cached file and that file's SHA-256, or None.
MediaLookup = Callable[[dict[str, Any]], Awaitable[tuple[Path, str] | None]]
Write = Callable[[bytes], Coroutine[Any, Any, None]]


@dataclass
class Spool:
    """What the tar will hold, gathered from the store before the first byte is written."""

    messages: IO[bytes] = field(default_factory=lambda: _temporary())
    missing: IO[bytes] = field(default_factory=lambda: _temporary())
    media: dict[str, Path] = field(default_factory=dict)  # sha256 → cached file
    count: int = 0

    def close(self) -> None:
        self.messages.close()
        self.missing.close()


def _temporary() -> IO[bytes]:
    return tempfile.TemporaryFile()  # noqa: SIM115 - closed by Spool.close


def _line(value: dict[str, Any]) -> bytes:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":")).encode() + b"\n"


def missing_entry(message: dict[str, Any]) -> dict[str, Any]:
    return {
        "id": message["id"],
        "chat_id": message.get("chat_id"),
        "timestamp": message.get("timestamp"),
        "media": message.get("media"),
        "media_url": message.get("media_url"),
    }


async def gather(
    pages: AsyncIterator[tuple[bytes, list[dict[str, Any]]]], lookup: MediaLookup
) -> Spool:
    """Spool the messages; sort each media message into the cached files or the manifest."""
    spool = Spool()
    try:
        async for chunk, page in pages:
            spool.messages.write(chunk)
            spool.count += len(page)
            for message in page:
                if message.get("media"):
                    await _sort_media(spool, message, lookup)
    except BaseException:
        spool.close()
        raise
    return spool


async def _sort_media(spool: Spool, message: dict[str, Any], lookup: MediaLookup) -> None:
    found = await lookup(message)
    if found is not None and SHA256.match(found[1]):
        spool.media.setdefault(found[1], found[0])
    else:
        spool.missing.write(_line(missing_entry(message)))


class _ResponseSink(io.RawIOBase):
    """A file for ``tarfile`` in a thread: each write is carried out on the event loop and
    waited for (backpressure); a reader gone ends the tar with its error."""

    def __init__(self, loop: asyncio.AbstractEventLoop, write: Write) -> None:
        super().__init__()
        self.loop = loop
        self.send = write

    def writable(self) -> bool:
        return True

    def write(self, data: Any) -> int:
        chunk = bytes(data)
        if chunk:
            future = asyncio.run_coroutine_threadsafe(self.send(chunk), self.loop)
            future.result(WRITE_TIMEOUT)
        return len(chunk)


def _member(name: str, size: int, mtime: float) -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.size = size
    info.mtime = int(mtime)
    info.mode = 0o600
    return info


def write_tar(sink: IO[bytes], spool: Spool) -> None:
    """The tar itself (runs in a thread). A cached file that went since it was found is listed
    in ``missing.jsonl`` instead."""
    now = time.time()
    with tarfile.open(fileobj=sink, mode="w|", bufsize=CHUNK) as tar:
        spool.messages.seek(0, os.SEEK_END)
        size = spool.messages.tell()
        spool.messages.seek(0)
        tar.addfile(_member("messages.jsonl", size, now), spool.messages)
        for sha, path in spool.media.items():
            if not _add_file(tar, f"media/{sha}", path):
                spool.missing.write(_line({"sha256": sha, "reason": "evicted during export"}))
        size = spool.missing.tell()
        spool.missing.seek(0)
        tar.addfile(_member("missing.jsonl", size, now), spool.missing)


def _add_file(tar: tarfile.TarFile, name: str, path: Path) -> bool:
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | getattr(os, "O_CLOEXEC", 0))
    except OSError:
        return False
    with os.fdopen(fd, "rb") as fh:
        st = os.fstat(fh.fileno())
        if not stat.S_ISREG(st.st_mode):
            return False
        tar.addfile(_member(name, st.st_size, st.st_mtime), fh)
    return True


async def stream(
    write: Write,
    pages: AsyncIterator[tuple[bytes, list[dict[str, Any]]]],
    lookup: MediaLookup,
) -> int:
    """Gather, then write the tar through ``write``; how many messages it holds."""
    spool = await gather(pages, lookup)
    try:
        sink = _ResponseSink(asyncio.get_running_loop(), write)
        await asyncio.to_thread(write_tar, sink, spool)  # type: ignore[arg-type]  # a RawIOBase is a binary file
        return spool.count
    finally:
        with contextlib.suppress(OSError):
            spool.close()
