"""Media commands (issue 11): a file to send, a message's file to download.

The bytes come and go on the daemon link in chunk frames (workers/transfers.py; the rules in
wamc/wire/transfer.py), never through a folder shared with the daemon: the worker may run on
another host. An upload is written, chunk by chunk, to a private file of the worker's own
(``WAMC_WORKER_MEDIA_DIR``, by default the client's ``media/tmp``), created here (no link
followed, never an existing file) and exactly the size the daemon declared; it is deleted once
the page has sent it. Between the worker and the page no file is ever one giant base64 string
through ``evaluate``:

- to send, the page fetches the file from a private URL on its own origin that a route of the worker
  answers from the file, part by part (``PART`` bytes each), and builds a Blob of the parts;
- to download, the page keeps the Blob ``WPP.chat.downloadMedia`` gave and hands it out in
  slices of ``SLICE`` bytes (base64), each sent on as one chunk frame as it comes.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import os
import secrets
import time
from pathlib import Path
from typing import Any

from wamc.wire import commands as C
from wamc.wire import frames as F

PART = 4 * 1024 * 1024  # bytes per route answer when the page fetches a file to send
SLICE = F.CHUNK_MAX  # bytes per call when the page hands a download out: one chunk frame each
ROUTE_PREFIX = "/__wamc_media/"
UPLOAD_MAX = 2**40  # bytes: a sanity bound on the size the daemon declares
STALE_SECONDS = 3600.0  # a file older than this in the worker's media folder was left by a crash


def media_dir(w: Any) -> Path:
    """The worker's own folder for files on their way to the page (0700, made on first use)."""
    base = w.settings.worker_media_dir
    folder = (
        base / w.client_id if base else w.settings.client_dir(w.client_id).joinpath(*C.MEDIA_TMP)
    )
    folder.mkdir(mode=0o700, parents=True, exist_ok=True)
    return folder


def _sweep(folder: Path) -> None:
    cutoff = time.time() - STALE_SECONDS
    with contextlib.suppress(OSError), os.scandir(folder) as entries:
        for entry in entries:
            with contextlib.suppress(OSError):
                if entry.stat(follow_symlinks=False).st_mtime < cutoff:
                    os.unlink(entry.path)


async def receive_upload(w: Any, args: dict[str, Any]) -> tuple[Path, int]:
    """The upload of ``args["transfer"]`` in a new file of the worker's folder: (path, fd open
    for reading and writing); every byte is there when this returns."""
    size = args.get("size")
    if not isinstance(size, int) or isinstance(size, bool) or not 0 < size <= UPLOAD_MAX:
        raise C.RemoteError("invalid_argument", "size must be a positive integer")
    transfer = w.link.transfers.new_id(args.get("transfer"))
    folder = media_dir(w)
    _sweep(folder)
    path = folder / transfer
    flags = os.O_RDWR | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | getattr(os, "O_CLOEXEC", 0)
    try:
        fd = os.open(path, flags, 0o600)
    except OSError as exc:
        raise C.RemoteError("whatsapp_error", f"no file for the upload: {exc.strerror}") from None
    try:
        incoming = w.link.transfers.receive(transfer, fd, size)
        try:
            await incoming.wait()
        finally:
            w.link.transfers.close(incoming)
        if os.fstat(fd).st_size != size:  # someone else wrote to it
            raise C.RemoteError("whatsapp_error", "the upload's file changed")
    except BaseException:
        os.close(fd)
        path.unlink(missing_ok=True)
        raise
    return path, fd


async def send_media(w: Any, args: dict[str, Any], timeout: float) -> Any:
    path, fd = await receive_upload(w, args)
    try:
        return await _send_file(w, args, fd, timeout)
    finally:
        os.close(fd)
        path.unlink(missing_ok=True)


async def _send_file(w: Any, args: dict[str, Any], fd: int, timeout: float) -> Any:
    size = os.fstat(fd).st_size
    origin = w.browser.page_url.split("/", 3)
    base = f"{origin[0]}//{origin[2]}{ROUTE_PREFIX}{secrets.token_hex(16)}/"

    async def serve(url: str) -> tuple[int, dict[str, str], bytes]:
        index = url[len(base) :]
        if not index.isdigit():
            return 404, {}, b""
        body = os.pread(fd, PART, int(index) * PART)
        return 200, {"Cache-Control": "no-store", "Content-Type": "application/octet-stream"}, body

    async with w.browser.routed(base, serve):
        opts = {
            "kind": args.get("kind"),
            "mimetype": args.get("mimetype"),
            "filename": args.get("filename"),
            "caption": args.get("caption") or "",
            "reply_to": args.get("reply_to"),
        }
        spec = {"base": base, "size": size, "part": PART}
        result = await w.browser.call("sendFile", args.get("to"), spec, opts, timeout=timeout)
    return _sent(result)


def _sent(result: Any) -> dict[str, Any]:
    if not isinstance(result, dict):
        raise C.RemoteError("whatsapp_error", "the page answered the send with nothing")
    error = result.get("error")
    if error is not None:
        code = error if error in C.MEDIA_ERRORS else "whatsapp_error"
        raise C.RemoteError(code, str(result.get("message") or error)[:300])
    return {"id": result.get("id"), "ack": result.get("ack") or 0, "type": result.get("type")}


async def download_media(w: Any, args: dict[str, Any], timeout: float) -> Any:
    limit = args.get("max_bytes")
    if not isinstance(limit, int) or limit <= 0:
        raise C.RemoteError("invalid_argument", "max_bytes must be a positive integer")
    outgoing = w.link.transfers.send_out(args.get("transfer"))  # the id is checked here
    try:
        opened = await w.browser.call("mediaOpen", args.get("id"), timeout=timeout)
        if not isinstance(opened, dict) or opened.get("error") is not None:
            code = opened.get("error") if isinstance(opened, dict) else None
            code = code if code in C.MEDIA_ERRORS else "whatsapp_error"
            detail = opened.get("message") if isinstance(opened, dict) else None
            raise C.RemoteError(code, str(detail or code)[:300])
        handle, size = opened.get("handle"), opened.get("size")
        if not isinstance(size, int) or size < 0:
            raise C.RemoteError("whatsapp_error", "the page gave no size for the media")
        try:
            if size > limit:
                raise C.RemoteError("whatsapp_error", f"the media is over {limit} bytes")
            await _send_slices(w, handle, size, outgoing, timeout)
        finally:
            await w.browser.call("mediaClose", handle, timeout=timeout)
    finally:
        w.link.transfers.close(outgoing)
    mimetype = opened.get("mimetype")
    return {"size": size, "mimetype": mimetype if isinstance(mimetype, str) else ""}


async def _send_slices(w: Any, handle: Any, size: int, outgoing: Any, timeout: float) -> None:
    """The page's slices sent on as chunks, one in memory at a time; returns once the daemon
    has stored them all."""
    offset = 0
    while offset < size:
        chunk = await w.browser.call("mediaSlice", handle, offset, SLICE, timeout=timeout)
        data = base64.b64decode(chunk) if isinstance(chunk, str) else b""
        if not data or len(data) > SLICE or offset + len(data) > size:
            raise C.RemoteError("whatsapp_error", "the page handed out a bad slice")
        offset += len(data)
        await outgoing.send(data, last=offset == size)
    if size == 0:
        await outgoing.send(b"", last=True)
    await outgoing.drained()


# --- incoming media messages: the page event's shape (workers/page_events.py) -----------------
def message_media(m: Any, t: Any) -> dict[str, Any]:
    """A media message's file (issue 11); ``filehash`` (base64 SHA-256) becomes hex ``sha256``."""
    if not isinstance(m, dict):
        return {}
    size = m.get("size")
    size = size if isinstance(size, int) and not isinstance(size, bool) else None
    return {
        "media": {
            "mimetype": t.short(m.get("mimetype")),
            "filename": t.short(m.get("filename")),
            "size": size if size is not None and 0 <= size <= 2**40 else None,
            "caption": t.long(m.get("caption")),
            "sha256": sha256_hex(m.get("filehash")),
        }
    }


def sha256_hex(filehash: Any) -> str | None:
    if not isinstance(filehash, str) or len(filehash) > 128:
        return None
    try:
        raw = base64.b64decode(filehash, validate=True)
    except (binascii.Error, ValueError):
        return None
    return raw.hex() if len(raw) == 32 else None
