"""Media commands (issue 11): a file to send, a message's file to download.

The bytes travel through the client's folder (the daemon's side, wamc/daemon/media.py, says
why), named by a token the daemon chose; this side only ever opens a file of that folder, without
following links. Between the worker and the page no file is ever one giant base64 string through
``evaluate``:

- to send, the page fetches the file from a private URL on its own origin that a Playwright route
  answers from the file, part by part (``PART`` bytes each), and builds a Blob of the parts;
- to download, the page keeps the Blob ``WPP.chat.downloadMedia`` gave and hands it out in
  slices of ``SLICE`` bytes (base64), which are written to the file one by one.
"""

from __future__ import annotations

import base64
import binascii
import os
import secrets
import stat
from pathlib import Path
from typing import Any

from wamc.wire import commands as C

PART = 4 * 1024 * 1024  # bytes per route answer when the page fetches a file to send
SLICE = 1024 * 1024  # bytes per call when the page hands a download out
ROUTE_PREFIX = "/__wamc_media/"


def media_file(w: Any, token: Any) -> Path:
    """The file of ``token`` in the client's media folder (the token is checked, not trusted)."""
    if not isinstance(token, str) or not C.MEDIA_TOKEN.fullmatch(token):
        raise C.RemoteError("invalid_argument", "media token is not a token")
    return w.settings.client_dir(w.client_id).joinpath(*C.MEDIA_TMP, token)


def _open(path: Path, flags: int) -> int:
    fd = os.open(path, flags | os.O_NOFOLLOW | getattr(os, "O_CLOEXEC", 0))
    if not stat.S_ISREG(os.fstat(fd).st_mode):
        os.close(fd)
        raise C.RemoteError("invalid_argument", "media file is not a regular file")
    return fd


async def send_media(w: Any, args: dict[str, Any], timeout: float) -> Any:
    fd = _open(media_file(w, args.get("token")), os.O_RDONLY)
    size = os.fstat(fd).st_size
    page = w.browser.page
    origin = page.url.split("/", 3)
    base = f"{origin[0]}//{origin[2]}{ROUTE_PREFIX}{secrets.token_hex(16)}/"

    async def serve(route: Any) -> None:
        index = route.request.url[len(base) :]
        if not index.isdigit():
            await route.fulfill(status=404, body=b"")
            return
        body = os.pread(fd, PART, int(index) * PART)
        headers = {"Cache-Control": "no-store", "Content-Type": "application/octet-stream"}
        await route.fulfill(status=200, body=body, headers=headers)

    await page.route(base + "*", serve)
    try:
        opts = {
            "kind": args.get("kind"),
            "mimetype": args.get("mimetype"),
            "filename": args.get("filename"),
            "caption": args.get("caption") or "",
            "reply_to": args.get("reply_to"),
        }
        spec = {"base": base, "size": size, "part": PART}
        result = await w.browser.call("sendFile", args.get("to"), spec, opts, timeout=timeout)
    finally:
        os.close(fd)
        await page.unroute(base + "*", serve)
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
    path = media_file(w, args.get("token"))
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
        await _copy_slices(w, handle, size, path, timeout)
    finally:
        await w.browser.call("mediaClose", handle, timeout=timeout)
    mimetype = opened.get("mimetype")
    return {"size": size, "mimetype": mimetype if isinstance(mimetype, str) else ""}


async def _copy_slices(w: Any, handle: Any, size: int, path: Path, timeout: float) -> None:
    fd = _open(path, os.O_WRONLY | os.O_TRUNC)
    try:
        offset = 0
        while offset < size:
            chunk = await w.browser.call("mediaSlice", handle, offset, SLICE, timeout=timeout)
            data = base64.b64decode(chunk) if isinstance(chunk, str) else b""
            if not data or len(data) > SLICE:
                raise C.RemoteError("whatsapp_error", "the page handed out a bad slice")
            os.pwrite(fd, data, offset)
            offset += len(data)
        if offset != size:
            raise C.RemoteError("whatsapp_error", "the media is not the size announced")
    finally:
        os.close(fd)


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
