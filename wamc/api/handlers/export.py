"""Conversation export (issue 11): a client's stored messages streamed as JSON Lines, or with
``?media=1`` as a tar with the cached media files (wamc/api/export_tar.py).

Nothing is loaded whole: the store is read in keyset pages (wamc/storage/export.py) and each
page is written to the chunked response before the next is read."""

from __future__ import annotations

import functools
import math
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from aiohttp import web

from wamc.api import export_tar
from wamc.api.keys import MANAGER, STORE
from wamc.api.middleware import secure_headers
from wamc.errors import Refused
from wamc.storage import export as export_rows
from wamc.storage import media as media_rows
from wamc.validation import chat_id, client_id

COUNT_HEADER = "X-Wamc-Export-Count"
JSONL = "application/x-ndjson"
TAR = "application/x-tar"


def parse_after(raw: str | None) -> int | None:
    """``after`` as unix seconds: an ISO 8601 time (no zone = UTC); messages after it."""
    if raw is None or raw == "":
        return None
    try:
        moment = datetime.fromisoformat(raw)
    except ValueError:
        raise Refused(
            "invalid_parameter",
            "'after' must be an ISO 8601 time, e.g. 2026-01-31T12:00:00Z",
            field="after",
        ) from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return math.floor(moment.timestamp())


def parse_flag(raw: str | None, name: str) -> bool:
    if raw in (None, "", "0", "false"):
        return False
    if raw in ("1", "true"):
        return True
    raise Refused("invalid_parameter", f"'{name}' must be 1 or 0", field=name)


async def cached_media(
    app: web.Application, client: str, message: dict[str, Any]
) -> tuple[Path, str] | None:
    """A media message's file if it is in the client's media cache (wamc/daemon/media.py), with
    its SHA-256; else None (it goes to ``missing.jsonl``)."""
    manager = app[MANAGER]
    row = await media_rows.cached(app[STORE], client, message["id"])
    if row is None:
        return None
    path = manager.media.cache_dir(client) / row["file"]
    return (path, row["sha256"]) if path.is_file() else None


async def export(request: web.Request) -> web.StreamResponse:
    manager = request.app[MANAGER]
    client = manager.get(client_id(request.match_info["id"], manager.clients))
    after = parse_after(request.query.get("after"))
    chat = request.query.get("chat")
    chat = chat_id(chat, "chat") if chat else None
    with_media = parse_flag(request.query.get("media"), "media")
    store = request.app[STORE]
    total = await export_rows.count(store, client.id, after, chat)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    name = f"{client.id}-{stamp}.{'tar' if with_media else 'jsonl'}"
    response = web.StreamResponse(
        headers={
            "Content-Type": TAR if with_media else JSONL,
            "Content-Disposition": f'attachment; filename="{name}"',
            COUNT_HEADER: str(total),
        }
    )
    response.enable_chunked_encoding()
    secure_headers(request, response)
    await response.prepare(request)
    pages = export_rows.lines(store, client.id, after, chat)
    if with_media:
        lookup = functools.partial(cached_media, request.app, client.id)
        await export_tar.stream(response.write, pages, lookup)
    else:
        async for chunk, _page in pages:
            await response.write(chunk)
    await response.write_eof()
    return response
