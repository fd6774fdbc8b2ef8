"""Media files of a client (issue 11): uploads on their way to the worker, and the download
cache (fetched through the worker on first request, kept under the client's folder, least
recently used out beyond ``WAMC_MEDIA_CACHE_MB``).

The bytes cross between the daemon and a worker on the ZeroMQ link, in chunk frames (the rules
in wamc/wire/transfer.py, the daemon's end in wamc/daemon/transfers.py): the daemon and the
worker share no folder (with the Ray backend the worker runs on another host). An upload is
streamed to a private file of the daemon (the request body, as it arrives), then from there to
the worker, which keeps its own copy while the page fetches it; a download is streamed by the
worker, straight from the page, into a private file of the daemon, then moved into the cache.
Nothing is ever held whole in memory: one chunk at a time per transfer. The worker is not
trusted: it only ever learns a transfer id, chunks it sends are checked (order, size) before
they are written, and a download is kept only when it is the size the worker announced.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import os
import secrets
import stat
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from wamc.config import Settings
from wamc.daemon.control import Control
from wamc.daemon.media_kinds import MB, SNIFF_BYTES, largest_limit, sniff
from wamc.daemon.registry import Client, client_log
from wamc.daemon.transfers import Transfers, alongside
from wamc.errors import Refused
from wamc.privilege import private_dir
from wamc.storage import Database
from wamc.storage import media as rows
from wamc.wire import commands as C
from wamc.wire.transfer import TransferError

STALE_SECONDS = 3600.0  # a temporary file older than this was left by a crash: swept


@dataclass(frozen=True)
class CachedMedia:
    path: Path
    size: int
    mimetype: str
    sha256: str


class MediaFiles:
    """The daemon's side of a client's media folder."""

    def __init__(self, settings: Settings, store: Database, control: Control) -> None:
        self.settings = settings
        self.store = store
        self.control = control
        self._fetching: dict[tuple[str, str], asyncio.Future[CachedMedia]] = {}
        self._tasks: set[asyncio.Task[Any]] = set()

    # --- folders and temporary files ---------------------------------------------------------
    def tmp_dir(self, client_id: str) -> Path:
        return self.settings.client_dir(client_id).joinpath(*C.MEDIA_TMP)

    def cache_dir(self, client_id: str) -> Path:
        return self.settings.client_dir(client_id) / "media" / "cache"

    def new_tmp(self, client_id: str) -> tuple[str, Path, int]:
        """A new private temporary file: (token, path, open fd for reading and writing)."""
        folder = self.tmp_dir(client_id)
        private_dir(folder)
        self._sweep(folder)
        token = secrets.token_hex(16)
        path = folder / token
        flags = os.O_RDWR | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | getattr(os, "O_CLOEXEC", 0)
        return token, path, os.open(path, flags, 0o600)

    @staticmethod
    def _sweep(folder: Path) -> None:
        cutoff = time.time() - STALE_SECONDS
        with contextlib.suppress(OSError), os.scandir(folder) as entries:
            for entry in entries:
                with contextlib.suppress(OSError):
                    if entry.stat(follow_symlinks=False).st_mtime < cutoff:
                        os.unlink(entry.path)

    # --- downloads ---------------------------------------------------------------------------
    async def fetch(self, client: Client, msg_id: str, media: dict[str, Any]) -> CachedMedia:
        """The message's media from the cache, else through the worker (one fetch at a time
        per message: concurrent callers share it)."""
        hit = await self._hit(client.id, msg_id)
        if hit is not None:
            return hit
        key = (client.id, msg_id)
        running = self._fetching.get(key)
        if running is None:
            running = asyncio.ensure_future(self._download(client, msg_id, media))
            self._fetching[key] = running
            running.add_done_callback(lambda _f: self._fetching.pop(key, None))
        return await asyncio.shield(running)

    async def _hit(self, client_id: str, msg_id: str) -> CachedMedia | None:
        row = await rows.cached(self.store, client_id, msg_id)
        if row is None:
            return None
        path = self.cache_dir(client_id) / row["file"]
        try:
            if not stat.S_ISREG(path.lstat().st_mode):
                raise FileNotFoundError(path)
        except OSError:  # evicted under us, or the folder was wiped: fetch again
            await rows.forget_cached(self.store, client_id, msg_id)
            return None
        await rows.touch(self.store, client_id, msg_id, time.time())
        return CachedMedia(path, int(row["size"]), row["mimetype"], row["sha256"])

    @property
    def transfers(self) -> Transfers:
        return self.control.link.transfers

    def _route(self, client: Client) -> str:
        if client.handle is None or client.route is None:
            raise Refused("worker_unavailable", f"client {client.id} has no running worker")
        return client.route

    # --- uploads -----------------------------------------------------------------------------
    async def send(
        self, client: Client, args: dict[str, Any], path: Path, timeout: float
    ) -> C.SentMedia:
        """``send_media`` with the file at ``path`` (``args["size"]`` bytes) streamed to the
        worker beside the command."""
        route = self._route(client)
        upload = self.transfers.outgoing(route, path, int(args["size"]))
        args = {**args, "transfer": upload.id}
        try:
            request = self.control.request(
                client, C.SEND_MEDIA, args, timeout, C.SentMedia, route=route
            )
            sent: C.SentMedia = await alongside(request, upload.stream())
            return sent
        except TransferError as exc:
            client_log(client).warning("media upload to the worker failed: {}", exc.message)
            raise _refusal(exc) from None
        finally:
            self.transfers.close(upload)

    # --- downloads (continued) ---------------------------------------------------------------
    async def _download(self, client: Client, msg_id: str, media: dict[str, Any]) -> CachedMedia:
        limit = largest_limit(self.settings)
        route = self._route(client)
        token, tmp, fd = self.new_tmp(client.id)
        incoming = self.transfers.incoming(route, fd, limit)
        try:
            args = {"id": msg_id, "transfer": incoming.id, "max_bytes": limit}
            timeout = max(self.settings.media_timeout, self.settings.request_timeout)
            request = self.control.request(
                client, C.DOWNLOAD_MEDIA, args, timeout, C.Downloaded, route=route
            )
            got: C.Downloaded = await alongside(request, incoming.wait())
            ended = incoming.state.ended
            if not ended.done() or ended.exception() is not None or ended.result() != got.size:
                raise Refused("whatsapp_error", "the worker's download is not the file announced")
            return await self._keep(client, msg_id, media, (tmp, token, fd), got)
        except TransferError as exc:
            client_log(client).warning("media download from the worker failed: {}", exc.message)
            raise _refusal(exc) from None
        finally:
            self.transfers.close(incoming)
            os.close(fd)
            with contextlib.suppress(OSError):
                tmp.unlink()

    async def _keep(
        self,
        client: Client,
        msg_id: str,
        media: dict[str, Any],
        file: tuple[Path, str, int],
        got: C.Downloaded,
    ) -> CachedMedia:
        """Hash the downloaded file (``(path, token, fd)``, written by us) and move it into the
        cache."""
        tmp, token, fd = file
        folder = self.cache_dir(client.id)
        private_dir(folder)
        target = folder / token
        digest, head = await asyncio.to_thread(_hash_fd, fd)
        os.rename(tmp, target)
        mimetype = (
            media.get("mimetype") or got.mimetype or sniff(head) or "application/octet-stream"
        )
        now = time.time()
        await rows.add_cached(self.store, client.id, msg_id, token, got.size, mimetype, digest, now)
        cap = int(self.settings.media_cache_mb * MB)
        for name in await rows.evict(self.store, client.id, cap, keep=msg_id):
            with contextlib.suppress(OSError):
                (folder / name).unlink()
        client_log(client).info("media of {} cached ({} bytes)", msg_id, got.size)
        return CachedMedia(target, got.size, mimetype, digest)

    def auto_download(self, client: Client, msg_id: str) -> None:
        """WAMC_MEDIA_AUTO_DOWNLOAD: fetch a media message's file as it arrives."""
        task = asyncio.ensure_future(self._auto(client, msg_id))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _auto(self, client: Client, msg_id: str) -> None:
        try:
            media = await rows.message_media(self.store, client.id, msg_id)
            await self.fetch(client, msg_id, media or {})
        except Refused as exc:
            client_log(client).warning("auto-download of {} failed: {}", msg_id, exc.code)
        except Exception as exc:  # a background task: never lost silently, never raised
            client_log(client).warning("auto-download of {} failed: {!r}", msg_id, exc)

    def hook(self) -> Callable[[Client, str], None] | None:
        """The ingest hook for WAMC_MEDIA_AUTO_DOWNLOAD (None when it is off)."""
        return self.auto_download if self.settings.media_auto_download else None


def _refusal(exc: TransferError) -> Refused:
    code = exc.code if exc.code in C.PASSTHROUGH_ERRORS else "whatsapp_error"
    return Refused(code, exc.message)


def _hash_fd(fd: int) -> tuple[str, bytes]:
    """(hex SHA-256, the first bytes) of an open file, read from its start."""
    digest = hashlib.sha256()
    head = b""
    offset = 0
    while chunk := os.pread(fd, MB, offset):
        if not head:
            head = chunk[:SNIFF_BYTES]
        digest.update(chunk)
        offset += len(chunk)
    return digest.hexdigest(), head


def file_sha256(path: Path) -> str:
    """Hex SHA-256 of a file, read in chunks (never whole in memory)."""
    fd = os.open(path, os.O_RDONLY)
    try:
        return _hash_fd(fd)[0]
    finally:
        os.close(fd)


def write_all(fd: int, data: bytes | bytearray | memoryview) -> None:
    """Write every byte (``os.write`` may write fewer)."""
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view) :]
