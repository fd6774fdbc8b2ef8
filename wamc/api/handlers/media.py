"""Media endpoints (issue 11): send a file, download a message's file.

``send-media`` takes ``multipart/form-data`` (streamed to a private file in the client's folder as
it arrives: the daemon never holds the file, whatever its size) or JSON with the file in base64
(at most 16 MB, held once) or by URL (fetched through the SSRF guard). The type is sniffed from
the bytes (wamc/daemon/media_kinds.py); the file then crosses to the worker in chunk frames
on the ZeroMQ link (wamc/daemon/media.py), one chunk at a time.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import contextlib
import json
import mimetypes
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote

from aiohttp import BodyPartReader, web
from aiohttp.http_exceptions import BadHttpMessage
from pydantic import ValidationError

from wamc.api.keys import IDEMPOTENCY, MANAGER, PACER, SETTINGS, STORE
from wamc.api.media_models import SendMedia
from wamc.config import Settings
from wamc.daemon.media import file_sha256, write_all
from wamc.daemon.media_fetch import fetch_to_fd
from wamc.daemon.media_kinds import (
    KINDS,
    MB,
    SNIFF_BYTES,
    WA_TYPE,
    largest_limit,
    limit_bytes,
    resolve,
    too_large,
)
from wamc.errors import Refused
from wamc.security import request_hash
from wamc.states import ClientState
from wamc.storage import media as media_rows
from wamc.validation import client_id, message_id, recipient

JSON_MEDIA_MAX = 16 * MB  # the base64 form's limit (decoded); bigger files use multipart
CHUNK = 256 * 1024
FIELD_MAX = 8192  # bytes of one text field of the form
CAPTION_MAX = 4096
FORM_FIELDS = frozenset({"to", "caption", "filename", "reply_to", "as"})


@dataclass
class Upload:
    """What a send-media request carried, the file itself already in the client's folder."""

    to: str = ""
    kind: str | None = None
    caption: str | None = None
    filename: str | None = None
    reply_to: str | None = None
    declared: str | None = None  # the MIME type the caller gave (only documents may use it)
    size: int = 0
    head: bytes = b""


async def send_media(request: web.Request) -> web.Response:
    manager = request.app[MANAGER]
    cid = client_id(request.match_info["id"])
    manager.get(cid)
    settings = request.app[SETTINGS]
    idem = request.headers.get("Idempotency-Key")
    key = request.app[IDEMPOTENCY].check_key(idem) if idem is not None else None
    _token, path, fd = manager.media.new_tmp(cid)
    try:
        try:
            up = await _read_request(request, settings, fd)
        finally:
            os.close(fd)
        args = _args(request, up)
        return await _deliver(request, cid, args, path, key)
    finally:
        with contextlib.suppress(OSError):
            path.unlink()


def _args(request: web.Request, up: Upload) -> dict[str, Any]:
    """The checked upload as the worker command's arguments."""
    settings = request.app[SETTINGS]
    to = recipient(up.to) if up.to else _missing("to")
    if up.kind is not None and up.kind not in KINDS:
        raise Refused("invalid_field", f"as: one of {', '.join(KINDS)}", field="as")
    if up.reply_to is not None:
        message_id(up.reply_to, field="reply_to")
    if up.caption is not None and len(up.caption) > CAPTION_MAX:
        raise Refused(
            "invalid_field", f"caption: at most {CAPTION_MAX} characters", field="caption"
        )
    if up.size == 0:
        raise Refused("invalid_field", "file: the file is empty", field="file")
    kind, mimetype = resolve(up.kind, up.head, up.declared, up.filename)
    limit = limit_bytes(settings, kind)
    if up.size > limit:
        raise too_large(kind, limit)
    return {
        "to": to,
        "size": up.size,
        "mimetype": mimetype,
        "filename": up.filename or _default_name(mimetype),
        "caption": up.caption or "",
        "kind": kind,
        "reply_to": up.reply_to,
    }


async def _deliver(
    request: web.Request, cid: str, args: dict[str, Any], path: Path, key: str | None
) -> web.Response:
    """Through the client's paced queue; with an ``Idempotency-Key``, a repeat of the same
    upload (same fields, same bytes) answers the first answer and sends nothing."""
    settings, manager = request.app[SETTINGS], request.app[MANAGER]
    timeout = max(settings.media_timeout, settings.request_timeout)

    async def send() -> tuple[int, dict[str, Any]]:
        client = _connected(request)
        sent = await manager.media.send(client, args, path, timeout)
        wa_type = sent.type or WA_TYPE[args["kind"]]
        return 201, {
            "id": sent.id,
            "ack": sent.ack,
            "to": args["to"],
            "type": wa_type,
            "client": cid,
        }

    async def paced() -> tuple[int, dict[str, Any]]:
        return await request.app[PACER].run(cid, send)

    if key is None:
        _connected(request)  # fail fast rather than after the queue
        status, answer = await paced()
        return web.json_response(answer, status=status)
    digest = await asyncio.to_thread(file_sha256, path)
    what = args | {"sha256": digest}
    rhash = request_hash({"path": request.path, "method": request.method, "body": what})
    status, answer, replayed = await request.app[IDEMPOTENCY].run(cid, key, rhash, paced)
    headers = {"Idempotent-Replayed": "true"} if replayed else None
    return web.json_response(answer, status=status, headers=headers)


def _connected(request: web.Request):
    client = request.app[MANAGER].get(client_id(request.match_info["id"]))
    if client.state != ClientState.CONNECTED:
        raise Refused("not_connected", f"client {client.id} is {client.state}, not connected")
    return client


def _missing(field: str) -> str:
    raise Refused("invalid_field", f"{field}: field required", field=field)


def _default_name(mimetype: str) -> str:
    ext = mimetypes.guess_extension(mimetype.split(";", 1)[0]) or ".bin"
    return "file" + (".ogg" if mimetype.startswith("audio/ogg") else ext)


# --- reading the request ----------------------------------------------------------------------
async def _read_request(request: web.Request, settings: Settings, fd: int) -> Upload:
    ctype = request.content_type
    if ctype == "multipart/form-data":
        largest = largest_limit(settings)
        if request.content_length is not None and request.content_length > largest + MB:
            raise Refused("payload_too_large", f"media is limited to {largest} bytes")
        try:
            return await _read_multipart(request, settings, fd)
        except (ValueError, BadHttpMessage) as exc:  # aiohttp's words for a malformed body
            raise Refused("invalid_field", f"malformed multipart body: {str(exc)[:120]}") from None
    if ctype == "application/json":
        return await _read_json(request, settings, fd)
    raise Refused(
        "unsupported_media_type", "send multipart/form-data (field file) or application/json"
    )


async def _read_multipart(request: web.Request, settings: Settings, fd: int) -> Upload:
    up, seen = Upload(), set[str]()
    cap = largest_limit(settings) + MB  # the whole body, also when it comes without a length
    reader = await request.multipart()
    while (part := await reader.next()) is not None:
        if request.content.total_bytes > cap:
            raise Refused("payload_too_large", f"media is limited to {cap - MB} bytes")
        if not isinstance(part, BodyPartReader):
            raise Refused("invalid_field", "nested multipart is not accepted")
        name = part.name or ""
        if name in seen:
            raise Refused("invalid_field", f"{name[:40]}: sent twice", field=name[:40])
        seen.add(name)
        if name == "file":
            up.declared = part.headers.get("Content-Type")
            up.filename = up.filename or _safe_name(part.filename)
            limit = limit_bytes(settings, up.kind) if up.kind in KINDS else None
            await _stream_part(part, fd, up, limit or largest_limit(settings))
        elif name in FORM_FIELDS:
            _set_field(up, name, await _read_field(part, name))
        else:
            raise Refused("invalid_field", f"{name[:40]!r}: unknown form field", field=name[:40])
    if "file" not in seen:
        raise Refused("invalid_field", "file: field required", field="file")
    return up


async def _stream_part(part: BodyPartReader, fd: int, up: Upload, limit: int) -> None:
    while chunk := await part.read_chunk(CHUNK):
        up.size += len(chunk)
        if up.size > limit:
            raise too_large(up.kind or "media", limit)
        if len(up.head) < SNIFF_BYTES:
            up.head += chunk[: SNIFF_BYTES - len(up.head)]
        write_all(fd, chunk)


async def _read_field(part: BodyPartReader, name: str) -> str:
    raw = bytearray()
    while chunk := await part.read_chunk(FIELD_MAX):
        raw += chunk
        if len(raw) > FIELD_MAX:
            raise Refused("invalid_field", f"{name}: at most {FIELD_MAX} bytes", field=name)
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        raise Refused("invalid_field", f"{name}: not UTF-8 text", field=name) from None


def _set_field(up: Upload, name: str, value: str) -> None:
    if name == "to":
        up.to = value
    elif name == "as":
        up.kind = value.strip() or None
    elif name == "caption":
        up.caption = value
    elif name == "filename":
        up.filename = _safe_name(value)
    elif name == "reply_to":
        up.reply_to = value.strip() or None


def _safe_name(name: str | None) -> str | None:
    """A file name without folders or control characters, at most 255 characters."""
    if not name:
        return None
    base = name.replace("\\", "/").rsplit("/", 1)[-1]
    clean = "".join(c for c in base if c.isprintable()).strip()[:255]
    return clean or None


async def _read_json(request: web.Request, settings: Settings, fd: int) -> Upload:
    cap = JSON_MEDIA_MAX * 4 // 3 + 64 * 1024
    raw = await _read_capped(request, cap)
    try:
        body = json.loads(raw)
    except (json.JSONDecodeError, UnicodeDecodeError):
        raise Refused("invalid_json", "the body is not valid JSON") from None
    del raw
    if not isinstance(body, dict):
        raise Refused("invalid_json", "the body must be a JSON object")
    try:
        msg = SendMedia.model_validate(body)
    except ValidationError as exc:
        err = exc.errors()[0]
        field = ".".join(str(p) for p in err["loc"]) or None
        raise Refused("invalid_field", f"{field}: {err['msg']}", field=field) from None
    up = Upload(to=msg.to, kind=msg.as_, caption=msg.caption, reply_to=msg.reply_to)
    up.filename, up.declared = _safe_name(msg.media.filename), msg.media.mimetype
    if (msg.media.data is None) == (msg.media.url is None):
        raise Refused("invalid_field", "media: give either data or url", field="media")
    if msg.media.data is not None:
        data, declared = _decode_base64(msg.media.data)
        up.declared = up.declared or declared
        if len(data) > JSON_MEDIA_MAX:
            raise too_large("base64 media (use multipart for more)", JSON_MEDIA_MAX)
        up.size, up.head = len(data), data[:SNIFF_BYTES]
        write_all(fd, data)
    else:
        limit = limit_bytes(settings, up.kind) if up.kind else largest_limit(settings)
        allow_private = bool(settings.webhook_allow_private)
        timeout = settings.media_timeout
        up.size, up.head, served = await fetch_to_fd(
            str(msg.media.url), fd, limit, allow_private, timeout
        )
        up.declared = up.declared or served
    return up


async def _read_capped(request: web.Request, cap: int) -> bytes:
    if request.content_length is not None and request.content_length > cap:
        raise Refused("payload_too_large", f"JSON bodies are limited to {cap} bytes")
    buf = bytearray()
    async for chunk in request.content.iter_chunked(CHUNK):
        buf += chunk
        if len(buf) > cap:
            raise Refused("payload_too_large", f"JSON bodies are limited to {cap} bytes")
    return bytes(buf)


def _decode_base64(data: str) -> tuple[bytes, str | None]:
    """The bytes of ``media.data`` (plain base64 or a ``data:<type>;base64,`` URL)."""
    declared = None
    if data.startswith("data:"):
        head, _, data = data.partition(",")
        declared = head[5:].split(";", 1)[0] or None
    try:
        return base64.b64decode("".join(data.split()), validate=True), declared
    except (binascii.Error, ValueError):
        raise Refused("invalid_field", "media.data: not base64", field="media.data") from None


# --- downloads --------------------------------------------------------------------------------
async def message_media(request: web.Request) -> web.StreamResponse:
    manager = request.app[MANAGER]
    client = manager.get(client_id(request.match_info["id"]))
    mid = message_id(request.match_info["msgId"])
    media = await media_rows.message_media(request.app[STORE], client.id, mid)
    if not media:
        what = "no stored message" if media is None else "no media in message"
        raise Refused("message_not_found", f"{what} {mid}")
    hit = await manager.media.fetch(client, mid, media)
    headers = {
        "Content-Type": hit.mimetype,
        "Content-Security-Policy": "default-src 'none'; sandbox",
        "X-Content-SHA256": hit.sha256,
    }
    if request.query.get("download") in ("1", "true"):
        name = media.get("filename") or _default_name(hit.mimetype)
        ascii_name = name.encode("ascii", "replace").decode().replace('"', "'")
        headers["Content-Disposition"] = (
            f"attachment; filename=\"{ascii_name}\"; filename*=UTF-8''{quote(name, safe='')}"
        )
    return web.FileResponse(hit.path, headers=headers)
